/* Entry points of accumulate.c for one value type; included with FE_VT and FE_VSUF_T. */

#ifndef FE_STORAGE_ONLY /* the half types (f16, bf16) instantiate renorm only */
/* Whole groups are owned by one chunk of the light work: chunk c of n_chunks gets about the
 * same number of gradient rows of the light groups. Every heavy group is cut into column
 * slices of whole cache lines (threads never write the same line); one task is one slice of
 * one heavy group. Chunks and tasks are handed out dynamically, and each value is a sum in
 * input order by one thread, so results are the same for any thread count. */
static void FE_NAME(fe_sum_light, FE_VSUF_T)(const FE_VT *grad, int64_t n_grad, int64_t dim,
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
    FE_SUM_DISPATCH(fe_sum_chunk, FE_VSUF_T,
                    (grad, n_grad, dim, perm, n_perm, starts, g_lo, g_hi, skip_group,
                     scale_by_count, heavy_min, values, bad))
}

static void FE_NAME(fe_sum_heavy, FE_VSUF_T)(const FE_VT *grad, int64_t n_grad, int64_t dim,
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
    FE_SUM_DISPATCH(fe_sum_cols, FE_VSUF_T,
                    (grad, n_grad, dim, perm, starts[g], starts[g + 1], j0, j1,
                     scale_by_count, row, bad))
}

fe_status FE_NAME(fe_sum_groups, FE_VSUF_T)(const FE_VT *grad, int64_t n_grad, int64_t dim,
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
        FE_NAME(fe_sum_light, FE_VSUF_T)(grad, n_grad, dim, perm, n_perm, starts, n_groups,
                                         skip_group, scale_by_count, values, heavy, nh,
                                         heavy_min, level, light, 0, 1, bad);
    } else {
#ifdef _OPENMP
#pragma omp parallel num_threads(nt)
        {
            int *my_bad = &bad[omp_get_thread_num()];
#pragma omp for schedule(dynamic, 1) nowait
            for (int64_t c = 0; c < n_chunks; c++)
                FE_NAME(fe_sum_light, FE_VSUF_T)(grad, n_grad, dim, perm, n_perm, starts,
                                                 n_groups, skip_group, scale_by_count, values,
                                                 heavy, nh, heavy_min, level, light, c,
                                                 n_chunks, my_bad);
#pragma omp for schedule(dynamic, 1) nowait
            for (int64_t task = 0; task < (int64_t)nh * n_slices; task++)
                FE_NAME(fe_sum_heavy, FE_VSUF_T)(grad, n_grad, dim, perm, n_perm, starts,
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

#endif /* FE_STORAGE_ONLY */

/* max-norm renormalisation of the distinct rows of ids, for one value type. */
static double FE_NAME(fe_row_norm, FE_VSUF_T)(const FE_VT *row, int64_t dim, double p)
{
    double acc = 0.0;
    if (p == 1.0) {
        for (int64_t j = 0; j < dim; j++)
            acc += fabs((double)FE_LOAD(FE_VSUF_T, row + j));
        return acc;
    }
    if (p == 2.0) {
        for (int64_t j = 0; j < dim; j++) {
            double v = (double)FE_LOAD(FE_VSUF_T, row + j);
            acc += v * v;
        }
        return sqrt(acc);
    }
    for (int64_t j = 0; j < dim; j++)
        acc += pow(fabs((double)FE_LOAD(FE_VSUF_T, row + j)), p);
    return pow(acc, 1.0 / p);
}

#define FE_RENORM_ENTRY(ISUF, IDX)                                                            \
    fe_status FE_NAME3(fe_renorm, ISUF, FE_VSUF_T)(                                           \
        char *table, int64_t n_rows, int64_t dim, int64_t row_stride, const IDX *ids,         \
        int64_t n_ids, double max_norm, double norm_type, int n_threads, int64_t *bad_pos)    \
    {                                                                                         \
        if (n_rows < 0 || dim < 0 || n_ids < 0 || !(max_norm > 0.0)                           \
            || !(norm_type > 0.0) || !isfinite(norm_type))                                    \
            return FE_ERR_VALUE;                                                              \
        int64_t *uniq, n_unique; /* phase 1: every id checked, distinct rows found */         \
        fe_status st = FE_NAME(fe_distinct_ids, ISUF)(ids, n_ids, n_rows, &uniq, &n_unique,   \
                                                      n_threads, bad_pos);                    \
        if (st == FE_OK && dim > 0) { /* phase 2: write */                                    \
            int nt = fe_plan_threads(n_threads, n_unique * dim * (int64_t)sizeof(FE_VT));     \
            int64_t grain = fe_grain(n_unique, n_unique * dim * (int64_t)sizeof(FE_VT), nt, 1); \
            FE_PARALLEL_DYNAMIC(nt, n_unique, grain, {                                        \
                for (int64_t u = lo; u < hi; u++) {                                           \
                    uint64_t r = (uint64_t)uniq[u];                                           \
                    if (r >= (uint64_t)n_rows)                                                \
                        continue;                                                             \
                    FE_VT *row = (FE_VT *)(table + (int64_t)r * row_stride);                  \
                    double norm = FE_NAME(fe_row_norm, FE_VSUF_T)(row, dim, norm_type);       \
                    if (norm > max_norm) {                                                    \
                        FE_CT(FE_VSUF_T) s = (FE_CT(FE_VSUF_T))(max_norm / (norm + 1e-7));    \
                        for (int64_t j = 0; j < dim; j++)                                     \
                            FE_STORE(FE_VSUF_T, row + j, FE_LOAD(FE_VSUF_T, row + j) * s);    \
                    }                                                                         \
                }                                                                             \
            });                                                                               \
        }                                                                                     \
        fe_scratch_free(uniq);                                                                \
        return st;                                                                            \
    }

FE_RENORM_ENTRY(i32, int32_t)
FE_RENORM_ENTRY(i64, int64_t)
#undef FE_RENORM_ENTRY
