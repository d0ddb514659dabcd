/* Row-quantized tables (8- and 4-bit, PyTorch's prepacked layout): quantization, and the
 * lookup and pooled lookup that dequantize only the rows they read. Contract: fe_quant.h. */
#include "fe_quant.h"
#include "fe_half.h"
#include "fe_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Columns pooled per pass over a bag: a 1 KB float accumulator, in L1. Even, so a block
 * of a 4-bit row starts on a byte. */
#define FE_QBAG_BLOCK 256
/* Rows prefetched this many ids ahead (packed rows are short: 24-136 bytes): by the gather,
 * and by the bags, whose pooling loop is longer per row (measured, 1M x 64 random rows, one
 * thread, interleaved CPU-time rounds: 32 ahead is 5-10% faster than 16 for 8 and 4 bits). */
#define FE_QPF_DIST 16
#define FE_QBAG_PF_DIST 32

int64_t fe_qrow_bytes(int64_t dim, int bits)
{
    if (dim < 0 || dim > INT64_MAX - 16)
        return -1;
    return bits == 8 ? dim + 8 : bits == 4 ? (dim + 1) / 2 + 4 : -1;
}

/* ---- the SIMD levels' primitives, used by quant_impl.h as FE_NAME(fe_q..., FE_SIMD) -------
 * A level L has a vector type fe_qv_L of fe_qw_L floats and:
 *   fe_qzero_L(), fe_qset_L(x)         all zeros, all x
 *   fe_qcode8_L(p)                     the codes p[0..W) as floats
 *   fe_qcode4_L(p, &lo, &hi)           the low and the high nibbles of p[0..W) as floats
 *   fe_qfma_L(q, a, acc)               q * a + acc, fused (rounded once)
 *   fe_qput_L(dst, acc, b, n)          dst[0..W) = (acc + b) / n
 *   fe_qput2_L(dst, lo, hi, b, n)      dst[0..2W) = the same, lo and hi interleaved
 *   fe_qhalves_L(p, &scale, &bias)     a 4-bit row's float16 scale and bias, stored at p
 * Each level rounds every element identically (fused multiply-add, IEEE add and divide;
 * the division skipped when n is 1, which is exact): the results do not depend on the
 * level. */
#define FE_AI static inline __attribute__((always_inline))
/* The base level is scalar, below; the x86 levels are one table (quant_simd_impl.h) with
 * each level's settings, plus their fe_qput2 and fe_qhalves. */

typedef float fe_qv_base;
enum { fe_qw_base = 1 };

FE_AI float fe_qzero_base(void)
{
    return 0.0f;
}

FE_AI float fe_qset_base(float x)
{
    return x;
}

FE_AI float fe_qcode8_base(const uint8_t *p)
{
    return (float)p[0];
}

FE_AI void fe_qcode4_base(const uint8_t *p, float *lo, float *hi)
{
    *lo = (float)(p[0] & 15);
    *hi = (float)(p[0] >> 4);
}

FE_AI float fe_qfma_base(float q, float a, float acc)
{
    return fmaf(q, a, acc);
}

FE_AI void fe_qput_base(float *dst, float acc, float b, float n)
{
    dst[0] = n == 1.0f ? acc + b : (acc + b) / n;
}

FE_AI void fe_qput2_base(float *dst, float lo, float hi, float b, float n)
{
    fe_qput_base(dst, lo, b, n);
    fe_qput_base(dst + 1, hi, b, n);
}

FE_AI void fe_qhalves_base(const uint8_t *p, float *scale, float *bias)
{
    fe_f16 h[2];
    memcpy(h, p, 4);
    *scale = fe_f16_to_float(h[0]);
    *bias = fe_f16_to_float(h[1]);
}

#define FE_SIMD_AVX2 "avx2,fma,f16c" /* also the target of fe_simd_clones.h's avx2 clones */
#ifdef FE_X86
#include <immintrin.h>

#define FE_AVX2 __attribute__((target(FE_SIMD_AVX2)))
#define FE_AVX512 __attribute__((target("avx512f")))

