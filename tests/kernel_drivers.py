"""Every public kernel as the reliability harnesses see it: one `Kernel` entry per kernel.

The fuzzer (fuzz/fuzz_kernels.py), the canary, concurrency, fork and growth tests
(tests/test_reliability.py), the bad-input table (tests/test_bad_inputs.py) and the leak
check (tools/leakcheck.py) all iterate over `KERNELS`. A kernel that lands adds ONE entry
here (a `make` for a valid call, a `call`, an `expect` from tests/reference.py and a
`fuzz` that builds possibly-invalid arguments from a `Gen`) and every harness covers it.

Conventions
-----------
* A case is a dict of keyword arguments of the public function (arrays and scalars), so
  ``fn(**case, num_threads=t)`` is the call. ``out`` is added by the harnesses when the
  kernel has ``out=`` (`Kernel.out_spec`).
* `call(case, num_threads)` returns what the harness compares: the return value, or for an
  in-place kernel the array(s) it updates (after the call).
* `expect(case)` computes the same thing with the NumPy reference, on copies.
* `writes`: names of the case arrays the kernel updates in place (empty for pure kernels).
"""
import operator

import numpy as np

import fastembed
import reference

ALLOWED_ERRORS = (IndexError, TypeError, ValueError)

# Ids that must never reach memory: every harness injects these.
EXTREME_IDS = [-1, -2**63, 2**63 - 1, 2**31 - 1, -2**31]
EXTREME_UIDS = [2**64 - 1, 2**63]


# ---- comparing results -----------------------------------------------------------------

def arrays_in(obj):
    """Every ndarray inside `obj` (a case dict, tuple, list or object with array attrs)."""
    if isinstance(obj, np.ndarray):
        return [obj]
    if isinstance(obj, dict):
        return [a for v in obj.values() for a in arrays_in(v)]
    if isinstance(obj, (list, tuple)):
        return [a for v in obj for a in arrays_in(v)]
    for attr in ("indices", "values"):  # RowSparseGrad-like results
        if hasattr(obj, attr) and isinstance(getattr(obj, attr), np.ndarray):
            return [getattr(obj, "indices"), getattr(obj, "values")]
    return []


def bits_equal(a, b):
    """Same dtype, shape and bytes (NaN payloads included)."""
    a, b = np.asarray(a), np.asarray(b)
    if not b.dtype.isnative and a.dtype.isnative:  # the reference kept the caller's byte order
        b = b.astype(b.dtype.newbyteorder("="))
    return (a.dtype == b.dtype and a.shape == b.shape
            and np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes())


def same_result(got, want, exact=True, rtol=1e-5, atol=1e-6):
    """Recursive comparison of results (arrays, tuples, RowSparseGrad-likes, scalars)."""
    if isinstance(want, (tuple, list)):
        return (isinstance(got, (tuple, list)) and len(got) == len(want)
                and all(same_result(g, w, exact, rtol, atol) for g, w in zip(got, want)))
    if hasattr(want, "indices") and hasattr(want, "values"):
        return (bits_equal(got.indices, want.indices)
                and same_result(got.values, want.values, exact, rtol, atol)
                and getattr(got, "n_rows", None) == getattr(want, "n_rows", None))
    if want is None:
        return got is None
    if exact:
        return bits_equal(got, want)
    got, want = np.asarray(got), np.asarray(want)
    if not want.dtype.isnative:
        want = want.astype(want.dtype.newbyteorder("="))
    return (got.dtype == want.dtype and got.shape == want.shape
            and bool(np.allclose(got, want, rtol=rtol, atol=atol, equal_nan=True)))


def copy_case(case):
    """Deep copy of a case: arrays copied (layout kept by np.copy semantics: C order)."""
    return {k: (np.array(v, copy=True) if isinstance(v, np.ndarray) else v)
            for k, v in case.items()}


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


# ---- the table ---------------------------------------------------------------------------

class Kernel:
    """One public kernel. Subclass or instantiate with the callables below."""

    def __init__(self, name, make, call, expect, fuzz, writes=(), out_spec=None,
                 exact=True, ids_arg="ids", table_arg="weights", huge=None,
                 offsets_arg=None, hypers=None, overrides=None, extra_bad_rows=None,
                 values_args=None, n_rows_of=None, compare=None, extra_errors=None):
        self.name = name
        self.make = make          # (rng, n_rows, dim, n, vdt, idt) -> case
        self.call = call          # (case, num_threads) -> observable result
        self.expect = expect      # (case) -> the reference's result
        self.fuzz = fuzz          # (gen) -> case (possibly invalid; gen.may_raise set)
        self.writes = tuple(writes)
        self.out_spec = out_spec  # (case) -> (shape, dtype) of out=, or None: no out=
        self.exact = exact        # results bit-identical to the reference (else allclose)
        self.ids_arg = ids_arg
        self.table_arg = table_arg  # None for kernels without a table (accumulate)
        # the float arrays whose dtype and rank the bad-input table varies
        self.values_args = tuple(values_args) if values_args is not None else (
            (table_arg,) if table_arg else ())
        # the number of rows ids index: the table's, or an argument (accumulate's n_rows)
        self.n_rows_of = n_rows_of or (lambda case: np.asarray(case[table_arg]).shape[0])
        self.compare = compare    # (got, want) -> bool, instead of same_result
        self.huge = huge          # (table, num_threads) -> (got, want) on a >2**31-element
        #                           memmap table, touching its last row; None: not yet
        # tests/test_bad_inputs.py: the 1-D offsets argument (bag kernels), the scalar
        # hyperparameters as {name: valid value} (each gets NaN, inf, 0 and a negative),
        # {row label: expected exception or None} where this kernel differs from the generic
        # expectation, and (rng) -> [(label, case, expected)] rows of its own.
        self.offsets_arg = offsets_arg
        self.hypers = dict(hypers or {})
        self.overrides = dict(overrides or {})
        self.extra_bad_rows = extra_bad_rows
        # (rng) -> [(label, case, exception type)]: failing calls of its own that the canary
        # and leak harnesses add to the generic ones (kd.error_cases)
        self.extra_errors = extra_errors

    def same(self, got, want):
        if self.compare is not None:
            return self.compare(got, want)
        return same_result(got, want, exact=self.exact)

    def __repr__(self):
        return f"Kernel({self.name})"


def _lookup_make(rng, n_rows=257, dim=8, n=100, vdt=np.float32, idt=np.int64):
    return {"weights": rng.standard_normal((n_rows, dim)).astype(vdt),
            "ids": rng.integers(0, n_rows, n).astype(idt)}


