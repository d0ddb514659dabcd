/* Loops of the pooled lookup for one (value type, index type, SIMD level, accumulator);
 * included by bag_block_impl.h with FE_ACC/FE_ASUF (double acc64 / FE_CT(FE_VSUF) accvt).
 * Values are read and written only through FE_LOAD/FE_STORE (fe_half.h). */

/* Writes one bag's `width` results, column c of the bag from acc[c]: zeros for an empty bag
 * (count 0), acc / norm for MEAN and SQRTN, acc itself otherwise; into out as the value type,
 * or as float32 (`out_f32`, half tables asked for float32 bags). */
FE_TARGET static inline __attribute__((always_inline)) void
FE_NAME(FE_NAME3(fe_bag_put, FE_VSUF, FE_ISUF), FE_NAME(FE_ASUF, FE_SIMD))(
    FE_VT *out, int out_f32, int64_t at, int64_t width, const FE_ACC *acc, int64_t count,
    int mode, double wsum, double w2sum)
{
    FE_VT *dst = out + at;
    float *dst32 = (float *)(void *)out + at;
    if (count == 0) {
        for (int64_t d = 0; d < width; d++) {
            if (out_f32)
                dst32[d] = 0;
            else
                FE_STORE(FE_VSUF, dst + d, 0);
        }
    } else if (mode == FE_BAG_MEAN || mode == FE_BAG_SQRTN) {
        double norm = mode == FE_BAG_MEAN ? wsum : sqrt(w2sum);
        for (int64_t d = 0; d < width; d++) {
            if (out_f32)
                dst32[d] = (float)((double)acc[d] / norm);
            else
                FE_STORE(FE_VSUF, dst + d, (double)acc[d] / norm);
        }
    } else {
        for (int64_t d = 0; d < width; d++) {
            if (out_f32)
                dst32[d] = (float)acc[d];
            else
                FE_STORE(FE_VSUF, dst + d, acc[d]);
        }
    }
}

/* The general loop: any width, every mode. MAX keeps the running maximum in acc too (exact:
 * it is one of the values), compared in the arithmetic type. */
FE_TARGET static inline __attribute__((always_inline)) void
FE_NAME(FE_NAME3(fe_bag_pool, FE_VSUF, FE_ISUF), FE_NAME(FE_ASUF, FE_SIMD))(
    const char *table, int64_t n_rows, int64_t dim, int64_t row_stride, const FE_IDX *ids,
    int64_t n_ids, const int64_t *bounds, int64_t b_lo, int64_t b_hi, int mode, const FE_VT *psw,
    int64_t padding_idx, FE_VT *out, int out_f32, int64_t *argmax, int64_t c_lo,
    const int64_t width)
{
    /* read only after a bag's first row set it; zeroed once per call, not per bag, so that
     * -Wmaybe-uninitialized has nothing to say */
    FE_ACC acc[FE_BAG_BLOCK] = {0};
    const int64_t row_bytes = width * (int64_t)sizeof(FE_VT);
    for (int64_t b = b_lo; b < b_hi; b++) {
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
                        acc[d] = (FE_ACC)FE_LOAD(FE_VSUF, row + d);
                    if (am)
                        for (int64_t d = 0; d < width; d++)
                            am[d] = k;
                } else if (am) {
                    for (int64_t d = 0; d < width; d++) {
                        FE_ACC v = (FE_ACC)FE_LOAD(FE_VSUF, row + d), m = acc[d];
                        if (v > m || (v != v && m == m)) {
                            acc[d] = v;
                            am[d] = k;
                        }
                    }
                } else {
                    /* the first maximum wins; a NaN, once met, stays (NumPy's max) */
                    for (int64_t d = 0; d < width; d++) {
                        FE_ACC v = (FE_ACC)FE_LOAD(FE_VSUF, row + d), m = acc[d];
                        acc[d] = (v > m || (v != v && m == m)) ? v : m;
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
        if (count == 0 && am)
            for (int64_t d = 0; d < width; d++)
                am[d] = -1;
        FE_NAME(FE_NAME3(fe_bag_put, FE_VSUF, FE_ISUF), FE_NAME(FE_ASUF, FE_SIMD))(
            out, out_f32, b * dim + c_lo, width, acc, count, mode, wsum, w2sum);
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
    int64_t padding_idx, FE_VT *out, int out_f32, int64_t c_lo, const int nv)
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
        if (count == 0) /* an empty bag (zeros): no uninitialized read */
            for (int j = 0; j < nv; j++)
                acc[j] = (vacc){0};
        if (sizeof(FE_VT) == 2 && !out_f32 && (mode == FE_BAG_SUM || !psw)) {
            /* half results: rounded a register at a time (the put below, lane by lane) */
            typedef float vf32 __attribute__((vector_size(FE_BAG_VL * sizeof(float))));
            typedef double vf64 __attribute__((vector_size(FE_BAG_VL * sizeof(double))));
            double norm = mode == FE_BAG_SUM || count == 0 ? 1.0
                          : mode == FE_BAG_MEAN ? (double)count : sqrt((double)count);
            FE_VT *dst = out + b * dim + c_lo;
            for (int j = 0; j < nv; j++) {
                vf32 r = mode == FE_BAG_SUM ? __builtin_convertvector(acc[j], vf32)
                    : __builtin_convertvector(__builtin_convertvector(acc[j], vf64) / norm, vf32);
                FE_BAG_VSTORE(FE_VSUF, dst + j * FE_BAG_VL, r);
            }
            continue;
        }
        FE_ACC sum[FE_BAG_MAX_NV * FE_BAG_VL];
        memcpy(sum, acc, (size_t)nv * sizeof acc[0]);
        if (!psw) {
            wsum = (double)count;
            w2sum = (double)count;
        }
        FE_NAME(FE_NAME3(fe_bag_put, FE_VSUF, FE_ISUF), FE_NAME(FE_ASUF, FE_SIMD))(
            out, out_f32, b * dim + c_lo, nv * FE_BAG_VL, sum, count, mode, wsum, w2sum);
    }
}

/* The body with the common widths as compile-time constants (fully unrolled, accumulators
 * in registers), any other width as a run-time loop. */
FE_TARGET static void FE_NAME(FE_NAME3(fe_bag_block, FE_VSUF, FE_ISUF), FE_NAME(FE_ASUF, FE_SIMD))(
    const char *table, int64_t n_rows, int64_t dim, int64_t row_stride, const FE_IDX *ids,
    int64_t n_ids, const int64_t *bounds, int64_t b_lo, int64_t b_hi, int mode, const FE_VT *psw,
    int64_t padding_idx, FE_VT *out, int out_f32, int64_t *argmax, int64_t c_lo, int64_t c_hi)
{
#define FE_BAG_CALL(W)                                                                         \
    FE_NAME(FE_NAME3(fe_bag_pool, FE_VSUF, FE_ISUF), FE_NAME(FE_ASUF, FE_SIMD))(                                \
        table, n_rows, dim, row_stride, ids, n_ids, bounds, b_lo, b_hi, mode, psw, padding_idx,\
        out, out_f32, argmax, c_lo, W)
#define FE_BAG_VCALL(NV)                                                                       \
    FE_NAME(FE_NAME3(fe_bag_vpool, FE_VSUF, FE_ISUF), FE_NAME(FE_ASUF, FE_SIMD))(              \
        table, n_rows, dim, row_stride, ids, n_ids, bounds, b_lo, b_hi, mode, psw, padding_idx,\
        out, out_f32, c_lo, NV)
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
