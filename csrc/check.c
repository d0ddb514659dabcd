/* Id validation shared by every kernel that reads ids. */
#include "fe_internal.h"

#define FE_IDX int32_t
#define FE_ISUF i32
#include "check_impl.h"
#undef FE_IDX
#undef FE_ISUF

#define FE_IDX int64_t
#define FE_ISUF i64
#include "check_impl.h"
#undef FE_IDX
#undef FE_ISUF
