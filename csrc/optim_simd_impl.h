/* Body of optim.c per arithmetic type (FE_VT, FE_VSUF) and SIMD level (FE_SIMD, FE_TARGET):
 * the loops that read a whole gradient. */

/* *top = the largest magnitude bits (fe_opt_bits_<VSUF>, optim.c) of x[lo:hi]. An integer
 * max needs SSE4.1/AVX2 to vectorise well (measured: the SSE2 build reads ~2x slower than a
 * plain isfinite scan; the AVX2 one about as fast), hence the clones. */

FE_TARGET static void FE_NAME3(fe_opt_max_bits, FE_VSUF, FE_SIMD)(const FE_VT *x, int64_t lo,
                                                                 int64_t hi,
                                                                 FE_NAME(fe_opt_bits, FE_VSUF) *top)
{
    typedef FE_NAME(fe_opt_bits, FE_VSUF) bits_t;
    const bits_t magnitude = ~((bits_t)1 << (8 * sizeof(bits_t) - 1));
    bits_t m = 0;
    for (int64_t i = lo; i < hi; i++) {
        bits_t b;
        memcpy(&b, x + i, sizeof b);
        b &= magnitude;
        m = b > m ? b : m;
    }
    *top = m;
}

/* The summed gradient of one group: grad rows perm[k0:k1] added in that (input) order into
 * zeros, in the value type, exactly as accumulate sums them (each column's sum is the same
 * at any SIMD width). Phase 1's finiteness check and phase 2's update both sum through
 * here, so what is checked is what is applied. */
FE_TARGET static inline __attribute__((always_inline)) void
FE_NAME3(fe_opt_sum_rows, FE_VSUF, FE_SIMD)(FE_VT *restrict sum, const FE_VT *grad, int64_t dim,
                                           const int64_t *perm, int64_t k0, int64_t k1,
                                           int64_t n_perm)
{
    const int64_t row_bytes = dim * (int64_t)sizeof(FE_VT);
    for (int64_t d = 0; d < dim; d++)
        sum[d] = 0;
    for (int64_t k = k0; k < k1; k++) {
        if (k + FE_OPT_PF_GRAD < n_perm) /* gradient rows come in perm order */
            fe_opt_prefetch_row(grad + perm[k + FE_OPT_PF_GRAD] * dim, row_bytes);
        const FE_VT *restrict src = grad + perm[k] * dim;
        for (int64_t d = 0; d < dim; d++)
            sum[d] += src[d];
    }
}

/* ... with the common widths as constants, so that their loops unroll. */
FE_TARGET static void FE_NAME3(fe_opt_group_sum, FE_VSUF, FE_SIMD)(FE_VT *restrict sum,
                                                                  const FE_VT *grad,
                                                                  int64_t dim,
                                                                  const int64_t *perm,
                                                                  int64_t k0, int64_t k1,
                                                                  int64_t n_perm)
{
    switch (dim) {
    case 16:
        FE_NAME3(fe_opt_sum_rows, FE_VSUF, FE_SIMD)(sum, grad, 16, perm, k0, k1, n_perm);
        break;
    case 32:
        FE_NAME3(fe_opt_sum_rows, FE_VSUF, FE_SIMD)(sum, grad, 32, perm, k0, k1, n_perm);
        break;
    case 64:
        FE_NAME3(fe_opt_sum_rows, FE_VSUF, FE_SIMD)(sum, grad, 64, perm, k0, k1, n_perm);
        break;
    case 128:
        FE_NAME3(fe_opt_sum_rows, FE_VSUF, FE_SIMD)(sum, grad, 128, perm, k0, k1, n_perm);
        break;
    default:
        FE_NAME3(fe_opt_sum_rows, FE_VSUF, FE_SIMD)(sum, grad, dim, perm, k0, k1, n_perm);
    }
}
