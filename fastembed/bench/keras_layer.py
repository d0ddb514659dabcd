"""fastembed.interop.keras inside a Keras model, against keras.layers.Embedding.

The model of issue 17: ids (batch, 20) -> Embedding(1M, 64) -> GlobalAveragePooling1D ->
Dense(1), mse, Adam, 4096 examples per step. Two families, on the backend this process's
Keras runs on (Keras picks it once, at import: KERAS_BACKEND):

- "keras train step": one ``train_on_batch``. fastembed's layer with Keras's Adam (dense
  update of the whole table, as Keras's own layer), and with
  ``sparse_optimizer=fastembed.optimizers.Adam`` (lazy: the touched rows only); against
  Keras's Embedding with Keras's Adam. Steps differ (lazy vs dense Adam), so the check is
  a finite loss, not equality.
- "keras predict": ``model.predict_on_batch`` (Dense weights of ones), checked against
  NumPy's gather, mean and sum.

The bench command runs them when KERAS_BACKEND=torch or jax is set. Run as a script for
every installed backend, one interpreter each, with the two layers' steps interleaved
round by round (medians; the machine may be shared):

    python -m fastembed.bench.keras_layer [--backends torch,jax] [--rounds 7] [--quick]
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np

from fastembed.bench.core import Case, Impl, Timed, register, short

SHAPES = {"full": (1_000_000, 64, 4096, 20), "quick": (250_000, 64, 4096, 20),
          "tiny": (1_000, 8, 64, 5)}
LEARNING_RATE = 1e-3


def _keras():
    """Keras 3 on a backend this benchmark can train on, or None. Keras is imported only
    when KERAS_BACKEND asks for torch or jax (or it already is): imported on another
    default it would fix this process's backend for everything after."""
    if "keras" not in sys.modules and os.environ.get("KERAS_BACKEND") not in ("torch", "jax"):
        return None
    try:
        import keras
    except Exception:
        return None
    if not keras.__version__.startswith("3.") or keras.backend.backend() not in ("torch", "jax"):
        return None
    return keras


def _data(n_rows, dim, batch, length):
    rng = np.random.default_rng(0)
    return {"table": rng.uniform(-0.05, 0.05, (n_rows, dim)).astype(np.float32),
            "ids": rng.integers(0, n_rows, (batch, length)).astype(np.int32),
            "y": rng.standard_normal((batch, 1)).astype(np.float32)}


def _model(kind, d):
    """A compiled model whose embedding is `kind`: "keras", "fastembed" or "fastembed sparse"."""
    keras = _keras()
    from fastembed.interop import keras as fek
    from fastembed.optimizers import Adam
    n_rows, dim = d["table"].shape
    if kind == "keras":
        layer = keras.layers.Embedding(n_rows, dim)
    elif kind == "fastembed":
        layer = fek.Embedding(n_rows, dim)
    else:
        layer = fek.Embedding(n_rows, dim, sparse_optimizer=Adam(learning_rate=LEARNING_RATE))
    inputs = keras.Input((d["ids"].shape[1],), dtype="int32")
    pooled = keras.layers.GlobalAveragePooling1D()(layer(inputs))
    dense = keras.layers.Dense(1, kernel_initializer="ones")  # predictions checkable in NumPy
    model = keras.Model(inputs, dense(pooled))
    layer.set_weights([d["table"]])
    model.compile(keras.optimizers.Adam(LEARNING_RATE), "mse")
    return model


def _kinds():
    keras = _keras()
    kinds = ["fastembed", "keras"]
    if keras is not None and keras.backend.backend() in ("torch", "jax"):
        kinds.insert(0, "fastembed sparse")
    return kinds


_VARIANT = {"fastembed sparse": "interop.keras.Embedding(sparse_optimizer=Adam)",
            "fastembed": "interop.keras.Embedding, Keras Adam",
            "keras": "keras.layers.Embedding, Keras Adam"}


