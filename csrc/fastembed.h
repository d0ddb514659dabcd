/* fastembed.h: the contract of every C kernel.
 *
 * Plain C99 + OpenMP; nothing here knows about Python. Conventions shared by all kernels:
 *   - sizes and strides are int64_t; strides are in bytes and may be negative;
 *   - every id is bounds-checked with one unsigned compare, (uint64_t)id >= (uint64_t)n_rows,
 *     even when the caller validated it already: memory safety never depends on the caller;
 *   - a kernel returns an fe_status; on FE_ERR_INDEX it stores in *bad_pos the first
 *     (lowest) flat position whose id is out of range, whatever the thread count;
 *   - n_threads is the most threads a call may use; fe_plan_threads() lowers it for small
 *     work and to 1 in a process forked after OpenMP started (GNU libgomp would hang);
 *   - parallel loops never return early: they record the first bad position and the kernel
 *     reports it after the loop;
 *   - in-place kernels are two-phase: every check happens before the first write, so a call
 *     that fails leaves every array bit-identical.
 */
#ifndef FASTEMBED_H
#define FASTEMBED_H

#include <stdint.h>

typedef enum {
    FE_OK = 0,
    FE_ERR_INDEX = 1,    /* an id is out of range: *bad_pos names the first one */
    FE_ERR_VALUE = 2,    /* a size, offset or hyperparameter is invalid */
    FE_ERR_OVERFLOW = 3, /* a size product does not fit in int64_t */
    FE_ERR_NOMEM = 4,    /* a scratch allocation failed */
    FE_ERR_NONFINITE = 5 /* a value that must be finite is not: *bad_pos names the first */
} fe_status;

/* ---- the type lists ------------------------------------------------------------------- *
 * Most kernels exist once per value type (suffixes f32, f64, f16, bf16) and often also per
 * index type (i32, i64): symbols fe_<kernel>_<value>[_<index>]. Such a family's prototype is
 * written once, as a macro FE_DECL_<KERNEL>, and declared for every type by one of these
 * lists (the comment above it names the symbols). An entry X(v, VT, AT[, i, IT]) gives
 *   v, VT   the value suffix and the table's C type (half tables: uint16_t bit patterns,
 *           fe_half.h);
 *   AT      the type of the gradients and optimizer state that go with it (float for the
 *           half types);
 *   i, IT   the index suffix and C type.
 * fastembed/_kernels.pxd.in declares the same families over the same lists. */
#define FE_FOR_VALUE(X)                                                                       \
    X(f32, float, float) X(f64, double, double) X(f16, uint16_t, float) X(bf16, uint16_t, float)
#define FE_FOR_VALUE_INDEX(X)                                                                 \
    X(f32, float, float, i32, int32_t) X(f32, float, float, i64, int64_t)                     \
    X(f64, double, double, i32, int32_t) X(f64, double, double, i64, int64_t)                 \
    X(f16, uint16_t, float, i32, int32_t) X(f16, uint16_t, float, i64, int64_t)               \
    X(bf16, uint16_t, float, i32, int32_t) X(bf16, uint16_t, float, i64, int64_t)

/* ---- threads.c: thread policy and build facts ------------------------------------------ */

/* How many threads a call moving about `work_bytes` may use, given `requested` (>= 1):
 * 1 below FE_SERIAL_BYTES of work, 1 in a forked child of a process that ran OpenMP,
 * 1 without OpenMP, else min(`requested`, FE_MAX_THREADS). */
#define FE_SERIAL_BYTES (256 * 1024)
#define FE_MAX_THREADS 256 /* fe_plan_threads never returns more: per-thread scratch is fixed */
int fe_plan_threads(int requested, int64_t work_bytes);
int fe_openmp_enabled(void);
int fe_omp_max_threads(void);   /* omp_get_max_threads(): honours OMP_NUM_THREADS, threadpoolctl */
const char *fe_openmp_runtime(void);
const char *fe_compiler(void);    /* the compiler that built the kernels, with its version */
int fe_in_forked_child(void);

/* SIMD paths: 0 baseline x86-64/other, 1 AVX2, 2 AVX-512F. fe_simd_level() is the path the
 * kernels use: the best the CPU supports, capped by FASTEMBED_SIMD=baseline|avx2|avx512. */
