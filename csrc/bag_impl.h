/* fe_lookup_bag_<value>_<index> and fe_bag_dots_<value>_<index>; included by bag.c through
 * fe_instantiate.h per value type and index type. */

fe_status FE_NAME3(fe_lookup_bag, FE_VSUF, FE_ISUF)(
    const char *table, int64_t n_rows, int64_t dim, int64_t row_stride, const FE_IDX *ids,
    int64_t n_ids, const int64_t *bounds, int64_t n_bags, int mode, const FE_VT *psw,
    int64_t padding_idx, FE_VT *out, int64_t *argmax, int n_threads, int64_t *bad_pos)
{
    int acc64 = (mode & FE_BAG_ACC64) != 0 || sizeof(FE_VT) == sizeof(double);
    int out_f32 = (mode & FE_BAG_OUT_F32) != 0;
    mode &= ~(FE_BAG_ACC64 | FE_BAG_OUT_F32);
    if ((out_f32 && sizeof(FE_VT) != 2) || n_rows < 0 || dim < 0 || n_ids < 0 || mode < FE_BAG_SUM || mode > FE_BAG_SQRTN
        || (psw && mode == FE_BAG_MAX) || (argmax && mode != FE_BAG_MAX)
        || !fe_bag_bounds_ok(bounds, n_bags, n_ids))
        return FE_ERR_VALUE;
    fe_status st = FE_NAME(fe_check_ids, FE_ISUF)(
        dim > 0 && (n_ids > INT64_MAX / dim || n_bags > INT64_MAX / dim), ids, n_ids, n_rows,
        n_threads, bad_pos);
    if (st != FE_OK || n_bags == 0 || dim == 0)
        return st;
    int level = fe_simd_level();
    int64_t work = (n_ids + n_bags) * dim * (int64_t)sizeof(FE_VT);  /* about */
    int nt = fe_plan_threads(n_threads, work);
    if (n_ids == 0)
        nt = 1; /* only empty bags: zeros */
    int64_t grain = fe_grain(n_ids, work, nt, 1);
    FE_PARALLEL_DYNAMIC(nt, n_ids, grain, {
        int64_t b_lo = lo == 0 ? 0 : fe_first_bag_from(bounds, n_bags, n_ids, lo);
        int64_t b_hi = hi >= n_ids ? n_bags : fe_first_bag_from(bounds, n_bags, n_ids, hi);
        for (int64_t c = 0; c < dim; c += FE_BAG_BLOCK) {
            int64_t c_hi = dim - c < FE_BAG_BLOCK ? dim : c + FE_BAG_BLOCK;
            if (acc64)
                FE_SIMD_DISPATCH(FE_NAME(FE_NAME3(fe_bag_block, FE_VSUF, FE_ISUF), acc64),
                                 (table, n_rows, dim, row_stride, ids, n_ids, bounds, b_lo,
                                  b_hi, mode, psw, padding_idx, out, out_f32, argmax, c, c_hi));
            else
                FE_SIMD_DISPATCH(FE_NAME(FE_NAME3(fe_bag_block, FE_VSUF, FE_ISUF), accvt),
                                 (table, n_rows, dim, row_stride, ids, n_ids, bounds, b_lo,
                                  b_hi, mode, psw, padding_idx, out, out_f32, argmax, c, c_hi));
        }
    });
    return FE_OK;
}

fe_status FE_NAME3(fe_bag_dots, FE_VSUF, FE_ISUF)(
    const char *table, int64_t n_rows, int64_t dim, int64_t row_stride, const FE_IDX *ids,
    int64_t n_ids, const int64_t *bag_of, const FE_VT *grad, int64_t n_bags, double *dots,
    int n_threads)
{
    if (n_rows < 0 || dim < 0 || n_ids < 0 || n_bags < 0)
        return FE_ERR_VALUE;
    if (dim > 0 && (n_ids > INT64_MAX / dim || n_bags > INT64_MAX / dim))
        return FE_ERR_OVERFLOW;
    int bad = 0;
    int64_t work = n_ids * dim * (int64_t)sizeof(FE_VT);
    int nt = fe_plan_threads(n_threads, work);
    int64_t grain = fe_grain(n_ids, work, nt, 1);
    FE_PARALLEL_DYNAMIC(nt, n_ids, grain, {
        for (int64_t p = lo; p < hi; p++) {
            uint64_t id = (uint64_t)(int64_t)ids[p], b = (uint64_t)bag_of[p];
            if (id >= (uint64_t)n_rows || b >= (uint64_t)n_bags) {
                _Pragma("omp atomic write") bad = 1;
                dots[p] = 0;
                continue;
            }
            const FE_VT *row = (const FE_VT *)(table + (int64_t)id * row_stride);
            const FE_VT *g = grad + (int64_t)b * dim;
            double s = 0;
            for (int64_t d = 0; d < dim; d++)
                s += (double)FE_LOAD(FE_VSUF, row + d) * (double)FE_LOAD(FE_VSUF, g + d);
            dots[p] = s;
        }
    });
    return bad ? FE_ERR_VALUE : FE_OK;
}
