"""The functional kernels: argument policy here, the work in C (fastembed._kernels)."""
import numpy as np

from fastembed import _kernels, _quantized_ops
from fastembed._arrays import (BAG_ACC64, BAG_MODES, BAG_OUT_F32, U16, as_array, as_float, as_ids,
                               as_table, as_weights_for, bag_bounds, bag_mode, check_out,
                               is_bfloat16, is_half)
from fastembed._arrays import grad_rows as _grad_rows, padding_row as _padding
from fastembed._pool import empty as _empty  # large results from recycled, mapped pages
from fastembed._threads import resolve as _resolve_threads
from fastembed._validate import integer, real
from fastembed.quantized import QuantizedTable

__all__ = ["lookup", "lookup_bag", "accumulate", "accumulate_bag", "renorm_"]


def lookup(weights, ids, *, out=None, num_threads=None):
    """Gather rows of an embedding table: ``weights[ids]``, bounds-checked and parallel.

    Parameters
    ----------
    weights : array_like, shape (n_rows, dim), float32 or float64, or QuantizedTable
        The table. Rows may be strided (used in place); a table whose rows are not each
        contiguous, or that is misaligned or byte-swapped, is copied first. A
        `QuantizedTable` gives float32 rows.
    ids : array_like of integers, any shape
        Row ids, each in ``[0, n_rows)``. int32 and int64 are used without a copy when
        C-contiguous; other integer dtypes are converted with a range check.
    out : ndarray or writable CPU buffer, shape ``ids.shape + (dim,)``, optional
        Destination, same dtype as `weights`, C-contiguous, writable, sharing no memory
        with the inputs; a torch tensor or other DLPack/buffer-protocol object is written
        in place and returned as it is. Left unchanged when the call raises.
    num_threads : int, optional
        Threads for this call; default `fastembed.get_num_threads()`.

    Returns
    -------
    ndarray, shape ``ids.shape + (dim,)``, dtype of `weights`
        Bit-identical to ``weights[ids]``.

    Raises
    ------
    IndexError
        An id is negative or ``>= n_rows``; the message names the first such position.
    TypeError
        `weights` is not float32/float64, or `ids` is not an integer array.
    ValueError
        `weights` is not 2-D, or `out` has the wrong shape or layout or overlaps an input.
    """
    if isinstance(weights, QuantizedTable):  # float32 rows, dequantized in C
        return _quantized_ops.lookup(weights, ids, out, num_threads)
    table = as_table(weights, half=True)
    idx, original = as_ids(ids)
    n_threads = _resolve_threads(num_threads)
    shape = idx.shape + (table.shape[1],)
    if out is None:
        out = dest = _empty(shape, table.dtype)
    else:  # returned as given (a torch tensor stays one); written through a view
        dest = check_out(out, shape, table.dtype, (table, idx, original, weights))
    if table.itemsize == 2:  # float16/bfloat16: the same byte gather, through uint16 views
        table, dest = table.view(U16), dest.view(U16)
    _kernels.lookup(table, idx, dest, n_threads, original)  # flat C-contiguous buffers
    return out


