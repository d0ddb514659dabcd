"""The optional peer libraries (PyTorch, JAX, FBGEMM), imported only when a benchmark runs."""
import functools
import types

from fastembed.bench.core import optional_import

OPTIONAL = ("torch", "jax", "fbgemm")
_without = set()


def without(libraries):
    """Run with every installed optional peer except `libraries` (those are not even
    imported): replaces what an earlier call left out."""
    unknown = set(libraries) - set(OPTIONAL)
    if unknown:
        raise ValueError(f"unknown peer(s) {sorted(unknown)}; optional peers: {OPTIONAL}")
    _without.clear()
    _without.update(libraries)
    torch.cache_clear()
    jax.cache_clear()
    fbgemm.cache_clear()


@functools.lru_cache(maxsize=None)
def torch():
    return None if "torch" in _without else optional_import("torch")


@functools.lru_cache(maxsize=None)
def jax():
    """JAX with float64 enabled (the float64 cases compare against NumPy bit for bit), or
    None. Returns the `jax` module; use ``jax.numpy`` from it."""
    if "jax" in _without:
        return None
    jax = optional_import("jax")
    if jax is None:
        return None
    try:
        import jax.numpy  # noqa: F401
        jax.config.update("jax_enable_x64", True)
    except Exception:
        return None
    return jax


@functools.lru_cache(maxsize=None)
def fbgemm():
    """FBGEMM's CPU training embedding (package fbgemm-gpu-cpu, which needs the torch release
    it was built for), or None. Returns a namespace with the names the bench uses:
    ``TBE`` (SplitTableBatchedEmbeddingBagsCodegen), ``EmbeddingLocation``,
    ``ComputeDevice``, ``PoolingMode``, ``OptimType`` and ``version``."""
    if "fbgemm" in _without or torch() is None:
        return None
    try:
        import fbgemm_gpu
        from fbgemm_gpu.split_embedding_configs import EmbOptimType
        from fbgemm_gpu.split_table_batched_embeddings_ops_common import (EmbeddingLocation,
                                                                           PoolingMode)
        from fbgemm_gpu.split_table_batched_embeddings_ops_training import (
            ComputeDevice, SplitTableBatchedEmbeddingBagsCodegen)
    except Exception:
        return None
    return types.SimpleNamespace(
        TBE=SplitTableBatchedEmbeddingBagsCodegen, EmbeddingLocation=EmbeddingLocation,
        ComputeDevice=ComputeDevice, PoolingMode=PoolingMode, OptimType=EmbOptimType,
        version=getattr(fbgemm_gpu, "__version__", "unknown"))


def set_threads(library, n):
    """Give `library` `n` threads for what follows (only libraries that take a count;
    FBGEMM's CPU kernels run on torch's thread pool)."""
    if library in ("torch", "fbgemm") and torch() is not None:
        torch().set_num_threads(n)


def versions():
    """Versions of every peer library present (JSON's machine description)."""
    import numpy
    import scipy
    out = {"numpy": numpy.__version__, "scipy": scipy.__version__}
    if torch() is not None:
        out["torch"] = torch().__version__
    if jax() is not None:
        out["jax"] = jax().__version__
    if fbgemm.cache_info().currsize and fbgemm() is not None:  # only when a case used it
        out["fbgemm_gpu"] = fbgemm().version
    return out


def jax_block(x):
    """Wait for a JAX result (dispatch is asynchronous) and return it."""
    return x.block_until_ready()
