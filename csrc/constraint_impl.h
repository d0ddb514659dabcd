/* Body of constraint.c (fe_instantiate.h), per value type (FE_VT, FE_VSUF): one row and the
 * whole table; in the passes with an index type (FE_IDX, FE_ISUF) the kernels on the
 * distinct rows of ids (fe_constrain_rows, fe_renorm). Norms are summed in double; the
 * factor is rounded once to the compute type FE_CT(FE_VSUF) (the value type, float for the
 * half types) and applied in it (as Keras applies its factor in the weights' dtype). */

#ifndef FE_IDX

/* One row (axis 1) in place; also the last step of a fused optimizer update (opt_step.c). */
void FE_NAME(fe_cons_row, FE_VSUF)(FE_VT *row, int64_t dim, int kind, double a, double b,
                                          double rate)
{
    if (kind == FE_CONS_NONNEG) {
        for (int64_t j = 0; j < dim; j++) {
            FE_CT(FE_VSUF) v = FE_LOAD(FE_VSUF, row + j);
            /* maximum(w, 0): -0.0 -> +0.0, NaN kept */
            FE_STORE(FE_VSUF, row + j, (v > 0 || v != v) ? v : (FE_CT(FE_VSUF))0);
        }
        return;
    }
    double acc = 0.0;
    for (int64_t j = 0; j < dim; j++) {
        double v = (double)FE_LOAD(FE_VSUF, row + j);
        acc += v * v;
    }
    double norm = sqrt(acc);
    if (kind == FE_CONS_UNITNORM) {
        FE_CT(FE_VSUF) d = (FE_CT(FE_VSUF))(FE_CONS_EPS + norm);
        for (int64_t j = 0; j < dim; j++)
            FE_STORE(FE_VSUF, row + j, FE_LOAD(FE_VSUF, row + j) / d);
        return;
    }
    FE_CT(FE_VSUF) s = (FE_CT(FE_VSUF))fe_cons_factor(kind, norm, a, b, rate);
    for (int64_t j = 0; j < dim; j++)
        FE_STORE(FE_VSUF, row + j, FE_LOAD(FE_VSUF, row + j) * s);
}

/* torch.embedding_renorm_ of one row: its norm_type-norm (in double), and when that is
 * above max_norm the row times (VT)(max_norm / (norm + 1e-7)). */
static void FE_NAME(fe_renorm_row, FE_VSUF)(FE_VT *row, int64_t dim, double max_norm,
                                            double p)
{
    double acc = 0.0, norm;
    if (p == 1.0) {
        for (int64_t j = 0; j < dim; j++)
            acc += fabs((double)FE_LOAD(FE_VSUF, row + j));
        norm = acc;
    } else if (p == 2.0) {
        for (int64_t j = 0; j < dim; j++) {
            double v = (double)FE_LOAD(FE_VSUF, row + j);
            acc += v * v;
        }
        norm = sqrt(acc);
    } else {
        for (int64_t j = 0; j < dim; j++)
            acc += pow(fabs((double)FE_LOAD(FE_VSUF, row + j)), p);
        norm = pow(acc, 1.0 / p);
    }
    if (norm > max_norm) {
        FE_CT(FE_VSUF) s = (FE_CT(FE_VSUF))(max_norm / (norm + 1e-7));
        for (int64_t j = 0; j < dim; j++)
            FE_STORE(FE_VSUF, row + j, FE_LOAD(FE_VSUF, row + j) * s);
    }
}