int fe_simd_level(void);
int fe_simd_cpu_level(void);
const char *fe_simd_name(int level);
const char *fe_simd_compiled(void);

/* Split [0, n) into `nt` contiguous chunks; chunk `t` is [*lo, *hi). */
void fe_chunk(int64_t n, int nt, int t, int64_t *lo, int64_t *hi);

/* ---- check.c: id validation -------------------------------------------------------------- *
 *   for i in range(n_ids): if not (0 <= ids[i] < n_rows): return i
 *   return -1
 * Returns the first bad position (the same for any thread count) or -1. */
int64_t fe_first_bad_id_i32(const int32_t *ids, int64_t n_ids, int64_t n_rows, int n_threads);
int64_t fe_first_bad_id_i64(const int64_t *ids, int64_t n_ids, int64_t n_rows, int n_threads);

/* ---- lookup.c: embedding lookup (a row gather) ------------------------------------------- *
 *   for i in range(n_ids):
 *       out[i, :] = table[ids[i], :]            # row_bytes bytes per row
 * table:      n_rows rows of row_bytes bytes, row r at table + r * row_stride (may be < 0);
 *             may be NULL when n_rows == 0 or row_bytes == 0.
 * out:        n_ids * row_bytes bytes, C-contiguous, not overlapping table or ids.
 * Bad input:  any id outside [0, n_rows) -> FE_ERR_INDEX, *bad_pos = first such position,
 *             out untouched (ids are all checked before the first row is copied).
 *             n_ids * row_bytes overflowing int64 -> FE_ERR_OVERFLOW.
 * Threads:    ids split in contiguous chunks, one per thread; bit-identical for any count.
 * Value-type agnostic: a gather copies bytes, so float32 and float64 share one body. */
fe_status fe_lookup_i32(const char *table, int64_t n_rows, int64_t row_bytes, int64_t row_stride,
                        const int32_t *ids, int64_t n_ids, char *out, int n_threads,
                        int64_t *bad_pos);
fe_status fe_lookup_i64(const char *table, int64_t n_rows, int64_t row_bytes, int64_t row_stride,
                        const int64_t *ids, int64_t n_ids, char *out, int n_threads,
                        int64_t *bad_pos);

/* ---- bag.c: pooled lookup (embedding bags) ---------------------------------------------- *
 *   for b in range(n_bags):
 *       rows = [k for k in range(bounds[b], bounds[b + 1]) if ids[k] != padding_idx]
 *       SUM:   out[b] = sum(w[k] * table[ids[k]] for k in rows)        # w = psw or 1
 *       MEAN:  out[b] = SUM / sum(w[k] for k in rows)                  # no psw: / len(rows)
 *       SQRTN: out[b] = SUM / sqrt(sum(w[k]**2 for k in rows))         # no psw: / sqrt(len)
 *       MAX:   out[b] = elementwise max of the rows (the first maximum; a NaN propagates)
 *       a bag with no rows gives zeros
 * table:      n_rows rows of dim values, row r at table + r * row_stride bytes.
 * bounds:     n_bags + 1 positions into ids: bounds[0] = 0, non-decreasing, bounds[n_bags] =
 *             n_ids. psw: n_ids weights or NULL (not with MAX). padding_idx < 0: none.
 * out:        n_bags * dim values, C-contiguous, not overlapping the inputs.
 * argmax:     NULL, or (MAX only) n_bags * dim positions: the position in ids of the row
 *             each out value came from (-1 for an empty bag), for the backward.
 * Sums run in id order within a bag and are rounded once to the value type; float32 tables
 * sum in float32 unless `mode` has FE_BAG_ACC64 or'ed in (then in double, as float64 tables
 * always do). A float32 sum of a bag of n ids is within n * 2^-24 / (1 - n * 2^-24) of
 * sum(|w_k x_k|) of the exact one (recursive summation), per column.
 * Bad input:  malformed bounds, a bad mode or psw with MAX -> FE_ERR_VALUE; an id outside
 *             [0, n_rows) -> FE_ERR_INDEX, *bad_pos = first such position; out untouched.
 * Threads:    bags handed out by where they start, so each thread pools about n_ids / nt
 *             ids; each bag is one thread's: bit-identical for any count. */
