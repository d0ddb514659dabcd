/* fe_simd_clones.h: compiles the header named by FE_SIMD_BODY once per SIMD level, with
 * FE_SIMD the level's name suffix (base, avx2, avx512) and FE_TARGET its target attribute;
 * FE_SIMD_DISPATCH (fe_internal.h) then calls the clone fe_simd_level() chose. Define
 * FE_SIMD_AVX2 to widen the AVX2 target (e.g. "avx2,fma"). No include guard: include it
 * once per body. A kernel's body goes through fe_instantiate.h (see there), e.g.
 *     #define FE_IMPL "accumulate_impl.h"
 *     #define FE_EACH_VALUE
 *     #define FE_SIMD_BODY "fe_instantiate.h"
 *     #include "fe_simd_clones.h"    (the body's #ifdef FE_SIMD part, per value type and level)
 *     #include "fe_instantiate.h"    (its #else part: the entry points, per value type)
 *     #include "fe_instantiate_end.h"
 */
#ifndef FE_SIMD_AVX2
#define FE_SIMD_AVX2 "avx2"
#endif

#define FE_TARGET
#define FE_SIMD base
#include FE_SIMD_BODY
#undef FE_TARGET
#undef FE_SIMD
#ifdef FE_X86
#define FE_TARGET __attribute__((target(FE_SIMD_AVX2)))
#define FE_SIMD avx2
#include FE_SIMD_BODY
#undef FE_TARGET
#undef FE_SIMD
#define FE_TARGET __attribute__((target("avx512f")))
#define FE_SIMD avx512
#include FE_SIMD_BODY
#undef FE_TARGET
#undef FE_SIMD
#endif
#undef FE_SIMD_BODY
#undef FE_SIMD_AVX2
