/* Random fills of the initializers from a counter-based generator.
 *
 * Element i of a fill is a pure function of (seed, i): the 64-bit SplitMix64 finalizer of
 * key + (c + 1) * golden, with c = i (float64 uniform), i / 2 (float32 uniform and normal:
 * one hash gives two values) or i and i ^ 1 (float64 normal). There is no generator state to
 * hand between threads, so any split of [0, n) gives the same table, and each thread writes
 * (first-touches) its own contiguous chunk of the output. */
#include "fe_internal.h"

#include <float.h>
#include <math.h>
#include <string.h>

#define FE_GOLDEN 0x9E3779B97F4A7C15ULL

static inline uint64_t fe_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* Draw c of the stream `key` (c < 2**64 - 1). */
static inline uint64_t fe_draw(uint64_t key, uint64_t c)
{
    return fe_mix64(key + (c + 1) * FE_GOLDEN);
}

/* The key of stream `attempt` of `seed`: attempt 0 is the first draw of every element,
 * attempt t > 0 the t-th redraw of a truncated-normal element. Two mixes, so that nearby
 * seeds give unrelated keys. */
static uint64_t fe_stream_key(uint64_t seed, uint64_t attempt)
{
    return fe_mix64(fe_mix64(seed ^ 0x6A09E667F3BCC909ULL) + attempt * 0xD1B54A32D192ED03ULL);
}

/* The top 52 bits of h as a double in [0, 1), step 2**-52: the bits become the mantissa of
 * a double in [1, 2). Integer ops only, so it vectorises without AVX-512DQ (which an
 * int64 -> double conversion would need). */
static inline double fe_unit52(uint64_t h)
{
    uint64_t bits = (h >> 12) | 0x3FF0000000000000ULL;
    double d;
    memcpy(&d, &bits, sizeof d);
    return d - 1.0;
}

#define FE_TWO_PI 6.283185307179586476925286766559

/* Box-Muller on one 64-bit draw (float32 outputs: 32 bits per uniform; |z| <= 6.66). */
static inline void fe_normal_pair32(uint64_t h, double *z0, double *z1)
{
    double u1 = ((double)(h >> 32) + 1.0) * 0x1p-32; /* (0, 1]: log(u1) finite */
    double u2 = (double)(uint32_t)h * 0x1p-32;
    double r = sqrt(-2.0 * log(u1));
    double a = FE_TWO_PI * u2;
    *z0 = r * cos(a);
    *z1 = r * sin(a);
}

/* Box-Muller on two 64-bit draws (float64 outputs: 53 bits per uniform). */
static inline void fe_normal_pair64(uint64_t h1, uint64_t h2, double *z0, double *z1)
{
    double u1 = ((double)(h1 >> 11) + 1.0) * 0x1p-53;
    double u2 = (double)(h2 >> 11) * 0x1p-53;
    double r = sqrt(-2.0 * log(u1));
    double a = FE_TWO_PI * u2;
    *z0 = r * cos(a);
    *z1 = r * sin(a);
}

#define FE_TARGET
#define FE_SIMD base
#include "init_impl.h"
#undef FE_TARGET
#undef FE_SIMD
#ifdef FE_X86
#define FE_TARGET __attribute__((target("avx2")))
#define FE_SIMD avx2
#include "init_impl.h"
#undef FE_TARGET
#undef FE_SIMD
#define FE_TARGET __attribute__((target("avx512f")))
#define FE_SIMD avx512
#include "init_impl.h"
#undef FE_TARGET
#undef FE_SIMD
#endif

/* Element i of a (possibly truncated) normal fill at attempt t: standard z. */
static double fe_normal_z(int is_f32, uint64_t key, int64_t i)
{
    double z0, z1;
    uint64_t j = (uint64_t)i >> 1;
    if (is_f32)
        fe_normal_pair32(fe_draw(key, j), &z0, &z1);
    else
        fe_normal_pair64(fe_draw(key, 2 * j), fe_draw(key, 2 * j + 1), &z0, &z1);
    return (i & 1) ? z1 : z0;
}

/* The redraws of a truncated element: attempts 1, 2, ... until |z| <= 2 (each attempt
 * keeps a draw with probability 0.954; 0.046**200 is far below any chance of being seen). */
static double fe_truncated_redraw(int is_f32, uint64_t seed, int64_t i)
{
    for (uint64_t t = 1; t <= 200; t++) {
        double z = fe_normal_z(is_f32, fe_stream_key(seed, t), i);
        if (fabs(z) <= 2.0)
            return z;
    }
    return 0.0;
}

/* Pairs [j0, j1) of a float32 fill or elements [i0, i1) of a float64 uniform fill, through
 * the SIMD variant of `level`. `out` points at the first element written. */
static void fe_fill_f32_pairs(int level, int kind, float *out, int64_t j0, int64_t j1,
                              uint64_t key, double a, double b, float fmin, float fmax)
{
    if (kind == FE_INIT_UNIFORM)
        FE_SIMD_DISPATCH(fe_uniform_pairs_f32, (out, j0, j1, key, a, b - a, fmin, fmax));
    else
        FE_SIMD_DISPATCH(fe_normal_pairs_f32, (out, j0, j1, key, a, b, kind == FE_INIT_TRUNCATED));
}

