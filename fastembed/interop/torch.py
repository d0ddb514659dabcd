"""PyTorch modules whose forward and backward run fastembed kernels, zero-copy on CPU
tensors.

`Embedding` and `EmbeddingBag` subclass ``torch.nn.Embedding`` and ``torch.nn.EmbeddingBag``:
same constructor, parameters, ``state_dict``, ``from_pretrained`` and ``isinstance``
behaviour; only ``forward`` (and the backward it records) differ, and a strided ``_weight``
or pretrained tensor becomes a C-contiguous copy (the kernels write rows in place).
`SparseOptimizer` applies a fused fastembed optimizer to their weights straight from the
last backward, without building torch sparse gradients or coalescing them.
`embedding` and `embedding_bag` are ``torch.nn.functional``'s. Weights may be float32,
float64, float16 or bfloat16 (NumPy sees a bfloat16 tensor as ``ml_dtypes.bfloat16`` over
the same memory; the gradient of a half weight is summed in float32 and rounded once to
the weight's dtype; a `SparseOptimizer` updates half weights in float32 with float32 state
and rounds back as its optimizer's ``rounding`` says). `embedding` is
differentiable to any order and under ``torch.func``; a bag's gradient, as torch's, refuses
a second derivative. Errors are raised as classes that are both fastembed's documented
exception and the one torch raises (`IndexRuntimeError` is an IndexError and a
RuntimeError, ...).
"""
import contextlib

import numpy as np
import torch

from fastembed import ops, quantized

__all__ = ["Embedding", "EmbeddingBag", "SparseOptimizer", "embedding", "embedding_bag",
           "IndexRuntimeError", "ValueRuntimeError", "TypeRuntimeError",
           "ValueNotImplementedError", "ValueAssertionError"]


_WEIGHT_DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)


def _bfloat16():
    try:
        import ml_dtypes
    except ImportError:
        raise TypeError("a bfloat16 tensor reaches fastembed as NumPy's ml_dtypes.bfloat16: "
                        "pip install ml_dtypes") from None
    return np.dtype(ml_dtypes.bfloat16)


def _np(t):
    """A NumPy view of a CPU tensor's data (a contiguous copy only if it is strided);
    bfloat16 as ml_dtypes.bfloat16, which NumPy has no type of its own for."""
    if t.device.type != "cpu":
        raise ValueError(f"fastembed runs on the CPU; got a tensor on {t.device}")
    t = t.detach()
    if not t.is_contiguous():
        t = t.contiguous()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().view(_bfloat16())
    return t.numpy()


