/* Pooled lookup (embedding bags): the sum, mean, max or sqrtn of the rows in each bag, and
 * the pieces of its backward (bag_grad, bag_dots). Three bodies, one per instantiation:
 *   bag_block_impl.h the pooling of a block of bags, per value, index type and SIMD level
 *                    (bag_pool_impl.h, its loops, once per accumulator type)
 *   bag_impl.h       fe_lookup_bag_<value>_<index> and fe_bag_dots_<value>_<index>
 *   bag_grad_impl.h  fe_bag_grad_<value> (the grouping is in int64 whatever the ids were) */
#include "fe_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef FE_X86
#include <immintrin.h>
#endif

/* Columns pooled per pass over a bag: the double accumulator is 2 KB, in L1. */
#define FE_BAG_BLOCK 256
/* Rows prefetched this many ids ahead: covers DRAM latency for 64-512 byte rows. */
#ifndef FE_BAG_PF_DIST
#define FE_BAG_PF_DIST 16
#endif
/* ... or, on the register path, about this many bytes of rows ahead (up to 4x the rows):
 * a miss in flight is a cache line, so half rows go twice as many rows ahead. */
#define FE_BAG_PF_BYTES 4096
/* Where the register path converts float16 with vcvtph2ps (in #if: 1 at AVX-512 only, the
 * level whose target has it), and which value type is float16 (a C constant). */
#define FE_BAG_AVX512_avx512 1
#define FE_BAG_IS_F16_f16 1
#define FE_BAG_IS_F16_bf16 0
#define FE_BAG_IS_F16_f32 0
#define FE_BAG_IS_F16_f64 0
/* Rows of grad prefetched this many grouped positions ahead (bag_grad). */
#define FE_GRAD_PF_DIST 16
/* The register path of bag_pool_impl.h: bytes of one SIMD register per level, and registers
 * of accumulator at most (float32 widths up to 128 at AVX-512, 64 at AVX2, 32 at SSE2). */
#define FE_BAG_VBYTES_base 16
#define FE_BAG_VBYTES_avx2 32
#define FE_BAG_VBYTES_avx512 64
#define FE_BAG_MAX_NV 8
/* A vector of stored values as their arithmetic type (fe_half.h's FE_CT, lane by lane). */
#define FE_BAG_VCT(VSUF, v) FE_HALF_CAT(FE_BAG_VCT_, VSUF)(v)
#define FE_BAG_VCT_f32(v) (v)
#define FE_BAG_VCT_f64(v) (v)
/* bfloat16: the bits are the top half of the float's */
#define FE_BAG_VCT_bf16(v)                                                                    \
    ({                                                                                        \
        typedef uint32_t fe_u_ __attribute__((vector_size(2 * sizeof(v))));                   \
        typedef float fe_f_ __attribute__((vector_size(2 * sizeof(v))));                      \
        (fe_f_)(__builtin_convertvector(v, fe_u_) << 16);                                     \
    })
/* float16: fe_f16_to_float (fe_half.h) lane by lane, the same bit operations */
#define FE_BAG_VCT_f16(v)                                                                     \
    ({                                                                                        \
        typedef uint32_t fe_u_ __attribute__((vector_size(2 * sizeof(v))));                   \
        typedef float fe_f_ __attribute__((vector_size(2 * sizeof(v))));                      \
        fe_u_ em_ = __builtin_convertvector((v) & 0x7fff, fe_u_);                             \
        fe_u_ u_ = (fe_u_)((fe_f_)(em_ << 13) * 0x1p112f);                                    \
        u_ |= (fe_u_)(em_ >= 0x7c00u) & 0x7f800000u;                                          \
        (fe_f_)(u_ | __builtin_convertvector((v) & 0x8000, fe_u_) << 16);                     \
    })
/* Stores a float vector `f` at the half pointer p: fe_float_to_f16 / fe_float_to_bf16
 * (fe_half.h) lane by lane, the same bit operations with selects for their branches.
 * Full-width types never take this path (their results go through fe_bag_put). */
