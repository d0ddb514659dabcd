/* Body of optim.c per arithmetic type (FE_VT, FE_VSUF) and SIMD level (FE_SIMD, FE_TARGET):
 * the loop that reads a whole gradient (the finiteness scan). */

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
