"""lookup_bag on row-quantized tables (8 and 4 bits, PyTorch's prepacked layout) against
the float32 kernel on the same values, torch's quantized embedding_bag ops on the same
bytes and FBGEMM's inference TBE (IntNBitTableBatchedEmbeddingBagsCodegen, CPU, float32
output) when fbgemm_gpu imports. Same table shape and ids as the float32 lookup_bag cases.

The table is built from random codes with scales and biases that float16 holds exactly,
so FBGEMM's rows (float16 scale and bias) stand for the same values as torch's 8-bit rows
(float32 scale and bias) and every implementation is checked against one reference.
Memory per row of each form (float32, float16, the packed rows, FBGEMM's) is in the case's
params (``row_bytes``) and in each variant's name; the summary adds the float32 kernel's
time / the quantized one's."""
import numpy as np

import fastembed
from fastembed.bench import peers
from fastembed.bench.core import (Case, Impl, Timed, close, make_ids, optional_import,
                                  register, short)
from fastembed.bench.lookup_bag import bag_lengths

# (n_rows, dim, n_bags, mean bag length, id distribution, bits)
SHAPES = {
    "full": [
        (1_000_000, 64, 100_000, 20, "uniform", 8),
        (1_000_000, 64, 100_000, 20, "uniform", 4),
        (1_000_000, 64, 100_000, 20, "zipf", 8),
        (1_000_000, 128, 50_000, 20, "uniform", 8),
    ],
    "quick": [
        (250_000, 64, 5_000, 20, "uniform", 8),
        (250_000, 64, 5_000, 20, "uniform", 4),
    ],
    "tiny": [
        (1_000, 8, 40, 5, "uniform", 8),
        (1_000, 8, 40, 5, "zipf", 4),
    ],
}


@register("lookup_bag (quantized)", available=lambda: hasattr(fastembed, "quantize"),
          requires="fastembed.quantize")
def cases(size):
    return [_case(*shape) for shape in SHAPES[size]]


def quantized_rows(rng, n_rows, dim, bits):
    """(codes, scale, bias): random codes, float16-exact scales and biases."""
    code_bytes = dim if bits == 8 else (dim + 1) // 2
    codes = rng.integers(0, 256, (n_rows, code_bytes), dtype=np.uint8)
    if bits == 4 and dim % 2:
        codes[:, -1] &= 15
    scale = rng.uniform(1e-3, 1e-2, n_rows).astype(np.float16)
    bias = rng.uniform(-1.0, 0.0, n_rows).astype(np.float16)
    return codes, scale, bias


def packed_torch_layout(codes, scale, bias, bits):
    params = np.stack([scale, bias], axis=1)
    if bits == 8:
        params = params.astype(np.float32)
    return np.hstack([codes, params.view(np.uint8)])


def _case(n_rows, dim, n_bags, mean_len, dist, bits):
    def make():
        rng = np.random.default_rng(0)
        codes, scale, bias = quantized_rows(rng, n_rows, dim, bits)
        qt = fastembed.QuantizedTable.from_packed(
            packed_torch_layout(codes, scale, bias, bits), bits, dim=dim)
        lengths = bag_lengths(rng, n_bags, mean_len)
        offsets = np.zeros(n_bags, np.int64)
        np.cumsum(lengths[:-1], out=offsets[1:])
        ids = make_ids(rng, dist, int(lengths.sum()), n_rows)
        return {"qt": qt, "codes": codes, "scale": scale, "bias": bias,
                "weights": qt.dequantize(), "ids": ids, "offsets": offsets}

    def moved(d):  # ids, offsets, packed rows read, bags written
        return (d["ids"].nbytes + d["offsets"].nbytes
                + d["ids"].size * d["qt"].packed.shape[1] + n_bags * dim * 4)

    row_bytes = form_row_bytes(dim, bits)
    return Case(
        kernel="lookup_bag (quantized)",
        name=f"{short(n_rows)}x{dim} {bits}-bit {short(n_bags)} bags~{mean_len} {dist} sum",
        params={"n_rows": n_rows, "dim": dim, "n_bags": n_bags, "mean_bag": mean_len,
                "bits": bits, "ids": dist, "mode": "sum", "row_bytes": row_bytes},
        make=make,
        reference=reference_sum,
        bytes_moved=moved,
        impls=_impls(bits, row_bytes),
        compare=close(rtol_f32=5e-5),
        ratios=[(f"float32 kernel / {bits}-bit", _F32_VARIANT.format(row_bytes["float32"]),
                 _Q_VARIANT.format(bits, row_bytes[f"{bits}-bit"]))],
    )


