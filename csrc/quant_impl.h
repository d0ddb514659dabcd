/* Body of quant.c (fe_instantiate.h), per index type (FE_IDX, FE_ISUF): the pooling and
 * gather loops per SIMD level (FE_SIMD, FE_TARGET: fe_simd_clones.h; the level's vector
 * primitives fe_q*_<FE_SIMD> are in quant.c), then, in the pass without FE_SIMD, the entry
 * points fe_qlookup_<FE_ISUF> and fe_qlookup_bag_<FE_ISUF>. Row layout and value formula:
 * fe_quant.h. */

#ifdef FE_SIMD

#define FE_QV FE_NAME(fe_qv, FE_SIMD)
#define FE_QW FE_NAME(fe_qw, FE_SIMD)
#define FE_Q(op) FE_NAME(op, FE_SIMD)

/* A row's scale and bias, stored at p (float32 for 8 bits, float16 for 4). */
FE_TARGET static inline __attribute__((always_inline)) void
FE_NAME3(fe_qparams, FE_ISUF, FE_SIMD)(const uint8_t *p, int bits, float *scale, float *bias)
{
    if (bits == 8) {
        memcpy(scale, p, 4);
        memcpy(bias, p + 4, 4);
    } else {
        FE_Q(fe_qhalves)(p, scale, bias);
    }
}

/* Sum, mean or sqrtn of the bags [b_lo, b_hi), columns [c_lo, c_lo + width) (c_lo even),
 * of a table of BITS-bit rows. BITS and, for common widths, `width` are compile-time
 * constants: the accumulators then live in registers. Column j's sum is a chain of fused
 * multiply-adds in id order, acc = fma(code, w * scale, acc), and the biases are summed
 * once per row, bsum += w * bias, added to every column at the end: one fma per value.
 * A 4-bit row's byte k holds columns 2k and 2k + 1: its low nibbles go to acc[v], its
 * high ones to acc[nv + v] (the nibbles never move per row), interleaved once per bag.
 * An id out of range is the id check (fused: no pass of its own): skipped like padding, its
 * position, the chunk's first, kept in *first_bad (the entry point then reports it). */
