# GENERATED from _kernels.pxd.in by setup.py: edit that file.
# Template of fastembed/_kernels.pxd (Cython's Tempita; setup.py renders it before every
# build, and the rendered .pxd is not tracked: edit this file). The declarations of the C
# kernels the extension calls, each once and in the order of their contract,
# csrc/fastembed.h (nothing from fe_internal.h, which is not part of it); shared by the .pxi
# parts of _kernels.pyx. The C enums are exported as module constants there.
# A per-type family is one prototype in a for loop over the type lists below, which are
# fastembed.h's FE_FOR_VALUE and FE_FOR_VALUE_INDEX (tests/test_layering.py checks that the
# rendered names are the header's, in its order).
from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint64_t

cdef extern from "fastembed.h" nogil:
    ctypedef enum fe_status:
        FE_OK
        FE_ERR_INDEX
        FE_ERR_VALUE
        FE_ERR_OVERFLOW
        FE_ERR_NOMEM
        FE_ERR_NONFINITE

    int fe_plan_threads(int requested, int64_t work_bytes)
    int fe_openmp_enabled()
    int fe_omp_max_threads()
    const char *fe_openmp_runtime()
    const char *fe_compiler()
    int fe_in_forked_child()
    int fe_simd_level()
    int fe_simd_cpu_level()
    const char *fe_simd_name(int level)
    const char *fe_simd_compiled()
    void fe_chunk(int64_t n, int nt, int t, int64_t *lo, int64_t *hi)

    int64_t fe_first_bad_id_i32(const int32_t *ids, int64_t n_ids, int64_t n_rows, int n_threads)
    int64_t fe_first_bad_id_i64(const int64_t *ids, int64_t n_ids, int64_t n_rows, int n_threads)

    fe_status fe_lookup_i32(const char *table, int64_t n_rows, int64_t row_bytes,
                            int64_t row_stride, const int32_t *ids, int64_t n_ids, char *out,
                            int n_threads, int64_t *bad_pos)
    fe_status fe_lookup_i64(const char *table, int64_t n_rows, int64_t row_bytes,
                            int64_t row_stride, const int64_t *ids, int64_t n_ids, char *out,
                            int n_threads, int64_t *bad_pos)

    enum:
        FE_BAG_SUM
        FE_BAG_MEAN
        FE_BAG_MAX
        FE_BAG_SQRTN
        FE_BAG_ACC64
        FE_BAG_OUT_F32
    int fe_bag_bounds_ok(const int64_t *bounds, int64_t n_bags, int64_t n_ids)
    fe_status fe_lookup_bag_f32_i32(const char *table, int64_t n_rows, int64_t dim,
                                        int64_t row_stride, const int32_t *ids, int64_t n_ids,
                                        const int64_t *bounds, int64_t n_bags, int mode,
                                        const float *psw, int64_t padding_idx, float *out,
                                        int64_t *argmax, int n_threads, int64_t *bad_pos)
    fe_status fe_lookup_bag_f32_i64(const char *table, int64_t n_rows, int64_t dim,
                                        int64_t row_stride, const int64_t *ids, int64_t n_ids,
                                        const int64_t *bounds, int64_t n_bags, int mode,
                                        const float *psw, int64_t padding_idx, float *out,
                                        int64_t *argmax, int n_threads, int64_t *bad_pos)
    fe_status fe_lookup_bag_f64_i32(const char *table, int64_t n_rows, int64_t dim,
                                        int64_t row_stride, const int32_t *ids, int64_t n_ids,
                                        const int64_t *bounds, int64_t n_bags, int mode,
                                        const double *psw, int64_t padding_idx, double *out,
                                        int64_t *argmax, int n_threads, int64_t *bad_pos)
    fe_status fe_lookup_bag_f64_i64(const char *table, int64_t n_rows, int64_t dim,
                                        int64_t row_stride, const int64_t *ids, int64_t n_ids,
                                        const int64_t *bounds, int64_t n_bags, int mode,
                                        const double *psw, int64_t padding_idx, double *out,
                                        int64_t *argmax, int n_threads, int64_t *bad_pos)
    fe_status fe_lookup_bag_f16_i32(const char *table, int64_t n_rows, int64_t dim,
                                        int64_t row_stride, const int32_t *ids, int64_t n_ids,
                                        const int64_t *bounds, int64_t n_bags, int mode,
                                        const uint16_t *psw, int64_t padding_idx, uint16_t *out,
                                        int64_t *argmax, int n_threads, int64_t *bad_pos)
    fe_status fe_lookup_bag_f16_i64(const char *table, int64_t n_rows, int64_t dim,
                                        int64_t row_stride, const int64_t *ids, int64_t n_ids,
                                        const int64_t *bounds, int64_t n_bags, int mode,
                                        const uint16_t *psw, int64_t padding_idx, uint16_t *out,
                                        int64_t *argmax, int n_threads, int64_t *bad_pos)
    fe_status fe_lookup_bag_bf16_i32(const char *table, int64_t n_rows, int64_t dim,
                                        int64_t row_stride, const int32_t *ids, int64_t n_ids,
                                        const int64_t *bounds, int64_t n_bags, int mode,
                                        const uint16_t *psw, int64_t padding_idx, uint16_t *out,
                                        int64_t *argmax, int n_threads, int64_t *bad_pos)
    fe_status fe_lookup_bag_bf16_i64(const char *table, int64_t n_rows, int64_t dim,
                                        int64_t row_stride, const int64_t *ids, int64_t n_ids,
                                        const int64_t *bounds, int64_t n_bags, int mode,
                                        const uint16_t *psw, int64_t padding_idx, uint16_t *out,
                                        int64_t *argmax, int n_threads, int64_t *bad_pos)
    fe_status fe_group_ids_i32(const int32_t *ids, int64_t n_ids, int64_t n_rows, int64_t *uniq,
                               int64_t *starts, int64_t *perm, int64_t *n_unique, int n_threads,
                               int64_t *bad_pos)
    fe_status fe_group_ids_i64(const int64_t *ids, int64_t n_ids, int64_t n_rows, int64_t *uniq,
                               int64_t *starts, int64_t *perm, int64_t *n_unique, int n_threads,
                               int64_t *bad_pos)
    int64_t fe_group_of(const int64_t *uniq, int64_t n_unique, int64_t id)
    void *fe_scratch_alloc(int64_t bytes)
    void fe_scratch_free(void *p)
    fe_status fe_sum_groups_f32(const float *grad, int64_t n_grad, int64_t dim,
                                const int64_t *perm, int64_t n_perm, const int64_t *starts,
                                int64_t n_groups, int64_t skip_group, int scale_by_count,
                                float *values, int n_threads)
    fe_status fe_sum_groups_f64(const double *grad, int64_t n_grad, int64_t dim,
                                const int64_t *perm, int64_t n_perm, const int64_t *starts,
                                int64_t n_groups, int64_t skip_group, int scale_by_count,
                                double *values, int n_threads)
    fe_status fe_scatter_rows(const char *values, int64_t nnz, int64_t row_bytes,
                              const int64_t *indices, int64_t n_rows, char *out, int n_threads,
                              int64_t *bad_pos)
    fe_status fe_bag_grad_f32(const float *grad, int64_t n_bags, int64_t dim,
                              const int64_t *bag_sorted, const double *scale_sorted,
                              const int64_t *argmax,
                              int64_t n_ids, const int64_t *perm, const int64_t *starts,
                              int64_t n_groups, int64_t skip_group, int scale_by_count,
                              float *values, int n_threads)
    fe_status fe_bag_grad_f64(const double *grad, int64_t n_bags, int64_t dim,
                              const int64_t *bag_sorted, const double *scale_sorted,
                              const int64_t *argmax,
                              int64_t n_ids, const int64_t *perm, const int64_t *starts,
                              int64_t n_groups, int64_t skip_group, int scale_by_count,
                              double *values, int n_threads)
    fe_status fe_bag_dots_f32_i32(const char *table, int64_t n_rows, int64_t dim,
                                      int64_t row_stride, const int32_t *ids, int64_t n_ids,
                                      const int64_t *bag_of, const float *grad, int64_t n_bags,
                                      double *dots, int n_threads)
    fe_status fe_bag_dots_f32_i64(const char *table, int64_t n_rows, int64_t dim,
                                      int64_t row_stride, const int64_t *ids, int64_t n_ids,
                                      const int64_t *bag_of, const float *grad, int64_t n_bags,
                                      double *dots, int n_threads)
    fe_status fe_bag_dots_f64_i32(const char *table, int64_t n_rows, int64_t dim,
                                      int64_t row_stride, const int32_t *ids, int64_t n_ids,
                                      const int64_t *bag_of, const double *grad, int64_t n_bags,
                                      double *dots, int n_threads)
    fe_status fe_bag_dots_f64_i64(const char *table, int64_t n_rows, int64_t dim,
                                      int64_t row_stride, const int64_t *ids, int64_t n_ids,
                                      const int64_t *bag_of, const double *grad, int64_t n_bags,
                                      double *dots, int n_threads)
    fe_status fe_bag_dots_f16_i32(const char *table, int64_t n_rows, int64_t dim,
                                      int64_t row_stride, const int32_t *ids, int64_t n_ids,
                                      const int64_t *bag_of, const uint16_t *grad, int64_t n_bags,
                                      double *dots, int n_threads)
    fe_status fe_bag_dots_f16_i64(const char *table, int64_t n_rows, int64_t dim,
                                      int64_t row_stride, const int64_t *ids, int64_t n_ids,
                                      const int64_t *bag_of, const uint16_t *grad, int64_t n_bags,
                                      double *dots, int n_threads)
    fe_status fe_bag_dots_bf16_i32(const char *table, int64_t n_rows, int64_t dim,
                                      int64_t row_stride, const int32_t *ids, int64_t n_ids,
                                      const int64_t *bag_of, const uint16_t *grad, int64_t n_bags,
                                      double *dots, int n_threads)
    fe_status fe_bag_dots_bf16_i64(const char *table, int64_t n_rows, int64_t dim,
                                      int64_t row_stride, const int64_t *ids, int64_t n_ids,
                                      const int64_t *bag_of, const uint16_t *grad, int64_t n_bags,
                                      double *dots, int n_threads)

    enum:
        FE_OPT_SGD
        FE_OPT_ADAGRAD
        FE_OPT_ROWWISE_ADAGRAD
        FE_OPT_ADAM
        FE_OPT_FTRL
        FE_OPT_ROUND_NEAREST
        FE_OPT_ROUND_STOCHASTIC
    ctypedef struct fe_opt:
        int kind, nesterov, decoupled
        int allow_nonfinite
        int eps_in_sqrt
        double lr, momentum, eps, beta1, beta2, alpha
        double lr_power, ftrl_l1, ftrl_l2, l2_shrinkage
        double weight_decay, l1, l2
        int cons_kind
        double cons_a, cons_b, cons_rate
        int rounding
        uint64_t seed, step
    ctypedef struct fe_opt_fault:
        int64_t pos, row, count
    fe_status fe_opt_step_f32_i32(char *table, int64_t n_rows, int64_t dim,
                                      int64_t row_stride, const int32_t *ids, int64_t n_ids,
                                      const float *grad, int64_t padding_idx, float *s1,
                                      float *s2, int64_t state_stride, const fe_opt *o,
                                      int n_threads, fe_opt_fault *fault)
    fe_status fe_opt_step_f32_i64(char *table, int64_t n_rows, int64_t dim,
                                      int64_t row_stride, const int64_t *ids, int64_t n_ids,
                                      const float *grad, int64_t padding_idx, float *s1,
                                      float *s2, int64_t state_stride, const fe_opt *o,
                                      int n_threads, fe_opt_fault *fault)
    fe_status fe_opt_step_f64_i32(char *table, int64_t n_rows, int64_t dim,
                                      int64_t row_stride, const int32_t *ids, int64_t n_ids,
                                      const double *grad, int64_t padding_idx, double *s1,
                                      double *s2, int64_t state_stride, const fe_opt *o,
                                      int n_threads, fe_opt_fault *fault)
    fe_status fe_opt_step_f64_i64(char *table, int64_t n_rows, int64_t dim,
                                      int64_t row_stride, const int64_t *ids, int64_t n_ids,
                                      const double *grad, int64_t padding_idx, double *s1,
                                      double *s2, int64_t state_stride, const fe_opt *o,
                                      int n_threads, fe_opt_fault *fault)
    fe_status fe_opt_step_f16_i32(char *table, int64_t n_rows, int64_t dim,
                                      int64_t row_stride, const int32_t *ids, int64_t n_ids,
                                      const float *grad, int64_t padding_idx, float *s1,
                                      float *s2, int64_t state_stride, const fe_opt *o,
                                      int n_threads, fe_opt_fault *fault)
    fe_status fe_opt_step_f16_i64(char *table, int64_t n_rows, int64_t dim,
                                      int64_t row_stride, const int64_t *ids, int64_t n_ids,
                                      const float *grad, int64_t padding_idx, float *s1,
                                      float *s2, int64_t state_stride, const fe_opt *o,
                                      int n_threads, fe_opt_fault *fault)
    fe_status fe_opt_step_bf16_i32(char *table, int64_t n_rows, int64_t dim,
                                      int64_t row_stride, const int32_t *ids, int64_t n_ids,
                                      const float *grad, int64_t padding_idx, float *s1,
                                      float *s2, int64_t state_stride, const fe_opt *o,
                                      int n_threads, fe_opt_fault *fault)
    fe_status fe_opt_step_bf16_i64(char *table, int64_t n_rows, int64_t dim,
                                      int64_t row_stride, const int64_t *ids, int64_t n_ids,
                                      const float *grad, int64_t padding_idx, float *s1,
                                      float *s2, int64_t state_stride, const fe_opt *o,
                                      int n_threads, fe_opt_fault *fault)
    fe_status fe_opt_apply_f32_i64(char *table, int64_t n_rows, int64_t dim,
                                     int64_t row_stride, const int64_t *rows,
                                     int64_t n_touched, const float *values, float *s1,
                                     float *s2, int64_t state_stride, const fe_opt *o,
                                     int n_threads, fe_opt_fault *fault)
    fe_status fe_opt_apply_f64_i64(char *table, int64_t n_rows, int64_t dim,
                                     int64_t row_stride, const int64_t *rows,
                                     int64_t n_touched, const double *values, double *s1,
                                     double *s2, int64_t state_stride, const fe_opt *o,
                                     int n_threads, fe_opt_fault *fault)
    fe_status fe_opt_apply_f16_i64(char *table, int64_t n_rows, int64_t dim,
                                     int64_t row_stride, const int64_t *rows,
                                     int64_t n_touched, const float *values, float *s1,
                                     float *s2, int64_t state_stride, const fe_opt *o,
                                     int n_threads, fe_opt_fault *fault)
    fe_status fe_opt_apply_bf16_i64(char *table, int64_t n_rows, int64_t dim,
                                     int64_t row_stride, const int64_t *rows,
                                     int64_t n_touched, const float *values, float *s1,
                                     float *s2, int64_t state_stride, const fe_opt *o,
                                     int n_threads, fe_opt_fault *fault)
    int64_t fe_first_nonfinite_f32(const float *x, int64_t n, float *max_abs, int n_threads)
    int64_t fe_first_nonfinite_f64(const double *x, int64_t n, double *max_abs, int n_threads)

    enum:
        FE_INIT_UNIFORM
        FE_INIT_NORMAL
        FE_INIT_TRUNCATED
        FE_INIT_CONSTANT
    fe_status fe_init_fill_f32(float *out, int64_t n, int kind, double a, double b,
                               uint64_t seed, int n_threads)
    fe_status fe_init_fill_f64(double *out, int64_t n, int kind, double a, double b,
                               uint64_t seed, int n_threads)
    uint64_t fe_dropout_base(uint64_t seed)
    uint64_t fe_dropout_key(uint64_t base, uint64_t call)
    void fe_dropout_keep_i32(const int32_t *ids, int64_t n, uint64_t key, double rate,
                             uint8_t *keep, int n_threads)
    void fe_dropout_keep_i64(const int64_t *ids, int64_t n, uint64_t key, double rate,
                             uint8_t *keep, int n_threads)

    enum:
        FE_CONS_NONNEG
        FE_CONS_MAXNORM
        FE_CONS_UNITNORM
        FE_CONS_MINMAXNORM
    fe_status fe_constrain_rows_f32_i32(char *table, int64_t n_rows, int64_t dim,
                                            int64_t row_stride, const int32_t *ids,
                                            int64_t n_ids, int kind, double a, double b,
                                            double rate, int n_threads, int64_t *bad_pos)
    fe_status fe_constrain_rows_f32_i64(char *table, int64_t n_rows, int64_t dim,
                                            int64_t row_stride, const int64_t *ids,
                                            int64_t n_ids, int kind, double a, double b,
                                            double rate, int n_threads, int64_t *bad_pos)
    fe_status fe_constrain_rows_f64_i32(char *table, int64_t n_rows, int64_t dim,
                                            int64_t row_stride, const int32_t *ids,
                                            int64_t n_ids, int kind, double a, double b,
                                            double rate, int n_threads, int64_t *bad_pos)
    fe_status fe_constrain_rows_f64_i64(char *table, int64_t n_rows, int64_t dim,
                                            int64_t row_stride, const int64_t *ids,
                                            int64_t n_ids, int kind, double a, double b,
                                            double rate, int n_threads, int64_t *bad_pos)
    fe_status fe_constrain_rows_f16_i32(char *table, int64_t n_rows, int64_t dim,
                                            int64_t row_stride, const int32_t *ids,
                                            int64_t n_ids, int kind, double a, double b,
                                            double rate, int n_threads, int64_t *bad_pos)
    fe_status fe_constrain_rows_f16_i64(char *table, int64_t n_rows, int64_t dim,
                                            int64_t row_stride, const int64_t *ids,
                                            int64_t n_ids, int kind, double a, double b,
                                            double rate, int n_threads, int64_t *bad_pos)
    fe_status fe_constrain_rows_bf16_i32(char *table, int64_t n_rows, int64_t dim,
                                            int64_t row_stride, const int32_t *ids,
                                            int64_t n_ids, int kind, double a, double b,
                                            double rate, int n_threads, int64_t *bad_pos)
    fe_status fe_constrain_rows_bf16_i64(char *table, int64_t n_rows, int64_t dim,
                                            int64_t row_stride, const int64_t *ids,
                                            int64_t n_ids, int kind, double a, double b,
                                            double rate, int n_threads, int64_t *bad_pos)
    fe_status fe_constrain_table_f32(char *table, int64_t n_rows, int64_t dim,
                                       int64_t row_stride, int axis, int kind, double a,
                                       double b, double rate, int n_threads)
    fe_status fe_constrain_table_f64(char *table, int64_t n_rows, int64_t dim,
                                       int64_t row_stride, int axis, int kind, double a,
                                       double b, double rate, int n_threads)
    fe_status fe_constrain_table_f16(char *table, int64_t n_rows, int64_t dim,
                                       int64_t row_stride, int axis, int kind, double a,
                                       double b, double rate, int n_threads)
    fe_status fe_constrain_table_bf16(char *table, int64_t n_rows, int64_t dim,
                                       int64_t row_stride, int axis, int kind, double a,
                                       double b, double rate, int n_threads)
    fe_status fe_renorm_f32_i32(char *table, int64_t n_rows, int64_t dim,
                                    int64_t row_stride, const int32_t *ids, int64_t n_ids,
                                    double max_norm, double norm_type, int n_threads,
                                    int64_t *bad_pos)
    fe_status fe_renorm_f32_i64(char *table, int64_t n_rows, int64_t dim,
                                    int64_t row_stride, const int64_t *ids, int64_t n_ids,
                                    double max_norm, double norm_type, int n_threads,
                                    int64_t *bad_pos)
    fe_status fe_renorm_f64_i32(char *table, int64_t n_rows, int64_t dim,
                                    int64_t row_stride, const int32_t *ids, int64_t n_ids,
                                    double max_norm, double norm_type, int n_threads,
                                    int64_t *bad_pos)
    fe_status fe_renorm_f64_i64(char *table, int64_t n_rows, int64_t dim,
                                    int64_t row_stride, const int64_t *ids, int64_t n_ids,
                                    double max_norm, double norm_type, int n_threads,
                                    int64_t *bad_pos)
    fe_status fe_renorm_f16_i32(char *table, int64_t n_rows, int64_t dim,
                                    int64_t row_stride, const int32_t *ids, int64_t n_ids,
                                    double max_norm, double norm_type, int n_threads,
                                    int64_t *bad_pos)
    fe_status fe_renorm_f16_i64(char *table, int64_t n_rows, int64_t dim,
                                    int64_t row_stride, const int64_t *ids, int64_t n_ids,
                                    double max_norm, double norm_type, int n_threads,
                                    int64_t *bad_pos)
    fe_status fe_renorm_bf16_i32(char *table, int64_t n_rows, int64_t dim,
                                    int64_t row_stride, const int32_t *ids, int64_t n_ids,
                                    double max_norm, double norm_type, int n_threads,
                                    int64_t *bad_pos)
    fe_status fe_renorm_bf16_i64(char *table, int64_t n_rows, int64_t dim,
                                    int64_t row_stride, const int64_t *ids, int64_t n_ids,
                                    double max_norm, double norm_type, int n_threads,
                                    int64_t *bad_pos)

cdef enum:
    MAX_BUFFERS = 8  # the most arrays one kernel call reads or writes

cdef class Buffers:
    cdef Py_buffer views[MAX_BUFFERS]
    cdef int count
    cdef Py_buffer *get(self, obj, bint writable) except NULL
