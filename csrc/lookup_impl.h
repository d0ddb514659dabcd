/* Body of the row gather for one (index type, SIMD target) pair; included by lookup.c with
 * FE_IDX, FE_ISUF (i32/i64), FE_SIMD (base/avx2/avx512) and FE_TARGET (a target attribute). */

/* Rows this far ahead are prefetched: enough to cover DRAM latency for rows of 64-512 B. */
#define FE_PF_DIST 16

/* Rows whose width is a compile-time constant copy with inlined vector moves. */
#define FE_GATHER_ROWS(ROW_BYTES)                                                            \
    for (int64_t i = lo; i < hi; i++) {                                                      \
        if (i + FE_PF_DIST < hi) {                                                           \
            uint64_t pf = (uint64_t)(int64_t)ids[i + FE_PF_DIST];                            \
            if (pf < (uint64_t)n_rows) {                                                     \
                const char *p = table + (int64_t)pf * row_stride;                            \
                for (int64_t b = 0; b < (ROW_BYTES) && b < 512; b += 64)                     \
                    FE_PREFETCH(p + b);                                                      \
            }                                                                                \
        }                                                                                    \
        uint64_t id = (uint64_t)(int64_t)ids[i];                                             \
        if (id >= (uint64_t)n_rows) /* unreachable after the check pass; memory safety */    \
            continue;                                                                        \
        const char *src = table + (int64_t)id * row_stride;                                  \
        char *dst = out + i * (ROW_BYTES);                                                   \
        memcpy(dst, src, (size_t)(ROW_BYTES));                                               \
    }

FE_TARGET static void FE_NAME3(fe_gather_chunk, FE_ISUF, FE_SIMD)(
    const char *table, int64_t n_rows, int64_t row_bytes, int64_t row_stride,
    const FE_IDX *ids, int64_t lo, int64_t hi, char *out)
{
    switch (row_bytes) {
    case 64: FE_GATHER_ROWS(64) break;
    case 128: FE_GATHER_ROWS(128) break;
    case 256: FE_GATHER_ROWS(256) break;
    case 512: FE_GATHER_ROWS(512) break;
    case 1024: FE_GATHER_ROWS(1024) break;
    default: FE_GATHER_ROWS(row_bytes) break;
    }
}

#undef FE_GATHER_ROWS
#undef FE_PF_DIST
