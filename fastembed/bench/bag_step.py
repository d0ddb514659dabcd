"""A training step of a pooled (bag) embedding: the forward `lookup_bag` (sum), its backward
and the optimizer's update of the touched rows, for RowwiseAdagrad and SGD.

fastembed (``lookup_bag`` + ``accumulate_bag`` + ``opt.apply``) against FBGEMM's own
fused CPU trainer, ``SplitTableBatchedEmbeddingBagsCodegen`` (one table on the host,
``ComputeDevice.CPU``, ``EXACT_ROWWISE_ADAGRAD`` or ``EXACT_SGD``: the forward, then the
backward that updates the table in place), PyTorch (``F.embedding_bag(sparse=True)``,
backward, ``optim.SGD``; torch has no row-wise Adagrad) and NumPy, on the same table, bags,
ids and bag gradients. Steps are timed back to back (steady-state training); the first,
from the same table, is checked against NumPy's. FBGEMM runs where `fbgemm-gpu-cpu` imports
(it is built for one torch release: 1.8.0 for torch 2.13).
"""
import numpy as np

import fastembed
from fastembed import optimizers
from fastembed.bench import peers
from fastembed.bench.accumulate import dense_rows, numpy_unique_add_at, rows_of, sparse_close
from fastembed.bench.core import Case, Impl, Timed, close, random_table, register, short
from fastembed.bench.lookup_bag import fbgemm_tables, random_bags

LR, EPS = 0.01, 1e-7
FBGEMM_RULE = {"RowwiseAdagrad": "EXACT_ROWWISE_ADAGRAD", "SGD": "EXACT_SGD"}

# (optimizer, n_rows, dim, n_bags, mean bag length, id distribution)
SHAPES = {
    "full": [(o, 1_000_000, 64, 100_000, 20, d)
             for d in ("uniform", "zipf") for o in ("RowwiseAdagrad", "SGD")],
    "quick": [("RowwiseAdagrad", 100_000, 64, 2_000, 20, "zipf"),
              ("SGD", 100_000, 64, 2_000, 20, "uniform")],
    "tiny": [("RowwiseAdagrad", 1_000, 8, 40, 5, "uniform"),
             ("SGD", 1_000, 8, 40, 5, "zipf")],
}


@register("bag train step")
def cases(size):
    return [_case(*shape) for shape in SHAPES[size]]


def _optimizer(name):
    if name == "SGD":
        return optimizers.SGD(learning_rate=LR)
    return optimizers.RowwiseAdagrad(learning_rate=LR, initial_accumulator_value=0.0,
                                     epsilon=EPS)


def numpy_bag_step(name, w, acc, d):
    """One step in NumPy: each position gets its bag's gradient row, summed per id, then
    the rule on the touched rows (row-wise Adagrad: one accumulator per row)."""
    rows, g = numpy_unique_add_at(d["ids"], np.repeat(d["grad_output"], d["lengths"], axis=0))
    if name == "SGD":
        w[rows] -= LR * g
        return
    a = acc[rows] + (g * g).mean(axis=1)
    acc[rows] = a
    w[rows] -= LR * g / (np.sqrt(a) + EPS)[:, None]


def _case(name, n_rows, dim, n_bags, mean_len, dist):
    dtype = np.dtype(np.float32)

    def make():
        rng = np.random.default_rng(0)
        d = random_bags(rng, n_rows, dim, n_bags, mean_len, dtype, dist)
        return dict(d, grad_output=random_table(rng, n_bags, dim, dtype) - 0.5,
                    n_unique=np.unique(d["ids"]).size)

    def reference(d):
        w = d["weights"].copy()
        numpy_bag_step(name, w, np.zeros(n_rows, dtype), d)
        return w

    def moved(d):  # ids, offsets read; rows gathered, bags written, bag gradients read;
        # touched rows read and written
        row = dim * dtype.itemsize
        return (d["ids"].nbytes + d["offsets"].nbytes + d["ids"].size * row
                + 2 * n_bags * row + 2 * d["n_unique"] * row)

    return Case(
        kernel="bag train step",
        name=f"{name} {short(n_rows)}x{dim} {short(n_bags)} bags~{mean_len} {dist} sum",
        params={"optimizer": name, "n_rows": n_rows, "dim": dim, "n_bags": n_bags,
                "mean_bag": mean_len, "dtype": dtype.name, "ids": dist, "mode": "sum",
                "learning_rate": LR, "epsilon": EPS},
        make=make,
        reference=reference,
        bytes_moved=moved,
        impls=_impls(name),
        compare=close(rtol_f32=1e-4),
    )


def _impls(name):
    impls = [Impl("fastembed", f"lookup_bag + accumulate_bag + {name}.apply", _fastembed(name),
                  threaded=True),
             Impl("numpy", "take/reduceat + repeat/unique/add.at + update", _numpy(name))]
    if name == "SGD" and peers.torch() is not None:
        impls.append(Impl("torch", "F.embedding_bag(sparse) + backward + optim.SGD", _torch,
                          threaded=True))
    if peers.fbgemm() is not None:
        impls.append(Impl("fbgemm", f"SplitTableBatchedEmbeddingBags {FBGEMM_RULE[name]}",
                          _fbgemm(name), threaded=True))
    return impls