FE_TARGET static inline __attribute__((always_inline)) void
FE_NAME3(fe_qbag_sum, FE_ISUF, FE_SIMD)(
    const uint8_t *packed, int64_t n_rows, int64_t stride, int64_t dim, const int BITS,
    const FE_IDX *ids, int64_t n_ids, const int64_t *bounds, int64_t b_lo, int64_t b_hi,
    int mode, const float *psw, int64_t padding_idx, float *out, int64_t c_lo,
    const int64_t width, const int PSW, int64_t *first_bad)
{
    const int64_t code_bytes = BITS == 8 ? dim : (dim + 1) / 2;
    const int64_t params_end = code_bytes + (BITS == 8 ? 7 : 3); /* a row's last byte */
    const int64_t nb = BITS == 8 ? width : (width + 1) / 2; /* bytes of the block */
    const int64_t c_byte = BITS == 8 ? c_lo : c_lo / 2;
    /* whole vectors of bytes (4-bit: of whole bytes, an odd width's last one in the tail) */
    const int64_t nv = (BITS == 8 ? width : width / 2) / FE_QW;
    const int64_t ntail = nb - nv * FE_QW;
    FE_QV acc[FE_QBAG_BLOCK / FE_QW];
    float tlo[FE_QW] = {0}, thi[FE_QW] = {0};
    for (int64_t b = b_lo; b < b_hi; b++) {
        for (int64_t v = 0; v < (BITS == 8 ? nv : 2 * nv); v++)
            acc[v] = FE_Q(fe_qzero)();
        for (int64_t j = 0; j < ntail; j++)
            tlo[j] = thi[j] = 0.0f;
        float bsum = 0.0f;
        int64_t skipped = 0;
        double wsum = 0, w2sum = 0;
        for (int64_t k = bounds[b]; k < bounds[b + 1]; k++) {
            if (k + FE_QBAG_PF_DIST < n_ids) {
                uint64_t ahead = (uint64_t)(int64_t)ids[k + FE_QBAG_PF_DIST];
                if (__builtin_expect(ahead < (uint64_t)n_rows, 1)) /* kept in line */
                    fe_qprefetch(packed + (int64_t)ahead * stride, c_byte, nb, params_end);
            }
            uint64_t id = (uint64_t)(int64_t)ids[k];
            if (__builtin_expect(id >= (uint64_t)n_rows || (int64_t)id == padding_idx, 0)) {
                if (id >= (uint64_t)n_rows && *first_bad < 0)
                    *first_bad = k;
                skipped++;
                continue;
            }
            const uint8_t *restrict row = packed + (int64_t)id * stride;
            float a, c;
            FE_NAME3(fe_qparams, FE_ISUF, FE_SIMD)(row + code_bytes, BITS, &a, &c);
            if (PSW) {
                float w = psw[k];
                wsum += (double)w;
                w2sum += (double)w * (double)w;
                a *= w;
                c *= w;
            }
            const uint8_t *restrict cb = row + c_byte;
            const FE_QV va = FE_Q(fe_qset)(a);
            for (int64_t v = 0; v < nv; v++) {
                if (BITS == 8) {
                    acc[v] = FE_Q(fe_qfma)(FE_Q(fe_qcode8)(cb + v * FE_QW), va, acc[v]);
                } else {
                    FE_QV lo, hi;
                    FE_Q(fe_qcode4)(cb + v * FE_QW, &lo, &hi);
                    acc[v] = FE_Q(fe_qfma)(lo, va, acc[v]);
                    acc[nv + v] = FE_Q(fe_qfma)(hi, va, acc[nv + v]);
                }
            }
            for (int64_t j = 0; j < ntail; j++) {
                const uint8_t q = cb[nv * FE_QW + j];
                if (BITS == 8) {
                    tlo[j] = fmaf((float)q, a, tlo[j]);
                } else {
                    tlo[j] = fmaf((float)(q & 15), a, tlo[j]);
                    thi[j] = fmaf((float)(q >> 4), a, thi[j]);
                }
            }
            bsum += c;
        }
        const int64_t count = bounds[b + 1] - bounds[b] - skipped;
        float *restrict dst = out + b * dim + c_lo;
        if (count == 0) {
            for (int64_t d = 0; d < width; d++)
                dst[d] = 0;
            continue;
        }
        if (!PSW)
            wsum = w2sum = (double)count;
        float norm = 1.0f; /* sum divides by 1: skipped, exact */
        if (mode == FE_BAG_MEAN || mode == FE_BAG_SQRTN)
            norm = (float)(mode == FE_BAG_MEAN ? wsum : sqrt(w2sum));
        for (int64_t v = 0; v < nv; v++) {
            if (BITS == 8)
                FE_Q(fe_qput)(dst + v * FE_QW, acc[v], bsum, norm);
            else
                FE_Q(fe_qput2)(dst + 2 * v * FE_QW, acc[v], acc[nv + v], bsum, norm);
        }
        for (int64_t j = 0; j < ntail; j++) {
            const int64_t col = BITS == 8 ? nv * FE_QW + j : 2 * (nv * FE_QW + j);
            fe_qput_base(dst + col, tlo[j], bsum, norm);
            if (BITS == 4 && col + 1 < width)
                fe_qput_base(dst + col + 1, thi[j], bsum, norm);
        }
    }
}

/* The columnwise max of the bags [b_lo, b_hi), columns [c_lo, c_hi), of the values
 * code * scale + bias (unfused, as fe_qlookup gives them): the first maximum wins, a NaN,
 * once met, stays (NumPy's max). Ids out of range as in fe_qbag_sum. Not a hot path: plain
 * loops. */
FE_TARGET static void FE_NAME3(fe_qbag_max, FE_ISUF, FE_SIMD)(
    const uint8_t *packed, int64_t n_rows, int64_t stride, int64_t dim, int bits,
    const FE_IDX *ids, const int64_t *bounds, int64_t b_lo, int64_t b_hi,
    int64_t padding_idx, float *out, int64_t c_lo, int64_t c_hi, int64_t *first_bad)
{
    const int64_t code_bytes = bits == 8 ? dim : (dim + 1) / 2;
    for (int64_t b = b_lo; b < b_hi; b++) {
        float *restrict dst = out + b * dim;
        int64_t count = 0;
        for (int64_t k = bounds[b]; k < bounds[b + 1]; k++) {
            uint64_t id = (uint64_t)(int64_t)ids[k];
            if (id >= (uint64_t)n_rows || (int64_t)id == padding_idx) {
                if (id >= (uint64_t)n_rows && *first_bad < 0)
                    *first_bad = k;
                continue;
            }
            const uint8_t *row = packed + (int64_t)id * stride;
            float scale, bias;
            FE_NAME3(fe_qparams, FE_ISUF, FE_SIMD)(row + code_bytes, bits, &scale, &bias);
            for (int64_t d = c_lo; d < c_hi; d++) {
                int q = bits == 8 ? row[d] : (row[d / 2] >> (4 * (d & 1))) & 15;
                float v = (float)q * scale + bias, m = dst[d];
                dst[d] = (count == 0 || v > m || (v != v && m == m)) ? v : m;
            }
            count++;
        }
        if (count == 0)
            for (int64_t d = c_lo; d < c_hi; d++)
                dst[d] = 0;
    }
}

