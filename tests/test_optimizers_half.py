"""Optimizers on float16 and bfloat16 tables: the update computed in float32 from float32
state, written back to nearest (bit for bit a float32 run then rounded) or stochastically
(one of the two neighbours of the float32 value, unbiased, reproducible from the seed and
the step, the same for any thread count); bad input changes nothing."""
import math

import numpy as np
import pytest

import fastembed
from fastembed import _ops_optim as rules
from fastembed import constraints as C
from fastembed import optimizers as O
from conftest import assert_unchanged, snapshot
from test_half import HALF, bits, table
from test_optimizers import CONFIGS, make_opt

IDS = [f"{n}{k}" for n, k in CONFIGS]


def float32_then_rounded(opt32, buf, half, ids, g, fused):
    """One step of the float32 reference: `half` widened into the float32 table `buf` (the
    same array every step, so opt32 keeps its state for it), updated, rounded to nearest."""
    buf[...] = half.astype(np.float32)
    if fused:
        opt32.step(buf, ids, g)
    else:
        opt32.apply(buf, fastembed.accumulate(ids, g, buf.shape[0]))
    return buf.astype(half.dtype)


@pytest.mark.parametrize("dt", HALF)
@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.parametrize("name, kwargs", CONFIGS, ids=IDS)
def test_nearest_is_a_float32_step_rounded(rng, dt, fused, name, kwargs):
    opt, opt32 = make_opt(name, kwargs), make_opt(name, kwargs)
    w = table(rng, 60, 8, dt, scale=1.0)
    ref, buf = w.copy(), np.zeros((60, 8), np.float32)
    for _ in range(4):
        ids = rng.integers(0, 40, (6, 5))  # rows 40..59 never touched
        ids[0, :3] = 7
        g = rng.standard_normal((6, 5, 8)).astype(np.float32)
        if fused:
            opt.step(w, ids, g)
        else:
            opt.apply(w, fastembed.accumulate(ids, g, 60))
        ref = float32_then_rounded(opt32, buf, ref, ids, g, fused)
        np.testing.assert_array_equal(bits(w), bits(ref))
    state, state32 = opt.get_state()["slots"], opt32.get_state()["slots"]
    for k in opt.slots:  # float32 state, bit for bit the float32 run's
        assert state[0][k].dtype == np.float32
        assert state[0][k].tobytes() == state32[0][k].tobytes()


@pytest.mark.parametrize("dt", HALF)
def test_half_grad_output_and_int32_ids(rng, dt):
    """A half grad_output is the float32 one it widens to; the fused step equals
    accumulate + apply; int32 ids as int64."""
    w = table(rng, 300, 16, dt, scale=1.0)
    a, b, c = w.copy(), w.copy(), w.copy()
    oa, ob, oc = O.Adam(0.01), O.Adam(0.01), O.Adam(0.01)
    for _ in range(3):
        ids = np.minimum(rng.zipf(1.3, 900) - 1, 299)
        g = rng.standard_normal((900, 16)).astype(dt)
        oa.step(a, ids.astype(np.int32), g, padding_idx=2)
        ob.step(b, ids, g.astype(np.float32), padding_idx=2)
        oc.apply(c, fastembed.accumulate(ids, g, 300, padding_idx=2))
    assert bits(a).tobytes() == bits(b).tobytes() == bits(c).tobytes()
    assert (bits(a)[2] == bits(w)[2]).all()


@pytest.mark.parametrize("dt", HALF)
@pytest.mark.parametrize("rounding", ["nearest", "stochastic"])
def test_row_constraint_projects_the_rounded_row(rng, dt, rounding):
    w = table(rng, 100, 8, dt, scale=1.0)
    ids = rng.integers(0, 100, 300)
    g = rng.standard_normal((300, 8)).astype(np.float32)
    cons = C.MaxNorm(0.5, axis=1)
    hyper = rules.Hyper(lr=0.3, rounding=O.ROUNDINGS[rounding], seed=7, step=3)
    got, want = w.copy(), w.copy()
    rules.step(rules.SGD, got, ids, g, (), hyper, constraint=cons.row_projection())
    rules.step(rules.SGD, want, ids, g, (), hyper)
    cons.apply_(want, rows=ids)
    np.testing.assert_array_equal(bits(got), bits(want))