def _impl(kind, step):
    def prepare(d, threads):
        model = _model(kind, d)
        if step:
            model.train_on_batch(d["ids"], d["y"])  # builds the train function and the slots
            return Timed(lambda: model.train_on_batch(d["ids"], d["y"]),
                         output=lambda loss: np.asarray(float(loss)))
        model.predict_on_batch(d["ids"])
        return Timed(lambda: model.predict_on_batch(d["ids"]))
    variant = _VARIANT[kind] if step else _VARIANT[kind].split(",")[0]  # no optimizer
    return Impl("fastembed" if kind.startswith("fastembed") else "keras", variant, prepare,
                own_threads=True)


def _case(family, size, step):
    n_rows, dim, batch, length = SHAPES[size]
    keras = _keras()
    kinds = _kinds() if step else ["fastembed", "keras"]

    return Case(
        kernel=family,
        name=f"{short(n_rows)}x{dim} {batch}x{length} {keras.backend.backend()}",
        params={"n_rows": n_rows, "dim": dim, "batch": batch, "length": length,
                "backend": keras.backend.backend(), "optimizer": "Adam"},
        make=lambda: _data(n_rows, dim, batch, length),
        reference=lambda d: np.asarray(0.0) if step else
        d["table"][d["ids"]].astype(np.float64).mean(axis=1).sum(axis=1, keepdims=True),
        # the table's rows the batch reads (and, for a step, writes back), at least
        bytes_moved=lambda d: d["ids"].size * dim * 4 * (2 if step else 1),
        impls=[_impl(kind, step) for kind in kinds],
        compare=(lambda got, want: bool(np.isfinite(got))) if step else _close,
    )


def _close(got, want):
    got = np.asarray(got)
    return got.shape == want.shape and bool(np.allclose(got, want, rtol=1e-4, atol=1e-5))


@register("keras train step", available=lambda: _keras() is not None,
          requires="keras 3 and KERAS_BACKEND=torch or jax")
def train_step_cases(size):
    return [_case("keras train step", size, step=True)]


@register("keras predict", available=lambda: _keras() is not None,
          requires="keras 3 and KERAS_BACKEND=torch or jax")
def predict_cases(size):
    return [_case("keras predict", size, step=False)]


# ---- standalone: every installed backend, interleaved A/B ------------------------------------

def _measure_here(size, rounds):
    """In this process's backend: per kind, the median seconds of a train step and of a
    predict, measured round-robin (one call of each kind per round)."""
    import time
    d = _data(*SHAPES[size])
    results = {}
    for step in (True, False):
        kinds = _kinds() if step else ["fastembed", "keras"]
        timed = {kind: _impl(kind, step).prepare(d, None) for kind in kinds}
        samples = {kind: [] for kind in kinds}
        for _ in range(rounds):
            for kind in kinds:
                t0 = time.perf_counter()
                timed[kind].call()
                samples[kind].append(time.perf_counter() - t0)
        del timed
        results["train step" if step else "predict"] = {k: float(np.median(v))
                                                        for k, v in samples.items()}
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="torch,jax")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="a 250K-row table")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    size = "quick" if args.quick else "full"
    if args.one:
        print(json.dumps(_measure_here(size, args.rounds)))
        return 0
    n_rows, dim, batch, length = SHAPES[size]
    print(f"one train_on_batch / predict_on_batch: {short(n_rows)}x{dim} table, {batch}x{length} "
          f"ids, mean pooled, Dense(1), Adam; median of {args.rounds} interleaved rounds")
    for backend in args.backends.split(","):
        env = dict(os.environ, KERAS_BACKEND=backend)
        child = ["--one", "--rounds", str(args.rounds)] + (["--quick"] if args.quick else [])
        code = f"from fastembed.bench.keras_layer import main; main({child!r})"
        run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env=env)
        if run.returncode != 0:
            print(f"{backend}: not run ({run.stderr.strip().splitlines()[-1:]})")
            continue
        result = json.loads(run.stdout.strip().splitlines()[-1])
        for what, times in result.items():
            base = times["keras"]
            cells = ", ".join(f"{k} {t * 1e3:.1f} ms ({base / t:.2f}x)" for k, t in times.items())
            print(f"{backend:<6} {what:<10}: {cells}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
