/* Bodies of the dequantizing lookup and pooled lookup for one (index type, SIMD target);
 * included by quant_types.h with FE_IDX/FE_ISUF (int32_t i32 / int64_t i64), FE_SIMD
 * (base/avx2/avx512) and FE_TARGET. The row layout and value formula: fe_quant.h. */

/* The scale and bias stored after a row's `code_bytes` bytes of codes (unaligned). */
FE_TARGET static inline __attribute__((always_inline)) void
FE_NAME(FE_NAME(fe_qrow_params, FE_ISUF), FE_SIMD)(const uint8_t *row, int64_t code_bytes,
                                                   int bits, float *scale, float *bias)
{
    if (bits == 8) {
        memcpy(scale, row + code_bytes, 4);
        memcpy(bias, row + code_bytes + 4, 4);
    } else {
        fe_f16 h[2];
        memcpy(h, row + code_bytes, 4);
        *scale = FE_NAME(fe_qh2f, FE_SIMD)(h[0]);
        *bias = FE_NAME(fe_qh2f, FE_SIMD)(h[1]);
    }
}

/* One bag range [b_lo, b_hi), columns [c_lo, c_lo + width) of a table of `BITS`-bit rows
 * (c_lo even). BITS and, for common widths, `width` are compile-time constants here.
 * A 4-bit block keeps its even columns in acc[0..nb) and its odd ones in acc[FE_QHALF..)
 * (nb = the block's bytes): each half then reads the row's bytes at unit stride (the
 * nibbles never need shuffling per row), and the bag's result is interleaved once. */
