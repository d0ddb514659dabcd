/* Body of optim.c per arithmetic type (FE_VT float or double, FE_VSUF f32 or f64): the
 * parts a float16/bfloat16 table shares with a float32 one, whose gradient and state are
 * float32 too: one row's update and fe_first_nonfinite. */

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
        /* g^2 summed as 8 partial sums (column d in part[d % 8]), then pairwise: a fixed
         * order (the same for any thread count) without a dim-long chain of dependent adds,
         * which measured the rule at 1.85x SGD's apply (864K rows of 64) */
        double part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        int64_t d8 = dim - dim % 8;
        for (int64_t d = 0; d < d8; d += 8)
            for (int j = 0; j < 8; j++)
                part[j] += gb[d + j] * gb[d + j];
        for (int64_t d = d8; d < dim; d++)
            part[d - d8] += gb[d] * gb[d];
        double sq = ((part[0] + part[1]) + (part[2] + part[3]))
                    + ((part[4] + part[5]) + (part[6] + part[7]));
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
    case FE_OPT_FTRL: { /* Keras's FTRL: s1 = accumulator, s2 = linear */
        /* n^0.5 (Keras's default power) as sqrt: two pow calls an element were most of
         * the step (measured 2.45 s against 0.25 s for Adagrad, 1M ids of 64) */
        const int root = o->lr_power == -0.5;
        for (int64_t d = 0; d < dim; d++) {
            double x = decay * (double)w[d], g = gb[d];
            double n_old = (double)s1[d], gs = g + 2 * o->l2_shrinkage * x;
            double n_new = n_old + g * g;
            double p_new = root ? sqrt(n_new) : pow(n_new, -o->lr_power);
            double p_old = root ? sqrt(n_old) : pow(n_old, -o->lr_power);
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
}

int64_t FE_NAME(fe_first_nonfinite, FE_VSUF)(const FE_VT *x, int64_t n, FE_VT *max_abs,
                                             int n_threads)
{
    typedef FE_NAME(fe_opt_bits, FE_VSUF) bits_t;
    int nt = fe_plan_threads(n_threads, n * (int64_t)sizeof(FE_VT));
    int64_t found[FE_MAX_THREADS];
    bits_t top[FE_MAX_THREADS];
    for (int t = 0; t < nt; t++) { /* a team smaller than planned leaves its slots as is */
        found[t] = n;
        top[t] = 0;
    }
    const int level = fe_simd_level();
    (void)level;
    FE_PARALLEL_CHUNKS(nt, n, {
        bits_t m;
        FE_SIMD_DISPATCH(FE_NAME(fe_opt_max_bits, FE_VSUF), (x, lo, hi, &m));
        int64_t mine = n;
        if (m >= FE_NAME(FE_OPT_INF, FE_VSUF))
            for (int64_t i = lo; i < hi; i++)
                if (!isfinite(x[i])) {
                    mine = i;
                    break;
                }
        found[t] = mine;
        top[t] = m;
    });
    int64_t first = n;
    bits_t m = 0;
    for (int t = 0; t < nt; t++) {
        if (found[t] < first)
            first = found[t];
        m = top[t] > m ? top[t] : m;
    }
    if (max_abs)
        memcpy(max_abs, &m, sizeof m);
    return first < n ? first : -1;
}
