/* Body of check.c (fe_instantiate.h): fe_first_bad_id_<FE_ISUF>, per index type. */

/* The common all-good case is one branch-free, vectorisable pass per chunk; only a chunk
 * that holds a bad id is scanned again to locate its first one. The answer is the least
 * position over chunks (dynamically scheduled), so it is the same for any thread count. */
int64_t FE_NAME(fe_first_bad_id, FE_ISUF)(const FE_IDX *ids, int64_t n_ids, int64_t n_rows,
                                          int n_threads)
{
    int64_t first_bad = n_ids; /* "none" */
    int nt = fe_plan_threads(n_threads, n_ids * (int64_t)sizeof(FE_IDX));
    int64_t found[FE_MAX_THREADS];
    for (int t = 0; t < nt; t++)
        found[t] = n_ids;
    FE_PARALLEL_DYNAMIC(nt, n_ids, fe_grain(n_ids, n_ids * (int64_t)sizeof(FE_IDX), nt, 64), {
        uint64_t any_bad = 0;
        int64_t mine = n_ids;
        for (int64_t i = lo; i < hi; i++)
            any_bad |= (uint64_t)((uint64_t)(int64_t)ids[i] >= (uint64_t)n_rows);
        if (any_bad) {
            for (int64_t i = lo; i < hi; i++) {
                if ((uint64_t)(int64_t)ids[i] >= (uint64_t)n_rows) {
                    mine = i;
                    break;
                }
            }
        }
        if (mine < found[t]) /* a thread may run several chunks */
            found[t] = mine;
    });
    for (int t = 0; t < nt; t++)
        if (found[t] < first_bad)
            first_bad = found[t];
    return first_bad < n_ids ? first_bad : -1;
}