def _tensor(a):
    """torch.from_numpy, for ml_dtypes.bfloat16 arrays too (as bfloat16 tensors)."""
    if a.dtype.name == "bfloat16":
        return torch.from_numpy(a.view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(a)


def _np_to_write(weight):
    """The NumPy view an in-place kernel writes `weight` through. `_np` would hand a strided
    tensor over as a contiguous copy and the write would be lost, so refuse it instead."""
    if (weight.device.type != "cpu" or weight.dtype not in _WEIGHT_DTYPES
            or weight.layout != torch.strided or not weight.is_contiguous()):
        raise ValueError(
            "fastembed writes the weight in place and needs a C-contiguous CPU float32, "
            f"float64, float16 or bfloat16 tensor; got {weight.dtype} {weight.layout} on "
            f"{weight.device}"
            f"{' with strides %s' % (weight.stride(),) if weight.layout == torch.strided else ''} "
            "(e.g. m.weight = torch.nn.Parameter(m.weight.detach().contiguous()))")
    return _np(weight)


def _own_contiguous_weight(module):
    """torch keeps a strided `_weight` (or from_pretrained tensor) as the parameter; the
    in-place kernels need C-contiguous rows, so the module owns a contiguous copy instead (the
    tensor passed in is then not shared, unlike torch's; a contiguous one still is)."""
    w = module.weight
    if not w.is_contiguous():
        module.weight = torch.nn.Parameter(w.detach().contiguous(), requires_grad=w.requires_grad)


def _wrote(t):
    """Tell autograd a tensor was written through a NumPy view (as torch's own in-place
    ops do), so that a graph which saved it fails loudly instead of using new values."""
    torch.autograd.graph.increment_version(t)


def _empty_grad(sparse, n_rows, dim, dtype):
    """A weight gradient with no rows: torch's for an empty vocabulary, or (sparse) a
    zero-width table."""
    if sparse:
        return torch.sparse_coo_tensor(torch.zeros((1, 0), dtype=torch.long),
                                       torch.zeros((0, dim), dtype=dtype), (n_rows, dim),
                                       is_coalesced=True)
    return torch.zeros((n_rows, dim), dtype=dtype)


def _sparse_or_dense(grad, sparse, dim, dtype):
    if sparse:
        if dim == 0:  # nothing to carry; torch's gradient has no entries either
            return _empty_grad(True, grad.n_rows, 0, dtype)
        indices = torch.from_numpy(grad.indices).unsqueeze(0)
        values = torch.from_numpy(grad.values).reshape(-1, dim).to(dtype)
        return torch.sparse_coo_tensor(indices, values, (grad.n_rows, dim), dtype=dtype,
                                       is_coalesced=True)
    return torch.from_numpy(grad.to_dense()).to(dtype)  # a half weight's: float32 sums


def _padding(padding_idx, n_rows):
    """torch's padding_idx as a row (negative counts from the end); out of range raises."""
    if padding_idx is None or n_rows == 0:
        return None
    if not -n_rows <= padding_idx < n_rows:
        raise ValueError(f"padding_idx = {padding_idx} must be within [-{n_rows}, {n_rows}) "
                         f"for a table of {n_rows} rows")
    return int(padding_idx) % n_rows


# ---- exceptions: fastembed's documented class and torch's at once ------------------------

class IndexRuntimeError(IndexError, RuntimeError):
    """An id out of range in `embedding_bag` / `EmbeddingBag` (torch raises RuntimeError)."""


class ValueRuntimeError(ValueError, RuntimeError):
    """Malformed offsets, a bag ``padding_idx`` out of range, a weight that is not 2-D in
    `embedding`: where fastembed raises ValueError and torch RuntimeError."""


class TypeRuntimeError(TypeError, RuntimeError):
    """Ids or offsets that are not integers (torch raises RuntimeError)."""


class ValueNotImplementedError(ValueError, NotImplementedError):
    """``per_sample_weights`` with mode "max" (torch raises NotImplementedError)."""


class ValueAssertionError(ValueError, AssertionError):
    """``padding_idx`` outside ``[-num_embeddings, num_embeddings)`` in `embedding` (torch
    raises AssertionError)."""


_BOTH = (IndexRuntimeError, ValueRuntimeError, TypeRuntimeError, ValueNotImplementedError,
         ValueAssertionError)


@contextlib.contextmanager
def _torch_errors(bag):
    """Re-raise fastembed's IndexError, ValueError and TypeError as classes that are also
    torch's RuntimeError, where torch raises that: all of them in a bag; in `embedding` all
    but IndexError (torch's own class for an id out of range there)."""
    try:
        yield
    except _BOTH:
        raise
    except IndexError as e:
        if not bag:
            raise
        raise IndexRuntimeError(*e.args) from None
    except ValueError as e:
        raise ValueRuntimeError(*e.args) from None
    except TypeError as e:
        raise TypeRuntimeError(*e.args) from None


class _Options:
    """What the autograd Functions read from their `module` argument when no module is
    there (the functional API, and the lookups that derivatives are made of)."""

    _fastembed_optimizer = None

    def __init__(self, padding_idx=None, scale_grad_by_freq=False, sparse=False, mode="mean",
                 include_last_offset=False):
        self.padding_idx = padding_idx
        self.scale_grad_by_freq = scale_grad_by_freq
        self.sparse = sparse
        self.mode = mode
        self.include_last_offset = include_last_offset


def _dense_options(module):
    """`module`'s padding and scaling without its optimizer, dense gradients: for the lookups
    a derivative rule makes."""
    return _Options(module.padding_idx, bool(module.scale_grad_by_freq))


def _position_factor(ids, n_rows, padding, scale, dtype):
    """How much each position of `ids` contributes to its row's gradient (0 at padding,
    1 / count with scale_grad_by_freq), shaped ``ids.shape + (1,)``; None when all are 1."""
    if padding is None and not scale:
        return None
    if scale:
        counts = torch.bincount(ids.reshape(-1).long(), minlength=n_rows)
        factor = 1.0 / counts[ids.long()].to(dtype)
    else:
        factor = torch.ones(ids.shape, dtype=dtype)
    if padding is not None:
        factor = factor.masked_fill(ids == padding, 0)
    return factor.unsqueeze(-1)


def _quantize_module(module, bits):
    """Give `module` a row-quantized copy of its weight for inference (see the modules'
    `quantize`). The float weight stays (state_dict unchanged)."""
    if module.max_norm is not None:
        raise ValueError("max_norm renormalises rows in place at every lookup; a quantized "
                         "table cannot be rewritten: quantize a module without max_norm")
    module._fastembed_quantized = quantized.quantize(_np(module.weight), bits)
    return module.eval()


def _quantized(module):
    """The module's QuantizedTable (None if it has none); refuses a training-mode call."""
    qt = module._fastembed_quantized
    if qt is not None and module.training:
        raise RuntimeError(f"this {type(module).__name__} was quantized for inference and a "
                           "quantized table cannot be trained: call .eval(), or train the "
                           "float module and quantize it afterwards")
    return qt


class _LookupFunction(torch.autograd.Function):
    """``weight[ids]`` by fastembed's lookup. `module` is a fastembed `Embedding` or an
    `_Options`: its padding_idx, scale_grad_by_freq, sparse and fused optimizer shape the
    backward. The backward is `_AccumulateFunction`, itself differentiable (double
    backward, as torch's embedding); jvp and vmap are lookups (the op is linear in the
    weight), so torch.func.jvp, vmap, grad, jacrev and jacfwd work."""

    @staticmethod
    def forward(weight, ids, module):
        return _tensor(ops.lookup(_np(weight), _np(ids)))

    @staticmethod
    def setup_context(ctx, inputs, output):
        weight, ids, module = inputs
        ctx.module = module
        ctx.shape = tuple(weight.shape)
        ctx.save_for_backward(ids)
        ctx.ids = ids  # for jvp (integer ids: no gradient, no reference cycle)

    @staticmethod
    def backward(ctx, grad_output):
        if not ctx.needs_input_grad[0]:
            return None, None, None
        (ids,) = ctx.saved_tensors
        m = ctx.module
        n_rows, dim = ctx.shape
        pad = _padding(m.padding_idx, n_rows)
        fused = m._fastembed_optimizer
        if fused is None:
            return (_AccumulateFunction.apply(grad_output, ids, n_rows, pad,
                                              bool(m.scale_grad_by_freq), bool(m.sparse)),
                    None, None)
        if grad_output.requires_grad:
            raise RuntimeError("a module driven by a SparseOptimizer has no weight gradient to "
                               "differentiate again (create_graph=True); call "
                               "optimizer.detach() for a gradient penalty")
        if n_rows == 0:  # an empty vocabulary has nothing to update
            return None, None, None
        ids_np, grad_np = _np(ids), _np(grad_output)
        if not m.scale_grad_by_freq:
            # the optimizer sums and applies it in step(): no gradient tensor at all
            fused._record(m, ids_np.reshape(-1), grad_np.reshape(-1, dim), pad)
        else:  # the counts are this call's: scale now, sum with the rest later
            grad = ops.accumulate(ids_np, grad_np, n_rows, padding_idx=pad,
                                        scale_grad_by_freq=True)
            fused._record(m, grad.indices, grad.values)
        return None, None, None

    @staticmethod
    def jvp(ctx, weight_tangent, ids_tangent, module_tangent):
        return _LookupFunction.apply(weight_tangent, ctx.ids, _dense_options(ctx.module))

    @staticmethod
    def vmap(info, in_dims, weight, ids, module):
        w_dim, id_dim, _ = in_dims
        opts = _dense_options(module)
        if w_dim is None and not opts.scale_grad_by_freq:  # a batch of ids: one lookup
            return _LookupFunction.apply(weight, ids.movedim(id_dim, 0), opts), 0
        if id_dim is None:  # a batch of tables, side by side: one lookup, same row numbers
            w = weight.movedim(w_dim, 1)  # (n_rows, batch, dim)
            side = w.reshape(w.shape[0], -1)
            out = _LookupFunction.apply(side, ids, opts)
            return out.reshape(ids.shape + w.shape[1:]), ids.dim()
        # tables and ids both batched (or counts per sample): one lookup per sample
        ids = ids.movedim(id_dim, 0)
        tables = [weight] * info.batch_size if w_dim is None else weight.movedim(w_dim, 0)
        return torch.stack([_LookupFunction.apply(t, i, opts) for t, i in zip(tables, ids)]), 0


class _AccumulateFunction(torch.autograd.Function):
    """The weight gradient of a lookup: grad_output's rows summed per id (fastembed's
    accumulate; torch sparse with `sparse`). Linear in grad_output, so its own gradient is
    a lookup (times 0 at padding, 1 / count with `scale`), its jvp is itself, and a batch
    of grad_outputs (jacrev) is one accumulate of them side by side."""

    @staticmethod
    def forward(grad_output, ids, n_rows, padding, scale, sparse):
        dim = grad_output.shape[-1]
        if n_rows == 0:  # an empty vocabulary: the ids are empty too
            return _empty_grad(sparse, 0, dim, grad_output.dtype)
        grad = ops.accumulate(_np(ids), _np(grad_output), n_rows, padding_idx=padding,
                                    scale_grad_by_freq=scale)
        return _sparse_or_dense(grad, sparse, dim, grad_output.dtype)

    @staticmethod
    def setup_context(ctx, inputs, output):
        grad_output, ids, n_rows, padding, scale, sparse = inputs
        ctx.save_for_backward(ids)
        ctx.ids = ids
        ctx.args = (n_rows, padding, scale, sparse)

    @staticmethod
    def backward(ctx, grad_grad):
        if not ctx.needs_input_grad[0]:
            return (None,) * 6
        (ids,) = ctx.saved_tensors
        n_rows, padding, scale, _ = ctx.args
        if grad_grad.layout != torch.strided:
            grad_grad = grad_grad.to_dense()
        rows = _LookupFunction.apply(grad_grad, ids, _Options(padding, scale))
        factor = _position_factor(ids, n_rows, padding, scale, rows.dtype)
        return (rows if factor is None else rows * factor), None, None, None, None, None

    @staticmethod
    def jvp(ctx, grad_output_tangent, *_):
        return _AccumulateFunction.apply(grad_output_tangent, ctx.ids, *ctx.args)

    @staticmethod
    def vmap(info, in_dims, grad_output, ids, n_rows, padding, scale, sparse):
        g_dim, id_dim = in_dims[:2]
        if id_dim is None:  # a batch of grad_outputs: side by side, one accumulate
            g = grad_output.movedim(g_dim, -2)  # ids.shape + (batch, dim)
            side = g.reshape(ids.shape + (-1,))
            out = _AccumulateFunction.apply(side, ids, n_rows, padding, scale, False)
            return out.reshape((n_rows,) + g.shape[-2:]), 1
        ids = ids.movedim(id_dim, 0)
        gs = [grad_output] * info.batch_size if g_dim is None else grad_output.movedim(g_dim, 0)
        return torch.stack([_AccumulateFunction.apply(g, i, n_rows, padding, scale, False)
                            for g, i in zip(gs, ids)]), 0


def _renorm_(weight, input, max_norm, norm_type):
    """torch's max_norm: the rows of `input` renormed in place in `weight`, by fastembed's
    renorm_; under torch.func (wrapped tensors have no storage to hand over) by torch's."""
    with torch.no_grad():
        if any(torch._C._functorch.is_functorch_wrapped_tensor(t) for t in (weight, input)):
            torch.embedding_renorm_(weight, input, max_norm, norm_type)
            return
        ops.renorm_(_np_to_write(weight), _np(input), max_norm, norm_type=norm_type)
    _wrote(weight)


def _embedding(input, weight, max_norm, norm_type, module):
    """`embedding` and `Embedding.forward`: torch.nn.functional.embedding's checks and
    max_norm, then the lookup."""
    with _torch_errors(bag=False):
        if weight.dim() != 2:
            raise ValueRuntimeError(f"'weight' must be 2-D, got {weight.dim()}-D")
        if max_norm is not None:
            _renorm_(weight, input, max_norm, norm_type)
        return _LookupFunction.apply(weight, input, module)


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0,
              scale_grad_by_freq=False, sparse=False):
    """``torch.nn.functional.embedding`` with fastembed's kernels: same signature, defaults
    and results.

    Parameters
    ----------
    input : LongTensor or IntTensor, any shape
        Row ids, each in ``[0, weight.shape[0])`` (other integer dtypes are accepted too).
    weight : Tensor, shape (num_embeddings, embedding_dim), float32 or float64, CPU
    padding_idx : int, optional
        Its row gets no gradient (negative counts from the end).
    max_norm : float, optional
        Rows of `input` with a larger ``norm_type``-norm are rescaled, in place in
        `weight`, before the lookup (torch's renorm; `weight` must then be C-contiguous).
    norm_type : float, default 2.0
    scale_grad_by_freq : bool, default False
        Each row's gradient divided by its id's count in `input`.
    sparse : bool, default False
        The gradient with respect to `weight` is a coalesced torch sparse COO tensor.

    Returns
    -------
    Tensor, shape ``input.shape + (embedding_dim,)``
        ``weight[input]``, differentiable with respect to `weight` to any order, under
        ``torch.func`` (grad, vjp, jvp, vmap over weights or ids, jacrev, jacfwd) too.

    Raises
    ------
    IndexError
        An id out of range (torch's class, too).
    ValueAssertionError
        `padding_idx` outside ``[-num_embeddings, num_embeddings)`` (ValueError and torch's
        AssertionError).
    ValueRuntimeError, TypeRuntimeError
        `weight` not 2-D, ids not integers, ... (fastembed's ValueError/TypeError, and
        torch's RuntimeError).
    """
    if padding_idx is not None:
        n_rows = weight.size(0) if weight.dim() else 0
        if not -n_rows <= padding_idx < max(n_rows, 1):
            raise ValueAssertionError("Padding_idx must be within num_embeddings")
        if padding_idx < 0:
            padding_idx += n_rows
    return _embedding(input, weight, max_norm, norm_type,
                      _Options(padding_idx, scale_grad_by_freq, sparse))


