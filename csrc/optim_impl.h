/* Body of the sparse optimizer update (fe_opt_update, fe_opt_apply) for one value type; included by optim.c with
 * FE_VT (float/double) and FE_VSUF (f32/f64). */

/* One touched row: `g_in` is its summed gradient (as accumulate returns it), `gb` dim
 * doubles of scratch, `s1`/`s2` its state rows. Each rule is its own branch-free loop over
 * the row, so that it vectorises. */
static void FE_NAME(fe_opt_row, FE_VSUF)(FE_VT *restrict w, const FE_VT *restrict g_in,
                                         double *restrict gb, FE_VT *restrict s1,
                                         FE_VT *restrict s2, int64_t dim, const fe_opt *o)
{
    const double lr = o->lr, l1 = o->l1, l2 = o->l2, wd = o->weight_decay;
    const double decay = o->decoupled ? 1.0 - lr * wd : 1.0; /* AdamW shrink, outside g */
    const double wd_g = o->decoupled ? 0.0 : wd;              /* L2 into the gradient */
    if (l1 != 0 || l2 != 0 || wd_g != 0) {
        /* the embeddings regularizer on the touched row ("lazy" regularization), L2 decay */
        for (int64_t d = 0; d < dim; d++) {
            double x = (double)w[d];
            gb[d] = (double)g_in[d] + l1 * (double)((x > 0) - (x < 0)) + (2 * l2 + wd_g) * x;
        }
    } else { /* no 0 * w term: an inf weight must not turn the gradient into NaN */
        for (int64_t d = 0; d < dim; d++)
            gb[d] = (double)g_in[d];
    }
    switch (o->kind) {
    case FE_OPT_SGD:
        if (o->momentum == 0) {
            for (int64_t d = 0; d < dim; d++)
                w[d] = (FE_VT)(decay * (double)w[d] - lr * gb[d]);
        } else { /* Keras: v = m v - lr g; w += v (nesterov: w += m v - lr g) */
            const double m = o->momentum, nest = o->nesterov ? 1.0 : 0.0;
            for (int64_t d = 0; d < dim; d++) {
                double v = m * (double)s1[d] - lr * gb[d];
                s1[d] = (FE_VT)v;
                double vs = (double)s1[d];
                w[d] = (FE_VT)(decay * (double)w[d] + (nest ? m * vs - lr * gb[d] : vs));
            }
        }
        break;
    case FE_OPT_ADAGRAD:
        for (int64_t d = 0; d < dim; d++) {
            s1[d] = (FE_VT)((double)s1[d] + gb[d] * gb[d]);
            double den = o->eps_in_sqrt ? sqrt((double)s1[d] + o->eps)
                                        : sqrt((double)s1[d]) + o->eps;
            w[d] = (FE_VT)(decay * (double)w[d] - lr * gb[d] / den);
        }
        break;
    case FE_OPT_ROWWISE_ADAGRAD: { /* one accumulator per row: += mean(g^2) */
        double sq = 0;
        for (int64_t d = 0; d < dim; d++)
            sq += gb[d] * gb[d];
        s1[0] = (FE_VT)((double)s1[0] + (dim ? sq / (double)dim : 0.0));
        const double step = lr / (o->eps_in_sqrt ? sqrt((double)s1[0] + o->eps)
                                                 : sqrt((double)s1[0]) + o->eps);
        for (int64_t d = 0; d < dim; d++)
            w[d] = (FE_VT)(decay * (double)w[d] - step * gb[d]);
        break;
    }
    case FE_OPT_ADAM: { /* lazy: only this row's moments move; bias by the global step */
        const double b1 = o->beta1, b2 = o->beta2, alpha = o->alpha, eps = o->eps;
        for (int64_t d = 0; d < dim; d++) {
            s1[d] = (FE_VT)(b1 * (double)s1[d] + (1 - b1) * gb[d]);
            s2[d] = (FE_VT)(b2 * (double)s2[d] + (1 - b2) * gb[d] * gb[d]);
            w[d] = (FE_VT)(decay * (double)w[d]
                           - alpha * (double)s1[d] / (sqrt((double)s2[d]) + eps));
        }
        break;
    }
    case FE_OPT_FTRL: /* Keras's FTRL: s1 = accumulator, s2 = linear */
        for (int64_t d = 0; d < dim; d++) {
            double x = decay * (double)w[d], g = gb[d];
            double n_old = (double)s1[d], gs = g + 2 * o->l2_shrinkage * x;
            double n_new = n_old + g * g;
            double p_new = pow(n_new, -o->lr_power), p_old = pow(n_old, -o->lr_power);
            double lin = (double)s2[d] + gs - (p_new - p_old) / lr * x;
            double quad = p_new / lr + 2 * o->ftrl_l2;
            double c = lin > o->ftrl_l1 ? o->ftrl_l1 : (lin < -o->ftrl_l1 ? -o->ftrl_l1 : lin);
            s1[d] = (FE_VT)n_new;
            s2[d] = (FE_VT)lin;
            w[d] = (FE_VT)((c - lin) / quad);
        }
        break;
    }
}

