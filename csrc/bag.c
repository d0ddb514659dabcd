/* Pooled lookup (embedding bags): the sum, mean, max or sqrtn of the rows in each bag. */
#include "fe_internal.h"

#include <math.h>
#include <stdlib.h>

/* Columns pooled per pass over a bag: the double accumulator is 2 KB, in L1. */
#define FE_BAG_BLOCK 256

#define FE_SIMD_AVX2 "avx2,fma"
#define FE_SIMD_BODY "bag_types.h"
#include "fe_simd_clones.h"

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

#define FE_BAG_DISPATCH(VSUF2, ISUF, ARGS)                                                    \
    do {                                                                                      \
        if (acc64)                                                                            \
            FE_SIMD_DISPATCH(FE_NAME(FE_NAME3(fe_bag_block, VSUF2, ISUF), acc64), ARGS);      \
        else                                                                                  \
            FE_SIMD_DISPATCH(FE_NAME(FE_NAME3(fe_bag_block, VSUF2, ISUF), accvt), ARGS);      \
    } while (0);



#define FE_LOOKUP_BAG_ENTRY(VT, VSUF2, IDX, ISUF)                                             \
    fe_status FE_NAME3(fe_lookup_bag, VSUF2, ISUF)(                                           \
        const char *table, int64_t n_rows, int64_t dim, int64_t row_stride, const IDX *ids,   \
        int64_t n_ids, const int64_t *bounds, int64_t n_bags, int mode, const VT *psw,        \
        int64_t padding_idx, VT *out, int64_t *argmax, int n_threads, int64_t *bad_pos)       \
    {                                                                                         \
        int acc64 = (mode & FE_BAG_ACC64) != 0 || sizeof(VT) == sizeof(double);              \
        mode &= ~FE_BAG_ACC64;                                                                \
        if (n_rows < 0 || dim < 0 || n_ids < 0 || mode < FE_BAG_SUM || mode > FE_BAG_SQRTN   \
            || (psw && mode == FE_BAG_MAX) || (argmax && mode != FE_BAG_MAX)                  \
            || !fe_bag_bounds_ok(bounds, n_bags, n_ids))                                      \
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
        int64_t grain = fe_grain(n_ids, (n_ids + n_bags) * dim * (int64_t)sizeof(VT), nt, 1);  \
        FE_PARALLEL_DYNAMIC(nt, n_ids, grain, {                                               \
            int64_t b_lo = lo == 0 ? 0 : fe_first_bag_from(bounds, n_bags, n_ids, lo);        \
            int64_t b_hi = hi >= n_ids ? n_bags : fe_first_bag_from(bounds, n_bags, n_ids, hi);\
            for (int64_t c = 0; c < dim; c += FE_BAG_BLOCK) {                                 \
                int64_t c_hi = dim - c < FE_BAG_BLOCK ? dim : c + FE_BAG_BLOCK;               \
                FE_BAG_DISPATCH(VSUF2, ISUF, (table, n_rows, dim, row_stride, ids, n_ids, bounds,\
                                              b_lo, b_hi, mode, psw, padding_idx, out, argmax,\
                                              c,                                              \
                                              c_hi))                                          \
            }                                                                                 \
        });                                                                                   \
        return FE_OK;                                                                         \
    }

FE_LOOKUP_BAG_ENTRY(float, f32, int32_t, i32)
FE_LOOKUP_BAG_ENTRY(float, f32, int64_t, i64)
FE_LOOKUP_BAG_ENTRY(double, f64, int32_t, i32)
FE_LOOKUP_BAG_ENTRY(double, f64, int64_t, i64)

/* ---- the backward: gradients of lookup_bag ---------------------------------------------- */


/* Rows of grad prefetched this many grouped positions ahead. */
#define FE_GRAD_PF_DIST 16