_Q_VARIANT = "lookup_bag({}-bit QuantizedTable, {} B/row)"
_F32_VARIANT = "lookup_bag(float32 table, {} B/row)"


def form_row_bytes(dim, bits):
    """Memory per row of each form of a `dim`-column table: float32, float16 (lookup's half
    tables), torch/fastembed's packed `bits` rows, FBGEMM's (float16 scale and bias)."""
    return {"float32": 4 * dim, "float16": 2 * dim,
            f"{bits}-bit": fastembed.quantize(np.zeros((1, dim), np.float32),
                                             bits).packed.shape[1],
            f"fbgemm INT{bits}": (dim if bits == 8 else (dim + 1) // 2) + 4}


def reference_sum(d):
    """NumPy: gather the dequantized rows (float64), sum each bag."""
    rows = d["weights"][d["ids"]].astype(np.float64)
    return np.add.reduceat(rows, d["offsets"], axis=0).astype(np.float32)


def _impls(bits, row_bytes):
    """The variants, each named with the bytes a row of its form takes."""
    impls = [
        Impl("fastembed", _Q_VARIANT.format(bits, row_bytes[f"{bits}-bit"]), _fastembed("qt"),
             threaded=True),
        Impl("fastembed", _F32_VARIANT.format(row_bytes["float32"]), _fastembed("weights"),
             threaded=True),
    ]
    torch = peers.torch()
    if torch is not None:
        name = "embedding_bag_byte" if bits == 8 else "embedding_bag_4bit"
        impls.append(Impl("torch", f"quantized.{name}_rowwise_offsets "
                                   f"({row_bytes[f'{bits}-bit']} B/row)", _torch(bits),
                          threaded=True))
        if fbgemm() is not None:
            impls.append(Impl("fbgemm", f"IntNBitTableBatchedEmbeddingBagsCodegen INT{bits} "
                                        f"({row_bytes[f'fbgemm INT{bits}']} B/row)",
                              _fbgemm(bits), threaded=True))
    return impls


def _fastembed(key):
    def prepare(d, threads):
        table, ids, offsets = d[key], d["ids"], d["offsets"]
        return Timed(lambda: fastembed.lookup_bag(table, ids, offsets, num_threads=threads))
    return prepare


def _torch(bits):
    def prepare(d, threads):
        torch = peers.torch()
        op = (torch.ops.quantized.embedding_bag_byte_rowwise_offsets if bits == 8
              else torch.ops.quantized.embedding_bag_4bit_rowwise_offsets)
        packed = torch.from_numpy(d["qt"].packed)
        ids, offsets = torch.from_numpy(d["ids"]), torch.from_numpy(d["offsets"])
        return Timed(lambda: op(packed, ids, offsets), output=lambda r: r.numpy())
    return prepare


def fbgemm():
    """FBGEMM's inference TBE module class, or None (fbgemm_gpu missing, or built for
    another torch)."""
    if peers.torch() is None or optional_import("fbgemm_gpu") is None:
        return None
    try:
        from fbgemm_gpu.split_table_batched_embeddings_ops_inference import (
            IntNBitTableBatchedEmbeddingBagsCodegen)
    except Exception:
        return None
    return IntNBitTableBatchedEmbeddingBagsCodegen


def _fbgemm(bits):
    def prepare(d, threads):
        torch = peers.torch()
        torch.set_num_threads(threads)
        from fbgemm_gpu.split_embedding_configs import SparseType
        from fbgemm_gpu.split_table_batched_embeddings_ops_common import (EmbeddingLocation,
                                                                          PoolingMode)
        n_rows, dim = d["qt"].shape
        kind = SparseType.INT8 if bits == 8 else SparseType.INT4
        tbe = fbgemm()([("table", n_rows, dim, kind, EmbeddingLocation.HOST)], device="cpu",
                       output_dtype=SparseType.FP32, pooling_mode=PoolingMode.SUM)
        tbe.fill_random_weights()  # allocates; then the same codes, scales and biases
        codes, scale, bias = tbe.split_embedding_weights_with_scale_bias(
            split_scale_bias_mode=2)[0]
        codes.copy_(torch.from_numpy(d["codes"]))
        scale.copy_(torch.from_numpy(d["scale"]).reshape(scale.shape))
        bias.copy_(torch.from_numpy(d["bias"]).reshape(bias.shape))
        ids = torch.from_numpy(d["ids"].astype(np.int32))
        offsets = torch.from_numpy(np.append(d["offsets"], d["ids"].size).astype(np.int32))
        return Timed(lambda: tbe(ids, offsets), output=lambda r: r.numpy())
    return prepare
