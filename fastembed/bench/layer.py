"""The Embedding layer's own kernels: table initialization and the Keras constraints.

init: the default initializer, RandomUniform(-0.05, 0.05), filling a new table (page
faults included, as a layer pays them) against NumPy's ``Generator.uniform`` (what Keras's
NumPy backend and most code call; it makes float64), NumPy's float32 ``Generator.random``
scaled in place (the fairest NumPy peer) and torch's ``uniform_``. Random streams differ
between libraries, so results are checked by shape, bounds and moments, not bit for bit.

constraints: Keras's MaxNorm on the rows a batch touched (axis=1, in place) against NumPy
(unique rows, float64 norms, Keras's formula, scatter back); and MaxNorm(axis=0), Keras's
default, which needs every row's contribution to each column norm, against NumPy and torch.
"""
import numpy as np

import fastembed
from fastembed.bench import peers
from fastembed.bench.core import (DTYPE_NAMES, Case, Impl, Timed, close, make_ids,
                                  random_table, register, short)

LOW, HIGH = -0.05, 0.05
INIT_SHAPES = {"full": [(10_000_000, 64), (1_000_000, 64)], "quick": [(250_000, 64)],
               "tiny": [(1_000, 8)]}
# (n_rows, dim, touched ids, dtype, distribution, axis)
CONSTRAINT_SHAPES = {
    "full": [(1_000_000, 64, 100_000, np.float32, "uniform", 1),
             (1_000_000, 64, 1_000_000, np.float32, "zipf", 1),
             (1_000_000, 64, 0, np.float32, "-", 0)],
    "quick": [(250_000, 64, 25_000, np.float32, "uniform", 1),
              (250_000, 64, 0, np.float32, "-", 0)],
    "tiny": [(1_000, 8, 500, np.float32, "uniform", 1), (1_000, 8, 0, np.float64, "-", 0)],
}
EPS = 1e-7  # keras.backend.epsilon()
MAX_VALUE = 2.0


# ---- init ----------------------------------------------------------------------------------

@register("init uniform", available=lambda: hasattr(fastembed, "initializers"),
          requires="fastembed.initializers")
def init_cases(size):
    return [_init_case(n, d) for n, d in INIT_SHAPES[size]]