def _lookup_fuzz(g):
    n_rows, dim = g.size(50), g.size(20)
    case = {"weights": g.table(n_rows, dim), "ids": g.ids(n_rows)}
    if g.chance(4):
        table = np.asarray(case["weights"])
        ids_shape = np.shape(case["ids"])
        dim_ = table.shape[1] if table.ndim == 2 else 1
        dt = table.dtype.newbyteorder("=") if table.dtype.kind == "f" else np.dtype(np.float32)
        kind = g.pick(["ok", "ok", "shape", "dtype", "fortran", "readonly", "overlap"])
        shape = tuple(ids_shape) + (dim_,)
        if kind == "shape":
            shape = shape + (1,)
        out = np.full(shape, 3.0, np.float64 if kind == "dtype" and dt == np.float32 else dt)
        if kind == "fortran" and out.ndim >= 2 and out.shape[0] > 1 and out.shape[-1] > 1:
            out = np.asfortranarray(out)
        if kind == "readonly":
            out.flags.writeable = False
        if (kind == "overlap" and isinstance(case["weights"], np.ndarray)
                and case["weights"].flags.c_contiguous and case["weights"].dtype == out.dtype
                and 0 < out.size <= case["weights"].size):
            out = case["weights"].reshape(-1)[: out.size].reshape(out.shape)
        if kind != "ok":
            g.bad(f"out {kind}")
        case["out"] = out
    return case


def _lookup_call(case, num_threads=None):
    return fastembed.lookup(**case, num_threads=num_threads)


def _lookup_expect(case):
    return reference.lookup(case["weights"], case["ids"])


def _lookup_out_spec(case):
    w = np.asarray(case["weights"])
    return np.shape(case["ids"]) + (w.shape[1],), w.dtype


def error_cases(kernel, rng):
    """[(label, case, exception type)]: the failing calls every kernel must survive, built
    from a valid case through the kernel's metadata (its ids, table and out= arguments)
    plus the kernel's own `extra_errors(rng)` rows (offsets, hyperparameters, ...)."""
    base = kernel.make(rng)
    rows = []
    ids = np.asarray(base[kernel.ids_arg])
    n_rows = kernel.n_rows_of(base)
    for bad in [n_rows, -1, -2**63, 2**63 - 1]:
        case = copy_case(base)
        bad_ids = ids.astype(np.int64)
        bad_ids.reshape(-1)[-1] = bad  # last: everything before it is valid
        case[kernel.ids_arg] = bad_ids
        rows.append((f"id {bad}", case, IndexError))
    case = copy_case(base)
    case[kernel.ids_arg] = ids.astype(np.float64)
    rows.append(("float ids", case, TypeError))
    for name in kernel.values_args:
        case = copy_case(base)
        case[name] = np.asarray(base[name])[None]
        rows.append((f"{name} with an extra axis", case, ValueError))
    if kernel.out_spec is not None:
        shape, dtype = kernel.out_spec(base)
        case = copy_case(base)
        case["out"] = np.zeros(tuple(shape) + (1,), dtype)
        rows.append(("out wrong shape", case, ValueError))
    extra = getattr(kernel, "extra_errors", None)
    if extra is not None:
        rows += extra(rng)
    return rows


def _lookup_huge(table, num_threads):
    last = table.shape[0] - 1
    ids = np.array([last, 0, last, 1], np.int64)
    return fastembed.lookup(table, ids, num_threads=num_threads), np.array(table[ids])


KERNELS = [
    Kernel("lookup", _lookup_make, _lookup_call, _lookup_expect, _lookup_fuzz,
           out_spec=_lookup_out_spec, huge=_lookup_huge),
]



# ---- kernels of the API contract (shared/API.md) that are not on main yet ----------------
# Each is registered only once fastembed exports it, with a reference written here from
# the contract and checked against PyTorch in tests/test_reliability.py; compared with a
# tolerance (the kernels may sum in another order or precision than NumPy).

ANY = "any"  # a bad-input expectation: an allowed exception, or the reference's result


def _check_ids(ids, n_rows):
    ids = np.asarray(ids)
    if ids.size == 0 and ids.dtype.kind == "f":
        ids = ids.astype(np.int64)  # an empty list
    if ids.dtype.kind not in "iu":
        raise TypeError("ids must be integers")
    if ids.dtype == np.uint64 and ids.size and ids.max() >= 2**63:
        raise IndexError("id out of range")
    flat = ids.reshape(-1).astype(np.int64)
    if flat.size and (flat.min() < 0 or flat.max() >= n_rows):
        raise IndexError("id out of range")
    return flat


def ref_accumulate_dense(ids, grad_output, n_rows, padding_idx=None, scale_grad_by_freq=False):
    """Dense (n_rows, dim) gradient of lookup: the sum of grad_output rows per id."""
    grad = np.asarray(grad_output)
    flat = _check_ids(ids, n_rows)
    if grad.shape[:-1] != np.shape(ids):
        raise ValueError("grad_output shape")
    g = grad.reshape(flat.size, grad.shape[-1]).astype(np.float64)
    keep = np.ones(flat.size, bool) if padding_idx is None else flat != padding_idx
    if scale_grad_by_freq:
        counts = np.bincount(flat, minlength=n_rows)
        g = g / counts[flat][:, None]
    dense = np.zeros((n_rows, grad.shape[-1]), np.float64)
    np.add.at(dense, flat[keep], g[keep])
    return dense.astype(grad.dtype)


def _dense_close(got, want):
    if not (hasattr(got, "indices") and hasattr(got, "to_dense")):
        return False
    idx = np.asarray(got.indices)
    if idx.dtype != np.int64 or (idx.size > 1 and not np.all(np.diff(idx) > 0)):
        return False  # indices must be sorted and unique
    return same_result(np.asarray(got.to_dense()), want, exact=False, rtol=1e-4, atol=1e-5)


def _accumulate_make(rng, n_rows=257, dim=8, n=100, vdt=np.float32, idt=np.int64):
    return {"ids": rng.integers(0, max(n_rows, 1), n).astype(idt) if n_rows else
            np.zeros(n, idt),
            "grad_output": rng.standard_normal((n, dim)).astype(vdt), "n_rows": n_rows}


def _accumulate_fuzz(g):
    n_rows, dim = g.size(50), g.size(20)
    ids = g.ids(n_rows)
    shape = np.shape(ids)
    if g.chance(10):
        shape = shape + (1,)
        g.bad("grad_output shape")
    n = int(np.prod(shape))
    grad = np.asarray(g.table(n, dim, name="grad_output")) if n else \
        np.zeros((0, dim), np.float32)
    if grad.ndim == 2:
        grad = grad.reshape(tuple(shape) + (dim,))
    case = {"ids": ids, "grad_output": grad, "n_rows": n_rows}
    if n_rows < 1:
        g.bad("n_rows < 1")  # issue 3: a ValueError even without ids
    if g.chance(5):
        case["n_rows"] = g.pick([-1, 2**63 - 1, 2**62, 0])
        g.bad("n_rows")
    if g.chance(4) and n_rows:
        case["padding_idx"] = g.pick([0, n_rows - 1])
    if g.chance(3):
        case["scale_grad_by_freq"] = True
    return case


def _accumulate_call(case, num_threads=None):
    return fastembed.accumulate(**case, num_threads=num_threads)