/* The summed gradient of one group: grad rows perm[k0:k1] added in that (input) order into
 * zeros, in the value type, exactly as accumulate sums them. Phase 1's finiteness check and
 * phase 2's update both sum through here, so what is checked is what is applied. */
static inline void FE_NAME(fe_opt_group_sum, FE_VSUF)(FE_VT *restrict sum, const FE_VT *grad,
                                                      int64_t dim, const int64_t *perm,
                                                      int64_t k0, int64_t k1, int64_t n_perm)
{
    const int64_t row_bytes = dim * (int64_t)sizeof(FE_VT);
    for (int64_t d = 0; d < dim; d++)
        sum[d] = 0;
    for (int64_t k = k0; k < k1; k++) {
        if (k + FE_OPT_PF_GRAD < n_perm) /* gradient rows come in perm order */
            fe_opt_prefetch_row(grad + perm[k + FE_OPT_PF_GRAD] * dim, row_bytes);
        const FE_VT *src = grad + perm[k] * dim;
        for (int64_t d = 0; d < dim; d++)
            sum[d] += src[d];
    }
}

fe_status FE_NAME(fe_opt_update, FE_VSUF)(
    char *table, int64_t n_rows, int64_t dim, int64_t row_stride, const int64_t *rows,
    int64_t n_groups, int64_t skip_group, const FE_VT *grad, int64_t n_grad, const int64_t *perm,
    const int64_t *starts, FE_VT *s1, FE_VT *s2, int64_t state_stride, const fe_opt *o,
    int check_sums, int n_threads, fe_opt_fault *fault)
{
    if (n_rows < 0 || dim < 0 || n_groups < 0 || row_stride % (int64_t)sizeof(FE_VT) != 0
        || state_stride % (int64_t)sizeof(FE_VT) != 0)
        return FE_ERR_VALUE; /* the strides may be negative */
    if (o->kind < FE_OPT_SGD || o->kind > FE_OPT_FTRL)
        return FE_ERR_VALUE;
    if (o->cons_kind >= 0 && !fe_cons_params_ok(o->cons_kind, o->cons_a, o->cons_b, o->cons_rate))
        return FE_ERR_VALUE;
    if (!perm && (skip_group >= 0 || n_grad != n_groups))
        return FE_ERR_VALUE;
    /* check everything before the first write: rows strictly increasing and in range */
    for (int64_t g = 0; g < n_groups; g++)
        if ((uint64_t)rows[g] >= (uint64_t)n_rows || (g > 0 && rows[g] <= rows[g - 1])) {
            fault->pos = g;
            return FE_ERR_INDEX;
        }
    const int skipping = skip_group >= 0 && skip_group < n_groups;
    const int64_t n_touched = n_groups - skipping;
    if (n_touched == 0 || dim == 0)
        return FE_OK;
    const int64_t n_perm = perm ? starts[n_groups] : 0;
    int64_t work = (perm ? n_perm : n_touched) * dim * (int64_t)sizeof(FE_VT);
    int nt = fe_plan_threads(n_threads, work);
    const int64_t row_bytes = dim * (int64_t)sizeof(FE_VT);
    /* per-thread scratch, allocated before the first write so that a failure changes nothing */
    double *gbs = (double *)malloc((size_t)nt * (size_t)dim * sizeof(double));
    FE_VT *sums = (FE_VT *)malloc((size_t)nt * (size_t)dim * sizeof(FE_VT));
    if (!gbs || !sums) {
        free(gbs);
        free(sums);
        return FE_ERR_NOMEM;
    }
    if (perm && check_sums) { /* phase 1, continued: every summed row finite */
        int64_t found[FE_MAX_THREADS];
        for (int t = 0; t < nt; t++)
            found[t] = n_touched;
        FE_PARALLEL_CHUNKS(nt, n_touched, {
            FE_VT *sum = sums + (int64_t)t * dim;
            for (int64_t r = lo; r < hi; r++) {
                int64_t grp = r + (skipping && r >= skip_group);
                FE_NAME(fe_opt_group_sum, FE_VSUF)(sum, grad, dim, perm, starts[grp],
                                                   starts[grp + 1], n_perm);
                int bad = 0;
                for (int64_t d = 0; d < dim; d++)
                    bad |= !isfinite(sum[d]);
                if (bad) { /* the chunk's first: chunks are in order, so the lowest wins */
                    found[t] = r;
                    break;
                }
            }
        });
        int64_t first = n_touched;
        for (int t = 0; t < nt; t++)
            if (found[t] < first)
                first = found[t];
        if (first < n_touched) {
            free(gbs);
            free(sums);
            int64_t grp = first + (skipping && first >= skip_group);
            fault->pos = -1;
            fault->row = rows[grp];
            fault->count = starts[grp + 1] - starts[grp];
            return FE_ERR_NONFINITE;
        }
    }
    FE_PARALLEL_CHUNKS(nt, n_touched, {
        FE_VT *sum = sums + (int64_t)t * dim;
        double *gb = gbs + (int64_t)t * dim;
        for (int64_t r = lo; r < hi; r++) {
            int64_t grp = r + (skipping && r >= skip_group);
            const FE_VT *g;
            if (grp + FE_OPT_PF_ROWS < n_groups) { /* rows and state rows updated a little later */
                int64_t ahead = rows[grp + FE_OPT_PF_ROWS];
                fe_opt_prefetch_row(table + ahead * row_stride, row_bytes);
                if (s1)
                    fe_opt_prefetch_row((char *)s1 + ahead * state_stride, state_stride);
                if (s2)
                    fe_opt_prefetch_row((char *)s2 + ahead * state_stride, state_stride);
            }
            if (perm) { /* fused: the row's gradient summed as accumulate sums it */
                FE_NAME(fe_opt_group_sum, FE_VSUF)(sum, grad, dim, perm, starts[grp],
                                                   starts[grp + 1], n_perm);
                g = sum;
            } else {
                g = grad + grp * dim;
            }
            int64_t row = rows[grp];
            FE_VT *w = (FE_VT *)(table + row * row_stride);
            FE_NAME(fe_opt_row, FE_VSUF)(w, g, gb,
                                         s1 ? (FE_VT *)((char *)s1 + row * state_stride) : NULL,
                                         s2 ? (FE_VT *)((char *)s2 + row * state_stride) : NULL,
                                         dim, o);
            if (o->cons_kind >= 0) /* the row constraint while the row is in cache */
                FE_NAME(fe_cons_row, FE_VSUF)(w, dim, o->cons_kind, o->cons_a, o->cons_b,
                                              o->cons_rate);
        }
    });
    free(gbs);
    free(sums);
    return FE_OK;
}

