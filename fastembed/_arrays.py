"""Argument policy shared by every public function: which inputs are accepted as they are,
which are converted (and how), and how ``out=`` is checked. One place for each check."""
import math
import sys

import numpy as np

from fastembed import _kernels

F32, F64 = np.dtype(np.float32), np.dtype(np.float64)
I32, I64 = np.dtype(np.int32), np.dtype(np.int64)
VALUE_DTYPES = (F32, F64)
F16, U16 = np.dtype(np.float16), np.dtype(np.uint16)


def is_bfloat16(dtype):
    """ml_dtypes.bfloat16 (JAX's NumPy dtype; fastembed does not need ml_dtypes itself)."""
    return dtype.kind == "V" and dtype.itemsize == 2 and dtype.name == "bfloat16"


def is_half(dtype):
    """float16 or bfloat16: 2-byte storage, arithmetic in float32."""
    return dtype == F16 or is_bfloat16(dtype)
# Builtin dtypes are singletons: `dt is F32` is the cheapest test, and a 100-id call feels
# every 50 ns (the fast paths below).


def as_array(x, name):
    """`x` as an ndarray without copying when possible: NumPy arrays pass through; objects
    with ``__dlpack__`` (CPU), the buffer protocol or ``__array__`` are wrapped."""
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "__dlpack__") and not isinstance(x, (list, tuple)):
        return _from_dlpack(x, name)
    try:
        arr = np.asarray(x)
    except Exception as exc:
        raise TypeError(f"{name} must be array-like, got {type(x).__name__}") from exc
    if arr.dtype == object:
        raise TypeError(f"{name} must be a numeric array, got an object array from {type(x).__name__}")
    return arr


def _from_dlpack(x, name):
    device = getattr(x, "__dlpack_device__", None)
    if device is not None:
        dev_type = int(device()[0])
        if dev_type != 1:  # kDLCPU
            raise ValueError(f"{name} lives on a non-CPU device (DLPack device type {dev_type}); "
                             "fastembed runs on the CPU: move it to host memory first")
    try:
        return np.from_dlpack(x)
    except (BufferError, TypeError, RuntimeError) as exc:
        if getattr(x, "requires_grad", False):
            # a silent detach would cut the user's autograd graph without a word
            raise ValueError(
                f"{name} is a tensor that requires grad: pass {name}.detach() to a kernel, "
                "or use the autograd-aware modules in fastembed.interop.torch") from exc
        # e.g. a read-only exporter or an unsupported dtype: __array__ when present
        try:
            return np.asarray(x)
        except Exception as exc2:
            raise TypeError(f"{name} could not be read as an array ({exc2})") from exc


def as_table(weights, name="weights", writable=False, half=False):
    """A 2-D float32/float64 table (float16/bfloat16 too with `half`) whose rows are each
    contiguous (rows may be strided).

    Read-only use accepts any layout: a table whose rows are not contiguous, that is not
    aligned or not in native byte order is copied. In-place use (`writable=True`) never
    copies: such a table raises ``ValueError`` instead, as does a read-only one."""
    if (type(weights) is np.ndarray and (weights.dtype is F32 or weights.dtype is F64)
            and weights.ndim == 2 and weights.flags.c_contiguous and weights.flags.aligned
            and (weights.flags.writeable or not writable)):
        return weights
    quantized = sys.modules.get("fastembed.quantized")  # not imported: it imports this module
    if quantized is not None and isinstance(weights, quantized.QuantizedTable):
        raise TypeError(f"{name} is a QuantizedTable: it serves lookup and lookup_bag for "
                        "inference; training and in-place updates need the float table")
    w = as_array(weights, name)
    if w.dtype not in VALUE_DTYPES:
        if w.dtype.kind == "f" and w.dtype.itemsize in (4, 8) and not w.dtype.isnative:
            pass  # big-endian float32/64: handled below
        elif half and (is_half(w.dtype) or (w.dtype.kind == "f" and w.dtype.itemsize == 2)):
            pass  # float16 (either byte order) or bfloat16 storage
        elif is_half(w.dtype):
            raise TypeError(f"{name} must be float32 or float64 here, got {w.dtype} (half "
                            "tables work in lookup, accumulate, renorm_ and the constraints)")
        else:
            raise TypeError(f"{name} must be float32 or float64, got {w.dtype}")
    if w.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_rows, dim), got shape {w.shape}")
    fits = (w.dtype.isnative and w.flags.aligned
            and (w.strides[1] == w.itemsize or w.shape[1] <= 1))
    if writable:
        if not w.flags.writeable:
            raise ValueError(f"{name} is read-only; this operation updates it in place")
        if not fits:
            raise ValueError(f"{name} must have contiguous, aligned, native-endian rows to be "
                             f"updated in place (strides {w.strides}, dtype {w.dtype})")
        return w
    if not fits:
        # np.array(copy=True), not ascontiguousarray: that returns a contiguous but
        # misaligned array as it is, and C must not load floats from unaligned addresses
        w = np.array(w, dtype=w.dtype.newbyteorder("="), order="C", copy=True)
    return w