#define FE_SIMD avx2
#define FE_TARGET FE_AVX2
#define FE_QVT __m256
#define FE_QLANES 8
#define FE_QMM(op) _mm256_##op
#define FE_QAND(a, b) _mm256_and_si256(a, b)
#define FE_QBYTES(p) _mm_loadl_epi64((const __m128i *)(p))
#include "quant_simd_impl.h"

FE_AVX2 FE_AI void fe_qput2_avx2(float *dst, __m256 lo, __m256 hi, float b, float n)
{
    lo = fe_qfinish_avx2(lo, b, n);
    hi = fe_qfinish_avx2(hi, b, n);
    __m256 a = _mm256_unpacklo_ps(lo, hi), c = _mm256_unpackhi_ps(lo, hi);
    _mm256_storeu_ps(dst, _mm256_permute2f128_ps(a, c, 0x20));
    _mm256_storeu_ps(dst + 8, _mm256_permute2f128_ps(a, c, 0x31));
}

FE_AVX2 FE_AI void fe_qhalves_avx2(const uint8_t *p, float *scale, float *bias)
{
    int32_t h; /* F16C's conversion: exact, as fe_f16_to_float */
    memcpy(&h, p, 4);
    __m128 v = _mm_cvtph_ps(_mm_cvtsi32_si128(h));
    *scale = _mm_cvtss_f32(v);
    *bias = _mm_cvtss_f32(_mm_movehdup_ps(v));
}

#define FE_SIMD avx512
#define FE_TARGET FE_AVX512
#define FE_QVT __m512
#define FE_QLANES 16
#define FE_QMM(op) _mm512_##op
#define FE_QAND(a, b) _mm512_and_si512(a, b)
#define FE_QBYTES(p) _mm_loadu_si128((const __m128i *)(p))
#include "quant_simd_impl.h"

FE_AVX512 FE_AI void fe_qput2_avx512(float *dst, __m512 lo, __m512 hi, float b, float n)
{
    const __m512i first = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    const __m512i second = _mm512_add_epi32(first, _mm512_set1_epi32(8));
    lo = fe_qfinish_avx512(lo, b, n);
    hi = fe_qfinish_avx512(hi, b, n);
    _mm512_storeu_ps(dst, _mm512_permutex2var_ps(lo, first, hi));
    _mm512_storeu_ps(dst + 16, _mm512_permutex2var_ps(lo, second, hi));
}

FE_AVX512 FE_AI void fe_qhalves_avx512(const uint8_t *p, float *scale, float *bias)
{
    int32_t h; /* AVX-512F's own conversion (the avx512 clones are not compiled with F16C) */
    memcpy(&h, p, 4);
    __m512 v = _mm512_cvtph_ps(_mm256_castsi128_si256(_mm_cvtsi32_si128(h)));
    __m128 x = _mm512_castps512_ps128(v);
    *scale = _mm_cvtss_f32(x);
    *bias = _mm_cvtss_f32(_mm_movehdup_ps(x));
}
#endif

/* Prefetch the lines of bytes [p + a, p + a + n) and the one holding byte p + last. */
FE_AI void fe_qprefetch(const uint8_t *p, int64_t a, int64_t n, int64_t last)
{
    for (int64_t o = 0; o < n; o += 64)
        FE_PREFETCH(p + a + o);
    FE_PREFETCH(p + last);
}

#define FE_IMPL "quant_impl.h"
#define FE_EACH_INDEX
#define FE_SIMD_BODY "fe_instantiate.h"
#include "fe_simd_clones.h" /* the pooling and gather loops, per index type and SIMD level */
#include "fe_instantiate.h" /* the entry points, per index type */
#include "fe_instantiate_end.h"

/* One row of PyTorch's prepack: 0 when written, 1 for a non-finite value (its column in
 * *bad_col), 2 for a range or float16 overflow. */
