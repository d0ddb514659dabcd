"""fastembed.interop.keras inside Keras models, on the backend named by KERAS_BACKEND.

Not collected by itself (its name does not start with test_): Keras picks its backend once,
when it is first imported, so tests/test_interop_keras.py runs this file in one fresh
interpreter per installed backend (torch, jax, numpy). Training cases skip on numpy,
which Keras cannot train on.
"""
import os

import numpy as np
import pytest

keras = pytest.importorskip("keras")

import fastembed  # noqa: E402
import fastembed.optimizers  # noqa: E402
from fastembed.interop import keras as fek  # noqa: E402

BACKEND = keras.backend.backend()
trains = pytest.mark.skipif(BACKEND == "numpy", reason="Keras cannot train on numpy")
sparse = pytest.mark.skipif(BACKEND not in ("torch", "jax"),
                            reason="sparse_optimizer runs on torch and jax")
RTOL, ATOL = 1e-5, 1e-6  # float32 sums in another order (scatter-add vs fastembed's grouping)


def table(n=50, d=8, seed=0):
    return np.random.default_rng(seed).uniform(-0.5, 0.5, (n, d)).astype(np.float32)


def ids_and_targets(n=32, length=5, vocab=50, seed=1):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, vocab, (n, length)).astype(np.int32),
            rng.standard_normal((n, 1)).astype(np.float32))


def pooled_model(embedding, length=5):
    """ids (length,) -> embedding -> mean pooling -> Dense(1), with a fixed Dense."""
    inputs = keras.Input((length,), dtype="int32")
    x = embedding(inputs)
    if len(x.shape) == 3:
        x = keras.layers.GlobalAveragePooling1D()(x)
    dense = keras.layers.Dense(1, kernel_initializer="ones", bias_initializer="zeros")
    return keras.Model(inputs, dense(x))


# ---- the seed example -------------------------------------------------------------------------

def test_seed_example():
    from keras.models import Sequential
    from fastembed.interop.keras import Embedding
    model = Sequential()
    model.add(Embedding(1000, 64, input_length=10))
    input_array = np.random.randint(1000, size=(32, 10))
    model.compile('rmsprop', 'mse')
    output_array = model.predict(input_array, verbose=0)
    assert output_array.shape == (32, 10, 64)
    assert np.array_equal(output_array, model.layers[0].get_weights()[0][input_array])
    lines = []
    model.summary(print_fn=lambda line, **kw: lines.append(line))
    assert "(None, 10, 64)" in "\n".join(lines)


def test_input_length_in_output_shape():
    layer = fek.Embedding(100, 4, input_length=10)
    assert layer.compute_output_shape((None, None)) == (None, 10, 4)
    assert layer.compute_output_shape((3, 10)) == (3, 10, 4)
    with pytest.raises(ValueError, match="input_length"):
        layer.compute_output_shape((3, 9))
    with pytest.raises(ValueError, match="input_length"):
        layer(np.zeros((2, 9), np.int32))
    seq = fek.Embedding(100, 4, input_length=(None, 6))  # (batch, time, seq) ids
    assert seq.compute_output_shape((2, 3, None)) == (2, 3, 6, 4)


# ---- training: the same steps as keras.layers.Embedding ---------------------------------------

