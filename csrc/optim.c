/* Fused sparse optimizer steps: the summed gradient of each touched row, the optimizer's
 * update and its state, in one pass over the touched rows (each row one thread's). */
#include "fe_internal.h"

#include <math.h>
#include <stdlib.h>

#define FE_VT float
#define FE_VSUF f32
#include "optim_impl.h"
#undef FE_VT
#undef FE_VSUF
#define FE_VT double
#define FE_VSUF f64
#include "optim_impl.h"
#undef FE_VT
#undef FE_VSUF
