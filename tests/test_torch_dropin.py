"""What users of torch.nn.Embedding / EmbeddingBag rely on beyond first-order training:
empty vocabularies and zero-width tables, double backward (gradient penalties), and
torch.func (jvp, vmap, grad, jacrev, jacfwd), with torch as the oracle and, where torch
is wrong, the definition."""
import pytest

torch = pytest.importorskip("torch")
fet = pytest.importorskip("fastembed.interop.torch")
F = torch.nn.functional
tf = pytest.importorskip("torch.func")

import fastembed.optimizers  # noqa: E402

IDS = torch.tensor([[0, 1, 1, 2], [3, 2, 4, 0]])


def dense(g):
    return g.to_dense() if g.is_sparse else g


# ---- empty vocabulary, zero-width table ---------------------------------------------------

@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("bag", [False, True])
def test_empty_vocabulary_backward_gives_torchs_empty_gradient(bag, sparse):
    grads = []
    for mod in (torch.nn, fet):
        m = mod.EmbeddingBag(0, 3, sparse=sparse) if bag else mod.Embedding(0, 3, sparse=sparse)
        empty = torch.tensor([], dtype=torch.long)
        out = m(empty, torch.tensor([0])) if bag else m(empty)
        out.sum().backward()
        grads.append(m.weight.grad)
    ref, ours = grads
    assert ours.is_sparse == ref.is_sparse == sparse
    assert ours.shape == ref.shape == (0, 3)
    if sparse:
        assert ours._nnz() == 0


@pytest.mark.parametrize("bag", [False, True])
def test_zero_width_sparse_backward_gives_torchs_empty_sparse_gradient(bag):
    grads = []
    for mod in (torch.nn, fet):
        m = (mod.EmbeddingBag(10, 0, sparse=True, mode="sum") if bag
             else mod.Embedding(10, 0, sparse=True))
        out = m(torch.tensor([[0, 2]]))
        assert out.shape == ((1, 0) if bag else (1, 2, 0))
        out.sum().backward()
        grads.append(m.weight.grad)
    ref, ours = grads
    assert ours.is_sparse and ours.shape == ref.shape == (10, 0)
    assert ours._nnz() == ref._nnz() == 0


# ---- double backward ------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs", [{}, {"padding_idx": 2}, {"sparse": True}, {"max_norm": 1.0}],
                         ids=str)
def test_gradient_penalty_equals_torch(kwargs):
    grads = []
    for cls in (torch.nn.Embedding, fet.Embedding):
        torch.manual_seed(0)
        m = cls(5, 3, dtype=torch.float64, **kwargs)
        out = m(IDS)
        loss = (out ** 2).sum()
        g, = torch.autograd.grad(loss, m.weight, create_graph=True)
        assert g.requires_grad  # not a silently first-order gradient
        penalty = torch.sparse.sum(g * g) if g.is_sparse else (g ** 2).sum()
        (loss + penalty).backward()
        grads.append(dense(m.weight.grad))
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-12, atol=1e-12)


def test_the_issues_example_gives_torchs_numbers():
    rows = []
    for cls in (torch.nn.Embedding, fet.Embedding):
        torch.manual_seed(0)
        m = cls(5, 3)
        out = m(IDS)
        loss = (out ** 2).sum()
        g, = torch.autograd.grad(loss, m.weight, create_graph=True)
        (loss + (g ** 2).sum()).backward()
        rows.append(m.weight.grad[0])
    torch.testing.assert_close(rows[1], rows[0])
    assert abs(float(rows[0][0]) - 55.48) < 0.01  # the issue's figure, not first-order 6.16


@pytest.mark.parametrize("kwargs", [{}, {"padding_idx": 2}, {"scale_grad_by_freq": True}],
                         ids=str)
def test_gradgradcheck(kwargs):
    # scale_grad_by_freq: torch 2.13's double backward of embedding drops the 1/count
    # (embedding_dense_double_backward has no scale argument), so it fails this check;
    # fastembed's passes: the definition is the oracle here.
    w = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    f = lambda w: fet.embedding(IDS, w, **kwargs)  # noqa: E731
    if not kwargs:  # padding and scaling are not derivatives: gradcheck cannot hold
        assert torch.autograd.gradcheck(f, (w,))
    assert torch.autograd.gradgradcheck(f, (w,))


def test_torch_itself_fails_gradgradcheck_with_scale_grad_by_freq():
    # documents why the test above uses the definition (if torch fixes it, this fails and
    # torch becomes the oracle)
    w = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    assert not torch.autograd.gradgradcheck(
        lambda w: F.embedding(IDS, w, scale_grad_by_freq=True), (w,), raise_exception=False)


@pytest.mark.parametrize("per_sample_weights", [False, True])
def test_bag_double_backward_raises_like_torch(per_sample_weights):
    for f in (F.embedding_bag, fet.embedding_bag):
        w = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
        psw = torch.rand(IDS.shape, dtype=torch.float64, requires_grad=True)
        out = f(IDS, w, mode="sum", per_sample_weights=psw if per_sample_weights else None)
        inputs = (w, psw) if per_sample_weights else (w,)
        grads = torch.autograd.grad((out ** 2).sum(), inputs, create_graph=True)
        assert all(g.requires_grad for g in grads)
        for g in grads:  # torch: NotImplementedError for the weight, RuntimeError for psw
            with pytest.raises(RuntimeError, match="not implemented"):
                torch.autograd.grad((g ** 2).sum(), inputs, allow_unused=True)


