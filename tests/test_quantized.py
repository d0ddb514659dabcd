"""Row-quantized tables: fastembed.quantize against PyTorch's prepack ops (same bytes),
lookup / lookup_bag on packed rows against torch's quantized embedding_bag and a NumPy
reference on the dequantized table, thread-count independence, bad input that changes
nothing, Keras 3's int8 form."""
import numpy as np
import pytest

import fastembed
from fastembed import QuantizedTable
from conftest import INDEX_DTYPES, assert_unchanged, import_keras, simd_digests, snapshot
import reference

MODES = ["sum", "mean", "max", "sqrtn"]


def torch_ops():
    torch = pytest.importorskip("torch")
    return torch, torch.ops.quantized


def numpy_dequantize(packed, bits, dim):
    """The layout decoded in NumPy: code * scale + bias in float32 (unfused)."""
    packed = np.asarray(packed)
    if bits == 8:
        codes = packed[:, :dim].astype(np.float32)
        params = np.ascontiguousarray(packed[:, dim:dim + 8]).view(np.float32)
    else:
        nb = (dim + 1) // 2
        codes = np.empty((packed.shape[0], 2 * nb), np.float32)
        codes[:, 0::2] = packed[:, :nb] & 15
        codes[:, 1::2] = packed[:, :nb] >> 4
        codes = codes[:, :dim]
        params = np.ascontiguousarray(packed[:, nb:nb + 4]).view(np.float16).astype(np.float32)
    return codes * params[:, :1] + params[:, 1:2]


def table(rng, n_rows, dim, kind="normal"):
    w = rng.standard_normal((n_rows, dim)).astype(np.float32)
    if kind == "mixed" and n_rows > 4:
        w[0] = 0.75                      # a constant row
        w[1] *= 1e-3                     # a narrow one
        w[2] = np.abs(w[2]) + 5          # all positive
        w[3] *= 300                      # wide
    return w


@pytest.mark.parametrize("dim", [1, 2, 7, 16, 64, 100, 300])
def test_quantize_8bit_same_bytes_as_torch(rng, dim):
    torch, q = torch_ops()
    w = table(rng, 300, dim, "mixed")
    qt = fastembed.quantize(w, 8)
    want = q.embedding_bag_byte_prepack(torch.from_numpy(w)).numpy()
    assert qt.packed.dtype == np.uint8 and qt.packed.shape == want.shape
    np.testing.assert_array_equal(qt.packed, want)
    assert (qt.bits, qt.dim, qt.shape) == (8, dim, (300, dim))


@pytest.mark.parametrize("dim", [2, 8, 16, 64, 100, 256])
def test_quantize_4bit_same_bytes_as_torch(rng, dim):
    torch, q = torch_ops()
    w = table(rng, 300, dim, "mixed")
    qt = fastembed.quantize(w, 4)
    want = q.embedding_bag_4bit_prepack(torch.from_numpy(w)).numpy()
    np.testing.assert_array_equal(qt.packed, want)
    assert (qt.bits, qt.dim, qt.shape) == (4, dim, (300, dim))


@pytest.mark.parametrize("dim", [1, 3, 33])
def test_quantize_4bit_odd_dim_pads_a_zero_nibble(rng, dim):
    """torch refuses odd widths; padding with a copy of column 0 keeps min and max, so
    torch's codes for the real columns are ours, and our pad nibble is 0."""
    torch, q = torch_ops()
    w = table(rng, 200, dim, "mixed")
    qt = fastembed.quantize(w, 4)
    want = q.embedding_bag_4bit_prepack(torch.from_numpy(np.hstack([w, w[:, :1]]))).numpy()
    nb = (dim + 1) // 2
    assert qt.packed.shape == (200, nb + 4)
    np.testing.assert_array_equal(qt.packed[:, :nb - 1], want[:, :nb - 1])
    np.testing.assert_array_equal(qt.packed[:, nb - 1], want[:, nb - 1] & 15)
    np.testing.assert_array_equal(qt.packed[:, nb:], want[:, nb:])
    np.testing.assert_array_equal(qt.dequantize(), numpy_dequantize(qt.packed, 4, dim))