class OneHotEmbedding(keras.layers.Layer):
    """The reference on tensorflow: Keras's Embedding there hands Adam an IndexedSlices
    gradient with one slice per occurrence, and Keras's sparse Adam then adds the squares of
    the occurrences to its second moment instead of the square of their sum (so it departs
    from Keras's Embedding on the other backends whenever an id repeats in a batch). This
    one's gradient is dense: the Adam step of the other backends."""

    def __init__(self, input_dim, output_dim, embeddings_regularizer=None,
                 embeddings_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.embeddings = self.add_weight(shape=(input_dim, output_dim), name="embeddings",
                                          regularizer=embeddings_regularizer,
                                          constraint=embeddings_constraint)

    def call(self, ids):
        n_rows = self.embeddings.shape[0]
        return keras.ops.matmul(keras.ops.one_hot(ids, n_rows), self.embeddings)


REFERENCE = OneHotEmbedding if BACKEND == "tensorflow" else keras.layers.Embedding

def _train_pair(make_optimizer, steps=4, **layer_kwargs):
    """Losses and tables after each train_on_batch of two models that differ only in their
    embedding layer (fastembed's, Keras's), from the same table."""
    w = table()
    x, y = ids_and_targets()
    results = []
    for cls in (fek.Embedding, REFERENCE):
        layer = cls(50, 8, **layer_kwargs)
        model = pooled_model(layer)
        layer.set_weights([w])
        model.compile(make_optimizer(), "mse")
        trace = []
        for step in range(steps):
            batch = slice(8 * step, 8 * step + 8)
            loss = model.train_on_batch(x[batch], y[batch])
            trace.append((float(loss), layer.get_weights()[0].copy(),
                          model.layers[-1].get_weights()[0].copy()))
        results.append(trace)
    return results


@trains
@pytest.mark.parametrize("make_optimizer, kwargs", [
    (lambda: keras.optimizers.Adam(0.05), {}),
    (lambda: keras.optimizers.SGD(0.5, momentum=0.9),
     {"embeddings_regularizer": keras.regularizers.L2(0.01),
      "embeddings_constraint": keras.constraints.MaxNorm(0.6, axis=1)}),
])
def test_fit_matches_keras_step_by_step(make_optimizer, kwargs):
    ours, theirs = _train_pair(make_optimizer, **kwargs)
    for (loss, w, d), (k_loss, k_w, k_d) in zip(ours, theirs):
        np.testing.assert_allclose(loss, k_loss, rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(w, k_w, rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(d, k_d, rtol=RTOL, atol=ATOL)
    assert not np.array_equal(ours[-1][1], table())  # it trained (the loss: next test)


@trains
def test_fit_and_loss_falls():
    x, y = ids_and_targets(64)
    model = pooled_model(fek.Embedding(50, 8, seed=0))
    model.compile(keras.optimizers.Adam(0.05), "mse")
    history = model.fit(x, y, batch_size=16, epochs=4, verbose=0, shuffle=False)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]


@trains
def test_embedding_bag_matches_embedding_and_pooling():
    w = table()
    x, y = ids_and_targets()
    traces = []
    for layer in (fek.EmbeddingBag(50, 8, mode="mean"), REFERENCE(50, 8)):
        model = pooled_model(layer)
        layer.set_weights([w])
        model.compile(keras.optimizers.Adam(0.05), "mse")
        traces.append([float(model.train_on_batch(x[i:i + 8], y[i:i + 8])) for i in (0, 8, 16)]
                      + [layer.get_weights()[0]])
    for ours, theirs in zip(*traces):
        np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("mode", ["sum", "mean", "max", "sqrtn"])
def test_embedding_bag_modes_and_padding(mode):
    w = table()
    ids = np.array([[1, 2, 2, 0], [3, 0, 0, 0], [4, 5, 6, 7]], np.int32)
    layer = fek.EmbeddingBag(50, 8, mode=mode, padding_idx=0, weights=[w])
    got = np.asarray(keras.ops.convert_to_numpy(layer(ids)))
    want = fastembed.lookup_bag(w, ids, mode=mode, padding_idx=0)
    assert np.array_equal(got, want)
    assert layer.compute_output_shape((None, 4)) == (None, 8)
    with pytest.raises(ValueError, match="mode"):
        fek.EmbeddingBag(50, 8, mode="median")


# ---- masking, wrappers ----------------------------------------------------------------------

def _same_model_outputs(build, x):
    """build(embedding_class) -> model; the two models (fastembed's layer, Keras's) get the
    same weights and must give the same predictions."""
    ours, theirs = build(fek.Embedding), build(keras.layers.Embedding)
    theirs.set_weights(ours.get_weights())
    got, want = ours.predict(x, verbose=0), theirs.predict(x, verbose=0)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
    return got


@trains
def test_mask_zero_into_lstm_and_bidirectional():
    x = np.array([[3, 4, 0, 0, 0], [5, 6, 7, 8, 9], [1, 0, 0, 0, 0]], np.int32)

    def lstm(cls):
        inputs = keras.Input((5,), dtype="int32")
        h = cls(50, 6, mask_zero=True)(inputs)
        return keras.Model(inputs, keras.layers.LSTM(4, seed=1)(h))

    def bidirectional(cls):
        inputs = keras.Input((5,), dtype="int32")
        h = cls(50, 6, mask_zero=True)(inputs)
        return keras.Model(inputs, keras.layers.Bidirectional(keras.layers.LSTM(3))(h))

    out = _same_model_outputs(lstm, x)
    # the mask matters: the padded sample equals the same ids without padding
    short = _same_model_outputs(lstm, x[2:, :1])
    assert not np.allclose(out[:2], 0)
    _same_model_outputs(bidirectional, x)
    layer = fek.Embedding(50, 6, mask_zero=True)
    assert np.array_equal(keras.ops.convert_to_numpy(layer.compute_mask(x)), x != 0)
    assert fek.Embedding(50, 6).compute_mask(x) is None
    assert short.shape == (1, 4)


@trains
def test_time_distributed_with_mask():
    x = np.random.default_rng(2).integers(0, 50, (4, 3, 5)).astype(np.int32)
    x[:, :, 3:] = 0

    def build(cls):
        inputs = keras.Input((3, 5), dtype="int32")
        h = keras.layers.TimeDistributed(cls(50, 6, mask_zero=True))(inputs)
        h = keras.layers.TimeDistributed(keras.layers.LSTM(4))(h)
        return keras.Model(inputs, keras.layers.Bidirectional(keras.layers.LSTM(2))(h))

    masked = _same_model_outputs(build, x)  # Keras's layer's mask reaches both LSTMs ...
    x[:, :, 3:] = 7
    assert not np.allclose(masked, _same_model_outputs(build, x))  # ... and matters


# ---- initializers, regularizers, weights, config, save -------------------------------------

def test_initializers_by_name_and_object():
    for init in ("ones", keras.initializers.Constant(0.25)):
        ours, theirs = fek.Embedding(7, 3, embeddings_initializer=init), \
            keras.layers.Embedding(7, 3, embeddings_initializer=init)
        ours.build(), theirs.build()
        assert np.array_equal(ours.get_weights()[0], theirs.get_weights()[0])
    seeded = [fek.Embedding(7, 3, embeddings_initializer=keras.initializers.RandomNormal(seed=4))
              for _ in range(2)] + [keras.layers.Embedding(
                  7, 3, embeddings_initializer=keras.initializers.RandomNormal(seed=4))]
    for layer in seeded:
        layer.build()
    assert np.array_equal(seeded[0].get_weights()[0], seeded[2].get_weights()[0])
    a, b = fek.Embedding(7, 3, seed=9), fek.Embedding(7, 3, seed=9)
    a.build(), b.build()
    assert np.array_equal(a.get_weights()[0], b.get_weights()[0])
    assert np.abs(a.get_weights()[0]).max() <= 0.05  # "uniform": RandomUniform(-0.05, 0.05)
    keras1 = fek.Embedding(7, 3, init="zeros", W_regularizer="l2",
                           W_constraint={"class_name": "NonNeg", "config": {}})
    keras1.build()
    assert not keras1.get_weights()[0].any()
    assert isinstance(keras1.embeddings_regularizer, keras.regularizers.L2)
    assert isinstance(keras1.embeddings_constraint, keras.constraints.NonNeg)


def test_weights_and_regularizer_losses():
    w = table(7, 3)
    ids = np.array([[1, 2], [3, 6]], np.int32)
    ours = fek.Embedding(7, 3, weights=[w], embeddings_regularizer="l2",
                         activity_regularizer=keras.regularizers.L1(0.1))
    theirs = keras.layers.Embedding(7, 3, weights=[w], embeddings_regularizer="l2",
                                    activity_regularizer=keras.regularizers.L1(0.1))
    out = keras.ops.convert_to_numpy(ours(ids))
    assert np.array_equal(out, w[ids]) and np.array_equal(ours.get_weights()[0], w)
    theirs(ids)
    got = sorted(float(keras.ops.convert_to_numpy(v)) for v in ours.losses)
    want = sorted(float(keras.ops.convert_to_numpy(v)) for v in theirs.losses)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert len(got) == 2
    with pytest.raises(ValueError, match="shape"):
        fek.Embedding(7, 4, weights=[w])


@trains
def test_regularizer_is_in_the_model_loss():
    x, y = ids_and_targets(8)
    w = table()
    losses = []
    for reg in (None, keras.regularizers.L2(0.5)):
        layer = fek.Embedding(50, 8, embeddings_regularizer=reg)
        model = pooled_model(layer)
        layer.set_weights([w])
        model.compile(keras.optimizers.SGD(0.0), "mse")
        losses.append(float(model.train_on_batch(x, y)))
    penalty = 0.5 * float((w.astype(np.float64) ** 2).sum())
    np.testing.assert_allclose(losses[1] - losses[0], penalty, rtol=1e-5)


def test_config_round_trip_and_save_load(tmp_path):
    layer = fek.Embedding(50, 8, mask_zero=True, input_length=5, embeddings_regularizer="l1",
                          embeddings_constraint="non_neg", name="emb")
    again = fek.Embedding.from_config(layer.get_config())
    assert again.get_config() == layer.get_config()
    bag = fek.EmbeddingBag(50, 8, mode="sum", padding_idx=-1)
    assert fek.EmbeddingBag.from_config(bag.get_config()).get_config() == bag.get_config()
    x, _ = ids_and_targets()
    for emb in (layer, bag):
        model = pooled_model(emb)
        before = model.predict(x, verbose=0)
        path = str(tmp_path / f"{emb.name}.keras")
        model.save(path)
        loaded = keras.models.load_model(path)
        assert type(loaded.layers[1]) is type(emb)
        assert np.array_equal(loaded.predict(x, verbose=0), before)


def test_from_config_every_form():
    keras3 = keras.layers.Embedding(30, 4, mask_zero=True).get_config()
    forms = [
        keras3,
        {"class_name": "Embedding", "config": keras3},
        fastembed.Embedding(30, 4, mask_zero=True).get_config(),
        {"Embedding": {"input_dim": 30, "output_dim": 4, "mask_zero": True}},
        "Embedding:\n  input_dim: 30\n  output_dim: 4\n  mask_zero: true\n",
        {"input_dim": 30, "output_dim": 4, "mask_zero": True, "init": "uniform",
         "W_constraint": {"name": "MaxNorm", "m": 2, "axis": 1}, "input_length": 3},
    ]
    for cfg in forms:
        if isinstance(cfg, str):
            pytest.importorskip("yaml")
        layer = fek.from_config(cfg)
        assert isinstance(layer, fek.Embedding) and isinstance(layer, keras.layers.Layer)
        assert (layer.input_dim, layer.output_dim, layer.mask_zero) == (30, 4, True)
    assert fek.from_config(forms[-1]).embeddings_constraint.max_value == 2
    with pytest.raises(ValueError, match="bogus"):
        fek.from_config({"input_dim": 3, "output_dim": 2, "bogus": 1})


# ---- bad input ---------------------------------------------------------------------------------

def test_bad_ids_direct_call():
    layer = fek.Embedding(10, 4, weights=[table(10, 4)])
    layer.build()
    before = layer.get_weights()[0].copy()
    with pytest.raises(Exception, match="12") as info:
        keras.ops.convert_to_numpy(layer(np.array([[1, 12]], np.int32)))
    assert "range" in str(info.value) or "position" in str(info.value)
    with pytest.raises(Exception, match="-1"):
        keras.ops.convert_to_numpy(layer(np.array([[1, -1]], np.int32)))
    with pytest.raises(Exception, match="1.5"):
        keras.ops.convert_to_numpy(layer(np.array([[1.0, 1.5]], np.float32)))
    whole = keras.ops.convert_to_numpy(layer(np.array([[1.0, 3.0]], np.float32)))
    assert np.array_equal(whole, table(10, 4)[[[1, 3]]])
    assert np.array_equal(layer.get_weights()[0], before)


def test_bad_ids_in_predict():
    def model():  # Keras's jax trainer leaves the variables unset after a failed predict
        return keras.Sequential([keras.Input((3,)), fek.Embedding(10, 4)])  # float32 input

    assert model().predict(np.array([[1, 2, 9]]), verbose=0).shape == (1, 3, 4)
    with pytest.raises(Exception, match="10"):
        model().predict(np.array([[1, 2, 10]]), verbose=0)
    with pytest.raises(Exception, match="2.5"):
        model().predict(np.array([[1, 2.5, 3]]), verbose=0)


@trains
def test_bad_ids_in_fit():
    model = pooled_model(fek.Embedding(10, 4), length=3)
    model.compile("sgd", "mse")
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(Exception, match="77"):
        model.fit(np.array([[1, 2, 77]], np.int32), np.zeros((1, 1)), verbose=0)
    if BACKEND == "jax":
        return  # Keras's jax trainer leaves the variables unset after a failed step
    for old, new in zip(before, model.get_weights()):
        assert np.array_equal(old, new)


# ---- it really runs in fastembed -------------------------------------------------------------

@trains
@pytest.mark.parametrize("bag", [False, True])
def test_training_step_runs_fastembed_kernels(bag, monkeypatch):
    calls = {}

    def counting(name):
        real = getattr(fastembed.ops, name)

        def wrapper(*args, **kwargs):
            calls[name] = calls.get(name, 0) + 1
            return real(*args, **kwargs)
        # the adapters call the ops module, the Keras layer the facade: count both ways in
        monkeypatch.setattr(fastembed, name, wrapper)
        monkeypatch.setattr(fastembed.ops, name, wrapper)

    def refuse(*args, **kwargs):
        raise AssertionError("keras.ops.take was called")

    for name in ("lookup", "accumulate", "lookup_bag", "accumulate_bag"):
        counting(name)
    monkeypatch.setattr(keras.ops, "take", refuse)
    layer = fek.EmbeddingBag(50, 8) if bag else fek.Embedding(50, 8)
    model = pooled_model(layer)
    model.compile(keras.optimizers.SGD(0.1), "mse")
    x, y = ids_and_targets(8)
    before = layer.get_weights()[0].copy()
    model.train_on_batch(x, y)
    forward, backward = ("lookup_bag", "accumulate_bag") if bag else ("lookup", "accumulate")
    assert calls.get(forward, 0) >= 1 and calls.get(backward, 0) == 1
    changed = np.any(layer.get_weights()[0] != before, axis=1)
    assert set(np.flatnonzero(changed)) == set(np.unique(x))


# ---- the sparse optimizer (torch, jax) --------------------------------------------------------

def _sparse_layer(bag, opt, n=50, d=8):
    return fek.EmbeddingBag(n, d, sparse_optimizer=opt) if bag \
        else fek.Embedding(n, d, sparse_optimizer=opt)


@sparse
@pytest.mark.parametrize("bag", [False, True])
def test_sparse_optimizer_equals_sgd(bag):
    """Plain SGD updates only the rows with a gradient, so fastembed's sparse SGD inside the
    backward must give Keras's dense SGD's tables and losses, step by step."""
    w = table()
    x, y = ids_and_targets()
    traces = []
    for sparse_step in (True, False):
        layer = _sparse_layer(bag, fastembed.optimizers.SGD(0.5) if sparse_step else None)
        model = pooled_model(layer)
        layer.set_weights([w])
        model.compile(keras.optimizers.SGD(0.5), "mse")
        # torch: the table leaves the trainable weights; jax: it stays, flagged so that
        # Keras's optimizer assigns the table the backward hands back
        n_trainable = 2 if sparse_step and BACKEND == "torch" else 3
        assert len(model.trainable_weights) == n_trainable
        trace = []
        for i in range(0, 24, 8):
            trace.append(float(model.train_on_batch(x[i:i + 8], y[i:i + 8])))
            trace.append(layer.get_weights()[0].copy())
        trace.append(model.predict(x, verbose=0))
        traces.append(trace)
    for ours, theirs in zip(*traces):
        np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=ATOL)
    assert traces[0][-3] < traces[0][0] or not np.array_equal(traces[0][1], w)


def _lazy_adam(w, m, v, rows, grad, t, lr, b1=0.9, b2=0.999, eps=1e-7):
    """The NumPy oracle of fastembed's Adam: Keras's formula on the touched rows only."""
    m[rows] = b1 * m[rows] + (1 - b1) * grad[rows]
    v[rows] = b2 * v[rows] + (1 - b2) * grad[rows] ** 2
    w[rows] -= lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t) * m[rows] / (np.sqrt(v[rows]) + eps)


