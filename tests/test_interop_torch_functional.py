"""fastembed.interop.torch.embedding and embedding_bag against torch.nn.functional's: same
signatures and defaults, same results and gradients, max_norm in place, and exceptions of
torch's classes (that are fastembed's documented classes too)."""
import inspect

import numpy as np
import pytest

torch = pytest.importorskip("torch")
fet = pytest.importorskip("fastembed.interop.torch")
F = torch.nn.functional

import fastembed  # noqa: E402

N_ROWS, DIM = 12, 5


def table(dtype=torch.float64, seed=0, scale=3.0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(N_ROWS, DIM, dtype=dtype, generator=g) * scale).requires_grad_()


def dense(g):
    return g.to_dense() if g.is_sparse else g


def both(f_torch, f_ours, *args, **kwargs):
    """Forward and backward of the same call through torch and fastembed, each on its own
    copy of the weight: (outputs, weight gradients, weights after the call)."""
    w_ref = table()
    w_ours = w_ref.detach().clone().requires_grad_()
    a = f_torch(args[0], w_ref, *args[1:], **kwargs)
    b = f_ours(args[0], w_ours, *args[1:], **kwargs)
    g = torch.randn(a.shape, dtype=a.dtype, generator=torch.Generator().manual_seed(9))
    a.backward(g)
    b.backward(g)
    return (a, b), (w_ref.grad, w_ours.grad), (w_ref, w_ours)


def test_signatures_and_defaults_are_torchs():
    for ours, theirs in ((fet.embedding, F.embedding), (fet.embedding_bag, F.embedding_bag)):
        a, b = inspect.signature(ours).parameters, inspect.signature(theirs).parameters
        assert list(a) == list(b)
        assert [p.default for p in a.values()] == [p.default for p in b.values()]


IDS = torch.tensor([[3, 1, 1, 7], [0, 11, 3, 3]])