@pytest.mark.parametrize("bits", [8, 4])
def test_dequantize_round_trip_within_half_a_step(rng, bits):
    w = table(rng, 500, 37, "mixed")
    qt = fastembed.quantize(w, bits)
    d = qt.dequantize()
    assert d.dtype == np.float32 and d.shape == w.shape
    np.testing.assert_array_equal(d, numpy_dequantize(qt.packed, bits, 37))
    nb = 37 if bits == 8 else 19
    params = np.ascontiguousarray(qt.packed[:, nb:]).view(np.float32 if bits == 8 else np.float16)
    step = params[:, 0].astype(np.float64)
    err = np.abs(d.astype(np.float64) - w).max(axis=1)
    # half a step, plus float32 rounding of the value; for 4 bits the bias is the row's
    # minimum rounded to float16 (a code cannot go below 0), which adds that rounding
    slack = 4e-7 * np.abs(w).max(axis=1)
    if bits == 4:
        slack = slack + np.abs(w.min(axis=1) - params[:, 1].astype(np.float64))
    constant = w.max(axis=1) == w.min(axis=1)
    assert np.all(err[~constant] <= 0.5 * step[~constant] + slack[~constant])
    assert np.all(err[constant] <= slack[constant] + 1e-12)


@pytest.mark.parametrize("bits", [8, 4])
def test_dequantize_matches_torch_unpack(rng, bits):
    """torch's unpack computes code * scale + bias with one rounding (fma); fastembed rounds
    the product and the sum (the same on every SIMD path): within one float32 ulp of the
    larger term (the sum may cancel)."""
    torch, q = torch_ops()
    w = table(rng, 200, 64, "mixed")
    qt = fastembed.quantize(w, bits)
    unpack = q.embedding_bag_byte_unpack if bits == 8 else q.embedding_bag_4bit_unpack
    want = unpack(torch.from_numpy(qt.packed)).numpy()
    got = qt.dequantize()
    larger = np.abs(got).max(axis=1, keepdims=True) + np.abs(w.min(axis=1, keepdims=True))
    assert np.all(np.abs(got - want) <= np.spacing(larger.astype(np.float32)))


@pytest.mark.parametrize("bits", [8, 4])
@pytest.mark.parametrize("idt", INDEX_DTYPES)
def test_lookup_is_dequantized_rows(rng, bits, idt):
    w = table(rng, 400, 45, "mixed")
    qt = fastembed.quantize(w, bits)
    ids = rng.integers(0, 400, (7, 30)).astype(idt)
    got = fastembed.lookup(qt, ids)
    assert got.dtype == np.float32 and got.shape == (7, 30, 45)
    np.testing.assert_array_equal(got, qt.dequantize()[ids])
    out = np.empty((7, 30, 45), np.float32)
    assert fastembed.lookup(qt, ids, out=out) is out
    np.testing.assert_array_equal(out, got)


def _bag_case(rng, n_rows, n_ids, n_bags):
    ids = rng.integers(0, n_rows, n_ids)
    offsets = np.concatenate([[0], np.sort(rng.integers(0, n_ids + 1, n_bags - 1))])
    return ids, offsets.astype(np.int64)


@pytest.mark.parametrize("bits,dim", [(8, 16), (8, 64), (8, 100), (4, 16), (4, 64), (4, 128)])
@pytest.mark.parametrize("weighted", [False, True])
def test_bag_sum_equals_torch_quantized_op(rng, bits, dim, weighted):
    torch, q = torch_ops()
    w = table(rng, 1000, dim, "mixed")
    qt = fastembed.quantize(w, bits)
    ids, offsets = _bag_case(rng, 1000, 3000, 200)
    psw = rng.random(3000).astype(np.float32) if weighted else None
    op = q.embedding_bag_byte_rowwise_offsets if bits == 8 else q.embedding_bag_4bit_rowwise_offsets
    want = op(torch.from_numpy(qt.packed), torch.from_numpy(ids), torch.from_numpy(offsets),
              mode=0, per_sample_weights=None if psw is None else torch.from_numpy(psw)).numpy()
    got = fastembed.lookup_bag(qt, ids, offsets, mode="sum", per_sample_weights=psw)
    assert got.dtype == np.float32
    # the same bytes and formula; only the float32 summation order/fusion differs
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())


