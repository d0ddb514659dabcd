/* Stable grouping of ids: a parallel LSD radix sort of (id, position) pairs, then a pass
 * that marks where each distinct id starts. O(n_ids * passes) time with passes =
 * ceil(bits(n_rows - 1) / 11) (2 for a million rows), O(n_ids) scratch, no comparisons,
 * no atomics. The output is the unique stable order, so it is the same for any thread
 * count. Shared by the backward kernels (accumulate, accumulate_bag) and the sparse
 * optimizers: they group once, then each thread owns whole groups. */
#include "fe_internal.h"

#include <stdlib.h>

typedef struct {
    const void *ids;
    int64_t n, n_rows;
    int passes, dbits;
    void *keys[2];      /* radix keys, ping-pong */
    int64_t *pos[2];    /* positions, ping-pong: pos[0] is the caller's perm */
    int64_t *hist;      /* nt * 2**dbits per-thread digit counts, then offsets */
    int bad[FE_MAX_THREADS];
    int64_t count[FE_MAX_THREADS];
    int stop, skip;
    int64_t *uniq, *starts, *perm, n_unique;
    /* the bucketed path */
    int64_t n_buckets;
    int64_t *bstart;    /* n_buckets + 1 bucket offsets */
    uint32_t *cnt;      /* nt * 2**dbits counts */
    int64_t *offs;      /* nt * 2**dbits running offsets */
} fe_group_ctx;

/* Whether any thread of the team saw a bad id. */
static int fe_any_bad(const int *bad, int nt)
{
    int any = 0;
    for (int t = 0; t < nt; t++)
        any |= bad[t];
    return any;
}

/* Clears cnt[0:wsize] and counts in it the low id bits low[s:e) of one bucket; returns how
 * many distinct values there are (the groups the bucket holds). */
static int64_t fe_bucket_counts(uint32_t *cnt, int64_t wsize, const uint16_t *low, int64_t s,
                                int64_t e)
{
    int64_t distinct = 0;
    for (int64_t r = 0; r < wsize; r++)
        cnt[r] = 0;
    for (int64_t k = s; k < e; k++)
        distinct += (cnt[low[k]]++ == 0);
    return distinct;
}

typedef void (*fe_group_team_fn)(fe_group_ctx *c, int t, int nt);

static void fe_group_launch(fe_group_ctx *c, fe_group_team_fn team, int nt)
{
    c->stop = 0;
    c->skip = 0;
    if (nt <= 1) {
        team(c, 0, 1);
    } else {
#ifdef _OPENMP
#pragma omp parallel num_threads(nt)
        /* the team may be smaller than asked (OMP_THREAD_LIMIT): chunk by its size */
        team(c, omp_get_thread_num(), omp_get_num_threads());
#else
        team(c, 0, 1);
#endif
    }
}

