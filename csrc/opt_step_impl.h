/* Body of opt_step.c per table type (FE_VT, FE_VSUF; FE_VMAX, FE_VEPS those of its compute
 * type, the gradient's) and id type (FE_IDX, FE_ISUF), instantiated by fe_instantiate.h:
 * fe_opt_step. The gradient and the state are of the compute type (float for half tables). */

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
    /* phase 1: group (every id checked), then the gradient's values and, when a bound
     * cannot rule it out, its row sums (inside fe_opt_update, before its first write) */
    int64_t cap = n_ids > 0 ? n_ids : 1;
    int64_t *uniq = (int64_t *)fe_scratch_alloc(cap * 8);
    int64_t *starts = (int64_t *)fe_scratch_alloc((cap + 1) * 8);
    int64_t *perm = (int64_t *)fe_scratch_alloc(cap * 8);
    int64_t n_unique = 0;
    fe_status st = FE_ERR_NOMEM;
    if (uniq && starts && perm)
        st = FE_NAME(fe_group_ids, FE_ISUF)(ids, n_ids, n_rows, uniq, starts, perm, &n_unique,
                                            n_threads, &fault->pos);
    int check_sums = 0;
    if (st == FE_OK && !o->allow_nonfinite && n_ids > 0 && dim > 0) {
        FE_CT(FE_VSUF) max_abs = 0;
        int64_t bad = FE_NAME(fe_first_nonfinite, FE_CSUF(FE_VSUF))(grad, n_ids * dim, &max_abs,
                                                                    n_threads);
        if (bad >= 0) {
            fault->pos = bad;
            st = FE_ERR_NONFINITE;
        } else {
            check_sums = fe_opt_sums_need_check((double)max_abs, n_ids, starts, n_unique,
                                                (double)FE_VMAX, (double)FE_VEPS / 2);
        }
    }
    if (st == FE_OK) {
        int64_t skip = padding_idx >= 0 ? fe_group_of(uniq, n_unique, padding_idx) : -1;
        st = FE_NAME(fe_opt_update, FE_VSUF)(table, n_rows, dim, row_stride, uniq, n_unique,
                                             skip, grad, n_ids, perm, starts, s1, s2, state_stride,
                                             o, check_sums, n_threads, fault);
    }
    fe_scratch_free(uniq);
    fe_scratch_free(starts);
    fe_scratch_free(perm);
    return st;
}
