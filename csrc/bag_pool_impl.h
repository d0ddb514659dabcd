/* Loops of the pooled lookup for one (value type, index type, SIMD level, accumulator);
 * included by bag_block_impl.h with FE_ACC/FE_ASUF (double acc64 / FE_CT(FE_VSUF) accvt).
 * Values are read and written only through FE_LOAD/FE_STORE (fe_half.h). */

/* Writes one bag's `width` results, column c of the bag from acc[c]: zeros for an empty bag
 * (count 0), acc / norm for MEAN and SQRTN, acc itself otherwise; into out as the value type,
 * or as float32 (`out_f32`, half tables asked for float32 bags). */
FE_TARGET static inline __attribute__((always_inline)) void
FE_NAME(FE_NAME3(fe_bag_put, FE_VSUF, FE_ISUF), FE_NAME(FE_ASUF, FE_SIMD))(
    FE_VT *out, int out_f32, int64_t at, int64_t width, const FE_ACC *acc, int64_t count,
    int mode, double wsum, double w2sum)
{
    FE_VT *dst = out + at;
    float *dst32 = (float *)(void *)out + at;
    if (count == 0) {
        for (int64_t d = 0; d < width; d++) {
            if (out_f32)
                dst32[d] = 0;
            else
                FE_STORE(FE_VSUF, dst + d, 0);
        }
    } else if (mode == FE_BAG_MEAN || mode == FE_BAG_SQRTN) {
        double norm = mode == FE_BAG_MEAN ? wsum : sqrt(w2sum);
        for (int64_t d = 0; d < width; d++) {
            if (out_f32)
                dst32[d] = (float)((double)acc[d] / norm);
            else
                FE_STORE(FE_VSUF, dst + d, (double)acc[d] / norm);
        }
    } else {
        for (int64_t d = 0; d < width; d++) {
            if (out_f32)
                dst32[d] = (float)acc[d];
            else
                FE_STORE(FE_VSUF, dst + d, acc[d]);
        }
    }
}

/* The general loop: any width, every mode. MAX keeps the running maximum in acc too (exact:
 * it is one of the values), compared in the arithmetic type. */
FE_TARGET static inline __attribute__((always_inline)) void
FE_NAME(FE_NAME3(fe_bag_pool, FE_VSUF, FE_ISUF), FE_NAME(FE_ASUF, FE_SIMD))(
    const char *table, int64_t n_rows, int64_t dim, int64_t row_stride, const FE_IDX *ids,
    int64_t n_ids, const int64_t *bounds, int64_t b_lo, int64_t b_hi, int mode, const FE_VT *psw,
    int64_t padding_idx, FE_VT *out, int out_f32, int64_t *argmax, int64_t c_lo,
    const int64_t width)
{
    /* read only after a bag's first row set it; zeroed once per call, not per bag, so that
     * -Wmaybe-uninitialized has nothing to say */
    FE_ACC acc[FE_BAG_BLOCK] = {0};
    const int64_t row_bytes = width * (int64_t)sizeof(FE_VT);
    for (int64_t b = b_lo; b < b_hi; b++) {
        int64_t *restrict am = argmax ? argmax + b * dim + c_lo : NULL;
        int64_t count = 0;
        double wsum = 0, w2sum = 0;
        for (int64_t k = bounds[b]; k < bounds[b + 1]; k++) {
            if (k + FE_BAG_PF_DIST < n_ids) { /* across bags: most bags are short */
                uint64_t pf = (uint64_t)(int64_t)ids[k + FE_BAG_PF_DIST];
                if (pf < (uint64_t)n_rows) {
                    /* every cache line the row touches (rows need not be line-aligned) */
                    uintptr_t p = (uintptr_t)(table + (int64_t)pf * row_stride) +
                                  (uintptr_t)(c_lo * (int64_t)sizeof(FE_VT));
                    uintptr_t end = p + (uintptr_t)(row_bytes < 1024 ? row_bytes : 1024);
                    for (p &= ~(uintptr_t)63; p < end; p += 64)
                        FE_PREFETCH((const char *)p);
                }
            }
            uint64_t id = (uint64_t)(int64_t)ids[k];
            if (id >= (uint64_t)n_rows || (int64_t)id == padding_idx)
                continue; /* out of range is unreachable after the check pass */
            const FE_VT *restrict row =
                (const FE_VT *)(table + (int64_t)id * row_stride) + c_lo;
            if (mode == FE_BAG_MAX) {
                if (count == 0) {
                    for (int64_t d = 0; d < width; d++)
                        acc[d] = (FE_ACC)FE_LOAD(FE_VSUF, row + d);
                    if (am)
                        for (int64_t d = 0; d < width; d++)
                            am[d] = k;
                } else if (am) {
                    for (int64_t d = 0; d < width; d++) {
                        FE_ACC v = (FE_ACC)FE_LOAD(FE_VSUF, row + d), m = acc[d];
                        if (v > m || (v != v && m == m)) {
                            acc[d] = v;
                            am[d] = k;
                        }
                    }
                } else {
                    /* the first maximum wins; a NaN, once met, stays (NumPy's max) */
                    for (int64_t d = 0; d < width; d++) {
                        FE_ACC v = (FE_ACC)FE_LOAD(FE_VSUF, row + d), m = acc[d];
                        acc[d] = (v > m || (v != v && m == m)) ? v : m;
                    }
                }
            } else {
                double wd = psw ? (double)FE_LOAD(FE_VSUF, psw + k) : 1.0;
                FE_ACC w = (FE_ACC)wd;
                wsum += wd;
                w2sum += wd * wd;
                if (count == 0) { /* the first row starts the sum: no zeroing pass */
                    for (int64_t d = 0; d < width; d++)
                        acc[d] = w * (FE_ACC)FE_LOAD(FE_VSUF, row + d);
                } else {
                    for (int64_t d = 0; d < width; d++)
                        acc[d] += w * (FE_ACC)FE_LOAD(FE_VSUF, row + d);
                }
            }
            count++;
        }
        if (count == 0 && am)
            for (int64_t d = 0; d < width; d++)
                am[d] = -1;
        FE_NAME(FE_NAME3(fe_bag_put, FE_VSUF, FE_ISUF), FE_NAME(FE_ASUF, FE_SIMD))(
            out, out_f32, b * dim + c_lo, width, acc, count, mode, wsum, w2sum);
    }
}

