/* One optimizer step from a lookup's ids and output gradient (fe_opt_step in fastembed.h):
 * the grouping, every check and the update with its row constraint in one call, so nothing
 * is handed back to Python between them. The update itself is optim.c's fe_opt_update. */
#include "fe_internal.h"

/* Whether finite gradient rows could add up to a non-finite row sum, so the update must sum
 * every group once more in phase 1 and check it. Summing k terms of magnitude <= M in input
 * order gives partial sums within (1 + gamma_(k-1)) * k * M of zero, gamma_(k-1) =
 * (k-1)u / (1 - (k-1)u) <= 1 when k * u <= 1/2 (u the unit roundoff; Higham, Accuracy and
 * Stability, 4.2): no partial sum overflows when, moreover, 2 * k * M <= the type's max.
 * Tried with k = the number of ids first (no work), then with k = the largest group. */
static int fe_opt_count_safe(int64_t k, double max_abs, double big, double u)
{
    return k <= 1 || ((double)k * u <= 0.5 && 2.0 * max_abs * (double)k <= big);
}

static int fe_opt_sums_need_check(double max_abs, int64_t n_ids, const int64_t *starts,
                                  int64_t n_groups, double big, double u)
{
    if (n_ids <= 1 || fe_opt_count_safe(n_ids, max_abs, big, u))
        return 0;
    int64_t largest = 0;
    for (int64_t g = 0; g < n_groups; g++)
        if (starts[g + 1] - starts[g] > largest)
            largest = starts[g + 1] - starts[g];
    return !fe_opt_count_safe(largest, max_abs, big, u);
}

#define FE_IMPL "opt_step_impl.h"
#define FE_EACH_VALUE
#define FE_EACH_HALF
#define FE_EACH_INDEX
#include "fe_instantiate.h"
#include "fe_instantiate_end.h"