static fe_status fe_group_run(fe_group_ctx *c, fe_group_team_fn lsd, fe_group_team_fn msd,
                              int64_t key_bytes, int n_threads, int64_t *n_unique)
{
    *n_unique = 0;
    if (c->n < 0 || c->n_rows < 0)
        return FE_ERR_VALUE;
    if (c->n == 0) {
        c->starts[0] = 0;
        return FE_OK;
    }
    if (c->n > INT64_MAX / 32)
        return FE_ERR_OVERFLOW;
    int bits = 1; /* bits of the largest valid id */
    while (bits < 63 && (((uint64_t)1 << bits) < (uint64_t)c->n_rows))
        bits++;
    fe_status st = FE_OK;
    c->keys[0] = c->keys[1] = NULL;
    c->pos[0] = c->perm;
    c->pos[1] = NULL;
    c->hist = c->bstart = NULL;
    c->cnt = NULL;
    c->offs = NULL;

    if (c->n_rows <= 4 * c->n + 65536) {
        /* bucketed path: buckets of 2**w ids, w <= 16 so a bucket's counts stay in L1/L2;
         * its cost is O(n_ids + n_rows), hence only when n_rows is O(n_ids) */
        int w = bits <= 12 ? bits : (bits - 8 < 12 ? 12 : (bits - 8 > 16 ? 16 : bits - 8));
        c->dbits = w;
        c->n_buckets = (int64_t)(((uint64_t)c->n_rows + ((uint64_t)1 << w) - 1) >> w);
        if (c->n_buckets < 1)
            c->n_buckets = 1;
        int nt = fe_plan_threads(n_threads, c->n * 18);
        int64_t nb = c->n_buckets, ws = (int64_t)1 << w;
        c->keys[0] = fe_scratch_alloc(c->n * 2);
        c->pos[1] = (int64_t *)fe_scratch_alloc(c->n * 8);
        c->hist = (int64_t *)fe_scratch_alloc(nb * nt * 8);
        c->bstart = (int64_t *)fe_scratch_alloc((nb + 1) * 8);
        c->cnt = (uint32_t *)fe_scratch_alloc(ws * nt * 4);
        c->offs = (int64_t *)fe_scratch_alloc(ws * nt * 8);
        if (!c->keys[0] || !c->pos[1] || !c->hist || !c->bstart || !c->cnt || !c->offs)
            st = FE_ERR_NOMEM;
        else
            fe_group_launch(c, msd, nt);
    } else {
        /* LSD radix: digits of at most 11 bits (2048 buckets), fewer for few ids so that
         * clearing the histograms does not dominate */
        int maxd = 6;
        while (maxd < 11 && ((int64_t)1 << (maxd + 2)) <= c->n)
            maxd++;
        c->passes = (bits + maxd - 1) / maxd;
        c->dbits = (bits + c->passes - 1) / c->passes;
        int nt = fe_plan_threads(n_threads, c->n * (8 + key_bytes));
        int64_t nb = (int64_t)1 << c->dbits;
        c->keys[0] = fe_scratch_alloc(c->n * key_bytes);
        c->keys[1] = c->passes > 1 ? fe_scratch_alloc(c->n * key_bytes) : NULL;
        c->pos[1] = c->passes > 1 ? (int64_t *)fe_scratch_alloc(c->n * 8) : NULL;
        c->hist = (int64_t *)fe_scratch_alloc(nb * nt * 8);
        if (!c->keys[0] || !c->hist || (c->passes > 1 && (!c->keys[1] || !c->pos[1])))
            st = FE_ERR_NOMEM;
        else
            fe_group_launch(c, lsd, nt);
    }
    if (st == FE_OK) {
        if (c->stop)
            st = FE_ERR_INDEX; /* the typed entry point locates the first bad position */
        else
            *n_unique = c->n_unique;
    }
    fe_scratch_free(c->keys[0]);
    fe_scratch_free(c->keys[1]);
    fe_scratch_free(c->pos[1]);
    fe_scratch_free(c->hist);
    fe_scratch_free(c->bstart);
    fe_scratch_free(c->cnt);
    fe_scratch_free(c->offs);
    return st;
}

/* The LSD radix teams per index type, with 32-bit keys (every id below 2**32) and 64-bit
 * keys; then the bucketed team and the entry points per index type. */
#define FE_IMPL "group_impl.h"
#define FE_EACH_INDEX
#define FE_KEY uint32_t
#define FE_KSUF u32
#include "fe_instantiate.h"
#undef FE_KEY
#undef FE_KSUF
#define FE_KEY uint64_t
#define FE_KSUF u64
#include "fe_instantiate.h"
#undef FE_KEY
#undef FE_KSUF
#include "fe_instantiate.h"
#include "fe_instantiate_end.h"

int64_t fe_group_of(const int64_t *uniq, int64_t n_unique, int64_t id)
{
    int64_t at = fe_lower_bound(uniq, n_unique, id);
    return at < n_unique && uniq[at] == id ? at : -1;
}