class _Module:
    """What fastembed's modules add to torch's (first base of both): the slot of the
    `SparseOptimizer` driving them, the quantized table, a weight of their own."""

    _fastembed_optimizer = None
    _fastembed_quantized = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _own_contiguous_weight(self)

    def quantize(self, bits=8):
        """Look up (pool) from an 8- or 4-bit row-quantized copy of the weight from now on
        (`fastembed.quantize`; float32 output), for inference: puts the module in eval mode
        and refuses training-mode calls. Returns the module."""
        return _quantize_module(self, bits)


class Embedding(_Module, torch.nn.Embedding):
    """``torch.nn.Embedding`` with fastembed's lookup (forward), accumulate (backward) and
    renorm_ (``max_norm``). Accepts exactly torch's arguments; ``sparse=True`` gives a
    coalesced torch sparse gradient that ``torch.optim.SparseAdam`` and ``SGD`` accept. The
    backward is differentiable (double backward, as torch's) unless a `SparseOptimizer`
    drives the module."""

    def forward(self, input):
        qt = _quantized(self)
        if qt is not None:
            return torch.from_numpy(ops.lookup(qt, _np(input)))
        return _embedding(input, self.weight, self.max_norm, self.norm_type, self)


class _RefuseSecondDerivative(torch.autograd.Function):
    """Passes the bag gradients through, tied to what they depend on (the first `n_deps`
    tensors): differentiating them again raises as torch does for embedding_bag, instead of
    a silently first-order result."""

    @staticmethod
    def forward(ctx, n_deps, *tensors):
        return tuple(g.clone() for g in tensors[n_deps:])

    @staticmethod
    def backward(ctx, *grads):
        raise NotImplementedError("the derivative for '_embedding_bag_backward' is not "
                                  "implemented (as in torch: the gradient of an embedding bag "
                                  "cannot be differentiated again)")