def lookup_bag(weights, ids, offsets=None, *, mode="sum", per_sample_weights=None,
               padding_idx=None, include_last_offset=False, out=None, return_argmax=False,
               accumulator=None, out_dtype=None, num_threads=None):
    """Pooled lookup (``torch.nn.functional.embedding_bag`` semantics, plus "sqrtn").

    Parameters
    ----------
    weights : array_like, shape (n_rows, dim), float32, float64, float16 or bfloat16, or QuantizedTable
        A `QuantizedTable` gives float32 bags (sums in float32; no return_argmax).
        Half tables (float16, ml_dtypes.bfloat16) are summed in float32 (float64 with
        ``accumulator="float64"``) and each result rounded once to the table's dtype (a
        mean or sqrtn quotient is formed in float64, rounded to float32, then to half).
    ids : array_like of integers, 1-D with `offsets`, or 2-D (each row one bag)
    offsets : array_like of integers, 1-D, optional
        Start of each bag in `ids` (``offsets[0] == 0``, non-decreasing, at most
        ``len(ids)``); with ``include_last_offset=True`` the last entry is ``len(ids)`` and
        ends the last bag. Must be None for 2-D ids.
    mode : {"sum", "mean", "max", "sqrtn"}
        "sqrtn" is TensorFlow's combiner: the (weighted) sum over ``sqrt(sum(w**2))``.
    per_sample_weights : array_like, shaped like `ids`, optional
        Weights of each id for "sum", "mean" (``sum(w*e) / sum(w)``) and "sqrtn"; cast to
        the table's dtype. Not allowed with "max".
    padding_idx : int, optional
        Entries equal to it are skipped and do not count in a mean. Negative values count
        from the end, as in torch.
    out : ndarray or writable CPU buffer, shape (n_bags, dim), optional
    return_argmax : bool, default False
        With mode "max", also return the (n_bags, dim) int64 positions in the flattened
        `ids` that each value came from (-1 for an empty bag): what the backward routes by.
    accumulator : {None, "float64"}, default None
        The type sums and means run in. None: the table's dtype, so a float32 bag of n ids
        is within ``n * 2**-24 / (1 - n * 2**-24) * sum(|w_k * x_k|)`` of the exact sum in
        each column (recursive summation; about ``n * 6e-8`` relative to the sum of the
        magnitudes), as torch's embedding_bag. "float64": float32 tables sum in double and
        round once (float64 accuracy; measured ~40% more instructions per row).
    out_dtype : {None, numpy.float32}, default None
        The result's dtype: None, the table's; float32 for a half (or float32) table keeps
        the float32 sums unrounded to half.
    num_threads : int, optional

    Returns
    -------
    ndarray, shape (n_bags, dim), dtype of `weights` or `out_dtype` (and the argmax array
    if asked)
        A bag with no (non-padding) ids gives zeros. Sums run in id order in one thread
        (see `accumulator`), so results are the same for any thread count;
        "max" keeps the first maximum and propagates NaN as ``np.max`` does.

    Raises
    ------
    IndexError
        An id is out of range (the message names the first one).
    TypeError
        Non-float table, non-integer ids or offsets.
    ValueError
        Bad mode, malformed offsets, ids neither 1-D nor 2-D, per_sample_weights of the
        wrong shape or with "max", `out` of the wrong shape or overlapping an input.
    """
    if isinstance(weights, QuantizedTable):  # float32 bags, rows dequantized in C
        return _quantized_ops.lookup_bag(weights, ids, offsets, mode, per_sample_weights,
                                         padding_idx, include_last_offset, out, return_argmax,
                                         num_threads)
    table = as_table(weights, half=True)
    idx, original = as_ids(ids)
    code = bag_mode(mode)
    if not (accumulator is None or accumulator == "float64"):
        raise ValueError(f'accumulator must be None or "float64", got {accumulator!r}')
    result_dtype = table.dtype
    if out_dtype is not None:
        result_dtype = np.dtype(out_dtype)
        if result_dtype != np.float32 or table.dtype == np.float64:
            raise ValueError("out_dtype must be None or float32 (for a float32, float16 or "
                             f"bfloat16 table), got {out_dtype!r} for a {table.dtype} table")
    bounds = bag_bounds(idx, offsets, include_last_offset)
    n_bags = bounds.shape[0] - 1
    psw = None
    if per_sample_weights is not None:
        if code == BAG_MODES["max"]:
            raise ValueError('per_sample_weights are not supported with mode="max"')
        psw = as_weights_for(per_sample_weights, idx, table.dtype)
    pad = _padding(padding_idx, table.shape[0])
    n_threads = _resolve_threads(num_threads)
    shape = (n_bags, table.shape[1])
    argmax = None
    if return_argmax:
        if code != BAG_MODES["max"]:
            raise ValueError('return_argmax needs mode="max"')
        argmax = _empty(shape, np.int64)
    if out is None:
        out = dest = _empty(shape, result_dtype)
    else:
        dest = check_out(out, shape, result_dtype,
                         (table, idx, original, weights, bounds, psw, per_sample_weights))
    flags = BAG_ACC64 if accumulator is not None else 0
    half, bf16 = table.itemsize == 2, is_bfloat16(table.dtype)
    if half:  # float16/bfloat16 through uint16 views (bfloat16 has no buffer format)
        flags |= BAG_OUT_F32 if result_dtype == np.float32 else 0
        table, psw = table.view(U16), None if psw is None else psw.view(U16)
        dest = dest if result_dtype == np.float32 else dest.view(U16)
    _kernels.lookup_bag(table, idx, bounds, code | flags, psw, pad, dest, argmax, n_threads,
                        original, bf16)
    return out if argmax is None else (out, argmax)


