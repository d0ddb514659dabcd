/* Sparse optimizer updates: from the summed gradient of each touched row (opt_step.c sums
 * it), the optimizer's update of the row and its state and the row constraint, in one pass
 * over the touched rows (each row one thread's).
 *
 * Three bodies, each instantiated by fe_instantiate.h:
 *   optim_simd_impl.h  per arithmetic type and SIMD level: the finiteness scan
 *   optim_row_impl.h   per arithmetic type (f32, f64): one row's update and
 *                      fe_first_nonfinite
 *   optim_impl.h       per table type (f32, f64, f16, bf16): fe_opt_update, fe_opt_apply */
#include "fe_half.h"
#include "fe_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Prefetch distance of the touched table and state rows (increasing, but far apart). */
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

#define FE_IMPL "optim_simd_impl.h"
#define FE_EACH_VALUE
#define FE_SIMD_BODY "fe_instantiate.h"
#include "fe_simd_clones.h"
#include "fe_instantiate_end.h"

#define FE_IMPL "optim_row_impl.h"
#define FE_EACH_VALUE
#include "fe_instantiate.h"
#include "fe_instantiate_end.h"

/* ---- stochastic rounding of a float to a half type (fastembed.h, "Half tables") ----------
 * Both round the magnitude toward zero after adding random bits below the kept ones: the
 * carry into the kept bits, i.e. the step away from zero, happens with probability equal to
 * the dropped fraction, so E[result] = x. Sign-magnitude, so negative values are the same. */

/* bfloat16: 16 dropped bits, 16 random ones: exact for every float (bfloat16 has float's
 * exponent range). The largest values may step to inf, as rounding up beyond the largest
 * bfloat16 does; inf stays inf (its dropped bits are 0). */
static inline fe_bf16 fe_opt_round_stochastic_bf16(float x, uint64_t r)
{
    uint32_t u = fe_float_to_bits(x);
    if ((u & 0x7fffffffu) > 0x7f800000u) /* NaN */
        return fe_float_to_bf16(x);
    return (fe_bf16)((u + (uint32_t)(r & 0xffffu)) >> 16);
}

/* float16: normals (2^-14 <= |x| < 65536) keep 10 of float's 23 mantissa bits after the
 * exponent is rebiased: 13 random bits, exact; values from 65504 (the largest float16) up
 * step to inf with the probability of rounding up to 65536. Below 2^-14 the float16 step
 * is 2^-24: |x| = (n + f) 2^-24, and 32 random bits below f * 2^32 step up (exact when f is
 * a multiple of 2^-32, i.e. |x| >= 2^-33 or so; else within 2^-32 of a step). |x| >= 65536,
 * inf and NaN as to nearest (inf, NaN). */
static inline fe_f16 fe_opt_round_stochastic_f16(float x, uint64_t r)
{
    uint32_t u = fe_float_to_bits(x), mag = u & 0x7fffffffu;
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    if (mag >= 0x47800000u)
        return fe_float_to_f16(x);
    if (mag >= 0x38800000u) /* rebias the exponent (127 -> 15), add the random bits, drop 13 */
        return (fe_f16)(sign | (uint16_t)((mag - 0x38000000u + (uint32_t)(r & 0x1fffu)) >> 13));
    float q = fe_bits_to_float(mag) * 0x1p24f; /* exact: a power-of-two scaling */
    uint32_t n = (uint32_t)q;
    float f = q - (float)n; /* exact */
    n += (double)(uint32_t)(r >> 32) < (double)f * 4294967296.0;
    return (fe_f16)(sign | (uint16_t)n); /* n = 1024 is the smallest normal's bits */
}

/* FE_OPT_HALF_<VSUF>: 1 for the half table types (optim_impl.h's #if) */
#define FE_OPT_HALF_f16 1
#define FE_OPT_HALF_bf16 1

#define FE_IMPL "optim_impl.h"
#define FE_EACH_VALUE
#define FE_EACH_HALF
#include "fe_instantiate.h"
#include "fe_instantiate_end.h"
