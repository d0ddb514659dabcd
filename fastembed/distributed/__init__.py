"""Embedding tables sharded over Ray actors (needs Ray: ``pip install
'fastembed-kernels[ray]'``); see docs/distributed.md.

    from fastembed.distributed import ShardedEmbedding
    from fastembed.optimizers import Adam

    table = ShardedEmbedding(1_000_000, 64, num_shards=4, seed=0, optimizer=Adam(0.01))
    out = table.lookup(ids)              # == one-process fastembed.lookup(table, ids)
    table.step(ids, grad_output)         # == Adam.step(table, ids, grad_output)
    table.save("ckpt")                   # atomic; ShardedEmbedding.load("ckpt", num_shards=2)

Ray is imported when a table is created (or `connect` called), not with this package.
"""
from fastembed.distributed.table import ShardedEmbedding, ShardError, connect

__all__ = ["ShardedEmbedding", "ShardError", "connect"]
