/* Keras's weight constraints (MaxNorm, NonNeg, UnitNorm, MinMaxNorm) in place: on the
 * distinct rows of an id list (row constraints, the lazy path of a training step) or on a
 * whole table (rows or columns); and torch's max-norm renorm of the rows an id list
 * touches. */
#include "fe_internal.h"

#include <math.h>

#define FE_CONS_EPS 1e-7     /* keras.backend.epsilon() */
#define FE_CONS_BLOCK 256    /* rows per partial column sum; fixed: the sums must not
                                depend on the thread count */

int fe_cons_params_ok(int kind, double a, double b, double rate)
{
    switch (kind) {
    case FE_CONS_NONNEG:
    case FE_CONS_UNITNORM:
        return 1;
    case FE_CONS_MAXNORM:
        return a >= 0.0; /* false for NaN */
    case FE_CONS_MINMAXNORM:
        return a >= 0.0 && b >= a && isfinite(rate); /* b may be inf: no upper clip */
    default:
        return 0;
    }
}

/* The factor w is multiplied by (MaxNorm, MinMaxNorm), from the norm, in double. */
static inline double fe_cons_factor(int kind, double norm, double a, double b, double rate)
{
    if (kind == FE_CONS_MAXNORM) { /* clip(norm, 0, a) / (eps + norm); NaN stays NaN */
        double c = norm > a ? a : norm;
        return c / (FE_CONS_EPS + norm);
    }
    double c = norm < a ? a : (norm > b ? b : norm); /* clip(norm, a, b) */
    double desired = rate * c + (1.0 - rate) * norm;
    return desired / (FE_CONS_EPS + norm);
}

/* Renorm (torch.embedding_renorm_) shares the distinct-row walk of the row constraints as
 * one more kind, internal to this file: a = max_norm, b = norm_type. */
#define FE_CONS_RENORM (-1)

#define FE_IMPL "constraint_impl.h"
#define FE_EACH_VALUE
#define FE_EACH_HALF
#include "fe_instantiate.h" /* per value type: one row, the whole table */
#define FE_EACH_INDEX
#include "fe_instantiate.h" /* per value and index type: the distinct rows of ids */
#include "fe_instantiate_end.h"