/* The register path: sums, means and sqrtn of nv * FE_BAG_VL columns (nv 1, 2, 4 or 8;
 * FE_BAG_VL the accumulator's lanes in one register of the SIMD level), the accumulator nv
 * registers. nv, has_psw and has_pad are constants after inlining, so the row loop has no
 * branch on them: the first row of a bag sets the sum and the others add to it (the general
 * loop's operations, in its order, so the same results), and without padding_idx the
 * count is the bag's length. */
#define FE_BAG_VACC FE_NAME(FE_NAME3(fe_bag_vacc, FE_VSUF, FE_ISUF), FE_NAME(FE_ASUF, FE_SIMD))
#define FE_BAG_VVAL FE_NAME(FE_NAME3(fe_bag_vval, FE_VSUF, FE_ISUF), FE_NAME(FE_ASUF, FE_SIMD))
#define FE_BAG_FN(f) FE_NAME(FE_NAME3(f, FE_VSUF, FE_ISUF), FE_NAME(FE_ASUF, FE_SIMD))
typedef FE_ACC FE_BAG_VACC __attribute__((vector_size(FE_BAG_VL * sizeof(FE_ACC))));
typedef FE_VT FE_BAG_VVAL __attribute__((vector_size(FE_BAG_VL * sizeof(FE_VT))));

/* x[0..nv) = the row's nv registers of values, as the accumulator type, times w if has_psw.
 * float16 into 16 float lanes at AVX-512 is one vcvtph2ps a register (exact, as
 * fe_f16_to_float); other levels use the portable bit operations (FE_BAG_VCT). */
FE_TARGET static inline __attribute__((always_inline)) void
FE_BAG_FN(fe_bag_vrow)(FE_BAG_VACC *x, const FE_VT *row, FE_ACC w, const int nv,
                       const int has_psw)
{
    for (int j = 0; j < nv; j++) {
#if defined(FE_X86) && FE_HALF_CAT(FE_BAG_AVX512_, FE_SIMD)
        if (FE_HALF_CAT(FE_BAG_IS_F16_, FE_VSUF) && sizeof(FE_ACC) == 4 && FE_BAG_VL == 16) {
            __m512 f = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(row + j * 16)));
            memcpy(&x[j], &f, sizeof x[j]);
        } else
#endif
        {
            FE_BAG_VVAL v;
            memcpy(&v, row + j * FE_BAG_VL, sizeof v);
            x[j] = __builtin_convertvector(FE_BAG_VCT(FE_VSUF, v), FE_BAG_VACC);
        }
        if (has_psw)
            x[j] = w * x[j];
    }
}

/* Prefetches every cache line of the row `id` (columns from byte `off`, row_bytes of them):
 * a line every 64 bytes from its start, and the line of its last byte (rows need not be
 * line-aligned). No bounds check: a prefetch never faults, and the address is formed in
 * unsigned arithmetic. */
