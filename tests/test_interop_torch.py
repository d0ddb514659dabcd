"""fastembed.interop.torch against torch's own nn.Embedding / nn.EmbeddingBag: same outputs,
same gradients, same training trajectory."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
fit = pytest.importorskip("fastembed.interop.torch")

import fastembed  # noqa: E402

N_ROWS, DIM = 40, 6


def pair(torch_cls, fe_cls, dtype=torch.float32, **kwargs):
    """A torch module and a fastembed one with the same arguments and the same weights."""
    torch.manual_seed(0)
    ref = torch_cls(N_ROWS, DIM, dtype=dtype, **kwargs)
    ours = fe_cls(N_ROWS, DIM, dtype=dtype, **kwargs)
    with torch.no_grad():
        ours.weight.copy_(ref.weight * 3)  # norms above 1 so max_norm bites
        ref.weight.copy_(ours.weight)
    return ref, ours


def dense(g):
    return g.to_dense() if g.is_sparse else g


def ids_with_duplicates(shape=(5, 7), n_rows=N_ROWS, seed=1):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, n_rows, shape, generator=g)
    ids.view(-1)[:4] = torch.tensor([3, 3, 2, 3])  # duplicates and the padding row
    return ids


EMBEDDING_ARGS = [
    {},
    {"padding_idx": 2},
    {"padding_idx": -1},
    {"max_norm": 1.0},
    {"max_norm": 1.5, "norm_type": 1.0},
    {"scale_grad_by_freq": True},
    {"sparse": True},
    {"sparse": True, "padding_idx": 2, "scale_grad_by_freq": True},
]


@pytest.mark.parametrize("kwargs", EMBEDDING_ARGS, ids=str)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_embedding_equals_torch(kwargs, dtype):
    ref, ours = pair(torch.nn.Embedding, fit.Embedding, dtype, **kwargs)
    if kwargs.get("sparse") and kwargs.get("scale_grad_by_freq"):
        # torch refuses this pair ("not supported with sparse gradients"); fastembed does
        # it: the reference is torch's dense gradient
        ref = pair(torch.nn.Embedding, fit.Embedding, dtype,
                   **dict(kwargs, sparse=False))[0]
    ids = ids_with_duplicates()
    if kwargs.get("padding_idx") == -1:
        ids.view(-1)[5] = N_ROWS - 1
    g_out = torch.randn(5, 7, DIM, dtype=dtype, generator=torch.Generator().manual_seed(2))
    a, b = ref(ids), ours(ids)
    assert isinstance(ours, torch.nn.Embedding)
    if "max_norm" in kwargs:  # fastembed takes row norms in float64, torch in the row's dtype
        torch.testing.assert_close(b, a, rtol=1e-6, atol=1e-6)
    else:
        assert torch.equal(a, b)
    torch.testing.assert_close(ours.weight, ref.weight, rtol=0, atol=1e-6)  # max_norm renorm
    a.backward(g_out)
    b.backward(g_out)
    assert ours.weight.grad.is_sparse == bool(kwargs.get("sparse"))
    torch.testing.assert_close(dense(ours.weight.grad), dense(ref.weight.grad))


def test_from_pretrained_and_weight_argument_are_torchs():
    w = torch.randn(N_ROWS, DIM)
    frozen = fit.Embedding.from_pretrained(w, padding_idx=1)
    assert isinstance(frozen, fit.Embedding) and not frozen.weight.requires_grad
    assert frozen.padding_idx == 1 and torch.equal(frozen.weight, w)
    assert torch.equal(frozen(torch.tensor([4, 1])), w[[4, 1]])
    m = fit.Embedding(N_ROWS, DIM, _weight=w.clone())
    assert torch.equal(m.weight, w)
    # state dicts are interchangeable with torch's module
    ref = torch.nn.Embedding(N_ROWS, DIM)
    ref.load_state_dict(m.state_dict())
    assert torch.equal(ref.weight, w)


def test_bag_from_pretrained_and_weight_argument_are_torchs():
    w = torch.randn(N_ROWS, DIM, dtype=torch.float64)
    ids, offsets = ids_with_duplicates((24,)), torch.tensor([0, 5, 5, 11])
    kwargs = dict(mode="sum", padding_idx=3, max_norm=2.0, norm_type=1.5)
    ref = torch.nn.EmbeddingBag.from_pretrained(w.clone(), **kwargs)
    ours = fit.EmbeddingBag.from_pretrained(w, **kwargs)
    assert isinstance(ours, fit.EmbeddingBag) and not ours.weight.requires_grad
    assert ours.weight.data_ptr() == w.data_ptr()  # shares the given tensor, as torch's does
    assert (ours.mode, ours.padding_idx, ours.max_norm, ours.norm_type) == (
        ref.mode, ref.padding_idx, ref.max_norm, ref.norm_type)
    torch.testing.assert_close(ours(ids, offsets), ref(ids, offsets), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(w, ref.weight, rtol=1e-12, atol=1e-12)  # renormed in place
    m = fit.EmbeddingBag(N_ROWS, DIM, mode="mean", _weight=w.clone(), dtype=torch.float64)
    assert m.weight.requires_grad and torch.equal(m.weight, w)
    theirs = torch.nn.EmbeddingBag(N_ROWS, DIM, mode="mean", dtype=torch.float64)
    theirs.load_state_dict(m.state_dict())
    torch.testing.assert_close(theirs(ids, offsets), m(ids, offsets), rtol=1e-12, atol=1e-12)


def test_gradcheck_float64():
    m = fit.Embedding(10, 3, dtype=torch.float64)
    ids = torch.tensor([[1, 2, 1], [9, 0, 1]])

    def f(weight):
        return fit._LookupFunction.apply(weight, ids, m)

    w = torch.randn(10, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(f, (w,))


def test_gradcheck_bag_float64_with_per_sample_weights():
    m = fit.EmbeddingBag(10, 3, mode="sum", dtype=torch.float64)
    ids = torch.tensor([1, 2, 1, 9, 0, 1])
    offsets = torch.tensor([0, 2, 2, 5])

    def f(weight, psw):
        return fit._BagFunction.apply(weight, psw, ids, offsets, m)

    w = torch.randn(10, 3, dtype=torch.float64, requires_grad=True)
    psw = torch.rand(6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(f, (w, psw))


BAG_CASES = [
    dict(mode="sum"), dict(mode="mean"), dict(mode="max"),
    dict(mode="sum", include_last_offset=True), dict(mode="mean", padding_idx=2),
    dict(mode="max", padding_idx=2), dict(mode="sum", max_norm=1.0), dict(mode="sum", sparse=True),
    dict(mode="mean", sparse=True, padding_idx=3),
    dict(mode="sum", max_norm=1.5, norm_type=1.0), dict(mode="max", max_norm=2.0, norm_type=3.0),
    dict(mode="sum", scale_grad_by_freq=True), dict(mode="mean", scale_grad_by_freq=True),
    dict(mode="mean", padding_idx=2, scale_grad_by_freq=True),
    dict(mode="sum", include_last_offset=True, scale_grad_by_freq=True),
    dict(mode="sum", sparse=True, scale_grad_by_freq=True),
    dict(mode="mean", sparse=True, padding_idx=3, scale_grad_by_freq=True),
]


def bag_by_embedding(ref, ids, offsets, per_sample_weights=None):
    """torch's sum/mean EmbeddingBag rebuilt from F.embedding and a per-bag sum: the
    reference gradient for scale_grad_by_freq. torch 2.13's CPU EmbeddingBag backward divides
    by the wrong id's count when ids occur different numbers of times
    (pytorch/pytorch#190063); F.embedding divides by each id's count in the whole input."""
    flat = ids.reshape(-1)
    if offsets is None:
        bounds = torch.arange(0, flat.numel() + 1, ids.shape[1])
    else:
        bounds = offsets if ref.include_last_offset else torch.cat(
            [offsets, torch.tensor([flat.numel()])])
    n_bags = bounds.numel() - 1
    bag_of = torch.repeat_interleave(torch.arange(n_bags), bounds.diff())
    rows = torch.nn.functional.embedding(flat, ref.weight, padding_idx=ref.padding_idx,
                                         scale_grad_by_freq=ref.scale_grad_by_freq)
    keep = torch.ones(flat.numel(), dtype=rows.dtype)
    if ref.padding_idx is not None:
        keep = (flat != ref.padding_idx).to(rows.dtype)
    w = keep if per_sample_weights is None else keep * per_sample_weights
    zeros = torch.zeros(n_bags, rows.shape[1], dtype=rows.dtype)
    out = zeros.index_add(0, bag_of, rows * w[:, None])
    if ref.mode == "mean":
        count = zeros[:, 0].index_add(0, bag_of, w).clamp(min=1)
        out = out / count[:, None]
    return out


@pytest.mark.parametrize("kwargs", BAG_CASES, ids=str)
@pytest.mark.parametrize("two_d", [False, True])
def test_embedding_bag_equals_torch(kwargs, two_d):
    ref, ours = pair(torch.nn.EmbeddingBag, fit.EmbeddingBag, torch.float64, **kwargs)
    ids = ids_with_duplicates((24,))
    if two_d:
        if kwargs.get("include_last_offset"):
            pytest.skip("include_last_offset applies to 1-D input")
        ids, offsets = ids.view(4, 6), None
    else:
        offsets = torch.tensor([0, 5, 5, 11, 24] if kwargs.get("include_last_offset")
                               else [0, 5, 5, 11])
    a, b = ref(ids, offsets), ours(ids, offsets)
    assert isinstance(ours, torch.nn.EmbeddingBag)
    torch.testing.assert_close(b, a, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ours.weight, ref.weight, rtol=1e-12, atol=1e-12)  # max_norm
    if kwargs.get("scale_grad_by_freq"):  # see bag_by_embedding; torch refuses it with sparse
        ref = pair(torch.nn.EmbeddingBag, fit.EmbeddingBag, torch.float64,
                   **dict(kwargs, sparse=False))[0]
        a = bag_by_embedding(ref, ids, offsets)
        torch.testing.assert_close(b, a, rtol=1e-12, atol=1e-12)
    g_out = torch.randn_like(a)
    a.backward(g_out)
    b.backward(g_out)
    torch.testing.assert_close(dense(ours.weight.grad), dense(ref.weight.grad))


@pytest.mark.parametrize("mode", ["sum", "mean"])
@pytest.mark.parametrize("sparse", [False, True])
def test_embedding_bag_scale_grad_by_freq_equals_torch_where_torch_is_right(mode, sparse):
    # every id occurs twice: torch 2.13's miscount (pytorch/pytorch#190063) cannot show
    ref, ours = pair(torch.nn.EmbeddingBag, fit.EmbeddingBag, torch.float64, mode=mode,
                     scale_grad_by_freq=True, sparse=sparse)
    ref.sparse = False  # torch refuses scale_grad_by_freq with sparse gradients
    ids = torch.tensor([7, 3, 3, 9, 1, 7, 9, 1, 5, 5])
    offsets = torch.tensor([0, 3, 3, 6])
    a, b = ref(ids, offsets), ours(ids, offsets)
    g_out = torch.randn_like(a)
    a.backward(g_out)
    b.backward(g_out)
    assert ours.weight.grad.is_sparse == sparse
    unscaled = fastembed.accumulate_bag(ids.numpy(), offsets.numpy(), g_out.numpy(), N_ROWS,
                                        mode=mode).to_dense()
    assert not np.allclose(dense(ours.weight.grad).numpy(), unscaled)  # the option bites
    torch.testing.assert_close(dense(ours.weight.grad), ref.weight.grad)


def test_embedding_bag_scale_grad_by_freq_with_per_sample_weights():
    ref, ours = pair(torch.nn.EmbeddingBag, fit.EmbeddingBag, torch.float64, mode="sum",
                     scale_grad_by_freq=True)
    ids, offsets = ids_with_duplicates((24,)), torch.tensor([0, 5, 5, 11])
    psw_a = torch.rand(24, dtype=torch.float64, requires_grad=True)
    psw_b = psw_a.detach().clone().requires_grad_()
    a, b = bag_by_embedding(ref, ids, offsets, psw_a), ours(ids, offsets, psw_b)
    torch.testing.assert_close(b, a)
    g_out = torch.randn_like(a)
    a.backward(g_out)
    b.backward(g_out)
    torch.testing.assert_close(ours.weight.grad, ref.weight.grad)
    torch.testing.assert_close(psw_b.grad, psw_a.grad)


def test_embedding_bag_max_mode_refuses_scale_grad_by_freq_as_torch_does():
    ids = torch.tensor([[1, 2]])
    for cls in (torch.nn.EmbeddingBag, fit.EmbeddingBag):
        m = cls(N_ROWS, DIM, mode="max", scale_grad_by_freq=True)
        with pytest.raises(ValueError, match="max mode does not support scaling the gradient"):
            m(ids)


def test_embedding_bag_per_sample_weights_gradient_equals_torch():
    ref, ours = pair(torch.nn.EmbeddingBag, fit.EmbeddingBag, torch.float64, mode="sum")
    ids = ids_with_duplicates((24,))
    offsets = torch.tensor([0, 5, 5, 11])
    psw_a = torch.rand(24, dtype=torch.float64, requires_grad=True)
    psw_b = psw_a.detach().clone().requires_grad_()
    a, b = ref(ids, offsets, psw_a), ours(ids, offsets, psw_b)
    torch.testing.assert_close(b, a)
    g_out = torch.randn_like(a)
    a.backward(g_out)
    b.backward(g_out)
    torch.testing.assert_close(ours.weight.grad, ref.weight.grad)
    torch.testing.assert_close(psw_b.grad, psw_a.grad)


def model(cls, sparse):
    torch.manual_seed(3)
    return torch.nn.Sequential(cls(200, 8, sparse=sparse), torch.nn.Flatten(),
                               torch.nn.Linear(8 * 5, 1)).double()


@pytest.mark.parametrize("sparse", [False, True])
def test_swapping_the_module_changes_nothing_but_speed(sparse):
    ref, ours = model(torch.nn.Embedding, sparse), model(fit.Embedding, sparse)
    ours.load_state_dict(ref.state_dict())
    g = torch.Generator().manual_seed(4)
    batches = [(torch.randint(0, 200, (16, 5), generator=g), torch.randn(16, 1, generator=g,
                                                                            dtype=torch.float64))
               for _ in range(20)]
    losses = []
    for m in (ref, ours):
        opt = torch.optim.SGD(m.parameters(), lr=0.1)
        run = []
        for x, y in batches:
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(m(x), y)
            loss.backward()
            opt.step()
            run.append(loss.item())
        losses.append(run)
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-5)
    start = model(torch.nn.Embedding, sparse)[0].weight
    assert not torch.equal(ours[0].weight, start)  # it trained
    torch.testing.assert_close(ours[0].weight, ref[0].weight, rtol=1e-5, atol=1e-7)


