/* Body of the pooled lookup for one (value type, index type, SIMD target); included by
 * bag.c with FE_VT/FE_VSUF2 (float f32 / double f64), FE_IDX/FE_ISUF (int32_t i32 / int64_t
 * i64), FE_SIMD (base/avx2/avx512) and FE_TARGET (a target attribute or nothing). */

/* Bags [b_lo, b_hi) into their out rows, columns [c_lo, c_lo + width) (blocks of at most
 * FE_BAG_BLOCK, so the accumulator `acc` stays in L1 or registers). Each bag is summed by one
 * thread, in id order, and rounded once: the result does not depend on the thread count.
 * Two accumulators: double (acc64, FE_BAG_ACC64: float32 sums keep float64 accuracy) and the
 * value type itself (accvt, the default: ~40% fewer instructions per float32 row). */
/* Rows prefetched this many ids ahead: covers DRAM latency for 64-512 byte rows. */
#ifndef FE_BAG_PF_DIST
#define FE_BAG_PF_DIST 16
#endif

#define FE_ACC double
#define FE_ASUF acc64
#include "bag_body.h"
#undef FE_ACC
#undef FE_ASUF
#define FE_ACC FE_VT
#define FE_ASUF accvt
#include "bag_body.h"
#undef FE_ACC
#undef FE_ASUF