@sparse
@pytest.mark.parametrize("bag", [False, True])
def test_sparse_adam_step_by_step(bag, tmp_path):
    """fastembed's Adam inside the backward, against a NumPy lazy Adam on the analytic
    gradient (Dense frozen by a zero learning rate: d loss / d row = 2 (pred - y) / (B L)),
    one update per step, surviving set_weights (JAX moves the table to a new buffer), and
    the trained table saved and loaded with the model."""
    w, (x, y) = table(), ids_and_targets()
    opt = fastembed.optimizers.Adam(0.05)
    layer = _sparse_layer(bag, opt)
    model = pooled_model(layer)
    layer.set_weights([w])
    model.compile(keras.optimizers.SGD(0.0), "mse")
    want, m, v = w.astype(np.float64), np.zeros(w.shape), np.zeros(w.shape)
    for t in range(1, 5):
        xb, yb = x[8 * t - 8:8 * t], y[8 * t - 8:8 * t]
        loss = float(model.train_on_batch(xb, yb))
        pred = want[xb].mean(axis=1).sum(axis=1, keepdims=True)
        grad = np.zeros(w.shape)
        np.add.at(grad, xb, np.broadcast_to((2 * (pred - yb) / xb.size)[:, :, None], xb.shape + (8,)))
        _lazy_adam(want, m, v, np.unique(xb), grad, t, 0.05)
        got = layer.get_weights()[0]
        np.testing.assert_allclose(loss, np.mean((pred - yb) ** 2), rtol=RTOL)
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
        untouched = np.setdiff1d(np.arange(50), x[:8 * t])
        assert np.array_equal(got[untouched], w[untouched])
        assert opt.iterations == t  # one update per step
        if t == 2:
            layer.set_weights([got.copy()])  # a new buffer on jax: the moments must follow
    path = str(tmp_path / "sparse.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert np.array_equal(loaded.layers[1].get_weights()[0], layer.get_weights()[0])
    assert np.array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)  # four steps
    assert opt.iterations == 8


