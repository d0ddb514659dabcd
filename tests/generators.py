"""Fuzz decisions and the argument generators built on them (the fuzzer and the bounded
fuzz test draw every kernel's arguments through `Gen`; tests/kernel_drivers.py uses them)."""
import numpy as np

# Ids that must never reach memory: every harness injects these.
EXTREME_IDS = [-1, -2**63, 2**63 - 1, 2**31 - 1, -2**31]
EXTREME_UIDS = [2**64 - 1, 2**63]


# ---- a source of fuzz decisions: NumPy RNG or atheris' FuzzedDataProvider ------------------

class RngSource:
    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)

    def int(self, lo, hi):
        """An int in [lo, hi]."""
        return int(self.rng.integers(lo, hi, endpoint=True))

    def float(self):
        return float(self.rng.standard_normal())


class FdpSource:
    def __init__(self, fdp):
        self.fdp = fdp

    def int(self, lo, hi):
        return self.fdp.ConsumeIntInRange(lo, hi)

    def float(self):
        return self.fdp.ConsumeRegularFloat()


class Gen:
    """Builds kernel arguments from a source of decisions, mostly valid, sometimes with one
    of the bad inputs of the issue's list injected. `may_raise` records whether an
    allowed exception is an acceptable outcome; a valid call that raises is a finding."""

    def __init__(self, src):
        self.src = src
        self.may_raise = False
        self.notes = []

    def chance(self, k):
        """True with probability 1/k."""
        return self.src.int(0, k - 1) == 0

    def pick(self, seq):
        return seq[self.src.int(0, len(seq) - 1)]

    def bad(self, note):
        self.may_raise = True
        self.notes.append(note)

    def data_rng(self):
        return np.random.default_rng(self.src.int(0, 2**32 - 1))

    def size(self, hi=40):
        """A small size, biased to 0 and 1."""
        return self.pick([0, 1, 1, 2, 3] + [self.src.int(0, hi)] * 3)

    def value_dtype(self):
        if self.chance(12):
            dt = self.pick([np.int32, np.int64, np.bool_, np.complex64])  # (float16: a table dtype)
            self.bad(f"value dtype {np.dtype(dt)}")
            return np.dtype(dt)
        return np.dtype(self.pick([np.float32, np.float64]))

    def table(self, n_rows, dim, dtype=None, writable=False, name="weights"):
        """A (n_rows, dim) value array in one of many layouts. `writable`: the kernel
        updates it in place, so layouts that would need a copy are allowed to raise."""
        dtype = self.value_dtype() if dtype is None else np.dtype(dtype)
        rng = self.data_rng()
        vals = rng.standard_normal((n_rows, dim)) * self.pick([1.0, 1.0, 1e30, 1e-30])
        if dtype.kind == "f" and self.chance(8) and vals.size:
            vals.flat[self.src.int(0, vals.size - 1)] = self.pick([np.nan, np.inf, -np.inf])
        layout = self.pick(["c"] * 6 + ["rows", "neg", "fortran", "cols", "misaligned",
                                        "bigendian", "readonly", "middle"])
        if self.chance(20):
            layout = self.pick(["1d", "3d", "0d"])
        with np.errstate(all="ignore"):
            arr = _layout(vals.astype(dtype), layout)
        if layout in ("1d", "3d", "0d"):
            self.bad(f"{name} {layout}")
        elif writable and layout in ("fortran", "cols", "misaligned", "bigendian", "readonly"):
            self.bad(f"{name} {layout} updated in place")
        return arr

    def ids(self, n_rows, shape=None):
        """Integer ids for a table of n_rows rows: any shape, dtype and layout, sometimes
        out of range (extreme values), sometimes not integers at all."""
        if shape is None:
            shape = tuple(self.size(12) for _ in range(self.pick([0, 1, 1, 1, 2, 3])))
        rng = self.data_rng()
        n = int(np.prod(shape))
        hi = max(n_rows, 1)
        dist = self.pick(["uniform", "skewed", "same"])
        if dist == "uniform":
            flat = rng.integers(0, hi, n)
        elif dist == "skewed":
            flat = np.minimum(rng.zipf(1.3, n) - 1, hi - 1)
        else:
            flat = np.full(n, rng.integers(0, hi))
        if n_rows == 0 and n:
            self.bad("ids into an empty table")
        dtype = np.dtype(self.pick([np.int64, np.int64, np.int32, np.int32, np.uint64,
                                    np.uint32, np.int16, np.uint8, np.int8, ">i8", ">i4"]))
        if n and self.chance(3):
            pos = self.src.int(0, n - 1)
            if dtype.kind == "u" and dtype.itemsize == 8 and self.chance(2):
                flat = flat.astype(np.uint64)
                flat[pos] = self.pick(EXTREME_UIDS)
            else:
                flat[pos] = self.pick(EXTREME_IDS + [n_rows, n_rows + 1])
            self.bad("extreme id")
        with np.errstate(all="ignore"):
            arr = flat.astype(dtype)
        if n and np.any(arr.astype(np.float64) != flat.astype(np.float64)):
            self.bad("id changed by the dtype cast")  # e.g. n_rows wrapped into int8
        if n and (np.any(arr.astype(np.float64) < 0) or np.any(arr.astype(np.float64) >= n_rows)):
            self.bad("id out of range")
        arr = arr.reshape(shape)
        if self.chance(15):
            kind = self.pick(["float", "bool", "object", "complex"])
            arr = arr.astype({"float": np.float64, "bool": np.bool_, "object": object,
                              "complex": np.complex128}[kind])
            self.bad(f"{kind} ids")
        layout = self.pick(["c"] * 5 + ["strided", "neg", "fortran", "readonly", "list",
                                        "misaligned"])
        return _ids_layout(arr, layout)

    def hyper(self, name, good, bad_values=(np.nan, np.inf, -np.inf, 0.0, -1.0)):
        """A hyperparameter: `good` (a value or a callable of the Gen), or one of the bad
        ones (which the kernel may reject)."""
        if self.chance(6):
            self.bad(f"{name} bad")
            return self.pick(list(bad_values))
        return good(self) if callable(good) else good

    def threads(self):
        if self.chance(30):
            self.bad("bad num_threads")
            return self.pick([0, -1, 1.5])
        return self.pick([None, 1, 2, 3])