static void fe_fill_f64_range(int level, int kind, double *out, int64_t i0, int64_t i1,
                              uint64_t key, double a, double b, double dmin, double dmax)
{
    if (kind == FE_INIT_UNIFORM) {
        FE_SIMD_DISPATCH(fe_uniform_f64, (out, i0, i1, key, a, b - a, dmin, dmax));
        return;
    }
    /* normal: whole pairs inside [i0, i1), single elements at odd edges */
    int truncate = kind == FE_INIT_TRUNCATED;
    int64_t p0 = (i0 + 1) >> 1, p1 = i1 >> 1;
    double tmp[2];
    if (i0 & 1) {
        FE_SIMD_DISPATCH(fe_normal_pairs_f64, (tmp, i0 >> 1, (i0 >> 1) + 1, key, a, b, truncate));
        out[0] = tmp[1];
    }
    if (p1 > p0)
        FE_SIMD_DISPATCH(fe_normal_pairs_f64, (out + (2 * p0 - i0), p0, p1, key, a, b, truncate));
    if ((i1 & 1) && 2 * p1 >= i0 + (i0 & 1)) {
        FE_SIMD_DISPATCH(fe_normal_pairs_f64, (tmp, p1, p1 + 1, key, a, b, truncate));
        out[i1 - 1 - i0] = tmp[0];
    }
}

static fe_status fe_init_check(int kind, double a, double b)
{
    if (!isfinite(a) || !isfinite(b))
        return FE_ERR_VALUE;
    if (kind == FE_INIT_UNIFORM)
        return (a < b && isfinite(b - a)) ? FE_OK : FE_ERR_VALUE;
    if (kind == FE_INIT_NORMAL || kind == FE_INIT_TRUNCATED)
        return b >= 0.0 ? FE_OK : FE_ERR_VALUE;
    return FE_ERR_VALUE;
}

fe_status fe_init_fill_f32(float *out, int64_t n, int kind, double a, double b, uint64_t seed,
                           int n_threads)
{
    if (n < 0)
        return FE_ERR_VALUE;
    fe_status st = fe_init_check(kind, a, b);
    if (st != FE_OK)
        return st;
    if (n > INT64_MAX / 8)
        return FE_ERR_OVERFLOW;
    float fmin = -FLT_MAX, fmax = FLT_MAX;
    if (kind == FE_INIT_UNIFORM) { /* the float32 values in [a, b) */
        fmax = (float)b;
        while ((double)fmax >= b)
            fmax = nextafterf(fmax, -INFINITY);
        fmin = (float)a;
        while ((double)fmin < a)
            fmin = nextafterf(fmin, INFINITY);
        if (!(fmin <= fmax))
            return FE_ERR_VALUE; /* no float32 in [a, b) */
    }
    if (n == 0)
        return FE_OK;
    uint64_t key = fe_stream_key(seed, 0);
    int level = fe_simd_level();
    int nt = fe_plan_threads(n_threads, n * (int64_t)sizeof(float));
    FE_PARALLEL_CHUNKS(nt, n, {
        float tmp[2];
        int64_t p0 = (lo + 1) >> 1, p1 = hi >> 1;
        if (lo < hi && (lo & 1)) {
            fe_fill_f32_pairs(level, kind, tmp, lo >> 1, (lo >> 1) + 1, key, a, b, fmin, fmax);
            out[lo] = tmp[1];
        }
        if (p1 > p0)
            fe_fill_f32_pairs(level, kind, out + 2 * p0, p0, p1, key, a, b, fmin, fmax);
        if ((hi & 1) && hi - 1 >= lo && !((lo & 1) && hi - 1 == lo)) {
            fe_fill_f32_pairs(level, kind, tmp, p1, p1 + 1, key, a, b, fmin, fmax);
            out[hi - 1] = tmp[0];
        }
        if (kind == FE_INIT_TRUNCATED) {
            for (int64_t i = lo; i < hi; i++)
                if (out[i] != out[i])
                    out[i] = (float)(a + b * fe_truncated_redraw(1, seed, i));
        }
    });
    return FE_OK;
}

fe_status fe_init_fill_f64(double *out, int64_t n, int kind, double a, double b, uint64_t seed,
                           int n_threads)
{
    if (n < 0)
        return FE_ERR_VALUE;
    fe_status st = fe_init_check(kind, a, b);
    if (st != FE_OK)
        return st;
    if (n > INT64_MAX / 8)
        return FE_ERR_OVERFLOW;
    double dmin = a, dmax = nextafter(b, -INFINITY); /* the float64 values in [a, b) */
    if (n == 0)
        return FE_OK;
    uint64_t key = fe_stream_key(seed, 0);
    int level = fe_simd_level();
    int nt = fe_plan_threads(n_threads, n * (int64_t)sizeof(double));
    FE_PARALLEL_CHUNKS(nt, n, {
        if (hi > lo)
            fe_fill_f64_range(level, kind, out + lo, lo, hi, key, a, b, dmin, dmax);
        if (kind == FE_INIT_TRUNCATED) {
            for (int64_t i = lo; i < hi; i++)
                if (out[i] != out[i])
                    out[i] = a + b * fe_truncated_redraw(0, seed, i);
        }
    });
    return FE_OK;
}