def _n_rows_arg(n_rows):
    return integer(n_rows, "n_rows", low=1)


def accumulate(ids, grad_output, n_rows, *, padding_idx=None, scale_grad_by_freq=False,
               out=None, num_threads=None):
    """The gradient of `lookup` with respect to the table, as a row-sparse gradient.

    For every distinct id, the sum of the `grad_output` rows at its positions, added in
    input order into zeros: bit-identical to ``np.add.at(zeros, ids, grad_output)`` on the
    touched rows, for any thread count. O(len(ids)): a parallel radix grouping of the ids,
    then each thread sums the rows of the ids it owns.

    Parameters
    ----------
    ids : array_like of integers, any shape
        The ids of the forward `lookup`, each in ``[0, n_rows)``.
    grad_output : array_like, shape ``ids.shape + (dim,)``, float32 or float64
        Gradient of the loss with respect to the lookup's output.
    n_rows : int
        Rows of the table (>= 1).
    padding_idx : int, optional
        An id whose row gets no gradient (it is absent from the result). Negative values
        count from the end (``padding_idx + n_rows``), as in PyTorch.
    scale_grad_by_freq : bool, default False
        Divide each row's sum by the number of times its id occurs in `ids` (PyTorch's
        ``scale_grad_by_freq``; the division follows the in-order sum).
    out : (ndarray, ndarray), optional
        Buffers for the result, of as many rows as there are ids (an upper bound of nnz):
        indices int64 of shape ``(ids.size,)`` and values of shape ``(ids.size, dim)`` and
        grad_output's dtype, C-contiguous, writable, sharing no memory with each other or
        the inputs. The result's ``indices`` and ``values`` are views of their first nnz
        rows; the rest is left as it was, and so is everything when the call raises.
    num_threads : int, optional
        Threads for this call; default `fastembed.get_num_threads()`.

    Returns
    -------
    RowSparseGrad
        ``indices`` (int64, sorted, unique), ``values`` (nnz, dim) of grad_output's dtype.

    Raises
    ------
    IndexError
        An id is negative or ``>= n_rows``; the message names the first such position.
    TypeError
        `ids` is not an integer array or `grad_output` not float32/float64.
    ValueError
        `grad_output`'s shape is not ``ids.shape + (dim,)``, ``n_rows < 1``,
        `padding_idx` is outside ``[-n_rows, n_rows)``, or `out` is not such a pair.
    """
    from fastembed.sparse import RowSparseGrad

    idx, original = as_ids(ids)
    n = _n_rows_arg(n_rows)
    grad = _grad_rows(grad_output, idx.shape)
    pad = _padding(padding_idx, n)
    n_threads = _resolve_threads(num_threads)
    if out is not None:
        out = _accumulate_out(out, idx.size, grad, (idx, original, grad_output))
    indices, values = _kernels.accumulate(idx, grad, n, pad, bool(scale_grad_by_freq),
                                          n_threads, original, out)
    return RowSparseGrad._trusted(indices, values, n)


def _accumulate_out(out, n, grad, inputs):
    """`accumulate`'s out=: an (indices, values) pair of n-row buffers, checked."""
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise ValueError("out must be a pair (indices, values) of arrays")
    indices = check_out(out[0], (n,), np.int64, inputs + (grad,), name="out[0] (indices)")
    values = check_out(out[1], (n, grad.shape[1]), grad.dtype, inputs + (grad, indices),
                       name="out[1] (values)")
    return indices, values


