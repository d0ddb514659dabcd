"""PyTorch modules whose forward and backward run fastembed kernels, zero-copy on CPU
tensors.

`Embedding` and `EmbeddingBag` subclass ``torch.nn.Embedding`` and ``torch.nn.EmbeddingBag``:
same constructor, parameters, ``state_dict``, ``from_pretrained`` and ``isinstance``
behaviour; only ``forward`` (and the backward it records) differ, and a strided ``_weight``
or pretrained tensor becomes a C-contiguous copy (the kernels write rows in place).
`SparseOptimizer` applies a fused fastembed optimizer to their weights straight from the
last backward, without building torch sparse gradients or coalescing them.
"""
import numpy as np
import torch

import fastembed

__all__ = ["Embedding", "EmbeddingBag", "SparseOptimizer"]


def _np(t):
    """A NumPy view of a CPU tensor's data (a contiguous copy only if it is strided)."""
    if t.device.type != "cpu":
        raise ValueError(f"fastembed runs on the CPU; got a tensor on {t.device}")
    t = t.detach()
    if not t.is_contiguous():
        t = t.contiguous()
    return t.numpy()


def _np_to_write(weight):
    """The NumPy view an in-place kernel writes `weight` through. `_np` would hand a strided
    tensor over as a contiguous copy and the write would be lost, so refuse it instead."""
    if (weight.device.type != "cpu" or weight.dtype not in (torch.float32, torch.float64)
            or weight.layout != torch.strided or not weight.is_contiguous()):
        raise ValueError(
            "fastembed writes the weight in place and needs a C-contiguous CPU float32/float64 "
            f"tensor; got {weight.dtype} {weight.layout} on {weight.device}"
            f"{' with strides %s' % (weight.stride(),) if weight.layout == torch.strided else ''} "
            "(e.g. m.weight = torch.nn.Parameter(m.weight.detach().contiguous()))")
    return weight.detach().numpy()


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


def _sparse_or_dense(grad, sparse, dim, dtype):
    if sparse:
        indices = torch.from_numpy(grad.indices).unsqueeze(0)
        values = torch.from_numpy(grad.values).reshape(-1, dim)
        return torch.sparse_coo_tensor(indices, values, (grad.n_rows, dim), dtype=dtype,
                                       is_coalesced=True)
    return torch.from_numpy(grad.to_dense())


def _padding(padding_idx, n_rows):
    return None if padding_idx is None else int(padding_idx) % n_rows


def _quantize_module(module, bits):
    """Give `module` a row-quantized copy of its weight for inference (see the modules'
    `quantize`). The float weight stays (state_dict unchanged)."""
    if module.max_norm is not None:
        raise ValueError("max_norm renormalises rows in place at every lookup; a quantized "
                         "table cannot be rewritten: quantize a module without max_norm")
    module._fastembed_quantized = fastembed.quantize(_np(module.weight), bits)
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
    @staticmethod
    def forward(ctx, weight, ids, module):
        ctx.module = module
        ctx.save_for_backward(ids)
        ctx.shape = tuple(weight.shape)
        return torch.from_numpy(fastembed.lookup(_np(weight), _np(ids)))

    @staticmethod
    def backward(ctx, grad_output):
        if not ctx.needs_input_grad[0]:
            return None, None, None
        (ids,) = ctx.saved_tensors
        m = ctx.module
        n_rows, dim = ctx.shape
        ids_np, grad_np = _np(ids), _np(grad_output)
        fused = m._fastembed_optimizer
        if fused is not None and not m.scale_grad_by_freq:
            # the optimizer sums and applies it in step(): no gradient tensor at all
            fused._record(m, ids_np.reshape(-1), grad_np.reshape(-1, dim),
                          _padding(m.padding_idx, n_rows))
            return None, None, None
        grad = fastembed.accumulate(ids_np, grad_np, n_rows,
                                    padding_idx=_padding(m.padding_idx, n_rows),
                                    scale_grad_by_freq=m.scale_grad_by_freq)
        if fused is not None:  # the counts are this call's: scale now, sum with the rest later
            fused._record(m, grad.indices, grad.values)
            return None, None, None
        return _sparse_or_dense(grad, m.sparse, dim, grad_output.dtype), None, None


class Embedding(torch.nn.Embedding):
    """``torch.nn.Embedding`` with fastembed's lookup (forward), accumulate (backward) and
    renorm_ (``max_norm``). Accepts exactly torch's arguments; ``sparse=True`` gives a
    coalesced torch sparse gradient that ``torch.optim.SparseAdam`` and ``SGD`` accept."""

    _fastembed_optimizer = None
    _fastembed_quantized = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _own_contiguous_weight(self)

    def quantize(self, bits=8):
        """Look up from an 8- or 4-bit row-quantized copy of the weight from now on
        (`fastembed.quantize`; float32 output), for inference: puts the module in eval mode
        and refuses training-mode calls. Returns the module."""
        return _quantize_module(self, bits)

    def forward(self, input):
        qt = _quantized(self)
        if qt is not None:
            return torch.from_numpy(fastembed.lookup(qt, _np(input)))
        if self.max_norm is not None:
            with torch.no_grad():
                fastembed.renorm_(_np_to_write(self.weight), _np(input), self.max_norm,
                                  norm_type=self.norm_type)
            _wrote(self.weight)
        return _LookupFunction.apply(self.weight, input, self)


