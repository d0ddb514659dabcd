/* Body of group.c (fe_instantiate.h), per index type (FE_IDX, FE_ISUF). In the passes with
 * FE_KEY (the radix key type: uint32_t when every id fits in 32 bits, else uint64_t; suffix
 * FE_KSUF) the LSD radix team; in the pass without it the bucketed team and the entry points
 * fe_group_ids_<FE_ISUF> and fe_distinct_ids_<FE_ISUF>. Every thread of a team runs its
 * function with its number t (0 <= t < nt); the phases are separated by barriers (orphaned
 * OpenMP barriers: with one thread and no parallel region they are no-ops). */

#ifdef FE_KEY

/* One LSD radix pass over this thread's chunk [lo, hi): a histogram of the digit, then,
 * once thread 0 turned the histograms of all threads into starting offsets (digit-major,
 * thread-minor, so equal digits keep their input order), a stable scatter. */
static void FE_NAME3(fe_group_team, FE_ISUF, FE_KSUF)(fe_group_ctx *c, int t, int nt)
{
    int64_t lo, hi;
    fe_chunk(c->n, nt, t, &lo, &hi);
    const int64_t nb = (int64_t)1 << c->dbits;
    int64_t *h = c->hist + (int64_t)t * nb;
    const FE_KEY *src_k = NULL;
    FE_KEY *dst_k = (FE_KEY *)c->keys[0];
    const int64_t *src_p = NULL; /* NULL: the position is the index itself (first pass) */
    int64_t *dst_p = c->pos[0];
    int cur = 0; /* which pair of buffers holds the current order after a pass */

    for (int p = 0; p < c->passes; p++) {
        const int shift = p * c->dbits;
        const uint64_t mask = (uint64_t)nb - 1;
        for (int64_t b = 0; b < nb; b++)
            h[b] = 0;
        if (p == 0) {
            const FE_IDX *ids = (const FE_IDX *)c->ids;
            uint64_t any_bad = 0;
            for (int64_t i = lo; i < hi; i++) {
                uint64_t id = (uint64_t)(int64_t)ids[i];
                any_bad |= (uint64_t)(id >= (uint64_t)c->n_rows);
                h[(id >> shift) & mask]++; /* a bad id counts in some bucket; never scattered */
            }
            c->bad[t] = any_bad != 0;
        } else {
            for (int64_t i = lo; i < hi; i++)
                h[((uint64_t)src_k[i] >> shift) & mask]++;
        }
#pragma omp barrier
        if (t == 0) {
            c->stop = fe_any_bad(c->bad, nt);
            /* a pass whose digit is the same for every id would not move anything */
            int64_t off = 0, single = 0;
            for (int64_t b = 0; b < nb; b++) {
                int64_t tot = 0;
                for (int tt = 0; tt < nt; tt++) {
                    int64_t v = c->hist[(int64_t)tt * nb + b];
                    c->hist[(int64_t)tt * nb + b] = off;
                    off += v;
                    tot += v;
                }
                single |= (tot == c->n);
            }
            c->skip = (p > 0 && single);
        }
#pragma omp barrier
        if (c->stop)
            break;
        if (c->skip)
            continue;
        if (p == 0) {
            const FE_IDX *ids = (const FE_IDX *)c->ids;
            for (int64_t i = lo; i < hi; i++) {
                uint64_t id = (uint64_t)(int64_t)ids[i];
                int64_t d = h[(id >> shift) & mask]++;
                dst_k[d] = (FE_KEY)id;
                dst_p[d] = i;
            }
        } else {
            for (int64_t i = lo; i < hi; i++) {
                FE_KEY k = src_k[i];
                int64_t d = h[((uint64_t)k >> shift) & mask]++;
                dst_k[d] = k;
                dst_p[d] = src_p[i];
            }
        }
        cur = (p == 0) ? 0 : 1 - cur;
        src_k = (const FE_KEY *)c->keys[cur];
        src_p = c->pos[cur];
        dst_k = (FE_KEY *)c->keys[1 - cur];
        dst_p = c->pos[1 - cur];
#pragma omp barrier
    }
    if (c->stop)
        return;

    /* Distinct keys: a key starts a group where it differs from its predecessor. Count the
     * group starts per chunk, offset them by the counts of the chunks before, write. */
    const FE_KEY *k = (const FE_KEY *)c->keys[cur];
    const int64_t *pos = c->pos[cur];
    int64_t mine = 0;
    for (int64_t i = lo; i < hi; i++)
        mine += (i == 0 || k[i] != k[i - 1]);
    c->count[t] = mine;
#pragma omp barrier
    int64_t u = 0;
    for (int tt = 0; tt < t; tt++)
        u += c->count[tt];
    for (int64_t i = lo; i < hi; i++) {
        if (i == 0 || k[i] != k[i - 1]) {
            c->uniq[u] = (int64_t)k[i];
            c->starts[u] = i;
            u++;
        }
    }
    if (pos != c->perm)
        for (int64_t i = lo; i < hi; i++)
            c->perm[i] = pos[i];
    if (t == nt - 1) {
        c->n_unique = u;
        c->starts[u] = c->n;
    }
}

