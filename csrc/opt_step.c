/* One optimizer step from a lookup's ids and output gradient (fe_opt_step in fastembed.h):
 * the grouping, every check and the update with its row constraint in one call, so nothing
 * is handed back to Python between them. Phase 1 groups the ids (fe_group_ids) and sums
 * each group's gradient rows once into scratch (fe_sum_groups: accumulate's sums, its
 * balance of threads over unequal groups), then checks the sums; phase 2 is optim.c's
 * fe_opt_update from the sums. Measured against summing each group again while updating
 * its row after a scan of grad (the previous design), this reads grad once and gathers it
 * with accumulate's loop: 1M uniform ids, 1M x 64 float32, SGD, 1 thread, CPU time of
 * interleaved calls in one process: 167 vs 214 ms. */
#include "fe_internal.h"

#include <math.h>
#include <stdlib.h>

/* The stored sums' scratch, recycled: a fresh block of that size would be faulted in page
 * by page on every step (the kernel zeroing it), which measured as much as the step's own
 * work. One block is kept between calls (taken and given back atomically, so concurrent
 * steps never share it: a second one allocates its own), at most FE_OPT_KEEP_MAX bytes;
 * a forked child keeps its copy-on-write view of it. */
#define FE_OPT_KEEP_MAX ((int64_t)1 << 30)
typedef struct {
    int64_t bytes;
    char pad[56]; /* the data starts on a cache line */
} fe_opt_block;
static fe_opt_block *fe_opt_kept;

static void *fe_opt_sums_alloc(int64_t bytes)
{
    fe_opt_block *b = __atomic_exchange_n(&fe_opt_kept, NULL, __ATOMIC_ACQ_REL);
    if (b && b->bytes >= bytes)
        return b + 1;
    fe_scratch_free(b);
    if (bytes > INT64_MAX - (int64_t)sizeof(fe_opt_block))
        return NULL;
    b = (fe_opt_block *)fe_scratch_alloc(bytes + (int64_t)sizeof(fe_opt_block));
    if (!b)
        return NULL;
    b->bytes = bytes;
    return b + 1;
}

static void fe_opt_sums_free(void *p)
{
    if (!p)
        return;
    fe_opt_block *b = (fe_opt_block *)p - 1;
    if (b->bytes > FE_OPT_KEEP_MAX) {
        fe_scratch_free(b);
        return;
    }
    fe_scratch_free(__atomic_exchange_n(&fe_opt_kept, b, __ATOMIC_ACQ_REL));
}

#define FE_IMPL "opt_step_impl.h"
#define FE_EACH_VALUE
#include "fe_instantiate.h" /* fe_opt_check_sums, per arithmetic type */
#define FE_EACH_HALF
#define FE_EACH_INDEX
#include "fe_instantiate.h"
#include "fe_instantiate_end.h"
