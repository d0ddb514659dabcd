/* Backward of lookup: per-id sums of gradient rows (owner-computes over the groups of
 * fe_group_ids) and the scatter of a row-sparse gradient into a dense table. */
#include "fe_internal.h"

#include <stdlib.h>
#include <string.h>

#define FE_ACC_PF 16 /* gradient rows prefetched ahead (perm order is random in grad); 8, 16 and 32 measured the same */

#define FE_IMPL "accumulate_impl.h"
#define FE_EACH_VALUE
#define FE_SIMD_BODY "fe_instantiate.h"
#include "fe_simd_clones.h" /* the summing loops, per value type and SIMD level */

/* Groups with at least heavy_min rows (few: at most 2 * threads of them) are summed by all
 * threads, each over a slice of the columns: with Zipf ids one id can hold 40% of the rows,
 * and a whole-group owner would leave the other threads idle. */
#define FE_MAX_HEAVY (2 * FE_MAX_THREADS + 2)

/* Rows of the groups before g that are not heavy (the light work a thread split counts). */
static int64_t fe_light_before(const int64_t *starts, int64_t g, const int64_t *heavy, int nh)
{
    int64_t v = starts[g] - starts[0];
    for (int h = 0; h < nh && heavy[h] < g; h++)
        v -= starts[heavy[h] + 1] - starts[heavy[h]];
    return v;
}

/* First g in [0, n_groups] with fe_light_before(g) >= target. */
static int64_t fe_light_bound(const int64_t *starts, int64_t n_groups, const int64_t *heavy,
                              int nh, int64_t target)
{
    int64_t a = 0, b = n_groups;
    while (a < b) {
        int64_t m = a + (b - a) / 2;
        if (fe_light_before(starts, m, heavy, nh) < target)
            a = m + 1;
        else
            b = m;
    }
    return a;
}

#include "fe_instantiate.h" /* fe_sum_groups, per value type */
#include "fe_instantiate_end.h"

/* Dense copy of a row-sparse gradient. Phase 1 checks that indices are strictly increasing
 * and in range (a failing call writes nothing); phase 2 gives each thread a contiguous block
 * of output rows, which it zero-fills around the value rows that land in it. */
fe_status fe_scatter_rows(const char *values, int64_t nnz, int64_t row_bytes,
                          const int64_t *indices, int64_t n_rows, char *out, int n_threads,
                          int64_t *bad_pos)
{
    if (nnz < 0 || row_bytes < 0 || n_rows < 0)
        return FE_ERR_VALUE;
    if (row_bytes > 0 && (n_rows > INT64_MAX / row_bytes || nnz > INT64_MAX / row_bytes))
        return FE_ERR_OVERFLOW;
    int nt = fe_plan_threads(n_threads, nnz * 8);
    int64_t found[FE_MAX_THREADS];
    FE_PARALLEL_CHUNKS(nt, nnz, {
        int64_t mine = nnz;
        for (int64_t k = lo; k < hi; k++) {
            if ((uint64_t)indices[k] >= (uint64_t)n_rows
                || (k > 0 && indices[k] <= indices[k - 1])) {
                mine = k;
                break;
            }
        }
        found[t] = mine;
    });
    for (int t = 0; t < nt; t++) {
        if (found[t] < nnz) {
            *bad_pos = found[t];
            return FE_ERR_INDEX;
        }
    }
    if (n_rows == 0 || row_bytes == 0)
        return FE_OK;
    nt = fe_plan_threads(n_threads, n_rows * row_bytes);
    FE_PARALLEL_DYNAMIC(nt, n_rows, fe_grain(n_rows, n_rows * row_bytes, nt, 1), {
        int64_t k = fe_lower_bound(indices, nnz, lo);
        int64_t cur = lo;
        for (; k < nnz && indices[k] < hi; k++) {
            int64_t r = indices[k];
            if (r < cur) /* unreachable after phase 1 */
                continue;
            memset(out + cur * row_bytes, 0, (size_t)((r - cur) * row_bytes));
            memcpy(out + r * row_bytes, values + k * row_bytes, (size_t)row_bytes);
            cur = r + 1;
        }
        if (hi > cur)
            memset(out + cur * row_bytes, 0, (size_t)((hi - cur) * row_bytes));
    });
    return FE_OK;
}
