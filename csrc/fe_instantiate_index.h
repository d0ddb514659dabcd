/* Part of fe_instantiate.h: FE_IMPL per id type when FE_EACH_INDEX is set, else once. */
#ifdef FE_EACH_INDEX
#define FE_IDX int32_t
#define FE_ISUF i32
#include FE_IMPL
#undef FE_IDX
#undef FE_ISUF
#define FE_IDX int64_t
#define FE_ISUF i64
#include FE_IMPL
#undef FE_IDX
#undef FE_ISUF
#else
#include FE_IMPL
#endif
