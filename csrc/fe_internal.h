/* Helpers shared by the C files; not part of the public contract in fastembed.h. */
#ifndef FE_INTERNAL_H
#define FE_INTERNAL_H

#include "fastembed.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* The statements once over the whole of [0, n), as thread 0 (the one-thread path). */
#define FE_SERIAL_CHUNK(n, ...)                                                             \
    {                                                                                        \
        int64_t lo = 0, hi = (n);                                                            \
        int t = 0;                                                                           \
        (void)t;                                                                             \
        __VA_ARGS__                                                                          \
    }

/* Run the statements `...` over [0, n) split in contiguous chunks, one per thread, with the
 * chunk in the int64_t variables `lo` and `hi` and its number (0 <= t < nt) in int `t`.
 * With one planned thread the statements run directly: entering even a serial OpenMP
 * region costs ~0.5 us, which a 100-id call feels.
 * `nt` must come from fe_plan_threads (1 in a forked child, where a parallel region hangs). */
#ifdef _OPENMP
#define FE_PARALLEL_CHUNKS(nt, n, ...)                                                      \
    do {                                                                                     \
        if ((nt) <= 1) {                                                                     \
            FE_SERIAL_CHUNK(n, __VA_ARGS__)                                                  \
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
        (void)(nt);                                                                          \
        FE_SERIAL_CHUNK(n, __VA_ARGS__)                                                      \
    } while (0)
#endif

/* As FE_PARALLEL_CHUNKS, but [0, n) is cut into many chunks of `grain` items (the last one
 * shorter) that threads take in turn as they finish (a dynamic schedule): a thread that the
 * OS deschedules, or that lands on a core another process keeps busy, leaves its share to the
 * others instead of making them wait at the end. The statements run once per chunk; `t`
 * names the running thread, and one thread may run several chunks, so per-thread slots must
 * be merged (min, max, or), never overwritten. Use fe_grain for `grain`. */
#ifdef _OPENMP
#define FE_PARALLEL_DYNAMIC(nt, n, grain, ...)                                              \
    do {                                                                                     \
        if ((nt) <= 1) {                                                                     \
            FE_SERIAL_CHUNK(n, __VA_ARGS__)                                                  \
        } else {                                                                             \
            const int64_t fe_n_ = (n), fe_g_ = (grain);                                      \
            const int64_t fe_nc_ = (fe_n_ + fe_g_ - 1) / fe_g_;                              \
            _Pragma("omp parallel for num_threads(nt) schedule(dynamic, 1)")               \
            for (int64_t fe_c_ = 0; fe_c_ < fe_nc_; fe_c_++) {                               \
                int64_t lo = fe_c_ * fe_g_;                                                  \
                int64_t hi = fe_n_ - lo < fe_g_ ? fe_n_ : lo + fe_g_;                        \
                int t = omp_get_thread_num();                                                \
                (void)t;                                                                     \
                __VA_ARGS__                                                                  \
            }                                                                                \
        }                                                                                    \
    } while (0)
#else
#define FE_PARALLEL_DYNAMIC(nt, n, grain, ...) FE_PARALLEL_CHUNKS(nt, n, __VA_ARGS__)
#endif

/* An entry point's status from fe_first_bad_id's answer: FE_ERR_INDEX with *bad_pos set
 * when an id is out of range (checked before anything is written), else FE_OK. */
static inline fe_status fe_index_status(int64_t bad, int64_t *bad_pos)
{
    if (bad < 0)
        return FE_OK;
    *bad_pos = bad;
    return FE_ERR_INDEX;
}

/* The end of an entry point's phase 1 (before anything is written): FE_ERR_OVERFLOW if
 * `too_big` (its size products do not fit in int64_t), else FE_ERR_INDEX with *bad_pos the
 * first position whose id is outside [0, n_rows) (the same for any thread count), else
 * FE_OK. Bodies call FE_NAME(fe_check_ids, FE_ISUF). */
static inline fe_status fe_check_ids_i32(int too_big, const int32_t *ids, int64_t n_ids,
                                         int64_t n_rows, int n_threads, int64_t *bad_pos)
{
    if (too_big)
        return FE_ERR_OVERFLOW;
    return fe_index_status(fe_first_bad_id_i32(ids, n_ids, n_rows, n_threads), bad_pos);
}
static inline fe_status fe_check_ids_i64(int too_big, const int64_t *ids, int64_t n_ids,
                                         int64_t n_rows, int n_threads, int64_t *bad_pos)
{
    if (too_big)
        return FE_ERR_OVERFLOW;
    return fe_index_status(fe_first_bad_id_i64(ids, n_ids, n_rows, n_threads), bad_pos);
}

/* Items per chunk of FE_PARALLEL_DYNAMIC for n items moving `work_bytes` in all over `nt`
 * threads: up to FE_CHUNKS_PER_THREAD chunks a thread, none under FE_CHUNK_MIN_BYTES of work
 * (a chunk costs one atomic add, and a gather chunk restarts its prefetch), rounded up to a
 * multiple of `align` (>= 1) items. */
#define FE_CHUNKS_PER_THREAD 32
#define FE_CHUNK_MIN_BYTES (128 * 1024)
static inline int64_t fe_grain(int64_t n, int64_t work_bytes, int nt, int64_t align)
{
    int64_t chunks = (int64_t)nt * FE_CHUNKS_PER_THREAD;
    int64_t by_size = work_bytes / FE_CHUNK_MIN_BYTES;
    if (chunks > by_size)
        chunks = by_size;
    if (chunks < nt)
        chunks = nt;
    int64_t g = n / chunks + (n % chunks != 0);
    g = (g + align - 1) / align * align;
    return g > 0 ? g : align;
}

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

#if defined(__GNUC__)
#define FE_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define FE_ALWAYS_INLINE inline
#endif

/* The statements `...` with the int64_t variable `width` (a row width in items of `unit`
 * bytes) redeclared as a compile-time constant when the row is one of the common sizes,
 * 64 B to 1 KB (one to sixteen cache lines), else as it is: a loop body written once as a
 * FE_ALWAYS_INLINE function of the width, called here, unrolls and vectorises for each.
 *     FE_CONST_WIDTH(dim, sizeof(FE_VT), fe_sum_rows(grad, dim, ...));   */
#define FE_CONST_WIDTH(width, unit, ...)                                                     \
    do {                                                                                     \
        switch (width) {                                                                     \
        case 64 / (unit): { const int64_t width = 64 / (unit); __VA_ARGS__; } break;         \
        case 128 / (unit): { const int64_t width = 128 / (unit); __VA_ARGS__; } break;       \
        case 256 / (unit): { const int64_t width = 256 / (unit); __VA_ARGS__; } break;       \
        case 512 / (unit): { const int64_t width = 512 / (unit); __VA_ARGS__; } break;       \
        case 1024 / (unit): { const int64_t width = 1024 / (unit); __VA_ARGS__; } break;     \
        default: __VA_ARGS__; break;                                                         \
        }                                                                                    \
    } while (0)

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

/* The distinct ids, ascending, in scratch memory (group.c; see fe_group_ids for the checks). */
fe_status fe_distinct_ids_i32(const int32_t *ids, int64_t n_ids, int64_t n_rows,
                              int64_t **uniq_out, int64_t *n_unique, int n_threads,
                              int64_t *bad_pos);
fe_status fe_distinct_ids_i64(const int64_t *ids, int64_t n_ids, int64_t n_rows,
                              int64_t **uniq_out, int64_t *n_unique, int n_threads,
                              int64_t *bad_pos);

/* Keras's row constraints (constraint.c): whether (kind, a, b, rate) is valid, and the
 * projection of one row in place. The optimizer step (opt_step.c) projects each row it
 * updated while the row is in cache. */
int fe_cons_params_ok(int kind, double a, double b, double rate);
/* Declares fe_cons_row_{f32,f64,f16,bf16}. */
#define FE_DECL_CONS_ROW(v, VT, AT) \
    void fe_cons_row_##v(VT *row, int64_t dim, int kind, double a, double b, double rate);
FE_FOR_VALUE(FE_DECL_CONS_ROW)

/* The optimizer update of grouped rows (optim.c), phase 2 of fe_opt_step and fe_opt_apply:
 * rows[g] is group g's row (strictly increasing), group skip_group (< 0: none) is not
 * updated; touched row r's (skip_group left out) summed gradient is values row r. It checks
 * o, the constraint and rows (FE_ERR_INDEX, fault->pos = the first bad g) before its first
 * write. A half table's gradient and state are float.
 * Declares fe_opt_update_{f32,f64,f16,bf16}. */
#define FE_DECL_OPT_UPDATE(v, VT, AT)                                                         \
    fe_status fe_opt_update_##v(char *table, int64_t n_rows, int64_t dim, int64_t row_stride, \
                                const int64_t *rows, int64_t n_groups, int64_t skip_group,    \
                                const AT *values, AT *s1, AT *s2, int64_t state_stride,       \
                                const fe_opt *o, int n_threads, fe_opt_fault *fault);
FE_FOR_VALUE(FE_DECL_OPT_UPDATE)

/* SplitMix64, the counter-based generator of the random fills (init.c) and of the
 * optimizers' stochastic rounding (optim.c): fe_mix64 is its finalizer, fe_draw(key, c) draw
 * c of the stream `key` (c < 2**64 - 1), a pure function of (key, c). */
#define FE_GOLDEN 0x9E3779B97F4A7C15ULL

static inline uint64_t fe_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static inline uint64_t fe_draw(uint64_t key, uint64_t c)
{
    return fe_mix64(key + (c + 1) * FE_GOLDEN);
}

/* The first bag (or group) starting at or after position `pos`: bags are handed to chunks
 * by where they start, so that each chunk pools about the same number of ids however
 * unequal the bags are (bag.c, quant.c). */
static inline int64_t fe_first_bag_from(const int64_t *bounds, int64_t n_bags, int64_t n_ids,
                                        int64_t pos)
{
    return pos >= n_ids ? n_bags : fe_lower_bound(bounds, n_bags, pos);
}

#endif /* FE_INTERNAL_H */