FE_TARGET static void FE_NAME3(fe_qbag_block, FE_ISUF, FE_SIMD)(
    const uint8_t *packed, int64_t n_rows, int64_t stride, int64_t dim, int bits,
    const FE_IDX *ids, int64_t n_ids, const int64_t *bounds, int64_t b_lo, int64_t b_hi,
    int mode, const float *psw, int64_t padding_idx, float *out, int64_t c_lo, int64_t c_hi,
    int64_t *first_bad)
{
    if (mode == FE_BAG_MAX) {
        FE_NAME3(fe_qbag_max, FE_ISUF, FE_SIMD)(packed, n_rows, stride, dim, bits, ids, bounds,
                                                b_lo, b_hi, padding_idx, out, c_lo, c_hi,
                                                first_bad);
        return;
    }
    const int64_t width = c_hi - c_lo;
#define FE_QSUM(BITS, W, PSW)                                                                 \
    FE_NAME3(fe_qbag_sum, FE_ISUF, FE_SIMD)(packed, n_rows, stride, dim, BITS, ids, n_ids,    \
                                            bounds, b_lo, b_hi, mode, psw, padding_idx, out,  \
                                            c_lo, W, PSW, first_bad)
    /* the common widths compiled with their accumulators in registers, for each bits and
     * with and without weights (16 instantiations); any other width as a run-time loop */
    const int PSW = psw != NULL;
#define FE_QSUM_CONST(W)                                                                      \
    (bits == 8 ? (PSW ? FE_QSUM(8, W, 1) : FE_QSUM(8, W, 0))                                  \
               : (PSW ? FE_QSUM(4, W, 1) : FE_QSUM(4, W, 0)))
    switch (width) {
    case 16: FE_QSUM_CONST(16); break;
    case 32: FE_QSUM_CONST(32); break;
    case 64: FE_QSUM_CONST(64); break;
    case 128: FE_QSUM_CONST(128); break;
    default:
        if (bits == 8)
            FE_QSUM(8, width, PSW);
        else
            FE_QSUM(4, width, PSW);
    }
#undef FE_QSUM_CONST
#undef FE_QSUM
}

/* Dequantize the rows of ids[lo:hi) into out rows lo..hi (ids already checked), each value
 * code * scale + bias, unfused (bit for bit QuantizedTable.dequantize). */
FE_TARGET static inline __attribute__((always_inline)) void
FE_NAME3(fe_qgather_rows, FE_ISUF, FE_SIMD)(
    const uint8_t *packed, int64_t n_rows, int64_t stride, const int BITS, const FE_IDX *ids,
    int64_t lo, int64_t hi, float *out, const int64_t width)
{
    const int64_t code_bytes = BITS == 8 ? width : (width + 1) / 2;
    const int64_t params_end = code_bytes + (BITS == 8 ? 7 : 3);
    for (int64_t i = lo; i < hi; i++) {
        if (i + FE_QPF_DIST < hi)
            fe_qprefetch(packed + (int64_t)ids[i + FE_QPF_DIST] * stride, 0, code_bytes,
                         params_end);
        uint64_t id = (uint64_t)(int64_t)ids[i];
        if (id >= (uint64_t)n_rows) /* unreachable after the check pass; memory safety */
            continue;
        const uint8_t *restrict row = packed + (int64_t)id * stride;
        float *restrict dst = out + i * width;
        float scale, bias;
        FE_NAME3(fe_qparams, FE_ISUF, FE_SIMD)(row + code_bytes, BITS, &scale, &bias);
        if (BITS == 8) {
            for (int64_t d = 0; d < width; d++)
                dst[d] = (float)row[d] * scale + bias;
        } else {
            for (int64_t j = 0; j < width / 2; j++) {
                dst[2 * j] = (float)(row[j] & 15) * scale + bias;
                dst[2 * j + 1] = (float)(row[j] >> 4) * scale + bias;
            }
            if (width & 1)
                dst[width - 1] = (float)(row[width / 2] & 15) * scale + bias;
        }
    }
}

FE_TARGET static void FE_NAME3(fe_qgather_chunk, FE_ISUF, FE_SIMD)(
    const uint8_t *packed, int64_t n_rows, int64_t stride, int64_t dim, int bits,
    const FE_IDX *ids, int64_t lo, int64_t hi, float *out)
{
#define FE_QROWS(BITS, W)                                                                     \
    FE_NAME3(fe_qgather_rows, FE_ISUF, FE_SIMD)(packed, n_rows, stride, BITS, ids, lo, hi, out, W)
    switch (bits * 1000 + dim) {
    case 8016: FE_QROWS(8, 16); break;
    case 8032: FE_QROWS(8, 32); break;
    case 8064: FE_QROWS(8, 64); break;
    case 8128: FE_QROWS(8, 128); break;
    case 4016: FE_QROWS(4, 16); break;
    case 4032: FE_QROWS(4, 32); break;
    case 4064: FE_QROWS(4, 64); break;
    case 4128: FE_QROWS(4, 128); break;
    default:
        if (bits == 8)
            FE_QROWS(8, dim);
        else
            FE_QROWS(4, dim);
    }
#undef FE_QROWS
}