def neighbours(x, dt):
    """(nearest, the other neighbour) in dt of the float32 values x (finite, in range)."""
    near = x.astype(dt)
    nb = bits(near).astype(np.int32)
    away = np.abs(near.astype(np.float32)) < np.abs(x)  # the other one is farther from 0
    other = (nb & 0x7FFF) + np.where(away, 1, -1)
    sign = np.where(np.signbit(x), 0x8000, 0)
    other = np.where(x == near.astype(np.float32), nb, (other | sign)).astype(np.uint16)
    return near, other.view(dt)


def sgd_stochastic(w, g, seed=1, iterations=0, num_threads=None, lr=1.0):
    """One plain SGD step w -= lr * g (each row its own id) with stochastic rounding."""
    opt = O.SGD(lr, rounding="stochastic", seed=seed)
    opt.iterations = iterations
    out = w.copy()
    opt.step(out, np.arange(w.shape[0]), g, num_threads=num_threads)
    return out


@pytest.mark.parametrize("dt", HALF)
def test_stochastic_is_one_of_the_two_neighbours_and_unbiased(rng, dt):
    """Values over the whole range (float16: subnormals too): each stored value is one of the
    two neighbours of the float32 result x, at random. Unbiased: with step the gap between
    the neighbours and p the chance of the one farther from x, z = (|stored| - |x|) / step
    has mean 0 and variance p (1 - p); over the inexact elements the sum of z is within 5
    standard deviations of 0 (outside by chance with probability < 1e-6; the seed is
    fixed), where rounding toward zero misses by hundreds of them. In each band of p, the
    share of farther neighbours is p (rounding to nearest: 0)."""
    top = 12 if dt == np.float16 else 100
    n, dim = 4000, 50
    w = (rng.standard_normal((n, dim)) * 2.0 ** rng.integers(-top - 10, top, (n, 1))
         ).astype(dt)
    g = (rng.standard_normal((n, dim)) * np.abs(w.astype(np.float32)) * 0.01
         + rng.standard_normal((n, dim)).astype(np.float32) * 2.0 ** -30).astype(np.float32)
    x = (w.astype(np.float64) - g.astype(np.float64)).astype(np.float32)  # SGD in double
    got = sgd_stochastic(w, g)
    near, other = neighbours(x, dt)
    is_near, is_other = bits(got) == bits(near), bits(got) == bits(other)
    assert (is_near | is_other).all()
    lo, hi = near.astype(np.float64), other.astype(np.float64)
    step = np.abs(hi - lo)
    inexact = step > 0
    p = np.abs(x - lo)[inexact] / step[inexact]  # the chance of `other`
    def z(stored):
        return (np.abs(stored) - np.abs(x.astype(np.float64)))[inexact] / step[inexact]

    toward_zero = np.where(np.abs(lo) < np.abs(hi), lo, hi)
    tiny = (np.abs(x) < 2.0 ** -14)[inexact]  # float16 subnormals
    for part in (tiny, ~tiny):
        assert part.sum() > 20000
        sd = math.sqrt((p * (1 - p))[part].sum())
        assert abs(z(got.astype(np.float64))[part].sum()) <= 5 * sd
        assert abs(z(toward_zero)[part].sum()) > 100 * sd  # what the bound tells apart
    for band in ((0.01, 0.1), (0.2, 0.3), (0.4, 0.5)):
        m = (p > band[0]) & (p < band[1])
        assert m.sum() > 5000
        share, expected = is_other[inexact][m].mean(), p[m].mean()
        assert abs(share - expected) <= 5 * math.sqrt(expected * (1 - expected) / m.sum())


@pytest.mark.parametrize("dt", HALF)
def test_stochastic_mean_of_many_draws_is_the_float32_value(dt):
    """One value, 2**20 independent draws (rows): their mean is the float32 x within 5
    standard errors, where nearest rounding is off by its whole rounding error."""
    n, dim = 8192, 128
    w = np.full((n, dim), 1.0, dt)
    step = 2.0 ** -10 if dt == np.float16 else 2.0 ** -7
    g = np.full((n, dim), -0.3 * step, np.float32)  # x = 1 + 0.3 step: nearest gives 1
    got = sgd_stochastic(w, g).astype(np.float64)
    x = 1.0 + 0.3 * step
    assert set(np.unique(got)) == {1.0, 1.0 + step}
    se = step * math.sqrt(0.3 * 0.7 / got.size)
    assert abs(got.mean() - x) <= 5 * se < 0.3 * step