class _TouchedRows:
    """The reference gradient on the touched rows only, as ref_accumulate_dense computes it:
    n_rows may be far too large for a dense array (a fuzzed n_rows of 2**62 with valid huge
    ids is a valid call)."""

    def __init__(self, ids, grad_output, n_rows, padding_idx=None, scale_grad_by_freq=False):
        grad = np.asarray(grad_output)
        flat = _check_ids(ids, n_rows)
        if grad.shape[:-1] != np.shape(ids):
            raise ValueError("grad_output shape")
        dt = grad.dtype.newbyteorder("=")
        # the contract: np.add.at into zeros in the gradient's dtype, input order (so sums of
        # 1e30-sized terms that cancel compare exactly), then / count for scale_grad_by_freq
        g = grad.reshape(flat.size, grad.shape[-1]).astype(dt)
        keep = np.ones(flat.size, bool) if padding_idx is None else flat != padding_idx % n_rows
        self.rows, inv = np.unique(flat[keep], return_inverse=True)
        values = np.zeros((self.rows.size, grad.shape[-1]), dt)
        np.add.at(values, inv.reshape(-1), g[keep])
        if scale_grad_by_freq:
            uniq, counts = np.unique(flat, return_counts=True)
            values = values / counts[np.searchsorted(uniq, self.rows)][:, None].astype(dt)
        self.values = values


def _accumulate_expect(case):
    case = dict(case)
    ids, grad, n_rows = case.pop("ids"), case.pop("grad_output"), case.pop("n_rows")
    if operator.index(n_rows) < 1:
        raise ValueError("n_rows < 1")
    return _TouchedRows(ids, grad, n_rows, **case)


def _touched_close(got, want):
    if not isinstance(want, _TouchedRows):
        return _dense_close(got, want)
    if not (hasattr(got, "indices") and hasattr(got, "values")):
        return False
    return (bits_equal(np.asarray(got.indices), want.rows.astype(np.int64))
            and same_result(np.asarray(got.values).reshape(want.values.shape), want.values,
                            exact=False, rtol=1e-4, atol=1e-5))


def ref_renorm_(weights, ids, max_norm, norm_type=2.0):
    """weights after torch.embedding_renorm_: each distinct row with norm > max_norm is
    scaled by max_norm / (norm + 1e-7)."""
    w = np.array(weights, copy=True)
    flat = _check_ids(ids, w.shape[0])
    for row in np.unique(flat):
        norm = np.linalg.norm(w[row].astype(np.float64), ord=norm_type)
        if norm > max_norm:
            w[row] = (w[row] * (max_norm / (norm + 1e-7))).astype(w.dtype)
    return w


def _renorm_make(rng, n_rows=257, dim=8, n=100, vdt=np.float32, idt=np.int64):
    return {"weights": (3 * rng.standard_normal((n_rows, dim))).astype(vdt),
            "ids": rng.integers(0, max(n_rows, 1), n).astype(idt) if n_rows else np.zeros(n, idt),
            "max_norm": 1.5}


def _renorm_fuzz(g):
    n_rows, dim = g.size(50), g.size(20)
    case = {"weights": g.table(n_rows, dim, writable=True), "ids": g.ids(n_rows),
            "max_norm": g.hyper("max_norm", lambda g: g.pick([0.5, 1.0, 3.0, 1e-3]))}
    if g.chance(3):
        case["norm_type"] = g.hyper("norm_type", lambda g: g.pick([1.0, 2.0, 3.0]))
    return case


def _renorm_call(case, num_threads=None):
    out = fastembed.renorm_(**case, num_threads=num_threads)
    if out is not None:
        raise AssertionError("renorm_ must return None")
    return case["weights"]


def _renorm_expect(case):
    return ref_renorm_(case["weights"], case["ids"], case["max_norm"], case.get("norm_type", 2.0))


def _renorm_huge(table, num_threads):
    last = table.shape[0] - 1
    want = ref_renorm_(table[[last]], np.array([0]), 1.0)[0]
    fastembed.renorm_(table, np.array([last, last]), 1.0, num_threads=num_threads)
    return np.array(table[last]), want


BAG_MODES = ("sum", "mean", "max", "sqrtn")


def _bag_bounds(ids, offsets, include_last_offset):
    """Bag boundaries (n_bags + 1 positions into the flattened ids), offsets validated."""
    ids = np.asarray(ids)
    if ids.ndim == 2:
        if offsets is not None:
            raise ValueError("2-D ids take no offsets")
        return np.arange(ids.shape[0] + 1, dtype=np.int64) * ids.shape[1]
    elif ids.ndim == 1:
        if offsets is None:
            raise ValueError("1-D ids need offsets")
        off = np.asarray(offsets)
        if off.ndim != 1 or off.dtype.kind not in "iu":
            raise ValueError("offsets")
        off = off.astype(np.int64)
        if include_last_offset:
            if off.size == 0 or off[-1] != ids.size:
                raise ValueError("include_last_offset: the last offset must be len(ids)")
            bounds = off
        else:
            if off.size == 0 and ids.size:
                raise ValueError("offsets empty with ids")
            bounds = np.concatenate([off, [ids.size]])
        if bounds.size and (bounds[0] != 0 or np.any(np.diff(bounds) < 0)
                            or bounds.min() < 0 or bounds.max() > ids.size):
            raise ValueError("offsets")
        return bounds
    else:
        raise ValueError("ids must be 1-D or 2-D")


def ref_lookup_bag(weights, ids, offsets=None, mode="sum", per_sample_weights=None,
                   padding_idx=None, include_last_offset=False):
    """(n_bags, dim) pooled rows, per API.md (PyTorch embedding_bag + "sqrtn")."""
    w = np.asarray(weights)
    ids = np.asarray(ids)
    if mode not in BAG_MODES:
        raise ValueError("mode")
    bounds = _bag_bounds(ids, offsets, include_last_offset)
    n_bags = bounds.size - 1
    flat = _check_ids(ids, w.shape[0])
    psw = None
    if per_sample_weights is not None:
        psw = np.asarray(per_sample_weights)
        if psw.shape != ids.shape or mode == "max":
            raise ValueError("per_sample_weights")
        psw = psw.reshape(-1).astype(np.float64)
    out = np.zeros((max(n_bags, 0), w.shape[1]), np.float64)
    for b in range(max(n_bags, 0)):
        sel = flat[bounds[b]:bounds[b + 1]]
        ws = np.ones(sel.size) if psw is None else psw[bounds[b]:bounds[b + 1]]
        keep = np.ones(sel.size, bool) if padding_idx is None else sel != padding_idx
        sel, ws = sel[keep], ws[keep]
        if sel.size == 0:
            continue
        rows = w[sel].astype(np.float64)
        if mode == "max":
            out[b] = rows.max(axis=0)
            continue
        total = (ws[:, None] * rows).sum(axis=0)
        if mode == "sum":
            out[b] = total
        elif mode == "mean":
            out[b] = total / ws.sum()
        else:
            out[b] = total / np.sqrt((ws ** 2).sum())
    return out.astype(w.dtype.newbyteorder("="))