#undef FE_QV
#undef FE_QW
#undef FE_Q

#else /* the entry points: every argument and id checked, then chunks over threads */

fe_status FE_NAME(fe_qlookup, FE_ISUF)(const uint8_t *packed, int64_t n_rows, int64_t stride,
                                       int64_t dim, int bits, const FE_IDX *ids, int64_t n_ids,
                                       float *out, int n_threads, int64_t *bad_pos)
{
    int64_t row_bytes = fe_qrow_bytes(dim, bits);
    if (n_rows < 0 || n_ids < 0 || row_bytes < 0 || (n_rows > 0 && stride < row_bytes))
        return FE_ERR_VALUE;
    fe_status st = FE_NAME(fe_check_ids, FE_ISUF)(dim > 0 && n_ids > INT64_MAX / dim / 4, ids,
                                                  n_ids, n_rows, n_threads, bad_pos);
    if (st != FE_OK || n_ids == 0 || dim == 0)
        return st;
    int nt = fe_plan_threads(n_threads, n_ids * (dim * 4 + row_bytes));
    int level = fe_simd_level();
    FE_PARALLEL_CHUNKS(nt, n_ids, {
        FE_SIMD_DISPATCH(FE_NAME(fe_qgather_chunk, FE_ISUF),
                         (packed, n_rows, stride, dim, bits, ids, lo, hi, out));
    });
    return FE_OK;
}

fe_status FE_NAME(fe_qlookup_bag, FE_ISUF)(const uint8_t *packed, int64_t n_rows,
                                           int64_t stride, int64_t dim, int bits,
                                           const FE_IDX *ids, int64_t n_ids,
                                           const int64_t *bounds, int64_t n_bags, int mode,
                                           const float *psw, int64_t padding_idx, float *out,
                                           int n_threads, int64_t *bad_pos)
{
    int64_t row_bytes = fe_qrow_bytes(dim, bits);
    if (n_rows < 0 || n_ids < 0 || row_bytes < 0 || (n_rows > 0 && stride < row_bytes)
        || mode < FE_BAG_SUM || mode > FE_BAG_SQRTN || (psw && mode == FE_BAG_MAX)
        || !fe_bag_bounds_ok(bounds, n_bags, n_ids))
        return FE_ERR_VALUE;
    if (dim > 0 && n_bags > INT64_MAX / dim / 4)
        return FE_ERR_OVERFLOW;
    if (dim == 0) /* no pooling pass to check the ids in */
        return fe_index_status(FE_NAME(fe_first_bad_id, FE_ISUF)(ids, n_ids, n_rows, n_threads),
                               bad_pos);
    if (n_bags == 0) /* then no ids either (bounds end at n_ids) */
        return FE_OK;
    int nt = fe_plan_threads(n_threads, n_ids * row_bytes + n_bags * dim * 4);
    int level = fe_simd_level();
    if (n_ids == 0)
        nt = 1; /* only empty bags: zeros */
    /* each thread's first bad position (its bags, so its ids, ascend); the least is the
     * first of all, whatever the thread count */
    int64_t first_bad[FE_MAX_THREADS];
    for (int t = 0; t < FE_MAX_THREADS; t++)
        first_bad[t] = -1;
    FE_PARALLEL_CHUNKS(nt, n_ids, {
        int64_t b_lo = lo == 0 ? 0 : fe_first_bag_from(bounds, n_bags, n_ids, lo);
        int64_t b_hi = hi >= n_ids ? n_bags : fe_first_bag_from(bounds, n_bags, n_ids, hi);
        for (int64_t c = 0; c < dim; c += FE_QBAG_BLOCK) {
            int64_t c_hi = dim - c < FE_QBAG_BLOCK ? dim : c + FE_QBAG_BLOCK;
            FE_SIMD_DISPATCH(FE_NAME(fe_qbag_block, FE_ISUF),
                             (packed, n_rows, stride, dim, bits, ids, n_ids, bounds, b_lo,
                              b_hi, mode, psw, padding_idx, out, c, c_hi, &first_bad[t]));
        }
    });
    int64_t bad = -1;
    for (int t = 0; t < FE_MAX_THREADS; t++)
        if (first_bad[t] >= 0 && (bad < 0 || first_bad[t] < bad))
            bad = first_bad[t];
    return fe_index_status(bad, bad_pos);
}

#endif