class _BagFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, weight, per_sample_weights, ids, offsets, module):
        ctx.module = module
        ctx.shape = tuple(weight.shape)
        ctx.save_for_backward(weight, per_sample_weights, ids, offsets)
        psw = None if per_sample_weights is None else _np(per_sample_weights)
        out = ops.lookup_bag(
            _np(weight), _np(ids), None if offsets is None else _np(offsets),
            mode=module.mode, per_sample_weights=psw,
            padding_idx=_padding(module.padding_idx, weight.shape[0]),
            include_last_offset=module.include_last_offset)
        return _tensor(out)

    @staticmethod
    def backward(ctx, grad_output):
        weight, psw, ids, offsets = ctx.saved_tensors
        m = ctx.module
        n_rows, dim = ctx.shape
        need_w, need_psw = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        if not (need_w or need_psw):
            return None, None, None, None, None
        fused = m._fastembed_optimizer
        if n_rows == 0:  # an empty vocabulary: the ids are empty too
            grad_w = _empty_grad(m.sparse, 0, dim, grad_output.dtype)
            grad_psw = None if psw is None else torch.zeros_like(psw)
        else:
            result = ops.accumulate_bag(
                _np(ids), None if offsets is None else _np(offsets), _np(grad_output), n_rows,
                mode=m.mode, per_sample_weights=None if psw is None else _np(psw),
                padding_idx=_padding(m.padding_idx, n_rows),
                include_last_offset=m.include_last_offset,
                weights=_np(weight) if (m.mode == "max" or psw is not None) else None,
                scale_grad_by_freq=bool(m.scale_grad_by_freq))
            grad, grad_psw = result if psw is not None else (result, None)
            grad_psw = None if grad_psw is None else _tensor(np.asarray(grad_psw)).to(psw.dtype)
            grad_w = None
            if need_w and fused is not None:
                fused._record(m, grad.indices, grad.values)
            elif need_w:
                grad_w = _sparse_or_dense(grad, m.sparse, dim, grad_output.dtype)
        grad_w = grad_w if need_w and fused is None else None
        grad_psw = grad_psw if need_psw else None
        # with create_graph=True the gradients depend on grad_output, and with
        # per_sample_weights on the weight (grad_psw) and the weights (grad_w), as torch's
        deps = (grad_output,) if psw is None else (grad_output, weight, psw)
        if torch.is_grad_enabled() and any(d.requires_grad for d in deps):
            given = [g for g in (grad_w, grad_psw) if g is not None]
            tied = iter(_RefuseSecondDerivative.apply(len(deps), *deps, *given))
            grad_w, grad_psw = (None if g is None else next(tied) for g in (grad_w, grad_psw))
        return grad_w, grad_psw, None, None, None


