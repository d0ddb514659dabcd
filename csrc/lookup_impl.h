/* Body of lookup.c (fe_instantiate.h), per index type (FE_IDX, FE_ISUF): the row gather of
 * one chunk of ids per SIMD level (FE_SIMD, FE_TARGET: fe_simd_clones.h), then, in the pass
 * without FE_SIMD, the entry point fe_lookup_<FE_ISUF>. */

#ifdef FE_SIMD

/* Rows this far ahead are prefetched: enough to cover DRAM latency for rows of 64-512 B. */
#define FE_PF_DIST 16

/* Copy the rows of ids[lo:hi] (written once: FE_CONST_WIDTH makes row_bytes a constant
 * for the common widths, so their copies become inlined vector moves). */
FE_TARGET static FE_ALWAYS_INLINE void FE_NAME3(fe_gather_rows, FE_ISUF, FE_SIMD)(
    const char *table, int64_t n_rows, int64_t row_bytes, int64_t row_stride,
    const FE_IDX *ids, int64_t lo, int64_t hi, char *out)
{
    for (int64_t i = lo; i < hi; i++) {
        if (i + FE_PF_DIST < hi) {
            uint64_t pf = (uint64_t)(int64_t)ids[i + FE_PF_DIST];
            if (pf < (uint64_t)n_rows) {
                const char *p = table + (int64_t)pf * row_stride;
                for (int64_t b = 0; b < row_bytes && b < 512; b += 64)
                    FE_PREFETCH(p + b);
            }
        }
        uint64_t id = (uint64_t)(int64_t)ids[i];
        if (id >= (uint64_t)n_rows) /* unreachable after the check pass; memory safety */
            continue;
        memcpy(out + i * row_bytes, table + (int64_t)id * row_stride, (size_t)row_bytes);
    }
}

FE_TARGET static void FE_NAME3(fe_gather_chunk, FE_ISUF, FE_SIMD)(
    const char *table, int64_t n_rows, int64_t row_bytes, int64_t row_stride,
    const FE_IDX *ids, int64_t lo, int64_t hi, char *out)
{
    FE_CONST_WIDTH(row_bytes, 1, FE_NAME3(fe_gather_rows, FE_ISUF, FE_SIMD)(
                                     table, n_rows, row_bytes, row_stride, ids, lo, hi, out));
}

#undef FE_PF_DIST

#else /* the entry point: every id checked, then a parallel gather over chunks of ids */

fe_status FE_NAME(fe_lookup, FE_ISUF)(const char *table, int64_t n_rows, int64_t row_bytes,
                                      int64_t row_stride, const FE_IDX *ids, int64_t n_ids,
                                      char *out, int n_threads, int64_t *bad_pos)
{
    if (n_rows < 0 || row_bytes < 0 || n_ids < 0)
        return FE_ERR_VALUE;
    fe_status st = FE_NAME(fe_check_ids, FE_ISUF)(row_bytes > 0 && n_ids > INT64_MAX / row_bytes,
                                                  ids, n_ids, n_rows, n_threads, bad_pos);
    if (st != FE_OK || n_ids == 0 || row_bytes == 0)
        return st;
    int level = fe_simd_level();
    int nt = fe_plan_threads(n_threads, n_ids * row_bytes);
    int64_t grain = fe_grain(n_ids, 2 * n_ids * row_bytes, nt, 1);
    FE_PARALLEL_DYNAMIC(nt, n_ids, grain, {
        FE_SIMD_DISPATCH(FE_NAME(fe_gather_chunk, FE_ISUF),
                         (table, n_rows, row_bytes, row_stride, ids, lo, hi, out));
    });
    return FE_OK;
}

#endif