def test_sparse_gradients_feed_torch_sparse_adam():
    ref, ours = pair(torch.nn.Embedding, fit.Embedding, sparse=True)
    opts = [torch.optim.SparseAdam(m.parameters(), lr=0.05) for m in (ref, ours)]
    for step in range(5):
        ids = ids_with_duplicates(seed=step)
        for m, opt in zip((ref, ours), opts):
            opt.zero_grad()
            (m(ids) ** 2).sum().backward()
            opt.step()
    torch.testing.assert_close(ours.weight, ref.weight)


def test_sparse_optimizer_fused_step_equals_accumulate_then_apply():
    optimizers = pytest.importorskip("fastembed.optimizers")
    _, ours = pair(torch.nn.Embedding, fit.Embedding)
    weights = ours.weight.detach().numpy().copy()
    fused = fit.SparseOptimizer([ours], optimizers.Adam(learning_rate=0.05))
    plain = optimizers.Adam(learning_rate=0.05)
    for step in range(3):
        ids = ids_with_duplicates(seed=step)
        g_out = torch.randn(5, 7, DIM, generator=torch.Generator().manual_seed(step))
        fused.zero_grad()
        ours(ids).backward(g_out)
        assert ours.weight.grad is None  # no gradient tensor was built
        fused.step()
        plain.apply(weights, fastembed.accumulate(ids.numpy(), g_out.numpy(), N_ROWS))
    np.testing.assert_array_equal(ours.weight.detach().numpy(), weights)


