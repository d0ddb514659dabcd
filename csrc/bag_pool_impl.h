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

/* Sums, means and sqrtn of nv * FE_BAG_VL columns, nv a constant after inlining (1, 2, 4, 8;
 * FE_BAG_VL the accumulator's lanes in one register of the SIMD level): the accumulator is
 * nv registers, each row added straight from the table. Per column the same operations in the same order as the loop above (the first
 * row sets the sum, a weighted row is w * row), so the same results; no branch on the mode
 * inside the row loop. */
FE_TARGET static inline __attribute__((always_inline)) void
FE_NAME(FE_NAME3(fe_bag_vpool, FE_VSUF, FE_ISUF), FE_NAME(FE_ASUF, FE_SIMD))(
    const char *table, int64_t n_rows, int64_t dim, int64_t row_stride, const FE_IDX *ids,
    int64_t n_ids, const int64_t *bounds, int64_t b_lo, int64_t b_hi, int mode, const FE_VT *psw,
    int64_t padding_idx, FE_VT *out, int64_t c_lo, const int nv)
{
    typedef FE_ACC vacc __attribute__((vector_size(FE_BAG_VL * sizeof(FE_ACC))));
    typedef FE_VT vval __attribute__((vector_size(FE_BAG_VL * sizeof(FE_VT))));
    const int64_t row_bytes = nv * FE_BAG_VL * (int64_t)sizeof(FE_VT);
    const int64_t last = n_ids - 1;
    for (int64_t b = b_lo; b < b_hi; b++) {
        vacc acc[FE_BAG_MAX_NV];
        int64_t count = 0;
        double wsum = 0, w2sum = 0;
        for (int64_t k = bounds[b]; k < bounds[b + 1]; k++) {
            /* the row FE_BAG_PF_DIST ids ahead, across bags (most bags are short) */
            uint64_t pf = (uint64_t)(int64_t)ids[k + FE_BAG_PF_DIST < last ? k + FE_BAG_PF_DIST
                                                                            : last];
            if (pf < (uint64_t)n_rows) {
                uintptr_t p = (uintptr_t)(table + (int64_t)pf * row_stride) +
                              (uintptr_t)(c_lo * (int64_t)sizeof(FE_VT));
                uintptr_t end = p + (uintptr_t)row_bytes;
                for (p &= ~(uintptr_t)(FE_BAG_PF_STEP - 1); p < end; p += FE_BAG_PF_STEP)
                    FE_PREFETCH((const char *)p);
            }
            uint64_t id = (uint64_t)(int64_t)ids[k];
            if (id >= (uint64_t)n_rows || (int64_t)id == padding_idx)
                continue; /* out of range is unreachable after the check pass */
            const FE_VT *row = (const FE_VT *)(table + (int64_t)id * row_stride) + c_lo;
            vacc x[FE_BAG_MAX_NV];
            for (int j = 0; j < nv; j++) {
                vval v;
                memcpy(&v, row + j * FE_BAG_VL, sizeof v);
                x[j] = __builtin_convertvector(FE_BAG_VCT(FE_VSUF, v), vacc);
            }
            if (psw) {
                double wd = (double)FE_LOAD(FE_VSUF, psw + k);
                FE_ACC w = (FE_ACC)wd;
                wsum += wd;
                w2sum += wd * wd;
                for (int j = 0; j < nv; j++)
                    x[j] = w * x[j];
            }
            if (count == 0) {
                for (int j = 0; j < nv; j++)
                    acc[j] = x[j];
            } else {
                for (int j = 0; j < nv; j++)
                    acc[j] += x[j];
            }
            count++;
        }
        FE_VT *dst = out + b * dim + c_lo;
        FE_ACC sum[FE_BAG_MAX_NV * FE_BAG_VL];
        const int width = nv * FE_BAG_VL;
        if (count == 0) {
            for (int d = 0; d < width; d++)
                FE_STORE(FE_VSUF, dst + d, 0);
            continue;
        }
        memcpy(sum, acc, (size_t)nv * sizeof acc[0]);
        if (mode == FE_BAG_SUM) {
            for (int d = 0; d < width; d++)
                FE_STORE(FE_VSUF, dst + d, sum[d]);
        } else {
            if (!psw) {
                wsum = (double)count;
                w2sum = (double)count;
            }
            double norm = mode == FE_BAG_MEAN ? wsum : sqrt(w2sum);
            for (int d = 0; d < width; d++)
                FE_STORE(FE_VSUF, dst + d, (double)sum[d] / norm);
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
#define FE_BAG_VCALL(NV)                                                                       \
    FE_NAME(FE_NAME3(fe_bag_vpool, FE_VSUF, FE_ISUF), FE_NAME(FE_ASUF, FE_SIMD))(              \
        table, n_rows, dim, row_stride, ids, n_ids, bounds, b_lo, b_hi, mode, psw, padding_idx,\
        out, c_lo, NV)
    if (mode != FE_BAG_MAX) {
        switch (c_hi - c_lo) {
        case 1 * FE_BAG_VL: FE_BAG_VCALL(1); return;
        case 2 * FE_BAG_VL: FE_BAG_VCALL(2); return;
        case 4 * FE_BAG_VL: FE_BAG_VCALL(4); return;
        case 8 * FE_BAG_VL: FE_BAG_VCALL(8); return;
        }
    }
    switch (c_hi - c_lo) {
    case 16: FE_BAG_CALL(16); break;
    case 32: FE_BAG_CALL(32); break;
    case 64: FE_BAG_CALL(64); break;
    case 128: FE_BAG_CALL(128); break;
    default: FE_BAG_CALL(c_hi - c_lo); break;
    }
#undef FE_BAG_CALL
#undef FE_BAG_VCALL
}