@pytest.mark.parametrize("bits", [8, 4])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("layout", ["offsets", "last", "2d"])
def test_bag_modes_against_dequantized_reference(rng, bits, mode, layout):
    dim = 19
    w = table(rng, 60, dim, "mixed")
    qt = fastembed.quantize(w, bits)
    deq = qt.dequantize()
    kwargs = {"mode": mode, "padding_idx": 5}
    if layout == "2d":
        ids, offsets = rng.integers(0, 60, (40, 6)).astype(np.int32), None
        ids[0, :] = 5  # a bag of padding only: zeros
    else:
        ids, offsets = _bag_case(rng, 60, 300, 40)
        ids[:20] = 5
        if layout == "last":
            offsets = np.append(offsets, 300)
            kwargs["include_last_offset"] = True
    if mode != "max":
        kwargs["per_sample_weights"] = rng.random(ids.shape).astype(np.float32) + 0.1
    got = fastembed.lookup_bag(qt, ids, offsets, **kwargs)
    want = reference.lookup_bag_ref(deq, ids, offsets, **kwargs)
    if mode == "max":
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=2e-6, atol=2e-6 * np.abs(want).max())


def test_every_simd_level_pools_the_same_bits():
    # each level's accumulators (registers for the common widths, memory for the others,
    # scalar tails) round every value alike: the bags are bit-identical across levels
    code = """
        import hashlib, numpy as np, fastembed
        rng = np.random.default_rng(1)
        h = hashlib.sha256()
        for dim in (1, 7, 16, 19, 32, 33, 64, 100, 128, 300):
            w = rng.standard_normal((500, dim)).astype(np.float32)
            ids = rng.integers(0, 500, 2000)
            offsets = np.sort(rng.integers(0, 2001, 150)); offsets[0] = 0
            psw = rng.random(2000).astype(np.float32)
            for bits in (8, 4):
                qt = fastembed.quantize(w, bits)
                for mode in ("sum", "mean", "sqrtn", "max"):
                    p = None if mode == "max" else psw
                    for weights in (None, p):
                        h.update(fastembed.lookup_bag(qt, ids, offsets, mode=mode,
                                                      per_sample_weights=weights,
                                                      padding_idx=3).tobytes())
                h.update(fastembed.lookup(qt, ids).tobytes())
        print(h.hexdigest())
    """
    assert len(simd_digests(code)) == 1


@pytest.mark.parametrize("bits", [8, 4])
def test_thread_count_does_not_change_a_bit(rng, bits):
    w = table(rng, 20000, 64)  # above the serial threshold of every kernel
    qt1 = fastembed.quantize(w, bits, num_threads=1)
    qt2 = fastembed.quantize(w, bits, num_threads=2)
    np.testing.assert_array_equal(qt1.packed, qt2.packed)
    ids, offsets = _bag_case(rng, 20000, 60000, 3000)
    psw = rng.random(60000).astype(np.float32)
    for mode in MODES:
        p = None if mode == "max" else psw
        a = fastembed.lookup_bag(qt1, ids, offsets, mode=mode, per_sample_weights=p, num_threads=1)
        b = fastembed.lookup_bag(qt1, ids, offsets, mode=mode, per_sample_weights=p, num_threads=2)
        assert a.tobytes() == b.tobytes()
    a = fastembed.lookup(qt1, ids, num_threads=1)
    b = fastembed.lookup(qt1, ids, num_threads=2)
    assert a.tobytes() == b.tobytes()


def test_from_packed_shares_torch_bytes_and_reads_strided_rows(rng):
    torch, q = torch_ops()
    w = table(rng, 100, 32)
    t = q.embedding_bag_byte_prepack(torch.from_numpy(w))
    qt = QuantizedTable.from_packed(t, 8)
    assert qt.dim == 32 and np.shares_memory(qt.packed, t.numpy())
    every_other = QuantizedTable.from_packed(qt.packed[::2], 8)
    np.testing.assert_array_equal(fastembed.lookup(every_other, [0, 3]), qt.dequantize()[[0, 6]])
    q4 = fastembed.quantize(w[:, :31], 4)
    assert QuantizedTable.from_packed(q4.packed, 4, dim=31).dim == 31
    assert QuantizedTable.from_packed(q4.packed, 4).dim == 32  # torch's even default


def test_empty_inputs(rng):
    qt = fastembed.quantize(table(rng, 10, 8), 8)
    assert fastembed.lookup(qt, np.zeros(0, np.int64)).shape == (0, 8)
    out = fastembed.lookup_bag(qt, np.zeros(0, np.int64), [0, 0, 0])
    np.testing.assert_array_equal(out, np.zeros((3, 8), np.float32))
    assert fastembed.quantize(np.zeros((0, 8), np.float32), 4).packed.shape == (0, 8)