enum { FE_BAG_SUM = 0, FE_BAG_MEAN = 1, FE_BAG_MAX = 2, FE_BAG_SQRTN = 3 };
#define FE_BAG_ACC64 0x100 /* or'ed into mode: accumulate float32 bags in double */
#define FE_BAG_OUT_F32 0x200 /* or'ed into mode (half tables only): out holds float32 bags */
int fe_bag_bounds_ok(const int64_t *bounds, int64_t n_bags, int64_t n_ids);
/* Declares fe_lookup_bag_{f32,f64,f16,bf16}_{i32,i64}. float16 and bfloat16 tables (fe_half.h;
 * values are uint16 bit patterns): rows and psw in the table's type, sums in float (double
 * with FE_BAG_ACC64); out in the table's type (each result rounded once from the float sum,
 * or the mean/sqrtn quotient in double rounded to float then to half), or float32 with
 * FE_BAG_OUT_F32 (then out points to n_bags * dim floats). */
#define FE_DECL_LOOKUP_BAG(v, VT, AT, i, IT)                                                  \
    fe_status fe_lookup_bag_##v##_##i(const char *table, int64_t n_rows, int64_t dim,         \
                                      int64_t row_stride, const IT *ids, int64_t n_ids,       \
                                      const int64_t *bounds, int64_t n_bags, int mode,        \
                                      const VT *psw, int64_t padding_idx, VT *out,            \
                                      int64_t *argmax, int n_threads, int64_t *bad_pos);
FE_FOR_VALUE_INDEX(FE_DECL_LOOKUP_BAG)
/* ---- group.c: stable grouping of ids (the shared first step of every backward kernel) ---- *
 *   order = stable_argsort(ids[0:n_ids])        # equal ids keep their input order
 *   uniq  = sorted distinct ids; *n_unique = len(uniq)
 *   for u in range(*n_unique):
 *       starts[u] = first k with ids[order[k]] == uniq[u]
 *   starts[*n_unique] = n_ids
 *   perm[0:n_ids] = order                       # positions into ids, grouped by id
 * So the positions of id uniq[u] are perm[starts[u] : starts[u + 1]], in input order.
 * uniq:       capacity n_ids int64 (only the first *n_unique are written).
 * starts:     capacity n_ids + 1 int64 (starts[0] = 0 is written even when n_ids == 0).
 * perm:       n_ids int64. None of the three may overlap each other or ids.
 * Bad input:  an id outside [0, n_rows) -> FE_ERR_INDEX, *bad_pos = first such position
 *             (uniq/starts/perm contents then unspecified); n_ids < 0 or n_rows < 0 ->
 *             FE_ERR_VALUE; scratch allocation failure -> FE_ERR_NOMEM.
 * Algorithm:  no comparison sort, no atomics. When n_rows <= 4 * n_ids + 65536: one stable
 *             parallel scatter of (low id bits, position) into buckets of 2**w consecutive
 *             ids (w <= 16), then each thread counting-sorts whole buckets in a cache-resident
 *             count array; time O(n_ids + n_rows). Otherwise a parallel LSD radix sort of
 *             (id, position), ceil(bits(n_rows-1) / 11) passes of per-thread digit histograms
 *             and a stable scatter, then a pass marking group starts; time O(n_ids * passes).
 *             Scratch O(n_ids) (plus O(n_rows / 2**w + threads * 2**w) counts), huge-page
 *             advised.
 * Threads:    the output is the unique stable order: identical for any thread count. */
fe_status fe_group_ids_i32(const int32_t *ids, int64_t n_ids, int64_t n_rows, int64_t *uniq,
                           int64_t *starts, int64_t *perm, int64_t *n_unique, int n_threads,
                           int64_t *bad_pos);
fe_status fe_group_ids_i64(const int64_t *ids, int64_t n_ids, int64_t n_rows, int64_t *uniq,
                           int64_t *starts, int64_t *perm, int64_t *n_unique, int n_threads,
                           int64_t *bad_pos);