def _layout(arr, layout):
    """`arr` (n_rows, dim) re-laid out without changing its values."""
    if layout == "c":
        return arr
    if layout == "rows":  # strided rows, contiguous within a row
        base = np.zeros((2 * arr.shape[0] + 1,) + arr.shape[1:], arr.dtype)
        base[1::2] = arr
        return base[1::2]
    if layout == "neg":
        return np.ascontiguousarray(arr[::-1])[::-1]
    if layout == "fortran":
        return np.asfortranarray(arr)
    if layout == "cols":
        base = np.zeros(arr.shape[:1] + (2 * arr.shape[1] + 1,), arr.dtype)
        base[:, ::2][:, : arr.shape[1]] = arr
        return base[:, ::2][:, : arr.shape[1]]
    if layout == "misaligned":
        buf = np.zeros(arr.nbytes + 1, np.uint8)
        out = buf[1:].view(arr.dtype).reshape(arr.shape)
        out[...] = arr
        return out
    if layout == "bigendian":
        return arr.astype(arr.dtype.newbyteorder(">")) if arr.dtype.itemsize > 1 else arr
    if layout == "readonly":
        out = arr.copy()
        out.flags.writeable = False
        return out
    if layout == "middle":
        base = np.full((arr.shape[0] + 4,) + arr.shape[1:], -7, arr.dtype)
        base[2:-2] = arr
        return base[2:-2]
    if layout == "1d":
        return arr.reshape(-1)
    if layout == "3d":
        return arr.reshape(arr.shape + (1,))
    if layout == "0d":
        return arr.reshape(-1)[:1].reshape(()) if arr.size else np.zeros((), arr.dtype)
    raise AssertionError(layout)


def _ids_layout(arr, layout):
    if layout == "strided" and arr.ndim:
        base = np.zeros(arr.shape[:-1] + (2 * arr.shape[-1],), arr.dtype)
        base[..., ::2] = arr
        return base[..., ::2]
    if layout == "neg" and arr.ndim:
        return np.ascontiguousarray(arr[::-1])[::-1]
    if layout == "fortran":
        return np.asfortranarray(arr)
    if layout == "readonly":
        out = arr.copy()
        out.flags.writeable = False
        return out
    if layout == "misaligned" and arr.dtype != object and arr.size:
        buf = np.zeros(arr.nbytes + 1, np.uint8)
        out = buf[1:].view(arr.dtype).reshape(arr.shape)
        out[...] = arr
        return out
    if layout == "list" and arr.dtype != object and arr.dtype.isnative and (arr.size or arr.ndim < 2):
        # (an empty 2-D list would read back as 1-D)
        return arr.tolist()
    return arr