fe_status FE_NAME3(fe_opt_apply, FE_VSUF, i64)(char *table, int64_t n_rows, int64_t dim,
                                               int64_t row_stride, const int64_t *rows,
                                               int64_t n_touched, const FE_VT *values,
                                               FE_VT *s1, FE_VT *s2, int64_t state_stride,
                                               const fe_opt *o, int n_threads,
                                               fe_opt_fault *fault)
{
    fault->pos = fault->row = -1;
    fault->count = 0;
    if (n_touched < 0 || dim < 0)
        return FE_ERR_VALUE;
    if (dim > 0 && n_touched > INT64_MAX / dim)
        return FE_ERR_OVERFLOW;
    if (!o->allow_nonfinite) {
        int64_t bad = FE_NAME(fe_first_nonfinite, FE_VSUF)(values, n_touched * dim, NULL,
                                                           n_threads);
        if (bad >= 0) {
            fault->pos = bad;
            return FE_ERR_NONFINITE;
        }
    }
    return FE_NAME(fe_opt_update, FE_VSUF)(table, n_rows, dim, row_stride, rows, n_touched, -1,
                                           values, n_touched, NULL, NULL, s1, s2, state_stride, o,
                                           0, n_threads, fault);
}

/* max over [lo, hi) of the magnitude bits of x (see FE_VBITS in optim.c). An integer max
 * needs SSE4.1/AVX2 to vectorise well (measured: the SSE2 build reads ~2x slower than the
 * plain isfinite scan it replaced; the AVX2 one about as fast), hence the two variants. */
