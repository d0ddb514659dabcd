/* Body of accumulate.c (fe_instantiate.h), per value type (FE_VT, FE_VSUF: f32, f64): the
 * summing loops per SIMD level (FE_SIMD, FE_TARGET: fe_simd_clones.h), then, in the pass
 * without FE_SIMD, the entry point fe_sum_groups_<FE_VSUF> and its thread split. */

#ifdef FE_SIMD

/* One group's sum over columns [j0, j0 + w): acc[0:w] = 0, then += grad[perm[k], j0:j0 + w]
 * for k in [s, e) in input order (np.add.at into zeros: the first add is 0 + g, -0.0 ->
 * +0.0), then / (e - s) with scale_by_count; rows are prefetched ahead up to position
 * pf_end. A position outside [0, n_grad) sets *bad and is skipped (every access in bounds). */
FE_TARGET static FE_ALWAYS_INLINE void FE_NAME3(fe_sum_group, FE_VSUF, FE_SIMD)(
    const FE_VT *grad, int64_t n_grad, int64_t dim, const int64_t *perm, int64_t s, int64_t e,
    int64_t pf_end, int64_t j0, int64_t w, int scale_by_count, FE_VT *restrict acc, int *bad)
{
    for (int64_t j = 0; j < w; j++)
        acc[j] = 0;
    for (int64_t k = s; k < e; k++) {
        if (k + FE_ACC_PF < pf_end) {
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

/* The light groups of [g_lo, g_hi), whole rows, each into its value row (written once:
 * FE_CONST_WIDTH makes dim a constant for the common widths); prefetching stops at k_end. */
FE_TARGET static FE_ALWAYS_INLINE void FE_NAME3(fe_sum_rows, FE_VSUF, FE_SIMD)(
    const FE_VT *grad, int64_t n_grad, int64_t dim, const int64_t *perm, int64_t n_perm,
    const int64_t *starts, int64_t g_lo, int64_t g_hi, int64_t skip_group, int scale_by_count,
    int64_t heavy_min, FE_VT *values, int *bad, int64_t k_end)
{
    for (int64_t g = g_lo; g < g_hi; g++) {
        if (g == skip_group)
            continue;
        int64_t s = starts[g], e = starts[g + 1];
        if (e - s >= heavy_min) /* summed by all threads, split by columns */
            continue;
        if (s < 0 || e > n_perm || s > e) { /* malformed grouping: report, stay in bounds */
            *bad = 1;
            continue;
        }
        FE_VT *acc = values + (g - (skip_group >= 0 && g > skip_group)) * dim;
        FE_NAME3(fe_sum_group, FE_VSUF, FE_SIMD)(grad, n_grad, dim, perm, s, e, k_end, 0, dim,
                                                 scale_by_count, acc, bad);
    }
}

FE_TARGET static void FE_NAME3(fe_sum_chunk, FE_VSUF, FE_SIMD)(
    const FE_VT *grad, int64_t n_grad, int64_t dim, const int64_t *perm, int64_t n_perm,
    const int64_t *starts, int64_t g_lo, int64_t g_hi, int64_t skip_group, int scale_by_count,
    int64_t heavy_min, FE_VT *values, int *bad)
{
    if (g_lo >= g_hi)
        return;
    int64_t k_end = starts[g_hi]; /* prefetching stops at the end of this thread's groups */
    if (k_end > n_perm || k_end < 0)
        k_end = n_perm;
    FE_CONST_WIDTH(dim, sizeof(FE_VT),
                   FE_NAME3(fe_sum_rows, FE_VSUF, FE_SIMD)(grad, n_grad, dim, perm, n_perm,
                                                          starts, g_lo, g_hi, skip_group,
                                                          scale_by_count, heavy_min, values,
                                                          bad, k_end));
}

/* Columns [j0, j1) of one group's sum (a heavy group shared by all threads): each column is
 * still summed in input order, so the result is the same as one thread's. */
FE_TARGET static void FE_NAME3(fe_sum_cols, FE_VSUF, FE_SIMD)(
    const FE_VT *grad, int64_t n_grad, int64_t dim, const int64_t *perm, int64_t s, int64_t e,
    int64_t j0, int64_t j1, int scale_by_count, FE_VT *acc_row, int *bad)
{
    FE_NAME3(fe_sum_group, FE_VSUF, FE_SIMD)(grad, n_grad, dim, perm, s, e, e, j0, j1 - j0,
                                             scale_by_count, acc_row + j0, bad);
}

#else /* FE_SIMD */

/* Whole groups are owned by one chunk of the light work: chunk c of n_chunks gets about the
 * same number of gradient rows of the light groups. Every heavy group is cut into column
 * slices of whole cache lines (threads never write the same line); one task is one slice of
 * one heavy group. Chunks and tasks are handed out dynamically, and each value is a sum in
 * input order by one thread, so results are the same for any thread count. */
static void FE_NAME(fe_sum_light, FE_VSUF)(const FE_VT *grad, int64_t n_grad, int64_t dim,
                                             const int64_t *perm, int64_t n_perm,
                                             const int64_t *starts, int64_t n_groups,
                                             int64_t skip_group, int scale_by_count,
                                             FE_VT *values, const int64_t *heavy, int nh,
                                             int64_t heavy_min, int level, int64_t light,
                                             int64_t c, int64_t n_chunks, int *bad)
{
    int64_t a = (light / n_chunks) * c + (light % n_chunks) * c / n_chunks;
    int64_t b = (light / n_chunks) * (c + 1) + (light % n_chunks) * (c + 1) / n_chunks;
    int64_t g_lo = c == 0 ? 0 : fe_light_bound(starts, n_groups, heavy, nh, a);
    int64_t g_hi = c == n_chunks - 1 ? n_groups : fe_light_bound(starts, n_groups, heavy, nh, b);
    if (g_hi < g_lo)
        g_hi = g_lo;
    FE_SIMD_DISPATCH(FE_NAME(fe_sum_chunk, FE_VSUF),
                     (grad, n_grad, dim, perm, n_perm, starts, g_lo, g_hi, skip_group,
                      scale_by_count, heavy_min, values, bad));
}

static void FE_NAME(fe_sum_heavy, FE_VSUF)(const FE_VT *grad, int64_t n_grad, int64_t dim,
                                             const int64_t *perm, int64_t n_perm,
                                             const int64_t *starts, int64_t skip_group,
                                             int scale_by_count, FE_VT *values,
                                             const int64_t *heavy, int level, int64_t task,
                                             int n_slices, int *bad)
{
    const int64_t line = 64 / (int64_t)sizeof(FE_VT);
    int64_t l_lo, l_hi;
    fe_chunk((dim + line - 1) / line, n_slices, (int)(task % n_slices), &l_lo, &l_hi);
    int64_t j0 = l_lo * line, j1 = l_hi * line < dim ? l_hi * line : dim;
    int64_t g = heavy[task / n_slices];
    if (j0 >= j1)
        return;
    FE_VT *row = values + (g - (skip_group >= 0 && g > skip_group)) * dim;
    FE_SIMD_DISPATCH(FE_NAME(fe_sum_cols, FE_VSUF),
                     (grad, n_grad, dim, perm, starts[g], starts[g + 1], j0, j1,
                      scale_by_count, row, bad));
}

fe_status FE_NAME(fe_sum_groups, FE_VSUF)(const FE_VT *grad, int64_t n_grad, int64_t dim,
                                            const int64_t *perm, int64_t n_perm,
                                            const int64_t *starts, int64_t n_groups,
                                            int64_t skip_group, int scale_by_count,
                                            FE_VT *values, int n_threads)
{
    if (n_grad < 0 || dim < 0 || n_perm < 0 || n_groups < 0)
        return FE_ERR_VALUE;
    if (dim > 0 && (n_grad > INT64_MAX / dim / (int64_t)sizeof(FE_VT)
                    || n_perm > INT64_MAX / dim / (int64_t)sizeof(FE_VT)))
        return FE_ERR_OVERFLOW;
    if (starts[0] < 0 || starts[n_groups] > n_perm || starts[n_groups] < starts[0])
        return FE_ERR_VALUE;
    for (int64_t g = 0; g < n_groups; g++) /* O(n_groups), before any value is written */
        if (starts[g + 1] < starts[g])
            return FE_ERR_VALUE;
    if (n_groups == 0 || dim == 0)
        return FE_OK;
    int level = fe_simd_level();
    int64_t total = starts[n_groups] - starts[0];
    int nt = fe_plan_threads(n_threads, total * dim * (int64_t)sizeof(FE_VT));
    int bad[FE_MAX_THREADS] = {0};
    int64_t heavy[FE_MAX_HEAVY];
    int nh = 0;
    /* heavy: more rows than half a thread's share, and worth splitting (>= 2 lines wide) */
    int64_t heavy_min = INT64_MAX;
    if (nt > 1 && dim * (int64_t)sizeof(FE_VT) >= 128) {
        heavy_min = total / (2 * nt) + 1;
        for (int64_t g = 0; g < n_groups && nh < FE_MAX_HEAVY; g++)
            if (g != skip_group && starts[g + 1] - starts[g] >= heavy_min)
                heavy[nh++] = g;
    }
    int64_t light = fe_light_before(starts, n_groups, heavy, nh);
    int64_t grain = fe_grain(light, total * dim * (int64_t)sizeof(FE_VT), nt, 1);
    int64_t n_chunks = nt > 1 && light > 0 ? (light + grain - 1) / grain : 1;
    int n_slices = nt; /* column slices of each heavy group */
    if (nt <= 1) {
        FE_NAME(fe_sum_light, FE_VSUF)(grad, n_grad, dim, perm, n_perm, starts, n_groups,
                                         skip_group, scale_by_count, values, heavy, nh,
                                         heavy_min, level, light, 0, 1, bad);
    } else {
#ifdef _OPENMP
#pragma omp parallel num_threads(nt)
        {
            int *my_bad = &bad[omp_get_thread_num()];
#pragma omp for schedule(dynamic, 1) nowait
            for (int64_t c = 0; c < n_chunks; c++)
                FE_NAME(fe_sum_light, FE_VSUF)(grad, n_grad, dim, perm, n_perm, starts,
                                                 n_groups, skip_group, scale_by_count, values,
                                                 heavy, nh, heavy_min, level, light, c,
                                                 n_chunks, my_bad);
#pragma omp for schedule(dynamic, 1) nowait
            for (int64_t task = 0; task < (int64_t)nh * n_slices; task++)
                FE_NAME(fe_sum_heavy, FE_VSUF)(grad, n_grad, dim, perm, n_perm, starts,
                                                 skip_group, scale_by_count, values, heavy,
                                                 level, task, n_slices, my_bad);
        }
#endif
    }
    for (int t = 0; t < nt; t++)
        if (bad[t])
            return FE_ERR_VALUE;
    return FE_OK;
}

#endif /* FE_SIMD */