@pytest.mark.parametrize("bad", [3, 16, 0, True, "8", 8.5])
def test_bits_must_be_8_or_4(rng, bad):
    w = table(rng, 4, 4)
    with pytest.raises(ValueError, match="bits"):
        fastembed.quantize(w, bad)
    with pytest.raises(ValueError, match="bits"):
        QuantizedTable.from_packed(np.zeros((4, 12), np.uint8), bad)


@pytest.mark.parametrize("bits", [8, 4])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_table_is_refused_naming_the_value(rng, bits, value):
    w = table(rng, 50, 6)
    w[37, 4] = value
    before = snapshot(w)
    with pytest.raises(ValueError, match=r"table\[37, 4\].*finite"):
        fastembed.quantize(w, bits, num_threads=2)
    assert_unchanged(before, w)


def test_overflowing_ranges_are_refused(rng):
    w = table(rng, 10, 4)
    w[3] = [-3e38, 3e38, 0, 1]          # max - min overflows float32
    with pytest.raises(ValueError, match="row 3.*float32"):
        fastembed.quantize(w, 8)
    w = table(rng, 10, 4)
    w[6, 1] = 1e6                        # beyond float16: 4-bit scale/bias cannot hold it
    with pytest.raises(ValueError, match="row 6.*float16"):
        fastembed.quantize(w, 4)
    assert fastembed.quantize(w, 8).shape == (10, 4)


def test_from_packed_refuses_wrong_dtype_width_and_shape():
    with pytest.raises(ValueError, match="uint8"):
        QuantizedTable.from_packed(np.zeros((4, 12), np.int8), 8)
    with pytest.raises(ValueError, match="uint8"):
        QuantizedTable.from_packed(np.zeros((4, 3), np.float32), 8)
    with pytest.raises(ValueError, match="2-D"):
        QuantizedTable.from_packed(np.zeros(12, np.uint8), 8)
    with pytest.raises(ValueError, match="bytes"):
        QuantizedTable.from_packed(np.zeros((4, 8), np.uint8), 8)    # no codes
    with pytest.raises(ValueError, match="bytes"):
        QuantizedTable.from_packed(np.zeros((4, 12), np.uint8), 8, dim=5)
    with pytest.raises(ValueError, match="bytes"):
        QuantizedTable.from_packed(np.zeros((4, 12), np.uint8), 4, dim=9)
    with pytest.raises(TypeError):
        QuantizedTable(np.zeros((4, 12), np.uint8), 8)


def test_bad_ids_and_arguments_change_nothing(rng):
    qt = fastembed.quantize(table(rng, 30, 8), 8)
    packed_before = snapshot(qt.packed)
    out = np.full((3, 8), 7.0, np.float32)
    ids = np.array([1, 2, 30])
    for call in (lambda: fastembed.lookup(qt, ids, out=out),
                 lambda: fastembed.lookup_bag(qt, np.array([0, 1, 2, -1, 4, 5]), [0, 2, 4],
                                              out=out)):
        with pytest.raises(IndexError, match="out of range"):
            call()
        np.testing.assert_array_equal(out, 7.0)
    with pytest.raises(ValueError, match="offsets"):
        fastembed.lookup_bag(qt, np.array([0, 1, 2]), [0, 5, 2], out=out)
    with pytest.raises(ValueError, match="mode"):
        fastembed.lookup_bag(qt, np.array([0, 1, 2]), [0, 1, 2], mode="median", out=out)
    with pytest.raises(ValueError, match="inference"):
        fastembed.lookup_bag(qt, np.array([0, 1, 2]), [0, 1, 2], mode="max", return_argmax=True)
    with pytest.raises(TypeError, match="dtype"):
        fastembed.lookup(qt, ids, out=np.empty((3, 8), np.float64))
    np.testing.assert_array_equal(out, 7.0)
    assert_unchanged(packed_before, qt.packed)


@pytest.mark.parametrize("bits", [8, 4])
@pytest.mark.parametrize("mode", ["sum", "max"])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dim", [64, 300])
def test_bag_reports_the_first_bad_id(rng, bits, mode, threads, dim):
    # lookup_bag checks ids while it pools: the error names the first bad position whatever
    # the thread count, the column block, or where the others are (late in another thread's
    # chunk, in the prefetch window, negative, in an empty-tail bag)
    qt = fastembed.quantize(table(rng, 50, dim), bits)
    ids = rng.integers(0, 50, 60_000)
    offsets = np.arange(0, ids.size, 7)
    for bad in ([59_990, 40_000, 31_000], [3, 2], [0], [59_999]):
        bad_ids = ids.copy()
        bad_ids[bad] = [50, -1, 1 << 40][:len(bad)]
        with pytest.raises(IndexError, match=rf"ids\[{min(bad)}\] = "):
            fastembed.lookup_bag(qt, bad_ids, offsets, mode=mode, num_threads=threads)
        out = np.full((offsets.size, dim), 7.0, np.float32)
        with pytest.raises(IndexError, match=rf"ids\[{min(bad)}\] = "):
            fastembed.lookup_bag(qt, bad_ids, offsets, mode=mode, out=out, num_threads=threads)
        np.testing.assert_array_equal(out, 7.0)