#define FE_BAG_GRAD_ENTRY(VT, VSUF2)                                                          \
    fe_status FE_NAME(fe_bag_grad, VSUF2)(                                                    \
        const VT *grad, int64_t n_bags, int64_t dim, const int64_t *bag_sorted,               \
        const double *scale_sorted, const int64_t *argmax, int64_t n_ids, const int64_t *perm,\
        const int64_t *starts, int64_t n_groups, int64_t skip_group, int scale_by_count,      \
        VT *values, int n_threads)                                                            \
    {                                                                                         \
        if (n_bags < 0 || dim < 0 || n_ids < 0 || n_groups < 0                                \
            || !fe_bag_bounds_ok(starts, n_groups, n_ids))                                    \
            return FE_ERR_VALUE;                                                              \
        if (dim > 0 && (n_bags > INT64_MAX / dim || n_groups > INT64_MAX / dim))              \
            return FE_ERR_OVERFLOW;                                                           \
        if (n_groups == 0 || dim == 0)                                                        \
            return FE_OK;                                                                     \
        int nt = fe_plan_threads(n_threads, n_ids * dim * (int64_t)sizeof(VT));               \
        if (n_ids == 0)                                                                       \
            nt = 1;                                                                           \
        int bad = 0;                                                                          \
        const int64_t row_bytes = dim * (int64_t)sizeof(VT);                                  \
        int64_t grain = fe_grain(n_ids, n_ids * dim * (int64_t)sizeof(VT), nt, 1);              \
        FE_PARALLEL_DYNAMIC(nt, n_ids, grain, {                                               \
            int64_t g_lo = lo == 0 ? 0 : fe_first_bag_from(starts, n_groups, n_ids, lo);   \
            int64_t g_hi = hi >= n_ids ? n_groups                                             \
                                       : fe_first_bag_from(starts, n_groups, n_ids, hi);   \
            double *acc = (double *)malloc((size_t)dim * sizeof(double));                     \
            if (!acc) {                                                                       \
                _Pragma("omp atomic write") bad = 2;                                          \
            } else {                                                                          \
                for (int64_t g = g_lo; g < g_hi; g++) {                                       \
                    if (g == skip_group)                                                      \
                        continue;                                                             \
                    for (int64_t d = 0; d < dim; d++)                                         \
                        acc[d] = 0;                                                           \
                    for (int64_t k = starts[g]; k < starts[g + 1]; k++) {                     \
                        if (k + FE_GRAD_PF_DIST < n_ids) {                                    \
                            uint64_t pb = (uint64_t)bag_sorted[k + FE_GRAD_PF_DIST];          \
                            if (pb < (uint64_t)n_bags) {                                      \
                                uintptr_t a = (uintptr_t)(grad + (int64_t)pb * dim);          \
                                uintptr_t e = a + (uintptr_t)(row_bytes < 1024 ? row_bytes : 1024);\
                                for (a &= ~(uintptr_t)63; a < e; a += 64)                     \
                                    FE_PREFETCH((const char *)a);                             \
                            }                                                                 \
                        }                                                                     \
                        uint64_t b = (uint64_t)bag_sorted[k];                                 \
                        if (b >= (uint64_t)n_bags) { /* unreachable for internal groupings */ \
                            _Pragma("omp atomic write") bad = 1;                              \
                            continue;                                                         \
                        }                                                                     \
                        const VT *src = grad + (int64_t)b * dim;                              \
                        if (argmax) { /* max: each column goes to the row that won it */      \
                            const int64_t *won = argmax + (int64_t)b * dim;                   \
                            int64_t p = perm[k];                                              \
                            for (int64_t d = 0; d < dim; d++)                                 \
                                acc[d] += won[d] == p ? (double)src[d] : 0.0;                 \
                        } else {                                                              \
                            double s = scale_sorted ? scale_sorted[k] : 1.0;                  \
                            for (int64_t d = 0; d < dim; d++)                                 \
                                acc[d] += s * (double)src[d];                                 \
                        }                                                                     \
                    }                                                                         \
                    int64_t r = g - (skip_group >= 0 && g > skip_group);                      \
                    double count = scale_by_count ? (double)(starts[g + 1] - starts[g]) : 1.0;\
                    for (int64_t d = 0; d < dim; d++)                                         \
                        values[r * dim + d] = (VT)(acc[d] / count);                           \
                }                                                                             \
                free(acc);                                                                    \
            }                                                                                 \
        });                                                                                   \
        return bad == 2 ? FE_ERR_NOMEM : bad ? FE_ERR_VALUE : FE_OK;                          \
    }

FE_BAG_GRAD_ENTRY(float, f32)
FE_BAG_GRAD_ENTRY(double, f64)

#define FE_BAG_DOTS_ENTRY(VT, VSUF2, IDX, ISUF)                                               \
    fe_status FE_NAME3(fe_bag_dots, VSUF2, ISUF)(                                             \
        const char *table, int64_t n_rows, int64_t dim, int64_t row_stride, const IDX *ids,   \
        int64_t n_ids, const int64_t *bag_of, const VT *grad, int64_t n_bags, double *dots,   \
        int n_threads)                                                                        \
    {                                                                                         \
        if (n_rows < 0 || dim < 0 || n_ids < 0 || n_bags < 0)                                 \
            return FE_ERR_VALUE;                                                              \
        if (dim > 0 && (n_ids > INT64_MAX / dim || n_bags > INT64_MAX / dim))                 \
            return FE_ERR_OVERFLOW;                                                           \
        int bad = 0;                                                                          \
        int nt = fe_plan_threads(n_threads, n_ids * dim * (int64_t)sizeof(VT));               \
        int64_t grain = fe_grain(n_ids, n_ids * dim * (int64_t)sizeof(VT), nt, 1);              \
        FE_PARALLEL_DYNAMIC(nt, n_ids, grain, {                                               \
            for (int64_t p = lo; p < hi; p++) {                                               \
                uint64_t id = (uint64_t)(int64_t)ids[p], b = (uint64_t)bag_of[p];             \
                if (id >= (uint64_t)n_rows || b >= (uint64_t)n_bags) {                        \
                    _Pragma("omp atomic write") bad = 1;                                      \
                    dots[p] = 0;                                                              \
                    continue;                                                                 \
                }                                                                             \
                const VT *row = (const VT *)(table + (int64_t)id * row_stride);               \
                const VT *g = grad + (int64_t)b * dim;                                        \
                double s = 0;                                                                 \
                for (int64_t d = 0; d < dim; d++)                                             \
                    s += (double)row[d] * (double)g[d];                                       \
                dots[p] = s;                                                                  \
            }                                                                                 \
        });                                                                                   \
        return bad ? FE_ERR_VALUE : FE_OK;                                                    \
    }

FE_BAG_DOTS_ENTRY(float, f32, int32_t, i32)
FE_BAG_DOTS_ENTRY(float, f32, int64_t, i64)
FE_BAG_DOTS_ENTRY(double, f64, int32_t, i32)
FE_BAG_DOTS_ENTRY(double, f64, int64_t, i64)