def renorm_(weights, ids, max_norm, *, norm_type=2.0, num_threads=None):
    """Rescale, in place, every distinct row of `ids` whose norm exceeds `max_norm`.

    PyTorch's ``max_norm`` semantics (``torch.embedding_renorm_``): a row with
    ``norm_type``-norm ``> max_norm`` is multiplied by ``max_norm / (norm + 1e-7)``. Norms
    are computed in float64; each distinct row is handled once, by one thread.

    Parameters
    ----------
    weights : ndarray, shape (n_rows, dim), float32 or float64
        The table, updated in place: writable, rows contiguous, aligned, native-endian.
    ids : array_like of integers, any shape
        Rows to renormalise, each in ``[0, n_rows)``; repeats count once.
    max_norm : float
        Positive, not NaN (``inf`` changes nothing).
    norm_type : float, default 2.0
        The p of the p-norm: finite and positive.
    num_threads : int, optional
        Threads for this call; default `fastembed.get_num_threads()`.

    Returns
    -------
    None

    Raises
    ------
    IndexError
        An id is out of range (first bad position named); nothing is written.
    TypeError
        `weights` not float32/float64 or `ids` not integers.
    ValueError
        `weights` is read-only, not 2-D or its rows are not contiguous; `max_norm` not
        positive or NaN; `norm_type` not a finite positive number. Nothing is written.
    """
    table = as_table(weights, writable=True, half=True)
    idx, original = as_ids(ids)
    max_norm = real(max_norm, "max_norm", low=0.0, low_open=True, finite=False)
    norm_type = real(norm_type, "norm_type", low=0.0, low_open=True)
    n_threads = _resolve_threads(num_threads)
    if table.itemsize == 2:  # float16/bfloat16: norms in double, rows rounded back to nearest
        _kernels.renorm_half(table.view(U16), is_bfloat16(table.dtype), idx, max_norm,
                             norm_type, n_threads, original)
        return
    _kernels.renorm(table, idx, max_norm, norm_type, n_threads, original)