/* The position of `id` in uniq[0:n_unique] (ascending, as fe_group_ids writes it), or -1:
 * the group a padding_idx falls in, which the backward kernels skip. O(log n_unique). */
int64_t fe_group_of(const int64_t *uniq, int64_t n_unique, int64_t id);

/* ---- scratch.c: scratch memory for groupings ------------------------------------------ *
 * fe_scratch_alloc returns `bytes` of uninitialised memory or NULL; large blocks are 2 MB
 * aligned and advised as transparent huge pages, so first touch costs one fault per 2 MB
 * instead of one per 4 KB (measured: 4.9k faults and ~7 ms of system time per 1M-id
 * grouping with plain malloc). Free with fe_scratch_free (NULL is a no-op). */
void *fe_scratch_alloc(int64_t bytes);
void fe_scratch_free(void *p);

/* ---- accumulate.c: the backward of lookup and its dense scatter ------------------------ *
 * fe_sum_groups: per-group sums of gradient rows, given a grouping (fe_group_ids output):
 *   r = 0
 *   for g in range(n_groups):
 *       if g == skip_group: continue            # padding_idx; skip_group < 0: none
 *       values[r, :] = 0                        # then += in perm order: np.add.at into zeros
 *       for k in range(starts[g], starts[g + 1]):
 *           values[r, :] += grad[perm[k], :]    # bit-identical to np.add.at (0 + -0.0 = +0.0)
 *       if scale_by_count: values[r, :] /= (starts[g + 1] - starts[g])
 *       r += 1
 * grad:       n_grad rows of dim values, C-contiguous. values: (n_groups - (skip_group in
 *             range)) rows of dim, C-contiguous, not overlapping grad/perm/starts.
 * Bad input:  starts not within [0, n_perm] or not ascending, or perm[k] outside [0, n_grad)
 *             -> FE_ERR_VALUE (values then unspecified; every access stays in bounds).
 * Threads:    owner-computes: each group summed by one thread in input order, groups split
 *             so that threads sum equal numbers of rows; bit-identical for any count. */
fe_status fe_sum_groups_f32(const float *grad, int64_t n_grad, int64_t dim, const int64_t *perm,
                            int64_t n_perm, const int64_t *starts, int64_t n_groups,
                            int64_t skip_group, int scale_by_count, float *values, int n_threads);
fe_status fe_sum_groups_f64(const double *grad, int64_t n_grad, int64_t dim,
                            const int64_t *perm, int64_t n_perm, const int64_t *starts,
                            int64_t n_groups, int64_t skip_group, int scale_by_count,
                            double *values, int n_threads);

/* fe_scatter_rows: dense copy of a row-sparse matrix (value-type agnostic):
 *   out[:, :] = 0; for k in range(nnz): out[indices[k], :] = values[k, :]
 * out: n_rows * row_bytes bytes, C-contiguous, not overlapping values or indices.
 * Bad input:  indices not strictly increasing or outside [0, n_rows) -> FE_ERR_INDEX,
 *             *bad_pos = first such k, out untouched (checked before the first write).
 * Threads:    each thread owns a contiguous block of out rows (zero-fill and copies). */
fe_status fe_scatter_rows(const char *values, int64_t nnz, int64_t row_bytes,
                          const int64_t *indices, int64_t n_rows, char *out, int n_threads,
                          int64_t *bad_pos);

/* fe_bag_grad: the table gradient of lookup_bag, over a grouping of its ids (fe_group_ids):
 *   r = 0
 *   for g in range(n_groups):
 *       if g == skip_group: continue                       # padding_idx
 *       acc = 0                                            # double
 *       for k in range(starts[g], starts[g + 1]):          # positions of the id, in order
 *           p = perm[k]; b = bag_sorted[k]                     # bag_sorted = bag_of[perm]
 *           argmax given (MAX): acc[d] += grad[b, d] if argmax[b, d] == p  (each column d)
 *           else:               acc    += scale_sorted[k] * grad[b]   (NULL: 1)
 * bag_sorted and scale_sorted are in grouped order so that the walk reads them in sequence
 * and prefetches the grad rows ahead (by position they were a dependent random read each).
 *       if scale_by_count: acc /= starts[g + 1] - starts[g]  # scale_grad_by_freq: the
 *                                                          # id's occurrences in the call
 *       values[r++] = acc                                  # rounded once
 * Bad input:  starts malformed, perm or bag_of out of range -> FE_ERR_VALUE (every access
 *             stays in bounds). Threads: groups split by position count, each group one
 *             thread's: bit-identical for any count. */