@sparse
def test_sparse_optimizer_refusals():
    with pytest.raises(ValueError, match="regularizer"):
        fek.Embedding(5, 2, sparse_optimizer=fastembed.optimizers.Adam(),
                      embeddings_regularizer="l2")
    with pytest.raises(TypeError, match="sparse_optimizer"):
        fek.Embedding(5, 2, sparse_optimizer=keras.optimizers.Adam())
    if BACKEND == "jax":  # a second call would hand Keras a second table as the "gradient"
        layer = fek.Embedding(50, 8, sparse_optimizer=fastembed.optimizers.SGD(0.1))
        inputs = keras.Input((5,), dtype="int32")
        pooled = keras.layers.GlobalAveragePooling1D()(layer(inputs) + layer(inputs))
        model = keras.Model(inputs, keras.layers.Dense(1)(pooled))
        model.compile("sgd", "mse")
        before = layer.get_weights()[0]
        x, y = ids_and_targets(8)
        with pytest.raises(ValueError, match="more than once"):
            model.train_on_batch(x, y)
        assert np.array_equal(layer.get_weights()[0], before)


def test_sparse_optimizer_other_backends():
    if BACKEND in ("torch", "jax"):
        pytest.skip("supported here")
    with pytest.raises(ValueError, match="torch and jax"):
        fek.Embedding(5, 2, sparse_optimizer=fastembed.optimizers.Adam())


