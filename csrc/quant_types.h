/* Instantiates quant_impl.h for both index types under the current FE_SIMD / FE_TARGET;
 * included by quant.c once per SIMD target (fe_simd_clones.h). */
#define FE_IDX int32_t
#define FE_ISUF i32
#include "quant_impl.h"
#undef FE_IDX
#undef FE_ISUF
#define FE_IDX int64_t
#define FE_ISUF i64
#include "quant_impl.h"
#undef FE_IDX
#undef FE_ISUF