def accumulate_bag(ids, offsets, grad_output, n_rows, *, mode="sum", per_sample_weights=None,
                   padding_idx=None, include_last_offset=False, weights=None,
                   scale_grad_by_freq=False, num_threads=None):
    """The gradient of `lookup_bag` with respect to the table (and to `per_sample_weights`).

    Each id's row gets, in input order, the (scaled) gradient of the bag it sits in: the
    weight ``w`` for "sum", ``w / sum(w)`` for "mean", ``w / sqrt(sum(w**2))`` for "sqrtn"
    (``w = 1`` without per-sample weights; padding entries do not count); for "max" each
    column goes to the row that won it in the forward pass (recomputed from `weights`).
    Shares `accumulate`'s grouping: sums are per id, in input order, in double, rounded once,
    so the result is bit-identical for any thread count.

    Parameters
    ----------
    ids, offsets, mode, per_sample_weights, padding_idx, include_last_offset
        As given to `lookup_bag` (`offsets` None for 2-D ids).
    grad_output : array_like, shape (n_bags, dim), float32, float64, float16 or bfloat16
        A half gradient is widened to float32 (exactly) and gives float32 gradient values.
    n_rows : int
        Rows of the table (>= 1).
    weights : array_like, shape (n_rows, dim), optional
        The table of the forward pass: needed for "max" and for the gradient with respect
        to `per_sample_weights`.
    scale_grad_by_freq : bool, default False
        Divide each row's gradient by the number of times its id occurs in `ids` (in all
        bags of the call), after the in-order sum: PyTorch's definition. Not with "max"
        (as in PyTorch). torch 2.13's CPU ``embedding_bag`` miscounts when a bag holds an
        id more than once (pytorch/pytorch#190063); this follows the definition. The
        gradient with respect to `per_sample_weights` is not scaled (as in PyTorch).
    num_threads : int, optional

    Returns
    -------
    RowSparseGrad, or (RowSparseGrad, ndarray) when `per_sample_weights` were given: the
    second is the gradient with respect to them, shaped like them (0 at padding entries).

    Raises
    ------
    IndexError, TypeError, ValueError
        As `lookup_bag`; ValueError also when `grad_output` is not (n_bags, dim), `weights`
        is missing where needed or does not match (n_rows, dim) and grad_output's dtype,
        or `scale_grad_by_freq` is asked with "max".
    """
    idx, original = as_ids(ids)
    code = bag_mode(mode)
    bounds = bag_bounds(idx, offsets, include_last_offset)
    n = _n_rows_arg(n_rows)
    n_bags = bounds.shape[0] - 1
    grad = as_array(grad_output, "grad_output")
    grad_half = grad if is_half(grad.dtype) else None  # summed from its exact float32 widening
    grad = as_float(grad if grad_half is None else grad.astype(np.float32), "grad_output")
    if grad.ndim != 2 or grad.shape[0] != n_bags:
        raise ValueError(f"grad_output must have shape (n_bags, dim) = ({n_bags}, dim), "
                         f"got {grad.shape}")
    if grad_half is not None and not (grad_half.dtype.isnative and grad_half.flags.c_contiguous
                                      and grad_half.flags.aligned):
        grad_half = np.ascontiguousarray(grad_half)
    dim = grad.shape[1]
    if scale_grad_by_freq and code == BAG_MODES["max"]:
        raise ValueError('scale_grad_by_freq is not supported with mode="max"')
    psw = None
    if per_sample_weights is not None:
        if code == BAG_MODES["max"]:
            raise ValueError('per_sample_weights are not supported with mode="max"')
        psw = as_weights_for(per_sample_weights, idx, np.float64)
    table = None
    if code == BAG_MODES["max"] or psw is not None:
        if weights is None:
            raise ValueError('weights (the forward table) are needed for mode="max" and for '
                             "the gradient with respect to per_sample_weights")
        table = as_table(weights, half=True)
        want = grad.dtype if grad_half is None else grad_half.dtype
        if table.shape != (n, dim) or table.dtype != want:
            raise ValueError(f"weights must be ({n}, {dim}) {want} like grad_output, got "
                             f"{table.shape} {table.dtype}")
    pad = _padding(padding_idx, n)
    n_threads = _resolve_threads(num_threads)
    flat = idx.reshape(-1)
    uniq, starts, perm = _kernels.group_ids(idx, n, n_threads, original)  # checks every id
    bag_of = np.repeat(np.arange(n_bags, dtype=np.int64), np.diff(bounds))
    kept = np.ones(flat.shape[0]) if pad < 0 else (flat != pad).astype(np.float64)
    scale = argmax = norm = None
    w = kept if psw is None else psw.reshape(-1) * kept
    with np.errstate(divide="ignore", invalid="ignore"):
        if code == BAG_MODES["max"]:
            argmax = np.empty((n_bags, dim), np.int64)
            t = table.view(U16) if table.itemsize == 2 else table
            _kernels.lookup_bag(t, idx, bounds, code, None, pad, np.empty((n_bags, dim), t.dtype),
                                argmax, n_threads, original, is_bfloat16(table.dtype))
        elif code == BAG_MODES["sum"]:
            scale = None if psw is None else w
        else:
            per_bag = w if code == BAG_MODES["mean"] else w * w
            norm = np.bincount(bag_of, weights=per_bag, minlength=n_bags)
            if code == BAG_MODES["sqrtn"]:
                norm = np.sqrt(norm)
            scale = w / norm[bag_of]
    skip = _kernels.group_of(uniq, pad) if pad >= 0 else -1  # fe_group_of, as accumulate
    indices = uniq if skip < 0 else np.delete(uniq, skip)
    values = np.empty((indices.shape[0], dim), grad.dtype)
    _kernels.bag_grad(grad, bag_of[perm], None if scale is None else scale[perm], argmax, perm,
                      starts, skip, bool(scale_grad_by_freq), values, n_threads)
    from fastembed.sparse import RowSparseGrad
    result = RowSparseGrad._trusted(np.ascontiguousarray(indices), values, n)
    if psw is None:
        return result
    dots = np.empty(flat.shape[0], np.float64)
    if grad_half is not None:  # products of the half values, in double
        _kernels.bag_dots(table.view(U16), idx, bag_of, grad_half.view(U16), dots, n_threads,
                          is_bfloat16(table.dtype))
    else:
        _kernels.bag_dots(table, idx, bag_of, grad, dots, n_threads)
    if pad >= 0:  # padding rows are not in the bag: an inf there must not reach its sums
        dots[kept == 0] = 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        if code == BAG_MODES["sum"]:
            gpsw = dots
        else:
            wd = np.bincount(bag_of, weights=w * dots, minlength=n_bags)[bag_of]
            nb = norm[bag_of]
            if code == BAG_MODES["mean"]:  # d/dw_i of sum(w e) / sum(w)
                gpsw = dots / nb - wd / (nb * nb)
            else:  # d/dw_i of sum(w e) / sqrt(sum(w^2))
                gpsw = dots / nb - w * wd / (nb * nb * nb)
    given = as_array(per_sample_weights, "per_sample_weights").dtype
    gpsw = np.where(kept > 0, gpsw, 0.0).astype(given.newbyteorder("=") if given.kind == "f" else grad.dtype)
    return result, gpsw.reshape(idx.shape)