# ---- torch: predict's path, the table's pages ----------------------------------------------

torch_only = pytest.mark.skipif(BACKEND != "torch", reason="the torch backend's paths")


@torch_only
@pytest.mark.parametrize("make", [lambda: fek.Embedding(50, 8),
                                  *[lambda mode=mode: fek.EmbeddingBag(50, 8, mode=mode,
                                                                       padding_idx=3)
                                    for mode in ("sum", "mean", "max", "sqrtn")]])
def test_torch_inference_path_equals_training_path(make):
    """Under no_grad (Keras's predict) the lookup skips the autograd module: the same values
    bit for bit, for int32, int64 and whole float ids, and the same error class."""
    import torch
    layer = make()
    layer.build()
    layer.set_weights([table()])
    x = ids_and_targets(16)[0]
    x[0, :2] = 3  # padding entries for the bags
    for ids in (x, x.astype(np.int64), x.astype(np.float32)):
        with torch.no_grad():
            fast = layer(torch.from_numpy(ids))
        slow = layer(torch.from_numpy(ids))  # grad on: the interop.torch module's forward
        assert fast.grad_fn is None and slow.grad_fn is not None
        assert fast.dtype == slow.dtype and torch.equal(fast, slow.detach())
    bad = torch.from_numpy(np.array([[1, 2, 50]], np.int32))
    with torch.no_grad(), pytest.raises(IndexError, match="50") as fast_error:
        layer(bad)
    with pytest.raises(IndexError, match="50") as slow_error:
        layer(bad)
    assert type(fast_error.value) is type(slow_error.value)
    assert np.array_equal(layer.get_weights()[0], table())


