/* fe_bag_grad_<value>: the table gradient of lookup_bag over a grouping of its ids (see
 * fastembed.h); included by bag.c through fe_instantiate.h per value type. */

fe_status FE_NAME(fe_bag_grad, FE_VSUF)(
    const FE_VT *grad, int64_t n_bags, int64_t dim, const int64_t *bag_sorted,
    const double *scale_sorted, const int64_t *argmax, int64_t n_ids, const int64_t *perm,
    const int64_t *starts, int64_t n_groups, int64_t skip_group, int scale_by_count,
    FE_VT *values, int n_threads)
{
    if (n_bags < 0 || dim < 0 || n_ids < 0 || n_groups < 0
        || !fe_bag_bounds_ok(starts, n_groups, n_ids))
        return FE_ERR_VALUE;
    if (dim > 0 && (n_bags > INT64_MAX / dim || n_groups > INT64_MAX / dim))
        return FE_ERR_OVERFLOW;
    if (n_groups == 0 || dim == 0)
        return FE_OK;
    const int64_t row_bytes = dim * (int64_t)sizeof(FE_VT);
    int nt = fe_plan_threads(n_threads, n_ids * row_bytes);
    if (n_ids == 0)
        nt = 1;
    int bad = 0;
    int64_t grain = fe_grain(n_ids, n_ids * row_bytes, nt, 1);
    FE_PARALLEL_DYNAMIC(nt, n_ids, grain, {
        int64_t g_lo = lo == 0 ? 0 : fe_first_bag_from(starts, n_groups, n_ids, lo);
        int64_t g_hi = hi >= n_ids ? n_groups : fe_first_bag_from(starts, n_groups, n_ids, hi);
        double *acc = (double *)malloc((size_t)dim * sizeof(double));
        if (!acc) {
            _Pragma("omp atomic write") bad = 2;
        } else {
            for (int64_t g = g_lo; g < g_hi; g++) {
                if (g == skip_group)
                    continue;
                for (int64_t d = 0; d < dim; d++)
                    acc[d] = 0;
                for (int64_t k = starts[g]; k < starts[g + 1]; k++) {
                    if (k + FE_GRAD_PF_DIST < n_ids) {
                        uint64_t pb = (uint64_t)bag_sorted[k + FE_GRAD_PF_DIST];
                        if (pb < (uint64_t)n_bags) {
                            uintptr_t a = (uintptr_t)(grad + (int64_t)pb * dim);
                            uintptr_t e = a + (uintptr_t)(row_bytes < 1024 ? row_bytes : 1024);
                            for (a &= ~(uintptr_t)63; a < e; a += 64)
                                FE_PREFETCH((const char *)a);
                        }
                    }
                    uint64_t b = (uint64_t)bag_sorted[k];
                    if (b >= (uint64_t)n_bags) { /* unreachable for internal groupings */
                        _Pragma("omp atomic write") bad = 1;
                        continue;
                    }
                    const FE_VT *src = grad + (int64_t)b * dim;
                    if (argmax) { /* max: each column goes to the row that won it */
                        const int64_t *won = argmax + (int64_t)b * dim;
                        int64_t p = perm[k];
                        for (int64_t d = 0; d < dim; d++)
                            acc[d] += won[d] == p ? (double)FE_LOAD(FE_VSUF, src + d) : 0.0;
                    } else {
                        double s = scale_sorted ? scale_sorted[k] : 1.0;
                        for (int64_t d = 0; d < dim; d++)
                            acc[d] += s * (double)FE_LOAD(FE_VSUF, src + d);
                    }
                }
                int64_t r = g - (skip_group >= 0 && g > skip_group);
                double count = scale_by_count ? (double)(starts[g + 1] - starts[g]) : 1.0;
                for (int64_t d = 0; d < dim; d++)
                    FE_STORE(FE_VSUF, values + r * dim + d, acc[d] / count);
            }
            free(acc);
        }
    });
    return bad == 2 ? FE_ERR_NOMEM : bad ? FE_ERR_VALUE : FE_OK;
}
