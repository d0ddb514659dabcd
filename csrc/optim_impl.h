/* Body of optim.c per table type (FE_VT, FE_VSUF: f32, f64, f16, bf16): fe_opt_update and
 * fe_opt_apply. The gradient and the state are of the compute type (float for the half
 * types): a half row is loaded as float, updated by fe_opt_row_f32 exactly as a float32 row
 * is, and rounded back once (fastembed.h, "Half tables"). */

#if FE_NAME(FE_OPT_HALF, FE_VSUF)
/* Row `row` of a half table from its updated float values x: to nearest, or stochastically
 * from the draws of (step_key, row, column). */
static void FE_NAME(fe_opt_store_row, FE_VSUF)(FE_VT *restrict w, const float *restrict x,
                                               int64_t dim, int rounding, uint64_t step_key,
                                               int64_t row)
{
    if (rounding == FE_OPT_ROUND_NEAREST) {
        for (int64_t d = 0; d < dim; d++)
            FE_STORE(FE_VSUF, w + d, x[d]);
        return;
    }
    const uint64_t key = fe_draw(step_key, (uint64_t)row);
    for (int64_t d = 0; d < dim; d++)
        w[d] = FE_NAME(fe_opt_round_stochastic, FE_VSUF)(x[d], fe_draw(key, (uint64_t)d));
}
#endif

fe_status FE_NAME(fe_opt_update, FE_VSUF)(char *table, int64_t n_rows, int64_t dim,
                                          int64_t row_stride, const int64_t *rows,
                                          int64_t n_groups, int64_t skip_group,
                                          const FE_CT(FE_VSUF) *values, FE_CT(FE_VSUF) *s1,
                                          FE_CT(FE_VSUF) *s2, int64_t state_stride,
                                          const fe_opt *o, int n_threads, fe_opt_fault *fault)
{
    typedef FE_CT(FE_VSUF) ct_t;
    if (n_rows < 0 || dim < 0 || n_groups < 0 || row_stride % (int64_t)sizeof(FE_VT) != 0
        || state_stride % (int64_t)sizeof(ct_t) != 0)
        return FE_ERR_VALUE; /* the strides may be negative */
    if (o->kind < FE_OPT_SGD || o->kind > FE_OPT_FTRL
        || (o->rounding != FE_OPT_ROUND_NEAREST && o->rounding != FE_OPT_ROUND_STOCHASTIC))
        return FE_ERR_VALUE;
    if (o->cons_kind >= 0 && !fe_cons_params_ok(o->cons_kind, o->cons_a, o->cons_b, o->cons_rate))
        return FE_ERR_VALUE;
    /* check everything before the first write: rows strictly increasing and in range */
    for (int64_t g = 0; g < n_groups; g++)
        if ((uint64_t)rows[g] >= (uint64_t)n_rows || (g > 0 && rows[g] <= rows[g - 1])) {
            fault->pos = g;
            return FE_ERR_INDEX;
        }
    const int skipping = skip_group >= 0 && skip_group < n_groups;
    const int64_t n_touched = n_groups - skipping;
    if (n_touched == 0 || dim == 0)
        return FE_OK;
    int nt = fe_plan_threads(n_threads, n_touched * dim * (int64_t)sizeof(ct_t));
    const int64_t row_bytes = dim * (int64_t)sizeof(FE_VT);
    /* per-thread scratch, allocated before the first write so that a failure changes nothing
     * (a half table's row is updated in float) */
    double *gbs = (double *)malloc((size_t)nt * (size_t)dim * sizeof(double));
#if FE_NAME(FE_OPT_HALF, FE_VSUF)
    float *xs = (float *)malloc((size_t)nt * (size_t)dim * sizeof(float));
#else
    float *xs = NULL;
#endif
    if (!gbs || (sizeof(FE_VT) != sizeof(ct_t) && !xs)) {
        free(gbs);
        free(xs);
        return FE_ERR_NOMEM;
    }
#if FE_NAME(FE_OPT_HALF, FE_VSUF)
    const uint64_t step_key = fe_draw(fe_mix64(o->seed), o->step);
#endif
    FE_PARALLEL_CHUNKS(nt, n_touched, {
        double *gb = gbs + (int64_t)t * dim;
        for (int64_t r = lo; r < hi; r++) {
            int64_t grp = r + (skipping && r >= skip_group);
            if (grp + FE_OPT_PF_ROWS < n_groups) { /* rows and state rows updated a little later */
                int64_t ahead = rows[grp + FE_OPT_PF_ROWS];
                fe_opt_prefetch_row(table + ahead * row_stride, row_bytes);
                if (s1)
                    fe_opt_prefetch_row((char *)s1 + ahead * state_stride, state_stride);
                if (s2)
                    fe_opt_prefetch_row((char *)s2 + ahead * state_stride, state_stride);
            }
            const ct_t *g = values + r * dim;
            int64_t row = rows[grp];
            FE_VT *w = (FE_VT *)(table + row * row_stride);
            ct_t *s1r = s1 ? (ct_t *)((char *)s1 + row * state_stride) : NULL;
            ct_t *s2r = s2 ? (ct_t *)((char *)s2 + row * state_stride) : NULL;
#if FE_NAME(FE_OPT_HALF, FE_VSUF)
            float *x = xs + (int64_t)t * dim;
            for (int64_t d = 0; d < dim; d++)
                x[d] = FE_LOAD(FE_VSUF, w + d);
            fe_opt_row_f32(x, g, gb, s1r, s2r, dim, o);
            FE_NAME(fe_opt_store_row, FE_VSUF)(w, x, dim, o->rounding, step_key, row);
#else
            FE_NAME(fe_opt_row, FE_VSUF)(w, g, gb, s1r, s2r, dim, o);
#endif
            if (o->cons_kind >= 0) /* the row constraint while the row is in cache */
                FE_NAME(fe_cons_row, FE_VSUF)(w, dim, o->cons_kind, o->cons_a, o->cons_b,
                                              o->cons_rate);
        }
    });
    free(gbs);
    free(xs);
    return FE_OK;
}

fe_status FE_NAME3(fe_opt_apply, FE_VSUF, i64)(char *table, int64_t n_rows, int64_t dim,
                                               int64_t row_stride, const int64_t *rows,
                                               int64_t n_touched, const FE_CT(FE_VSUF) *values,
                                               FE_CT(FE_VSUF) *s1, FE_CT(FE_VSUF) *s2,
                                               int64_t state_stride, const fe_opt *o,
                                               int n_threads, fe_opt_fault *fault)
{
    fault->pos = fault->row = -1;
    fault->count = 0;
    if (n_touched < 0 || dim < 0)
        return FE_ERR_VALUE;
    if (dim > 0 && n_touched > INT64_MAX / dim)
        return FE_ERR_OVERFLOW;
    if (!o->allow_nonfinite) {
        int64_t bad = FE_NAME(fe_first_nonfinite, FE_CSUF(FE_VSUF))(values, n_touched * dim,
                                                                    NULL, n_threads);
        if (bad >= 0) {
            fault->pos = bad;
            return FE_ERR_NONFINITE;
        }
    }
    return FE_NAME(fe_opt_update, FE_VSUF)(table, n_rows, dim, row_stride, rows, n_touched, -1,
                                           values, s1, s2, state_stride, o, n_threads, fault);
}
