/* Id validation shared by every kernel that reads ids. */
#include "fe_internal.h"

#define FE_IMPL "check_impl.h"
#define FE_EACH_INDEX
#include "fe_instantiate.h"
#include "fe_instantiate_end.h"