def _cuts(rng, n, n_bags):
    """Offsets of n_bags bags over n ids: starts at 0, non-decreasing, empty bags allowed."""
    if n_bags == 0:
        return np.zeros(0, np.int64)
    return np.concatenate([[0], np.sort(rng.integers(0, n + 1, n_bags - 1))]).astype(np.int64)


def _bag_make(rng, n_rows=257, dim=8, n=100, vdt=np.float32, idt=np.int64, n_bags=17,
              mode="sum"):
    return {"weights": rng.standard_normal((n_rows, dim)).astype(vdt),
            "ids": rng.integers(0, max(n_rows, 1), n).astype(idt) if n_rows else np.zeros(n, idt),
            "offsets": _cuts(rng, n, n_bags), "mode": mode}


def _bag_fuzz(g):
    n_rows, dim = g.size(50), g.size(20)
    rng = g.data_rng()
    case = {"weights": g.table(n_rows, dim), "mode": g.pick(list(BAG_MODES))}
    if g.chance(4):  # fixed-size bags
        case["ids"] = g.ids(n_rows, shape=(g.size(10), g.size(6)))
    else:
        ids = g.ids(n_rows, shape=(g.size(40),))
        n = len(ids) if hasattr(ids, "__len__") else 1
        offsets = _cuts(rng, n, g.size(12))
        if offsets.size == 0 and n:
            g.bad("offsets empty with ids")
        if g.chance(3):
            case["include_last_offset"] = True
            offsets = np.concatenate([offsets, [n]]).astype(np.int64)
        if g.chance(8) and offsets.size:
            pos = g.src.int(0, offsets.size - 1)
            offsets[pos] = g.pick([-1, n + 1, 2**63 - 1, -2**63, offsets[pos] + 1])
            g.bad("corrupted offsets")
        if g.chance(15):
            offsets = offsets.astype(g.pick([np.int32, np.float64, np.uint64]))
            if offsets.dtype.kind == "f":
                g.bad("float offsets")
        case["ids"], case["offsets"] = ids, offsets
    ids_shape = np.shape(case["ids"])
    if g.chance(3) and case["mode"] != "max":
        psw = np.abs(rng.standard_normal(ids_shape)) + 0.1
        case["per_sample_weights"] = psw.astype(np.asarray(case["weights"]).dtype
                                                if np.asarray(case["weights"]).dtype.kind == "f"
                                                else np.float32)
        if g.chance(10):
            case["per_sample_weights"] = case["per_sample_weights"][..., :-1] \
                if np.size(case["per_sample_weights"]) else np.ones(3)
            g.bad("per_sample_weights shape")
    if g.chance(4) and n_rows:
        case["padding_idx"] = g.src.int(0, n_rows - 1)
    if g.chance(20):
        case["mode"] = g.pick(["", "SUM", "min"])
        g.bad("mode")
    return case


def _bag_call(case, num_threads=None):
    return fastembed.lookup_bag(**case, num_threads=num_threads)


def _bag_expect(case):
    case = dict(case)
    return ref_lookup_bag(case.pop("weights"), case.pop("ids"), **case)


def _bag_out_spec(case):
    ids = np.asarray(case["ids"])
    if ids.ndim == 2:
        n_bags = ids.shape[0]
    else:
        n_bags = len(case["offsets"]) - (1 if case.get("include_last_offset") else 0)
    w = np.asarray(case["weights"])
    return (n_bags, w.shape[1]), w.dtype


def _bag_extra_rows(rng):
    base = _bag_make(rng)
    rows = [("mode = 'median'", dict(base, mode="median"), ValueError),
            ("2-D ids with offsets", dict(base, ids=np.asarray(base["ids"]).reshape(10, 10)),
             ValueError),
            ("1-D ids without offsets", {k: v for k, v in base.items() if k != "offsets"},
             ValueError),
            ("per_sample_weights wrong shape",
             dict(base, per_sample_weights=np.ones(99, np.float32)), ValueError),
            ("per_sample_weights with max", dict(base, mode="max",
                                                 per_sample_weights=np.ones(100, np.float32)),
             ValueError)]
    for mode in BAG_MODES:
        rows.append((f"mode {mode}, empty bags and padding_idx",
                     dict(base, mode=mode, padding_idx=int(base["ids"][0]),
                          offsets=np.array([0, 0, 5, 5, 100, 100])), None))
        rows.append((f"mode {mode}, 2-D ids", dict({k: v for k, v in base.items()
                                                    if k != "offsets"}, mode=mode,
                                                   ids=np.asarray(base["ids"]).reshape(20, 5)),
                     None))
    rows.append(("per_sample_weights NaN", dict(base, per_sample_weights=np.full(100, np.nan,
                                                                                  np.float32)),
                 ANY))
    return rows


def ref_accumulate_bag(ids, offsets, grad_output, n_rows, mode="sum", per_sample_weights=None,
                       padding_idx=None, include_last_offset=False, weights=None):
    """(dense (n_rows, dim) gradient w.r.t. the table, gradient w.r.t. per_sample_weights or
    None) of ref_lookup_bag, per API.md."""
    grad = np.asarray(grad_output)
    if mode not in BAG_MODES:
        raise ValueError("mode")
    bounds = _bag_bounds(ids, offsets, include_last_offset)
    flat = _check_ids(ids, n_rows)
    n_bags = bounds.size - 1
    if grad.shape[:-1] != (n_bags,) or grad.ndim != 2:
        raise ValueError("grad_output shape")
    dim = grad.shape[1]
    g = grad.astype(np.float64)
    psw = None if per_sample_weights is None else \
        np.asarray(per_sample_weights).reshape(-1).astype(np.float64)
    if psw is not None and (psw.size != flat.size or mode == "max"):
        raise ValueError("per_sample_weights")
    if (mode == "max" or psw is not None) and weights is None:
        raise ValueError("weights needed")
    w = None if weights is None else np.asarray(weights).astype(np.float64)
    dense = np.zeros((n_rows, dim))
    gpsw = None if psw is None else np.zeros(flat.size)
    terms = None if psw is None else np.zeros(flat.size)  # size of what cancels in gpsw
    for b in range(n_bags):
        pos = np.arange(bounds[b], bounds[b + 1])
        if padding_idx is not None:
            pos = pos[flat[pos] != padding_idx]
        if pos.size == 0:
            continue
        sel = flat[pos]
        if mode == "max":
            arg = w[sel].argmax(axis=0)  # the first maximum, as the forward keeps it
            for d in range(dim):
                dense[sel[arg[d]], d] += g[b, d]
            continue
        ws = np.ones(pos.size) if psw is None else psw[pos]
        if mode == "sum":
            scale, norm = ws, 1.0
        elif mode == "mean":
            norm = ws.sum()
            scale = ws / norm
        else:
            norm = np.sqrt((ws ** 2).sum())
            scale = ws / norm
        for k, row in enumerate(sel):
            dense[row] += scale[k] * g[b]
        if gpsw is not None:
            dots = w[sel] @ g[b]  # e_i . g
            if mode == "sum":
                gpsw[pos] = dots
                terms[pos] = np.abs(w[sel]) @ np.abs(g[b])
            elif mode == "mean":  # out = sum(w e) / sum(w)
                gpsw[pos] = dots / norm - (ws @ dots) / norm ** 2
                terms[pos] = (np.abs(w[sel]) @ np.abs(g[b])) / abs(norm) \
                    + (np.abs(ws) @ np.abs(dots)) / norm ** 2
            else:  # out = sum(w e) / sqrt(sum(w^2))
                gpsw[pos] = dots / norm - ws * (ws @ dots) / norm ** 3
                terms[pos] = (np.abs(w[sel]) @ np.abs(g[b])) / norm \
                    + np.abs(ws) * (np.abs(ws) @ np.abs(dots)) / norm ** 3
    dense = dense.astype(grad.dtype.newbyteorder("="))
    if gpsw is None:
        return dense
    gpsw = gpsw.reshape(np.shape(per_sample_weights)).astype(np.asarray(
        per_sample_weights).dtype.newbyteorder("=")).view(_Cancelling)
    gpsw.terms = terms.reshape(gpsw.shape)
    return dense, gpsw


