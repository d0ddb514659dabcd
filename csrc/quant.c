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
#define FE_QHALF (FE_QBAG_BLOCK / 2) /* where a 4-bit block's odd columns start in acc */
/* Rows prefetched this many ids ahead (packed rows are short: 24-136 bytes). */
#define FE_QPF_DIST 16

int64_t fe_qrow_bytes(int64_t dim, int bits)
{
    if (dim < 0 || dim > INT64_MAX - 16)
        return -1;
    return bits == 8 ? dim + 8 : bits == 4 ? (dim + 1) / 2 + 4 : -1;
}

/* The row-accumulate steps of the pooled lookup, one per SIMD level (the vectorizer turns
 * uint8 -> float into long widening chains; these use one zero-extend per 8 or 16 codes).
 * Every level computes each element as acc + ((float)code * a + c), unfused, in that
 * order: the results are bit-identical across levels.
 *   8-bit: acc[j] += cb[j] * a + c                      for j < nb
 *   4-bit: acc[j] += (cb[j] & 15) * a + c, acc[FE_QHALF + j] += (cb[j] >> 4) * a + c */
static inline __attribute__((always_inline)) void
fe_qacc8_base(float *restrict acc, const uint8_t *restrict cb, int64_t j, int64_t nb, float a,
              float c)
{
    for (; j < nb; j++)
        acc[j] += (float)cb[j] * a + c;
}

static inline __attribute__((always_inline)) void
fe_qacc4_base(float *restrict acc, const uint8_t *restrict cb, int64_t j, int64_t nb, float a,
              float c)
{
    for (; j < nb; j++) {
        acc[j] += (float)(cb[j] & 15) * a + c;
        acc[FE_QHALF + j] += (float)(cb[j] >> 4) * a + c;
    }
}

/* float16 -> float, one per SIMD level: F16C's conversion where the level has it (every
 * AVX2 CPU does), exact either way. */
static inline __attribute__((always_inline)) float fe_qh2f_base(fe_f16 h)
{
    return fe_f16_to_float(h);
}

#ifdef FE_X86
#include <immintrin.h>

__attribute__((target("avx2,f16c"))) static inline __attribute__((always_inline)) float
fe_qh2f_avx2(fe_f16 h)
{
    return _cvtsh_ss(h);
}

__attribute__((target("avx512f"))) static inline __attribute__((always_inline)) float
fe_qh2f_avx512(fe_f16 h)
{
    /* AVX-512F's own conversion (the avx512 clones are not compiled with F16C) */
    __m512 v = _mm512_cvtph_ps(_mm256_castsi128_si256(_mm_cvtsi32_si128(h)));
    return _mm_cvtss_f32(_mm512_castps512_ps128(v));
}

__attribute__((target("avx2"))) static inline __attribute__((always_inline)) void
fe_qacc8_avx2(float *restrict acc, const uint8_t *restrict cb, int64_t j, int64_t nb, float a,
              float c)
{
    const __m256 va = _mm256_set1_ps(a), vc = _mm256_set1_ps(c);
    for (; j + 8 <= nb; j += 8) {
        __m256 q = _mm256_cvtepi32_ps(
            _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(cb + j))));
        __m256 t = _mm256_add_ps(_mm256_mul_ps(q, va), vc);
        _mm256_storeu_ps(acc + j, _mm256_add_ps(_mm256_loadu_ps(acc + j), t));
    }
    fe_qacc8_base(acc, cb, j, nb, a, c);
}