FE_TARGET static inline __attribute__((always_inline)) void
FE_NAME(FE_NAME(fe_qbag_body, FE_ISUF), FE_SIMD)(
    const uint8_t *packed, int64_t n_rows, int64_t stride, int64_t dim, const int BITS,
    const FE_IDX *ids, int64_t n_ids, const int64_t *bounds, int64_t b_lo, int64_t b_hi,
    int mode, const float *psw, int64_t padding_idx, float *out, int64_t c_lo,
    const int64_t width)
{
    float acc[FE_QBAG_BLOCK] = {0};
    const int64_t code_bytes = BITS == 8 ? dim : (dim + 1) / 2;
    const int64_t nb = BITS == 8 ? width : (width + 1) / 2; /* bytes of the block */
    const int64_t c_byte = BITS == 8 ? c_lo : c_lo / 2;
/* The statements once per value of the row's block, with `slot` its place in acc and `q` its code
 * as a float */
#define FE_QROW_VALUES(...)                                                                   \
    do {                                                                                      \
        const uint8_t *restrict cb = row + c_byte;                                            \
        if (BITS == 8) {                                                                      \
            for (int64_t j = 0; j < nb; j++) {                                                \
                const int64_t slot = j;                                                       \
                const float q = (float)cb[j];                                                 \
                __VA_ARGS__                                                                    \
            }                                                                                 \
        } else {                                                                              \
            for (int64_t j = 0; j < nb; j++) {                                                \
                {                                                                             \
                    const int64_t slot = j;                                                   \
                    const float q = (float)(cb[j] & 15);                                      \
                    __VA_ARGS__                                                                \
                }                                                                             \
                {                                                                             \
                    const int64_t slot = FE_QHALF + j;                                        \
                    const float q = (float)(cb[j] >> 4);                                      \
                    __VA_ARGS__                                                                \
                }                                                                             \
            }                                                                                 \
        }                                                                                     \
    } while (0)
/* The loop over bag b's ids: prefetches FE_QPF_DIST ids ahead, skips padding, and runs
 * the statements with `row`, `scale`, `bias` and the position `k` of each row read. */
#define FE_QBAG_ROWS(...)                                                                     \
    for (int64_t k = bounds[b]; k < bounds[b + 1]; k++) {                                     \
        if (k + FE_QPF_DIST < n_ids) {                                                        \
            uint64_t pf = (uint64_t)(int64_t)ids[k + FE_QPF_DIST];                            \
            if (pf < (uint64_t)n_rows) {                                                      \
                const uint8_t *p = packed + (int64_t)pf * stride;                             \
                FE_PREFETCH(p + c_byte);                                                      \
                if (nb > 64 - 8) /* the scale and bias, when on another line */               \
                    FE_PREFETCH(p + code_bytes);                                              \
                for (int64_t o = 64; o < nb; o += 64)                                         \
                    FE_PREFETCH(p + c_byte + o);                                              \
            }                                                                                 \
        }                                                                                     \
        uint64_t id = (uint64_t)(int64_t)ids[k];                                              \
        if (id >= (uint64_t)n_rows || (int64_t)id == padding_idx)                             \
            continue; /* out of range is unreachable after the check pass */                  \
        const uint8_t *restrict row = packed + (int64_t)id * stride;                          \
        float scale, bias;                                                                    \
        FE_NAME(FE_NAME(fe_qrow_params, FE_ISUF), FE_SIMD)(row, code_bytes, BITS, &scale, &bias);                                 \
        __VA_ARGS__                                                                           \
    }
    const int64_t n_slots = BITS == 8 ? nb : FE_QHALF + nb;
/* acc[slot] += q * A + C over the row's block (quant.c's per-SIMD steps) */
#define FE_QACC_ROW(A, C)                                                                     \
    do {                                                                                      \
        if (BITS == 8)                                                                        \
            FE_NAME(fe_qacc8, FE_SIMD)(acc, row + c_byte, 0, nb, A, C);                       \
        else                                                                                  \
            FE_NAME(fe_qacc4, FE_SIMD)(acc, row + c_byte, 0, nb, A, C);                       \
    } while (0)
    for (int64_t b = b_lo; b < b_hi; b++) {
        float *restrict dst = out + b * dim + c_lo;
        int64_t count = 0;
        double wsum = 0, w2sum = 0;
        if (mode == FE_BAG_MAX) {
            FE_QBAG_ROWS({
                if (count == 0) {
                    FE_QROW_VALUES(acc[slot] = q * scale + bias;);
                } else {
                    /* the first maximum wins; a NaN, once met, stays (NumPy's max) */
                    FE_QROW_VALUES({
                        float v = q * scale + bias, m = acc[slot];
                        acc[slot] = (v > m || (v != v && m == m)) ? v : m;
                    });
                }
                count++;
            })
        } else {
            for (int64_t j = 0; j < n_slots; j++)
                acc[j] = 0;
            if (psw) {
                FE_QBAG_ROWS({
                    float w = psw[k];
                    wsum += (double)w;
                    w2sum += (double)w * (double)w;
                    float a = w * scale, c = w * bias;
                    FE_QACC_ROW(a, c);
                    count++;
                })
            } else { /* each term is the value itself: code * scale + bias */
                FE_QBAG_ROWS({
                    FE_QACC_ROW(scale, bias);
                    count++;
                })
                wsum = w2sum = (double)count;
            }
        }
        if (count == 0) {
            for (int64_t d = 0; d < width; d++)
                dst[d] = 0;
            continue;
        }
        float norm = 1.0f; /* sum and max divide by 1: exact */
        if (mode == FE_BAG_MEAN || mode == FE_BAG_SQRTN)
            norm = (float)(mode == FE_BAG_MEAN ? wsum : sqrt(w2sum));
        if (BITS == 8) {
            for (int64_t d = 0; d < width; d++)
                dst[d] = acc[d] / norm;
        } else {
            for (int64_t j = 0; j < width / 2; j++) {
                dst[2 * j] = acc[j] / norm;
                dst[2 * j + 1] = acc[FE_QHALF + j] / norm;
            }
            if (width & 1)
                dst[width - 1] = acc[width / 2] / norm;
        }
    }
#undef FE_QBAG_ROWS
#undef FE_QACC_ROW
#undef FE_QROW_VALUES
}