class _Cancelling(np.ndarray):
    """A reference result that is a difference of larger terms (``terms``: their size):
    rounding error is relative to the terms, not to the result (e.g. the per_sample_weights
    gradient of a mean over equal rows is 0 analytically, +-1e13 in float64 when the rows
    are 1e29)."""
    terms = None


def _close_to_cancelling(got, want, rtol=1e-4, atol=1e-5):
    got = np.asarray(got)
    ref = np.asarray(want)
    if got.dtype != ref.dtype or got.shape != ref.shape:
        return False
    with np.errstate(invalid="ignore", over="ignore"):
        bound = rtol * want.terms + atol
        ok = np.abs(got.astype(np.float64) - ref) <= bound
        # the rounding error of the terms is past the dtype's range: any value (inf too, once
        # cast) is as good as the reference's (e.g. 1e60-sized float32 dot products)
        ok |= bound > np.finfo(got.dtype).max
    both_nan = np.isnan(got) & np.isnan(ref)
    return bool(np.all(ok | both_nan | (got == ref)))


def _acc_bag_compare(got, want):
    if isinstance(want, tuple):
        return (isinstance(got, tuple) and len(got) == 2 and _dense_close(got[0], want[0])
                and _close_to_cancelling(got[1], want[1]))
    return _dense_close(got, want)


def _acc_bag_make(rng, n_rows=257, dim=8, n=100, vdt=np.float32, idt=np.int64, n_bags=17,
                  mode="sum"):
    case = _bag_make(rng, n_rows, dim, n, vdt, idt, n_bags, mode)
    weights = case.pop("weights")
    case["grad_output"] = rng.standard_normal((n_bags, dim)).astype(vdt)
    case["n_rows"] = n_rows
    case["weights"] = weights
    return case


def _acc_bag_fuzz(g):
    case = _bag_fuzz(g)
    table = np.asarray(case["weights"])
    n_rows = table.shape[0] if table.ndim == 2 else 1
    ids = np.asarray(case["ids"])
    if ids.ndim == 2:
        n_bags = ids.shape[0]
    else:
        n_bags = max(len(case["offsets"]) - (1 if case.get("include_last_offset") else 0), 0)
    dim = table.shape[1] if table.ndim == 2 else 1
    dt = table.dtype if table.dtype.kind == "f" and table.dtype.itemsize in (4, 8) else np.dtype(np.float32)
    case["grad_output"] = g.table(n_bags, dim, dtype=dt.newbyteorder("="), name="grad_output")
    case["n_rows"] = n_rows
    if n_rows < 1:
        g.bad("n_rows < 1")  # a ValueError, as for accumulate
    case.setdefault("offsets", None)  # positional in accumulate_bag's signature
    if case["mode"] != "max" and "per_sample_weights" not in case and g.chance(2):
        del case["weights"]  # only max and per_sample_weights need the table
    return case


def _acc_bag_call(case, num_threads=None):
    return fastembed.accumulate_bag(**case, num_threads=num_threads)


def _acc_bag_expect(case):
    case = dict(case)
    return ref_accumulate_bag(case.pop("ids"), case.pop("offsets", None), case.pop("grad_output"),
                              case.pop("n_rows"), **case)


def _accumulate_huge(table, num_threads):
    last = table.shape[0] - 1
    grad = np.random.default_rng(1).standard_normal((2, table.shape[1])).astype(np.float32)
    got = fastembed.accumulate(np.array([last, last]), grad, table.shape[0], num_threads=num_threads)
    return ((np.asarray(got.indices), np.asarray(got.values)),
            (np.array([last]), (grad[0] + grad[1])[None]))


def _bag_huge(table, num_threads):
    last = table.shape[0] - 1
    got = fastembed.lookup_bag(table, np.array([last, 0, last]), np.array([0, 2]),
                               num_threads=num_threads)
    return got, np.stack([table[last] + table[0], table[last]])


def _acc_bag_huge(table, num_threads):
    last = table.shape[0] - 1
    grad = np.random.default_rng(2).standard_normal((1, table.shape[1])).astype(np.float32)
    got = fastembed.accumulate_bag(np.array([last, last]), np.array([0]), grad, table.shape[0],
                                   num_threads=num_threads)
    return ((np.asarray(got.indices), np.asarray(got.values)),
            (np.array([last]), 2 * grad))


def _offsets_errors(make):
    """(rng) -> failing calls of a bag kernel with bad offsets or a bad mode: the canary and
    leak harnesses' rows (tests/test_bad_inputs.py builds its own from `offsets_arg`)."""
    def rows(rng):
        base = make(rng)
        off = np.asarray(base["offsets"], np.int64)
        n = np.asarray(base["ids"]).size
        out = []
        for label, bad in [("offsets first != 0", np.concatenate([[1], off[1:]])),
                           ("offsets decreasing", np.concatenate([[0, 2, 1], off[3:]])),
                           ("offsets negative", np.concatenate([off[:-1], [-1]])),
                           ("offsets past the end", np.concatenate([off[:-1], [n + 1]]))]:
            out.append((label, dict(copy_case(base), offsets=bad), ValueError))
        out.append(("mode = 'median'", dict(copy_case(base), mode="median"), ValueError))
        return out
    return rows


def _renorm_errors(rng):
    """Failing renorm_ calls with a bad max_norm or norm_type (canary and leak rows)."""
    base = _renorm_make(rng)
    out = [(f"max_norm = {v}", dict(copy_case(base), max_norm=v), ValueError)
           for v in (np.nan, -1.0)]
    out += [(f"norm_type = {v}", dict(copy_case(base), norm_type=v), ValueError)
            for v in (0.0, -1.0, np.nan, np.inf)]
    return out


