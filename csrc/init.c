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

/* Every SIMD path must round exactly as the baseline one, so that a seed gives the same
 * table on every CPU: no fused multiply-adds (GCC under -std=c99 does not contract; clang
 * would, within an expression, without this). */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

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

/* w as a double, exactly, for 0 <= w < 2**52: the bits of w become the mantissa of
 * 2**52 + w. Integer ops only (an int64 -> double conversion needs AVX-512DQ to vectorise). */
static inline double fe_u52_to_double(uint64_t w)
{
    uint64_t bits = w | 0x4330000000000000ULL;
    double d;
    memcpy(&d, &bits, sizeof d);
    return d - 4503599627370496.0; /* 2**52 */
}

/* Box-Muller's transcendentals as branch-free polynomials, so the loops vectorise (libm's
 * log, sin and cos are scalar calls). Accuracy: a few ulps of double. */

#define FE_LN2_HI 6.93147180369123816490e-01 /* ln 2 with 21 trailing zero bits: e * hi exact */
#define FE_LN2_LO 1.90821492927058770002e-10

/* log(w * 2**-bits) for 1 <= w < 2**52: a value in [-bits ln 2, 0]. */
static inline double fe_log_scaled(uint64_t w, int bits)
{
    double x = fe_u52_to_double(w); /* >= 1, exact */
    uint64_t xb;
    memcpy(&xb, &x, sizeof xb);
    /* x = 2**(e + bits) * m with m in [sqrt(1/2), sqrt(2)): a mantissa above sqrt(2)'s
     * halves m (exponent bits - 1) and adds 1 to e; integer ops, no select */
    uint64_t frac = xb & 0x000FFFFFFFFFFFFFULL;
    uint64_t big = (uint64_t)((int64_t)frac > (int64_t)0x6A09E667F3BCDULL);
    double e = fe_u52_to_double((xb >> 52) + big) - 1023.0 - (double)bits;
    uint64_t mb = (frac | 0x3FF0000000000000ULL) - (big << 52);
    double m;
    memcpy(&m, &mb, sizeof m);
    /* log m = 2 atanh(t), t = (m - 1) / (m + 1), |t| < 0.1716: the series to t**19 */
    double t = (m - 1.0) / (m + 1.0), t2 = t * t;
    double p = 2.0 / 19;
    p = p * t2 + 2.0 / 17;
    p = p * t2 + 2.0 / 15;
    p = p * t2 + 2.0 / 13;
    p = p * t2 + 2.0 / 11;
    p = p * t2 + 2.0 / 9;
    p = p * t2 + 2.0 / 7;
    p = p * t2 + 2.0 / 5;
    p = p * t2 + 2.0 / 3;
    p = p * t2 + 2.0;
    return e * FE_LN2_HI + (e * FE_LN2_LO + t * p);
}

#define FE_TWO_PI 6.283185307179586476925286766559

/* c[0] y**(n-1) + c[1] y**(n-2) + ... + c[n-1], by Horner's rule (the loop is unrolled). */
static inline double fe_horner(const double *c, int n, double y)
{
    double p = c[0];
    for (int k = 1; k < n; k++)
        p = p * y + c[k];
    return p;
}

/* sin x = x - x**3 (1/3! - x**2/5! + ...) and cos x = 1 - x**2 (1/2! - x**2/4! + ...): the
 * coefficients of the brackets in -x**2, highest power first (1/15! and 1/16! lead). */
static const double fe_sin_coef[7] = {
    1.0 / 1307674368000.0, 1.0 / 6227020800.0, 1.0 / 39916800.0, 1.0 / 362880.0,
    1.0 / 5040.0,          1.0 / 120.0,        1.0 / 6.0};
static const double fe_cos_coef[8] = {
    1.0 / 20922789888000.0, 1.0 / 87178291200.0, 1.0 / 479001600.0, 1.0 / 3628800.0,
    1.0 / 40320.0,          1.0 / 720.0,         1.0 / 24.0,        0.5};