def test_sparse_optimizer_drives_bags_too():
    optimizers = pytest.importorskip("fastembed.optimizers")
    _, ours = pair(torch.nn.EmbeddingBag, fit.EmbeddingBag, mode="mean")
    weights = ours.weight.detach().numpy().copy()
    fused = fit.SparseOptimizer([ours], optimizers.SGD(learning_rate=0.5))
    ids, offsets = ids_with_duplicates((24,)), torch.tensor([0, 5, 5, 11])
    g_out = torch.randn(4, DIM, generator=torch.Generator().manual_seed(7))
    ours(ids, offsets).backward(g_out)
    fused.step()
    grad = fastembed.accumulate_bag(ids.numpy(), offsets.numpy(), g_out.numpy(), N_ROWS,
                                    mode="mean")
    optimizers.SGD(learning_rate=0.5).apply(weights, grad)
    np.testing.assert_array_equal(ours.weight.detach().numpy(), weights)


def test_module_refuses_other_devices_and_bad_ids():
    m = fit.Embedding(N_ROWS, DIM)
    before = m.weight.detach().clone()
    with pytest.raises(IndexError, match="out of range"):
        m(torch.tensor([0, N_ROWS]))
    assert torch.equal(m.weight, before)
    with pytest.raises(TypeError):
        fit.SparseOptimizer([torch.nn.Embedding(3, 2)], None)


