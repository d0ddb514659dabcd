/* opt_step_impl.h once per index type (int32, int64), for the value type opt_step.c defines
 * around this include. */
#define FE_IDX int32_t
#define FE_ISUF i32
#include "opt_step_impl.h"
#undef FE_IDX
#undef FE_ISUF
#define FE_IDX int64_t
#define FE_ISUF i64
#include "opt_step_impl.h"
#undef FE_IDX
#undef FE_ISUF
