"""fastembed.Embedding: arguments, forward, mask and shapes, dropout, backward, losses,
weights, constraints and the optimizers driving a layer."""
import numpy as np
import pytest

import fastembed
from fastembed import Embedding
from fastembed.constraints import MaxNorm, NonNeg
from fastembed.optimizers import SGD, Adagrad
from fastembed.regularizers import L1, L1L2, L2, Regularizer


def table_layer(input_dim=20, output_dim=6, dtype=np.float32, table_seed=0, **kwargs):
    """A layer with a random normal table (easier to check than uniform(-0.05, 0.05))."""
    rng = np.random.default_rng(table_seed)
    table = rng.standard_normal((input_dim, output_dim)).astype(dtype)
    return Embedding(input_dim, output_dim, weights=[table], dtype=dtype, **kwargs), table


# ---- construction --------------------------------------------------------------------------

def test_defaults():
    layer = Embedding(100, 8)
    assert layer.embeddings.shape == (100, 8) and layer.embeddings.dtype == np.float32
    assert layer.embeddings.flags.c_contiguous and layer.embeddings.flags.writeable
    assert np.all(np.abs(layer.embeddings) <= 0.05)  # Keras's "uniform": (-0.05, 0.05)
    assert layer.embeddings.std() > 0.01
    assert layer.mask_zero is False and layer.dropout == 0.0 and layer.input_length is None
    assert layer.regularizer_mode == "lazy" and layer.losses == []
    assert layer.embeddings_regularizer is None and layer.embeddings_constraint is None


def test_seeded_initializer_is_reproducible():
    a, b = Embedding(50, 4, seed=7), Embedding(50, 4, seed=7)
    assert np.array_equal(a.embeddings, b.embeddings)
    assert not np.array_equal(a.embeddings, Embedding(50, 4, seed=8).embeddings)
    assert Embedding(50, 4, dtype="float64", seed=7).embeddings.dtype == np.float64


@pytest.mark.parametrize("bad", [0, -3, 2.5, 10.0, True, "10", None, np.float64(3)])
@pytest.mark.parametrize("arg", ["input_dim", "output_dim"])
def test_dims_must_be_positive_integers(arg, bad):
    if arg == "output_dim" and type(bad) is int and bad == 0:
        pytest.skip("output_dim 0 is valid (Keras 1): tests/test_keras_dropin.py")
    kwargs = {"input_dim": 10, "output_dim": 4, arg: bad}
    # not an integer: TypeError; an integer out of range: ValueError (fastembed._validate)
    exc = ValueError if type(bad) is int else TypeError
    with pytest.raises(exc, match=arg):
        Embedding(**kwargs)