fe_status fe_bag_grad_f32(const float *grad, int64_t n_bags, int64_t dim, const int64_t *bag_sorted,
                          const double *scale_sorted, const int64_t *argmax, int64_t n_ids,
                          const int64_t *perm, const int64_t *starts, int64_t n_groups,
                          int64_t skip_group, int scale_by_count, float *values,
                          int n_threads);
fe_status fe_bag_grad_f64(const double *grad, int64_t n_bags, int64_t dim, const int64_t *bag_sorted,
                          const double *scale_sorted, const int64_t *argmax, int64_t n_ids,
                          const int64_t *perm, const int64_t *starts, int64_t n_groups,
                          int64_t skip_group, int scale_by_count, double *values,
                          int n_threads);

/* fe_bag_dots: dots[p] = table[ids[p]] . grad[bag_of[p]] in double (the per_sample_weights
 * gradient's inner products). An id or bag out of range -> FE_ERR_VALUE, dots[p] = 0.
 * Declares fe_bag_dots_{f32,f64,f16,bf16}_{i32,i64}; a half table's grad is in its type
 * (uint16 bit patterns; products in double). */
#define FE_DECL_BAG_DOTS(v, VT, AT, i, IT)                                                    \
    fe_status fe_bag_dots_##v##_##i(const char *table, int64_t n_rows, int64_t dim,           \
                                    int64_t row_stride, const IT *ids, int64_t n_ids,         \
                                    const int64_t *bag_of, const VT *grad, int64_t n_bags,    \
                                    double *dots, int n_threads);
FE_FOR_VALUE_INDEX(FE_DECL_BAG_DOTS)

/* ---- optim.c, opt_step.c: sparse optimizer steps, each one call -------------------- *
 * fe_opt_step: a whole training update of a table from a lookup's ids and output gradient:
 *   uniq, groups = group(ids)                        # fe_group_ids; ids checked here
 *   unless o->allow_nonfinite: every grad value finite, and every summed row below finite
 *   for r in uniq, ascending, r != padding_idx:      # padding_idx < 0: none
 *       g = 0 + grad[k0] + grad[k1] + ...            # its rows in input order: accumulate's
 *                                                    # sums, bit for bit
 *       g += l1 * sign(w) + 2 * l2 * w               # lazy embeddings regularizer
 *       weight decay: g += wd * w, or (decoupled) w -= lr * wd * w
 *       w = rule(w, g, state rows s1[r], s2[r])      # in double, stored in the value type
 *       if o->cons_kind >= 0: project w (fe_constrain_rows's projection of one row)
 * fe_opt_apply: the same from a summed gradient: rows[0:n_touched] strictly increasing,
 *   values[k] the gradient of rows[k] (a RowSparseGrad), no grouping, no padding.
 * Rules (Keras's formulas): SGD (momentum, nesterov), Adagrad, RowwiseAdagrad (one
 * accumulator per row, += mean(g^2), as FBGEMM), Adam (lazy; alpha = lr * sqrt(1 - b2^t) /
 * (1 - b1^t) given), FTRL (s1 accumulator, s2 linear). State rows (dim values, or 1 for
 * RowwiseAdagrad) are state_stride bytes apart, table rows row_stride bytes apart.
 * grad: n_ids (values: n_touched) rows of dim values, C-contiguous.
 * Bad input, all checked before the first write (two-phase):
 *   an id outside [0, n_rows) (step) or rows not strictly increasing or out of range
 *   (apply) -> FE_ERR_INDEX, fault->pos = its position;
 *   a bad kind, constraint, size or stride -> FE_ERR_VALUE; n_ids * dim overflowing ->
 *   FE_ERR_OVERFLOW; scratch allocation failure -> FE_ERR_NOMEM;
 *   a NaN or inf in grad -> FE_ERR_NONFINITE, fault->pos = its flat position; finite grad
 *   rows whose float sum is not finite -> FE_ERR_NONFINITE, fault->pos = -1, fault->row =
 *   the first such row, fault->count = its number of grad rows. (step sums each group once
 *   into scratch, fe_sum_groups, and checks those sums: what is checked is what is applied.
 *   The scratch, n_touched * dim values, is kept for the next step: one block, up to 1 GiB.)
 * Threads:    the grouping is the same for any count; sums as fe_sum_groups; touched rows
 *             in contiguous chunks, each row one thread's: bit-identical for any count.
 * Half tables (f16, bf16; table values are uint16 bit patterns): grad, values and the state
 *   are float; each row is loaded as float, updated exactly as the f32 kernel updates a
 *   float32 row (the same float result and state), and rounded back once:
 *   FE_OPT_ROUND_NEAREST  to nearest, ties to even (a float32 step, then rounded);
 *   FE_OPT_ROUND_STOCHASTIC  to one of the two neighbours of the float value x, the far one
 *     with probability |x - near| / |far - near| (E[result] = x: exactly for bf16 and for
 *     float16 normals, within 2^-32 of a float16 subnormal step below that), from the
 *     64 random bits fe_draw(fe_draw(fe_draw(fe_mix64(seed), step), row), column) (SplitMix64,
 *     fe_internal.h): a pure function of (seed, step, row, column), the same for any thread
 *     count; a non-finite x is rounded to nearest.
 *   The row constraint then projects the rounded row (fe_constrain_rows_*_f16/bf16). */
