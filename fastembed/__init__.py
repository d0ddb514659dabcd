"""fastembed: OpenMP-parallel C kernels for embedding lookup and training."""
from fastembed._config import show_config
from fastembed._threads import get_num_threads, set_num_threads
from fastembed._version import __version__
from fastembed.ops import lookup
from fastembed.ops import lookup_bag

__all__ = ["__version__", "get_num_threads", "lookup", "lookup_bag", "set_num_threads", "show_config"]
