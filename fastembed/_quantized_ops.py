"""The ops layer of row-quantized tables: argument policy for `quantize` and for `lookup` /
`lookup_bag` on a `QuantizedTable` (reached through fastembed.ops), the work in C
(csrc/quant.c)."""
import numpy as np

from fastembed import _kernels
from fastembed._arrays import (BAG_MODES, as_array, as_ids, as_weights_for, bag_bounds,
                               bag_mode, check_out, padding_row)
from fastembed._errors import index_error, position
from fastembed._threads import resolve as _resolve_threads

F32 = np.dtype(np.float32)


def check_bits(bits):
    if isinstance(bits, (bool, np.bool_)) or bits not in (4, 8):
        raise ValueError(f"bits must be 8 or 4, got {bits!r}")
    return int(bits)


def row_bytes(dim, bits):
    """Bytes of one packed row of `dim` columns (PyTorch's prepacked layout)."""
    return int(_kernels.qrow_bytes(dim, bits))


def quantize_rows(table, bits, num_threads=None):
    """The (n_rows, row_bytes(dim, bits)) uint8 packed form of a 2-D real table (converted
    to float32 first, as PyTorch's prepack ops take it)."""
    bits = check_bits(bits)
    w = as_array(table, "table")
    if w.dtype.kind not in "fiu" and w.dtype.name != "bfloat16":
        raise TypeError(f"table must be a real-valued array, got dtype {w.dtype}")
    if w.ndim != 2 or w.shape[1] < 1:
        raise ValueError(f"table must be 2-D (n_rows, dim) with dim >= 1, got shape {w.shape}")
    if not (w.dtype == F32 and w.flags.aligned and (w.strides[1] == 4 or w.shape[1] == 1)):
        w = np.array(w, dtype=F32, order="C", copy=True)
    packed = np.empty((w.shape[0], row_bytes(w.shape[1], bits)), np.uint8)
    status, bad = _kernels.quantize_rows(w, bits, packed, _resolve_threads(num_threads))
    if status == _kernels.ERR_NONFINITE:
        where = position(w.shape, bad)
        raise ValueError(f"table{where} = {float(w.reshape(-1)[bad])!r}: a table to quantize "
                         f"must be finite (NaN and inf have no code)")
    if status == _kernels.ERR_VALUE and bad >= 0:
        limit = "float32" if bits == 8 else "float16 (the 4-bit scale and bias)"
        raise ValueError(f"table row {bad} spans a range ({float(w[bad].min())!r} to "
                         f"{float(w[bad].max())!r}) whose scale or bias overflows {limit}")
    if status != _kernels.OK:
        _kernels.raise_status(status, bad, None, 0)
    return packed


def lookup(qt, ids, out=None, num_threads=None):
    """`fastembed.lookup` on a QuantizedTable: float32 rows, dequantized in C."""
    idx, original = as_ids(ids)
    n_threads = _resolve_threads(num_threads)
    shape = idx.shape + (qt.dim,)
    if out is None:
        out = dest = np.empty(shape, F32)
    else:
        dest = check_out(out, shape, F32, (qt.packed, idx, original))
    _kernels.qlookup(qt.packed, qt.dim, qt.bits, idx, dest, n_threads, original)
    return out


def lookup_bag(qt, ids, offsets=None, mode="sum", per_sample_weights=None, padding_idx=None,
               include_last_offset=False, out=None, return_argmax=False, num_threads=None):
    """`fastembed.lookup_bag` on a QuantizedTable: float32 bags, rows dequantized in C."""
    if return_argmax:
        raise ValueError("return_argmax is for training; a QuantizedTable is for inference "
                         "only (keep a float table to train)")
    idx, original = as_ids(ids)
    code = bag_mode(mode)
    bounds = bag_bounds(idx, offsets, include_last_offset)
    psw = None
    if per_sample_weights is not None:
        if code == BAG_MODES["max"]:
            raise ValueError('per_sample_weights are not supported with mode="max"')
        psw = as_weights_for(per_sample_weights, idx, F32)
    pad = padding_row(padding_idx, qt.shape[0])
    n_threads = _resolve_threads(num_threads)
    shape = (bounds.shape[0] - 1, qt.dim)
    if out is None:
        out = dest = np.empty(shape, F32)
    else:
        dest = check_out(out, shape, F32,
                         (qt.packed, idx, original, bounds, psw, per_sample_weights))
        # the kernel checks ids as it pools (no pass of their own), so a bad one may leave
        # bags written: a caller's out= is checked first, to stay untouched
        bad = _kernels.first_bad_id(idx.reshape(-1), qt.shape[0], n_threads)
        if bad >= 0:
            raise index_error("ids", original, bad, qt.shape[0])
    _kernels.qlookup_bag(qt.packed, qt.dim, qt.bits, idx, bounds, code, psw, pad, dest,
                         n_threads, original)
    return out
