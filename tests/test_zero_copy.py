"""Every kernel reads NumPy arrays, DLPack (CPU) tensors, buffer-protocol objects and
``__array__`` objects without a copy when dtype and layout fit, and writes into a caller's
tensor in place. A non-CPU DLPack tensor raises ValueError."""
import os

import numpy as np
import pytest

import fastembed
from fastembed._arrays import as_ids, as_table


def address(a):
    return a.__array_interface__["data"][0]


class ArrayLike:
    """Exposes only ``__array__`` (no buffer protocol, no DLPack)."""

    def __init__(self, arr):
        self.arr = arr

    def __array__(self, dtype=None, copy=None):
        return self.arr


class OnDevice:
    """A DLPack exporter that says it lives on a CUDA device."""

    def __init__(self, arr):
        self.arr = arr

    def __dlpack__(self, **kwargs):
        return self.arr.__dlpack__()

    def __dlpack_device__(self):
        return (2, 0)  # kDLCUDA


def test_buffer_protocol_and_array_interface_are_not_copied(rng):
    w = rng.random((50, 8), dtype=np.float32)
    ids = rng.integers(0, 50, 20).astype(np.int64)
    for wrap in (memoryview, ArrayLike):
        assert address(as_table(wrap(w))) == address(w)
        assert address(as_ids(wrap(ids))[0]) == address(ids)
        np.testing.assert_array_equal(fastembed.lookup(wrap(w), wrap(ids)), w[ids])


def test_out_buffer_written_in_place(rng):
    w = rng.random((50, 8))
    ids = rng.integers(0, 50, 20)
    dest = np.zeros((20, 8))
    view = memoryview(dest)
    assert fastembed.lookup(w, ids, out=view) is view
    np.testing.assert_array_equal(dest, w[ids])


@pytest.mark.parametrize("bad", [lambda a: ArrayLike(a), lambda a: a.tolist()])
def test_out_that_could_only_be_copied_is_refused(rng, bad):
    w = rng.random((50, 8))
    with pytest.raises(TypeError, match="writable CPU buffer"):
        fastembed.lookup(w, [1, 2], out=bad(np.zeros((2, 8))))


def test_read_only_out_buffer_is_refused(rng):
    w = rng.random((50, 8))
    ro = np.zeros((2, 8))
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        fastembed.lookup(w, [1, 2], out=memoryview(ro))


def test_non_cpu_dlpack_raises_value_error(rng):
    w = rng.random((50, 8))
    ids = np.array([1, 2])
    with pytest.raises(ValueError, match="non-CPU"):
        fastembed.lookup(OnDevice(w), ids)
    with pytest.raises(ValueError, match="non-CPU"):
        fastembed.lookup(w, OnDevice(ids))
    with pytest.raises(ValueError, match="non-CPU"):
        fastembed.lookup(w, ids, out=OnDevice(np.zeros((2, 8))))


def test_torch_tensors_are_not_copied(rng):
    torch = pytest.importorskip("torch")
    w = torch.from_numpy(rng.random((50, 8), dtype=np.float32))
    ids = torch.from_numpy(rng.integers(0, 50, (4, 5)))
    ids32 = ids.to(torch.int32)
    assert address(as_table(w)) == w.data_ptr()
    assert address(as_ids(ids)[0]) == ids.data_ptr()
    assert address(as_ids(ids32)[0]) == ids32.data_ptr()
    out = torch.empty(4, 5, 8)
    assert fastembed.lookup(w, ids, out=out) is out
    assert torch.equal(out, w[ids])


def test_torch_tensor_that_requires_grad_is_refused_clearly():
    torch = pytest.importorskip("torch")
    w = torch.nn.Parameter(torch.zeros(5, 3))
    with pytest.raises(ValueError, match="requires grad"):
        fastembed.lookup(w, [1])
    np.testing.assert_array_equal(fastembed.lookup(w.detach(), [1]), np.zeros((1, 3)))


