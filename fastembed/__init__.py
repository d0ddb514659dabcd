"""fastembed: OpenMP-parallel C kernels for embedding lookup and training."""
from fastembed import constraints, initializers, ops, regularizers
from fastembed._config import show_config
from fastembed._threads import get_num_threads, set_num_threads
from fastembed._version import __version__
from fastembed.config import from_config
from fastembed.layer import Embedding
from fastembed.ops import *  # noqa: F401,F403  every public kernel: ops.__all__
from fastembed.quantized import QuantizedTable, quantize
from fastembed.sparse import RowSparseGrad

__all__ = ["__version__", "get_num_threads", "set_num_threads", "show_config", "RowSparseGrad",
           "Embedding", "from_config", "initializers", "regularizers", "constraints",
           "QuantizedTable", "quantize",
           *ops.__all__]