@pytest.mark.parametrize("dt", HALF)
def test_stochastic_reproducible_and_independent(rng, dt):
    w = table(rng, 3000, 32, dt, scale=1.0)
    g = rng.standard_normal((3000, 32)).astype(np.float32) * 1e-3
    a = sgd_stochastic(w, g, seed=5, iterations=3)
    assert bits(a).tobytes() == bits(sgd_stochastic(w, g, seed=5, iterations=3)).tobytes()
    one = bits(sgd_stochastic(w, g, seed=5, iterations=3, num_threads=1))
    two = bits(sgd_stochastic(w, g, seed=5, iterations=3, num_threads=2))
    assert one.tobytes() == two.tobytes() == bits(a).tobytes()
    for other in (sgd_stochastic(w, g, seed=6, iterations=3),   # another seed
                  sgd_stochastic(w, g, seed=5, iterations=4)):  # another step
        differ = (bits(other) != bits(a)).mean()
        assert 0.05 < differ < 0.95
    # the draws of rows and columns are not shifted copies of each other
    r = bits(a)
    assert (r[1:] != r[:-1]).mean() > 0.05 and (r[:, 1:] != r[:, :-1]).mean() > 0.05


@pytest.mark.parametrize("dt", HALF)
@pytest.mark.parametrize("name, kwargs", CONFIGS[::2], ids=IDS[::2])
def test_stochastic_thread_count_agnostic(rng, dt, name, kwargs):
    w = table(rng, 20_000, 64, dt, scale=1.0)
    ids = np.minimum(rng.zipf(1.1, 60_000) - 1, 19_999)
    g = rng.standard_normal((60_000, 64)).astype(np.float32)
    runs = []
    for nt in (1, 2):
        t, opt = w.copy(), make_opt(name, dict(kwargs, rounding="stochastic", seed=11))
        for _ in range(2):
            opt.step(t, ids, g, num_threads=nt)
        runs.append((bits(t).tobytes(), opt.get_state()))
    assert runs[0][0] == runs[1][0]
    for s0, s1 in zip(runs[0][1]["slots"], runs[1][1]["slots"]):
        for k in s0:
            assert s0[k].tobytes() == s1[k].tobytes()


def test_stochastic_keeps_small_updates_nearest_loses(rng):
    """The point of it: 200 SGD steps each far below half a float16 step. Nearest
    rounding never moves the weights; stochastic ones track the float32 run."""
    w0 = np.full((64, 64), 1.0, np.float16)
    g = np.full((64, 64), 1e-4, np.float32)  # each step 1e-4, float16's step at 1 is ~1e-3
    near, sto = w0.copy(), w0.copy()
    o_near, o_sto = O.SGD(1.0), O.SGD(1.0, rounding="stochastic", seed=3)
    ids = np.arange(64)
    for _ in range(200):
        o_near.step(near, ids, g)
        o_sto.step(sto, ids, g)
    assert (near == 1.0).all()
    assert abs(sto.astype(np.float64).mean() - (1.0 - 200 * 1e-4)) < 2e-4


@pytest.mark.parametrize("dt", HALF)
def test_nonfinite_and_overflow_values(dt):
    """inf and NaN rounded as to nearest; a finite value beyond the type's range may round
    to inf (stochastic: only past the largest finite value)."""
    big = 65504.0 if dt == np.float16 else float(np.finfo(np.float32).max)
    w = np.array([[0.0, 1.0, -1.0, 2.0, 0.0, 0.0]], np.float32).astype(dt)
    g = np.array([[-np.inf, 0.0, np.nan, 0.0, 0.0, -0.0]], np.float32)
    for rounding in ("nearest", "stochastic"):
        out = w.copy()
        O.SGD(1.0, rounding=rounding, seed=1, allow_nonfinite=True).step(out, [0], g)
        o = out.astype(np.float32)[0]
        assert o[0] == np.inf and np.isnan(o[2]) and o[1] == 1.0 and o[3] == 2.0
        assert bits(out)[0, 4] == 0 and bits(out)[0, 5] == 0  # +0 stays +0
    top = np.full((1, 2000), big, np.float32).astype(dt)
    out = top.copy()
    O.SGD(1.0, rounding="stochastic", seed=2).step(out, [0], np.zeros((1, 2000), np.float32))
    assert (bits(out) == bits(top)).all()  # the largest finite value stays


