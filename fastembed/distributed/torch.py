"""A torch module over a `ShardedEmbedding`: forward through the table's `lookup`, backward
straight into its `step` (the fastembed optimizer the table was built with), so a torch
model can train a table that lives on Ray actors.

    table = ShardedEmbedding(10_000_000, 64, num_shards=8, optimizer=Adagrad(0.05))
    emb = fastembed.distributed.torch.Embedding(table)
    loss = model(emb(ids)).sum()
    loss.backward()            # the table's rows are updated here (one optimizer step)
    torch_opt.step()           # the model's dense parameters, as usual

The update happens during ``backward`` (as TorchRec's fused optimizers do): the table has no
torch parameter and no ``.grad``; a torch optimizer never sees it. Each backward through
an output is one `step` of the table (one count of its optimizer's step).
"""
import torch

__all__ = ["Embedding"]


def _np(t):
    if t.device.type != "cpu":
        raise ValueError(f"a ShardedEmbedding is fed from the CPU; got a tensor on {t.device}")
    return t.detach().contiguous().numpy()


class _Lookup(torch.autograd.Function):
    @staticmethod
    def forward(ctx, trigger, ids, module):
        ctx.module, ctx.ids = module, _np(ids)
        return torch.from_numpy(module.table.lookup(ctx.ids))

    @staticmethod
    def backward(ctx, grad_output):
        ctx.module.table.step(ctx.ids, _np(grad_output), padding_idx=ctx.module.padding_idx)
        return torch.zeros(0, dtype=torch.float64), None, None


class Embedding(torch.nn.Module):
    """``torch.nn.Embedding``'s forward over a `ShardedEmbedding` `table`; backward applies
    the table's optimizer to the rows the ids touched (entries equal to `padding_idx` give
    no gradient, as in torch).

    Parameters
    ----------
    table : fastembed.distributed.ShardedEmbedding
        Built with an ``optimizer`` if the module is trained.
    padding_idx : int, optional
    """

    def __init__(self, table, padding_idx=None):
        super().__init__()
        self.table = table
        self.padding_idx = padding_idx
        # a tensor that requires grad, so the output records _Lookup's backward (the table
        # itself is not a torch parameter); its own gradient is empty
        self._trigger = torch.zeros(0, dtype=torch.float64, requires_grad=True)

    def forward(self, ids):
        if not isinstance(ids, torch.Tensor):
            ids = torch.as_tensor(ids)
        return _Lookup.apply(self._trigger, ids, self)

    def extra_repr(self):
        return f"{self.table!r}, padding_idx={self.padding_idx}"