def _embedding_bag(input, weight, offsets, max_norm, norm_type, per_sample_weights, module):
    """`embedding_bag` and `EmbeddingBag.forward`: torch.nn.functional.embedding_bag's
    checks and max_norm, then the pooled lookup."""
    with _torch_errors(bag=True):
        if per_sample_weights is not None and input.size() != per_sample_weights.size():
            raise ValueError(f"per_sample_weights ({tuple(per_sample_weights.shape)}) must have "
                             f"the shape of input ({tuple(input.shape)})")
        if weight.dim() != 2:
            raise ValueError(f"weight has to be a 2D Tensor, but got Tensor of dimension "
                             f"{weight.dim()}")
        if input.dim() == 2:
            if offsets is not None:
                raise ValueError("offsets must be None when input is 2-D (fixed-size bags)")
        elif input.dim() != 1:
            raise ValueError(f"input must be 1-D or 2-D, got {input.dim()}-D")
        elif offsets is None:
            raise ValueError("offsets are required when input is 1-D")
        elif offsets.dim() != 1:
            raise ValueError(f"offsets must be 1-D, got {offsets.dim()}-D")
        if module.scale_grad_by_freq and module.mode == "max":  # torch's words
            raise ValueError("max mode does not support scaling the gradient by the frequency")
        if per_sample_weights is not None and module.mode == "max":
            raise ValueNotImplementedError(
                "per_sample_weights are not supported with mode='max' (torch supports them "
                "with 'sum' only; fastembed with 'sum', 'mean' and 'sqrtn')")
        if max_norm is not None:
            _renorm_(weight, input, max_norm, norm_type)
        return _BagFunction.apply(weight, per_sample_weights, input, offsets, module)


