"""PyTorch modules whose forward and backward run fastembed kernels, zero-copy on CPU
tensors.

`Embedding` and `EmbeddingBag` subclass ``torch.nn.Embedding`` and ``torch.nn.EmbeddingBag``:
same constructor, parameters, ``state_dict``, ``from_pretrained`` and ``isinstance``
behaviour; only ``forward`` (and the backward it records) differ. `SparseOptimizer` applies
a fused fastembed optimizer to their weights straight from the last backward, without
building torch sparse gradients or coalescing them.
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
        if fused is not None:  # the optimizer applies it in step(): no gradient tensor at all
            fused._pending.append((m, ids_np, grad_np))
            return None, None, None
        grad = fastembed.accumulate(ids_np, grad_np, n_rows,
                                    padding_idx=_padding(m.padding_idx, n_rows),
                                    scale_grad_by_freq=m.scale_grad_by_freq)
        return _sparse_or_dense(grad, m.sparse, dim, grad_output.dtype), None, None


class Embedding(torch.nn.Embedding):
    """``torch.nn.Embedding`` with fastembed's lookup (forward), accumulate (backward) and
    renorm_ (``max_norm``). Accepts exactly torch's arguments; ``sparse=True`` gives a
    coalesced torch sparse gradient that ``torch.optim.SparseAdam`` and ``SGD`` accept."""

    _fastembed_optimizer = None

    def forward(self, input):
        if self.max_norm is not None:
            with torch.no_grad():
                fastembed.renorm_(_np(self.weight), _np(input), self.max_norm,
                                  norm_type=self.norm_type)
            _wrote(self.weight)
        return _LookupFunction.apply(self.weight, input, self)


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
        fused = m._fastembed_optimizer
        if fused is not None:
            fused._pending_grads.append((m, grad))
            grad_w = None
        else:
            grad_w = _sparse_or_dense(grad, m.sparse, dim, grad_output.dtype) if need_w else None
        grad_psw = torch.from_numpy(np.asarray(grad_psw)) if need_psw else None
        return grad_w, grad_psw, None, None, None


class EmbeddingBag(torch.nn.EmbeddingBag):
    """``torch.nn.EmbeddingBag`` with fastembed's lookup_bag (forward) and accumulate_bag
    (backward). Accepts torch's arguments; ``mode`` also takes "sqrtn" (TensorFlow's
    combiner), and ``per_sample_weights`` work with "mean" and "sqrtn" as well as "sum"."""

    _fastembed_optimizer = None

    def forward(self, input, offsets=None, per_sample_weights=None):
        if input.dim() == 2:
            if offsets is not None:
                raise ValueError("offsets must be None when input is 2-D (fixed-size bags)")
        elif input.dim() != 1:
            raise ValueError(f"input must be 1-D or 2-D, got {input.dim()}-D")
        elif offsets is None:
            raise ValueError("offsets are required when input is 1-D")
        if self.max_norm is not None:
            with torch.no_grad():
                fastembed.renorm_(_np(self.weight), _np(input), self.max_norm,
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

    The fastembed optimizer's `iterations` (Adam's bias-correction step) advances once per
    update it makes: `step` makes one per backward recorded since the last step, so once
    per module when each ran one backward. For torch's per-parameter step count, give each
    module its own SparseOptimizer and fastembed optimizer.

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
        self._pending = []        # (module, ids, grad_output) from Embedding backward
        self._pending_grads = []  # (module, RowSparseGrad) from EmbeddingBag backward

    def zero_grad(self, set_to_none=True):
        """Forget the gradients recorded since the last step."""
        self._pending.clear()
        self._pending_grads.clear()

    def step(self):
        """Apply the recorded gradients to each module's weight, in place."""
        pending, grads = self._pending, self._pending_grads
        self._pending, self._pending_grads = [], []
        for m, ids, grad_output in pending:
            if m.padding_idx is not None or m.scale_grad_by_freq:
                g = fastembed.accumulate(ids, grad_output, m.weight.shape[0],
                                         padding_idx=_padding(m.padding_idx, m.weight.shape[0]),
                                         scale_grad_by_freq=m.scale_grad_by_freq)
                self.optimizer.apply(_np(m.weight), g)
            else:
                self.optimizer.step(_np(m.weight), ids, grad_output)
            _wrote(m.weight)
        for m, g in grads:
            self.optimizer.apply(_np(m.weight), g)
            _wrote(m.weight)

    def detach(self):
        """Give the modules back to torch's autograd gradients."""
        for m in self.modules:
            m._fastembed_optimizer = None
        self.zero_grad()