if hasattr(fastembed, "accumulate_bag"):
    KERNELS.append(Kernel(
        "accumulate_bag", _acc_bag_make, _acc_bag_call, _acc_bag_expect, _acc_bag_fuzz,
        table_arg="weights", values_args=("grad_output",), n_rows_of=lambda c: c["n_rows"],
        offsets_arg="offsets", compare=_acc_bag_compare, exact=False, huge=_acc_bag_huge,
        overrides={"0-d ids": ValueError, "zero-width rows": ANY, "no rows, no ids": ANY},
        extra_errors=_offsets_errors(_acc_bag_make)))
if hasattr(fastembed, "lookup_bag"):
    KERNELS.append(Kernel(
        "lookup_bag", _bag_make, _bag_call, _bag_expect, _bag_fuzz, out_spec=_bag_out_spec,
        exact=False, huge=_bag_huge, offsets_arg="offsets", extra_bad_rows=_bag_extra_rows,
        overrides={"0-d ids": ValueError}, extra_errors=_offsets_errors(_bag_make)))
if hasattr(fastembed, "accumulate"):
    KERNELS.append(Kernel(
        "accumulate", _accumulate_make, _accumulate_call, _accumulate_expect, _accumulate_fuzz,
        table_arg=None, values_args=("grad_output",), n_rows_of=lambda c: c["n_rows"],
        compare=_touched_close, exact=False, huge=_accumulate_huge,
        # issue 3: n_rows < 1 raises ValueError, with or without ids
        overrides={"0-d ids": ANY, "no rows, no ids": ValueError}))
if hasattr(fastembed, "renorm_"):
    KERNELS.append(Kernel(
        "renorm_", _renorm_make, _renorm_call, _renorm_expect, _renorm_fuzz,
        writes=("weights",), exact=False, huge=_renorm_huge,
        hypers={"max_norm": 1.5},
        # max_norm = inf (no row changes) and 0 (every row scaled to ~0) are meaningful
        overrides={"max_norm = inf": ANY, "max_norm = 0.0": ANY}, extra_errors=_renorm_errors))



# ---- row constraints (fastembed.constraints, axis 1 and NonNeg with rows) ------------------

def ref_constrain_rows(weights, ids, constraint="min_max_norm", min_value=0.0, max_value=1.0,
                       rate=1.0):
    """weights after Keras's constraint on each distinct row of ids (axis=1): norms in
    float64, the factor rounded to the table's dtype and applied in it."""
    w = np.array(weights, copy=True)
    if w.ndim != 2 or w.dtype.kind != "f":
        raise TypeError("weights")
    flat = _check_ids(ids, w.shape[0])
    rows = np.unique(flat)
    sub = w[rows]
    if constraint == "non_neg":
        w[rows] = np.where((sub > 0) | np.isnan(sub), sub, 0).astype(w.dtype)
        return w
    with np.errstate(all="ignore"):
        norms = np.sqrt(np.sum(sub.astype(np.float64) ** 2, axis=1, keepdims=True))
        if constraint == "unit_norm":
            w[rows] = sub / (1e-7 + norms).astype(w.dtype)
            return w
        if constraint == "max_norm":
            factor = np.clip(norms, 0.0, max_value) / (1e-7 + norms)
        else:
            desired = rate * np.clip(norms, min_value, max_value) + (1 - rate) * norms
            factor = desired / (1e-7 + norms)
        w[rows] = sub * factor.astype(w.dtype)
    return w


def _constraint_of(case):
    from fastembed import constraints
    kind = case.get("constraint", "min_max_norm")
    if kind == "min_max_norm":
        return constraints.MinMaxNorm(case["min_value"], case["max_value"], case.get("rate", 1.0),
                                      axis=1)
    if kind == "max_norm":
        return constraints.MaxNorm(case["max_value"], axis=1)
    if kind == "unit_norm":
        return constraints.UnitNorm(axis=1)
    return constraints.NonNeg()


def _cons_make(rng, n_rows=257, dim=8, n=100, vdt=np.float32, idt=np.int64):
    # row norms spread over [0, ~8.5]: both clips of MinMaxNorm are exercised
    scale = rng.uniform(0.0, 1.0, (n_rows, 1))
    return {"weights": (3 * rng.standard_normal((n_rows, dim)) * scale).astype(vdt),
            "ids": rng.integers(0, max(n_rows, 1), n).astype(idt) if n_rows else np.zeros(n, idt),
            "constraint": "min_max_norm", "min_value": 0.5, "max_value": 1.5, "rate": 0.8}


def _cons_fuzz(g):
    n_rows, dim = g.size(50), g.size(20)
    kind = g.pick(["min_max_norm", "max_norm", "unit_norm", "non_neg"])
    case = {"weights": g.table(n_rows, dim, writable=True), "ids": g.ids(n_rows),
            "constraint": kind,
            "min_value": g.hyper("min_value", lambda g: g.pick([0.0, 0.5, 1.0]),
                                 (np.nan, -1.0, np.inf)) if kind == "min_max_norm" else 0.0,
            "max_value": g.hyper("max_value", lambda g: g.pick([1.0, 1.5, 3.0, np.inf]),
                                 (np.nan, -1.0)) if kind in ("min_max_norm", "max_norm") else 1.0,
            "rate": g.pick([1.0, 0.5, 0.0])}
    if kind == "min_max_norm" and g.chance(8):
        case["min_value"], case["max_value"] = 2.0, 1.0
        g.bad("max_value < min_value")
    return case


def _cons_call(case, num_threads=None):
    out = _constraint_of(case).apply_(case["weights"], case["ids"], num_threads=num_threads)
    if out is not None:
        raise AssertionError("apply_ must return None")
    return case["weights"]


def _cons_expect(case):
    params = {k: case[k] for k in ("constraint", "min_value", "max_value", "rate") if k in case}
    return ref_constrain_rows(case["weights"], case["ids"], **params)


def _cons_huge(table, num_threads):
    from fastembed import constraints
    last = table.shape[0] - 1
    want = ref_constrain_rows(table[[last]], np.array([0]), "max_norm", max_value=1.0)[0]
    constraints.MaxNorm(1.0, axis=1).apply_(table, np.array([last, last]), num_threads=num_threads)
    return np.array(table[last]), want


try:
    import fastembed.constraints  # noqa: F401
except ImportError:
    pass
else:
    KERNELS.append(Kernel(
        "constraints.apply_", _cons_make, _cons_call, _cons_expect, _cons_fuzz,
        writes=("weights",), exact=False, huge=_cons_huge,
        hypers={"min_value": 0.5, "max_value": 1.5},
        # min_value = 0 and max_value = inf (no upper clip) are valid; NaN, negative values
        # and max_value < min_value (0.0, -1.0, or min_value = inf) are ValueErrors
        overrides={"min_value = 0.0": ANY, "max_value = inf": ANY}))