FE_TARGET static inline __attribute__((always_inline)) void
FE_BAG_FN(fe_bag_vpf)(const char *table, int64_t row_stride, uint64_t id, int64_t off,
                      const int64_t row_bytes)
{
    uintptr_t p = (uintptr_t)table + (uintptr_t)id * (uintptr_t)row_stride + (uintptr_t)off;
    for (int64_t j = 0; j < (row_bytes + 63) / 64; j++)
        FE_PREFETCH((const char *)(p + (uintptr_t)(64 * j)));
    if (row_bytes % 64 != 0 || row_bytes > 64)
        FE_PREFETCH((const char *)(p + (uintptr_t)(row_bytes - 1)));
}

/* Position k of a bag: prefetches the row pf_dist positions ahead, then returns the row at
 * k (from byte `off`), or NULL for padding (and for an id out of range, unreachable after
 * the check pass), and adds its weight to the sums when there are weights. */
FE_TARGET static inline __attribute__((always_inline)) const FE_VT *
FE_BAG_FN(fe_bag_vnext)(const char *table, int64_t n_rows, int64_t row_stride, const FE_IDX *ids,
                        int64_t k, int64_t pf_dist, int64_t last, int64_t off,
                        const int64_t row_bytes, const FE_VT *psw, int64_t padding_idx,
                        const int has_psw, const int has_pad, FE_ACC *w, double *wsum,
                        double *w2sum)
{
    uint64_t pf = (uint64_t)(int64_t)ids[k + pf_dist < last ? k + pf_dist : last];
    FE_BAG_FN(fe_bag_vpf)(table, row_stride, pf, off, row_bytes);
    uint64_t id = (uint64_t)(int64_t)ids[k];
    if (id >= (uint64_t)n_rows || (has_pad && (int64_t)id == padding_idx))
        return NULL;
    if (has_psw) {
        double wd = (double)FE_LOAD(FE_VSUF, psw + k);
        *w = (FE_ACC)wd;
        *wsum += wd;
        *w2sum += wd * wd;
    }
    return (const FE_VT *)(table + (int64_t)id * row_stride + off);
}

FE_TARGET static inline __attribute__((always_inline)) void
FE_BAG_FN(fe_bag_vpool)(const char *table, int64_t n_rows, int64_t dim, int64_t row_stride,
                        const FE_IDX *ids, int64_t n_ids, const int64_t *bounds, int64_t b_lo,
                        int64_t b_hi, int mode, const FE_VT *psw, int64_t padding_idx,
                        FE_VT *out, int out_f32, int64_t c_lo, int64_t pf_dist, const int nv,
                        const int has_psw, const int has_pad)
{
    const int64_t row_bytes = nv * FE_BAG_VL * (int64_t)sizeof(FE_VT);
    const int64_t off = c_lo * (int64_t)sizeof(FE_VT);
    const int64_t last = n_ids - 1;
    for (int64_t b = b_lo; b < b_hi; b++) {
        FE_BAG_VACC acc[FE_BAG_MAX_NV], x[FE_BAG_MAX_NV];
        int64_t k = bounds[b], end = bounds[b + 1], count = 0;
        double wsum = 0, w2sum = 0;
        FE_ACC w = 1;
        for (; k < end && count == 0; k++) { /* the first row (not padding) sets the sum */
            const FE_VT *row = FE_BAG_FN(fe_bag_vnext)(table, n_rows, row_stride, ids, k, pf_dist,
                                                       last, off, row_bytes, psw, padding_idx,
                                                       has_psw, has_pad, &w, &wsum, &w2sum);
            if (row) {
                FE_BAG_FN(fe_bag_vrow)(acc, row, w, nv, has_psw);
                count = 1;
            }
        }
        for (; k < end; k++) {
            const FE_VT *row = FE_BAG_FN(fe_bag_vnext)(table, n_rows, row_stride, ids, k, pf_dist,
                                                       last, off, row_bytes, psw, padding_idx,
                                                       has_psw, has_pad, &w, &wsum, &w2sum);
            if (!row)
                continue;
            FE_BAG_FN(fe_bag_vrow)(x, row, w, nv, has_psw);
            for (int j = 0; j < nv; j++)
                acc[j] += x[j];
            if (has_pad)
                count++;
        }
        if (count == 0) { /* an empty bag (zeros): no uninitialized read */
            for (int j = 0; j < nv; j++)
                acc[j] = (FE_BAG_VACC){0};
        } else if (!has_pad) {
            count = end - bounds[b];
        }
        if (sizeof(FE_VT) == 2 && !out_f32 && (mode == FE_BAG_SUM || !has_psw)) {
            /* half results: rounded a register at a time (the put below, lane by lane) */
            typedef float vf32 __attribute__((vector_size(FE_BAG_VL * sizeof(float))));
            typedef double vf64 __attribute__((vector_size(FE_BAG_VL * sizeof(double))));
            double norm = mode == FE_BAG_SUM || count == 0 ? 1.0
                          : mode == FE_BAG_MEAN ? (double)count : sqrt((double)count);
            FE_VT *dst = out + b * dim + c_lo;
            for (int j = 0; j < nv; j++) {
                vf32 r = mode == FE_BAG_SUM ? __builtin_convertvector(acc[j], vf32)
                    : __builtin_convertvector(__builtin_convertvector(acc[j], vf64) / norm, vf32);
                FE_BAG_VSTORE(FE_VSUF, dst + j * FE_BAG_VL, r);
            }
            continue;
        }
        if (mode == FE_BAG_SUM && !out_f32 && sizeof(FE_VT) == sizeof(FE_ACC)) {
            /* a plain sum in the value type: the registers are the results */
            memcpy(out + b * dim + c_lo, acc, (size_t)nv * sizeof acc[0]);
            continue;
        }
        FE_ACC sum[FE_BAG_MAX_NV * FE_BAG_VL];
        memcpy(sum, acc, (size_t)nv * sizeof acc[0]);
        if (!has_psw) {
            wsum = (double)count;
            w2sum = (double)count;
        }
        FE_BAG_FN(fe_bag_put)(out, out_f32, b * dim + c_lo, nv * FE_BAG_VL, sum, count, mode,
                              wsum, w2sum);
    }
}

