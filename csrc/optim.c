/* Fused sparse optimizer steps: the summed gradient of each touched row, the optimizer's
 * update and its state, in one pass over the touched rows (each row one thread's). */
#include "fe_internal.h"

#include <math.h>
#include <stdlib.h>

/* Prefetch distances: gradient rows (read in grouped order, random in memory) and the
 * touched table and state rows (increasing, but far apart). */
#define FE_OPT_PF_GRAD 16
#define FE_OPT_PF_ROWS 4

/* Every cache line of a row (rows need not be line-aligned), up to 1 KB. */
static inline void fe_opt_prefetch_row(const void *row, int64_t bytes)
{
    uintptr_t p = (uintptr_t)row, e = p + (uintptr_t)(bytes < 1024 ? bytes : 1024);
    for (p &= ~(uintptr_t)63; p < e; p += 64)
        FE_PREFETCH((const char *)p);
}

#define FE_VT float
#define FE_VSUF f32
#include "optim_impl.h"
#undef FE_VT
#undef FE_VSUF
#define FE_VT double
#define FE_VSUF f64
#include "optim_impl.h"
#undef FE_VT
#undef FE_VSUF