def as_ids(ids, name="ids"):
    """(ids as a C-contiguous, aligned, native int32/int64 array, the caller's array for
    messages).

    int32 and int64 are used as they are; other integer dtypes are converted: uint64 is
    reinterpreted as int64 so an id >= 2**63 reads as negative and is reported out of range
    (never wrapped to a valid row); smaller integers are widened. Bool, float, complex and
    object ids raise TypeError."""
    if type(ids) is np.ndarray and (ids.dtype is I64 or ids.dtype is I32):
        flags = ids.flags
        if flags.c_contiguous and flags.aligned:  # C loads int64 ids: unaligned is UB
            return ids, ids
    arr = as_array(ids, name)
    if arr.size == 0 and arr.dtype.kind == "f" and not isinstance(ids, np.ndarray):
        arr = arr.astype(np.int64)  # np.asarray([]) is float64; an empty list means no ids
    kind = arr.dtype.kind
    if kind not in "iu":
        raise TypeError(f"{name} must be an integer array, got dtype {arr.dtype}")
    original = arr
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    if arr.dtype not in (I32, I64):
        if arr.dtype == np.uint64:
            arr = (arr if arr.flags.c_contiguous else arr.copy()).view(np.int64)
        elif arr.dtype.itemsize >= 4:
            arr = arr.astype(np.int64)
        else:
            arr = arr.astype(np.int32)
    if not (arr.flags.c_contiguous and arr.flags.aligned):
        arr = arr.copy()  # not ascontiguousarray: it would turn 0-d ids into 1-d
    return arr, original


def overlaps(a, b):
    """True if a and b may share memory (exact answer when cheap, else conservative)."""
    if not np.may_share_memory(a, b):
        return False
    try:
        return bool(np.shares_memory(a, b, max_work=1000))
    except np.exceptions.TooHardError if hasattr(np, "exceptions") else np.TooHardError:
        return True


def check_out(out, shape, dtype, inputs, name="out"):
    """Validate a caller's output array: exact shape and dtype, C order, writable, and no
    memory shared with any input. Returns it unchanged."""
    if not isinstance(out, np.ndarray):
        out = _writable_view(out, name)
    if out.shape != tuple(shape):
        raise ValueError(f"{name} has shape {out.shape}, expected {tuple(shape)}")
    if out.dtype != dtype:
        raise TypeError(f"{name} has dtype {out.dtype}, expected {np.dtype(dtype)}")
    if not out.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous")
    if not out.flags.writeable:
        raise ValueError(f"{name} is read-only")
    if not out.flags.aligned:
        raise ValueError(f"{name} must be aligned")
    for arr in inputs:
        if isinstance(arr, np.ndarray) and overlaps(out, arr):
            raise ValueError(f"{name} overlaps an input array; pass a separate output buffer")
    return out


BAG_MODES = {"sum": _kernels.BAG_SUM, "mean": _kernels.BAG_MEAN, "max": _kernels.BAG_MAX,
             "sqrtn": _kernels.BAG_SQRTN}
BAG_ACC64 = _kernels.BAG_ACC64  # or'ed into a mode: float32 bags summed in double
BAG_OUT_F32 = _kernels.BAG_OUT_F32  # or'ed into a mode: a half table's bags as float32


def bag_mode(mode):
    try:
        return BAG_MODES[mode]
    except (KeyError, TypeError):
        raise ValueError(f"mode must be one of {sorted(BAG_MODES)}, got {mode!r}") from None


def bag_bounds(ids, offsets, include_last_offset, name="offsets"):
    """The n_bags + 1 bag boundaries (int64, C-contiguous) into the flattened `ids`: from
    `offsets` (1-D ids, torch's embedding_bag convention) or one bag per row of 2-D ids.
    Malformed offsets raise ValueError naming what is wrong."""
    if ids.ndim == 2:
        if offsets is not None:
            raise ValueError(f"{name} must be None when ids are 2-D (each row is one bag)")
        return np.arange(ids.shape[0] + 1, dtype=np.int64) * ids.shape[1]
    if ids.ndim != 1:
        raise ValueError(f"ids must be 1-D (with {name}) or 2-D (fixed-size bags), "
                         f"got shape {ids.shape}")
    if offsets is None:
        raise ValueError(f"1-D ids need {name} (the start of each bag)")
    off = as_array(offsets, name)
    if off.dtype.kind not in "iu":
        raise TypeError(f"{name} must be an integer array, got dtype {off.dtype}")
    if off.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {off.shape}")
    n = ids.shape[0]
    if off.dtype == np.uint64 and off.size and off.max() > np.iinfo(np.int64).max:
        raise ValueError(f"{name} has a value past the end of ids ({n} ids)")
    off = off.astype(np.int64)
    if include_last_offset:
        if off.size == 0:
            raise ValueError(f"{name} with include_last_offset=True needs at least one entry")
        bounds = np.ascontiguousarray(off)
        if bounds[-1] != n:
            raise ValueError(f"with include_last_offset=True the last of {name} must be "
                             f"len(ids) = {n}, got {int(bounds[-1])}")
    else:
        if off.size == 0:
            if n:
                raise ValueError(f"{name} is empty but there are {n} ids")
            return np.zeros(1, np.int64)
        bounds = np.empty(off.size + 1, np.int64)
        bounds[:-1] = off
        bounds[-1] = n
    if off[0] != 0:
        raise ValueError(f"{name}[0] must be 0, got {int(off[0])}")
    for bad, what in ((off < 0, "is negative"), (off > n, f"is past the end of ids ({n} ids)")):
        if bad.any():
            k = int(np.argmax(bad))
            raise ValueError(f"{name}[{k}] = {int(off[k])} {what}")
    steps = np.diff(off)
    if steps.size and steps.min() < 0:
        k = int(np.argmax(steps < 0))
        raise ValueError(f"{name} must not decrease: {name}[{k}] = {int(off[k])} > "
                         f"{name}[{k + 1}] = {int(off[k + 1])}")
    return bounds


