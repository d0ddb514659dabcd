/* Fused sparse optimizer steps: the summed gradient of each touched row, the optimizer's
 * update and its state, in one pass over the touched rows (each row one thread's). */
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

/* FE_VBITS: an unsigned integer of the value's width. With the sign bit cleared, IEEE bit
 * patterns order like the magnitudes, and every inf and NaN is >= FE_VINF_BITS: one integer
 * max over a gradient finds both its largest |g| and whether it holds a non-finite value
 * (an integer max vectorises without -ffast-math; a float one does not). */
#define FE_VT float
#define FE_VSUF f32
#define FE_VBITS uint32_t
#define FE_VINF_BITS UINT32_C(0x7f800000)
#include "optim_impl.h"
#undef FE_VT
#undef FE_VSUF
#undef FE_VBITS
#undef FE_VINF_BITS
#define FE_VT double
#define FE_VSUF f64
#define FE_VBITS uint64_t
#define FE_VINF_BITS UINT64_C(0x7ff0000000000000)
#include "optim_impl.h"
#undef FE_VT
#undef FE_VSUF
#undef FE_VBITS
#undef FE_VINF_BITS
