"""What the torch backend's Keras predict of the keras_layer bench spends its time on (issue
17): the two models' predict_on_batch, the same model with an embedding that costs nothing
(a layer returning a cached tensor), each layer's call under no_grad, the lookup alone (into
a fresh result and into out=), torch's F.embedding, GlobalAveragePooling1D's mean, and a
21 MB np.copyto (the physical floor of writing the layer's output).

Interleaved rounds in one process (each round times every part once, in turn), medians of
wall time and of process CPU time (on a loaded machine the CPU clock leaves out the time
threads sat descheduled; with 2 threads it counts both). fastembed is imported before
torch, as the bench does, so libgomp loads with fastembed's bounded spin.

    PYTHONPATH=. /work/devenv/bin/python tools/keras_predict_parts.py [rounds]  # repo root
"""
import os
import sys
import time

import fastembed  # noqa: I001  first: libgomp reads its spin count when it loads

os.environ["KERAS_BACKEND"] = "torch"
import keras  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from fastembed.bench import keras_layer as kl  # noqa: E402
from fastembed.interop import keras as fek  # noqa: E402


class _Cached(keras.layers.Layer):
    """An embedding that costs nothing: returns the same precomputed rows every call."""

    def __init__(self, out, **kwargs):
        super().__init__(**kwargs)
        self.out = out

    def call(self, ids):
        return self.out

    def compute_output_shape(self, shape):
        return tuple(shape) + (self.out.shape[-1],)


def main(rounds=21):
    d = kl._data(*kl.SHAPES["full"])
    fe_model, keras_model = kl._model("fastembed", d), kl._model("keras", d)
    fe_layer = next(x for x in fe_model.layers if isinstance(x, fek.Embedding))
    keras_layer = next(x for x in keras_model.layers if isinstance(x, keras.layers.Embedding))
    cached = torch.from_numpy(d["table"][d["ids"]])
    inputs = keras.Input((d["ids"].shape[1],), dtype="int32")
    free_model = keras.Model(inputs, keras.layers.Dense(1, kernel_initializer="ones")(
        keras.layers.GlobalAveragePooling1D()(_Cached(cached)(inputs))))
    ids_t = torch.from_numpy(d["ids"])
    fe_table = fe_layer.embeddings.value.detach().numpy()
    keras_table = keras_layer.embeddings.value.detach()
    out = np.zeros(d["ids"].shape + (d["table"].shape[1],), np.float32)
    src = np.ones_like(out)

    def no_grad(f):
        def call():
            with torch.no_grad():
                return f()
        return call

    parts = {
        "predict, keras.layers.Embedding": lambda: keras_model.predict_on_batch(d["ids"]),
        "predict, fastembed": lambda: fe_model.predict_on_batch(d["ids"]),
        "predict, a zero-cost embedding": lambda: free_model.predict_on_batch(d["ids"]),
        "keras layer call (no_grad)": no_grad(lambda: keras_layer(ids_t)),
        "fastembed layer call (no_grad)": no_grad(lambda: fe_layer(ids_t)),
        "F.embedding, keras's table": lambda: torch.nn.functional.embedding(ids_t.long(),
                                                                           keras_table),
        "fastembed.lookup, layer's table": lambda: fastembed.lookup(fe_table, d["ids"]),
        "fastembed.lookup(out=)": lambda: fastembed.lookup(fe_table, d["ids"], out=out),
        "np.copyto of the 21 MB output": lambda: np.copyto(out, src),
        "the pooling's mean": lambda: keras.ops.mean(cached, axis=1),
    }
    for f in parts.values():
        f()
    wall = {k: [] for k in parts}
    cpu = {k: [] for k in parts}
    for _ in range(rounds):
        for k, f in parts.items():
            c0, t0 = time.process_time(), time.perf_counter()
            f()
            wall[k].append(time.perf_counter() - t0)
            cpu[k].append(time.process_time() - c0)
    print(f"load {os.getloadavg()[0]:.1f}; threads: torch {torch.get_num_threads()}, "
          f"fastembed {fastembed.get_num_threads()}; medians of {rounds} interleaved rounds")
    base_w = np.array(wall["predict, keras.layers.Embedding"])
    base_c = np.array(cpu["predict, keras.layers.Embedding"])
    for k in parts:
        w, c = np.array(wall[k]), np.array(cpu[k])
        print(f"{k:<34} wall {np.median(w) * 1e3:7.2f} ms  cpu {np.median(c) * 1e3:7.2f} ms  "
              f"keras predict / this: {np.median(base_w / w):.2f}x wall, "
              f"{np.median(base_c / c):.2f}x cpu")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 21)
