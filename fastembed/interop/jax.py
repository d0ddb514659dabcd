"""JAX functions backed by fastembed kernels: differentiable (a custom VJP whose backward is
fastembed's accumulate) and usable under ``jax.jit``. The kernels run on the host inside
the compiled computation through ``jax.experimental.buffer_callback``, which hands them
JAX's own CPU buffers (no copy of the table, results written in place); on a JAX without
it, through ``jax.pure_callback`` (which copies the operands). Under ``jit`` a bad id
raises JAX's runtime error carrying fastembed's IndexError message."""
import functools

import jax
import numpy as np

from fastembed import ops

__all__ = ["lookup", "lookup_bag"]


try:  # zero-copy host buffers (JAX >= 0.7); pure_callback copies every operand, table included
    from jax.experimental.buffer_callback import buffer_callback as _buffer_callback
except ImportError:
    _buffer_callback = None


def _host(fn, shape, dtype, *args):
    """Run ``fn(out, *args)`` on NumPy views of the operands, filling ``out`` in place."""
    result = jax.ShapeDtypeStruct(shape, dtype)
    if _buffer_callback is not None:
        def call(ctx, out, *bufs):
            fn(np.asarray(out), *(None if b is None else np.asarray(b) for b in bufs))
        return _buffer_callback(call, result, vmap_method="sequential")(*args)

    def call(*arrays):
        out = np.empty(shape, dtype)
        fn(out, *arrays)
        return out
    return jax.pure_callback(call, result, *args, vmap_method="sequential")


@jax.custom_vjp
def lookup(weights, ids):
    """``weights[ids]`` by `fastembed.lookup`; the gradient with respect to `weights` is
    `fastembed.accumulate` (dense, as JAX wants it). Equal to ``jnp.take(weights, ids,
    axis=0)`` for in-range ids; an out-of-range id raises (JAX's take would clamp it)."""
    return _lookup_fwd(weights, ids)[0]


def _lookup_fwd(weights, ids):
    out = _host(lambda o, w, i: ops.lookup(w, i, out=o),
                ids.shape + weights.shape[1:], weights.dtype, weights, ids)
    return out, (ids, weights)  # weights: a reference for the shape, not a copy


def _lookup_bwd(res, g):
    ids, weights = res
    n_rows, dim = weights.shape

    def grad(out, i, go):
        ops.accumulate(i, go, n_rows).to_dense(out=out)

    return _host(grad, (n_rows, dim), g.dtype, ids, g), None


lookup.defvjp(_lookup_fwd, _lookup_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4, 5))
def _bag(weights, ids, offsets, mode, padding_idx, include_last_offset):
    return _bag_fwd(weights, ids, offsets, mode, padding_idx, include_last_offset)[0]


def _n_bags(ids, offsets, include_last_offset):
    if offsets is None:
        return ids.shape[0]
    return offsets.shape[0] - 1 if include_last_offset else offsets.shape[0]


def _bag_fwd(weights, ids, offsets, mode, padding_idx, include_last_offset):
    def run(out, w, i, o):
        ops.lookup_bag(w, i, o, mode=mode, padding_idx=padding_idx,
                             include_last_offset=include_last_offset, out=out)

    shape = (_n_bags(ids, offsets, include_last_offset), weights.shape[1])
    out = _host(run, shape, weights.dtype, weights, ids, offsets)
    return out, (weights, ids, offsets)


def _bag_bwd(mode, padding_idx, include_last_offset, res, g):
    weights, ids, offsets = res

    def grad(out, w, i, o, go):
        ops.accumulate_bag(
            i, o, go, w.shape[0], mode=mode, padding_idx=padding_idx,
            include_last_offset=include_last_offset,
            weights=w if mode == "max" else None).to_dense(out=out)

    return _host(grad, weights.shape, weights.dtype, weights, ids, offsets, g), None, None


_bag.defvjp(_bag_fwd, _bag_bwd)


# ---- training the table inside the backward (fastembed.interop.keras's sparse_optimizer) ------

@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _trained(weights, ids, run):
    return _trained_fwd(weights, ids, run)[0]


def _trained_fwd(weights, ids, run):
    return run.forward(weights, ids), (weights, ids)


def _trained_bwd(run, res, g):
    weights, ids = res

    def call(ctx, out, w, i, go):
        run.update(np.asarray(out), np.asarray(i), np.asarray(go))

    # the output is the operand's own buffer (input_output_aliases): the update writes the
    # touched rows in place, and XLA hands that buffer on with no copy of the table
    new = _buffer_callback(call, jax.ShapeDtypeStruct(weights.shape, weights.dtype),
                           has_side_effect=True, input_output_aliases={0: 0})(weights, ids, g)
    return new, None


_trained.defvjp(_trained_fwd, _trained_bwd)


def trained_lookup(weights, ids, run):
    """``run.forward(weights, ids)`` whose cotangent for `weights` is not a gradient but the
    table after ``run.update(table, ids, grad_output)`` updated it in place, on the host,
    once per backward (a side effect: it runs exactly when JAX runs this backward).

    For a trainer that overwrites the variable with its "gradient" (Keras's
    ``overwrite_with_gradient``); `run` is hashable (a static argument) and its ``forward``
    is one of this module's functions. Needs ``jax.experimental.buffer_callback``."""
    if _buffer_callback is None:
        raise NotImplementedError("training inside the backward needs "
                                  "jax.experimental.buffer_callback (JAX >= 0.7)")
    return _trained(weights, ids, run)


def lookup_bag(weights, ids, offsets=None, *, mode="sum", padding_idx=None,
               include_last_offset=False):
    """Pooled lookup by `fastembed.lookup_bag` (modes "sum", "mean", "max", "sqrtn"; 2-D
    `ids` as fixed-size bags or 1-D `ids` with `offsets`), differentiable with respect to
    `weights` through `fastembed.accumulate_bag`, and usable under ``jax.jit``."""
    return _bag(weights, ids, offsets, mode, padding_idx, include_last_offset)
