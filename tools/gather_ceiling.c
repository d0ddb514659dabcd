/* gather_ceiling: the best random-row gather this machine runs, measured against the
 * sequential copy the bench divides by (issue 15, item 5).
 *
 * Table: n_rows x row_bytes (default 1M x 256 B = 256 MB), ids uniform in [0, n_rows)
 * (int64), out n_ids x row_bytes, every page of every buffer written before timing (as with
 * lookup(out=)). Variants, timed in interleaved rounds (one round runs every variant once,
 * in turn; the figure is the median over rounds):
 *   copy        memcpy of a 256 MB buffer into another, split in contiguous halves per
 *               thread: what the bench's np.copyto measures (glibc picks non-temporal
 *               stores for copies this large)
 *   copy-rfo    the same copy with ordinary AVX-512 stores (write-allocate)
 *   gather-pfD  ids[i] row -> out[i] with ordinary stores, rows D ahead prefetched (T0)
 *   nt-pfD      the same with non-temporal (streaming) stores
 *   gather-pf16-H  ordinary stores, prefetch hint H (t1, t2: to L2; nta) instead of T0
 * Bytes counted as the bench counts them: rows read + rows written (+ ids read for the
 * gathers), 2 x 256 MB for the copy.
 *
 * Build and run (from the repo root):
 *   gcc -O3 -march=native -fopenmp tools/gather_ceiling.c -o /tmp/gather_ceiling
 *   /tmp/gather_ceiling [rounds=15] [n_rows=1000000] [row_bytes=256] [n_ids=1000000] [huge=1]
 * huge=1 advises transparent huge pages on every buffer, as NumPy does for its large arrays
 * (the THP mode here is "madvise"); huge=0 leaves 4 KB pages (every random row a TLB miss).
 * As a library for tools/gather_peers.py:
 *   gcc -O3 -march=native -fopenmp -shared -fPIC tools/gather_ceiling.c -o /tmp/gather_ceiling.so
 * It prints one line per (threads, variant): median wall ms, GB/s and GB/s / copy GB/s, then
 * the same from on-CPU time (per round the largest CLOCK_THREAD_CPUTIME_ID of the team's
 * threads): on a loaded machine the wall figures include time the threads sat descheduled,
 * the on-CPU ones do not (they still share the memory bus with the other processes). */
#include <immintrin.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int64_t n_rows = 1000000, row_bytes = 256, n_ids = 1000000;
static char *table, *out, *src, *dst;
static int64_t *ids;
static int64_t copy_bytes = 256 << 20;
static double cpu_used[64]; /* CPU seconds each thread of the last region ran */

static double thread_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* the half [lo, hi) of n that thread t of nt owns */
static void part(int64_t n, int nt, int t, int64_t *lo, int64_t *hi)
{
    *lo = n * t / nt;
    *hi = n * (t + 1) / nt;
}

static void copy_glibc(int nt)
{
#pragma omp parallel num_threads(nt)
    {
        double c0 = thread_cpu();
        int64_t lo, hi;
        part(copy_bytes / 64, omp_get_num_threads(), omp_get_thread_num(), &lo, &hi);
        memcpy(dst + lo * 64, src + lo * 64, (size_t)((hi - lo) * 64));
        cpu_used[omp_get_thread_num()] = thread_cpu() - c0;
    }
}

static void copy_rfo(int nt)
{
#pragma omp parallel num_threads(nt)
    {
        double c0 = thread_cpu();
        int64_t lo, hi;
        part(copy_bytes / 64, omp_get_num_threads(), omp_get_thread_num(), &lo, &hi);
        for (int64_t i = lo; i < hi; i++)
            _mm512_store_si512((void *)(dst + i * 64), _mm512_load_si512((void *)(src + i * 64)));
        cpu_used[omp_get_thread_num()] = thread_cpu() - c0;
    }
}

/* One gather variant: prefetch distance pf (0: none), nt_store (streaming stores). */
static void gather(int nt, int pf, int nt_store, int hint)
{
#pragma omp parallel num_threads(nt)
    {
        double c0 = thread_cpu();
        int64_t lo, hi;
        part(n_ids, omp_get_num_threads(), omp_get_thread_num(), &lo, &hi);
        const int64_t lines = row_bytes / 64;
        for (int64_t i = lo; i < hi; i++) {
            if (pf && i + pf < hi) {
                const char *p = table + ids[i + pf] * row_bytes;
                for (int64_t b = 0; b < lines; b++) {
                    if (hint == 1)
                        _mm_prefetch(p + b * 64, _MM_HINT_T1);
                    else if (hint == 2)
                        _mm_prefetch(p + b * 64, _MM_HINT_T2);
                    else if (hint == 3)
                        _mm_prefetch(p + b * 64, _MM_HINT_NTA);
                    else
                        _mm_prefetch(p + b * 64, _MM_HINT_T0);
                }
            }
            const char *s = table + ids[i] * row_bytes;
            char *d = out + i * row_bytes;
            if (nt_store) {
                for (int64_t b = 0; b < lines; b++)
                    _mm512_stream_si512((void *)(d + b * 64),
                                        _mm512_loadu_si512((const void *)(s + b * 64)));
            } else {
                for (int64_t b = 0; b < lines; b++)
                    _mm512_storeu_si512((void *)(d + b * 64),
                                       _mm512_loadu_si512((const void *)(s + b * 64)));
            }
        }
        if (nt_store)
            _mm_sfence();
        cpu_used[omp_get_thread_num()] = thread_cpu() - c0;
    }
}