def as_weights_for(psw, ids, dtype, name="per_sample_weights"):
    """Per-sample weights shaped like ids, as a C-contiguous array of the table's dtype."""
    arr = as_array(psw, name)
    if (arr.dtype.kind not in "fiu" or arr.dtype.kind == "b") and not is_half(arr.dtype):
        raise TypeError(f"{name} must be a float array, got dtype {arr.dtype}")
    if arr.shape != ids.shape:
        raise ValueError(f"{name} must have the shape of ids {ids.shape}, got {arr.shape}")
    if arr.dtype != dtype or not (arr.flags.c_contiguous and arr.flags.aligned):
        arr = np.array(arr, dtype=dtype, order="C", copy=True)
    return arr


def _writable_view(obj, name):
    """A zero-copy ndarray view of a caller's writable buffer (a torch tensor, anything with
    ``__dlpack__`` on the CPU or the buffer protocol). Anything that could only be read
    through a copy (``__array__``, lists) is refused: results written into a copy would be
    lost."""
    if hasattr(obj, "__dlpack__"):
        arr = _from_dlpack(obj, name)
        if not (hasattr(obj, "data_ptr") and arr.size
                and arr.__array_interface__["data"][0] != obj.data_ptr()):
            return arr
    else:
        try:
            return np.asarray(memoryview(obj))
        except TypeError:
            pass
    raise TypeError(f"{name} must be a numpy.ndarray or a writable CPU buffer "
                    f"(DLPack or buffer protocol), got {type(obj).__name__}")


def padding_row(padding_idx, n_rows):
    """torch's padding_idx rule: None, or an int in [-n_rows, n_rows), negative from the end.
    Returns the row, or -1 for none."""
    if padding_idx is None:
        return -1
    if isinstance(padding_idx, (bool, np.bool_)) or not isinstance(padding_idx, (int, np.integer)):
        raise TypeError(f"padding_idx must be an int or None, got {type(padding_idx).__name__}")
    p = int(padding_idx)
    if not -n_rows <= p < n_rows:
        raise ValueError(f"padding_idx = {p} must be within [-{n_rows}, {n_rows}) "
                         f"for a table of {n_rows} rows")
    return p + n_rows if p < 0 else p


def as_float(x, name, ndim=None):
    """`x` as a C-contiguous, aligned, native float32/float64 array (no copy when it already
    is one): THE normalisation of a float input (gradients, sparse values). TypeError for
    another dtype; ValueError if `ndim` is given and `x` has another rank."""
    v = x if type(x) is np.ndarray else as_array(x, name)
    if v.dtype.kind != "f" or v.dtype.itemsize not in (4, 8):
        raise TypeError(f"{name} must be float32 or float64, got {v.dtype}")
    if ndim is not None and v.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {v.shape}")
    if not (v.dtype.isnative and v.flags.c_contiguous and v.flags.aligned):
        v = np.array(v, dtype=v.dtype.newbyteorder("="), order="C", copy=True)
    return v


def grad_rows(grad_output, ids_shape):
    """grad_output as a C-contiguous, aligned, native (n_ids, dim) float32/float64 array
    (no copy when it already is one), after checking its shape is ``ids_shape + (dim,)``."""
    g = as_array(grad_output, "grad_output")
    if is_half(g.dtype):
        g = np.asarray(g, np.float32)  # a half gradient sums in float32 (exact widening)
    g = as_float(g, "grad_output")
    if g.ndim != len(ids_shape) + 1 or g.shape[:-1] != tuple(ids_shape):
        raise ValueError(f"grad_output must have shape ids.shape + (dim,) = "
                         f"{tuple(ids_shape) + ('dim',)}, got {g.shape}")
    return g.reshape(math.prod(ids_shape), g.shape[-1])