enum { FE_OPT_SGD = 0, FE_OPT_ADAGRAD = 1, FE_OPT_ROWWISE_ADAGRAD = 2, FE_OPT_ADAM = 3,
       FE_OPT_FTRL = 4 };
enum { FE_OPT_ROUND_NEAREST = 0, FE_OPT_ROUND_STOCHASTIC = 1 };
typedef struct {
    int kind, nesterov, decoupled;
    int allow_nonfinite; /* skip the finiteness checks */
    int eps_in_sqrt; /* (Rowwise)Adagrad: lr g / sqrt(a + eps) (Keras 3), else / (sqrt(a) + eps) */
    double lr, momentum, eps, beta1, beta2, alpha;
    double lr_power, ftrl_l1, ftrl_l2, l2_shrinkage;
    double weight_decay, l1, l2;
    int cons_kind;       /* FE_CONS_* row constraint applied to each updated row; < 0: none */
    double cons_a, cons_b, cons_rate;
    int rounding;        /* half tables: FE_OPT_ROUND_NEAREST or FE_OPT_ROUND_STOCHASTIC */
    uint64_t seed, step; /* stochastic rounding: the draws of (seed, step); see below */
} fe_opt;
typedef struct {
    int64_t pos, row, count; /* see "Bad input" above */
} fe_opt_fault;
/* Declares fe_opt_step_{f32,f64,f16,bf16}_{i32,i64} and fe_opt_apply_{f32,f64,f16,bf16}_i64
 * (grad, values and state: AT, float for the half tables). */
#define FE_DECL_OPT_STEP(v, VT, AT, i, IT)                                                    \
    fe_status fe_opt_step_##v##_##i(char *table, int64_t n_rows, int64_t dim,                 \
                                    int64_t row_stride, const IT *ids, int64_t n_ids,         \
                                    const AT *grad, int64_t padding_idx, AT *s1, AT *s2,      \
                                    int64_t state_stride, const fe_opt *o, int n_threads,     \
                                    fe_opt_fault *fault);
#define FE_DECL_OPT_APPLY(v, VT, AT)                                                          \
    fe_status fe_opt_apply_##v##_i64(char *table, int64_t n_rows, int64_t dim,                \
                                     int64_t row_stride, const int64_t *rows,                 \
                                     int64_t n_touched, const AT *values, AT *s1, AT *s2,     \
                                     int64_t state_stride, const fe_opt *o, int n_threads,    \
                                     fe_opt_fault *fault);