/* cos and sin of the angle 2 pi k 2**-bits, 0 <= k < 2**bits, 3 <= bits <= 52: the turn is
 * split into the nearest quarter q and a rest in [-1/8, 1/8) of a turn, exactly, with
 * integer ops; Taylor polynomials on |x| <= pi/4 (to x**15 and x**16: error < 1e-16). */
static inline void fe_cos_sin_turns(uint64_t k, int bits, double *c, double *s)
{
    uint64_t eighth = 1ULL << (bits - 3);
    uint64_t v = k + eighth;
    uint64_t q = (v >> (bits - 2)) & 3;
    uint64_t rest = v & ((1ULL << (bits - 2)) - 1); /* rest - eighth in [-1/8, 1/8) turns */
    double x = (fe_u52_to_double(rest) - (double)eighth) * (FE_TWO_PI / (double)(1ULL << bits));
    double x2 = x * x;
    double sx = x - x * x2 * fe_horner(fe_sin_coef, 7, -x2); /* the alternating series folded */
    double cx = 1.0 - x2 * fe_horner(fe_cos_coef, 8, -x2);
    /* rotate by q quarter turns with bit masks, not branches (the loops stay vectorisable
     * on every SIMD level): swap cos and sin for odd q, flip cos's sign for q = 1, 2 and
     * sin's for q = 2, 3 */
    uint64_t cb, sb;
    memcpy(&cb, &cx, sizeof cb);
    memcpy(&sb, &sx, sizeof sb);
    uint64_t swap = 0 - (q & 1);
    uint64_t cr = (cb & ~swap) | (sb & swap), sr = (sb & ~swap) | (cb & swap);
    cr ^= ((q ^ (q >> 1)) & 1) << 63;
    sr ^= (q >> 1) << 63;
    memcpy(c, &cr, sizeof cr);
    memcpy(s, &sr, sizeof sr);
}

/* Box-Muller on uniforms of `bits` bits, u1 = w1 / 2**bits in (0, 1] and u2 = w2 / 2**bits
 * in [0, 1): z0 = sqrt(-2 log u1) cos(2 pi u2), z1 = sqrt(-2 log u1) sin(2 pi u2). */
static inline void fe_box_muller(uint64_t w1, uint64_t w2, int bits, double *z0, double *z1)
{
    double r = sqrt(-2.0 * fe_log_scaled(w1, bits));
    double c, s;
    fe_cos_sin_turns(w2, bits, &c, &s);
    *z0 = r * c;
    *z1 = r * s;
}

/* One 64-bit draw (float32 outputs: 32 bits per uniform, |z| <= 6.66):
 *   u1 = ((h >> 32) + 1) / 2**32, u2 = (h mod 2**32) / 2**32 */
static inline void fe_normal_pair32(uint64_t h, double *z0, double *z1)
{
    fe_box_muller((h >> 32) + 1, h & 0xFFFFFFFFULL, 32, z0, z1);
}

/* Two 64-bit draws (float64 outputs: 52 bits per uniform, |z| <= 8.53):
 *   u1 = ((h1 >> 12) + 1) / 2**52, u2 = (h2 >> 12) / 2**52 */
static inline void fe_normal_pair64(uint64_t h1, uint64_t h2, double *z0, double *z1)
{
    fe_box_muller((h1 >> 12) + 1, h2 >> 12, 52, z0, z1);
}

/* v, or NaN when `reject`: a bit mask, not a select, so every SIMD level vectorises it. */
static inline double fe_nan_if(double v, int reject)
{
    uint64_t b, m = 0 - (uint64_t)reject;
    memcpy(&b, &v, sizeof b);
    b = (b & ~m) | (0x7FF8000000000000ULL & m);
    memcpy(&v, &b, sizeof v);
    return v;
}

/* v clamped into [lo, hi] (upper bound first): a + (b - a) u can round up to b. */
static inline float fe_clampf(float v, float lo, float hi)
{
    v = v > hi ? hi : v;
    return v < lo ? lo : v;
}