@pytest.mark.parametrize("cls", ["Embedding", "EmbeddingBag"])
def test_transposed_weight_is_renormed_in_place(cls):
    torch.manual_seed(5)
    w = torch.randn(DIM, N_ROWS, dtype=torch.float64) * 3  # w.T is a strided (40, 6) table
    ref = getattr(torch.nn, cls)(N_ROWS, DIM, max_norm=1.0, _weight=w.T.clone(),
                                 dtype=torch.float64)
    ours = getattr(fit, cls)(N_ROWS, DIM, max_norm=1.0, _weight=w.T, dtype=torch.float64)
    assert not ref.weight.is_contiguous() and ours.weight.is_contiguous()
    ids = ids_with_duplicates((4, 6))
    a, b = ref(ids), ours(ids)
    torch.testing.assert_close(b, a)
    assert not torch.equal(ref.weight, w.T)  # the renorm bit
    torch.testing.assert_close(ours.weight, ref.weight)


@pytest.mark.parametrize("cls", ["Embedding", "EmbeddingBag"])
def test_transposed_weight_is_updated_by_sparse_optimizer(cls):
    optimizers = pytest.importorskip("fastembed.optimizers")
    w = torch.randn(DIM, N_ROWS, generator=torch.Generator().manual_seed(6))
    ours = getattr(fit, cls).from_pretrained(w.T, freeze=False)
    assert ours.weight.is_contiguous() and torch.equal(ours.weight, w.T)
    expect = w.T.numpy().copy()
    opt = fit.SparseOptimizer([ours], optimizers.SGD(learning_rate=0.5))
    ids = ids_with_duplicates((4, 6))
    out = ours(ids)
    g_out = torch.randn(out.shape, generator=torch.Generator().manual_seed(7))
    out.backward(g_out)
    opt.step()
    if cls == "Embedding":
        grad = fastembed.accumulate(ids.numpy(), g_out.numpy(), N_ROWS)
    else:
        grad = fastembed.accumulate_bag(ids.numpy(), None, g_out.numpy(), N_ROWS, mode="mean")
    optimizers.SGD(learning_rate=0.5).apply(expect, grad)
    assert not np.array_equal(expect, w.T.numpy())
    np.testing.assert_array_equal(ours.weight.detach().numpy(), expect)


