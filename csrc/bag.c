/* Pooled lookup (embedding bags): the sum, mean, max or sqrtn of the rows in each bag. */
#include "fe_internal.h"

#include <math.h>

/* Columns pooled per pass over a bag: the double accumulator is 2 KB, in L1. */
#define FE_BAG_BLOCK 256

#define FE_TARGET
#define FE_SIMD base
#include "bag_types.h"
#undef FE_TARGET
#undef FE_SIMD

#ifdef FE_X86
#define FE_TARGET __attribute__((target("avx2,fma")))
#define FE_SIMD avx2
#include "bag_types.h"
#undef FE_TARGET
#undef FE_SIMD
#define FE_TARGET __attribute__((target("avx512f")))
#define FE_SIMD avx512
#include "bag_types.h"
#undef FE_TARGET
#undef FE_SIMD
#endif

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

/* The first bag starting at or after id position `pos`: bags are handed to threads by
 * where they start, so that each thread pools about the same number of ids however
 * unequal the bags are. */
static int64_t fe_first_bag_from(const int64_t *bounds, int64_t n_bags, int64_t n_ids,
                                 int64_t pos)
{
    if (pos >= n_ids)
        return n_bags;
    int64_t lo = 0, hi = n_bags;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (bounds[mid] < pos)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

#ifdef FE_X86
#define FE_BAG_DISPATCH(VSUF2, ISUF, ARGS)                                                    \
    if (level == 2)                                                                           \
        FE_NAME(FE_NAME3(fe_bag_block, VSUF2, ISUF), avx512) ARGS;                            \
    else if (level == 1)                                                                      \
        FE_NAME(FE_NAME3(fe_bag_block, VSUF2, ISUF), avx2) ARGS;                              \
    else                                                                                      \
        FE_NAME(FE_NAME3(fe_bag_block, VSUF2, ISUF), base) ARGS;
#else
#define FE_BAG_DISPATCH(VSUF2, ISUF, ARGS) FE_NAME(FE_NAME3(fe_bag_block, VSUF2, ISUF), base) ARGS;
#endif



#define FE_LOOKUP_BAG_ENTRY(VT, VSUF2, IDX, ISUF)                                             \
    fe_status FE_NAME3(fe_lookup_bag, VSUF2, ISUF)(                                           \
        const char *table, int64_t n_rows, int64_t dim, int64_t row_stride, const IDX *ids,   \
        int64_t n_ids, const int64_t *bounds, int64_t n_bags, int mode, const VT *psw,        \
        int64_t padding_idx, VT *out, int n_threads, int64_t *bad_pos)                        \
    {                                                                                         \
        if (n_rows < 0 || dim < 0 || n_ids < 0 || mode < FE_BAG_SUM || mode > FE_BAG_SQRTN   \
            || (psw && mode == FE_BAG_MAX) || !fe_bag_bounds_ok(bounds, n_bags, n_ids))       \
            return FE_ERR_VALUE;                                                              \
        if (dim > 0 && (n_ids > INT64_MAX / dim || n_bags > INT64_MAX / dim))                 \
            return FE_ERR_OVERFLOW;                                                           \
        int64_t bad = FE_NAME(fe_first_bad_id, ISUF)(ids, n_ids, n_rows, n_threads);         \
        if (bad >= 0) {                                                                       \
            *bad_pos = bad;                                                                   \
            return FE_ERR_INDEX;                                                              \
        }                                                                                     \
        if (n_bags == 0 || dim == 0)                                                          \
            return FE_OK;                                                                     \
        int level = fe_simd_level();                                                          \
        int nt = fe_plan_threads(n_threads, (n_ids + n_bags) * dim * (int64_t)sizeof(VT));    \
        if (n_ids == 0)                                                                       \
            nt = 1; /* only empty bags: zeros */                                              \
        FE_PARALLEL_CHUNKS(nt, n_ids, {                                                       \
            int64_t b_lo = lo == 0 ? 0 : fe_first_bag_from(bounds, n_bags, n_ids, lo);        \
            int64_t b_hi = hi >= n_ids ? n_bags : fe_first_bag_from(bounds, n_bags, n_ids, hi);\
            for (int64_t c = 0; c < dim; c += FE_BAG_BLOCK) {                                 \
                int64_t c_hi = dim - c < FE_BAG_BLOCK ? dim : c + FE_BAG_BLOCK;               \
                FE_BAG_DISPATCH(VSUF2, ISUF, (table, n_rows, dim, row_stride, ids, n_ids, bounds,\
                                              b_lo, b_hi, mode, psw, padding_idx, out, c,     \
                                              c_hi))                                          \
            }                                                                                 \
        });                                                                                   \
        return FE_OK;                                                                         \
    }

FE_LOOKUP_BAG_ENTRY(float, f32, int32_t, i32)
FE_LOOKUP_BAG_ENTRY(float, f32, int64_t, i64)
FE_LOOKUP_BAG_ENTRY(double, f64, int32_t, i32)
FE_LOOKUP_BAG_ENTRY(double, f64, int64_t, i64)
