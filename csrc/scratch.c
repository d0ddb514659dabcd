/* Scratch allocations of the kernels: huge-page-advised for big blocks (see fe_internal.h). */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* MADV_HUGEPAGE, posix_memalign under -std=c99 */
#endif
#include "fe_internal.h"

#include <stdlib.h>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#define FE_HUGE (2 * 1024 * 1024)

void *fe_scratch_alloc(int64_t bytes)
{
    if (bytes < 0 || (uint64_t)bytes > (uint64_t)SIZE_MAX - FE_HUGE)
        return NULL;
    if (bytes == 0)
        bytes = 1;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (bytes >= 2 * FE_HUGE) {
        void *p = NULL;
        size_t rounded = ((size_t)bytes + FE_HUGE - 1) / FE_HUGE * FE_HUGE;
        if (posix_memalign(&p, FE_HUGE, rounded) != 0)
            return NULL;
        madvise(p, rounded, MADV_HUGEPAGE); /* advice only: failure changes nothing */
        return p;
    }
#endif
    return malloc((size_t)bytes);
}

void fe_scratch_free(void *p) { free(p); }