@pytest.mark.parametrize("dt", HALF)
@pytest.mark.parametrize("rounding", ["nearest", "stochastic"])
def test_bad_input_changes_nothing(rng, dt, rounding):
    w = table(rng, 50, 8, dt, scale=1.0)
    opt = O.Adam(0.01, rounding=rounding, seed=4)
    opt.step(w, [1, 2, 3], np.ones((3, 8), np.float32))  # the state exists now
    state = opt.get_state()["slots"][0]
    live = [opt._state[next(iter(opt._state))][k] for k in opt.slots]
    before = snapshot(w, *live)
    with pytest.raises(IndexError):
        opt.step(w, [1, 50], np.ones((2, 8), np.float32))
    with pytest.raises(ValueError, match="non-finite"):
        opt.step(w, [1, 2], np.array([[1.0] * 8, [np.nan] + [0.0] * 7], np.float32))
    with pytest.raises(ValueError, match="overflows"):
        opt.step(w, [4] * 3, np.full((3, 8), 3e38, np.float32))
    with pytest.raises(ValueError, match="float32"):
        opt.step(w, [1], np.ones((1, 8), np.float64))
    with pytest.raises(IndexError):
        opt.apply(w, fastembed.RowSparseGrad._trusted(
            np.array([3, 60]), np.ones((2, 8), np.float32), 50))
    assert_unchanged(before, w, *live)
    assert opt.iterations == 1
    for k in opt.slots:
        assert state[k].tobytes() == live[opt.slots.index(k)].tobytes()


def test_constructor_arguments_and_config_round_trip(tmp_path, rng):
    for cls in (O.SGD, O.Adagrad, O.RowwiseAdagrad, O.Adam, O.FTRL):
        opt = cls(rounding="stochastic", seed=123)
        cfg = opt.get_config()
        assert cfg["rounding"] == "stochastic" and cfg["seed"] == 123
        assert cls.from_config(cfg).get_config() == cfg
        assert cls().get_config()["rounding"] == "nearest"
        assert cls().get_config() == cls().get_config()  # nearest: no seed drawn
    a, b = O.SGD(0.1, rounding="stochastic"), O.SGD(0.1, rounding="stochastic")
    assert isinstance(a.seed, int) and a.seed != b.seed  # None: drawn, then kept
    assert O.SGD.from_config(a.get_config()).seed == a.seed
    with pytest.raises(ValueError, match="rounding"):
        O.SGD(rounding="up")
    with pytest.raises(TypeError, match="seed"):
        O.SGD(seed=1.5)
    with pytest.raises(ValueError, match="seed"):
        O.SGD(seed=-1)
    with pytest.raises(ValueError, match="seed"):
        O.SGD(seed=2 ** 64)
    # save / load keeps rounding, seed and state: the restored run continues the same draws
    w = table(rng, 40, 8, np.float16, scale=1.0)
    ids = rng.integers(0, 40, (2, 30))
    g = rng.standard_normal((2, 30, 8)).astype(np.float32) * 1e-2
    whole, part = w.copy(), w.copy()
    opt = O.Adagrad(0.1, rounding="stochastic", seed=9)
    opt.step(whole, ids[0], g[0])
    opt.step(whole, ids[1], g[1])
    first = O.Adagrad(0.1, rounding="stochastic", seed=9)
    first.step(part, ids[0], g[0])
    first.save(tmp_path / "opt.npz")
    restored = O.Optimizer.load(tmp_path / "opt.npz")
    assert restored.rounding == "stochastic" and restored.seed == 9
    restored.step(part, ids[1], g[1])
    assert bits(whole).tobytes() == bits(part).tobytes()


def test_float_tables_ignore_rounding(rng):
    w = rng.standard_normal((30, 4)).astype(np.float32)
    a, b = w.copy(), w.copy()
    ids, g = rng.integers(0, 30, 50), rng.standard_normal((50, 4)).astype(np.float32)
    O.Adam(0.1).step(a, ids, g)
    O.Adam(0.1, rounding="stochastic", seed=1).step(b, ids, g)
    assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("dt", HALF)
def test_stochastic_apply_equals_step(rng, dt):
    """The apply path draws the same bits as the fused step: same seed and step, same table."""
    w = table(rng, 400, 16, dt, scale=1.0)
    a, b = w.copy(), w.copy()
    oa = O.Adagrad(0.05, rounding="stochastic", seed=21)
    ob = O.Adagrad(0.05, rounding="stochastic", seed=21)
    for _ in range(3):
        ids = np.minimum(rng.zipf(1.3, 1000) - 1, 399)
        g = rng.standard_normal((1000, 16)).astype(np.float32)
        oa.step(a, ids, g)
        ob.apply(b, fastembed.accumulate(ids, g, 400))
    assert bits(a).tobytes() == bits(b).tobytes()
    assert (bits(a) != bits(w)).any()