__attribute__((target("avx2"))) static inline __attribute__((always_inline)) void
fe_qacc4_avx2(float *restrict acc, const uint8_t *restrict cb, int64_t j, int64_t nb, float a,
              float c)
{
    const __m256 va = _mm256_set1_ps(a), vc = _mm256_set1_ps(c);
    const __m256i low = _mm256_set1_epi32(15);
    for (; j + 8 <= nb; j += 8) {
        __m256i x = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(cb + j)));
        __m256 lo = _mm256_cvtepi32_ps(_mm256_and_si256(x, low));
        __m256 hi = _mm256_cvtepi32_ps(_mm256_srli_epi32(x, 4));
        __m256 tl = _mm256_add_ps(_mm256_mul_ps(lo, va), vc);
        __m256 th = _mm256_add_ps(_mm256_mul_ps(hi, va), vc);
        _mm256_storeu_ps(acc + j, _mm256_add_ps(_mm256_loadu_ps(acc + j), tl));
        _mm256_storeu_ps(acc + FE_QHALF + j,
                         _mm256_add_ps(_mm256_loadu_ps(acc + FE_QHALF + j), th));
    }
    fe_qacc4_base(acc, cb, j, nb, a, c);
}

__attribute__((target("avx512f"))) static inline __attribute__((always_inline)) void
fe_qacc8_avx512(float *restrict acc, const uint8_t *restrict cb, int64_t j, int64_t nb,
                float a, float c)
{
    const __m512 va = _mm512_set1_ps(a), vc = _mm512_set1_ps(c);
    for (; j + 16 <= nb; j += 16) {
        __m512 q = _mm512_cvtepi32_ps(
            _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(cb + j))));
        __m512 t = _mm512_add_ps(_mm512_mul_ps(q, va), vc);
        _mm512_storeu_ps(acc + j, _mm512_add_ps(_mm512_loadu_ps(acc + j), t));
    }
    fe_qacc8_base(acc, cb, j, nb, a, c);
}

__attribute__((target("avx512f"))) static inline __attribute__((always_inline)) void
fe_qacc4_avx512(float *restrict acc, const uint8_t *restrict cb, int64_t j, int64_t nb,
                float a, float c)
{
    const __m512 va = _mm512_set1_ps(a), vc = _mm512_set1_ps(c);
    const __m512i low = _mm512_set1_epi32(15);
    for (; j + 16 <= nb; j += 16) {
        __m512i x = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(cb + j)));
        __m512 lo = _mm512_cvtepi32_ps(_mm512_and_si512(x, low));
        __m512 hi = _mm512_cvtepi32_ps(_mm512_srli_epi32(x, 4));
        __m512 tl = _mm512_add_ps(_mm512_mul_ps(lo, va), vc);
        __m512 th = _mm512_add_ps(_mm512_mul_ps(hi, va), vc);
        _mm512_storeu_ps(acc + j, _mm512_add_ps(_mm512_loadu_ps(acc + j), tl));
        _mm512_storeu_ps(acc + FE_QHALF + j,
                         _mm512_add_ps(_mm512_loadu_ps(acc + FE_QHALF + j), th));
    }
    fe_qacc4_base(acc, cb, j, nb, a, c);
}
#endif

#define FE_SIMD_AVX2 "avx2,f16c"
#define FE_SIMD_BODY "quant_types.h"
#include "fe_simd_clones.h"

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

#define FE_QLOOKUP_ENTRY(IDX, ISUF)                                                           \
    fe_status FE_NAME(fe_qlookup, ISUF)(const uint8_t *packed, int64_t n_rows, int64_t stride,\
                                        int64_t dim, int bits, const IDX *ids, int64_t n_ids, \
                                        float *out, int n_threads, int64_t *bad_pos)          \
    {                                                                                         \
        int64_t row_bytes = fe_qrow_bytes(dim, bits);                                         \
        if (n_rows < 0 || n_ids < 0 || row_bytes < 0 || (n_rows > 0 && stride < row_bytes))  \
            return FE_ERR_VALUE;                                                              \
        if (dim > 0 && n_ids > INT64_MAX / dim / 4)                                           \
            return FE_ERR_OVERFLOW;                                                           \
        int64_t bad = FE_NAME(fe_first_bad_id, ISUF)(ids, n_ids, n_rows, n_threads);         \
        if (bad >= 0) {                                                                       \
            *bad_pos = bad;                                                                   \
            return FE_ERR_INDEX;                                                              \
        }                                                                                     \
        if (n_ids == 0 || dim == 0)                                                           \
            return FE_OK;                                                                     \
        int level = fe_simd_level();                                                          \
        int nt = fe_plan_threads(n_threads, n_ids * (dim * 4 + row_bytes));                   \
        FE_PARALLEL_CHUNKS(nt, n_ids, {                                                       \
            FE_SIMD_DISPATCH(FE_NAME(fe_qgather_chunk, ISUF),                                 \
                             (packed, n_rows, stride, dim, bits, ids, lo, hi, out));          \
        });                                                                                   \
        return FE_OK;                                                                         \
    }

