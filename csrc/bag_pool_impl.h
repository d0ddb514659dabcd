/* Loops of the pooled lookup for one (value type, index type, SIMD level, accumulator);
 * included by bag_block_impl.h with FE_ACC/FE_ASUF (double acc64 / FE_CT(FE_VSUF) accvt).
 * Values are read and written only through FE_LOAD/FE_STORE (fe_half.h). */

FE_TARGET static inline __attribute__((always_inline)) void
FE_NAME(FE_NAME3(fe_bag_pool, FE_VSUF, FE_ISUF), FE_NAME(FE_ASUF, FE_SIMD))(
    const char *table, int64_t n_rows, int64_t dim, int64_t row_stride, const FE_IDX *ids,
    int64_t n_ids, const int64_t *bounds, int64_t b_lo, int64_t b_hi, int mode, const FE_VT *psw,
    int64_t padding_idx, FE_VT *out, int64_t *argmax, int64_t c_lo, const int64_t width)
{
    /* read only after a bag's first row set it; zeroed once per call, not per bag, so that
     * -Wmaybe-uninitialized has nothing to say */
    FE_ACC acc[FE_BAG_BLOCK] = {0};
    const int64_t row_bytes = width * (int64_t)sizeof(FE_VT);
    for (int64_t b = b_lo; b < b_hi; b++) {
        FE_VT *restrict dst = out + b * dim + c_lo;
        int64_t *restrict am = argmax ? argmax + b * dim + c_lo : NULL;
        int64_t count = 0;
        double wsum = 0, w2sum = 0;
        for (int64_t k = bounds[b]; k < bounds[b + 1]; k++) {
            if (k + FE_BAG_PF_DIST < n_ids) { /* across bags: most bags are short */
                uint64_t pf = (uint64_t)(int64_t)ids[k + FE_BAG_PF_DIST];
                if (pf < (uint64_t)n_rows) {
                    /* every cache line the row touches (rows need not be line-aligned) */
                    uintptr_t p = (uintptr_t)(table + (int64_t)pf * row_stride) +
                                  (uintptr_t)(c_lo * (int64_t)sizeof(FE_VT));
                    uintptr_t end = p + (uintptr_t)(row_bytes < 1024 ? row_bytes : 1024);
                    for (p &= ~(uintptr_t)63; p < end; p += 64)
                        FE_PREFETCH((const char *)p);
                }
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
                    if (am)
                        for (int64_t d = 0; d < width; d++)
                            am[d] = k;
                } else if (am) {
                    for (int64_t d = 0; d < width; d++) {
                        FE_VT v = row[d], m = dst[d];
                        if (v > m || (v != v && m == m)) {
                            dst[d] = v;
                            am[d] = k;
                        }
                    }
                } else {
                    /* the first maximum wins; a NaN, once met, stays (NumPy's max) */
                    for (int64_t d = 0; d < width; d++) {
                        FE_VT v = row[d], m = dst[d];
                        dst[d] = (v > m || (v != v && m == m)) ? v : m;
                    }
                }
            } else {
                double wd = psw ? (double)FE_LOAD(FE_VSUF, psw + k) : 1.0;
                FE_ACC w = (FE_ACC)wd;
                wsum += wd;
                w2sum += wd * wd;
                if (count == 0) { /* the first row starts the sum: no zeroing pass */
                    for (int64_t d = 0; d < width; d++)
                        acc[d] = w * (FE_ACC)FE_LOAD(FE_VSUF, row + d);
                } else {
                    for (int64_t d = 0; d < width; d++)
                        acc[d] += w * (FE_ACC)FE_LOAD(FE_VSUF, row + d);
                }
            }
            count++;
        }
        if (count == 0) {
            for (int64_t d = 0; d < width; d++)
                dst[d] = 0;
            if (am)
                for (int64_t d = 0; d < width; d++)
                    am[d] = -1;
        } else if (mode == FE_BAG_SUM) {
            for (int64_t d = 0; d < width; d++)
                FE_STORE(FE_VSUF, dst + d, acc[d]);
        } else if (mode != FE_BAG_MAX) {
            double norm = mode == FE_BAG_MEAN ? wsum : sqrt(w2sum);
            for (int64_t d = 0; d < width; d++)
                FE_STORE(FE_VSUF, dst + d, (double)acc[d] / norm);
        }
    }
}

/* The body with the common widths as compile-time constants (fully unrolled, accumulators
 * in registers), any other width as a run-time loop. */
FE_TARGET static void FE_NAME(FE_NAME3(fe_bag_block, FE_VSUF, FE_ISUF), FE_NAME(FE_ASUF, FE_SIMD))(
    const char *table, int64_t n_rows, int64_t dim, int64_t row_stride, const FE_IDX *ids,
    int64_t n_ids, const int64_t *bounds, int64_t b_lo, int64_t b_hi, int mode, const FE_VT *psw,
    int64_t padding_idx, FE_VT *out, int64_t *argmax, int64_t c_lo, int64_t c_hi)
{
#define FE_BAG_CALL(W)                                                                         \
    FE_NAME(FE_NAME3(fe_bag_pool, FE_VSUF, FE_ISUF), FE_NAME(FE_ASUF, FE_SIMD))(                                \
        table, n_rows, dim, row_stride, ids, n_ids, bounds, b_lo, b_hi, mode, psw, padding_idx,\
        out, argmax, c_lo, W)
    switch (c_hi - c_lo) {
    case 16: FE_BAG_CALL(16); break;
    case 32: FE_BAG_CALL(32); break;
    case 64: FE_BAG_CALL(64); break;
    case 128: FE_BAG_CALL(128); break;
    default: FE_BAG_CALL(c_hi - c_lo); break;
    }
#undef FE_BAG_CALL
}
