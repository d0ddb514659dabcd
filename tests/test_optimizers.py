"""Sparse optimizers: NumPy references over several steps, torch's SGD and SparseAdam, the
fused path equal to accumulate-then-apply, atomicity, determinism and state round trips."""
import numpy as np
import pytest

import fastembed
from fastembed import optimizers as O
from conftest import assert_unchanged, snapshot
import reference

CONFIGS = [
    ("SGD", dict(learning_rate=0.1)),
    ("SGD", dict(learning_rate=0.1, momentum=0.9)),
    ("SGD", dict(learning_rate=0.1, momentum=0.5, nesterov=True)),
    ("SGD", dict(learning_rate=0.1, weight_decay=0.01)),
    ("Adagrad", dict(learning_rate=0.1)),
    ("RowwiseAdagrad", dict(learning_rate=0.1, initial_accumulator_value=0.1)),
    ("Adam", dict(learning_rate=0.05)),
    ("Adam", dict(learning_rate=0.05, weight_decay=0.1, decoupled_weight_decay=True)),
    ("FTRL", dict(learning_rate=0.1)),
    ("FTRL", dict(learning_rate=0.1, l1_regularization_strength=0.01,
                  l2_regularization_strength=0.02, l2_shrinkage_regularization_strength=0.01,
                  beta=0.5, learning_rate_power=-0.7)),
]


def make_opt(name, kwargs):
    return getattr(O, name)(**kwargs)


def initial_state(opt, shape):
    return {name: np.full((shape[0],) if opt.row_state else shape, opt._initial(name), np.float64)
            for name in opt.slots}


