/* Instantiates bag_impl.h for the four (value type, index type) pairs under the current
 * FE_SIMD / FE_TARGET; included by bag.c once per SIMD target. */
#define FE_VT float
#define FE_VSUF2 f32
#define FE_LOAD(v) (v)          /* a stored value as arithmetic (a new type converts here) */
#define FE_STORE(x) ((float)(x)) /* an arithmetic result as a stored value */
#define FE_IDX int32_t
#define FE_ISUF i32
#include "bag_impl.h"
#undef FE_IDX
#undef FE_ISUF
#define FE_IDX int64_t
#define FE_ISUF i64
#include "bag_impl.h"
#undef FE_IDX
#undef FE_ISUF
#undef FE_VT
#undef FE_VSUF2
#undef FE_LOAD
#undef FE_STORE
#define FE_VT double
#define FE_VSUF2 f64
#define FE_LOAD(v) (v)
#define FE_STORE(x) ((double)(x))
#define FE_IDX int32_t
#define FE_ISUF i32
#include "bag_impl.h"
#undef FE_IDX
#undef FE_ISUF
#define FE_IDX int64_t
#define FE_ISUF i64
#include "bag_impl.h"
#undef FE_IDX
#undef FE_ISUF
#undef FE_VT
#undef FE_VSUF2
#undef FE_LOAD
#undef FE_STORE
