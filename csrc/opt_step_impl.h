/* Body of opt_step.c, instantiated by fe_instantiate.h: in the pass per arithmetic type
 * (FE_VT float or double, FE_VSUF f32 or f64; no FE_IDX) the phase-1 check of the stored
 * sums; in the pass per table type (FE_VT, FE_VSUF; FE_VMAX, FE_VEPS those of its compute
 * type, the gradient's) and id type (FE_IDX, FE_ISUF) fe_opt_step. The gradient and the
 * state are of the compute type (float for half tables). */

#ifndef FE_IDX

/* Phase 1 of the stored-sums path: every group's sum finite, and the padding group's grad
 * rows (not summed) finite too. A failure is reported as the scanning path reports it: the
 * first non-finite grad value's flat position, else the first row whose finite grad rows sum
 * to a non-finite row (a non-finite value makes its group's sum non-finite, so a clean pass
 * here means grad holds none outside the padding group). */
static fe_status FE_NAME(fe_opt_check_sums, FE_VSUF)(const FE_VT *sums,
                                                     int64_t n_touched, int64_t dim,
                                                     const FE_VT *grad, int64_t n_ids,
                                                     const int64_t *perm, const int64_t *starts,
                                                     const int64_t *uniq, int64_t skip,
                                                     int n_threads, fe_opt_fault *fault)
{
    int64_t bad = FE_NAME(fe_first_nonfinite, FE_VSUF)(sums, n_touched * dim, NULL,
                                                                n_threads);
    int pad_bad = 0;
    for (int64_t k = skip >= 0 ? starts[skip] : 0; skip >= 0 && k < starts[skip + 1]; k++)
        for (int64_t d = 0; d < dim; d++)
            pad_bad |= !isfinite(grad[perm[k] * dim + d]);
    if (bad < 0 && !pad_bad)
        return FE_OK;
    int64_t pos = FE_NAME(fe_first_nonfinite, FE_VSUF)(grad, n_ids * dim, NULL,
                                                                n_threads);
    if (pos >= 0) {
        fault->pos = pos;
    } else {
        int64_t r = bad / dim, grp = r + (skip >= 0 && r >= skip);
        fault->row = uniq[grp];
        fault->count = starts[grp + 1] - starts[grp];
    }
    return FE_ERR_NONFINITE;
}

#else /* FE_IDX */

fe_status FE_NAME3(fe_opt_step, FE_VSUF, FE_ISUF)(char *table, int64_t n_rows, int64_t dim,
                                                  int64_t row_stride, const FE_IDX *ids,
                                                  int64_t n_ids, const FE_CT(FE_VSUF) *grad,
                                                  int64_t padding_idx, FE_CT(FE_VSUF) *s1,
                                                  FE_CT(FE_VSUF) *s2, int64_t state_stride,
                                                  const fe_opt *o, int n_threads,
                                                  fe_opt_fault *fault)
{
    fault->pos = fault->row = -1;
    fault->count = 0;
    if (n_rows < 0 || dim < 0 || n_ids < 0)
        return FE_ERR_VALUE;
    if (n_ids > INT64_MAX / 32 || (dim > 0 && n_ids > INT64_MAX / dim))
        return FE_ERR_OVERFLOW;
    /* phase 1: group (every id checked) ... */
    int64_t cap = n_ids > 0 ? n_ids : 1;
    int64_t *uniq = (int64_t *)fe_scratch_alloc(cap * 8);
    int64_t *starts = (int64_t *)fe_scratch_alloc((cap + 1) * 8);
    int64_t *perm = (int64_t *)fe_scratch_alloc(cap * 8);
    int64_t n_unique = 0;
    fe_status st = FE_ERR_NOMEM;
    if (uniq && starts && perm)
        st = FE_NAME(fe_group_ids, FE_ISUF)(ids, n_ids, n_rows, uniq, starts, perm, &n_unique,
                                            n_threads, &fault->pos);
    /* then each group's sum once into scratch, grad read once in grouped order; every sum
     * (and the padding group's rows, not summed) checked finite; then phase 2 updates the rows
     * from the sums (fe_opt_update checks its own arguments before its first write) */
    int64_t skip = -1, n_touched = 0;
    if (st == FE_OK) {
        skip = padding_idx >= 0 ? fe_group_of(uniq, n_unique, padding_idx) : -1;
        n_touched = n_unique - (skip >= 0);
    }
    FE_CT(FE_VSUF) *sums = NULL;
    if (st == FE_OK) {
        sums = (FE_CT(FE_VSUF) *)fe_opt_sums_alloc(n_touched * dim
                                                   * (int64_t)sizeof(FE_CT(FE_VSUF)));
        st = sums ? FE_NAME(fe_sum_groups, FE_CSUF(FE_VSUF))(grad, n_ids, dim, perm, n_ids,
                                                             starts, n_unique, skip, 0, sums,
                                                             n_threads)
                  : FE_ERR_NOMEM;
    }
    if (st == FE_OK && !o->allow_nonfinite)
        st = FE_NAME(fe_opt_check_sums, FE_CSUF(FE_VSUF))(sums, n_touched, dim, grad, n_ids, perm,
                                                          starts, uniq, skip, n_threads, fault);
    if (st == FE_OK)
        st = FE_NAME(fe_opt_update, FE_VSUF)(table, n_rows, dim, row_stride, uniq, n_unique, skip,
                                             sums, s1, s2, state_stride, o, n_threads, fault);
    fe_opt_sums_free(sums);
    fe_scratch_free(uniq);
    fe_scratch_free(starts);
    fe_scratch_free(perm);
    return st;
}

#endif /* FE_IDX */