static int fe_quantize_row(const float *x, int64_t dim, int bits, uint8_t *dst, int64_t *bad_col)
{
    float lo = x[0], hi = x[0];
    for (int64_t d = 0; d < dim; d++) {
        if (!isfinite(x[d])) {
            *bad_col = d;
            return 1;
        }
        lo = x[d] < lo ? x[d] : lo;
        hi = x[d] > hi ? x[d] : hi;
    }
    if (bits == 8) {
        float range = hi - lo;
        if (!isfinite(range))
            return 2;
        float scale = range / 255.0f, inv = 255.0f / (range + 1e-8f);
        for (int64_t d = 0; d < dim; d++)
            dst[d] = (uint8_t)lrintf((x[d] - lo) * inv);
        memcpy(dst + dim, &scale, 4);
        memcpy(dst + dim + 4, &lo, 4);
        return 0;
    }
    fe_f16 lo16 = fe_float_to_f16(lo);
    lo = fe_f16_to_float(lo16);
    float range = hi - lo;
    if (!isfinite(lo) || !isfinite(range))
        return 2;
    fe_f16 scale16 = fe_float_to_f16(range == 0.0f ? 1.0f : range / 15.0f);
    float scale = fe_f16_to_float(scale16);
    if (!isfinite(scale))
        return 2;
    if (scale == 0.0f) {
        scale = 1.0f;
        scale16 = fe_float_to_f16(1.0f);
    }
    float inv = 1.0f / scale;
    if (isinf(inv)) {
        inv = 1.0f;
        scale16 = fe_float_to_f16(1.0f);
    }
    int64_t code_bytes = (dim + 1) / 2;
    memset(dst, 0, (size_t)code_bytes);
    for (int64_t d = 0; d < dim; d++) {
        long q = lrintf((x[d] - lo) * inv);
        q = q < 0 ? 0 : q > 15 ? 15 : q;
        dst[d / 2] |= (uint8_t)(q << (4 * (d & 1)));
    }
    fe_f16 params[2] = {scale16, lo16};
    memcpy(dst + code_bytes, params, 4);
    return 0;
}

fe_status fe_quantize_rows(const char *table, int64_t n_rows, int64_t dim, int64_t row_stride,
                           int bits, uint8_t *packed, int n_threads, int64_t *bad_pos)
{
    *bad_pos = -1;
    int64_t row_bytes = fe_qrow_bytes(dim, bits);
    if (n_rows < 0 || dim < 1 || row_bytes < 0)
        return FE_ERR_VALUE;
    if (n_rows > INT64_MAX / row_bytes || n_rows > INT64_MAX / dim)
        return FE_ERR_OVERFLOW;
    if (n_rows == 0)
        return FE_OK;
    int nt = fe_plan_threads(n_threads, n_rows * dim * 4);
    /* the first bad row of each kind, per thread (each thread's rows ascend) */
    int64_t nonfinite[FE_MAX_THREADS], overflow[FE_MAX_THREADS], col[FE_MAX_THREADS];
    for (int t = 0; t < FE_MAX_THREADS; t++)
        nonfinite[t] = overflow[t] = -1;
    FE_PARALLEL_CHUNKS(nt, n_rows, {
        for (int64_t r = lo; r < hi; r++) {
            int64_t c = -1;
            int rc = fe_quantize_row((const float *)(table + r * row_stride), dim, bits,
                                     packed + r * row_bytes, &c);
            if (rc == 1 && nonfinite[t] < 0) {
                nonfinite[t] = r;
                col[t] = c;
                break; /* a non-finite value outranks any later finding in this chunk */
            }
            if (rc == 2 && overflow[t] < 0)
                overflow[t] = r;
        }
    });
    int64_t first_nf = -1, first_col = -1, first_of = -1;
    for (int t = 0; t < FE_MAX_THREADS; t++) {
        if (nonfinite[t] >= 0 && (first_nf < 0 || nonfinite[t] < first_nf)) {
            first_nf = nonfinite[t];
            first_col = col[t];
        }
        if (overflow[t] >= 0 && (first_of < 0 || overflow[t] < first_of))
            first_of = overflow[t];
    }
    if (first_nf >= 0) {
        *bad_pos = first_nf * dim + first_col;
        return FE_ERR_NONFINITE;
    }
    if (first_of >= 0) {
        *bad_pos = first_of;
        return FE_ERR_VALUE;
    }
    return FE_OK;
}