#define FE_OPT_MAX_BITS_BODY                                                                  \
    {                                                                                         \
        const FE_VBITS magnitude = ~((FE_VBITS)1 << (8 * sizeof(FE_VBITS) - 1));              \
        FE_VBITS m = 0;                                                                       \
        for (int64_t i = lo; i < hi; i++) {                                                   \
            FE_VBITS b;                                                                       \
            memcpy(&b, x + i, sizeof b);                                                      \
            b &= magnitude;                                                                   \
            m = b > m ? b : m;                                                                \
        }                                                                                     \
        return m;                                                                             \
    }
static FE_VBITS FE_NAME(fe_opt_max_bits_base, FE_VSUF)(const FE_VT *x, int64_t lo, int64_t hi)
FE_OPT_MAX_BITS_BODY
#ifdef FE_X86
__attribute__((target("avx2")))
static FE_VBITS FE_NAME(fe_opt_max_bits_avx2, FE_VSUF)(const FE_VT *x, int64_t lo, int64_t hi)
FE_OPT_MAX_BITS_BODY
#endif
#undef FE_OPT_MAX_BITS_BODY

int64_t FE_NAME(fe_first_nonfinite, FE_VSUF)(const FE_VT *x, int64_t n, FE_VT *max_abs,
                                             int n_threads)
{
    int nt = fe_plan_threads(n_threads, n * (int64_t)sizeof(FE_VT));
    int64_t found[FE_MAX_THREADS];
    FE_VBITS top[FE_MAX_THREADS];
    for (int t = 0; t < nt; t++) { /* a team smaller than planned leaves its slots as is */
        found[t] = n;
        top[t] = 0;
    }
#ifdef FE_X86
    const int avx2 = fe_simd_level() >= 1;
#endif
    FE_PARALLEL_CHUNKS(nt, n, {
        FE_VBITS m;
#ifdef FE_X86
        if (avx2)
            m = FE_NAME(fe_opt_max_bits_avx2, FE_VSUF)(x, lo, hi);
        else
#endif
            m = FE_NAME(fe_opt_max_bits_base, FE_VSUF)(x, lo, hi);
        int64_t mine = n;
        if (m >= FE_VINF_BITS)
            for (int64_t i = lo; i < hi; i++)
                if (!isfinite(x[i])) {
                    mine = i;
                    break;
                }
        found[t] = mine;
        top[t] = m;
    });
    int64_t first = n;
    FE_VBITS m = 0;
    for (int t = 0; t < nt; t++) {
        if (found[t] < first)
            first = found[t];
        m = top[t] > m ? top[t] : m;
    }
    if (max_abs)
        memcpy(max_abs, &m, sizeof m);
    return first < n ? first : -1;
}