FE_QLOOKUP_ENTRY(int32_t, i32)
FE_QLOOKUP_ENTRY(int64_t, i64)

#define FE_QLOOKUP_BAG_ENTRY(IDX, ISUF)                                                       \
    fe_status FE_NAME(fe_qlookup_bag, ISUF)(                                                  \
        const uint8_t *packed, int64_t n_rows, int64_t stride, int64_t dim, int bits,         \
        const IDX *ids, int64_t n_ids, const int64_t *bounds, int64_t n_bags, int mode,       \
        const float *psw, int64_t padding_idx, float *out, int n_threads, int64_t *bad_pos)   \
    {                                                                                         \
        int64_t row_bytes = fe_qrow_bytes(dim, bits);                                         \
        if (n_rows < 0 || n_ids < 0 || row_bytes < 0 || (n_rows > 0 && stride < row_bytes)    \
            || mode < FE_BAG_SUM || mode > FE_BAG_SQRTN || (psw && mode == FE_BAG_MAX)        \
            || !fe_bag_bounds_ok(bounds, n_bags, n_ids))                                      \
            return FE_ERR_VALUE;                                                              \
        if (dim > 0 && n_bags > INT64_MAX / dim / 4)                                          \
            return FE_ERR_OVERFLOW;                                                           \
        int64_t bad = FE_NAME(fe_first_bad_id, ISUF)(ids, n_ids, n_rows, n_threads);         \
        if (bad >= 0) {                                                                       \
            *bad_pos = bad;                                                                   \
            return FE_ERR_INDEX;                                                              \
        }                                                                                     \
        if (n_bags == 0 || dim == 0)                                                          \
            return FE_OK;                                                                     \
        int level = fe_simd_level();                                                          \
        int nt = fe_plan_threads(n_threads, n_ids * row_bytes + n_bags * dim * 4);            \
        if (n_ids == 0)                                                                       \
            nt = 1; /* only empty bags: zeros */                                              \
        FE_PARALLEL_CHUNKS(nt, n_ids, {                                                       \
            int64_t b_lo = lo == 0 ? 0 : fe_first_bag_from(bounds, n_bags, n_ids, lo);       \
            int64_t b_hi = hi >= n_ids ? n_bags : fe_first_bag_from(bounds, n_bags, n_ids, hi);\
            for (int64_t c = 0; c < dim; c += FE_QBAG_BLOCK) {                                \
                int64_t c_hi = dim - c < FE_QBAG_BLOCK ? dim : c + FE_QBAG_BLOCK;             \
                FE_SIMD_DISPATCH(FE_NAME(fe_qbag_block, ISUF),                                \
                                 (packed, n_rows, stride, dim, bits, ids, n_ids, bounds,      \
                                  b_lo, b_hi, mode, psw, padding_idx, out, c, c_hi));         \
            }                                                                                 \
        });                                                                                   \
        return FE_OK;                                                                         \
    }

FE_QLOOKUP_BAG_ENTRY(int32_t, i32)
FE_QLOOKUP_BAG_ENTRY(int64_t, i64)