def _fastembed(name):
    def prepare(d, threads):
        w = d["weights"].copy()
        ids, offsets, g, n_rows = d["ids"], d["offsets"], d["grad_output"], w.shape[0]
        opt = _optimizer(name)

        def call():
            fastembed.lookup_bag(w, ids, offsets, num_threads=threads)
            grad = fastembed.accumulate_bag(ids, offsets, g, n_rows, num_threads=threads)
            opt.apply(w, grad, num_threads=threads)
        return Timed(call, output=lambda _: w)
    return prepare


def _numpy(name):
    def prepare(d, threads):
        w = d["weights"].copy()
        acc = np.zeros(w.shape[0], w.dtype)

        def call():
            np.add.reduceat(w[d["ids"]], d["offsets"], axis=0)  # the forward
            numpy_bag_step(name, w, acc, d)
        return Timed(call, output=lambda _: w)
    return prepare


def _torch(d, threads):
    torch = peers.torch()
    torch.sparse.check_sparse_tensor_invariants.disable()
    w = d["weights"].copy()
    param = torch.nn.Parameter(torch.from_numpy(w))
    it, ot = torch.from_numpy(d["ids"]), torch.from_numpy(d["offsets"])
    gt = torch.from_numpy(d["grad_output"])
    opt = torch.optim.SGD([param], lr=LR)

    def call():
        opt.zero_grad()
        torch.nn.functional.embedding_bag(it, param, ot, mode="sum", sparse=True).backward(gt)
        opt.step()
    return Timed(call, output=lambda _: w)


def _fbgemm(name):
    def prepare(d, threads):
        torch = peers.torch()
        hyper = {"eps": EPS} if name == "RowwiseAdagrad" else {}
        tbe, ids, offsets = fbgemm_tables(d, FBGEMM_RULE[name], LR, **hyper)
        gt = torch.from_numpy(d["grad_output"])

        def call():
            tbe(ids, offsets).backward(gt)  # the backward updates the table in place
        return Timed(call, output=lambda _: tbe.split_embedding_weights()[0].detach().numpy())
    return prepare


# ---- forward + backward without the update -------------------------------------------------

@register("bag forward+backward")
def fwd_bwd_cases(size):
    """lookup_bag (sum) and its gradient with respect to the table, as one training step
    needs them, against torch's embedding_bag forward + backward (sparse and dense
    gradient) and NumPy; the result checked is the row-sparse gradient."""
    return [_fwd_bwd_case(*shape[1:]) for shape in SHAPES[size] if shape[0] == "SGD"]


def _fwd_bwd_case(n_rows, dim, n_bags, mean_len, dist):
    base = _case("SGD", n_rows, dim, n_bags, mean_len, dist)

    def reference(d):
        return numpy_unique_add_at(d["ids"], np.repeat(d["grad_output"], d["lengths"], axis=0))

    impls = [Impl("fastembed", "lookup_bag + accumulate_bag", _fastembed_fwd_bwd, threaded=True),
             Impl("numpy", "take/reduceat + repeat/unique/add.at", _numpy_fwd_bwd)]
    if peers.torch() is not None:
        impls += [Impl("torch", "F.embedding_bag(sparse) + backward + coalesce",
                       _torch_fwd_bwd(True), threaded=True),
                  Impl("torch", "F.embedding_bag + backward (dense)", _torch_fwd_bwd(False),
                       threaded=True)]
    return Case(kernel="bag forward+backward", name=base.name.replace("SGD ", ""),
                params={k: v for k, v in base.params.items()
                        if k not in ("optimizer", "learning_rate", "epsilon")},
                make=base.make, reference=reference, bytes_moved=base.bytes_moved,
                impls=impls, compare=sparse_close)


def _fastembed_fwd_bwd(d, threads):
    w, ids, offsets, g = d["weights"], d["ids"], d["offsets"], d["grad_output"]

    def call():
        fastembed.lookup_bag(w, ids, offsets, num_threads=threads)
        return fastembed.accumulate_bag(ids, offsets, g, w.shape[0], num_threads=threads)
    return Timed(call, output=rows_of)


def _numpy_fwd_bwd(d, threads):
    def call():
        np.add.reduceat(d["weights"][d["ids"]], d["offsets"], axis=0)
        return numpy_unique_add_at(d["ids"], np.repeat(d["grad_output"], d["lengths"], axis=0))
    return Timed(call)


def _torch_fwd_bwd(sparse):
    def prepare(d, threads):
        torch = peers.torch()
        param = torch.nn.Parameter(torch.from_numpy(d["weights"].copy()))
        it, ot = torch.from_numpy(d["ids"]), torch.from_numpy(d["offsets"])
        gt = torch.from_numpy(d["grad_output"])
        unique = np.unique(d["ids"])

        def call():
            param.grad = None
            torch.nn.functional.embedding_bag(it, param, ot, mode="sum",
                                              sparse=sparse).backward(gt)
            return param.grad.coalesce() if sparse else param.grad

        def output(grad):
            if sparse:
                return grad.indices()[0].numpy(), grad.values().numpy()
            return dense_rows(unique)(grad.numpy())
        return Timed(call, output=output)
    return prepare