def _uniform_like(got, want):
    """Right shape, every value in [LOW, HIGH), mean and standard deviation of a uniform
    distribution (checked on a sample of rows: the statistics, not the stream)."""
    got = np.asarray(got)
    if got.shape != want["shape"] or got.dtype.kind != "f":
        return False
    if not (got.min() >= LOW and got.max() < HIGH):
        return False
    sample = got[:: max(1, got.shape[0] // 2000)].astype(np.float64)
    sd = (HIGH - LOW) / 12 ** 0.5
    tol = 6 * sd / sample.size ** 0.5
    return abs(sample.mean()) < tol and abs(sample.std() - sd) < 4 * tol


def _init_case(n_rows, dim):
    shape = (n_rows, dim)
    impls = [Impl("fastembed", "RandomUniform()(shape) float32", _fastembed_init, threaded=True),
             Impl("numpy", "Generator.uniform (float64)", _numpy_uniform),
             Impl("numpy", "Generator.random(float32) * 0.1 - 0.05", _numpy_random_f32)]
    if peers.torch() is not None:
        impls.append(Impl("torch", "empty(float32).uniform_", _torch_init, threaded=True))
    return Case(
        kernel="init uniform",
        name=f"{short(n_rows)}x{dim} f32",
        params={"n_rows": n_rows, "dim": dim, "dtype": "float32", "low": LOW, "high": HIGH},
        make=lambda: {"shape": shape},
        reference=lambda d: {"shape": d["shape"]},
        bytes_moved=lambda d: n_rows * dim * 4,  # the float32 table written once
        impls=impls,
        compare=_uniform_like,
    )


def _fastembed_init(d, threads):
    init = fastembed.initializers.RandomUniform(LOW, HIGH, seed=0)
    return Timed(lambda: init(d["shape"], "float32", num_threads=threads))


def _numpy_uniform(d, threads):
    rng = np.random.default_rng(0)
    return Timed(lambda: rng.uniform(LOW, HIGH, size=d["shape"]))


def _numpy_random_f32(d, threads):
    rng = np.random.default_rng(0)

    def call():
        x = rng.random(d["shape"], dtype=np.float32)
        x *= np.float32(HIGH - LOW)
        x += np.float32(LOW)
        return x
    return Timed(call)


def _torch_init(d, threads):
    torch = peers.torch()
    gen = torch.Generator().manual_seed(0)
    return Timed(lambda: torch.empty(d["shape"], dtype=torch.float32).uniform_(
        LOW, HIGH, generator=gen), output=lambda t: t.numpy())


# ---- init normal ---------------------------------------------------------------------------

STDDEV = 0.05
NORMAL_SHAPES = {"full": [(1_000_000, 64)], "quick": [(100_000, 64)], "tiny": [(1_000, 8)]}
TRUNCATED_SD = STDDEV * 0.8796  # a normal truncated at 2 standard deviations


@register("init normal", available=lambda: hasattr(fastembed, "initializers"),
          requires="fastembed.initializers")
def normal_cases(size):
    return [_normal_case(kind, n, d) for n, d in NORMAL_SHAPES[size]
            for kind in ("normal", "truncated_normal")]


def _normal_like(sd, bound=None):
    """Right shape, mean 0 and standard deviation `sd` on a sample, values within `bound`."""
    def compare(got, want):
        got = np.asarray(got)
        if got.shape != want["shape"] or got.dtype.kind != "f":
            return False
        if bound is not None and not float(np.abs(got).max()) <= bound:
            return False
        sample = got[:: max(1, got.shape[0] // 2000)].astype(np.float64)
        tol = 6 * sd / sample.size ** 0.5
        return abs(sample.mean()) < tol and abs(sample.std() - sd) < 4 * tol
    return compare


def _normal_case(kind, n_rows, dim):
    shape = (n_rows, dim)
    cls = "RandomNormal" if kind == "normal" else "TruncatedNormal"
    impls = [Impl("fastembed", f"{cls}()(shape) float32", _fastembed_normal(cls), threaded=True),
             Impl("numpy", "Generator.standard_normal(float32) * sd"
                  + (", |x| > 2 redrawn" if kind != "normal" else ""),
                  _numpy_normal(kind != "normal"))]
    if kind == "normal" and peers.torch() is not None:
        impls.append(Impl("torch", "empty(float32).normal_", _torch_normal, threaded=True))
    truncated = kind != "normal"
    return Case(
        kernel="init normal",
        name=f"{kind} {short(n_rows)}x{dim} f32",
        params={"initializer": cls, "n_rows": n_rows, "dim": dim, "dtype": "float32",
                "stddev": STDDEV},
        make=lambda: {"shape": shape},
        reference=lambda d: {"shape": d["shape"]},
        bytes_moved=lambda d: n_rows * dim * 4,
        impls=impls,
        compare=_normal_like(TRUNCATED_SD if truncated else STDDEV,
                             2 * STDDEV if truncated else None),
    )


def _fastembed_normal(cls):
    def prepare(d, threads):
        init = getattr(fastembed.initializers, cls)(stddev=STDDEV, seed=0)
        return Timed(lambda: init(d["shape"], "float32", num_threads=threads))
    return prepare


def _numpy_normal(truncated):
    def prepare(d, threads):
        rng = np.random.default_rng(0)

        def call():
            x = rng.standard_normal(d["shape"], dtype=np.float32)
            while truncated:  # redraw what falls past 2 standard deviations
                bad = np.abs(x) > 2
                n_bad = int(np.count_nonzero(bad))
                if not n_bad:
                    break
                x[bad] = rng.standard_normal(n_bad, dtype=np.float32)
            x *= np.float32(STDDEV)
            return x
        return Timed(call)
    return prepare


def _torch_normal(d, threads):
    torch = peers.torch()
    gen = torch.Generator().manual_seed(0)
    return Timed(lambda: torch.empty(d["shape"], dtype=torch.float32).normal_(
        0.0, STDDEV, generator=gen), output=lambda t: t.numpy())


# ---- constraints ---------------------------------------------------------------------------

@register("constraints", available=lambda: hasattr(fastembed, "constraints"),
          requires="fastembed.constraints")
def constraint_cases(size):
    return [_constraint_case(*shape) for shape in CONSTRAINT_SHAPES[size]]


def numpy_max_norm_(w, rows, axis):
    """Keras's MaxNorm in place: rows (axis=1) on the distinct touched rows, or columns."""
    if axis == 0:
        norms = np.sqrt(np.einsum("ij,ij->j", w, w, dtype=np.float64))
        w *= (np.clip(norms, 0, MAX_VALUE) / (EPS + norms)).astype(w.dtype)
        return
    uniq = np.unique(rows)
    sub = w[uniq]
    norms = np.sqrt(np.einsum("ij,ij->i", sub, sub, dtype=np.float64))
    scale = (np.clip(norms, 0, MAX_VALUE) / (EPS + norms)).astype(w.dtype)
    w[uniq] = sub * scale[:, None]


def _constraint_case(n_rows, dim, n_ids, dtype, dist, axis):
    dtype = np.dtype(dtype)

    def make():
        rng = np.random.default_rng(0)
        # uniform [0, 1) rows of 64 have norms near 4.6: MAX_VALUE = 2 scales most of them
        w0 = random_table(rng, n_rows, dim, dtype)
        rows = make_ids(rng, dist, n_ids, n_rows) if axis == 1 else None
        n_touched = np.unique(rows).size if axis == 1 else n_rows
        return {"table": w0, "rows": rows, "n_touched": n_touched}

    def reference(d):
        w = d["table"].copy()
        numpy_max_norm_(w, d["rows"], axis)
        return w

    def moved(d):  # the touched rows read and written, the ids read
        rows_bytes = d["rows"].nbytes if d["rows"] is not None else 0
        return 2 * d["n_touched"] * dim * dtype.itemsize + rows_bytes

    what = (f"{short(n_ids)} touched ids {dist}" if axis == 1 else "whole table")
    impls = [Impl("fastembed", f"MaxNorm(axis={axis}).apply_", _fastembed_constraint(axis),
                  threaded=True),
             Impl("numpy", "unique + norms + scatter" if axis == 1 else "column norms + scale",
                  _numpy_constraint(axis))]
    if axis == 0 and peers.torch() is not None:
        impls.append(Impl("torch", "vector_norm(dim=0) + mul_", _torch_columns, threaded=True))
    return Case(
        kernel="constraints",
        name=f"MaxNorm axis={axis} {short(n_rows)}x{dim} {DTYPE_NAMES[dtype]} {what}",
        params={"constraint": "MaxNorm", "max_value": MAX_VALUE, "axis": axis,
                "n_rows": n_rows, "dim": dim, "n_ids": n_ids, "dtype": dtype.name,
                "ids": dist},
        make=make, reference=reference, bytes_moved=moved, impls=impls, compare=close())


def _working_copy(d):
    w = d["table"].copy()
    return w, lambda: np.copyto(w, d["table"])


def _fastembed_constraint(axis):
    def prepare(d, threads):
        w, reset = _working_copy(d)
        c = fastembed.constraints.MaxNorm(MAX_VALUE, axis=axis)
        rows = d["rows"]
        return Timed(lambda: c.apply_(w, rows, num_threads=threads), reset=reset,
                     output=lambda _: w)
    return prepare


def _numpy_constraint(axis):
    def prepare(d, threads):
        w, reset = _working_copy(d)
        return Timed(lambda: numpy_max_norm_(w, d["rows"], axis), reset=reset,
                     output=lambda _: w)
    return prepare


def _torch_columns(d, threads):
    torch = peers.torch()
    w, reset = _working_copy(d)
    wt = torch.from_numpy(w)

    def call():
        norms = torch.linalg.vector_norm(wt, dim=0, dtype=torch.float64)
        wt.mul_((norms.clamp(0, MAX_VALUE) / (EPS + norms)).to(wt.dtype))
    return Timed(call, reset=reset, output=lambda _: w)