@pytest.mark.parametrize("name, kwargs", CONFIGS, ids=[f"{n}{k}" for n, k in CONFIGS])
@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_reference_over_steps(rng, name, kwargs, fused, dtype):
    opt = make_opt(name, kwargs)
    hp = dict(opt.get_config())
    w = rng.standard_normal((60, 8)).astype(dtype)
    ref_w = w.astype(np.float64)
    state = initial_state(opt, w.shape)
    untouched = np.ones(60, bool)
    for t in range(1, 5):
        ids = rng.integers(0, 40, (6, 5))          # rows 40..59 never touched
        ids[0, :3] = 7                              # duplicates summed before the update
        g = rng.standard_normal((6, 5, 8)).astype(dtype)
        if fused:
            opt.step(w, ids, g)
        else:
            opt.apply(w, fastembed.accumulate(ids, g, 60))
        reference.optimizer_step_ref(name, ref_w, state, ids, g, t, hp)
        untouched[ids.reshape(-1)] = False
    tol = 2e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(w, ref_w, rtol=tol, atol=tol)
    assert untouched[40:].all()
    got_state = opt.get_state()["slots"]
    for name_, ref_arr in state.items():
        np.testing.assert_allclose(got_state[0][name_], ref_arr, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name, kwargs", CONFIGS, ids=[f"{n}{k}" for n, k in CONFIGS])
def test_fused_equals_accumulate_then_apply_bit_for_bit(rng, name, kwargs, dtype):
    w = rng.standard_normal((500, 16)).astype(dtype)
    a, b = w.copy(), w.copy()
    fused, plain = make_opt(name, kwargs), make_opt(name, kwargs)
    for _ in range(3):
        ids = np.minimum(rng.zipf(1.2, 2000) - 1, 499)
        g = rng.standard_normal((2000, 16)).astype(dtype)
        fused.step(a, ids, g, padding_idx=3)
        plain.apply(b, fastembed.accumulate(ids, g, 500, padding_idx=3))
    assert a.tobytes() == b.tobytes()
    for s0, s1 in zip(fused.get_state()["slots"], plain.get_state()["slots"]):
        for k in s0:
            assert s0[k].tobytes() == s1[k].tobytes()


@pytest.mark.parametrize("name, kwargs", CONFIGS[:9:2], ids=[n for n, _ in CONFIGS[:9:2]])
def test_thread_count_agnostic(rng, name, kwargs):
    w = rng.standard_normal((20_000, 64)).astype(np.float32)
    ids = np.minimum(rng.zipf(1.1, 100_000) - 1, 19_999)
    g = rng.standard_normal((100_000, 64)).astype(np.float32)
    runs = []
    for nt in (1, 2):
        table, opt = w.copy(), make_opt(name, kwargs)
        for _ in range(2):
            opt.step(table, ids, g, num_threads=nt)
        runs.append((table, opt.get_state()))
    assert runs[0][0].tobytes() == runs[1][0].tobytes()
    for s0, s1 in zip(runs[0][1]["slots"], runs[1][1]["slots"]):
        for k in s0:
            assert s0[k].tobytes() == s1[k].tobytes()


def _against_torch(rng, make_torch_opt, opt, steps, id_high=50, sparse=True, check_after=None):
    """The same steps through torch's nn.Embedding + `make_torch_opt(params)` and through
    `opt.step`; compares the tables after `check_after` steps (default: all)."""
    torch = pytest.importorskip("torch")
    w = rng.standard_normal((50, 8))
    emb = torch.nn.Embedding(50, 8, sparse=sparse, dtype=torch.float64)
    with torch.no_grad():
        emb.weight.copy_(torch.from_numpy(w))
    topt = make_torch_opt(emb.parameters())
    for _ in range(check_after or steps):
        ids = torch.from_numpy(rng.integers(0, id_high, 30))
        g = torch.from_numpy(rng.standard_normal((30, 8)))
        topt.zero_grad()
        emb(ids).backward(g)
        topt.step()
        opt.step(w, ids.numpy(), g.numpy())
    np.testing.assert_allclose(w, emb.weight.detach().numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("momentum, nesterov", [(0.0, False), (0.9, False), (0.9, True)])
def test_sgd_equals_torch(rng, momentum, nesterov):
    torch = pytest.importorskip("torch")
    # torch's momentum buffer is dense (rows untouched now still move later): with momentum
    # only the first step is comparable
    _against_torch(rng, lambda p: torch.optim.SGD(p, lr=0.1, momentum=momentum, nesterov=nesterov),
                   O.SGD(0.1, momentum=momentum, nesterov=nesterov), 4, sparse=momentum == 0,
                   check_after=1 if momentum else None)


def test_adam_equals_torch_sparse_adam(rng):
    torch = pytest.importorskip("torch")
    # torch: w -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps); Keras: eps outside the sqrt(bc2)
    # scaling: equal when eps is negligible (both refuse 0)
    _against_torch(rng, lambda p: torch.optim.SparseAdam(p, lr=0.05, eps=1e-300),
                   O.Adam(0.05, epsilon=1e-300), 5, id_high=30)


def test_adagrad_equals_torch(rng):
    torch = pytest.importorskip("torch")
    # torch's Adagrad: state starts at initial_accumulator_value, eps added after the sqrt
    _against_torch(rng, lambda p: torch.optim.Adagrad(p, lr=0.1, initial_accumulator_value=0.1,
                                                      eps=1e-7),
                   O.Adagrad(0.1, initial_accumulator_value=0.1, epsilon=1e-7), 4)


@pytest.mark.parametrize("name, kwargs", CONFIGS[::3], ids=[n for n, _ in CONFIGS[::3]])
def test_bad_id_last_changes_nothing(rng, name, kwargs):
    opt = make_opt(name, kwargs)
    w = rng.standard_normal((30, 4))
    opt.step(w, [1, 2], np.ones((2, 4)))  # state exists
    before_state = opt.get_state()
    ids = rng.integers(0, 30, 20)
    ids[-1] = 30
    g = rng.standard_normal((20, 4))
    before = snapshot(w, ids, g)
    with pytest.raises(IndexError, match=r"ids\[19\] = 30"):
        opt.step(w, ids, g)
    assert_unchanged(before, w, ids, g)
    after_state = opt.get_state()
    assert after_state["iterations"] == before_state["iterations"]
    for s0, s1 in zip(before_state["slots"], after_state["slots"]):
        for k in s0:
            assert s0[k].tobytes() == s1[k].tobytes()


def _state_bytes(opt):
    state = opt.get_state()
    return state["iterations"], [{k: v.tobytes() for k, v in s.items()} for s in state["slots"]]


@pytest.mark.parametrize("with_state", [False, True])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_gradient_raises_and_changes_nothing(rng, bad, with_state):
    opt = O.Adam(0.1)
    w = rng.standard_normal((30, 4))
    if with_state:  # moments and the step count exist: none of them may move either
        opt.step(w, rng.integers(0, 30, 20), rng.standard_normal((20, 4)))
    g = rng.standard_normal((20, 4))
    g[13, 2] = bad
    ids = rng.integers(0, 30, 20)
    before, before_state = snapshot(w), _state_bytes(opt)
    with pytest.raises(ValueError, match="non-finite"):
        opt.step(w, ids, g)
    with pytest.raises(ValueError, match="non-finite"):
        opt.apply(w, fastembed.accumulate(ids, g, 30))
    assert_unchanged(before, w)
    assert _state_bytes(opt) == before_state
    assert opt.iterations == int(with_state)
    if not with_state:
        assert opt.get_state()["slots"] == []
    O.SGD(0.1, allow_nonfinite=True).step(w, ids, g)  # allowed on request
    assert not np.isfinite(w).all()


def _overflowing_case(rng, dtype, n_rows=30, dim=4):
    """Finite per-position gradient rows whose sum on one id is not finite in the dtype:
    two rows of 0.9 * max on id 7 (rows 3 and 11), small rows elsewhere."""
    big = 0.9 * float(np.finfo(dtype).max)
    ids = rng.integers(0, n_rows, 20)
    ids[ids == 7] = 8
    ids[[3, 11]] = 7
    g = rng.standard_normal((20, dim)).astype(dtype)
    g[[3, 11], 1] = big
    return ids, g


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("with_state", [False, True])
@pytest.mark.parametrize("name, kwargs", CONFIGS, ids=[f"{n}{k}" for n, k in CONFIGS])
def test_nonfinite_summed_gradient_raises_and_changes_nothing(rng, name, kwargs, with_state, dtype):
    # every grad_output row is finite, but the float sum of an id's rows overflows: the fused
    # step must refuse it as accumulate-then-apply does, before writing anything
    opt = make_opt(name, kwargs)
    w = rng.standard_normal((30, 4)).astype(dtype)
    if with_state:
        opt.step(w, rng.integers(0, 30, 20), rng.standard_normal((20, 4)).astype(dtype))
    ids, g = _overflowing_case(rng, dtype)
    assert np.isfinite(g).all()
    before, before_state = snapshot(w, ids, g), _state_bytes(opt)
    for threads in (1, 2):
        with pytest.raises(ValueError, match=r"non-finite.*row 7"):
            opt.step(w, ids, g, num_threads=threads)
        assert_unchanged(before, w, ids, g)
        assert _state_bytes(opt) == before_state
    with pytest.raises(ValueError, match="non-finite"):
        opt.apply(w, fastembed.accumulate(ids, g, 30))
    assert_unchanged(before, w, ids, g)
    assert _state_bytes(opt) == before_state


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_large_but_finite_sums_pass_and_match_apply(rng, dtype):
    # max|g| times the largest id count overflows, so the exact check runs; it must accept
    # sums that cancel, large rows on distinct ids and an overflow on the padding row
    # (which accumulate drops), and give what accumulate-then-apply gives, bit for bit
    big = 0.9 * float(np.finfo(dtype).max)
    ids = np.array([7, 7, 7, 2, 5, 5, 9, 9, 9, 9], np.int64)
    g = rng.standard_normal((10, 4)).astype(dtype)
    g[[0, 1, 2], 0] = [big, -big, big]     # id 7: big - big + big, finite in input order
    g[3, 2] = big                          # id 2 once
    g[[6, 7], 3] = big                     # id 9 is the padding row: its sum overflows
    w = rng.standard_normal((12, 4)).astype(dtype)
    for name, kwargs in CONFIGS:
        a, b = w.copy(), w.copy()
        with np.errstate(over="ignore", invalid="ignore"):
            make_opt(name, kwargs).step(a, ids, g, padding_idx=9)
            make_opt(name, kwargs).apply(b, fastembed.accumulate(ids, g, 12, padding_idx=9))
        assert a.tobytes() == b.tobytes(), name
    # the same rows in another order overflow (big + big first): refused
    with pytest.raises(ValueError, match="non-finite"):
        O.SGD(0.1).step(w.copy(), ids, g[[0, 2, 1] + list(range(3, 10))], padding_idx=9)


def test_argument_errors(rng):
    w = rng.standard_normal((30, 4))
    for bad in (0, -1, np.nan, np.inf):
        with pytest.raises(ValueError, match="learning_rate"):
            O.SGD(bad)
    with pytest.raises(TypeError, match="learning_rate"):  # wrong type (fastembed._validate)
        O.SGD("0.1")
    with pytest.raises(ValueError, match="momentum"):
        O.SGD(0.1, momentum=1.0)
    with pytest.raises(ValueError, match="beta_1"):
        O.Adam(beta_1=1.5)
    with pytest.raises(ValueError, match="learning_rate_power"):
        O.FTRL(learning_rate_power=0.5)
    # combinations that turn a zero gradient into 0/0 = NaN
    for make in (lambda: O.Adagrad(epsilon=0, initial_accumulator_value=0),
                 lambda: O.RowwiseAdagrad(epsilon=0),
                 lambda: O.Adam(epsilon=0)):
        with pytest.raises(ValueError, match="epsilon"):
            make()
    with pytest.raises(ValueError, match="initial_accumulator_value"):
        O.FTRL(initial_accumulator_value=0)
    ro = w.copy()
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        O.SGD(0.1).step(ro, [1], np.ones((1, 4)))
    with pytest.raises(ValueError, match="shape ids.shape"):
        O.SGD(0.1).step(w, [1, 2], np.ones((3, 4)))
    with pytest.raises(ValueError, match="rows are"):
        O.SGD(0.1).step(w, [1, 2], np.ones((2, 5)))
    with pytest.raises(TypeError, match="RowSparseGrad"):
        O.SGD(0.1).apply(w, np.ones((30, 4)))


@pytest.mark.parametrize("name, kwargs", CONFIGS[1::2], ids=[n for n, _ in CONFIGS[1::2]])
def test_state_round_trip_and_save_load(rng, tmp_path, name, kwargs):
    w = rng.standard_normal((40, 6)).astype(np.float32)
    steps = [(rng.integers(0, 40, 25), rng.standard_normal((25, 6)).astype(np.float32))
             for _ in range(4)]
    straight = make_opt(name, kwargs)
    a = w.copy()
    for ids, g in steps:
        straight.step(a, ids, g)
    first = make_opt(name, kwargs)
    b = w.copy()
    for ids, g in steps[:2]:
        first.step(b, ids, g)
    first.save(tmp_path / "opt.npz")
    resumed = O.Optimizer.load(tmp_path / "opt.npz")
    assert type(resumed) is type(first) and resumed.get_config() == first.get_config()
    c = b.copy()
    for ids, g in steps[2:]:
        resumed.step(c, ids, g)
    assert c.tobytes() == a.tobytes()
    # set_state(get_state()) into a fresh optimizer gives the same continuation
    fresh = make_opt(name, kwargs)
    fresh.set_state(first.get_state())
    for ids, g in steps[2:]:
        fresh.step(b, ids, g)
    assert b.tobytes() == a.tobytes()


@pytest.mark.parametrize("name, kwargs", CONFIGS, ids=[f"{n}{k}" for n, k in CONFIGS])
def test_one_step_updates_several_tables_as_one_step(rng, name, kwargs):
    # two tables in one block == each table stepped by its own optimizer at the same step
    tables = [rng.standard_normal((30, 4)), rng.standard_normal((20, 4))]
    alone = [t.copy() for t in tables]
    shared, own = make_opt(name, kwargs), [make_opt(name, kwargs) for _ in tables]
    for _ in range(3):
        batch = [(rng.integers(0, t.shape[0], 12), rng.standard_normal((12, 4))) for t in tables]
        with shared.one_step() as opt:
            assert opt is shared
            for t, (ids, g) in zip(tables, batch):
                opt.step(t, ids, g)
        for o, t, (ids, g) in zip(own, alone, batch):
            o.step(t, ids, g)
    assert shared.iterations == 3
    for t, a in zip(tables, alone):
        np.testing.assert_array_equal(t, a)


def test_one_step_counts_only_if_something_was_updated(rng):
    opt = O.Adam(0.1)
    w = rng.standard_normal((10, 4))
    with opt.one_step():
        pass
    assert opt.iterations == 0
    with pytest.raises(IndexError):
        with opt.one_step():
            opt.step(w, [0], np.ones((1, 4)))
            opt.step(w, [10], np.ones((1, 4)))
    assert opt.iterations == 1  # the first update happened, at step 1
    with pytest.raises(RuntimeError, match="nest"):
        with opt.one_step():
            with opt.one_step():
                pass
    opt.step(w, [1], np.ones((1, 4)))
    assert opt.iterations == 2


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sum_check_at_the_bound(rng, dtype):
    # the fused step decides in C, from max |grad| and the largest id count, whether finite
    # rows could sum to inf (fe_opt_sums_need_check); on either side of that bound it must
    # give what accumulate + apply gives: equal tables below, a refused step above
    big = float(np.finfo(dtype).max)
    ids = np.concatenate([np.full(1000, 5), rng.integers(6, 40, 10)])
    for scale, overflows in ((big / 4000, False), (big / 500, True)):
        g = np.full((ids.size, 3), scale, dtype)
        w = rng.standard_normal((40, 3)).astype(dtype)
        fused, unfused = w.copy(), w.copy()
        if overflows:
            with pytest.raises(ValueError, match="1000 grad_output rows of row 5 overflows"):
                O.SGD(1e-300 if dtype == np.float64 else 1e-30).step(fused, ids, g)
            np.testing.assert_array_equal(fused, w)
            O.SGD(0.0 + 1e-30, allow_nonfinite=True).step(fused, ids, g)  # let through
            assert not np.isfinite(fused[5]).all()
        else:
            O.SGD(1e-30).step(fused, ids, g)
            O.SGD(1e-30).apply(unfused, fastembed.accumulate(ids, g, 40))
            np.testing.assert_array_equal(fused, unfused)


def test_refused_step_keeps_restored_state_pending(rng):
    # set_state's slot sets bind to a table on its first successful step only
    w = rng.standard_normal((30, 4)).astype(np.float32)
    first = O.Adam(0.1)
    first.step(w, rng.integers(0, 30, 20), rng.standard_normal((20, 4)).astype(np.float32))
    resumed, control = O.Adam(0.1), O.Adam(0.1)
    resumed.set_state(first.get_state())
    control.set_state(first.get_state())
    ids, g = _overflowing_case(rng, np.float32)
    with pytest.raises(ValueError, match="non-finite"):
        resumed.step(w, ids, g)
    g[[3, 11], 1] = 1.0
    a, b = w.copy(), w.copy()
    control.step(a, ids, g)
    resumed.step(b, ids, g)
    assert a.tobytes() == b.tobytes()
    assert _state_bytes(resumed)[1] == _state_bytes(control)[1] != _state_bytes(O.Adam(0.1))[1]


@pytest.mark.parametrize("name, kwargs", CONFIGS[1::2], ids=[n for n, _ in CONFIGS[1::2]])
@pytest.mark.parametrize("layout", ["fortran", "bigendian", "strided"])
def test_set_state_copies_any_layout_to_c_order(rng, name, kwargs, layout):
    w = rng.standard_normal((40, 6)).astype(np.float32)
    steps = [(rng.integers(0, 40, 25), rng.standard_normal((25, 6)).astype(np.float32))
             for _ in range(3)]
    first = make_opt(name, kwargs)
    first.step(w, *steps[0])
    state = first.get_state()
    relaid = {"fortran": np.asfortranarray,
              "bigendian": lambda a: a.astype(a.dtype.newbyteorder(">")),
              "strided": lambda a: np.repeat(a, 2, axis=0)[::2]}[layout]
    state["slots"] = [{k: relaid(v) for k, v in s.items()} for s in state["slots"]]
    resumed = make_opt(name, kwargs)
    resumed.set_state(state)
    b = w.copy()
    for ids, g in steps[1:]:
        first.step(w, ids, g)  # first continues on its own table (its state is keyed by it)
        resumed.step(b, ids, g)
    assert b.tobytes() == w.tobytes()


def test_set_state_refuses_state_that_does_not_fit(rng):
    w = rng.standard_normal((40, 6)).astype(np.float32)
    opt = O.Adam(0.1)
    opt.step(w, [1, 2], np.ones((2, 6), np.float32))
    good = opt.get_state()

    def with_slots(**slots):
        return {"iterations": 5, "slots": [dict(good["slots"][0], **slots)]}

    # not a float array of the optimizer's rank, or slots that disagree: refused at once
    for bad in (with_slots(m=good["slots"][0]["m"].astype(np.int64)),
                with_slots(m=good["slots"][0]["m"][0]),
                with_slots(m=good["slots"][0]["m"][:, :5]),
                with_slots(v=good["slots"][0]["v"].astype(np.float64))):
        before = _state_bytes(opt)
        with pytest.raises(ValueError, match="slot set 0"):
            opt.set_state(bad)
        assert _state_bytes(opt) == before
    with pytest.raises(ValueError, match="2-D"):
        O.RowwiseAdagrad().set_state({"iterations": 0, "slots": [{"accumulator": np.zeros((4, 2))}]})
    # consistent, but not this table's shape or dtype: refused when it would bind
    for shape, dtype in [((41, 6), np.float32), ((40, 5), np.float32), ((40, 6), np.float64)]:
        opt = O.Adam(0.1)
        opt.set_state({"iterations": 5, "slots": [{"m": np.zeros(shape, dtype),
                                                   "v": np.ones(shape, dtype)}]})
        before, before_state = snapshot(w), _state_bytes(opt)
        with pytest.raises(ValueError, match="does not fit this table"):
            opt.step(w, [1, 2], np.ones((2, 6), np.float32))
        with pytest.raises(ValueError, match="does not fit this table"):
            opt.apply(w, fastembed.accumulate([1, 2], np.ones((2, 6), np.float32), 40))
        assert_unchanged(before, w)
        assert _state_bytes(opt) == before_state and opt.iterations == 5


ZERO_STATE_CONFIGS = [
    ("Adagrad", dict(learning_rate=0.1, epsilon=0.0)),             # accumulator starts > 0
    ("Adagrad", dict(learning_rate=0.1, initial_accumulator_value=0.0)),
    ("RowwiseAdagrad", dict(learning_rate=0.1, epsilon=1e-7)),      # default accumulator 0
    ("FTRL", dict(learning_rate=0.1, initial_accumulator_value=0.0, l2_regularization_strength=0.1)),
    ("FTRL", dict(learning_rate=0.1, initial_accumulator_value=0.0, beta=0.5)),
    ("FTRL", dict(learning_rate=0.1, initial_accumulator_value=0.0, learning_rate_power=0.0)),
]


@pytest.mark.parametrize("name, kwargs", ZERO_STATE_CONFIGS, ids=[f"{n}{k}" for n, k in ZERO_STATE_CONFIGS])
def test_accepted_edge_hyperparameters_stay_finite_on_zero_gradients(rng, name, kwargs):
    # what the constructors still accept must not produce NaN, zero gradients included
    w = rng.standard_normal((10, 4))
    g = rng.standard_normal((6, 4))
    g[:, 1] = 0.0
    g[2] = 0.0
    opt = make_opt(name, kwargs)
    for _ in range(3):
        opt.step(w, [1, 1, 2, 3, 3, 4], g)
    assert np.isfinite(w).all()
    assert all(np.isfinite(a).all() for s in opt.get_state()["slots"] for a in s.values())


def test_iterations_advance_once_per_successful_call_per_optimizer(rng):
    # documented: one optimizer over two tables advances twice per training step, like
    # neither of two torch optimizers; one optimizer per table gives torch's count
    a, b = rng.standard_normal((10, 4)), rng.standard_normal((20, 4))
    shared, only_a, only_b = O.Adam(0.1), O.Adam(0.1), O.Adam(0.1)
    a2, b2 = a.copy(), b.copy()
    for _ in range(3):
        ids, g = rng.integers(0, 10, 5), rng.standard_normal((5, 4))
        shared.step(a, ids, g)
        only_a.step(a2, ids, g)
        grad_b = fastembed.accumulate(ids, g, 20)
        shared.apply(b, grad_b)
        only_b.apply(b2, grad_b)
    assert shared.iterations == 6 and only_a.iterations == only_b.iterations == 3
    assert a.tobytes() != a2.tobytes()  # t = 1, 3, 5 against t = 1, 2, 3
    with pytest.raises(IndexError):
        shared.step(a, [10], np.ones((1, 4)))
    assert shared.iterations == 6


def test_summed_overflow_check_names_the_lowest_row_for_any_thread_count(rng):
    # large enough that the phase-1 sum check runs on 2 threads; two bad rows in different
    # chunks: the lowest one is reported either way, and nothing is written
    n_rows, n = 20_000, 100_000
    w = rng.standard_normal((n_rows, 64)).astype(np.float32)
    ids = rng.integers(0, n_rows, n)
    g = rng.standard_normal((n, 64)).astype(np.float32)
    for row in (15_000, 4_000):
        pos = np.flatnonzero(ids == row)[:2]
        if pos.size < 2:
            ids[:2] = row
            pos = np.array([0, 1])
        g[pos, 5] = 3e38
    before = snapshot(w)
    for threads in (1, 2):
        with pytest.raises(ValueError, match="rows of row 4000 overflows"):
            O.Adagrad(0.1).step(w, ids, g, num_threads=threads)
        assert_unchanged(before, w)
    # and with the sums made finite, the checked path equals the unchecked one bit for bit
    g[g == np.float32(3e38)] = np.float32(1e38)
    a, b = w.copy(), w.copy()
    O.Adagrad(0.1).step(a, ids, g, num_threads=2)        # max|g| * count overflows: checked
    O.Adagrad(0.1).apply(b, fastembed.accumulate(ids, g, n_rows))
    assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("use_locking", [True, False])
@pytest.mark.parametrize("method", ["step", "apply"])
def test_use_locking_serializes_updates_of_one_table(rng, monkeypatch, method, use_locking):
    # 4 Python threads, each with its own optimizer, update one table through different
    # views of it. The kernel call is wrapped to count the updates of the table in flight
    # (a short sleep inside widens the window): with use_locking never more than one, and
    # the table equals the serial run (integer gradients, learning rate 1: float64 sums are
    # exact, so every serial order gives the same table). Without it the updates overlap.
    import threading
    import time
    from fastembed import optimizers
    real, guard, flight = getattr(optimizers.rules, method), threading.Lock(), {"now": 0, "max": 0}

    def counted(*args, **kwargs):
        with guard:
            flight["now"] += 1
            flight["max"] = max(flight["max"], flight["now"])
        time.sleep(0.002)
        try:
            return real(*args, **kwargs)
        finally:
            with guard:
                flight["now"] -= 1
    monkeypatch.setattr(optimizers.rules, method, counted)
    w = np.zeros((200, 16))
    batches = [[(rng.integers(0, 200, 500), rng.integers(-4, 5, (500, 16)).astype(float))
                for _ in range(6)] for _ in range(4)]
    serial = w.copy()
    for batch in batches:
        for ids, g in batch:
            O.SGD(1.0).step(serial, ids, g)

    def body(i):
        opt, view = O.SGD(1.0, use_locking=use_locking), w[:]  # the lock follows the memory
        for ids, g in batches[i]:
            if method == "step":
                opt.step(view, ids, g, num_threads=1 + i % 2)
            else:
                opt.apply(view, fastembed.accumulate(ids, g, 200), num_threads=1 + i % 2)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if use_locking:
        assert flight["max"] == 1
        np.testing.assert_array_equal(w, serial)
    else:
        assert flight["max"] > 1  # the check above can fail: unlocked updates do overlap
    assert O.SGD(0.1, use_locking=use_locking).get_config()["use_locking"] is use_locking


def test_a_subclass_keeps_its_rule(rng):
    # the update rule is a class attribute: a user's subclass steps like its parent
    class MyAdam(O.Adam):
        pass

    w = rng.standard_normal((30, 4)).astype(np.float32)
    ids, g = rng.integers(0, 30, 50), rng.standard_normal((50, 4)).astype(np.float32)
    a, b = w.copy(), w.copy()
    MyAdam(0.1).step(a, ids, g)
    O.Adam(0.1).step(b, ids, g)
    np.testing.assert_array_equal(a, b)
    assert MyAdam.rule == O.Adam.rule != O.SGD.rule


def test_rebind_moves_a_tables_state_to_its_new_buffer(rng):
    # JAX gives an assigned variable a new buffer: the moments must follow the table there
    w = rng.standard_normal((10, 4))
    ids, g = rng.integers(0, 10, 6), rng.standard_normal((6, 4))
    moved, kept = O.Adam(0.1), O.Adam(0.1)
    same = w.copy()
    moved.step(w, ids, g)
    kept.step(same, ids, g)  # the same history, on a buffer that stays
    new = w.copy()
    moved.rebind(w.__array_interface__["data"][0], new)
    moved.step(new, ids, g)
    kept.step(same, ids, g)
    assert new.tobytes() == same.tobytes()
    assert len(moved.get_state()["slots"]) == 1
    moved.rebind(12345, new)  # nothing bound there: nothing happens
    assert len(moved.get_state()["slots"]) == 1


@pytest.mark.parametrize("nt", [1, 2])
def test_nonfinite_gradient_on_the_padding_row_is_refused(rng, nt):
    # the step sums every group but the padding row's and checks the sums: a NaN in a row of
    # the padding id, which no sum holds, must still be found (at its flat position) and
    # leave the table and the state as they were
    w = rng.standard_normal((50, 8)).astype(np.float32)
    ids = np.array([3, 7, 3, 9, 7, 3])
    g = rng.standard_normal((6, 8)).astype(np.float32)
    g[3, 5] = np.nan  # ids[3] == 9, the padding row
    opt = O.Adagrad(0.1)
    opt.step(w, ids[:3], g[:3], num_threads=nt)  # binds the state
    state = opt.get_state()["slots"][0]["accumulator"]
    before = snapshot(w)
    with pytest.raises(ValueError, match="flat position 29"):
        opt.step(w, ids, g, padding_idx=9, num_threads=nt)
    assert_unchanged(before, w)
    assert opt.get_state()["slots"][0]["accumulator"].tobytes() == state.tobytes()
