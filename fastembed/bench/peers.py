"""The optional peer libraries (PyTorch, JAX), imported only when a benchmark runs."""
import functools

from fastembed.bench.core import optional_import

OPTIONAL = ("torch", "jax")
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


def set_threads(library, n):
    """Give `library` `n` threads for what follows (only libraries that take a count)."""
    if library == "torch" and torch() is not None:
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
    return out


def jax_block(x):
    """Wait for a JAX result (dispatch is asynchronous) and return it."""
    return x.block_until_ready()