fe_status FE_NAME(fe_constrain_table, FE_VSUF)(char *table, int64_t n_rows, int64_t dim,
                                               int64_t row_stride, int axis, int kind, double a,
                                               double b, double rate, int n_threads)
{
    if (n_rows < 0 || dim < 0 || (axis != 0 && axis != 1) || !fe_cons_params_ok(kind, a, b, rate))
        return FE_ERR_VALUE;
    if (dim > 0 && n_rows > INT64_MAX / 8 / dim)
        return FE_ERR_OVERFLOW;
    if (n_rows == 0 || dim == 0)
        return FE_OK;
    int64_t work = n_rows * dim * (int64_t)sizeof(FE_VT);
    int nt = fe_plan_threads(n_threads, work);
    if (axis == 1 || kind == FE_CONS_NONNEG) { /* each row on its own */
        FE_PARALLEL_DYNAMIC(nt, n_rows, fe_grain(n_rows, 2 * work, nt, 1), {
            for (int64_t r = lo; r < hi; r++)
                FE_NAME(fe_cons_row, FE_VSUF)((FE_VT *)(table + r * row_stride), dim, kind, a, b,
                                              rate);
        });
        return FE_OK;
    }
    /* axis 0: column norms need every row. Phase 1 (reads only): squares summed per block
     * of FE_CONS_BLOCK rows, in row order, into part[block]; then each column's blocks
     * summed in block order. Neither depends on the thread count, so the norms are
     * bit-identical for any count. */
    int64_t n_blocks = (n_rows + FE_CONS_BLOCK - 1) / FE_CONS_BLOCK;
    double *part = (double *)fe_scratch_alloc(n_blocks * dim * 8);
    FE_CT(FE_VSUF) *fac = (FE_CT(FE_VSUF) *)fe_scratch_alloc(dim * (int64_t)sizeof(*fac));
    if (!part || !fac) {
        fe_scratch_free(part);
        fe_scratch_free(fac);
        return FE_ERR_NOMEM; /* nothing written */
    }
    FE_PARALLEL_DYNAMIC(nt, n_blocks, fe_grain(n_blocks, work, nt, 1), {
        for (int64_t k = lo; k < hi; k++) {
            double *p = part + k * dim;
            for (int64_t j = 0; j < dim; j++)
                p[j] = 0.0;
            int64_t r1 = (k + 1) * FE_CONS_BLOCK < n_rows ? (k + 1) * FE_CONS_BLOCK : n_rows;
            for (int64_t r = k * FE_CONS_BLOCK; r < r1; r++) {
                const FE_VT *row = (const FE_VT *)(table + r * row_stride);
                for (int64_t j = 0; j < dim; j++) {
                    double v = (double)FE_LOAD(FE_VSUF, row + j);
                    p[j] += v * v;
                }
            }
        }
    });
    int ntc = fe_plan_threads(n_threads, n_blocks * dim * 8);
    FE_PARALLEL_DYNAMIC(ntc, dim, fe_grain(dim, n_blocks * dim * 8, ntc, 16), {
        for (int64_t j = lo; j < hi; j++) {
            double s = part[j];
            for (int64_t k = 1; k < n_blocks; k++)
                s += part[k * dim + j];
            double norm = sqrt(s);
            fac[j] = kind == FE_CONS_UNITNORM
                         ? (FE_CT(FE_VSUF))(FE_CONS_EPS + norm)
                         : (FE_CT(FE_VSUF))fe_cons_factor(kind, norm, a, b, rate);
        }
    });
    /* phase 2: scale (UnitNorm divides, as Keras's w / (eps + norms)) */
    FE_PARALLEL_DYNAMIC(nt, n_rows, fe_grain(n_rows, 2 * work, nt, 1), {
        for (int64_t r = lo; r < hi; r++) {
            FE_VT *row = (FE_VT *)(table + r * row_stride);
            if (kind == FE_CONS_UNITNORM) {
                for (int64_t j = 0; j < dim; j++)
                    FE_STORE(FE_VSUF, row + j, FE_LOAD(FE_VSUF, row + j) / fac[j]);
            } else {
                for (int64_t j = 0; j < dim; j++)
                    FE_STORE(FE_VSUF, row + j, FE_LOAD(FE_VSUF, row + j) * fac[j]);
            }
        }
    });
    fe_scratch_free(part);
    fe_scratch_free(fac);
    return FE_OK;
}

#else /* FE_IDX */

/* Phase 1: every id checked, the distinct rows found; phase 2: each distinct row projected
 * once, by one thread (kind FE_CONS_RENORM: renormed). */
static fe_status FE_NAME3(fe_distinct_rows, FE_VSUF, FE_ISUF)(
    char *table, int64_t n_rows, int64_t dim, int64_t row_stride, const FE_IDX *ids,
    int64_t n_ids, int kind, double a, double b, double rate, int n_threads, int64_t *bad_pos)
{
    int64_t *uniq, n_unique;
    fe_status st = FE_NAME(fe_distinct_ids, FE_ISUF)(ids, n_ids, n_rows, &uniq, &n_unique,
                                                     n_threads, bad_pos);
    if (st == FE_OK && dim > 0) {
        int nt = fe_plan_threads(n_threads, n_unique * dim * (int64_t)sizeof(FE_VT));
        int64_t grain = fe_grain(n_unique, n_unique * dim * (int64_t)sizeof(FE_VT), nt, 1);
        FE_PARALLEL_DYNAMIC(nt, n_unique, grain, {
            for (int64_t u = lo; u < hi; u++) {
                uint64_t r = (uint64_t)uniq[u];
                if (r >= (uint64_t)n_rows)
                    continue;
                FE_VT *row = (FE_VT *)(table + (int64_t)r * row_stride);
                if (kind == FE_CONS_RENORM)
                    FE_NAME(fe_renorm_row, FE_VSUF)(row, dim, a, b);
                else
                    FE_NAME(fe_cons_row, FE_VSUF)(row, dim, kind, a, b, rate);
            }
        });
    }
    fe_scratch_free(uniq);
    return st;
}

fe_status FE_NAME3(fe_constrain_rows, FE_VSUF, FE_ISUF)(char *table, int64_t n_rows,
                                                        int64_t dim, int64_t row_stride,
                                                        const FE_IDX *ids, int64_t n_ids,
                                                        int kind, double a, double b,
                                                        double rate, int n_threads,
                                                        int64_t *bad_pos)
{
    if (n_rows < 0 || dim < 0 || n_ids < 0 || !fe_cons_params_ok(kind, a, b, rate))
        return FE_ERR_VALUE;
    return FE_NAME3(fe_distinct_rows, FE_VSUF, FE_ISUF)(table, n_rows, dim, row_stride, ids,
                                                        n_ids, kind, a, b, rate, n_threads,
                                                        bad_pos);
}

fe_status FE_NAME3(fe_renorm, FE_VSUF, FE_ISUF)(char *table, int64_t n_rows, int64_t dim,
                                                int64_t row_stride, const FE_IDX *ids,
                                                int64_t n_ids, double max_norm,
                                                double norm_type, int n_threads,
                                                int64_t *bad_pos)
{
    if (n_rows < 0 || dim < 0 || n_ids < 0 || !(max_norm > 0.0) || !(norm_type > 0.0)
        || !isfinite(norm_type))
        return FE_ERR_VALUE;
    return FE_NAME3(fe_distinct_rows, FE_VSUF, FE_ISUF)(table, n_rows, dim, row_stride, ids,
                                                        n_ids, FE_CONS_RENORM, max_norm,
                                                        norm_type, 0.0, n_threads, bad_pos);
}

#endif /* FE_IDX */
