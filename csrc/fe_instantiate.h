/* fe_instantiate.h: the one way a kernel body is compiled per type (no include guard).
 *
 * A kernel is <kernel>.c (entry points, shared helpers) and <kernel>_impl.h (the body,
 * written once in terms of the macros below). <kernel>.c defines
 *     FE_IMPL        "<kernel>_impl.h"
 *     FE_EACH_VALUE  to compile the body per value type: float (f32) and double (f64),
 *     FE_EACH_HALF   with FE_EACH_VALUE, also fe_f16 (f16) and fe_bf16 (bf16) (fe_half.h),
 *     FE_EACH_INDEX  to compile the body per id type: int32_t (i32) and int64_t (i64),
 * includes this header (directly, or as FE_SIMD_BODY of fe_simd_clones.h to compile it per
 * SIMD level too), then includes "fe_instantiate_end.h" to drop the four settings.
 *
 * Inside the body, per value type:
 *     FE_VT    the stored type            FE_VSUF  its suffix: f32, f64, f16, bf16
 *     FE_CT(FE_VSUF)      the arithmetic type (fe_half.h: float for the half types)
 *     FE_VMAX, FE_VEPS   the arithmetic type's largest finite value and epsilon
 *     FE_LOAD(FE_VSUF, p) / FE_STORE(FE_VSUF, p, x)   (fe_half.h) convert at the memory
 * and per id type FE_IDX, FE_ISUF (i32, i64). Symbols are named value first, then index:
 *     fe_<kernel>_<FE_VSUF>_<FE_ISUF>, i.e. FE_NAME3(fe_<kernel>, FE_VSUF, FE_ISUF).
 * Strides and row pitches passed between kernels are in bytes.
 *
 * A .c may include this header more than once, changing the settings in between, so that
 * each part of its body is compiled as often as it needs: e.g. the hot loops once per SIMD
 * level (as FE_SIMD_BODY of fe_simd_clones.h), then the entry points once (lookup.c); or
 * the per-row helpers per value type, then the entry points per value and index type
 * (constraint.c). The body tells the passes apart by what is defined: FE_SIMD in a SIMD
 * pass, FE_IDX in a pass per index type, or a setting of the kernel's own (group.c's
 * FE_KEY). fe_instantiate_end.h follows the last pass.
 *
 * Declaring a family: fastembed.h gives its contract comment, then its prototype once as
 * FE_DECL_<KERNEL>(v, VT, AT, i, IT) expanded by FE_FOR_VALUE_INDEX (or FE_DECL_<KERNEL>(v,
 * VT, AT) by FE_FOR_VALUE), with a comment naming the symbols; fastembed/_kernels.pxd.in
 * declares it at the same place in the header's order, in a Tempita loop over VALUE_INDEX
 * (or VALUE); tests/test_kernel_declarations.py checks the two name the same functions. */
#include "fe_half.h"

#include <float.h>

#ifdef FE_EACH_VALUE
#define FE_VT float
#define FE_VSUF f32
#define FE_VMAX FLT_MAX
#define FE_VEPS FLT_EPSILON
#include "fe_instantiate_index.h"
#undef FE_VT
#undef FE_VSUF
#define FE_VT double
#define FE_VSUF f64
#undef FE_VMAX
#undef FE_VEPS
#define FE_VMAX DBL_MAX
#define FE_VEPS DBL_EPSILON
#include "fe_instantiate_index.h"
#undef FE_VT
#undef FE_VSUF
#undef FE_VMAX
#undef FE_VEPS
#ifdef FE_EACH_HALF
#define FE_VMAX FLT_MAX
#define FE_VEPS FLT_EPSILON
#define FE_VT fe_f16
#define FE_VSUF f16
#include "fe_instantiate_index.h"
#undef FE_VT
#undef FE_VSUF
#define FE_VT fe_bf16
#define FE_VSUF bf16
#include "fe_instantiate_index.h"
#undef FE_VT
#undef FE_VSUF
#undef FE_VMAX
#undef FE_VEPS
#endif
#else
#include "fe_instantiate_index.h"
#endif