def embedding_bag(input, weight, offsets=None, max_norm=None, norm_type=2,
                  scale_grad_by_freq=False, mode="mean", sparse=False, per_sample_weights=None,
                  include_last_offset=False, padding_idx=None):
    """``torch.nn.functional.embedding_bag`` with fastembed's kernels: same signature,
    defaults and results.

    Parameters
    ----------
    input : LongTensor or IntTensor
        1-D with `offsets`, or 2-D (each row one bag, `offsets` None).
    weight : Tensor, shape (num_embeddings, embedding_dim), float32 or float64, CPU
    offsets : LongTensor or IntTensor, 1-D, optional
        Start of each bag (``offsets[0] == 0``, non-decreasing); with
        ``include_last_offset`` the last entry is ``len(input)``.
    max_norm, norm_type
        As in `embedding`: rows of `input` renormed in place in `weight` first.
    scale_grad_by_freq : bool, default False
        Each row's gradient divided by its id's count in `input` (the definition; torch
        2.13's CPU kernel miscounts, pytorch/pytorch#190063). Not with "max".
    mode : {"mean", "sum", "max", "sqrtn"}, default "mean"
        "sqrtn" (TensorFlow's combiner) is fastembed's addition.
    sparse : bool, default False
        The gradient with respect to `weight` is a coalesced torch sparse COO tensor.
    per_sample_weights : Tensor shaped like `input`, optional
        With "sum" (torch), and also "mean" and "sqrtn" (fastembed).
    include_last_offset : bool, default False
    padding_idx : int, optional
        Entries equal to it are skipped and do not count in a mean.

    Returns
    -------
    Tensor, shape (n_bags, embedding_dim)
        Differentiable once with respect to `weight` and `per_sample_weights`; a second
        derivative raises NotImplementedError, as torch's does.

    Raises
    ------
    IndexRuntimeError
        An id out of range (fastembed's IndexError, torch's RuntimeError).
    ValueRuntimeError, TypeRuntimeError
        Malformed offsets, `padding_idx` out of range, bad shapes or dtypes (ValueError or
        TypeError, and RuntimeError).
    ValueNotImplementedError
        `per_sample_weights` with "max" (ValueError and torch's NotImplementedError).
    """
    return _embedding_bag(input, weight, offsets, max_norm, norm_type, per_sample_weights,
                          _Options(padding_idx, scale_grad_by_freq, sparse, mode,
                                   include_last_offset))