# ---- sparse optimizers (fastembed.optimizers): opt.step (fused) and opt.apply ------------
# A case holds the optimizer's hyperparameters next to the arrays; the call builds the
# optimizer from them, so the bad-input table varies each one (NaN, inf, 0, -1). The
# `.apply` entries run ``opt.apply(weights, accumulate(ids, grad_output, n_rows))``: the
# same expectation as the fused step (the two are bit-identical by contract).

# {optimizer: {hyperparameter: valid value}}; every one is a constructor argument
OPT_HYPERS = {
    "SGD": {"learning_rate": 0.1, "momentum": 0.9, "weight_decay": 0.01},
    "Adam": {"learning_rate": 0.1, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7,
             "weight_decay": 0.01},
    "Adagrad": {"learning_rate": 0.1, "initial_accumulator_value": 0.1, "epsilon": 1e-7,
                "weight_decay": 0.01},
    "RowwiseAdagrad": {"learning_rate": 0.1, "initial_accumulator_value": 0.1,
                       "epsilon": 1e-7, "weight_decay": 0.01},
    "FTRL": {"learning_rate": 0.1, "learning_rate_power": -0.5,
             "initial_accumulator_value": 0.1, "l1_regularization_strength": 0.01,
             "l2_regularization_strength": 0.01, "l2_shrinkage_regularization_strength": 0.01,
             "beta": 0.1, "weight_decay": 0.01},
}
# the bad-input values that are valid for a hyperparameter ("momentum = 0.0": plain SGD)
_OPT_VALID = {
    "SGD": ["momentum = 0.0", "weight_decay = 0.0"],
    "Adam": ["beta_1 = 0.0", "beta_2 = 0.0", "weight_decay = 0.0"],
    "Adagrad": ["initial_accumulator_value = 0.0", "epsilon = 0.0", "weight_decay = 0.0"],
    "RowwiseAdagrad": ["initial_accumulator_value = 0.0", "epsilon = 0.0", "weight_decay = 0.0"],
    "FTRL": ["learning_rate_power = 0.0", "learning_rate_power = -1.0",
             "initial_accumulator_value = 0.0", "l1_regularization_strength = 0.0",
             "l2_regularization_strength = 0.0", "l2_shrinkage_regularization_strength = 0.0",
             "beta = 0.0", "weight_decay = 0.0"],
}
_OPT_FLAGS = {"SGD": ("nesterov", "decoupled_weight_decay")}


def _opt_build(name, case):
    from fastembed import optimizers
    args = list(OPT_HYPERS[name]) + list(_OPT_FLAGS.get(name, ("decoupled_weight_decay",)))
    return getattr(optimizers, name)(**{k: case[k] for k in args if k in case})


def _opt_make(name, apply=False):
    def make(rng, n_rows=257, dim=8, n=100, vdt=np.float32, idt=np.int64):
        ids = rng.integers(0, max(n_rows, 1), n).astype(idt) if n_rows else np.zeros(n, idt)
        case = {"weights": rng.standard_normal((n_rows, dim)).astype(vdt), "ids": ids,
                "grad_output": rng.standard_normal((n, dim)).astype(vdt)}
        case.update(OPT_HYPERS[name])
        if apply:
            case["n_rows"] = n_rows
        return case
    return make


def _opt_fuzz(name, apply=False):
    def fuzz(g):
        n_rows, dim = g.size(50), g.size(20)
        table = g.table(n_rows, dim, writable=True)
        ids = g.ids(n_rows)
        t = np.asarray(table)
        dt = t.dtype if t.dtype.kind == "f" and t.dtype.itemsize in (4, 8) else np.dtype(np.float32)
        shape = np.shape(ids) + (dim,)
        grad = np.random.default_rng(g.src.int(0, 2**31)).standard_normal(shape).astype(
            dt.newbyteorder("="))
        if g.chance(20) and grad.size:
            grad.reshape(-1)[:1] = np.nan
            g.bad("non-finite gradient")
        elif g.chance(20) and grad.size and grad.shape[-1] and np.size(ids) >= 2:
            # finite rows whose sum on one id overflows, where the ids allow it
            flat = np.asarray(ids).reshape(-1)
            if flat.dtype.kind in "iu" and flat[-1] == flat[-2]:
                grad.reshape(-1, dim)[-2:, 0] = 0.9 * float(np.finfo(grad.dtype).max)
                g.bad("summed gradient overflows")
        case = {"weights": table, "ids": ids, "grad_output": grad}
        for k, good in OPT_HYPERS[name].items():
            # momentum and the betas must stay below 1
            up = good if k in ("momentum", "beta_1", "beta_2") else 2 * good
            case[k] = g.hyper(k, lambda g, v=good, up=up: g.pick([v, v, 0.5 * v, up]))
        if g.chance(4):
            case["decoupled_weight_decay"] = True
        if name == "SGD" and g.chance(3):
            case["nesterov"] = True
        if g.chance(4) and n_rows:
            case["padding_idx"] = g.pick([0, n_rows - 1, -1])
        if apply:
            case["n_rows"] = t.shape[0] if t.ndim == 2 else 1
            if case["n_rows"] < 1:
                g.bad("n_rows < 1")  # accumulate's contract
        return case
    return fuzz


def _opt_call(name, apply=False):
    def call(case, num_threads=None):
        opt = _opt_build(name, case)
        pad = case.get("padding_idx")
        if apply:
            grad = fastembed.accumulate(case["ids"], case["grad_output"], case["n_rows"],
                                        padding_idx=pad, num_threads=num_threads)
            out = opt.apply(case["weights"], grad, num_threads=num_threads)
        else:
            out = opt.step(case["weights"], case["ids"], case["grad_output"], padding_idx=pad,
                           num_threads=num_threads)
        if out is not None:
            raise AssertionError("step and apply must return None")
        return case["weights"]
    return call


def _opt_expect(name):
    def expect(case):
        w = np.asarray(case["weights"])
        if w.ndim != 2 or w.dtype.kind != "f":
            raise TypeError("weights")
        if "n_rows" in case and case["n_rows"] != w.shape[0]:
            raise ValueError("a gradient for another table")
        flat = _check_ids(case["ids"], w.shape[0])
        grad = np.asarray(case["grad_output"])
        if grad.shape != np.shape(case["ids"]) + (w.shape[1],):
            raise ValueError("grad_output shape")
        grad = grad.reshape(flat.size, w.shape[1])
        pad = case.get("padding_idx")
        if pad is not None:  # accumulate's padding rule: those positions add nothing
            keep = flat != pad % w.shape[0]
            flat, grad = flat[keep], grad[keep]
        if not np.isfinite(grad).all():
            raise ValueError("non-finite gradient")
        sums = np.zeros((w.shape[0], w.shape[1]), grad.dtype.newbyteorder("="))
        with np.errstate(over="ignore", invalid="ignore"):
            np.add.at(sums, flat, grad)  # in the dtype, input order: as the kernels sum
        if not np.isfinite(sums).all():
            raise ValueError("non-finite summed gradient")
        opt = _opt_build(name, case)
        # the state starts at the initial value stored in the table's dtype
        state = {k: np.full((w.shape[0],) if opt.row_state else w.shape, opt._initial(k),
                            w.dtype.newbyteorder("=")).astype(np.float64) for k in opt.slots}
        w64 = w.astype(np.float64)
        with np.errstate(all="ignore"):
            reference.optimizer_step(name, w64, state, flat, grad, 1, opt.get_config())
            return w64.astype(w.dtype.newbyteorder("="))
    return expect


