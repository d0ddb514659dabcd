"""fastembed.distributed: a table sharded over Ray actors gives the one-process kernels'
results bit for bit (lookup, lookup_bag, a sequence of optimizer steps, for 1, 2 and 3
shards), survives a dead actor through restore(), saves atomically, reshards on load, and
refuses bad input without changing any shard.

One local Ray per module (2 CPUs, loopback only, no dashboard); skipped without Ray and
under FASTEMBED_ASAN=1 (Ray's processes do not start with the ASan runtime preloaded)."""
import os

import numpy as np
import pytest

import fastembed
from fastembed import optimizers

if os.environ.get("FASTEMBED_ASAN"):
    pytest.skip("Ray's worker processes do not run under the ASan runtime",
                allow_module_level=True)
# before Ray's first import: it reads this once (connect() also mends a late setting)
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
ray = pytest.importorskip("ray")

from fastembed.distributed import ShardedEmbedding, ShardError, connect  # noqa: E402

N_ROWS, DIM = 60, 5


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    """One local Ray for the module: 2 CPUs, on 127.0.0.1 only. Its workers import the
    fastembed under test (this checkout first on their path)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(fastembed.__file__)))
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (root, old) if p)
    if ray.is_initialized():
        ray.shutdown()
    connect("local", num_cpus=2, log_to_driver=False)
    yield
    ray.shutdown()
    if old is None:
        os.environ.pop("PYTHONPATH", None)
    else:
        os.environ["PYTHONPATH"] = old


def reference_table(seed, dtype=np.float32, n_rows=N_ROWS, dim=DIM):
    return fastembed.initializers.get("uniform", seed=seed)((n_rows, dim), dtype)


def assert_same_state(table, opt):
    """The sharded table's optimizer state equals one process's `opt`, bit for bit."""
    got, want = table.optimizer_state(), opt.get_state()
    assert got["iterations"] == want["iterations"] == opt.iterations
    assert len(want["slots"]) == 1 and set(got["slots"][0]) == set(want["slots"][0])
    for name, a in want["slots"][0].items():
        b = got["slots"][0][name]
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes(), name


def assert_bits(a, b):
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def kill(actor):
    """ray.kill the actor and wait until Ray reports it dead (the kill is asynchronous: a
    call made just after it may still run)."""
    ray.kill(actor)
    for _ in range(600):
        try:
            ray.get(actor.ping.remote(), timeout=30)
        except ray.exceptions.RayActorError:
            return
        except ray.exceptions.GetTimeoutError:
            pass
    raise AssertionError("the killed actor still answers")


def id_cases(bounds, rng):
    """Ids that hit the first shard only, the last shard only, every shard (duplicates
    across them), and none (empty)."""
    first = rng.integers(bounds[0], bounds[1], (4, 3))
    last = rng.integers(bounds[-2], bounds[-1], (2, 5))
    every = np.concatenate([rng.integers(a, b, 3) for a, b in zip(bounds[:-1], bounds[1:])])
    every = np.concatenate([every, every[::-1], [bounds[-1] - 1, 0]]).reshape(2, -1)
    return {"first shard": first, "last shard": last, "all shards": every,
            "empty": np.zeros((0,), np.int64)}


@pytest.mark.parametrize("num_shards", [1, 2, 3])
def test_bit_identical_to_one_process(num_shards):
    rng = np.random.default_rng(num_shards)
    want = reference_table(seed=11)
    opt = optimizers.Adam(learning_rate=0.05)
    with ShardedEmbedding(N_ROWS, DIM, num_shards, seed=11,
                          optimizer=optimizers.Adam(learning_rate=0.05)) as table:
        assert len(table.actors) == num_shards
        assert table.bounds[0] == 0 and table.bounds[-1] == N_ROWS
        assert_bits(table.to_numpy(), want)
        for label, ids in id_cases(table.bounds, rng).items():
            assert_bits(table.lookup(ids), fastembed.lookup(want, ids))
            flat = ids.reshape(-1)
            offsets = np.array([0, flat.size // 2, flat.size // 2], np.int64)
            psw = rng.random(flat.size).astype(np.float32)
            for kwargs in ({"mode": "sum"}, {"mode": "mean"}, {"mode": "max"},
                           {"mode": "sqrtn", "per_sample_weights": psw},
                           {"mode": "mean", "padding_idx": int(flat[0]) if flat.size else 0}):
                assert_bits(table.lookup_bag(flat, offsets, **kwargs),
                            fastembed.lookup_bag(want, flat, offsets, **kwargs))
            if ids.ndim == 2:  # fixed-size bags
                assert_bits(table.lookup_bag(ids, mode="mean"),
                            fastembed.lookup_bag(want, ids, mode="mean"))
            # one optimizer step: the shards' Adam at the table's global step count
            grad = rng.standard_normal(ids.shape + (DIM,)).astype(np.float32)
            table.step(ids, grad)
            opt.step(want, ids, grad)
            assert_bits(table.to_numpy(), want)
            assert_same_state(table, opt)
            assert table.iterations == opt.iterations, label
        # apply(RowSparseGrad) and a padding_idx step, then the table again
        ids = rng.integers(0, N_ROWS, 40)
        grad = rng.standard_normal((40, DIM)).astype(np.float32)
        sparse = fastembed.accumulate(ids, grad, N_ROWS)
        table.apply(sparse)
        opt.apply(want, sparse)
        table.step(ids, grad, padding_idx=int(ids[3]))
        opt.step(want, ids, grad, padding_idx=int(ids[3]))
        assert_bits(table.to_numpy(), want)
        assert_same_state(table, opt)
        rows, slots = table.get_rows(ids[:7], slots=True)
        assert_bits(rows, want[ids[:7]])
        assert_bits(slots["m"], opt.get_state()["slots"][0]["m"][ids[:7]])


@pytest.mark.parametrize("make, dtype", [
    (lambda: optimizers.SGD(0.1, momentum=0.9, nesterov=True), np.float64),
    (lambda: optimizers.RowwiseAdagrad(0.1), np.float32),
    (lambda: optimizers.FTRL(0.1, l1_regularization_strength=0.01), np.float32),
], ids=["SGD-momentum-f64", "RowwiseAdagrad", "FTRL"])
def test_other_optimizers_bit_identical(make, dtype):
    rng = np.random.default_rng(5)
    want = reference_table(seed=3, dtype=dtype)
    opt = make()
    with ShardedEmbedding(N_ROWS, DIM, 2, seed=3, dtype=dtype, optimizer=make()) as table:
        for k in range(4):
            ids = rng.integers(0, N_ROWS if k % 2 else N_ROWS // 2, (3, 7))
            grad = rng.standard_normal(ids.shape + (DIM,)).astype(dtype)
            table.step(ids, grad)
            opt.step(want, ids, grad)
        assert_bits(table.to_numpy(), want)
        assert_same_state(table, opt)


def test_kill_a_shard_then_restore_the_checkpoint(tmp_path):
    rng = np.random.default_rng(2)
    with ShardedEmbedding(N_ROWS, DIM, 3, seed=4, optimizer=optimizers.Adam(0.1)) as table:
        for _ in range(3):
            ids = rng.integers(0, N_ROWS, 30)
            table.step(ids, rng.standard_normal((30, DIM)).astype(np.float32))
        table.save(tmp_path / "ckpt")
        saved_rows, saved_state = table.to_numpy(), table.optimizer_state()
        for _ in range(2):  # the table moves on after the checkpoint
            ids = rng.integers(0, N_ROWS, 30)
            table.step(ids, rng.standard_normal((30, DIM)).astype(np.float32))
        assert not np.array_equal(table.to_numpy(), saved_rows)

        kill(table.actors[1])
        start, stop = table.bounds[1], table.bounds[2]
        with pytest.raises(ShardError, match=rf"shard 1 \(rows {start} to {stop - 1}") as err:
            table.lookup([start, 0])
        assert err.value.shard == 1 and err.value.rows == (start, stop)
        with pytest.raises(ShardError, match="shard 1"):  # refused until restore()
            table.lookup([0])

        table.restore()
        assert_bits(table.to_numpy(), saved_rows)
        got = table.optimizer_state()
        assert got["iterations"] == saved_state["iterations"] == 3
        for name in ("m", "v"):
            assert_bits(got["slots"][0][name], saved_state["slots"][0][name])

        # and training goes on from the checkpoint as one process would
        want, opt = saved_rows.copy(), optimizers.Adam(0.1)
        opt.set_state(saved_state)
        ids = rng.integers(0, N_ROWS, 30)
        grad = rng.standard_normal((30, DIM)).astype(np.float32)
        table.step(ids, grad)
        opt.step(want, ids, grad)
        assert_bits(table.to_numpy(), want)
        assert_same_state(table, opt)


def test_interrupted_save_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    from fastembed.distributed import table as table_module
    path = tmp_path / "ckpt"
    rng = np.random.default_rng(3)
    with ShardedEmbedding(N_ROWS, DIM, 2, seed=5,
                          optimizer=optimizers.RowwiseAdagrad(0.1)) as table:  # 1-D slots
        ids = rng.integers(0, N_ROWS, 20)
        table.step(ids, rng.standard_normal((20, DIM)).astype(np.float32))
        table.save(path)
        saved_rows, saved_state = table.to_numpy(), table.optimizer_state()
        table.step(ids, rng.standard_normal((20, DIM)).astype(np.float32))

        # the client dies after the shards wrote their files, before the manifest is
        # published (simulated: publishing raises)
        def crash(*args):
            raise OSError("simulated crash before the manifest was published")
        monkeypatch.setattr(table_module, "_publish", crash)
        with pytest.raises(OSError, match="simulated crash"):
            table.save(path)
        monkeypatch.undo()
        assert len([e for e in os.listdir(path) if e.startswith("v")]) == 2  # the debris

        # a shard dies part way through a save: the other shard has written its files
        kill(table.actors[1])
        with pytest.raises(ShardError, match="shard 1"):
            table.save(path)

    with ShardedEmbedding.load(path) as loaded:
        assert_bits(loaded.to_numpy(), saved_rows)
        got = loaded.optimizer_state()
        assert got["iterations"] == saved_state["iterations"] == 1
        assert_bits(got["slots"][0]["accumulator"], saved_state["slots"][0]["accumulator"])
        loaded.save(path)  # a good save clears the debris of the interrupted ones
        assert sorted(e for e in os.listdir(path) if e.startswith("v")) == ["v00000002"]


def test_reshard_on_load(tmp_path):
    rng = np.random.default_rng(4)
    want, opt = reference_table(seed=8), optimizers.Adam(0.05)
    with ShardedEmbedding(N_ROWS, DIM, 3, seed=8, optimizer=optimizers.Adam(0.05)) as table:
        for _ in range(2):
            ids = rng.integers(0, N_ROWS, (5, 4))
            grad = rng.standard_normal((5, 4, DIM)).astype(np.float32)
            table.step(ids, grad)
            opt.step(want, ids, grad)
        table.save(tmp_path / "ckpt")
    with ShardedEmbedding.load(tmp_path / "ckpt", num_shards=2) as loaded:
        assert loaded.num_shards == 2 and len(loaded.actors) == 2
        assert loaded.bounds == [0, N_ROWS // 2, N_ROWS]
        assert loaded.optimizer.get_config() == opt.get_config()
        assert_bits(loaded.to_numpy(), want)
        assert_same_state(loaded, opt)
        ids = rng.integers(0, N_ROWS, 25)  # the step count carried over: Adam's t = 3
        grad = rng.standard_normal((25, DIM)).astype(np.float32)
        loaded.step(ids, grad)
        opt.step(want, ids, grad)
        assert_bits(loaded.to_numpy(), want)
        assert_same_state(loaded, opt)


def test_bad_input_changes_no_shard():
    rng = np.random.default_rng(6)
    with ShardedEmbedding(N_ROWS, DIM, 3, seed=9, optimizer=optimizers.Adam(0.1)) as table:
        ids = rng.integers(0, N_ROWS, (2, 6))
        table.step(ids, rng.standard_normal((2, 6, DIM)).astype(np.float32))
        rows, state = table.to_numpy(), table.optimizer_state()

        bad = ids.copy()
        bad[1, 5] = N_ROWS  # the last position
        grad = rng.standard_normal((2, 6, DIM)).astype(np.float32)
        for call in (lambda: table.lookup(bad), lambda: table.get_rows(bad),
                     lambda: table.lookup_bag(bad), lambda: table.step(bad, grad)):
            with pytest.raises(IndexError, match=rf"ids\[1, 5\] = {N_ROWS} is out of range"):
                call()
        with pytest.raises(IndexError, match=r"ids\[2\] = -1"):
            table.step(np.array([0, 1, -1]), np.zeros((3, DIM), np.float32))
        with pytest.raises(TypeError):
            table.lookup(np.array([0.5]))
        nan = grad.copy()
        nan[1, 5, 2] = np.nan  # a row of the last shard
        ids_last = ids.copy()
        ids_last[1, 5] = N_ROWS - 1
        with pytest.raises(ValueError, match=f"row {N_ROWS - 1}.*nothing was updated"):
            table.step(ids_last, nan)
        huge = np.full((2, DIM), 3e38, np.float32)  # finite rows summing to inf on one id
        with pytest.raises(ValueError, match="non-finite"):
            table.step(np.array([1, 1]), huge)
        with pytest.raises(ValueError, match="float64"):
            table.step(ids, grad.astype(np.float64))
        with pytest.raises(ValueError):
            table.step(ids, grad[:, :5])
        with pytest.raises(ValueError, match="shape"):
            table.apply(fastembed.accumulate(ids, grad, N_ROWS + 1))
        with pytest.raises(TypeError):
            table.apply(grad)
        with pytest.raises(ValueError):
            table.lookup_bag(ids.reshape(-1), np.array([0, 20]))  # offset past the end
        assert_bits(table.to_numpy(), rows)
        got = table.optimizer_state()
        assert got["iterations"] == state["iterations"] == table.iterations == 1
        for name in ("m", "v"):
            assert_bits(got["slots"][0][name], state["slots"][0][name])


def test_arguments_and_no_optimizer():
    with pytest.raises(ValueError, match="num_shards"):
        ShardedEmbedding(2, 4, 3)
    with pytest.raises(TypeError, match="dtype"):
        ShardedEmbedding(10, 4, 2, dtype="int32")
    with pytest.raises(TypeError, match="optimizer"):
        ShardedEmbedding(10, 4, 2, optimizer="adam")
    with ShardedEmbedding(10, 4, 2, embeddings_initializer="ones") as table:
        assert_bits(table.to_numpy(), np.ones((10, 4), np.float32))
        with pytest.raises(ValueError, match="no optimizer"):
            table.step([1], np.ones((1, 4), np.float32))
    with pytest.raises(RuntimeError, match="shut down"):
        table.lookup([1])


def test_torch_module_trains_the_sharded_table():
    torch = pytest.importorskip("torch")
    from fastembed.distributed.torch import Embedding

    rng = np.random.default_rng(7)
    want, opt = reference_table(seed=12), optimizers.Adagrad(0.1)
    with ShardedEmbedding(N_ROWS, DIM, 2, seed=12, optimizer=optimizers.Adagrad(0.1)) as table:
        module = Embedding(table, padding_idx=0)
        weight = torch.from_numpy(rng.standard_normal(DIM).astype(np.float32))
        for _ in range(3):
            ids = torch.from_numpy(rng.integers(0, N_ROWS, (4, 3)))
            out = module(ids)
            assert_bits(out.detach().numpy(), fastembed.lookup(want, ids.numpy()))
            loss = (out * weight).sum()
            loss.backward()  # the table steps here
            grad_output = np.broadcast_to(weight.numpy(), (4, 3, DIM))
            opt.step(want, ids.numpy(), np.ascontiguousarray(grad_output), padding_idx=0)
        assert_bits(table.to_numpy(), want)
        assert_same_state(table, opt)


def _descendants(pid):
    """`pid` and every process below it (from /proc)."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = set(), [pid]
    while todo:
        p = todo.pop()
        found.add(p)
        todo.extend(children.get(p, []))
    return found


def test_local_ray_listens_on_loopback_only():
    """Every TCP socket the local Ray's processes listen on (this driver, gcs_server,
    raylet, the shard workers: all below this process) is on 127.0.0.1."""
    import shutil
    import subprocess
    if shutil.which("ss") is None or not os.path.isdir("/proc"):
        pytest.skip("needs ss (iproute2) and /proc")
    with ShardedEmbedding(N_ROWS, DIM, 2, seed=1) as table:
        table.lookup([0, N_ROWS - 1])
        pids = _descendants(os.getpid())
        listening = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True,
                                   check=True).stdout.splitlines()
    ours = [line for line in listening if any(f"pid={p}," in line for p in pids)]
    names = " ".join(ours)
    assert "gcs_server" in names and "raylet" in names and "ray::Shard" in names, listening
    for line in ours:
        assert line.split()[3].startswith(("127.0.0.1:", "[::ffff:127.0.0.1]:")), line
