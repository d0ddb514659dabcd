"""fastembed: OpenMP-parallel C kernels for embedding lookup and training."""
from fastembed._config import show_config
from fastembed._threads import get_num_threads, set_num_threads
from fastembed._version import __version__
from fastembed.ops import lookup

__all__ = ["__version__", "get_num_threads", "lookup", "set_num_threads", "show_config"]
from fastembed.ops import accumulate, renorm_  # noqa: E402
from fastembed.sparse import RowSparseGrad  # noqa: E402
__all__ += ["accumulate", "renorm_", "RowSparseGrad"]
