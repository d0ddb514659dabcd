"""The issue's "bad input" list, for every kernel, as one table.

Rows are generated for each kernel in kernel_drivers.KERNELS from its metadata (its ids,
table, offsets, out= and hyperparameter arguments and which arrays it writes), then
adjusted by the kernel's `overrides` and extended by its `extra_bad_rows`. Each row
expects an exception type (the call raises it and every array is bit-identical
afterwards), None (the call succeeds and equals the NumPy reference) or kd.ANY (either). A kernel that lands
adds its entry to tests/kernel_drivers.py; it does not edit this file.
"""
import numpy as np
import pytest

import kernel_drivers as kd

SEED = 2024


def _variant(kernel, **sizes):
    def make(rng):
        return kernel.make(rng, **sizes)
    return make


def _with(name, fn):
    """A mutation replacing case[name] by fn(case[name], case)."""
    def mutate(case):
        case = dict(case)
        case[name] = fn(np.asarray(case[name]), case)
        return case
    return mutate


def _set_last(value, dtype):
    def fn(ids, case):
        out = ids.astype(dtype)
        out.reshape(-1)[-1] = value  # the last id: every earlier one is valid
        return out
    return fn


def _strided(a, case):
    base = np.zeros((2 * a.shape[0],) + a.shape[1:], a.dtype)
    base[::2] = a
    return base[::2]


def _negative(a, case):
    return np.ascontiguousarray(a[::-1])[::-1]


def _readonly(a, case):
    a = a.copy()
    a.flags.writeable = False
    return a


def _misaligned(a, case):
    buf = np.zeros(a.nbytes + 1, np.uint8)
    out = buf[1:].view(a.dtype).reshape(a.shape)
    out[...] = a
    return out


def _bigendian(a, case):
    return a.astype(a.dtype.newbyteorder(">"))


def _overlapping_out(kernel, with_arg):
    """out= sharing memory with the argument `with_arg` (its last bytes)."""
    def mutate(case):
        shape, dtype = kernel.out_spec(case)
        src = np.asarray(case[with_arg])
        out_bytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
        pad = (-src.nbytes) % 16
        buf = np.zeros(src.nbytes + pad + out_bytes, np.uint8)
        arg = buf[: src.nbytes].view(src.dtype).reshape(src.shape)
        arg[...] = src
        start = max(0, src.nbytes + pad - 16)  # 16 aligned bytes into the argument
        out = buf[start: start + out_bytes].view(dtype).reshape(shape)
        return dict(case, **{with_arg: arg}, out=out)
    return mutate


