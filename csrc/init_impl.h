/* Body of init.c (fe_instantiate.h): the fill loops per SIMD level (FE_SIMD, FE_TARGET:
 * fe_simd_clones.h), each straight-line per element (a counter, a hash, a conversion, a
 * store) so that the compiler vectorises it for the level's width; then, in the passes per
 * index type (FE_IDX, FE_ISUF), the dropout keep decisions. */

#ifdef FE_SIMD

/* Uniform float32, pairs [j0, j1): out[2 (j - j0) + k] = element 2j + k. */
FE_TARGET static void FE_NAME(fe_uniform_pairs_f32, FE_SIMD)(float *out, int64_t j0, int64_t j1,
                                                             uint64_t key, double lo, double width,
                                                             float fmin, float fmax)
{
    int64_t n = j1 - j0;
    for (int64_t k = 0; k < n; k++) {
        uint64_t h = fe_draw(key, (uint64_t)(j0 + k));
        /* 24 random bits each: every float32 in [0, 1) step 2**-24, exactly */
        double u0 = (double)(int32_t)(uint32_t)(h >> 40) * 0x1p-24;
        double u1 = (double)(int32_t)((uint32_t)h >> 8) * 0x1p-24;
        /* rounding to float32 may reach maxval: keep every value in [minval, maxval) */
        out[2 * k] = fe_clampf((float)(lo + width * u0), fmin, fmax);
        out[2 * k + 1] = fe_clampf((float)(lo + width * u1), fmin, fmax);
    }
}

/* Uniform float64, elements [i0, i1): out[i - i0]. */
FE_TARGET static void FE_NAME(fe_uniform_f64, FE_SIMD)(double *out, int64_t i0, int64_t i1,
                                                      uint64_t key, double lo, double width,
                                                      double dmin, double dmax)
{
    for (int64_t i = i0; i < i1; i++) /* u: [0, 1) step 2**-52 */
        out[i - i0] = fe_clamp(lo + width * fe_unit52(fe_draw(key, (uint64_t)i)), dmin, dmax);
}

/* Normal pairs [j0, j1) by Box-Muller; with `truncate`, a draw with |z| > 2 is stored as
 * NaN, a mark the caller replaces (mean + stddev * z is never NaN for finite arguments). */
FE_TARGET static void FE_NAME(fe_normal_pairs_f32, FE_SIMD)(float *out, int64_t j0, int64_t j1,
                                                            uint64_t key, double mean,
                                                            double stddev, int truncate)
{
    int64_t n = j1 - j0;
    double limit = truncate ? 2.0 : INFINITY; /* a select in the loop, not a branch */
    for (int64_t k = 0; k < n; k++) {
        double z0, z1;
        fe_normal_pair32(fe_draw(key, (uint64_t)(j0 + k)), &z0, &z1);
        double v0 = mean + stddev * z0, v1 = mean + stddev * z1;
        v0 = fe_nan_if(v0, fabs(z0) > limit);
        v1 = fe_nan_if(v1, fabs(z1) > limit);
        out[2 * k] = (float)v0;
        out[2 * k + 1] = (float)v1;
    }
}

FE_TARGET static void FE_NAME(fe_normal_pairs_f64, FE_SIMD)(double *out, int64_t j0, int64_t j1,
                                                            uint64_t key, double mean,
                                                            double stddev, int truncate)
{
    int64_t n = j1 - j0;
    double limit = truncate ? 2.0 : INFINITY;
    for (int64_t k = 0; k < n; k++) {
        uint64_t c = 2 * (uint64_t)(j0 + k);
        double z0, z1;
        fe_normal_pair64(fe_draw(key, c), fe_draw(key, c + 1), &z0, &z1);
        double v0 = mean + stddev * z0, v1 = mean + stddev * z1;
        v0 = fe_nan_if(v0, fabs(z0) > limit);
        v1 = fe_nan_if(v1, fabs(z1) > limit);
        out[2 * k] = v0;
        out[2 * k + 1] = v1;
    }
}

/* Redraws of truncated elements: z[k] = the standard normal of element idx[k] in the
 * stream `key` (the half of its pair that idx[k]'s parity picks, by bit mask). */
FE_TARGET static void FE_NAME(fe_normal_at, FE_SIMD)(const int64_t *idx, int64_t m, uint64_t key,
                                                     int is_f32, double *z)
{
    if (is_f32) {
        for (int64_t k = 0; k < m; k++) {
            uint64_t i = (uint64_t)idx[k];
            double z0, z1;
            fe_normal_pair32(fe_draw(key, i >> 1), &z0, &z1);
            z[k] = fe_pick(z0, z1, i & 1);
        }
    } else {
        for (int64_t k = 0; k < m; k++) {
            uint64_t i = (uint64_t)idx[k];
            uint64_t c = i & ~(uint64_t)1;
            double z0, z1;
            fe_normal_pair64(fe_draw(key, c), fe_draw(key, c + 1), &z0, &z1);
            z[k] = fe_pick(z0, z1, i & 1);
        }
    }
}

#else /* FE_SIMD */

void FE_NAME(fe_dropout_keep, FE_ISUF)(const FE_IDX *ids, int64_t n, uint64_t key, double rate,
                                       uint8_t *keep, int n_threads)
{
    int nt = fe_plan_threads(n_threads, n * (int64_t)(sizeof(FE_IDX) + 1) * 8);
    FE_PARALLEL_CHUNKS(nt, n, {
        for (int64_t i = lo; i < hi; i++) {
            uint64_t z = fe_mix64((uint64_t)(int64_t)ids[i] * FE_GOLDEN + key);
            keep[i] = (double)(z >> 11) * (1.0 / 9007199254740992.0) >= rate;
        }
    });
}

#endif /* FE_SIMD */