def test_keras_int8_form(rng):
    keras = import_keras()
    layer = keras.layers.Embedding(50, 12)
    layer.build()
    w = table(rng, 50, 12)
    layer.set_weights([w])
    layer.quantize("int8")
    qt = QuantizedTable.from_keras(layer)
    ids = rng.integers(0, 50, (4, 9))
    want = np.asarray(layer(ids))
    got = fastembed.lookup(qt, ids)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6 * np.abs(want).max())
    codes, scale = np.asarray(layer._embeddings), np.asarray(layer.embeddings_scale)
    same = QuantizedTable.from_keras(codes, scale)
    np.testing.assert_array_equal(same.packed, qt.packed)
    with pytest.raises(ValueError, match="int8"):
        QuantizedTable.from_keras(codes.astype(np.int16), scale)
    with pytest.raises(ValueError, match="one value per row"):
        QuantizedTable.from_keras(codes, scale[:-1])


def test_keras_int8_arrays_without_keras(rng):
    codes = rng.integers(-127, 128, (20, 5)).astype(np.int8)
    scale = (rng.random(20) * 100 + 1).astype(np.float32)
    qt = QuantizedTable.from_keras(codes, scale)
    want = codes.astype(np.float64) / scale[:, None]
    np.testing.assert_allclose(fastembed.lookup(qt, np.arange(20)), want, rtol=0,
                               atol=2e-7 * 128 / scale.min())
    with pytest.raises(ValueError, match="quantize"):
        QuantizedTable.from_keras(object())


@pytest.mark.parametrize("bits", [8, 4])
def test_layer_quantize_for_inference(rng, bits):
    layer = fastembed.Embedding(40, 10, seed=1)
    ids = rng.integers(0, 40, (3, 5))
    qt = fastembed.quantize(layer.embeddings, bits)
    layer.quantize(bits)
    assert isinstance(layer.embeddings, QuantizedTable)
    np.testing.assert_array_equal(layer(ids), fastembed.lookup(qt, ids))
    with pytest.raises(ValueError, match="quantized for inference"):
        layer(ids, training=True)
    from fastembed.optimizers import SGD
    grad = fastembed.accumulate(ids, np.ones((3, 5, 10), np.float32), 40)
    with pytest.raises(TypeError, match="QuantizedTable"):
        SGD(0.1).apply(layer, grad)
    with pytest.raises(TypeError, match="QuantizedTable"):
        fastembed.renorm_(layer.embeddings, ids, 1.0)
    np.testing.assert_array_equal(layer.embeddings.packed, qt.packed)


@pytest.mark.parametrize("bits", [8, 4])
def test_torch_modules_quantize_for_inference(rng, bits):
    torch = pytest.importorskip("torch")
    from fastembed.interop import torch as fe_torch
    ids = torch.from_numpy(rng.integers(0, 30, 24))
    offsets = torch.tensor([0, 5, 5, 17])
    bag = fe_torch.EmbeddingBag(30, 8, mode="mean", padding_idx=2)
    qt = fastembed.quantize(bag.weight.detach().numpy(), bits)
    assert bag.quantize(bits) is bag and not bag.training
    want = fastembed.lookup_bag(qt, ids.numpy(), offsets.numpy(), mode="mean", padding_idx=2)
    np.testing.assert_array_equal(bag(ids, offsets).numpy(), want)
    emb = fe_torch.Embedding(30, 8).quantize(bits)
    np.testing.assert_array_equal(emb(ids).numpy(), fastembed.lookup(
        fastembed.quantize(emb.weight.detach().numpy(), bits), ids.numpy()))
    emb.train()
    with pytest.raises(RuntimeError, match="quantized for inference"):
        emb(ids)
    with pytest.raises(ValueError, match="max_norm"):
        fe_torch.Embedding(30, 8, max_norm=1.0).quantize(bits)
