# Type stubs of the Cython extension fastembed._kernels (the ops layer's private door into
# csrc/). Arrays are NumPy arrays already validated by the ops layer: C-contiguous int32 or
# int64 ids, float32/float64 tables with contiguous rows. A failing kernel raises the
# exception its status maps to (IndexError, ValueError, MemoryError) and writes nothing.
from typing import Any, Optional, Tuple

import numpy as np
from numpy.typing import NDArray

Array = NDArray[Any]

OK: int
ERR_INDEX: int
ERR_VALUE: int
ERR_OVERFLOW: int
ERR_NOMEM: int
ERR_NONFINITE: int
BAG_SUM: int
BAG_MEAN: int
BAG_MAX: int
BAG_SQRTN: int
BAG_ACC64: int
BAG_OUT_F32: int
CONS_NONNEG: int
CONS_MAXNORM: int
CONS_UNITNORM: int
CONS_MINMAXNORM: int
INIT_UNIFORM: int
INIT_NORMAL: int
INIT_TRUNCATED: int
INIT_CONSTANT: int
OPT_SGD: int
OPT_ADAGRAD: int
OPT_ROWWISE_ADAGRAD: int
OPT_ADAM: int
OPT_FTRL: int
OPT_ROUND_NEAREST: int
OPT_ROUND_STOCHASTIC: int

def raise_status(status: int, bad_pos: int, ids: Optional[Array], n_rows: int,
                 name: str = ...) -> None:
    """Raises the exception a C status maps to (IndexError naming position, value, range)."""

# build and runtime facts
def openmp_enabled() -> bool: ...
def omp_max_threads() -> int: ...
def openmp_runtime() -> str: ...
def compiler() -> str: ...
def in_forked_child() -> bool: ...
def plan_threads(requested: int, work_bytes: int) -> int: ...
def simd_info() -> Tuple[str, str, str]: ...

# ids
def first_bad_id(ids: Array, n_rows: int, n_threads: int) -> int: ...
def group_ids(ids: Array, n_rows: int, n_threads: int,
              ids_for_errors: Array) -> Tuple[Array, Array, Array]: ...
def group_of(uniq: Array, id: int) -> int: ...

# lookup, bags
def lookup(weights: Array, ids: Array, out: Array, n_threads: int,
           ids_for_errors: Array) -> None: ...
def lookup_bag(weights: Array, ids: Array, bounds: Array, mode: int, psw: Optional[Array],
               padding_idx: int, out: Array, argmax: Optional[Array], n_threads: int,
               ids_for_errors: Array) -> None: ...
def bag_grad(grad: Array, bag_of: Array, scale: Optional[Array], argmax: Optional[Array],
             perm: Array, starts: Array, skip_group: int, values: Array,
             n_threads: int) -> None: ...
def bag_dots(weights: Array, ids: Array, bag_of: Array, grad: Array, dots: Array,
             n_threads: int) -> None: ...

# backward, renorm
def accumulate(ids: Array, grad: Array, n_rows: int, padding_idx: int, scale_by_count: bool,
               n_threads: int, ids_for_errors: Array,
               out: Optional[Tuple[Array, Array]] = ...) -> Tuple[Array, Array]: ...
def scatter_rows(values: Array, indices: Array, n_rows: int, out: Array,
                 n_threads: int) -> None: ...
def renorm(weights: Array, ids: Array, max_norm: float, norm_type: float, n_threads: int,
           ids_for_errors: Array) -> None: ...

# optimizers: `hyper` is fastembed._ops_optim.Hyper, `cons` None or (kind, a, b, rate)
def opt_step(table: Array, bf16: bool, ids: Array, grad: Array, padding_idx: int,
             s1: Optional[Array], s2: Optional[Array], state_row: int, kind: int,
             hyper: Tuple[float, ...],
             cons: Optional[Tuple[int, float, float, float]], allow_nonfinite: bool,
             n_threads: int, ids_for_errors: Array) -> None: ...
def opt_apply(table: Array, bf16: bool, indices: Array, values: Array, s1: Optional[Array],
              s2: Optional[Array], state_row: int, kind: int, hyper: Tuple[float, ...],
              cons: Optional[Tuple[int, float, float, float]], allow_nonfinite: bool,
              n_threads: int) -> None: ...

# constraints, initializers, dropout
def constrain_rows(weights: Array, ids: Array, kind: int, a: float, b: float, rate: float,
                   n_threads: int, ids_for_errors: Array) -> None: ...
def constrain_table(weights: Array, axis: int, kind: int, a: float, b: float, rate: float,
                    n_threads: int) -> None: ...
def constrain_rows_half(weights: Array, bf16: bool, ids: Array, kind: int, a: float, b: float,
                        rate: float, n_threads: int, ids_for_errors: Array) -> None: ...
def constrain_table_half(weights: Array, bf16: bool, axis: int, kind: int, a: float, b: float,
                         rate: float, n_threads: int) -> None: ...
def renorm_half(weights: Array, bf16: bool, ids: Array, max_norm: float, norm_type: float,
                n_threads: int, ids_for_errors: Array) -> None: ...
def init_fill(out: Array, kind: int, a: float, b: float, seed: int, n_threads: int) -> None: ...
def dropout_base(seed: int) -> int: ...
def dropout_key(base: int, call: int) -> int: ...
def dropout_keep(ids: Array, key: int, rate: float, keep: Array, n_threads: int) -> None: ...