class EmbeddingBag(_Module, torch.nn.EmbeddingBag):
    """``torch.nn.EmbeddingBag`` with fastembed's lookup_bag (forward) and accumulate_bag
    (backward). Accepts torch's arguments; ``mode`` also takes "sqrtn" (TensorFlow's
    combiner), and ``per_sample_weights`` work with "mean" and "sqrtn" as well as "sum"."""

    def forward(self, input, offsets=None, per_sample_weights=None):
        qt = _quantized(self)
        if qt is not None:
            return torch.from_numpy(ops.lookup_bag(
                qt, _np(input), None if offsets is None else _np(offsets), mode=self.mode,
                per_sample_weights=None if per_sample_weights is None else _np(per_sample_weights),
                padding_idx=_padding(self.padding_idx, qt.shape[0]),
                include_last_offset=self.include_last_offset))
        return _embedding_bag(input, self.weight, offsets, self.max_norm, self.norm_type,
                              per_sample_weights, self)


class SparseOptimizer:
    """A fused fastembed optimizer for the weights of fastembed `Embedding` and
    `EmbeddingBag` modules.

    Once attached, a module's backward hands its ``(ids, grad_output)`` to this object
    instead of building a gradient tensor; `step` then updates each touched row once, in one
    pass (accumulate + optimizer update in C). Use torch's own optimizers for the other
    parameters of the model.

    Like one torch optimizer step on the summed gradients: a module used several times in a
    forward (or weights shared by modules) gets one update on the sum of its gradients, and
    all the weights make one step of the optimizer's count (``optimizer.iterations``, Adam's
    bias correction). Unlike torch's per-parameter step count, the count is shared: a table
    left untouched by a step still sees the next step number when it is next updated.

    Parameters
    ----------
    modules : iterable of Embedding or EmbeddingBag
    optimizer : a `fastembed.optimizers` instance, e.g. ``fastembed.optimizers.Adam()``

    Examples
    --------
    >>> emb = Embedding(1000, 16)
    >>> opt = SparseOptimizer([emb], fastembed.optimizers.Adam(learning_rate=0.01))
    >>> loss = emb(torch.tensor([1, 2, 2])).sum(); loss.backward(); opt.step()
    """

    def __init__(self, modules, optimizer):
        self.modules = list(modules)
        for m in self.modules:
            if not isinstance(m, (Embedding, EmbeddingBag)):
                raise TypeError("SparseOptimizer takes fastembed.interop.torch Embedding and "
                                f"EmbeddingBag modules, got {type(m).__name__}")
            if m._fastembed_optimizer is not None and m._fastembed_optimizer is not self:
                raise ValueError("a module can be driven by one SparseOptimizer only")
            m._fastembed_optimizer = self
        self.optimizer = optimizer
        self._pending = []  # (module, ids (n,), gradient rows (n, dim)) from each backward

    def _record(self, module, ids, rows, padding_idx=None):
        if padding_idx is not None:
            keep = ids != padding_idx
            ids, rows = ids[keep], rows[keep]
        self._pending.append((module, ids, rows))

    def zero_grad(self, set_to_none=True):
        """Forget the gradients recorded since the last step."""
        self._pending.clear()

    def step(self):
        """Apply the recorded gradients to each module's weight, in place."""
        tables = {m: _np_to_write(m.weight) for m in self.modules}  # refuse before any write
        pending, self._pending = self._pending, []
        by_weight = {}  # weight -> [(ids, rows), ...] in backward order; one update each
        for m, ids, rows in pending:
            by_weight.setdefault(m.weight, (tables[m], []))[1].append((ids, rows))
        with self.optimizer.one_step():
            for weight, (table, parts) in by_weight.items():
                ids, rows = parts[0] if len(parts) == 1 else map(np.concatenate, zip(*parts))
                self.optimizer.step(table, ids, rows)
                _wrote(weight)

    def detach(self):
        """Give the modules back to torch's autograd gradients."""
        for m in self.modules:
            m._fastembed_optimizer = None
        self.zero_grad()