@pytest.mark.parametrize("cls", ["Embedding", "EmbeddingBag"])
def test_in_place_paths_refuse_a_weight_they_cannot_write(cls):
    optimizers = pytest.importorskip("fastembed.optimizers")
    m = getattr(fit, cls)(N_ROWS, DIM, max_norm=1.0)
    opt = fit.SparseOptimizer([m], optimizers.SGD(learning_rate=0.5))
    ids = ids_with_duplicates((4, 6))
    m(ids).sum().backward()
    strided = torch.randn(DIM, N_ROWS).T * 3
    m.weight = torch.nn.Parameter(strided)  # swapped in after construction
    before = strided.detach().clone()
    with pytest.raises(ValueError, match="C-contiguous"):
        opt.step()
    with pytest.raises(ValueError, match="C-contiguous"):
        m(ids)
    assert torch.equal(m.weight, before)


# torch's optimizer on sparse gradients and the fastembed one that should match it step for
# step (Adam: torch puts eps inside the bias-corrected denominator, Keras outside; both tiny
# here, where the two formulas agree to rounding; eps must be > 0 in both libraries)
TORCH_SPARSE_OPTIMIZERS = {
    "SparseAdam": (lambda p: torch.optim.SparseAdam(p, lr=0.05, eps=1e-300),
                   lambda o: o.Adam(0.05, epsilon=1e-300)),
    "SGD": (lambda p: torch.optim.SGD(p, lr=0.3), lambda o: o.SGD(0.3)),
    "Adagrad": (lambda p: torch.optim.Adagrad(p, lr=0.3, initial_accumulator_value=0.1,
                                              eps=1e-7),
                lambda o: o.Adagrad(0.3, initial_accumulator_value=0.1, epsilon=1e-7)),
}