FE_FOR_VALUE_INDEX(FE_DECL_OPT_STEP)
FE_FOR_VALUE(FE_DECL_OPT_APPLY)
/* The first position of a NaN or infinity in x[0:n] (any thread count: the lowest), or -1;
 * in the same pass, *max_abs (if not NULL) = max |x[i]| (0 for n == 0; meaningful only when
 * -1 is returned). One read of x: the optimizers' finiteness check and the bound that
 * tells them whether per-row sums can overflow. */
int64_t fe_first_nonfinite_f32(const float *x, int64_t n, float *max_abs, int n_threads);
int64_t fe_first_nonfinite_f64(const double *x, int64_t n, double *max_abs, int n_threads);

/* ---- init.c: counter-based random fills (fastembed.initializers) ------------------------ *
 *   key = mix(mix(seed), attempt 0)
 *   for i in range(n):                           # element i depends only on (seed, i)
 *       UNIFORM:   out[i] = a + (b - a) * u(key, i), clamped into [a, b) in the value type
 *       NORMAL:    out[i] = a + b * z(key, i)          # mean a, stddev b
 *       TRUNCATED: t = 0; z = z(key, i)
 *                  while |z| > 2: t += 1; z = z(key_t, i)   # key_t: the seed's stream t
 *                  out[i] = a + b * z
 *       CONSTANT:  out[i] = a                      # Ones, Constant: first touch in parallel
 * u: 24 (float32) or 52 (float64) bits of a SplitMix64 hash of (key, counter) over 2**bits;
 * z: Box-Muller on hash bits (float32: one hash gives elements 2j and 2j + 1; float64: two
 * hashes per pair), computed in double and rounded once to the value type.
 * out:        n values, C-contiguous; every element is written.
 * Bad input:  n < 0, an unknown kind, a or b not finite, UNIFORM with a >= b, b - a not
 *             finite or no value of the type in [a, b), NORMAL/TRUNCATED with b < 0 ->
 *             FE_ERR_VALUE, out untouched.
 * Threads:    [0, n) in contiguous chunks, each written (first-touched) by its thread; the
 *             values do not depend on the split: bit-identical for any count. */
enum { FE_INIT_UNIFORM = 0, FE_INIT_NORMAL = 1, FE_INIT_TRUNCATED = 2, FE_INIT_CONSTANT = 3 };
fe_status fe_init_fill_f32(float *out, int64_t n, int kind, double a, double b, uint64_t seed,
                           int n_threads);
fe_status fe_init_fill_f64(double *out, int64_t n, int kind, double a, double b, uint64_t seed,
                           int n_threads);

/* Dropout keep decisions (init.c), a pure function of (key, id) so that an id gets the same
 * decision at every position and in the backward:
 *   h = splitmix64_finalizer(id * 0x9E3779B97F4A7C15 + key)     # uint64 arithmetic
 *   keep[i] = (h >> 11) * 2**-53 >= rate                        # a uniform [0, 1) draw
 * fe_dropout_base(seed): a layer's key base; fe_dropout_key(base, call): the key of its
 * training call number `call`. Ids are hashed as given (no range check: nothing is read
 * through them). Threads: element i depends on ids[i] only: identical for any count. */
uint64_t fe_dropout_base(uint64_t seed);
uint64_t fe_dropout_key(uint64_t base, uint64_t call);
void fe_dropout_keep_i32(const int32_t *ids, int64_t n, uint64_t key, double rate,
                         uint8_t *keep, int n_threads);
void fe_dropout_keep_i64(const int64_t *ids, int64_t n, uint64_t key, double rate,
                         uint8_t *keep, int n_threads);

