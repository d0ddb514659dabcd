"""Matrix factorization with fastembed: learn user and item embeddings from ratings.

Ratings are generated from hidden rank-8 user and item vectors plus noise; two
`fastembed.Embedding` layers learn them by minimising the squared error of
``dot(user_vector, item_vector)`` with Adagrad, an L2 penalty applied lazily (on the rows a
batch touches) and a per-embedding max-norm constraint. The held-out error falls from the
ratings' variance (about 1) towards the noise floor (0.01).

    python examples/train_embeddings.py            # about 20 seconds
    python examples/train_embeddings.py --quick    # under a second

(with fastembed installed, or from a source checkout with ``PYTHONPATH=.``)
"""
import argparse
import time

import numpy as np

import fastembed
from fastembed.constraints import MaxNorm
from fastembed.optimizers import Adagrad


def make_ratings(n_users, n_items, n_ratings, rank, rng):
    users_true = rng.standard_normal((n_users, rank)) / rank ** 0.25
    items_true = rng.standard_normal((n_items, rank)) / rank ** 0.25
    users = rng.integers(0, n_users, n_ratings)
    items = rng.integers(0, n_items, n_ratings)
    ratings = np.einsum("ij,ij->i", users_true[users], items_true[items])
    ratings += 0.1 * rng.standard_normal(n_ratings)
    return users, items, ratings.astype(np.float32)


def mse(user_layer, item_layer, users, items, ratings):
    predicted = np.einsum("ij,ij->i", user_layer(users), item_layer(items))
    return float(np.mean((predicted - ratings) ** 2))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small problem, a few epochs")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    n_users, n_items, n_ratings, epochs = ((500, 300, 40_000, 6) if args.quick
                                           else (20_000, 5_000, 2_000_000, 10))
    rng = np.random.default_rng(args.seed)
    users, items, ratings = make_ratings(n_users, n_items, n_ratings, rank=8, rng=rng)
    n_test = n_ratings // 10
    test = users[:n_test], items[:n_test], ratings[:n_test]
    users, items, ratings = users[n_test:], items[n_test:], ratings[n_test:]

    def layer(n_rows, seed):
        return fastembed.Embedding(n_rows, 16, embeddings_initializer="normal",
                                   embeddings_regularizer=fastembed.regularizers.L2(1e-5),
                                   embeddings_constraint=MaxNorm(4.0, axis=1),  # per row
                                   seed=seed)

    user_layer, item_layer = layer(n_users, args.seed), layer(n_items, args.seed + 1)
    optimizer = Adagrad(learning_rate=0.1)  # one optimizer, a state per table
    batch = 1024
    print(f"{n_users} users, {n_items} items, {len(ratings)} training ratings, "
          f"{epochs} epochs")
    print(f"epoch 0: test mse {mse(user_layer, item_layer, *test):.4f}")
    for epoch in range(1, epochs + 1):
        start, order, total = time.perf_counter(), rng.permutation(len(ratings)), 0.0
        for lo in range(0, len(order), batch):
            b = order[lo:lo + batch]
            u = user_layer(users[b], training=True)
            v = item_layer(items[b], training=True)
            error = np.einsum("ij,ij->i", u, v) - ratings[b]
            total += float(np.dot(error, error))
            grad = 2.0 * error[:, None]  # d sum(error**2) / d prediction
            # Two equivalent routes: backward + apply (the layer's RowSparseGrad) and the
            # fused step (sums and updates the touched rows in one pass).
            optimizer.apply(user_layer, user_layer.backward(grad * v))
            optimizer.step(item_layer, items[b], grad * u)
        print(f"epoch {epoch}: train mse {total / len(ratings):.4f}  test mse "
              f"{mse(user_layer, item_layer, *test):.4f}  ({time.perf_counter() - start:.2f} s)")


if __name__ == "__main__":
    main()