def test_numpy_integer_dims():
    assert Embedding(np.int64(10), np.int32(3)).embeddings.shape == (10, 3)


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"dtype": "float16"}, ValueError, "dtype"),
    ({"dtype": "mixed_float16"}, ValueError, "dtype"),
    ({"dtype": object()}, TypeError, "dtype"),
    ({"mask_zero": "yes"}, TypeError, "mask_zero"),
    ({"dropout": 1.0}, ValueError, "dropout"),
    ({"dropout": -0.1}, ValueError, "dropout"),
    ({"dropout": "0.5"}, TypeError, "dropout"),
    ({"seed": -1}, ValueError, "seed"),
    ({"seed": 1.5}, TypeError, "seed"),
    ({"regularizer_mode": "eager"}, ValueError, "regularizer_mode"),
    ({"name": 3}, TypeError, "name"),
    ({"input_length": 0}, ValueError, "input_length"),
    ({"input_length": 2.5}, TypeError, "input_length"),
    ({"trainable": "no"}, TypeError, "trainable"),
    ({"embeddings_initializer": "gaussian"}, ValueError, "embeddings_initializer.*glorot_uniform"),
    ({"embeddings_regularizer": "l3"}, ValueError, "embeddings_regularizer.*l1_l2"),
    ({"activity_regularizer": "l3"}, ValueError, "activity_regularizer.*l1_l2"),
    ({"embeddings_constraint": "max_nrom"}, ValueError, "embeddings_constraint.*max_norm"),
    ({"embeddings_regularizer": lambda w: 0.0}, TypeError, "embeddings_regularizer.*gradient"),
    ({"embeddings_initializer": 3}, TypeError, "embeddings_initializer"),
    ({"W_regularizer": "l3"}, ValueError, "l1_l2"),
    ({"colour": "red"}, TypeError, "colour"),
])
def test_bad_arguments_name_themselves(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        Embedding(10, 4, **kwargs)


def test_keras1_aliases():
    layer = Embedding(10, 4, init="zeros", W_regularizer="l2", W_constraint="non_neg")
    assert np.all(layer.embeddings == 0)
    assert layer.embeddings_regularizer == L2(0.01)
    assert isinstance(layer.embeddings_constraint, NonNeg)
    with pytest.raises(TypeError, match="init"):
        Embedding(10, 4, embeddings_initializer="ones", init="zeros")
    with pytest.raises(TypeError, match="W_regularizer"):
        Embedding(10, 4, embeddings_regularizer="l1", W_regularizer="l2")


class Quartic(Regularizer):
    """A custom penalty, sum(w**4), usable in exact mode only."""

    def __call__(self, x):
        return float(np.sum(np.asarray(x, np.float64) ** 4))

    def gradient(self, x):
        return 4 * x ** 3

    def get_config(self):
        return {}


def test_custom_regularizer_needs_exact_mode():
    with pytest.raises(ValueError, match="exact"):
        Embedding(10, 4, embeddings_regularizer=Quartic())
    layer, table = table_layer(10, 4, embeddings_regularizer=Quartic(), regularizer_mode="exact")
    layer(np.array([1, 2]), training=True)
    g = layer.backward(np.zeros((2, 4), np.float32))
    np.testing.assert_allclose(g.to_dense(), 4 * table ** 3, rtol=1e-6)


def test_weights_argument():
    table = np.arange(12, dtype=np.float64).reshape(4, 3)
    for given in ([table], table, (table,)):
        layer = Embedding(4, 3, weights=given)
        assert layer.embeddings.dtype == np.float32
        assert np.array_equal(layer.embeddings, table.astype(np.float32))
    assert layer.embeddings is not table  # the layer owns its table
    with pytest.raises(ValueError, match=r"\(4, 3\)"):
        Embedding(4, 3, weights=[np.zeros((3, 4))])
    with pytest.raises(ValueError, match="exactly one"):
        Embedding(4, 3, weights=[table, table])
    with pytest.raises(TypeError, match="weights"):
        Embedding(4, 3, weights=[np.full((4, 3), "a")])


def test_auto_names_are_distinct():
    names = {Embedding(3, 2).name for _ in range(3)}
    assert len(names) == 3 and all(n.startswith("embedding") for n in names)
    assert Embedding(3, 2, name="users").name == "users"


# ---- forward, mask, shapes -----------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(), (7,), (3, 5), (2, 3, 4), (2, 0, 3)])
@pytest.mark.parametrize("id_dtype", [np.int32, np.int64, np.uint8, np.uint64])
def test_forward_is_gather(dtype, shape, id_dtype, rng):
    layer, table = table_layer(dtype=dtype)
    ids = rng.integers(0, 20, size=shape).astype(id_dtype)
    out = layer(ids)
    assert out.shape == ids.shape + (6,) and out.dtype == dtype
    assert np.array_equal(out, table[ids])
    assert np.array_equal(layer(ids, training=True), table[ids])  # no dropout: same rows


def test_forward_accepts_lists_and_thread_counts():
    layer, table = table_layer()
    assert np.array_equal(layer([[1, 2], [3, 4]]), table[[[1, 2], [3, 4]]])
    ids = np.random.default_rng(1).integers(0, 20, (300, 40))
    assert np.array_equal(layer(ids, num_threads=1), layer(ids, num_threads=3))


def test_forward_bad_ids():
    layer, _ = table_layer()
    with pytest.raises(IndexError, match="20"):
        layer(np.array([[1, 20]]))
    with pytest.raises(IndexError):
        layer(np.array([-1]))
    with pytest.raises(IndexError, match="18446744073709551615"):  # not wrapped to -1
        layer(np.array([1, 2**64 - 1], np.uint64))
    with pytest.raises(TypeError, match="integer"):
        layer(np.array([1.0, 2.0]))
    with pytest.raises(RuntimeError, match="training"):
        layer.backward(np.zeros((1, 6), np.float32))  # nothing recorded by failed calls


def test_mask_zero():
    layer, table = table_layer(mask_zero=True)
    ids = np.array([[0, 3, 0], [5, 0, 0]])
    mask = layer.compute_mask(ids)
    assert mask.dtype == bool and np.array_equal(mask, ids != 0)
    out = layer(ids)
    assert np.array_equal(out[0, 0], table[0])  # id 0 is still looked up, as in Keras
    assert table_layer(mask_zero=False)[0].compute_mask(ids) is None
    deep = np.zeros((2, 3, 4), np.int32)
    assert layer.compute_mask(deep).shape == (2, 3, 4)


def test_any_rank_time_distributed():
    layer, table = table_layer(input_length=4)
    ids = np.random.default_rng(2).integers(0, 20, (2, 3, 4))  # (batch, time, seq)
    assert layer(ids).shape == (2, 3, 4, 6)
    assert layer.compute_output_shape((None, 3, 4)) == (None, 3, 4, 6)
    assert layer.compute_output_shape((None, None, None)) == (None, None, 4, 6)


def test_compute_output_shape():
    layer = Embedding(10, 5)
    assert layer.compute_output_shape((None, 7)) == (None, 7, 5)
    assert layer.compute_output_shape([2, 3, 4]) == (2, 3, 4, 5)
    assert layer.compute_output_shape(()) == (5,)
    fixed = Embedding(10, 5, input_length=7)
    assert fixed.compute_output_shape((None, None)) == (None, 7, 5)
    assert fixed.compute_output_shape((32, 7)) == (32, 7, 5)
    with pytest.raises(ValueError, match="input_length"):
        fixed.compute_output_shape((32, 8))
    with pytest.raises(ValueError, match="input_length"):
        fixed.compute_output_shape((7,))  # no batch axis
    pair = Embedding(10, 5, input_length=[3, None])
    assert pair.compute_output_shape((None, None, 9)) == (None, 3, 9, 5)
    with pytest.raises(ValueError):
        pair.compute_output_shape((None, 4, 9))
    with pytest.raises(TypeError):
        layer.compute_output_shape(7)
    with pytest.raises(ValueError):
        layer.compute_output_shape((None, -1))


def test_input_length_checks_ids():
    layer = Embedding(10, 5, input_length=3)
    assert layer(np.zeros((4, 3), np.int64)).shape == (4, 3, 5)
    with pytest.raises(ValueError, match="input_length"):
        layer(np.zeros((4, 2), np.int64))
    with pytest.raises(ValueError, match="input_length"):
        layer(np.zeros(3, np.int64))


# ---- dropout -------------------------------------------------------------------------------

def test_dropout_per_id_consistent_and_scaled():
    p = 0.4
    layer, table = table_layer(input_dim=50, dropout=p, seed=3)
    ids = np.random.default_rng(0).integers(0, 50, (64, 10))
    out = layer(ids, training=True)
    dropped = np.all(out == 0, axis=-1)
    for i in np.unique(ids):
        decisions = dropped[ids == i]
        assert decisions.all() or not decisions.any(), f"id {i} dropped in some places only"
    kept = ~dropped
    np.testing.assert_allclose(out[kept], table[ids[kept]] / (1 - p), rtol=1e-6)
    assert 0 < dropped.sum() < dropped.size
    # inference: no dropout
    assert np.array_equal(layer(ids), table[ids])


def test_dropout_statistics():
    p, n = 0.3, 20000
    layer = Embedding(n, 1, embeddings_initializer="ones", dropout=p, seed=11)
    rates = []
    for _ in range(5):
        out = layer(np.arange(n), training=True)[:, 0]
        assert set(np.unique(out)) <= {0.0, np.float32(1 / (1 - p))}
        rates.append(np.mean(out == 0))
    sigma = np.sqrt(p * (1 - p) / n)
    assert all(abs(r - p) < 5 * sigma for r in rates), rates
    # calls draw afresh: the dropped sets of two calls are nearly independent
    a = layer(np.arange(n), training=True)[:, 0] == 0
    b = layer(np.arange(n), training=True)[:, 0] == 0
    assert abs(np.mean(a & b) - p * p) < 5 * np.sqrt(p * p * (1 - p * p) / n)
    # the expectation of the output is the table (inverted dropout)
    mean = np.mean([layer(np.arange(n), training=True) for _ in range(10)])
    assert abs(mean - 1.0) < 0.02


def test_dropout_reproducible_and_a_function_of_the_id():
    a, _ = table_layer(input_dim=100, dropout=0.5, seed=5)
    b, _ = table_layer(input_dim=100, dropout=0.5, seed=5)
    rng = np.random.default_rng(9)
    for _ in range(3):
        ids = rng.integers(0, 100, (8, 12))
        assert np.array_equal(a(ids, training=True), b(ids, training=True))
    # the decision for an id in a call does not depend on the other ids of the call
    c, _ = table_layer(input_dim=100, dropout=0.5, seed=5)
    d, _ = table_layer(input_dim=100, dropout=0.5, seed=5)
    full = c(np.arange(100), training=True)
    part = d(np.array([[97, 3], [41, 3]]), training=True)
    assert np.array_equal(part[0, 1], full[3]) and np.array_equal(part[1, 0], full[41])
    assert np.array_equal(part[0, 0], full[97])
    other, _ = table_layer(input_dim=100, dropout=0.5, seed=6)
    assert not np.array_equal(other(np.arange(100), training=True), full)


def test_dropout_backward_respects_the_mask(rng):
    p = 0.5
    layer, table = table_layer(input_dim=30, dropout=p, seed=1)
    ids = rng.integers(0, 30, (16, 7))
    out = layer(ids, training=True)
    grad_out = rng.standard_normal(out.shape).astype(np.float32)
    g = layer.backward(grad_out)
    kept = ~np.all(out == 0, axis=-1)
    want = np.zeros_like(table, dtype=np.float64)
    np.add.at(want, ids[kept], grad_out[kept] / (1 - p))
    np.testing.assert_allclose(g.to_dense(), want, rtol=1e-5, atol=1e-6)
    dropped_ids = np.setdiff1d(np.unique(ids), np.unique(ids[kept]))
    assert dropped_ids.size and not np.isin(dropped_ids, g.indices).any()


# ---- backward ------------------------------------------------------------------------------

def test_backward_before_training_call():
    layer, _ = table_layer()
    layer(np.array([1, 2]))  # inference only
    with pytest.raises(RuntimeError, match="training=True"):
        layer.backward(np.ones((2, 6), np.float32))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_backward_matches_accumulate(dtype, rng):
    layer, table = table_layer(dtype=dtype)
    ids = rng.integers(0, 20, (5, 9))
    layer(ids, training=True)
    layer(np.array([0]))  # an inference call does not replace the recorded training call
    grad_out = rng.standard_normal((5, 9, 6)).astype(dtype)
    g = layer.backward(grad_out)
    want = fastembed.accumulate(ids, grad_out, 20)
    assert np.array_equal(g.indices, want.indices) and np.array_equal(g.values, want.values)
    dense = np.zeros((20, 6), dtype)
    np.add.at(dense, ids, grad_out)
    assert np.array_equal(g.to_dense(), dense)
    with pytest.raises(ValueError, match="shape"):
        layer.backward(grad_out[:, :3])


def test_backward_keeps_its_own_copy_of_the_ids(rng):
    layer, _ = table_layer()
    ids = rng.integers(0, 20, (4, 3))
    layer(ids, training=True)
    grad_out = np.ones((4, 3, 6), np.float32)
    want = fastembed.accumulate(ids.copy(), grad_out, 20)
    ids[:] = 0  # the caller reuses its buffer
    g = layer.backward(grad_out)
    assert np.array_equal(g.indices, want.indices)


def test_backward_matches_torch(rng):
    torch = pytest.importorskip("torch")
    layer, table = table_layer(dtype=np.float64)
    ids = rng.integers(0, 20, (6, 5))
    grad_out = rng.standard_normal((6, 5, 6))
    layer(ids, training=True)
    got = layer.backward(grad_out).to_dense()
    w = torch.tensor(table, requires_grad=True)
    torch.nn.functional.embedding(torch.tensor(ids), w).backward(torch.tensor(grad_out))
    np.testing.assert_allclose(got, w.grad.numpy(), rtol=1e-12, atol=1e-12)


# ---- regularizers and losses ---------------------------------------------------------------

@pytest.mark.parametrize("reg, formula", [
    (L1(0.02), lambda w: 0.02 * np.abs(w).sum()),
    (L2(0.03), lambda w: 0.03 * (w ** 2).sum()),
    (L1L2(0.01, 0.05), lambda w: 0.01 * np.abs(w).sum() + 0.05 * (w ** 2).sum()),
    ("l2", lambda w: 0.01 * (w ** 2).sum()),
])
def test_embeddings_regularizer_loss(reg, formula):
    layer, table = table_layer(embeddings_regularizer=reg)
    (loss,) = layer.losses  # present before any call, computed on the current table
    assert loss.dtype == np.float32
    np.testing.assert_allclose(loss, formula(table.astype(np.float64)), rtol=1e-6)
    layer.set_weights([2 * table])
    np.testing.assert_allclose(layer.losses[0], formula(2 * table.astype(np.float64)),
                               rtol=1e-6)


def test_activity_regularizer_divided_by_batch(rng):
    layer, table = table_layer(activity_regularizer=L1L2(0.01, 0.02),
                               embeddings_regularizer=L2(0.1))
    ids = rng.integers(0, 20, (4, 5))
    out = layer(ids).astype(np.float64)
    activity, weights = layer.losses  # Keras's order: activity first
    np.testing.assert_allclose(activity, (0.01 * np.abs(out).sum() + 0.02 * (out ** 2).sum())
                               / 4, rtol=1e-6)
    np.testing.assert_allclose(weights, 0.1 * (table.astype(np.float64) ** 2).sum(), rtol=1e-6)
    layer(ids[:2])  # each call replaces the activity term
    out2 = out[:2]
    np.testing.assert_allclose(layer.losses[0], (0.01 * np.abs(out2).sum()
                                                 + 0.02 * (out2 ** 2).sum()) / 2, rtol=1e-6)


def test_activity_regularizer_gradient_in_backward(rng):
    layer, table = table_layer(dtype=np.float64, activity_regularizer=L1L2(0.01, 0.02))
    ids = rng.integers(0, 20, (4, 5))
    out = layer(ids, training=True)
    grad_out = rng.standard_normal(out.shape)
    g = layer.backward(grad_out)
    total = grad_out + (0.01 * np.sign(out) + 2 * 0.02 * out) / 4
    want = np.zeros_like(table)
    np.add.at(want, ids, total)
    np.testing.assert_allclose(g.to_dense(), want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("reg", [L1(0.02), L2(0.03), L1L2(0.01, 0.05)])
def test_exact_mode_backward_covers_every_row(reg, rng):
    layer, table = table_layer(dtype=np.float64, embeddings_regularizer=reg,
                               regularizer_mode="exact")
    table[3] = 0.0  # sign(0) = 0: no L1 pull on an exact zero
    layer.set_weights([table])
    ids = rng.integers(0, 10, (3, 4))  # rows 10..19 untouched
    layer(ids, training=True)
    grad_out = rng.standard_normal((3, 4, 6))
    g = layer.backward(grad_out)
    assert np.array_equal(g.indices, np.arange(20))
    want = reg.l1 * np.sign(table) + 2 * reg.l2 * table
    np.add.at(want, ids, grad_out)
    np.testing.assert_allclose(g.to_dense(), want, rtol=1e-12, atol=1e-12)
    lazy, _ = table_layer(dtype=np.float64, embeddings_regularizer=reg)
    lazy(ids, training=True)
    assert lazy.backward(grad_out).nnz == np.unique(ids).size


# ---- weights and constraints ---------------------------------------------------------------

def test_get_set_weights():
    layer, table = table_layer()
    (w,) = layer.get_weights()
    assert np.array_equal(w, table) and w is not layer.embeddings
    w[:] = 0
    assert np.array_equal(layer.embeddings, table)  # a copy
    emb = layer.embeddings
    layer.set_weights([np.ones((20, 6))])
    assert layer.embeddings is emb and np.all(emb == 1)  # in place: optimizer state stays bound


@pytest.mark.parametrize("bad, exc", [
    ([np.zeros((20, 5))], ValueError), ([np.zeros((21, 6))], ValueError),
    ([], ValueError), ([np.zeros((20, 6))] * 2, ValueError),
    (np.zeros((20, 6)), TypeError), ([np.full((20, 6), "x")], TypeError),
])
def test_set_weights_bad_input_keeps_old_table(bad, exc):
    layer, table = table_layer()
    with pytest.raises(exc):
        layer.set_weights(bad)
    assert np.array_equal(layer.embeddings, table)


def test_apply_constraint():
    layer, table = table_layer()
    layer.apply_constraint()  # no constraint: nothing happens
    layer.apply_constraint(np.array([1, 2]))
    assert np.array_equal(layer.embeddings, table)
    rows_layer, _ = table_layer(embeddings_constraint=MaxNorm(1.0, axis=1))
    rows_layer.apply_constraint(np.array([2, 5, 5]))
    norms = np.linalg.norm(rows_layer.embeddings, axis=1)
    assert np.all(norms[[2, 5]] <= 1.0 + 1e-6)
    untouched = np.setdiff1d(np.arange(20), [2, 5])
    assert np.array_equal(rows_layer.embeddings[untouched], table[untouched])
    rows_layer.apply_constraint()
    assert np.all(np.linalg.norm(rows_layer.embeddings, axis=1) <= 1.0 + 1e-6)


def test_keras_default_axis_constrains_columns():
    layer, table = table_layer(input_dim=40, embeddings_constraint="max_norm")  # axis=0
    layer.apply_constraint(np.array([0]))  # a column spans every row: the whole table moves
    t = table.astype(np.float64)
    columns = np.linalg.norm(t, axis=0, keepdims=True)
    assert np.all(columns > 2.0)  # 40 N(0, 1) rows: every column is over the limit
    want = t * np.clip(columns, 0, 2.0) / (1e-7 + columns)  # Keras's MaxNorm formula
    np.testing.assert_allclose(layer.embeddings, want, rtol=1e-5)


def test_callable_constraint_gets_the_whole_table():
    layer, table = table_layer(embeddings_constraint=lambda w: np.clip(w, -0.5, 0.5))
    layer.apply_constraint(np.array([1]))
    assert np.array_equal(layer.embeddings, np.clip(table, -0.5, 0.5))


# ---- optimizers with a layer target --------------------------------------------------------

def test_sgd_step_lazy_l2_and_row_constraint(rng):
    lr, l2 = 0.1, 0.05
    layer, table = table_layer(dtype=np.float64, embeddings_regularizer=L2(l2),
                               embeddings_constraint=MaxNorm(1.5, axis=1))
    table = table * 2  # norms around 5: the constraint bites
    layer.set_weights([table])
    ids = rng.integers(0, 8, (4, 3))  # rows 8.. untouched
    grad_out = rng.standard_normal((4, 3, 6))
    SGD(learning_rate=lr).step(layer, ids, grad_out)
    summed = np.zeros_like(table)
    np.add.at(summed, ids, grad_out)
    touched = np.unique(ids)
    want = table.copy()
    want[touched] -= lr * (summed[touched] + 2 * l2 * table[touched])
    norms = np.linalg.norm(want[touched], axis=1, keepdims=True)
    want[touched] *= np.where(norms > 1.5, 1.5 / (norms + 1e-7), 1.0)
    np.testing.assert_allclose(layer.embeddings, want, rtol=1e-12, atol=1e-12)
    untouched = np.setdiff1d(np.arange(20), touched)
    assert np.array_equal(layer.embeddings[untouched], table[untouched])


def test_lazy_and_exact_agree_on_touched_rows(rng):
    lr, reg = 0.05, L1L2(0.01, 0.03)
    ids = rng.integers(0, 12, (5, 4))
    grad_out = rng.standard_normal((5, 4, 6))
    lazy, table = table_layer(dtype=np.float64, embeddings_regularizer=reg)
    exact, _ = table_layer(dtype=np.float64, embeddings_regularizer=reg,
                           regularizer_mode="exact")
    for layer in (lazy, exact):
        layer(ids, training=True)
        SGD(learning_rate=lr).apply(layer, layer.backward(grad_out))
    touched = np.unique(ids)
    np.testing.assert_allclose(lazy.embeddings[touched], exact.embeddings[touched], rtol=1e-12)
    untouched = np.setdiff1d(np.arange(20), touched)
    assert np.array_equal(lazy.embeddings[untouched], table[untouched])
    decayed = table[untouched] - lr * (0.01 * np.sign(table[untouched])
                                       + 2 * 0.03 * table[untouched])
    np.testing.assert_allclose(exact.embeddings[untouched], decayed, rtol=1e-12)
    with pytest.raises(ValueError, match="exact"):  # the fused step cannot reach every row
        SGD().step(exact, ids, grad_out)


def test_step_and_backward_apply_agree(rng):
    ids = rng.integers(0, 20, (6, 5))
    grad_out = rng.standard_normal((6, 5, 6)).astype(np.float32)
    a, _ = table_layer(embeddings_regularizer=L2(0.01))
    b, _ = table_layer(embeddings_regularizer=L2(0.01))
    Adagrad(learning_rate=0.1).step(a, ids, grad_out)
    b(ids, training=True)
    Adagrad(learning_rate=0.1).apply(b, b.backward(grad_out))
    np.testing.assert_allclose(a.embeddings, b.embeddings, rtol=1e-6)


def test_fused_step_refuses_layers_that_need_backward(rng):
    ids = rng.integers(0, 20, (3, 4))
    grad_out = np.ones((3, 4, 6), np.float32)
    for kwargs in ({"dropout": 0.5}, {"activity_regularizer": "l2"}):
        layer, table = table_layer(**kwargs)
        assert layer.needs_backward
        with pytest.raises(ValueError, match="backward"):
            SGD().step(layer, ids, grad_out)
        assert np.array_equal(layer.embeddings, table)
        layer(ids, training=True)
        SGD().apply(layer, layer.backward(grad_out))  # the route that sees the mask
    assert not table_layer(embeddings_regularizer="l2")[0].needs_backward


def test_dropout_is_the_same_for_any_thread_count():
    ids = np.random.default_rng(4).integers(0, 5000, (400, 50))
    outs = []
    for n_threads in (1, 4):
        layer = Embedding(5000, 8, dropout=0.3, seed=21)
        outs.append(layer(ids, training=True, num_threads=n_threads))
        outs.append(layer.backward(np.ones_like(outs[-1]), num_threads=n_threads).to_dense())
    assert np.array_equal(outs[0], outs[2]) and np.array_equal(outs[1], outs[3])


def test_dropout_with_empty_and_scalar_ids():
    layer, table = table_layer(dropout=0.5, seed=2)
    assert layer(np.zeros((3, 0), np.int64), training=True).shape == (3, 0, 6)
    assert layer.backward(np.zeros((3, 0, 6), np.float32)).nnz == 0
    out = layer(np.int64(4), training=True)
    assert out.shape == (6,) and (np.all(out == 0) or np.allclose(out, 2 * table[4]))
