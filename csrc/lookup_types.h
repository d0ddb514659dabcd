/* Instantiates lookup_impl.h for int32 and int64 ids under the current FE_SIMD / FE_TARGET;
 * included by lookup.c once per SIMD level (fe_simd_clones.h). */
#define FE_IDX int32_t
#define FE_ISUF i32
#include "lookup_impl.h"
#undef FE_IDX
#undef FE_ISUF
#define FE_IDX int64_t
#define FE_ISUF i64
#include "lookup_impl.h"
#undef FE_IDX
#undef FE_ISUF
