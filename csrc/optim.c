/* Fused sparse optimizer steps: the summed gradient of each touched row, the optimizer's
 * update and its state, in one pass over the touched rows (each row one thread's).
 *
 * Three bodies, each instantiated by fe_instantiate.h:
 *   optim_scan_impl.h  the magnitude scan of a gradient, per arithmetic type and SIMD level
 *   optim_row_impl.h   per arithmetic type (f32, f64): one row's update, one group's summed
 *                      gradient and fe_first_nonfinite
 *   optim_impl.h       per table type (f32, f64): fe_opt_update and fe_opt_apply */
#include "fe_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

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

/* fe_opt_bits_<VSUF>: an unsigned integer of the value's width. With the sign bit cleared,
 * IEEE bit patterns order like the magnitudes, and every inf and NaN is >= FE_OPT_INF_<VSUF>:
 * one integer max over a gradient finds both its largest |g| and whether it holds a
 * non-finite value (an integer max vectorises without -ffast-math; a float one does not). */
typedef uint32_t fe_opt_bits_f32;
typedef uint64_t fe_opt_bits_f64;
#define FE_OPT_INF_f32 UINT32_C(0x7f800000)
#define FE_OPT_INF_f64 UINT64_C(0x7ff0000000000000)

#define FE_IMPL "optim_scan_impl.h"
#define FE_EACH_VALUE
#define FE_SIMD_BODY "fe_instantiate.h"
#include "fe_simd_clones.h"
#include "fe_instantiate_end.h"

#define FE_IMPL "optim_row_impl.h"
#define FE_EACH_VALUE
#include "fe_instantiate.h"
#include "fe_instantiate_end.h"

#define FE_IMPL "optim_impl.h"
#define FE_EACH_VALUE
#include "fe_instantiate.h"
#include "fe_instantiate_end.h"
