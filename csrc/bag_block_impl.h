/* Pooling of bags for one (value type, index type, SIMD level): fe_bag_block_<v>_<i>_<acc>_<simd>,
 * included by bag.c through fe_instantiate.h per fe_simd_clones.h level (FE_SIMD, FE_TARGET).
 *
 * Bags [b_lo, b_hi) into their out rows, columns [c_lo, c_hi) (blocks of at most
 * FE_BAG_BLOCK, so the accumulator `acc` stays in L1 or registers). Each bag is summed by one
 * thread, in id order, and rounded once: the result does not depend on the thread count.
 * Two accumulators: double (acc64, FE_BAG_ACC64: float32 sums keep float64 accuracy) and the
 * value type's arithmetic type FE_CT(FE_VSUF) (accvt, the default: ~40% fewer instructions
 * per float32 row). */

#define FE_ACC double
#define FE_ASUF acc64
#define FE_BAG_VL (FE_HALF_CAT(FE_BAG_VBYTES_, FE_SIMD) / 8)
#include "bag_pool_impl.h"
#undef FE_ACC
#undef FE_ASUF
#undef FE_BAG_VL
#define FE_ACC FE_CT(FE_VSUF)
#define FE_ASUF accvt
#define FE_BAG_VL (FE_HALF_CAT(FE_BAG_VBYTES_, FE_SIMD) / (int)sizeof(FE_ACC))
#include "bag_pool_impl.h"
#undef FE_ACC
#undef FE_ASUF
#undef FE_BAG_VL