/* ---- constraint.c: Keras's weight constraints and torch's max-norm renorm, in place ---- *
 * Every kernel here exists for float32 and float64 tables and for float16 and bfloat16
 * storage (suffixes f16, bf16; values are uint16 bit patterns). On half tables values are
 * loaded as float (fe_half.h), norms are summed in double, the factor is rounded to float
 * and applied in float, and each written value is rounded to nearest (ties to even) once.
 *
 * The projection of one vector w (a row for axis 1, a column for axis 0), eps = 1e-7:
 *   norm = sqrt(sum(w**2))                                   # in double
 *   MAXNORM:    w *= (VT)(clip(norm, 0, a) / (eps + norm))   # a = max_value
 *   UNITNORM:   w /= (VT)(eps + norm)
 *   MINMAXNORM: w *= (VT)((rate * clip(norm, a, b) + (1 - rate) * norm) / (eps + norm))
 *   NONNEG:     w = maximum(w, 0)                            # elementwise; NaN stays NaN
 * fe_constrain_rows: for r in sorted(set(ids)): project table[r, :]    (row constraints)
 * fe_constrain_table: axis 1: every row; axis 0: every column (NONNEG: every element).
 *   Column norms: squares summed in row order per block of 256 rows, then the blocks'
 *   sums added in block order: bit-identical for any thread count.
 * table:      n_rows rows of dim values, row r at table + r * row_stride bytes (may be < 0).
 * Bad input:  an unknown kind, a < 0 or NaN (MAXNORM, MINMAXNORM), b < a or NaN, rate not
 *             finite (MINMAXNORM), axis not 0 or 1 -> FE_ERR_VALUE; an id outside
 *             [0, n_rows) -> FE_ERR_INDEX, *bad_pos = first such position; scratch
 *             allocation failure -> FE_ERR_NOMEM. Two-phase: all before the first write.
 * Threads:    distinct rows (fe_group_ids), rows or column blocks in contiguous chunks;
 *             each row or block one thread's: bit-identical for any count. */
enum { FE_CONS_NONNEG = 0, FE_CONS_MAXNORM = 1, FE_CONS_UNITNORM = 2, FE_CONS_MINMAXNORM = 3 };
/* Declares fe_constrain_rows_{f32,f64,f16,bf16}_{i32,i64} and
 * fe_constrain_table_{f32,f64,f16,bf16}. */
#define FE_DECL_CONSTRAIN_ROWS(v, VT, AT, i, IT)                                              \
    fe_status fe_constrain_rows_##v##_##i(char *table, int64_t n_rows, int64_t dim,           \
                                          int64_t row_stride, const IT *ids, int64_t n_ids,   \
                                          int kind, double a, double b, double rate,          \
                                          int n_threads, int64_t *bad_pos);
#define FE_DECL_CONSTRAIN_TABLE(v, VT, AT)                                                    \
    fe_status fe_constrain_table_##v(char *table, int64_t n_rows, int64_t dim,                \
                                     int64_t row_stride, int axis, int kind, double a,        \
                                     double b, double rate, int n_threads);
FE_FOR_VALUE_INDEX(FE_DECL_CONSTRAIN_ROWS)
FE_FOR_VALUE(FE_DECL_CONSTRAIN_TABLE)

/* fe_renorm: torch.embedding_renorm_ (the max_norm of an embedding lookup), in place:
 *   for r in sorted(set(ids)):
 *       norm = (sum |table[r, j]|**norm_type) ** (1 / norm_type)     # in double
 *       if norm > max_norm: table[r, :] *= (VT)(max_norm / (norm + 1e-7))
 * table:      n_rows rows of dim values, row r at table + r * row_stride bytes.
 * Bad input:  max_norm not > 0 (or NaN), norm_type not finite and > 0 -> FE_ERR_VALUE;
 *             an id outside [0, n_rows) -> FE_ERR_INDEX, *bad_pos = first such position.
 *             Two-phase: every check happens before the first write.
 * Threads:    distinct rows (fe_group_ids) split in contiguous chunks; each row is one
 *             thread's, so results are the same for any count. */
/* Declares fe_renorm_{f32,f64,f16,bf16}_{i32,i64}. */
#define FE_DECL_RENORM(v, VT, AT, i, IT)                                                      \
    fe_status fe_renorm_##v##_##i(char *table, int64_t n_rows, int64_t dim,                   \
                                  int64_t row_stride, const IT *ids, int64_t n_ids,           \
                                  double max_norm, double norm_type, int n_threads,           \
                                  int64_t *bad_pos);
FE_FOR_VALUE_INDEX(FE_DECL_RENORM)

#endif /* FASTEMBED_H */
