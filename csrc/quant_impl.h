/* Bodies of the dequantizing lookup and pooled lookup for one (index type, SIMD target);
 * included by quant_types.h with FE_IDX/FE_ISUF (int32_t i32 / int64_t i64), FE_SIMD
 * (base/avx2/avx512) and FE_TARGET. The row layout and value formula: fe_quant.h. */

/* One bag range [b_lo, b_hi), columns [c_lo, c_lo + width) of a table of `BITS`-bit rows
 * (c_lo even). BITS and, for common widths, `width` are compile-time constants here. */
FE_TARGET static inline __attribute__((always_inline)) void
FE_NAME(FE_NAME(fe_qbag_body, FE_ISUF), FE_SIMD)(
    const uint8_t *packed, int64_t n_rows, int64_t stride, int64_t dim, const int BITS,
    const FE_IDX *ids, int64_t n_ids, const int64_t *bounds, int64_t b_lo, int64_t b_hi,
    int mode, const float *psw, int64_t padding_idx, float *out, int64_t c_lo,
    const int64_t width)
{
    float acc[FE_QBAG_BLOCK] = {0};
    const int64_t code_bytes = BITS == 8 ? dim : (dim + 1) / 2;
    const int64_t pf_bytes = BITS == 8 ? width : (width + 1) / 2;
    for (int64_t b = b_lo; b < b_hi; b++) {
        float *restrict dst = out + b * dim + c_lo;
        int64_t count = 0;
        double wsum = 0, w2sum = 0;
        for (int64_t k = bounds[b]; k < bounds[b + 1]; k++) {
            if (k + FE_QPF_DIST < n_ids) {
                uint64_t pf = (uint64_t)(int64_t)ids[k + FE_QPF_DIST];
                if (pf < (uint64_t)n_rows) {
                    const uint8_t *p = packed + (int64_t)pf * stride;
                    FE_PREFETCH(p + code_bytes); /* scale and bias */
                    for (int64_t o = 0; o < pf_bytes; o += 64)
                        FE_PREFETCH(p + (BITS == 8 ? c_lo : c_lo / 2) + o);
                }
            }
            uint64_t id = (uint64_t)(int64_t)ids[k];
            if (id >= (uint64_t)n_rows || (int64_t)id == padding_idx)
                continue; /* out of range is unreachable after the check pass */
            const uint8_t *restrict row = packed + (int64_t)id * stride;
            float scale, bias;
            fe_qrow_params(row, code_bytes, BITS, &scale, &bias);
            if (mode == FE_BAG_MAX) {
                if (BITS == 8) {
                    const uint8_t *restrict c8 = row + c_lo;
                    for (int64_t d = 0; d < width; d++) {
                        float v = (float)c8[d] * scale + bias;
                        dst[d] = count == 0 || v > dst[d] || (v != v && dst[d] == dst[d])
                                     ? v : dst[d];
                    }
                } else {
                    const uint8_t *restrict c4 = row + c_lo / 2;
                    for (int64_t d = 0; d < width; d++) {
                        float v = (float)((c4[d / 2] >> (4 * (d & 1))) & 15) * scale + bias;
                        dst[d] = count == 0 || v > dst[d] || (v != v && dst[d] == dst[d])
                                     ? v : dst[d];
                    }
                }
            } else {
                float w = psw ? psw[k] : 1.0f;
                wsum += (double)w;
                w2sum += (double)w * (double)w;
                /* without weights a = scale and c = bias: each term is the value itself */
                float a = w * scale, c = w * bias;
                if (count == 0)
                    for (int64_t d = 0; d < width; d++)
                        acc[d] = 0;
                if (BITS == 8) {
                    const uint8_t *restrict c8 = row + c_lo;
                    for (int64_t d = 0; d < width; d++)
                        acc[d] += (float)c8[d] * a + c;
                } else {
                    const uint8_t *restrict c4 = row + c_lo / 2;
                    for (int64_t j = 0; j < width / 2; j++) {
                        acc[2 * j] += (float)(c4[j] & 15) * a + c;
                        acc[2 * j + 1] += (float)(c4[j] >> 4) * a + c;
                    }
                    if (width & 1)
                        acc[width - 1] += (float)(c4[width / 2] & 15) * a + c;
                }
            }
            count++;
        }
        if (count == 0) {
            for (int64_t d = 0; d < width; d++)
                dst[d] = 0;
        } else if (mode == FE_BAG_SUM) {
            for (int64_t d = 0; d < width; d++)
                dst[d] = acc[d];
        } else if (mode != FE_BAG_MAX) {
            double norm = mode == FE_BAG_MEAN ? wsum : sqrt(w2sum);
            for (int64_t d = 0; d < width; d++)
                dst[d] = (float)((double)acc[d] / norm);
        }
    }
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
        fe_qrow_params(row, code_bytes, BITS, &scale, &bias);
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
