"""fastembed.interop.jax against jnp.take and jax's own gradients, eagerly and under jit."""
import os

import numpy as np
import pytest

if os.environ.get("FASTEMBED_ASAN"):  # JAX's C++ exceptions abort under the ASan runtime
    pytest.skip("JAX does not run with the ASan runtime preloaded", allow_module_level=True)
jax = pytest.importorskip("jax")
fij = pytest.importorskip("fastembed.interop.jax")
jnp = jax.numpy


@pytest.fixture
def table(rng):
    return jnp.asarray(rng.standard_normal((30, 5)).astype(np.float32))


def test_lookup_equals_take_eager_and_jit(table, rng):
    ids = jnp.asarray(rng.integers(0, 30, (4, 6)).astype(np.int32))
    want = jnp.take(table, ids, axis=0)
    np.testing.assert_array_equal(fij.lookup(table, ids), want)
    np.testing.assert_array_equal(jax.jit(fij.lookup)(table, ids), want)


def test_lookup_gradient_equals_take_gradient(table, rng):
    ids = jnp.asarray(np.r_[rng.integers(0, 30, 40), [7, 7, 7]].astype(np.int32))
    probe = jnp.asarray(rng.standard_normal((43, 5)).astype(np.float32))

    def loss(lookup_fn):
        return lambda w: jnp.sum(jnp.sin(lookup_fn(w, ids)) * probe)

    want = jax.grad(loss(lambda w, i: jnp.take(w, i, axis=0)))(table)
    got = jax.jit(jax.grad(loss(fij.lookup)))(table)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_lookup_out_of_range_id_raises(table):
    with pytest.raises(Exception, match="out of range"):
        jax.jit(fij.lookup)(table, jnp.array([30]))


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_lookup_bag_and_gradient_equal_jnp(table, rng, mode):
    ids = jnp.asarray(rng.integers(0, 30, (6, 4)).astype(np.int32))
    reduce = {"sum": jnp.sum, "mean": jnp.mean, "max": jnp.max}[mode]

    def ref(w):
        return reduce(jnp.take(w, ids, axis=0), axis=1)

    np.testing.assert_allclose(jax.jit(lambda w: fij.lookup_bag(w, ids, mode=mode))(table),
                               ref(table), rtol=1e-6)
    probe = jnp.asarray(rng.standard_normal((6, 5)).astype(np.float32))
    got = jax.grad(lambda w: jnp.sum(fij.lookup_bag(w, ids, mode=mode) * probe))(table)
    want = jax.grad(lambda w: jnp.sum(ref(w) * probe))(table)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_lookup_bag_with_offsets(table):
    ids = jnp.array([1, 2, 3, 4, 5], dtype=jnp.int32)
    offsets = jnp.array([0, 2, 2], dtype=jnp.int32)
    got = fij.lookup_bag(table, ids, offsets, mode="sum")
    want = jnp.stack([table[1] + table[2], jnp.zeros(5), table[3] + table[4] + table[5]])
    np.testing.assert_allclose(got, want, rtol=1e-6)


class _SGDRun:
    """A `trained_lookup` run: lookup forward, SGD(0.5) on the touched rows backward."""

    def __init__(self):
        self.calls = 0

    def forward(self, w, ids):
        return fij.lookup(w, ids)

    def update(self, table, ids, grad_output):
        self.calls += 1
        np.subtract.at(table, ids.reshape(-1), 0.5 * grad_output.reshape(-1, table.shape[1]))


@pytest.mark.parametrize("jit", [False, True])
def test_trained_lookup_hands_back_the_updated_table(table, rng, jit):
    """The cotangent is the table after the host update, run once per backward; the
    caller's (undonated) array is left as it was."""
    ids = jnp.asarray(np.r_[rng.integers(0, 30, 12), [4, 4]].astype(np.int32))
    before = np.asarray(table).copy()
    run = _SGDRun()

    def step(w):
        return jax.grad(lambda w: jnp.sum(fij.trained_lookup(w, ids, run) ** 2))(w)

    got = (jax.jit(step) if jit else step)(table)
    want = before.copy()
    np.subtract.at(want, np.asarray(ids), 0.5 * 2 * before[np.asarray(ids)])
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert run.calls == 1
    assert np.array_equal(np.asarray(table), before)
    np.testing.assert_array_equal(fij.trained_lookup(table, ids, run), before[np.asarray(ids)])
    assert run.calls == 1  # no backward, no update