/* For tools/gather_peers.py (ctypes, built with -shared -fPIC): one gather of `n` rows of
 * the caller's table into its out, timed there beside fastembed in the same process. */
void gather_ceiling_call(char *tab, int64_t rows, int64_t rb, int64_t *id, int64_t n,
                         char *o, int nt, int pf, int nt_store)
{
    table = tab, n_rows = rows, row_bytes = rb, ids = id, n_ids = n, out = o;
    gather(nt, pf, nt_store, 0);
}

enum { MAXV = 20 };

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 15;
    if (argc > 2)
        n_rows = atoll(argv[2]);
    if (argc > 3)
        row_bytes = atoll(argv[3]);
    if (argc > 4)
        n_ids = atoll(argv[4]);
    if (row_bytes % 64 != 0) {
        fprintf(stderr, "row_bytes must be a multiple of 64\n");
        return 2;
    }
    table = aligned_alloc(4096, (size_t)(n_rows * row_bytes));
    out = aligned_alloc(4096, (size_t)(n_ids * row_bytes));
    src = aligned_alloc(4096, (size_t)copy_bytes);
    dst = aligned_alloc(4096, (size_t)copy_bytes);
    ids = malloc((size_t)n_ids * sizeof(int64_t));
    int huge = argc > 5 ? atoi(argv[5]) : 1;
    if (huge) {
        madvise(table, (size_t)(n_rows * row_bytes), MADV_HUGEPAGE);
        madvise(out, (size_t)(n_ids * row_bytes), MADV_HUGEPAGE);
        madvise(src, (size_t)copy_bytes, MADV_HUGEPAGE);
        madvise(dst, (size_t)copy_bytes, MADV_HUGEPAGE);
    }
    memset(table, 1, (size_t)(n_rows * row_bytes));
    memset(out, 2, (size_t)(n_ids * row_bytes));
    memset(src, 3, (size_t)copy_bytes);
    memset(dst, 4, (size_t)copy_bytes);
    uint64_t x = 88172645463325252ULL;
    for (int64_t i = 0; i < n_ids; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        ids[i] = (int64_t)(x % (uint64_t)n_rows);
    }
    const char *names[MAXV];
    int pfs[MAXV], nts[MAXV], hints[MAXV] = {0}, nv = 0;
    names[nv] = "copy", pfs[nv] = -1, nts[nv++] = 0;
    names[nv] = "copy-rfo", pfs[nv] = -2, nts[nv++] = 0;
    static const int dists[] = {0, 8, 16, 32};
    static char label[MAXV][32];
    for (int s = 0; s < 2; s++)
        for (int k = 0; k < 4; k++) {
            snprintf(label[nv], sizeof label[nv], "%s-pf%d", s ? "nt" : "gather", dists[k]);
            names[nv] = label[nv], pfs[nv] = dists[k], nts[nv++] = s;
        }
    static const char *hint_names[] = {"t0", "t1", "t2", "nta"};
    for (int h = 1; h < 4; h++) { /* prefetch hints other than T0, at 16 rows ahead */
        snprintf(label[nv], sizeof label[nv], "gather-pf16-%s", hint_names[h]);
        names[nv] = label[nv], pfs[nv] = 16, hints[nv] = h, nts[nv++] = 0;
    }
    double gather_bytes = 2.0 * n_ids * row_bytes + 8.0 * n_ids;
    double cbytes = 2.0 * copy_bytes;
    for (int nt = 1; nt <= 2; nt++) {
        double *t = calloc((size_t)(rounds * nv), sizeof(double));
        double *c = calloc((size_t)(rounds * nv), sizeof(double));
        for (int r = 0; r < rounds; r++)
            for (int v = 0; v < nv; v++) {
                double t0 = now();
                if (pfs[v] == -1)
                    copy_glibc(nt);
                else if (pfs[v] == -2)
                    copy_rfo(nt);
                else
                    gather(nt, pfs[v], nts[v], hints[v]);
                t[v * rounds + r] = now() - t0;
                double m = 0;
                for (int k = 0; k < nt; k++)
                    m = cpu_used[k] > m ? cpu_used[k] : m;
                c[v * rounds + r] = m;
            }
        double copy_wall = 0, copy_cpu = 0;
        for (int v = 0; v < nv; v++) {
            qsort(t + v * rounds, (size_t)rounds, sizeof(double), cmp_double);
            qsort(c + v * rounds, (size_t)rounds, sizeof(double), cmp_double);
            double bytes = pfs[v] < 0 ? cbytes : gather_bytes;
            double gw = bytes / t[v * rounds + rounds / 2] / 1e9;
            double gc = bytes / c[v * rounds + rounds / 2] / 1e9;
            if (v == 0)
                copy_wall = gw, copy_cpu = gc;
            printf("%d thr %-16s wall %8.2f ms %6.2f GB/s %5.2f of copy | on-CPU %8.2f ms "
                   "%6.2f GB/s %5.2f of copy\n", nt, names[v], t[v * rounds + rounds / 2] * 1e3,
                   gw, gw / copy_wall, c[v * rounds + rounds / 2] * 1e3, gc, gc / copy_cpu);
        }
        free(t);
        free(c);
    }
    return 0;
}