/* The body with the common widths as compile-time constants (fully unrolled, accumulators
 * in registers), any other width as a run-time loop. */
FE_TARGET static void FE_BAG_FN(fe_bag_block)(
    const char *table, int64_t n_rows, int64_t dim, int64_t row_stride, const FE_IDX *ids,
    int64_t n_ids, const int64_t *bounds, int64_t b_lo, int64_t b_hi, int mode, const FE_VT *psw,
    int64_t padding_idx, FE_VT *out, int out_f32, int64_t *argmax, int64_t c_lo, int64_t c_hi)
{
    int64_t width = c_hi - c_lo;
    if (mode != FE_BAG_MAX && width % FE_BAG_VL == 0) {
        int nv = (int)(width / FE_BAG_VL);
        /* about FE_BAG_PF_BYTES of rows ahead, at least FE_BAG_PF_DIST rows */
        int64_t pf = FE_BAG_PF_BYTES / (width * (int64_t)sizeof(FE_VT));
        pf = pf < FE_BAG_PF_DIST ? FE_BAG_PF_DIST : pf > 4 * FE_BAG_PF_DIST ? 4 * FE_BAG_PF_DIST : pf;
        int how = (psw != NULL) + 2 * (padding_idx >= 0);
        if (nv == 1 || nv == 2 || nv == 4 || nv == 8) {
            /* nv and how as constants: one unrolled loop per case */
#define FE_BAG_V(NV, P, D)                                                                     \
    FE_BAG_FN(fe_bag_vpool)(table, n_rows, dim, row_stride, ids, n_ids, bounds, b_lo, b_hi,    \
                            mode, psw, padding_idx, out, out_f32, c_lo, pf, NV, P, D)
#define FE_BAG_VHOW(NV)                                                                        \
    switch (how) {                                                                             \
    case 0: FE_BAG_V(NV, 0, 0); return;                                                        \
    case 1: FE_BAG_V(NV, 1, 0); return;                                                        \
    case 2: FE_BAG_V(NV, 0, 1); return;                                                        \
    default: FE_BAG_V(NV, 1, 1); return;                                                       \
    }
            switch (nv) {
            case 1: FE_BAG_VHOW(1)
            case 2: FE_BAG_VHOW(2)
            case 4: FE_BAG_VHOW(4)
            default: FE_BAG_VHOW(8)
            }
#undef FE_BAG_VHOW
#undef FE_BAG_V
        }
    }
#define FE_BAG_CALL(W)                                                                         \
    FE_BAG_FN(fe_bag_pool)(table, n_rows, dim, row_stride, ids, n_ids, bounds, b_lo, b_hi,     \
                           mode, psw, padding_idx, out, out_f32, argmax, c_lo, W)
    switch (width) {
    case 16: FE_BAG_CALL(16); break;
    case 32: FE_BAG_CALL(32); break;
    case 64: FE_BAG_CALL(64); break;
    case 128: FE_BAG_CALL(128); break;
    default: FE_BAG_CALL(width); break;
    }
#undef FE_BAG_CALL
}
#undef FE_BAG_FN
#undef FE_BAG_VVAL
#undef FE_BAG_VACC