FE_TARGET static void FE_NAME(FE_NAME(fe_qbag_block, FE_ISUF), FE_SIMD)(
    const uint8_t *packed, int64_t n_rows, int64_t stride, int64_t dim, int bits,
    const FE_IDX *ids, int64_t n_ids, const int64_t *bounds, int64_t b_lo, int64_t b_hi,
    int mode, const float *psw, int64_t padding_idx, float *out, int64_t c_lo, int64_t c_hi)
{
#define FE_QBAG_CALL(BITS, W)                                                                 \
    FE_NAME(FE_NAME(fe_qbag_body, FE_ISUF), FE_SIMD)(                                         \
        packed, n_rows, stride, dim, BITS, ids, n_ids, bounds, b_lo, b_hi, mode, psw,         \
        padding_idx, out, c_lo, W)
#define FE_QBAG_WIDTHS(BITS)                                                                  \
    switch (c_hi - c_lo) {                                                                    \
    case 16: FE_QBAG_CALL(BITS, 16); break;                                                   \
    case 32: FE_QBAG_CALL(BITS, 32); break;                                                   \
    case 64: FE_QBAG_CALL(BITS, 64); break;                                                   \
    case 128: FE_QBAG_CALL(BITS, 128); break;                                                 \
    default: FE_QBAG_CALL(BITS, c_hi - c_lo); break;                                          \
    }
    if (bits == 8)
        FE_QBAG_WIDTHS(8)
    else
        FE_QBAG_WIDTHS(4)
#undef FE_QBAG_WIDTHS
#undef FE_QBAG_CALL
}

/* Dequantize the rows of ids[lo:hi) into out rows lo..hi (ids already checked). */
FE_TARGET static inline __attribute__((always_inline)) void
FE_NAME(FE_NAME(fe_qgather_body, FE_ISUF), FE_SIMD)(
    const uint8_t *packed, int64_t n_rows, int64_t stride, int64_t dim, const int BITS,
    const FE_IDX *ids, int64_t lo, int64_t hi, float *out, const int64_t width)
{
    const int64_t code_bytes = BITS == 8 ? width : (width + 1) / 2;
    for (int64_t i = lo; i < hi; i++) {
        if (i + FE_QPF_DIST < hi) {
            uint64_t pf = (uint64_t)(int64_t)ids[i + FE_QPF_DIST];
            if (pf < (uint64_t)n_rows) {
                const uint8_t *p = packed + (int64_t)pf * stride;
                for (int64_t o = 0; o < code_bytes + 8; o += 64)
                    FE_PREFETCH(p + o);
            }
        }
        uint64_t id = (uint64_t)(int64_t)ids[i];
        if (id >= (uint64_t)n_rows) /* unreachable after the check pass; memory safety */
            continue;
        const uint8_t *restrict row = packed + (int64_t)id * stride;
        float *restrict dst = out + i * width;
        float scale, bias;
        FE_NAME(FE_NAME(fe_qrow_params, FE_ISUF), FE_SIMD)(row, code_bytes, BITS, &scale, &bias);
        if (BITS == 8) {
            for (int64_t d = 0; d < width; d++)
                dst[d] = (float)row[d] * scale + bias;
        } else {
            for (int64_t j = 0; j < width / 2; j++) {
                dst[2 * j] = (float)(row[j] & 15) * scale + bias;
                dst[2 * j + 1] = (float)(row[j] >> 4) * scale + bias;
            }
            if (width & 1)
                dst[width - 1] = (float)(row[width / 2] & 15) * scale + bias;
        }
    }
}

FE_TARGET static void FE_NAME(FE_NAME(fe_qgather_chunk, FE_ISUF), FE_SIMD)(
    const uint8_t *packed, int64_t n_rows, int64_t stride, int64_t dim, int bits,
    const FE_IDX *ids, int64_t lo, int64_t hi, float *out)
{
#define FE_QGATHER_CALL(BITS, W)                                                              \
    FE_NAME(FE_NAME(fe_qgather_body, FE_ISUF), FE_SIMD)(packed, n_rows, stride, dim, BITS,    \
                                                        ids, lo, hi, out, W)
#define FE_QGATHER_WIDTHS(BITS)                                                               \
    switch (dim) {                                                                            \
    case 16: FE_QGATHER_CALL(BITS, 16); break;                                                \
    case 32: FE_QGATHER_CALL(BITS, 32); break;                                                \
    case 64: FE_QGATHER_CALL(BITS, 64); break;                                                \
    case 128: FE_QGATHER_CALL(BITS, 128); break;                                              \
    default: FE_QGATHER_CALL(BITS, dim); break;                                               \
    }
    if (bits == 8)
        FE_QGATHER_WIDTHS(8)
    else
        FE_QGATHER_WIDTHS(4)
#undef FE_QGATHER_WIDTHS
#undef FE_QGATHER_CALL
}