#else /* FE_KEY */

/* The bucketed path, for n_rows up to a few times n_ids: one stable scatter of (low bits,
 * position) into buckets of 2**wbits consecutive ids, then each thread counting-sorts its
 * own whole buckets in a cache-resident count array (2**wbits <= 65536 entries) and writes
 * their groups. One pass over memory instead of one per radix digit. */
static void FE_NAME(fe_group_team_msd, FE_ISUF)(fe_group_ctx *c, int t, int nt)
{
    int64_t lo, hi;
    fe_chunk(c->n, nt, t, &lo, &hi);
    const int64_t nb = c->n_buckets;
    const int w = c->dbits;
    const uint64_t lmask = ((uint64_t)1 << w) - 1;
    int64_t *h = c->hist + (int64_t)t * nb;
    const FE_IDX *ids = (const FE_IDX *)c->ids;
    uint16_t *low = (uint16_t *)c->keys[0];
    int64_t *pos = c->pos[1];

    for (int64_t b = 0; b < nb; b++)
        h[b] = 0;
    uint64_t any_bad = 0;
    for (int64_t i = lo; i < hi; i++) {
        uint64_t id = (uint64_t)(int64_t)ids[i];
        uint64_t bad = (uint64_t)(id >= (uint64_t)c->n_rows);
        any_bad |= bad;
        h[bad ? 0 : (id >> w)]++; /* a bad id is never scattered: the call stops below */
    }
    c->bad[t] = any_bad != 0;
#pragma omp barrier
    if (t == 0) {
        c->stop = fe_any_bad(c->bad, nt);
        int64_t off = 0;
        for (int64_t b = 0; b < nb; b++) {
            c->bstart[b] = off;
            for (int tt = 0; tt < nt; tt++) {
                int64_t v = c->hist[(int64_t)tt * nb + b];
                c->hist[(int64_t)tt * nb + b] = off;
                off += v;
            }
        }
        c->bstart[nb] = off;
    }
#pragma omp barrier
    if (c->stop)
        return;
    for (int64_t i = lo; i < hi; i++) {
        uint64_t id = (uint64_t)(int64_t)ids[i];
        if (id >= (uint64_t)c->n_rows) /* unreachable: checked above */
            continue;
        int64_t d = h[id >> w]++;
        low[d] = (uint16_t)(id & lmask);
        pos[d] = i;
    }
#pragma omp barrier
    /* this thread's buckets: a contiguous range holding about n / nt positions */
    int64_t b_lo = t == 0 ? 0 : fe_lower_bound(c->bstart, nb, c->n / nt * t + c->n % nt * t / nt);
    int64_t b_hi = t == nt - 1 ? nb
                               : fe_lower_bound(c->bstart, nb,
                                                      c->n / nt * (t + 1) + c->n % nt * (t + 1) / nt);
    uint32_t *cnt = c->cnt + ((int64_t)t << w);
    const int64_t wsize = (int64_t)1 << w;
    int64_t mine = 0;
    for (int64_t b = b_lo; b < b_hi; b++)
        if (c->bstart[b] < c->bstart[b + 1])
            mine += fe_bucket_counts(cnt, wsize, low, c->bstart[b], c->bstart[b + 1]);
    c->count[t] = mine;
#pragma omp barrier
    int64_t u = 0;
    for (int tt = 0; tt < t; tt++)
        u += c->count[tt];
    int64_t *off = (int64_t *)c->offs + ((int64_t)t << w);
    for (int64_t b = b_lo; b < b_hi; b++) {
        int64_t s = c->bstart[b], e = c->bstart[b + 1];
        if (s == e)
            continue;
        fe_bucket_counts(cnt, wsize, low, s, e);
        /* branch-free: whether a count is zero is a coin toss for uniform ids; an empty
         * row's writes go to a dummy slot (a branch here measured 30% of the grouping) */
        int64_t run = s, dummy[2];
        for (int64_t r = 0; r < wsize; r++) {
            uint32_t cr = cnt[r];
            int64_t *du = cr ? &c->uniq[u] : &dummy[0];
            int64_t *ds = cr ? &c->starts[u] : &dummy[1];
            *du = (b << w) + r;
            *ds = run;
            off[r] = run;
            run += cr;
            u += cr != 0;
        }
        for (int64_t k = s; k < e; k++)
            c->perm[off[low[k]]++] = pos[k];
    }
    if (t == nt - 1) {
        c->n_unique = u;
        c->starts[u] = c->n;
    }
}