def _huge_page_bytes(address, size):
    """Bytes of /proc/self/smaps' AnonHugePages in the mappings that overlap this range."""
    huge, inside = 0, False
    with open("/proc/self/smaps") as f:
        for line in f:
            field = line.split()
            if "-" in field[0] and not field[0].endswith(":"):
                start, end = (int(a, 16) for a in field[0].split("-"))
                inside = start < address + size and end > address
            elif inside and field[0] == "AnonHugePages:":
                huge += int(field[1]) << 10
    return huge


@torch_only
def test_torch_table_on_huge_pages():
    """The table is moved onto 2 MB pages at build where Linux offers it, contents and
    storage unchanged (Keras's later assigns copy into the same memory)."""
    w = np.random.default_rng(0).standard_normal((40_000, 64)).astype(np.float32)  # 10 MB
    layer = fek.Embedding(*w.shape, weights=[w])
    layer.build()
    value = layer.embeddings.value
    address, size = value.data_ptr(), value.nbytes
    assert np.array_equal(layer.get_weights()[0], w)
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            thp = f.read()
        release = tuple(int(p) for p in os.uname().release.split(".")[:2])
    except (OSError, ValueError):
        thp, release = "[never]", (0, 0)
    if "[never]" not in thp and release >= (6, 1):  # MADV_COLLAPSE is Linux 6.1+
        assert _huge_page_bytes(address, size) >= 4 << 20  # 4 of its 5 whole 2 MB pages
    assert fek._huge_pages(value) in (True, False)  # again: harmless
    layer.set_weights([w[::-1].copy()])
    assert layer.embeddings.value.data_ptr() == address
    assert np.array_equal(layer.get_weights()[0], w[::-1])


# ---- Keras 1 dropout ---------------------------------------------------------------------------

def test_dropout_drops_whole_rows():
    w = table(40, 3) + 1.0  # no zero entries
    layer = fek.Embedding(40, 3, weights=[w], dropout=0.5, seed=3)
    ids = np.tile(np.arange(40, dtype=np.int32), (2, 1))
    assert np.array_equal(keras.ops.convert_to_numpy(layer(ids)), w[ids])
    out = keras.ops.convert_to_numpy(layer(ids, training=True))
    dropped = ~out.any(axis=-1)
    assert np.array_equal(dropped[0], dropped[1])  # the same rows in every sample
    assert 5 < dropped[0].sum() < 35
    np.testing.assert_allclose(out[~dropped], 2 * w[ids][~dropped], rtol=1e-6)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(pytest.main([__file__, "-q", *os.sys.argv[1:]]))
