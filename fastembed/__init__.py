"""fastembed: OpenMP-parallel C kernels for embedding lookup and training."""
from fastembed._spin import load_extension as _load_extension

_load_extension()  # first: libgomp reads its spin count when it loads  # noqa: E402
from fastembed import constraints, initializers, ops, optimizers, regularizers
from fastembed._build_info import show_config
from fastembed._pool import buffer_pool_info, set_buffer_pool
from fastembed._threads import get_num_threads, set_num_threads
from fastembed._version import __version__
from fastembed.config import from_config
from fastembed.layer import Embedding
from fastembed.ops import accumulate, accumulate_bag, lookup, lookup_bag, renorm_
from fastembed.quantized import QuantizedTable, quantize
from fastembed.sparse import RowSparseGrad

__all__ = [
    "__version__", "get_num_threads", "set_num_threads", "show_config",
    "set_buffer_pool", "buffer_pool_info",
    # the kernels (fastembed.ops)
    "lookup", "lookup_bag", "accumulate", "accumulate_bag", "renorm_",
    "QuantizedTable", "quantize",
    "RowSparseGrad", "Embedding", "from_config",
    "ops", "initializers", "regularizers", "constraints", "optimizers",
]