#define FE_BAG_VSTORE(VSUF, p, f) FE_HALF_CAT(FE_BAG_VSTORE_, VSUF)(p, f)
#define FE_BAG_VSTORE_f32(p, f) ((void)(p), (void)(f))
#define FE_BAG_VSTORE_f64(p, f) ((void)(p), (void)(f))
#define FE_BAG_VSTORE_f16(p, f)                                                                \
    do {                                                                                      \
        typedef uint32_t fe_u_ __attribute__((vector_size(sizeof(f))));                       \
        typedef float fe_f_ __attribute__((vector_size(sizeof(f))));                          \
        typedef uint16_t fe_h_ __attribute__((vector_size(sizeof(f) / 2)));                   \
        fe_u_ x_ = (fe_u_)(f), sign_ = (x_ >> 16) & 0x8000u;                                  \
        x_ &= 0x7fffffffu;                                                                    \
        fe_u_ special_ = (fe_u_)(x_ >= 0x7f800000u), nan_ = (fe_u_)(x_ > 0x7f800000u);        \
        fe_u_ big_ = (fe_u_)(x_ >= 0x477ff000u), small_ = (fe_u_)(x_ < 0x38800000u);          \
        fe_u_ r_ = (x_ + 0xc8000fffu + ((x_ >> 13) & 1u)) >> 13;                              \
        fe_u_ sub_ = (fe_u_)((fe_f_)x_ + 0.5f) - 0x3f000000u;                                 \
        fe_u_ inf_ = (nan_ & (0x7e00u | ((x_ >> 13) & 0x3ffu))) | (~nan_ & 0x7c00u);         \
        r_ = (small_ & sub_) | (~small_ & r_);                                                \
        r_ = (big_ & 0x7c00u) | (~big_ & r_);                                                 \
        r_ = (special_ & inf_) | (~special_ & r_);                                            \
        fe_h_ h_ = __builtin_convertvector(r_ | sign_, fe_h_);                                \
        memcpy((p), &h_, sizeof h_);                                                          \
    } while (0)
#define FE_BAG_VSTORE_bf16(p, f)                                                               \
    do {                                                                                      \
        typedef uint32_t fe_u_ __attribute__((vector_size(sizeof(f))));                       \
        typedef uint16_t fe_h_ __attribute__((vector_size(sizeof(f) / 2)));                   \
        fe_u_ x_ = (fe_u_)(f);                                                                \
        fe_u_ nan_ = (fe_u_)((x_ & 0x7fffffffu) > 0x7f800000u);                               \
        fe_u_ r_ = (nan_ & ((x_ >> 16) | 0x40u)) | (~nan_ & ((x_ + 0x7fffu + ((x_ >> 16) & 1u)) >> 16)); \
        fe_h_ h_ = __builtin_convertvector(r_, fe_h_);                                        \
        memcpy((p), &h_, sizeof h_);                                                          \
    } while (0)

#define FE_IMPL "bag_block_impl.h"
#define FE_EACH_VALUE
#define FE_EACH_HALF
#define FE_EACH_INDEX
#define FE_SIMD_AVX2 "avx2,fma"
#define FE_SIMD_BODY "fe_instantiate.h"
#include "fe_simd_clones.h"
#include "fe_instantiate_end.h"

/* 1 if bounds[0..n_bags] start at 0, never decrease and end at n_ids. */
int fe_bag_bounds_ok(const int64_t *bounds, int64_t n_bags, int64_t n_ids)
{
    if (n_bags < 0 || bounds[0] != 0 || bounds[n_bags] != n_ids)
        return 0;
    for (int64_t b = 0; b < n_bags; b++)
        if (bounds[b + 1] < bounds[b])
            return 0;
    return 1;
}

#define FE_IMPL "bag_impl.h"
#define FE_EACH_VALUE
#define FE_EACH_HALF
#define FE_EACH_INDEX
#include "fe_instantiate.h"
#include "fe_instantiate_end.h"

#define FE_IMPL "bag_grad_impl.h"
#define FE_EACH_VALUE
#include "fe_instantiate.h"
#include "fe_instantiate_end.h"
