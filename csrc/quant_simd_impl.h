/* Body of quant.c per x86 vector level (FE_SIMD avx2 or avx512, FE_TARGET its target
 * attribute): the level's vector primitives fe_q*_<FE_SIMD> (their list: quant.c), written
 * once in terms of the level's settings
 *     FE_QVT          the float vector type (__m256, __m512)     FE_QLANES its floats
 *     FE_QMM(op)      the level's intrinsic _mm256_op / _mm512_op
 *     FE_QAND(a, b)   the bitwise and of two integer vectors
 *     FE_QBYTES(p)    FE_QLANES bytes at p, unaligned, in the low lanes of an __m128i
 * The interleaving store (fe_qput2) and the float16 pair (fe_qhalves) differ in kind
 * between the levels and stay beside them in quant.c. No include guard: included once per
 * level; drops the settings at its end. */

typedef FE_QVT FE_NAME(fe_qv, FE_SIMD);
enum { FE_NAME(fe_qw, FE_SIMD) = FE_QLANES };

FE_TARGET FE_AI FE_QVT FE_NAME(fe_qzero, FE_SIMD)(void)
{
    return FE_QMM(setzero_ps)();
}

FE_TARGET FE_AI FE_QVT FE_NAME(fe_qset, FE_SIMD)(float x)
{
    return FE_QMM(set1_ps)(x);
}

FE_TARGET FE_AI FE_QVT FE_NAME(fe_qcode8, FE_SIMD)(const uint8_t *p)
{
    return FE_QMM(cvtepi32_ps)(FE_QMM(cvtepu8_epi32)(FE_QBYTES(p)));
}

FE_TARGET FE_AI void FE_NAME(fe_qcode4, FE_SIMD)(const uint8_t *p, FE_QVT *lo, FE_QVT *hi)
{
    FE_CAT(FE_QVT, i) x = FE_QMM(cvtepu8_epi32)(FE_QBYTES(p));
    *lo = FE_QMM(cvtepi32_ps)(FE_QAND(x, FE_QMM(set1_epi32)(15)));
    *hi = FE_QMM(cvtepi32_ps)(FE_QMM(srli_epi32)(x, 4));
}

FE_TARGET FE_AI FE_QVT FE_NAME(fe_qfma, FE_SIMD)(FE_QVT q, FE_QVT a, FE_QVT acc)
{
    return FE_QMM(fmadd_ps)(q, a, acc);
}

/* (acc + b) / n, the division skipped when n is 1 (exact) */
FE_TARGET FE_AI FE_QVT FE_NAME(fe_qfinish, FE_SIMD)(FE_QVT acc, float b, float n)
{
    FE_QVT v = FE_QMM(add_ps)(acc, FE_QMM(set1_ps)(b));
    return n == 1.0f ? v : FE_QMM(div_ps)(v, FE_QMM(set1_ps)(n));
}

FE_TARGET FE_AI void FE_NAME(fe_qput, FE_SIMD)(float *dst, FE_QVT acc, float b, float n)
{
    FE_QMM(storeu_ps)(dst, FE_NAME(fe_qfinish, FE_SIMD)(acc, b, n));
}

#undef FE_SIMD
#undef FE_TARGET
#undef FE_QVT
#undef FE_QLANES
#undef FE_QMM
#undef FE_QAND
#undef FE_QBYTES
