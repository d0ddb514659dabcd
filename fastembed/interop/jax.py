"""JAX functions backed by fastembed kernels: differentiable (a custom VJP whose backward is
fastembed's accumulate) and usable under ``jax.jit`` (the kernels run on the host through
``jax.pure_callback``; JAX hands them NumPy views of CPU buffers)."""
import functools

import jax
import numpy as np

import fastembed

__all__ = ["lookup", "lookup_bag"]


def _callback(fn, shape, dtype, *args):
    return jax.pure_callback(fn, jax.ShapeDtypeStruct(shape, dtype), *args,
                             vmap_method="sequential")


@jax.custom_vjp
def lookup(weights, ids):
    """``weights[ids]`` by `fastembed.lookup`; the gradient with respect to `weights` is
    `fastembed.accumulate` (dense, as JAX wants it). Equal to ``jnp.take(weights, ids,
    axis=0)`` for in-range ids; an out-of-range id raises (JAX's take would clamp it)."""
    return _lookup_fwd(weights, ids)[0]


def _lookup_fwd(weights, ids):
    out = _callback(lambda w, i: fastembed.lookup(np.asarray(w), np.asarray(i)),
                    ids.shape + weights.shape[1:], weights.dtype, weights, ids)
    return out, (ids, weights)  # weights: a reference for the shape, not a copy


def _lookup_bwd(res, g):
    ids, weights = res
    n_rows, dim = weights.shape

    def grad(i, go):
        return fastembed.accumulate(np.asarray(i), np.asarray(go), n_rows).to_dense()

    return _callback(grad, (n_rows, dim), g.dtype, ids, g), None


lookup.defvjp(_lookup_fwd, _lookup_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4, 5))
def _bag(weights, ids, offsets, mode, padding_idx, include_last_offset):
    return _bag_fwd(weights, ids, offsets, mode, padding_idx, include_last_offset)[0]


def _n_bags(ids, offsets, include_last_offset):
    if offsets is None:
        return ids.shape[0]
    return offsets.shape[0] - 1 if include_last_offset else offsets.shape[0]


def _bag_fwd(weights, ids, offsets, mode, padding_idx, include_last_offset):
    def run(w, i, o):
        return fastembed.lookup_bag(np.asarray(w), np.asarray(i), None if o is None else np.asarray(o),
                                    mode=mode, padding_idx=padding_idx,
                                    include_last_offset=include_last_offset)

    shape = (_n_bags(ids, offsets, include_last_offset), weights.shape[1])
    out = _callback(run, shape, weights.dtype, weights, ids, offsets)
    return out, (weights, ids, offsets)


def _bag_bwd(mode, padding_idx, include_last_offset, res, g):
    weights, ids, offsets = res

    def grad(w, i, o, go):
        return fastembed.accumulate_bag(
            np.asarray(i), None if o is None else np.asarray(o), np.asarray(go), w.shape[0],
            mode=mode, padding_idx=padding_idx, include_last_offset=include_last_offset,
            weights=np.asarray(w) if mode == "max" else None).to_dense()

    return _callback(grad, weights.shape, weights.dtype, weights, ids, offsets, g), None, None


_bag.defvjp(_bag_fwd, _bag_bwd)


def lookup_bag(weights, ids, offsets=None, *, mode="sum", padding_idx=None,
               include_last_offset=False):
    """Pooled lookup by `fastembed.lookup_bag` (modes "sum", "mean", "max", "sqrtn"; 2-D
    `ids` as fixed-size bags or 1-D `ids` with `offsets`), differentiable with respect to
    `weights` through `fastembed.accumulate_bag`, and usable under ``jax.jit``."""
    return _bag(weights, ids, offsets, mode, padding_idx, include_last_offset)
