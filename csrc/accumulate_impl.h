/* Per-value-type bodies of accumulate.c; included once per (FE_VT, FE_VSUF_T) = (float, f32),
 * (double, f64) and SIMD target (FE_TARGET, FE_SIMD). */

/* Sum the grad rows of groups [g_lo, g_hi) into their value rows, in input order. */
#define FE_SUM_GROUPS(DIM)                                                                   \
    for (int64_t g = g_lo; g < g_hi; g++) {                                                  \
        if (g == skip_group)                                                                 \
            continue;                                                                        \
        int64_t s = starts[g], e = starts[g + 1];                                            \
        if (e - s >= heavy_min) /* summed by all threads, split by columns */                \
            continue;                                                                        \
        if (s < 0 || e > n_perm || s > e) { /* malformed grouping: report, stay in bounds */ \
            *bad = 1;                                                                        \
            continue;                                                                        \
        }                                                                                    \
        FE_VT *restrict acc = values + (g - (skip_group >= 0 && g > skip_group)) * (DIM);    \
        for (int64_t j = 0; j < (DIM); j++)                                                  \
            acc[j] = 0; /* np.add.at into zeros: the first add is 0 + g (-0.0 -> +0.0) */    \
        for (int64_t k = s; k < e; k++) {                                                    \
            if (k + FE_ACC_PF < k_end) {                                                     \
                uint64_t q = (uint64_t)perm[k + FE_ACC_PF];                                  \
                if (q < (uint64_t)n_grad) {                                                  \
                    const char *pp = (const char *)(grad + (int64_t)q * (DIM));              \
                    for (int64_t b = 0; b < (DIM) * (int64_t)sizeof(FE_VT) && b < 2048;      \
                         b += 64)                                                            \
                        FE_PREFETCH(pp + b);                                                 \
                }                                                                            \
            }                                                                                \
            uint64_t p = (uint64_t)perm[k];                                                  \
            if (p >= (uint64_t)n_grad) {                                                     \
                *bad = 1;                                                                    \
                continue;                                                                    \
            }                                                                                \
            const FE_VT *restrict src = grad + (int64_t)p * (DIM);                           \
            for (int64_t j = 0; j < (DIM); j++)                                              \
                acc[j] += src[j];                                                            \
        }                                                                                    \
        if (scale_by_count && e > s) {                                                       \
            FE_VT c = (FE_VT)(e - s);                                                        \
            for (int64_t j = 0; j < (DIM); j++)                                              \
                acc[j] /= c;                                                                 \
        }                                                                                    \
    }

FE_TARGET static void FE_NAME3(fe_sum_chunk, FE_VSUF_T, FE_SIMD)(
    const FE_VT *grad, int64_t n_grad, int64_t dim, const int64_t *perm, int64_t n_perm,
    const int64_t *starts, int64_t g_lo, int64_t g_hi, int64_t skip_group, int scale_by_count,
    int64_t heavy_min, FE_VT *values, int *bad)
{
    if (g_lo >= g_hi)
        return;
    int64_t k_end = starts[g_hi]; /* prefetching stops at the end of this thread's groups */
    if (k_end > n_perm || k_end < 0)
        k_end = n_perm;
    switch (dim) {
    case 16: FE_SUM_GROUPS(16) break;
    case 32: FE_SUM_GROUPS(32) break;
    case 64: FE_SUM_GROUPS(64) break;
    case 128: FE_SUM_GROUPS(128) break;
    default: FE_SUM_GROUPS(dim) break;
    }
}

#undef FE_SUM_GROUPS

/* Columns [j0, j1) of one group's sum (a heavy group shared by all threads): each column is
 * still summed in input order, so the result is the same as one thread's. */
FE_TARGET static void FE_NAME3(fe_sum_cols, FE_VSUF_T, FE_SIMD)(
    const FE_VT *grad, int64_t n_grad, int64_t dim, const int64_t *perm, int64_t s, int64_t e,
    int64_t j0, int64_t j1, int scale_by_count, FE_VT *acc_row, int *bad)
{
    FE_VT *restrict acc = acc_row + j0;
    const int64_t w = j1 - j0;
    for (int64_t j = 0; j < w; j++)
        acc[j] = 0;
    for (int64_t k = s; k < e; k++) {
        if (k + FE_ACC_PF < e) {
            uint64_t q = (uint64_t)perm[k + FE_ACC_PF];
            if (q < (uint64_t)n_grad)
                for (int64_t b = 0; b < w * (int64_t)sizeof(FE_VT) && b < 2048; b += 64)
                    FE_PREFETCH((const char *)(grad + (int64_t)q * dim + j0) + b);
        }
        uint64_t p = (uint64_t)perm[k];
        if (p >= (uint64_t)n_grad) {
            *bad = 1;
            continue;
        }
        const FE_VT *restrict src = grad + (int64_t)p * dim + j0;
        for (int64_t j = 0; j < w; j++)
            acc[j] += src[j];
    }
    if (scale_by_count && e > s) {
        FE_VT c = (FE_VT)(e - s);
        for (int64_t j = 0; j < w; j++)
            acc[j] /= c;
    }
}
