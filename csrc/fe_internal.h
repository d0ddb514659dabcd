/* Helpers shared by the C files; not part of the public contract in fastembed.h. */
#ifndef FE_INTERNAL_H
#define FE_INTERNAL_H

#include "fastembed.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* Run the statements `...` over [0, n) split in contiguous chunks, one per thread, with the
 * chunk in the int64_t variables `lo` and `hi` and its number (0 <= t < nt) in int `t`. With one planned thread the statements run
 * directly: entering even a serial OpenMP region costs ~0.5 us, which a 100-id call feels.
 * `nt` must come from fe_plan_threads (1 in a forked child, where a parallel region hangs). */
#ifdef _OPENMP
#define FE_PARALLEL_CHUNKS(nt, n, ...)                                                      \
    do {                                                                                     \
        if ((nt) <= 1) {                                                                     \
            int64_t lo = 0, hi = (n);                                                        \
            int t = 0;                                                                       \
            (void)t;                                                                         \
            __VA_ARGS__                                                                      \
        } else {                                                                             \
            _Pragma("omp parallel num_threads(nt)")                                         \
            {                                                                                \
                int64_t lo, hi;                                                              \
                int t = omp_get_thread_num();                                                \
                (void)t;                                                                     \
                fe_chunk((n), omp_get_num_threads(), t, &lo, &hi);                           \
                __VA_ARGS__                                                                  \
            }                                                                                \
        }                                                                                    \
    } while (0)
#else
#define FE_PARALLEL_CHUNKS(nt, n, ...)                                                      \
    do {                                                                                     \
        int64_t lo = 0, hi = (n);                                                            \
        int t = 0;                                                                           \
        (void)t;                                                                             \
        (void)(nt);                                                                          \
        __VA_ARGS__                                                                          \
    } while (0)
#endif

/* Token pasting for the *_impl.h bodies, which are included once per type. */
#define FE_CAT_(a, b) a##b
#define FE_CAT(a, b) FE_CAT_(a, b)
#define FE_NAME(base, suffix) FE_CAT(FE_CAT(base, _), suffix)
#define FE_NAME3(base, s1, s2) FE_NAME(FE_NAME(base, s1), s2)

#if defined(__GNUC__)
#define FE_PREFETCH(p) __builtin_prefetch((const void *)(p), 0, 3)
#else
#define FE_PREFETCH(p) ((void)0)
#endif

#if defined(__x86_64__) && defined(__GNUC__)
#define FE_X86 1
#endif

/* Call the SIMD variant FN_base/_avx2/_avx512 chosen at run time (`level`, from
 * fe_simd_level()) with the parenthesised ARGS. */
#ifdef FE_X86
#define FE_SIMD_DISPATCH(FN, ARGS)                                                            \
    do {                                                                                      \
        if (level == 2)                                                                       \
            FE_NAME(FN, avx512) ARGS;                                                         \
        else if (level == 1)                                                                  \
            FE_NAME(FN, avx2) ARGS;                                                           \
        else                                                                                  \
            FE_NAME(FN, base) ARGS;                                                           \
    } while (0)
#else
#define FE_SIMD_DISPATCH(FN, ARGS) FE_NAME(FN, base) ARGS
#endif

/* The first k in [0, n) with a[k] >= target, for ascending a (n if none): how chunks of
 * positions map to groups, bags and sparse rows. A malformed `a` only makes a split uneven;
 * every access stays in bounds. */
static inline int64_t fe_lower_bound(const int64_t *a, int64_t n, int64_t target)
{
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (a[mid] < target)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Scratch memory for kernels (scratch.c): fe_scratch_alloc returns `bytes` of uninitialised
 * memory or NULL; large blocks are 2 MB aligned and advised as transparent huge pages, so
 * first touch costs one fault per 2 MB instead of one per 4 KB (measured: 4.9k faults and
 * ~7 ms of system time per 1M-id grouping with plain malloc). Free with fe_scratch_free. */
void *fe_scratch_alloc(int64_t bytes);
void fe_scratch_free(void *p);

/* The distinct ids, ascending, in scratch memory (group.c; see fe_group_ids for the checks). */
fe_status fe_distinct_ids_i32(const int32_t *ids, int64_t n_ids, int64_t n_rows,
                              int64_t **uniq_out, int64_t *n_unique, int n_threads,
                              int64_t *bad_pos);
fe_status fe_distinct_ids_i64(const int64_t *ids, int64_t n_ids, int64_t n_rows,
                              int64_t **uniq_out, int64_t *n_unique, int n_threads,
                              int64_t *bad_pos);

#endif /* FE_INTERNAL_H */