fe_status FE_NAME(fe_group_ids, FE_ISUF)(const FE_IDX *ids, int64_t n_ids, int64_t n_rows,
                                         int64_t *uniq, int64_t *starts, int64_t *perm,
                                         int64_t *n_unique, int n_threads, int64_t *bad_pos)
{
    fe_group_ctx c;
    c.ids = ids;
    c.n = n_ids;
    c.n_rows = n_rows;
    c.uniq = uniq;
    c.starts = starts;
    c.perm = perm;
    c.n_unique = 0;
    fe_status st = n_rows <= ((int64_t)1 << 32)
        ? fe_group_run(&c, FE_NAME3(fe_group_team, FE_ISUF, u32),
                       FE_NAME(fe_group_team_msd, FE_ISUF), 4, n_threads, n_unique)
        : fe_group_run(&c, FE_NAME3(fe_group_team, FE_ISUF, u64),
                       FE_NAME(fe_group_team_msd, FE_ISUF), 8, n_threads, n_unique);
    if (st == FE_ERR_INDEX)
        *bad_pos = FE_NAME(fe_first_bad_id, FE_ISUF)(ids, n_ids, n_rows, n_threads);
    return st;
}

/* The distinct ids of ids[0..n_ids), ascending, in *uniq_out (scratch: free it with
 * fe_scratch_free; NULL when there are none) and their count in *n_unique: phase 1 of the
 * in-place kernels that touch each distinct row once (renorm_, row constraints). */
fe_status FE_NAME(fe_distinct_ids, FE_ISUF)(const FE_IDX *ids, int64_t n_ids, int64_t n_rows,
                                            int64_t **uniq_out, int64_t *n_unique,
                                            int n_threads, int64_t *bad_pos)
{
    *uniq_out = NULL;
    *n_unique = 0;
    if (n_ids > INT64_MAX / 32)
        return FE_ERR_OVERFLOW;
    if (n_ids == 0)
        return FE_OK;
    int64_t *uniq = (int64_t *)fe_scratch_alloc(n_ids * 8);
    int64_t *starts = (int64_t *)fe_scratch_alloc((n_ids + 1) * 8);
    int64_t *perm = (int64_t *)fe_scratch_alloc(n_ids * 8);
    fe_status st = FE_ERR_NOMEM;
    if (uniq && starts && perm)
        st = FE_NAME(fe_group_ids, FE_ISUF)(ids, n_ids, n_rows, uniq, starts, perm, n_unique,
                                            n_threads, bad_pos);
    fe_scratch_free(starts);
    fe_scratch_free(perm);
    if (st == FE_OK)
        *uniq_out = uniq;
    else
        fe_scratch_free(uniq);
    return st;
}

#endif /* FE_KEY */
