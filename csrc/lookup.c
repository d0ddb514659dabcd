/* Embedding lookup: a bounds-checked, prefetching, parallel row gather.
 * Non-temporal stores were measured and dropped: on this project's reference machine
 * (AMD EPYC, 2 cores) they made the 256 MB gather slower, 14.1 ms vs 12.5 ms. */
#include "fe_internal.h"

#include <string.h>

#define FE_IMPL "lookup_impl.h"
#define FE_EACH_INDEX
#define FE_SIMD_BODY "fe_instantiate.h"
#include "fe_simd_clones.h" /* the gather loops, per index type and SIMD level */
#include "fe_instantiate.h" /* the entry points, per index type */
#include "fe_instantiate_end.h"
