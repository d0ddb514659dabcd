/* Body of the pooled lookup for one (value type, index type, SIMD target); included by
 * bag.c with FE_VT/FE_VSUF2 (float f32 / double f64), FE_IDX/FE_ISUF (int32_t i32 / int64_t
 * i64), FE_SIMD (base/avx2/avx512) and FE_TARGET (a target attribute or nothing). */

/* Bags [b_lo, b_hi) into their out rows, columns [c_lo, c_hi) (blocks of at most
 * FE_BAG_BLOCK, so the double accumulator `acc` stays in L1). Each bag is summed by one
 * thread, in id order, in double, and rounded once: the result does not depend on the
 * thread count, and float32 sums keep float64 accuracy. */
FE_TARGET static void FE_NAME(FE_NAME3(fe_bag_block, FE_VSUF2, FE_ISUF), FE_SIMD)(
    const char *table, int64_t n_rows, int64_t dim, int64_t row_stride, const FE_IDX *ids,
    const int64_t *bounds, int64_t b_lo, int64_t b_hi, int mode, const FE_VT *psw,
    int64_t padding_idx, FE_VT *out, int64_t c_lo, int64_t c_hi, double *restrict acc)
{
    int64_t width = c_hi - c_lo;
    for (int64_t b = b_lo; b < b_hi; b++) {
        FE_VT *restrict dst = out + b * dim + c_lo;
        int64_t count = 0;
        double wsum = 0, w2sum = 0;
        for (int64_t d = 0; d < width; d++)
            acc[d] = 0;
        for (int64_t k = bounds[b]; k < bounds[b + 1]; k++) {
            if (k + 8 < bounds[b + 1]) {
                uint64_t pf = (uint64_t)(int64_t)ids[k + 8];
                if (pf < (uint64_t)n_rows)
                    FE_PREFETCH(table + (int64_t)pf * row_stride);
            }
            uint64_t id = (uint64_t)(int64_t)ids[k];
            if (id >= (uint64_t)n_rows || (int64_t)id == padding_idx)
                continue; /* out of range is unreachable after the check pass */
            const FE_VT *restrict row =
                (const FE_VT *)(table + (int64_t)id * row_stride) + c_lo;
            if (mode == FE_BAG_MAX) {
                if (count == 0) {
                    for (int64_t d = 0; d < width; d++)
                        dst[d] = row[d];
                } else {
                    /* the first maximum wins; a NaN, once met, stays (NumPy's max) */
                    for (int64_t d = 0; d < width; d++) {
                        FE_VT v = row[d], m = dst[d];
                        dst[d] = (v > m || (v != v && m == m)) ? v : m;
                    }
                }
            } else if (psw) {
                double w = (double)psw[k];
                wsum += w;
                w2sum += w * w;
                for (int64_t d = 0; d < width; d++)
                    acc[d] += w * (double)row[d];
            } else {
                for (int64_t d = 0; d < width; d++)
                    acc[d] += (double)row[d];
            }
            count++;
        }
        if (mode == FE_BAG_MAX) {
            if (count == 0)
                for (int64_t d = 0; d < width; d++)
                    dst[d] = 0;
            continue;
        }
        double norm = 1.0;
        if (count > 0 && mode == FE_BAG_MEAN)
            norm = psw ? wsum : (double)count;
        else if (count > 0 && mode == FE_BAG_SQRTN)
            norm = psw ? sqrt(w2sum) : sqrt((double)count);
        for (int64_t d = 0; d < width; d++)
            dst[d] = (FE_VT)(acc[d] / norm);
    }
}