static inline double fe_clamp(double v, double lo, double hi)
{
    v = v > hi ? hi : v;
    return v < lo ? lo : v;
}

/* a for odd == 0, b for odd == 1, by bit mask. */
static inline double fe_pick(double a, double b, uint64_t odd)
{
    uint64_t ab, bb, m = 0 - odd;
    memcpy(&ab, &a, sizeof ab);
    memcpy(&bb, &b, sizeof bb);
    ab = (ab & ~m) | (bb & m);
    memcpy(&a, &ab, sizeof a);
    return a;
}

#define FE_IMPL "init_impl.h"
#define FE_SIMD_BODY "fe_instantiate.h"
#include "fe_simd_clones.h" /* the fill loops, per SIMD level */

#define FE_INIT_KEYS 8       /* redraw stream keys computed once per call */
#define FE_INIT_BLOCK 2048   /* elements filled, then scanned for redraws while in cache */

/* The NaN marks of a truncated fill in out[s, e) (float32 when is_f32): each marked element
 * is drawn again from stream 1, 2, ... of the seed until |z| <= 2 (each attempt keeps a draw
 * with probability 0.954; 0.046**200 is beyond any chance of being seen, then z = 0). The
 * pending elements are gathered so that each attempt is one vectorised pass. */
static void fe_redraw_block(int level, void *out, int is_f32, int64_t s, int64_t e,
                            uint64_t seed, const uint64_t *keys, double a, double b)
{
    int64_t idx[FE_INIT_BLOCK];
    double z[FE_INIT_BLOCK];
    int64_t m = 0;
    if (is_f32) {
        const float *o = (const float *)out;
        for (int64_t i = s; i < e; i++)
            if (o[i] != o[i])
                idx[m++] = i;
    } else {
        const double *o = (const double *)out;
        for (int64_t i = s; i < e; i++)
            if (o[i] != o[i])
                idx[m++] = i;
    }
    for (uint64_t t = 1; m > 0; t++) {
        uint64_t key = t <= FE_INIT_KEYS ? keys[t - 1] : fe_stream_key(seed, t);
        FE_SIMD_DISPATCH(fe_normal_at, (idx, m, key, is_f32, z));
        int64_t left = 0;
        for (int64_t k = 0; k < m; k++) {
            double zk = t < 200 ? z[k] : 0.0;
            if (fabs(zk) <= 2.0) {
                if (is_f32)
                    ((float *)out)[idx[k]] = (float)(a + b * zk);
                else
                    ((double *)out)[idx[k]] = a + b * zk;
            } else {
                idx[left++] = idx[k];
            }
        }
        m = left;
    }
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

/* Elements [lo, hi) of a float32 fill (out is the whole output): whole pairs through the
 * SIMD loop, a lone element at an odd start or end from its pair computed aside. */
static void fe_fill_f32_range(int level, int kind, float *out, int64_t lo, int64_t hi,
                              uint64_t key, double a, double b, float fmin, float fmax)
{
    float tmp[2];
    int64_t p0 = (lo + 1) >> 1, p1 = hi >> 1;
    if (lo < hi && (lo & 1)) {
        fe_fill_f32_pairs(level, kind, tmp, lo >> 1, (lo >> 1) + 1, key, a, b, fmin, fmax);
        out[lo] = tmp[1];
    }
    if (p1 > p0)
        fe_fill_f32_pairs(level, kind, out + 2 * p0, p0, p1, key, a, b, fmin, fmax);
    if ((hi & 1) && hi - 1 >= lo) { /* even element hi - 1: past the last whole pair */
        fe_fill_f32_pairs(level, kind, tmp, p1, p1 + 1, key, a, b, fmin, fmax);
        out[hi - 1] = tmp[0];
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
    return kind == FE_INIT_CONSTANT ? FE_OK : FE_ERR_VALUE;
}

/* The least and greatest value of the output's type in [a, b): the SIMD loops clamp to
 * them, as a + (b - a) u can round up to b. Returns 0 when the type has no value there. */
static int fe_uniform_bounds(int is_f32, double a, double b, double *lo, double *hi)
{
    if (!is_f32) {
        *lo = a;
        *hi = nextafter(b, -INFINITY);
        return 1;
    }
    float fmax = (float)b, fmin = (float)a;
    while ((double)fmax >= b)
        fmax = nextafterf(fmax, -INFINITY);
    while ((double)fmin < a)
        fmin = nextafterf(fmin, INFINITY);
    *lo = fmin;
    *hi = fmax;
    return fmin <= fmax;
}

/* One fill for both value types: out holds n floats (is_f32) or doubles. */
static fe_status fe_init_fill(void *out, int is_f32, int64_t n, int kind, double a, double b,
                              uint64_t seed, int n_threads)
{
    if (n < 0)
        return FE_ERR_VALUE;
    fe_status st = fe_init_check(kind, a, b);
    if (st != FE_OK)
        return st;
    if (n > INT64_MAX / 8)
        return FE_ERR_OVERFLOW;
    double vmin = is_f32 ? -FLT_MAX : -DBL_MAX, vmax = is_f32 ? FLT_MAX : DBL_MAX;
    if (kind == FE_INIT_UNIFORM && !fe_uniform_bounds(is_f32, a, b, &vmin, &vmax))
        return FE_ERR_VALUE;
    if (n == 0)
        return FE_OK;
    uint64_t key = fe_stream_key(seed, 0);
    int level = fe_simd_level();
    int64_t item = is_f32 ? (int64_t)sizeof(float) : (int64_t)sizeof(double);
    int nt = fe_plan_threads(n_threads, n * item);
    uint64_t keys[FE_INIT_KEYS];
    for (int t = 0; t < FE_INIT_KEYS; t++)
        keys[t] = fe_stream_key(seed, (uint64_t)t + 1);
    float *o32 = (float *)out;
    double *o64 = (double *)out;
    /* chunks of whole blocks, so the blocks are the same for any thread count */
    FE_PARALLEL_DYNAMIC(nt, n, fe_grain(n, n * item, nt, FE_INIT_BLOCK), {
        for (int64_t s = lo; s < hi; s += FE_INIT_BLOCK) {
            int64_t e = hi - s > FE_INIT_BLOCK ? s + FE_INIT_BLOCK : hi;
            if (kind == FE_INIT_CONSTANT) {
                if (is_f32)
                    for (int64_t i = s; i < e; i++)
                        o32[i] = (float)a;
                else
                    for (int64_t i = s; i < e; i++)
                        o64[i] = a;
                continue;
            }
            if (is_f32)
                fe_fill_f32_range(level, kind, o32, s, e, key, a, b, (float)vmin, (float)vmax);
            else
                fe_fill_f64_range(level, kind, o64 + s, s, e, key, a, b, vmin, vmax);
            if (kind == FE_INIT_TRUNCATED)
                fe_redraw_block(level, out, is_f32, s, e, seed, keys, a, b);
        }
    });
    return FE_OK;
}

fe_status fe_init_fill_f32(float *out, int64_t n, int kind, double a, double b, uint64_t seed,
                           int n_threads)
{
    return fe_init_fill(out, 1, n, kind, a, b, seed, n_threads);
}

fe_status fe_init_fill_f64(double *out, int64_t n, int kind, double a, double b, uint64_t seed,
                           int n_threads)
{
    return fe_init_fill(out, 0, n, kind, a, b, seed, n_threads);
}

/* ---- dropout (fastembed.Embedding's Keras 1 dropout): the keep decision of each id ---- */

uint64_t fe_dropout_base(uint64_t seed)
{
    return fe_mix64(seed) ^ 0x94D049BB133111EBULL;
}

uint64_t fe_dropout_key(uint64_t base, uint64_t call)
{
    return fe_mix64((base ^ call) + FE_GOLDEN);
}

#define FE_EACH_INDEX
#include "fe_instantiate.h" /* fe_dropout_keep, per index type */
#include "fe_instantiate_end.h"