def used_twice(ms, ids):  # one module, two lookups in one forward
    return [ms[0](ids[:2]), ms[0](ids[1:])]


def two_modules(ms, ids):
    return [ms[0](ids), ms[1](ids[:, :3])]


def bag_and_embedding(ms, ids):  # the bag twice, the embedding once
    return [ms[0](ids), ms[0](ids[:2]), ms[1](ids)]


TRAINING_LAYOUTS = {
    "used_twice": (used_twice, [("Embedding", {})]),
    "two_modules": (two_modules, [("Embedding", {}), ("Embedding", {"padding_idx": 2})]),
    "bag_and_embedding": (bag_and_embedding, [("EmbeddingBag", {"mode": "mean"}),
                                              ("Embedding", {"padding_idx": 3})]),
    # torch refuses scale_grad_by_freq with sparse gradients: its reference is dense, which
    # SGD and Adagrad (not Adam) turn into the same update
    "scaled_used_twice": (used_twice, [("Embedding", {"scale_grad_by_freq": True})]),
}


@pytest.mark.parametrize("layout", TRAINING_LAYOUTS)
@pytest.mark.parametrize("opt_name", TORCH_SPARSE_OPTIMIZERS)
def test_sparse_optimizer_equals_torch_optimizer(layout, opt_name):
    """One SparseOptimizer.step() is one torch optimizer step on the summed sparse gradient,
    for a module used twice in a forward and for several modules in one optimizer."""
    optimizers = pytest.importorskip("fastembed.optimizers")
    forward, specs = TRAINING_LAYOUTS[layout]
    make_torch_opt, make_ours = TORCH_SPARSE_OPTIMIZERS[opt_name]
    refs, ours = zip(*(pair(getattr(torch.nn, cls), getattr(fit, cls), torch.float64,
                            sparse=True, **kw) for cls, kw in specs))
    if layout.startswith("scaled"):
        if opt_name == "SparseAdam":
            pytest.skip("torch has no sparse scale_grad_by_freq gradient for SparseAdam")
        for m in refs:
            m.sparse = False
    topt = make_torch_opt([m.weight for m in refs])
    fused = fit.SparseOptimizer(ours, make_ours(optimizers))
    g = torch.Generator().manual_seed(8)
    steps = 4
    for _ in range(steps):
        ids = torch.randint(0, 12, (4, 5), generator=g)  # few ids: rows come back across steps
        targets = None
        for ms, opt in ((refs, topt), (ours, fused)):
            opt.zero_grad()
            outs = forward(ms, ids)
            if targets is None:
                targets = [torch.randn(o.shape, generator=g, dtype=o.dtype) for o in outs]
            sum(((o - t) ** 2).sum() for o, t in zip(outs, targets)).backward()
            opt.step()
        for a, b in zip(refs, ours):
            torch.testing.assert_close(b.weight, a.weight, rtol=1e-10, atol=1e-12)
    assert fused.optimizer.iterations == steps


def test_sparse_optimizer_leaves_a_frozen_bag_weight_alone():
    # only per_sample_weights need a gradient: the frozen table must not be updated
    optimizers = pytest.importorskip("fastembed.optimizers")
    w = torch.randn(N_ROWS, DIM)
    bag = fit.EmbeddingBag.from_pretrained(w.clone(), mode="sum")
    opt = fit.SparseOptimizer([bag], optimizers.SGD(learning_rate=0.5))
    ids, offsets = ids_with_duplicates((24,)), torch.tensor([0, 5, 5, 11])
    psw = torch.rand(24, requires_grad=True)
    bag(ids, offsets, psw).sum().backward()
    opt.step()
    assert psw.grad is not None and torch.equal(bag.weight, w)