@pytest.mark.parametrize("kwargs", [
    {}, {"padding_idx": 3}, {"padding_idx": -1}, {"scale_grad_by_freq": True},
    {"sparse": True}, {"sparse": True, "padding_idx": 1},
    {"max_norm": 1.0}, {"max_norm": 2.0, "norm_type": 1.0},
], ids=str)
def test_embedding_equals_torch(kwargs):
    (a, b), (ga, gb), (wa, wb) = both(F.embedding, fet.embedding, IDS, **kwargs)
    if "max_norm" in kwargs:  # fastembed takes the norm in float64, torch in the row's dtype
        torch.testing.assert_close(b, a, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(wb, wa, rtol=1e-12, atol=1e-12)  # renormed in place
        assert not torch.equal(wb, table())  # ... and the option bites
    else:
        assert torch.equal(a, b)
    assert gb.is_sparse == bool(kwargs.get("sparse"))
    torch.testing.assert_close(dense(gb), dense(ga), rtol=1e-12, atol=1e-12)


BAG_IDS = torch.tensor([3, 1, 1, 7, 0, 11, 3, 3, 5])
OFFSETS = torch.tensor([0, 4, 4, 6])


@pytest.mark.parametrize("kwargs", [
    {}, {"mode": "sum"}, {"mode": "max"}, {"padding_idx": 3}, {"padding_idx": -1, "mode": "sum"},
    {"sparse": True, "mode": "sum"}, {"include_last_offset": True},
    {"max_norm": 1.0, "mode": "sum"},
], ids=str)
def test_embedding_bag_equals_torch(kwargs):
    offsets = torch.cat([OFFSETS, torch.tensor([9])]) if kwargs.get("include_last_offset") \
        else OFFSETS
    (a, b), (ga, gb), (wa, wb) = both(F.embedding_bag, fet.embedding_bag, BAG_IDS, offsets,
                                      **kwargs)
    torch.testing.assert_close(b, a, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(wb, wa, rtol=1e-12, atol=1e-12)
    assert gb.is_sparse == bool(kwargs.get("sparse"))
    torch.testing.assert_close(dense(gb), dense(ga), rtol=1e-12, atol=1e-12)


def test_embedding_bag_two_d_input_and_per_sample_weights_equal_torch():
    w_ref = table()
    w_ours = w_ref.detach().clone().requires_grad_()
    psw_ref = torch.rand(IDS.shape, dtype=torch.float64, requires_grad=True)
    psw_ours = psw_ref.detach().clone().requires_grad_()
    a = F.embedding_bag(IDS, w_ref, mode="sum", per_sample_weights=psw_ref)
    b = fet.embedding_bag(IDS, w_ours, mode="sum", per_sample_weights=psw_ours)
    torch.testing.assert_close(b, a, rtol=1e-12, atol=1e-12)
    g = torch.randn_like(a)
    a.backward(g)
    b.backward(g)
    torch.testing.assert_close(w_ours.grad, w_ref.grad, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(psw_ours.grad, psw_ref.grad, rtol=1e-12, atol=1e-12)


def test_gradcheck_with_respect_to_weight_and_per_sample_weights():
    w = table(scale=1.0)
    psw = torch.rand(BAG_IDS.shape, dtype=torch.float64, requires_grad=True)
    for mode in ("sum", "mean", "sqrtn"):  # "mean" and "sqrtn" with weights: fastembed's own
        assert torch.autograd.gradcheck(
            lambda w, p: fet.embedding_bag(BAG_IDS, w, OFFSETS, mode=mode, per_sample_weights=p),
            (w, psw))
    assert torch.autograd.gradcheck(lambda w: fet.embedding(IDS, w), (w,))


def test_scale_grad_by_freq_in_a_bag_follows_the_definition():
    # torch 2.13's CPU embedding_bag divides rows by the wrong counts here
    # (pytorch/pytorch#190063: row 3 occurs 3 times, row 1 twice, every other once); the
    # definition: each row's summed gradient over its count, so all-ones gives 1 everywhere
    w = table()
    fet.embedding_bag(BAG_IDS, w, OFFSETS, mode="sum", scale_grad_by_freq=True).sum().backward()
    want = torch.zeros(N_ROWS, DIM, dtype=torch.float64)
    want[BAG_IDS.unique()] = 1.0
    assert torch.equal(w.grad, want)


def test_max_norm_renorms_the_callers_weight_in_place():
    w = table()
    before = w.detach().clone()
    out = fet.embedding(torch.tensor([2, 4, 2]), w, max_norm=1.0)
    norms = w.detach().norm(dim=1)
    assert torch.all(norms[[2, 4]] <= 1.0 + 1e-6)
    assert torch.equal(w.detach()[[0, 1, 3]], before[[0, 1, 3]])  # rows not looked up
    assert torch.equal(out.detach(), w.detach()[[2, 4, 2]])


# ---- exceptions: the class torch raises, and fastembed's documented one ------------------

W2 = torch.zeros(5, 3)
ONE = torch.tensor([0])

ERROR_CASES = [
    # (name, call with f = F.embedding / F.embedding_bag or ours, fastembed's class)
    ("embedding: id out of range", lambda f: f.embedding(torch.tensor([5]), W2), IndexError),
    ("embedding: negative id", lambda f: f.embedding(torch.tensor([-1]), W2), IndexError),
    ("embedding: weight not 2-D", lambda f: f.embedding(torch.tensor([1]), torch.zeros(5)),
     ValueError),
    ("embedding: padding_idx too large", lambda f: f.embedding(ONE, W2, padding_idx=5),
     ValueError),
    ("embedding: padding_idx too small", lambda f: f.embedding(ONE, W2, padding_idx=-6),
     ValueError),
    ("embedding: float ids", lambda f: f.embedding(torch.tensor([1.0]), W2), TypeError),
    ("bag: id out of range", lambda f: f.embedding_bag(torch.tensor([5]), W2, ONE), IndexError),
    ("bag: negative id", lambda f: f.embedding_bag(torch.tensor([-1]), W2, ONE), IndexError),
    ("bag: offsets[0] != 0", lambda f: f.embedding_bag(torch.tensor([1, 2]), W2,
                                                       torch.tensor([1])), ValueError),
    ("bag: decreasing offsets", lambda f: f.embedding_bag(torch.tensor([1, 2, 3]), W2,
                                                          torch.tensor([0, 2, 1])), ValueError),
    ("bag: offset past the end", lambda f: f.embedding_bag(torch.tensor([1, 2, 3]), W2,
                                                           torch.tensor([0, 4])), ValueError),
    ("bag: include_last_offset without offsets", lambda f: f.embedding_bag(
        torch.tensor([1, 2]), W2, torch.tensor([], dtype=torch.long), include_last_offset=True),
     ValueError),
    ("bag: padding_idx out of range", lambda f: f.embedding_bag(torch.tensor([1]), W2, ONE,
                                                                padding_idx=5), ValueError),
    ("bag: float ids", lambda f: f.embedding_bag(torch.tensor([1.0]), W2, ONE), TypeError),
    ("bag: float offsets", lambda f: f.embedding_bag(torch.tensor([1]), W2,
                                                     torch.tensor([0.0])), TypeError),
    ("bag: per_sample_weights with max", lambda f: f.embedding_bag(
        torch.tensor([1]), W2, ONE, mode="max", per_sample_weights=torch.ones(1)), ValueError),
    ("bag: weight not 2-D", lambda f: f.embedding_bag(torch.tensor([1]), torch.zeros(5), ONE),
     ValueError),
    ("bag: 2-D ids with offsets", lambda f: f.embedding_bag(torch.tensor([[1]]), W2, ONE),
     ValueError),
    ("bag: 1-D ids without offsets", lambda f: f.embedding_bag(torch.tensor([1]), W2),
     ValueError),
    ("bag: 3-D ids", lambda f: f.embedding_bag(torch.tensor([[[1]]]), W2), ValueError),
    ("bag: 2-D offsets", lambda f: f.embedding_bag(torch.tensor([1]), W2, torch.tensor([[0]])),
     ValueError),
    ("bag: per_sample_weights of another shape", lambda f: f.embedding_bag(
        torch.tensor([1, 2]), W2, ONE, mode="sum", per_sample_weights=torch.ones(3)),
     ValueError),
    ("bag: max with scale_grad_by_freq", lambda f: f.embedding_bag(
        torch.tensor([1]), W2, ONE, mode="max", scale_grad_by_freq=True), ValueError),
]


@pytest.mark.parametrize("name, call, fastembed_class", ERROR_CASES,
                         ids=[c[0] for c in ERROR_CASES])
def test_exceptions_are_torchs_class_and_fastembeds(name, call, fastembed_class):
    try:
        call(F)
    except Exception as theirs:
        torch_class = type(theirs)
    else:  # torch 2.13 missed decreasing offsets once in a full-suite run (state left by an
        # earlier test); its class when it does check is RuntimeError, as for all bad offsets
        assert name == "bag: decreasing offsets", f"torch accepted {name}"
        torch_class = RuntimeError
    with pytest.raises(torch_class) as ours:
        call(fet)
    assert isinstance(ours.value, fastembed_class), (name, type(ours.value).__mro__)


def test_modules_raise_torchs_classes_too():
    bag = fet.EmbeddingBag(5, 3, mode="sum")
    with pytest.raises(RuntimeError) as err:
        bag(torch.tensor([1, 5]), torch.tensor([0]))
    assert isinstance(err.value, IndexError) and "out of range" in str(err.value)
    with pytest.raises(RuntimeError) as err:
        bag(torch.tensor([1, 2]), torch.tensor([0, 3]))
    assert isinstance(err.value, ValueError)
    with pytest.raises(NotImplementedError) as err:
        fet.EmbeddingBag(5, 3, mode="max")(torch.tensor([1]), ONE, torch.ones(1))
    assert isinstance(err.value, ValueError)
    with pytest.raises(IndexError):
        fet.Embedding(5, 3)(torch.tensor([5]))


def test_a_refused_call_leaves_the_weight_unchanged():
    w = table()
    before = w.detach().clone()
    with pytest.raises(IndexError):  # an id out of range, with max_norm: nothing renormed
        fet.embedding(torch.tensor([1, N_ROWS]), w, max_norm=0.5)
    with pytest.raises(NotImplementedError):  # checked before the renorm (torch renorms first)
        fet.embedding_bag(torch.tensor([1]), w, ONE, max_norm=0.5, mode="max",
                          per_sample_weights=torch.ones(1, dtype=torch.float64))
    assert torch.equal(w.detach(), before)


def test_fastembed_additions_stay_available():
    # modes and per-sample weights torch refuses (ValueError / NotImplementedError)
    w = table()
    psw = torch.rand(BAG_IDS.shape, dtype=torch.float64)
    got = fet.embedding_bag(BAG_IDS, w, OFFSETS, mode="sqrtn", per_sample_weights=psw)
    want = fastembed.lookup_bag(w.detach().numpy(), BAG_IDS.numpy(), OFFSETS.numpy(),
                                mode="sqrtn", per_sample_weights=psw.numpy())
    np.testing.assert_array_equal(got.detach().numpy(), want)