def rows_for(kernel):
    """[(label, make_case(rng), mutate(case), expected)] for one kernel."""
    rows = []
    valid = kernel.make
    ids, table, offsets = kernel.ids_arg, kernel.table_arg, kernel.offsets_arg
    writes = set(kernel.writes)

    def add(label, mutate, expected, make=valid):
        rows.append((label, make, mutate, kernel.overrides.get(label, expected)))

    # out-of-range ids
    add("id = n_rows", _with(ids, lambda a, c: _set_last(kernel.n_rows_of(c), np.int64)(a, c)),
        IndexError)
    for bad in (-1, -2**63, 2**63 - 1):
        add(f"id = {bad}", _with(ids, _set_last(bad, np.int64)), IndexError)
    for bad in (2**64 - 1, 2**63):
        add(f"uint64 id = {bad}", _with(ids, _set_last(bad, np.uint64)), IndexError)
    add("int32 id = 2**31-1", _with(ids, _set_last(2**31 - 1, np.int32)), IndexError)
    # id dtypes and shapes
    add("float ids", _with(ids, lambda a, c: a.astype(np.float64)), TypeError)
    add("bool ids", _with(ids, lambda a, c: a.astype(bool)), TypeError)
    add("object ids", _with(ids, lambda a, c: a.astype(object)), TypeError)
    add("0-d ids", _with(ids, lambda a, c: a.reshape(-1)[:1].reshape(())), None)
    # empty and zero-width shapes
    add("empty ids", None, None, make=_variant(kernel, n=0))
    add("zero-width rows", None, None, make=_variant(kernel, dim=0))
    add("no rows, no ids", None, None, make=_variant(kernel, n_rows=0, n=0))
    # dtype and rank of the float arrays (the table; accumulate's grad_output)
    for name in kernel.values_args:
        add(f"1-D {name}", _with(name, lambda a, c: a.reshape(-1)), ValueError)
        add(f"{name} with an extra axis", _with(name, lambda a, c: a[None]), ValueError)
        add(f"int64 {name}", _with(name, lambda a, c: a.astype(np.int64)), TypeError)
        # (float16 is a table dtype of lookup, accumulate, renorm_ and the constraints:
        # tests/test_half.py; complex stands for a value dtype no kernel takes)
        add(f"complex64 {name}", _with(name, lambda a, c: a.astype(np.complex64)), TypeError)
    # layouts of every array argument
    arrays = [k for k, v in kernel.make(np.random.default_rng(SEED)).items()
              if isinstance(v, np.ndarray)]
    for name in arrays:
        in_place = name in writes
        add(f"read-only {name}", _with(name, _readonly), ValueError if in_place else None)
        add(f"non-contiguous {name}", _with(name, _strided), None)
        add(f"negative stride {name}", _with(name, _negative), None)
        add(f"misaligned {name}", _with(name, _misaligned), ValueError if in_place else None)
        add(f"big-endian {name}", _with(name, _bigendian), ValueError if in_place else None)
        # Fortran order: a read-only input is copied; a written 2-D array cannot be updated
        # in place (its rows are not contiguous)
        add(f"Fortran-order {name}", _with(name, lambda a, c: np.asfortranarray(a)),
            ValueError if in_place else None)
    # out=
    if kernel.out_spec is not None:
        def out_of(shape_fn=None, dtype_fn=None, after=None):
            def mutate(case):
                shape, dtype = kernel.out_spec(case)
                shape = shape_fn(shape) if shape_fn else shape
                dtype = dtype_fn(dtype) if dtype_fn else dtype
                out = np.zeros(shape, dtype)
                return dict(case, out=after(out) if after else out)
            return mutate
        add("out wrong shape", out_of(shape_fn=lambda s: tuple(s) + (1,)), ValueError)
        add("out wrong dtype", out_of(dtype_fn=lambda d: np.float64 if d == np.float32
                                      else np.float32), TypeError)
        add("out read-only", out_of(after=_readonly_out), ValueError)
        add("out Fortran-order", out_of(after=lambda o: np.asfortranarray(o)
                                        if o.ndim > 1 and min(o.shape) > 1 else o[::-1]
                                        if o.shape[0] > 1 else o), ValueError)
        if table is not None:
            add("out overlapping the table", _overlapping_out(kernel, table), ValueError)
        add("out overlapping the ids", _overlapping_out(kernel, ids), ValueError)
    # offsets (bag kernels)
    if offsets is not None:
        def off(fn):
            return _with(offsets, lambda a, c: np.asarray(fn(a.astype(np.int64), c)))
        add("offsets empty with ids", off(lambda a, c: a[:0]), ValueError)
        add("offsets first != 0", off(lambda a, c: np.concatenate([[1], a[1:]])), ValueError)
        add("offsets decreasing", off(lambda a, c: np.concatenate([a[:1], a[1:][::-1]])
                                      if len(a) > 2 else a[::-1]), ValueError)
        add("offsets negative", off(lambda a, c: np.concatenate([a[:-1], [-1]])), ValueError)
        add("offsets past the end", off(lambda a, c: np.concatenate(
            [a[:-1], [np.asarray(c[ids]).size + 1]])), ValueError)
        add("offsets wrong length for include_last_offset",
            lambda c: dict(c, include_last_offset=True, **{offsets: np.asarray(c[offsets])[:-1]
                                                           if len(c[offsets]) > 1 else
                                                           np.asarray(c[offsets])}), ValueError)
    # hyperparameters
    for name, good in kernel.hypers.items():
        for bad in (np.nan, np.inf, 0.0, -1.0):
            add(f"{name} = {bad}", (lambda n, b: lambda c: dict(c, **{n: b}))(name, bad), ValueError)
    # thread counts
    for bad, exc in ((0, ValueError), (-1, ValueError), (1.5, TypeError)):
        add(f"num_threads = {bad}", ("num_threads", bad), exc)
    if kernel.extra_bad_rows is not None:
        for label, case, expected in kernel.extra_bad_rows(np.random.default_rng(SEED)):
            rows.append((label, (lambda c: lambda rng: c)(case), None, expected))
    return rows


def _readonly_out(o):
    o.flags.writeable = False
    return o


ROWS = [pytest.param(k, label, make, mutate, expected, id=f"{k.name}: {label}")
        for k in kd.KERNELS for label, make, mutate, expected in rows_for(k)]


@pytest.mark.parametrize("kernel,label,make,mutate,expected", ROWS)
def test_bad_input(kernel, label, make, mutate, expected):
    case = make(np.random.default_rng(SEED))
    threads = None
    if isinstance(mutate, tuple):  # ("num_threads", value)
        threads = mutate[1]
    elif mutate is not None:
        case = mutate(case)
    arrays = kd.arrays_in(case)
    before = [np.array(a, copy=True) for a in arrays]
    if expected is None or expected == kd.ANY:
        assert kd.check_call(kernel, case, may_raise=expected == kd.ANY, num_threads=threads,
                             notes=[label]) in ("ok", "raised")
        return
    with pytest.raises(expected):
        kernel.call(case, threads)
    for old, new in zip(before, arrays):
        assert kd.bits_equal(old, new), f"{kernel.name} [{label}]: a failed call changed an array"


def test_every_kernel_has_rows():
    names = {p.values[0].name for p in ROWS}
    assert names == {k.name for k in kd.KERNELS}