def test_bag_first_order_gradients_are_unchanged_under_create_graph():
    w = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    out = fet.embedding_bag(IDS, w, mode="mean")
    g1, = torch.autograd.grad((out ** 2).sum(), w, create_graph=True)
    g2, = torch.autograd.grad((fet.embedding_bag(IDS, w, mode="mean") ** 2).sum(), w)
    assert torch.equal(g1.detach(), g2)


def test_sparse_optimizer_refuses_create_graph_instead_of_dropping_the_penalty():
    m = fet.Embedding(5, 3)
    fet.SparseOptimizer([m], fastembed.optimizers.SGD(0.1))
    loss = (m(IDS) ** 2).sum()
    with pytest.raises(RuntimeError, match="SparseOptimizer"):
        torch.autograd.grad(loss, m.weight, create_graph=True)


# ---- forward-mode AD and torch.func ------------------------------------------------------------

W = torch.randn(5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
W_BATCH = torch.randn(4, 5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
IDS_BATCH = torch.randint(0, 5, (4, 2, 3), generator=torch.Generator().manual_seed(3))


def test_jvp_equals_torch():
    t = torch.randn_like(W)
    (a, da), (b, db) = (tf.jvp(lambda w: f(IDS, w), (W,), (t,)) for f in (F.embedding,
                                                                          fet.embedding))
    assert torch.equal(a, b) and torch.equal(da, db)
    with torch.autograd.forward_ad.dual_level():  # the plain forward-AD API too
        dual = torch.autograd.forward_ad.make_dual(W, t)
        out = fet.embedding(IDS, dual)
        assert torch.equal(torch.autograd.forward_ad.unpack_dual(out).tangent, t[IDS])


@pytest.mark.parametrize("kwargs", [{}, {"padding_idx": 1}, {"scale_grad_by_freq": True}],
                         ids=str)
def test_jacrev_jacfwd_and_hessian_equal_torch(kwargs):
    for transform in (tf.jacrev, tf.jacfwd):
        a = transform(lambda w: F.embedding(IDS, w, **kwargs))(W)
        b = transform(lambda w: fet.embedding(IDS, w, **kwargs))(W)
        assert torch.equal(a, b), transform
    if not kwargs.get("scale_grad_by_freq"):  # torch's second order is wrong there (above)
        a = tf.hessian(lambda w: (F.embedding(IDS, w, **kwargs) ** 3).sum())(W)
        b = tf.hessian(lambda w: (fet.embedding(IDS, w, **kwargs) ** 3).sum())(W)
        torch.testing.assert_close(b, a, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kwargs", [{}, {"padding_idx": 1}, {"scale_grad_by_freq": True}],
                         ids=str)
def test_vmap_over_weights_ids_or_both_equals_torch(kwargs):
    for in_dims, args in (((None, 0), (IDS, W_BATCH)), ((0, None), (IDS_BATCH, W)),
                          ((0, 0), (IDS_BATCH, W_BATCH)), ((2, 1), (IDS_BATCH.movedim(0, 2),
                                                                    W_BATCH.movedim(0, 1)))):
        a = tf.vmap(lambda i, w: F.embedding(i, w, **kwargs), in_dims)(*args)
        b = tf.vmap(lambda i, w: fet.embedding(i, w, **kwargs), in_dims)(*args)
        assert torch.equal(a, b), in_dims


@pytest.mark.parametrize("kwargs", [{}, {"padding_idx": 1}], ids=str)
def test_per_sample_gradients_equal_torch(kwargs):
    def loss(f):
        return lambda w, i: (f(i, w, **kwargs) ** 2).sum()
    for in_dims, args in (((None, 0), (W, IDS_BATCH)), ((0, 0), (W_BATCH, IDS_BATCH)),
                          ((0, None), (W_BATCH, IDS))):
        a = tf.vmap(tf.grad(loss(F.embedding)), in_dims)(*args)
        b = tf.vmap(tf.grad(loss(fet.embedding)), in_dims)(*args)
        torch.testing.assert_close(b, a, rtol=1e-12, atol=1e-12)


def test_vmap_checks_ids():
    with pytest.raises(IndexError):
        tf.vmap(lambda i: fet.embedding(i, W))(IDS_BATCH + 5)


def test_max_norm_under_vmap_renorms_each_table_as_torch_does():
    tables = [W_BATCH.clone() * 3, W_BATCH.clone() * 3]
    a = tf.vmap(lambda w: F.embedding(IDS, w, max_norm=1.0))(tables[0])
    b = tf.vmap(lambda w: fet.embedding(IDS, w, max_norm=1.0))(tables[1])
    torch.testing.assert_close(b, a)
    torch.testing.assert_close(tables[1], tables[0])  # in place, in every table
    assert not torch.equal(tables[1], W_BATCH * 3)


def test_bag_gradients_that_depend_on_the_weights_refuse_a_second_derivative_too():
    # out.sum(): grad_output needs no gradient, but with per_sample_weights the gradient of
    # each depends on the other, so a penalty on it must raise, as torch's does
    for f in (F.embedding_bag, fet.embedding_bag):
        w = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
        psw = torch.rand(IDS.shape, dtype=torch.float64, requires_grad=True)
        out = f(IDS, w, mode="sum", per_sample_weights=psw)
        gw, gp = torch.autograd.grad(out.sum(), (w, psw), create_graph=True)
        assert gw.requires_grad and gp.requires_grad
        with pytest.raises(RuntimeError, match="not implemented"):
            (out.sum() + (gp ** 2).sum()).backward()
    for f in (F.embedding_bag, fet.embedding_bag):  # no weights: a constant, as in torch
        w = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
        gw, = torch.autograd.grad(f(IDS, w, mode="sum").sum(), w, create_graph=True)
        assert not gw.requires_grad