def _divide_by_counts(grad, ids, padding_idx):
    """torch's scale_grad_by_freq on a bag gradient, in place: each row divided by how many
    times its id occurs in the whole input of the call (dividing the per-id sum equals
    summing divided rows, up to one rounding). Counting is `accumulate` of ones: its indices are
    the gradient's own (sorted, unique, padding left out)."""
    counts = fastembed.accumulate(ids, np.ones(ids.shape + (1,)), grad.n_rows,
                                  padding_idx=padding_idx).values
    grad.values /= counts


class _BagFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, weight, per_sample_weights, ids, offsets, module):
        ctx.module = module
        ctx.shape = tuple(weight.shape)
        ctx.save_for_backward(weight, per_sample_weights, ids, offsets)
        psw = None if per_sample_weights is None else _np(per_sample_weights)
        out = fastembed.lookup_bag(
            _np(weight), _np(ids), None if offsets is None else _np(offsets),
            mode=module.mode, per_sample_weights=psw,
            padding_idx=_padding(module.padding_idx, weight.shape[0]),
            include_last_offset=module.include_last_offset)
        return torch.from_numpy(out)

    @staticmethod
    def backward(ctx, grad_output):
        weight, psw, ids, offsets = ctx.saved_tensors
        m = ctx.module
        n_rows, dim = ctx.shape
        need_w, need_psw = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        if not (need_w or need_psw):
            return None, None, None, None, None
        result = fastembed.accumulate_bag(
            _np(ids), None if offsets is None else _np(offsets), _np(grad_output), n_rows,
            mode=m.mode, per_sample_weights=None if psw is None else _np(psw),
            padding_idx=_padding(m.padding_idx, n_rows),
            include_last_offset=m.include_last_offset,
            weights=_np(weight) if (m.mode == "max" or psw is not None) else None)
        grad, grad_psw = result if psw is not None else (result, None)
        grad_w = None
        if need_w:
            if m.scale_grad_by_freq:
                _divide_by_counts(grad, _np(ids), _padding(m.padding_idx, n_rows))
            fused = m._fastembed_optimizer
            if fused is not None:
                fused._record(m, grad.indices, grad.values)
            else:
                grad_w = _sparse_or_dense(grad, m.sparse, dim, grad_output.dtype)
        grad_psw = torch.from_numpy(np.asarray(grad_psw)) if need_psw else None
        return grad_w, grad_psw, None, None, None


class EmbeddingBag(torch.nn.EmbeddingBag):
    """``torch.nn.EmbeddingBag`` with fastembed's lookup_bag (forward) and accumulate_bag
    (backward). Accepts torch's arguments; ``mode`` also takes "sqrtn" (TensorFlow's
    combiner), and ``per_sample_weights`` work with "mean" and "sqrtn" as well as "sum"."""

    _fastembed_optimizer = None
    _fastembed_quantized = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _own_contiguous_weight(self)

    def quantize(self, bits=8):
        """Pool from an 8- or 4-bit row-quantized copy of the weight from now on
        (`fastembed.quantize`; float32 output), for inference: puts the module in eval mode
        and refuses training-mode calls. Returns the module."""
        return _quantize_module(self, bits)

    def forward(self, input, offsets=None, per_sample_weights=None):
        if input.dim() == 2:
            if offsets is not None:
                raise ValueError("offsets must be None when input is 2-D (fixed-size bags)")
        elif input.dim() != 1:
            raise ValueError(f"input must be 1-D or 2-D, got {input.dim()}-D")
        elif offsets is None:
            raise ValueError("offsets are required when input is 1-D")
        if self.scale_grad_by_freq and self.mode == "max":  # torch's refusal, word for word
            raise ValueError("max mode does not support scaling the gradient by the frequency")
        qt = _quantized(self)
        if qt is not None:
            return torch.from_numpy(fastembed.lookup_bag(
                qt, _np(input), None if offsets is None else _np(offsets), mode=self.mode,
                per_sample_weights=None if per_sample_weights is None else _np(per_sample_weights),
                padding_idx=_padding(self.padding_idx, qt.shape[0]),
                include_last_offset=self.include_last_offset))
        if self.max_norm is not None:
            with torch.no_grad():
                fastembed.renorm_(_np_to_write(self.weight), _np(input), self.max_norm,
                                  norm_type=self.norm_type)
            _wrote(self.weight)
        return _BagFunction.apply(self.weight, per_sample_weights, input, offsets, self)


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