def _opt_huge(name, apply=False):
    def huge(table, num_threads):
        from fastembed import optimizers
        last = table.shape[0] - 1
        grad = np.ones((2, table.shape[1]), np.float32)
        before = np.array(table[last], np.float64)
        opt = getattr(optimizers, name)(learning_rate=0.5)
        ids = np.array([last, last])
        if apply:
            opt.apply(table, fastembed.accumulate(ids, grad, table.shape[0]),
                      num_threads=num_threads)
        else:
            opt.step(table, ids, grad, num_threads=num_threads)
        ref = getattr(optimizers, name)(learning_rate=0.5)
        state = {k: np.full((1,) if ref.row_state else (1, table.shape[1]),
                            np.float32(ref._initial(k))).astype(np.float64) for k in ref.slots}
        w = before[None].copy()
        reference.optimizer_step(name, w, state, np.array([0, 0]), grad, 1, ref.get_config())
        return np.array(table[last]), w[0].astype(np.float32)
    return huge


def _opt_extra_errors(name, apply=False):
    """Failing calls of an optimizer entry beyond the generic ids/table ones: non-finite
    gradients (per position, and finite rows whose sum overflows), a bad padding_idx,
    hyperparameters that would give 0/0 and, for apply, a gradient with a row past the
    table."""
    def rows(rng):
        make = _opt_make(name, apply)
        out = []
        case = make(rng)
        case["grad_output"][-1, -1] = np.nan
        out.append(("non-finite grad_output", case, ValueError))
        case = make(rng)
        case["ids"][-1] = case["ids"][-2]
        case["grad_output"][-2:, 0] = 0.9 * float(np.finfo(case["grad_output"].dtype).max)
        out.append(("finite grad_output rows summing past the dtype's max", case, ValueError))
        case = make(rng)
        case["padding_idx"] = case["weights"].shape[0]
        out.append(("padding_idx = n_rows", case, ValueError))
        if name in ("Adagrad", "RowwiseAdagrad"):
            case = dict(make(rng), epsilon=0.0, initial_accumulator_value=0.0)
            out.append(("epsilon = 0 with initial_accumulator_value = 0", case, ValueError))
        if name == "FTRL":
            case = dict(make(rng), initial_accumulator_value=0.0, l2_regularization_strength=0.0,
                        beta=0.0)
            out.append(("initial_accumulator_value = 0 without l2 or beta", case, ValueError))
        if apply:
            case = make(rng)
            case["n_rows"] = case["weights"].shape[0] + 1
            case["ids"][-1] = case["weights"].shape[0]
            out.append(("gradient row past the table", case, ValueError))
        return out
    return rows


try:
    import fastembed.optimizers  # noqa: F401
except ImportError:
    pass
else:
    for _name in ("SGD", "Adam", "Adagrad", "RowwiseAdagrad", "FTRL"):
        for _apply in (False, True):
            _overrides = {label: None for label in _OPT_VALID[_name]}
            _overrides["0-d ids"] = ANY  # grad_output keeps its shape: a ValueError
            if _apply:
                _overrides["no rows, no ids"] = ValueError  # accumulate needs n_rows >= 1
            KERNELS.append(Kernel(
                f"optimizers.{_name}.{'apply' if _apply else 'step'}", _opt_make(_name, _apply),
                _opt_call(_name, _apply), _opt_expect(_name), _opt_fuzz(_name, _apply),
                writes=("weights",), exact=False,
                # a dense state of the 2**31-element table is 8-16 GiB of RAM: only the
                # optimizers whose state is small (none, one value per row) run it; the
                # state offsets are the same int64 arithmetic for every rule
                huge=_opt_huge(_name, _apply) if _name in ("SGD", "RowwiseAdagrad") or
                (_name == "Adam" and not _apply) else None,
                hypers=OPT_HYPERS[_name], values_args=("weights", "grad_output"),
                n_rows_of=(lambda c: c["n_rows"]) if _apply else None,
                overrides=_overrides, extra_errors=_opt_extra_errors(_name, _apply),
                extra_bad_rows=_opt_extra_errors(_name, _apply)))

BY_NAME = {k.name: k for k in KERNELS}


# ---- the oracle shared by the fuzzer and the tests ---------------------------------------

class Finding(AssertionError):
    """A reliability failure: the harness found a bug."""


def check_call(kernel, case, may_raise, num_threads=None, notes=()):
    """Run one call and judge it. Returns "raised" or "ok"; raises Finding otherwise.

    Oracle: the call either raises an allowed exception (only if `may_raise`) with every
    array bit-identical afterwards, or returns a result equal to the NumPy reference, with
    every array it does not write unchanged."""
    arrays = arrays_in(case)
    before = [np.array(a, copy=True) for a in arrays]
    ref_case = copy_case(case)
    ref_case.pop("out", None)
    try:
        got = kernel.call(case, num_threads)
    except ALLOWED_ERRORS as exc:
        for old, new in zip(before, arrays):
            if not bits_equal(old, new):
                raise Finding(f"{kernel.name}: a failed call ({exc!r}) changed an array; "
                              f"notes={list(notes)}") from exc
        if not may_raise:
            raise Finding(f"{kernel.name}: a valid call raised {exc!r}; notes={list(notes)}") from exc
        return "raised"
    try:
        want = kernel.expect(ref_case)
    except Exception as exc:
        raise Finding(f"{kernel.name}: accepted input the reference rejects ({exc!r}); "
                      f"notes={list(notes)}") from exc
    if not kernel.same(got, want):
        raise Finding(f"{kernel.name}: result differs from the reference; notes={list(notes)}")
    written = {id(case[k]) for k in kernel.writes if isinstance(case.get(k), np.ndarray)}
    if isinstance(case.get("out"), np.ndarray):
        written.add(id(case["out"]))
    for old, new in zip(before, arrays):
        if id(new) not in written and not bits_equal(old, new):
            raise Finding(f"{kernel.name}: changed an input it does not own; notes={list(notes)}")
    return "ok"


def fuzz_one(src):
    """One fuzz iteration from a decision source: pick a kernel, build args, judge."""
    kernel = KERNELS[src.int(0, len(KERNELS) - 1)]
    gen = Gen(src)
    case = kernel.fuzz(gen)
    threads = gen.threads()
    return kernel.name, check_call(kernel, case, gen.may_raise, threads, gen.notes)