def test_torch_non_contiguous_tensor_gives_right_result(rng):
    torch = pytest.importorskip("torch")
    w = torch.from_numpy(rng.random((8, 50)))
    ids = torch.tensor([0, 49, 3])
    assert torch.equal(torch.from_numpy(fastembed.lookup(w.T, ids)), w.T[ids])


# JAX throws C++ exceptions while it starts; under the preloaded ASan runtime (make test-asan)
# that aborts the process (asan_interceptors "real___cxa_throw" CHECK) before any of our code runs.
@pytest.mark.skipif(bool(os.environ.get("FASTEMBED_ASAN")), reason="JAX aborts under the ASan runtime")
def test_jax_arrays_are_not_copied(rng):
    jax = pytest.importorskip("jax")
    w = jax.numpy.asarray(rng.random((50, 8), dtype=np.float32))
    ids = jax.numpy.asarray(rng.integers(0, 50, 20).astype(np.int32))
    assert address(as_table(w)) == w.unsafe_buffer_pointer()
    assert address(as_ids(ids)[0]) == ids.unsafe_buffer_pointer()
    np.testing.assert_array_equal(fastembed.lookup(w, ids), np.asarray(w)[np.asarray(ids)])


def test_in_place_kernels_write_through_torch_tensors(rng):
    torch = pytest.importorskip("torch")
    w = torch.from_numpy(rng.random((50, 8)) * 10)
    expect = w.clone()
    torch.embedding_renorm_(expect, torch.tensor([3, 7, 3]), 1.0, 2.0)
    fastembed.renorm_(w, torch.tensor([3, 7, 3]), 1.0)
    torch.testing.assert_close(w, expect, rtol=1e-12, atol=1e-12)


def test_gradient_kernels_read_torch_tensors(rng):
    torch = pytest.importorskip("torch")
    ids = torch.from_numpy(rng.integers(0, 50, 100))
    grad = torch.from_numpy(rng.random((100, 8), dtype=np.float32))
    want = np.zeros((50, 8), np.float32)
    np.add.at(want, ids.numpy(), grad.numpy())
    np.testing.assert_array_equal(fastembed.accumulate(ids, grad, 50).to_dense(), want)


def test_lookup_bag_writes_into_a_torch_out_tensor(rng):
    torch = pytest.importorskip("torch")
    w = torch.from_numpy(rng.random((50, 8)))
    ids, offsets = torch.from_numpy(rng.integers(0, 50, 20)), torch.tensor([0, 6, 6, 13])
    out = torch.full((4, 8), -1.0, dtype=torch.float64)
    ptr = out.data_ptr()
    for mode in ("sum", "mean", "max"):
        assert fastembed.lookup_bag(w, ids, offsets, mode=mode, out=out) is out
        assert out.data_ptr() == ptr
        want = torch.nn.functional.embedding_bag(ids, w, offsets, mode=mode)
        torch.testing.assert_close(out, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("fused", [False, True])
def test_optimizer_updates_a_torch_tensor_in_place(rng, fused):
    torch = pytest.importorskip("torch")
    from fastembed import optimizers
    w = torch.from_numpy(rng.standard_normal((50, 8)))
    start, expect = w.clone(), w.numpy().copy()
    ptr = w.data_ptr()
    opt, ref = optimizers.Adam(0.1), optimizers.Adam(0.1)
    for _ in range(2):
        ids = rng.integers(0, 50, 30)
        g = rng.standard_normal((30, 8))
        if fused:
            opt.step(w, torch.from_numpy(ids), torch.from_numpy(g))
        else:
            opt.apply(w, fastembed.accumulate(torch.from_numpy(ids), torch.from_numpy(g), 50))
        ref.step(expect, ids, g)
    assert w.data_ptr() == ptr and not torch.equal(w, start)
    np.testing.assert_array_equal(w.numpy(), expect)  # the caller's tensor moved, not a copy
