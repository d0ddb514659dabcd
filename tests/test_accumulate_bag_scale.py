"""accumulate_bag(scale_grad_by_freq=True), tested against its definition: each row's
gradient (summed over every bag of the call) divided by how many times its id occurs in
`ids`. torch 2.13's CPU embedding_bag divides rows by the wrong counts once ids repeat
(pytorch/pytorch#190063): ids [1, 1, 2, 1] in bags [0, 2) and [2, 4) give row 2 a third of
its gradient, and even with no id twice in a bag, ids [7, 3, 9, 1, 7, 9, 1, 3, 5, 2] in bags
of 4, 0, 4 and 2 give row 2 half its gradient and row 3 twice it (checked on torch 2.13.0).
So torch is the oracle only where every id occurs equally often, and the definition is the
oracle everywhere."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import fastembed
from conftest import INDEX_DTYPES, VALUE_DTYPES, assert_unchanged, snapshot
import reference

MODES = ["sum", "mean", "sqrtn"]


def by_definition(ids, offsets, grad_output, n_rows, **kwargs):
    """The unscaled reference gradient, each row divided by its id's count in `ids`."""
    dense = reference.accumulate_bag_ref(ids, offsets, grad_output, n_rows, **kwargs)
    if isinstance(dense, tuple):
        dense = dense[0]
    counts = np.bincount(np.asarray(ids).reshape(-1), minlength=n_rows)
    return (dense.astype(np.float64) / np.maximum(counts, 1)[:, None]).astype(dense.dtype)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), vdt=st.sampled_from(VALUE_DTYPES),
       idt=st.sampled_from(INDEX_DTYPES), mode=st.sampled_from(MODES),
       n_rows=st.integers(1, 30), dim=st.integers(0, 9), n=st.integers(0, 40),
       n_bags=st.integers(1, 8), weighted=st.booleans(), padded=st.booleans(),
       threads=st.sampled_from([1, 2]))
def test_scale_grad_by_freq_is_the_definition(seed, vdt, idt, mode, n_rows, dim, n, n_bags,
                                              weighted, padded, threads):
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, min(n_rows, 5), n).astype(idt)  # few distinct ids: many repeats
    offsets = np.concatenate([[0], np.sort(rng.integers(0, n + 1, n_bags - 1))]).astype(np.int64)
    g = rng.standard_normal((n_bags, dim)).astype(vdt)
    table = rng.standard_normal((n_rows, dim)).astype(vdt)
    kwargs = {"mode": mode, "padding_idx": 1 if padded and n_rows > 1 else None}
    if weighted:
        kwargs.update(per_sample_weights=rng.uniform(0.5, 2, n).astype(vdt), weights=table)
    got = fastembed.accumulate_bag(ids, offsets, g, n_rows, scale_grad_by_freq=True,
                                   num_threads=threads, **kwargs)
    unscaled = fastembed.accumulate_bag(ids, offsets, g, n_rows, num_threads=threads, **kwargs)
    if weighted:  # the per_sample_weights gradient is not scaled (as in torch)
        (got, got_psw), (unscaled, psw) = got, unscaled
        np.testing.assert_array_equal(got_psw, psw)
    np.testing.assert_array_equal(got.indices, unscaled.indices)
    want = by_definition(ids, offsets, g, n_rows, **kwargs)
    rtol = 1e-5 if vdt == np.float32 else 1e-12
    np.testing.assert_allclose(got.to_dense(), want, rtol=rtol, atol=rtol)


def test_repeats_inside_a_bag_count_every_occurrence():
    # the case torch 2.13 gets wrong (pytorch/pytorch#190063): by the definition every
    # row of an all-ones sum gradient is 1 (each occurrence adds 1, then / count)
    ids, offsets = np.array([1, 1, 2, 1]), np.array([0, 2])
    got = fastembed.accumulate_bag(ids, offsets, np.ones((2, 3)), 5, scale_grad_by_freq=True)
    np.testing.assert_array_equal(got.indices, [1, 2])
    np.testing.assert_array_equal(got.values, np.ones((2, 3)))
    ids, offsets = np.array([1, 2, 1]), np.array([0, 1, 2])
    got = fastembed.accumulate_bag(ids, offsets, np.ones((3, 3)), 5, scale_grad_by_freq=True)
    np.testing.assert_array_equal(got.values, np.ones((2, 3)))


@pytest.mark.parametrize("mode", ["sum", "mean"])
def test_equals_torch_where_every_id_occurs_equally_often(mode):
    torch = pytest.importorskip("torch")
    # every id occurs exactly twice: torch's mix-up of counts (above) cannot show
    ids = torch.tensor([7, 3, 9, 1, 7, 9, 1, 3, 5, 5])
    offsets = torch.tensor([0, 4, 4, 8])
    w = torch.randn(12, 4, dtype=torch.float64, requires_grad=True)
    out = torch.nn.functional.embedding_bag(ids, w, offsets, mode=mode, scale_grad_by_freq=True)
    g = torch.randn_like(out)
    out.backward(g)
    got = fastembed.accumulate_bag(ids.numpy(), offsets.numpy(), g.numpy(), 12, mode=mode,
                                   scale_grad_by_freq=True)
    np.testing.assert_allclose(got.to_dense(), w.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_thread_count_agnostic():
    rng = np.random.default_rng(3)
    ids = rng.integers(0, 50, 30_000)
    offsets = np.arange(0, 30_000, 7)
    g = rng.standard_normal((offsets.size, 33)).astype(np.float32)
    one, two = (fastembed.accumulate_bag(ids, offsets, g, 50, mode="mean",
                                         scale_grad_by_freq=True, num_threads=t)
                for t in (1, 2))
    np.testing.assert_array_equal(one.indices, two.indices)
    assert one.values.tobytes() == two.values.tobytes()


def test_max_mode_refuses_it_and_changes_nothing():
    rng = np.random.default_rng(4)
    ids, offsets = np.array([0, 1, 1]), np.array([0, 2])
    g, table = rng.standard_normal((2, 3)), rng.standard_normal((3, 3))
    before = snapshot(ids, offsets, g, table)
    with pytest.raises(ValueError, match="scale_grad_by_freq"):
        fastembed.accumulate_bag(ids, offsets, g, 3, mode="max", weights=table,
                                 scale_grad_by_freq=True)
    assert_unchanged(before, ids, offsets, g, table)
