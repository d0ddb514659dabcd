/* Thread policy, fork detection, SIMD detection and build facts. */
#include "fe_internal.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#define FE_HAVE_ATFORK 1
#endif

/* Set in the child of a fork(): GNU libgomp's thread pool does not survive fork, and a
 * parallel region in the child would wait forever for workers that no longer exist. A
 * serial region (if(0)) does not touch the pool, so the child runs every kernel serially. */
static volatile int fe_forked = 0;

#ifdef FE_HAVE_ATFORK
static void fe_mark_forked(void) { fe_forked = 1; }
#if defined(__GNUC__)
__attribute__((constructor))
#endif
static void fe_register_atfork(void) { pthread_atfork(NULL, NULL, fe_mark_forked); }
#endif

int fe_in_forked_child(void) { return fe_forked; }

int fe_plan_threads(int requested, int64_t work_bytes)
{
#ifdef _OPENMP
    if (requested <= 1 || fe_forked || work_bytes < FE_SERIAL_BYTES)
        return 1;
    return requested < FE_MAX_THREADS ? requested : FE_MAX_THREADS;
#else
    (void)requested;
    (void)work_bytes;
    return 1;
#endif
}

int fe_openmp_enabled(void)
{
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

int fe_omp_max_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

const char *fe_compiler(void)
{
#if defined(__clang__)
    return "clang " __clang_version__;
#elif defined(__GNUC__)
    return "gcc " __VERSION__;
#elif defined(_MSC_VER)
    return "msvc";
#else
    return "unknown";
#endif
}

const char *fe_openmp_runtime(void)
{
#if !defined(_OPENMP)
    return "none (serial build)";
#elif defined(__clang__)
    return "LLVM libomp";
#elif defined(__GNUC__)
    return "GNU libgomp";
#else
    return "unknown";
#endif
}

void fe_chunk(int64_t n, int nt, int t, int64_t *lo, int64_t *hi)
{
    int64_t base = n / nt, extra = n % nt;
    *lo = t * base + (t < extra ? t : extra);
    *hi = *lo + base + (t < extra ? 1 : 0);
}

/* ---- SIMD detection ------------------------------------------------------------------- */

int fe_simd_cpu_level(void)
{
#ifdef FE_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        return 2;
    if (__builtin_cpu_supports("avx2"))
        return 1;
#endif
    return 0;
}

static int fe_simd_cached = -1;

int fe_simd_level(void)
{
    if (fe_simd_cached < 0) {
        int level = fe_simd_cpu_level();
        const char *cap = getenv("FASTEMBED_SIMD");
        if (cap && strcmp(cap, "baseline") == 0 && level > 0)
            level = 0;
        else if (cap && strcmp(cap, "avx2") == 0 && level > 1)
            level = 1;
        fe_simd_cached = level;
    }
    return fe_simd_cached;
}

const char *fe_simd_name(int level)
{
    static const char *names[] = {"baseline", "avx2", "avx512f"};
    return (level >= 0 && level <= 2) ? names[level] : "unknown";
}

const char *fe_simd_compiled(void)
{
#ifdef FE_X86
    return "baseline avx2 avx512f";
#else
    return "baseline";
#endif
}
