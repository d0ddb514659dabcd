"""Row-quantized embedding tables (8 and 4 bits per value) for inference.

A `QuantizedTable` keeps each row in PyTorch's prepacked layout, the bytes of
``torch.ops.quantized.embedding_bag_byte_prepack`` and ``embedding_bag_4bit_prepack`` (and
of FBGEMM's rowwise quantizers):

* 8 bits: ``dim`` uint8 codes, then a float32 scale and a float32 bias (``dim + 8`` bytes);
* 4 bits: ``ceil(dim / 2)`` bytes, column ``2k`` in the low nibble of byte ``k`` and column
  ``2k + 1`` in the high nibble, then a float16 scale and a float16 bias. An odd ``dim`` is
  padded with a zero nibble (PyTorch's op refuses odd widths).

A value is ``code * scale + bias`` (float32). `fastembed.lookup` and `fastembed.lookup_bag`
take a QuantizedTable in place of a float table and dequantize only the rows they read,
inside the kernel; their results are float32.
"""
import numpy as np

from fastembed import _quantized_ops
from fastembed._arrays import as_array

__all__ = ["QuantizedTable", "quantize"]


def quantize(table, bits=8, *, num_threads=None):
    """Quantize each row of a table to `bits` (8 or 4) bits, as PyTorch's prepack ops do.

    Parameters
    ----------
    table : array_like, shape (n_rows, dim), real
        Converted to float32 first (as PyTorch's ops take it). Every value must be finite.
    bits : {8, 4}
        8: codes ``round((x - min) * 255 / (max - min))`` with float32 scale and bias;
        4: ``round((x - min) / scale)`` in 0..15 with ``scale = (max - min) / 15`` and both
        stored as float16.
    num_threads : int, optional

    Returns
    -------
    QuantizedTable
        Its ``packed`` bytes equal ``torch.ops.quantized.embedding_bag_byte_prepack``
        (bits=8) and ``embedding_bag_4bit_prepack`` (bits=4, even dim) on the float32 table.

    Raises
    ------
    ValueError
        `bits` not 8 or 4; `table` not 2-D or with no columns; a NaN or inf in it (the
        message names the first); a row whose range overflows float32 (8 bits) or whose
        minimum or scale overflows float16 (4 bits).
    TypeError
        `table` is not a real-valued array.
    """
    bits = _quantized_ops.check_bits(bits)
    packed = _quantized_ops.quantize_rows(table, bits, num_threads)
    dim = as_array(table, "table").shape[1]
    return QuantizedTable._trusted(packed, bits, dim)


class QuantizedTable:
    """An (n_rows, dim) embedding table stored in 8- or 4-bit rows; read-only, for inference.

    Build one with `fastembed.quantize` or `QuantizedTable.from_packed` (bytes made by
    PyTorch or FBGEMM) or `QuantizedTable.from_keras` (Keras 3's int8 form).

    Attributes
    ----------
    packed : ndarray, uint8, shape (n_rows, row_bytes)
        The prepacked rows, shareable with ``torch.ops.quantized.embedding_bag_byte_*`` /
        ``embedding_bag_4bit_*`` (``torch.from_numpy(qt.packed)``).
    bits : int
        8 or 4.
    dim : int
        Columns of the table.
    shape : tuple
        ``(n_rows, dim)``: the shape of the float table it stands for.
    """

    __slots__ = ("_packed", "_bits", "_dim")

    @classmethod
    def _trusted(cls, packed, bits, dim):
        self = object.__new__(cls)
        self._packed, self._bits, self._dim = packed, bits, dim
        return self

    def __init__(self, *args, **kwargs):
        raise TypeError("build a QuantizedTable with fastembed.quantize(table, bits), "
                        "QuantizedTable.from_packed(packed, bits) or QuantizedTable.from_keras")

    @classmethod
    def from_packed(cls, packed, bits, dim=None):
        """Wrap prepacked rows (no copy when `packed` is a uint8 array with contiguous rows).

        Parameters
        ----------
        packed : array_like, uint8, shape (n_rows, row_bytes)
            E.g. the output of ``torch.ops.quantized.embedding_bag_byte_prepack``.
        bits : {8, 4}
        dim : int, optional
            Columns. Default: ``row_bytes - 8`` for 8 bits and ``2 * (row_bytes - 4)`` for
            4 bits; give it for a 4-bit table of odd width.

        Raises
        ------
        ValueError
            `bits` not 8 or 4, `packed` not a 2-D uint8 array, or its width not the packed
            width of `dim` columns (or too narrow to hold a scale and a bias).
        """
        bits = _quantized_ops.check_bits(bits)
        arr = as_array(packed, "packed")
        if arr.dtype != np.uint8:
            raise ValueError(f"packed must be a uint8 array, got dtype {arr.dtype}")
        if arr.ndim != 2:
            raise ValueError(f"packed must be 2-D (n_rows, row_bytes), got shape {arr.shape}")
        width = arr.shape[1]
        if dim is None:
            dim = width - 8 if bits == 8 else 2 * (width - 4)
        elif isinstance(dim, (bool, np.bool_)) or not isinstance(dim, (int, np.integer)):
            raise TypeError(f"dim must be an int, got {type(dim).__name__}")
        dim = int(dim)
        if dim < 1 or _quantized_ops.row_bytes(dim, bits) != width:
            need = "dim + 8" if bits == 8 else "ceil(dim / 2) + 4"
            raise ValueError(f"packed rows of {width} bytes do not hold {bits}-bit rows of "
                             f"dim={dim} columns ({need} bytes each, dim >= 1)")
        if arr.strides[1] != 1 and arr.shape[1] > 1:
            arr = np.ascontiguousarray(arr)
        return cls._trusted(arr, bits, dim)

    @classmethod
    def from_keras(cls, embeddings, scale=None):
        """Import Keras 3's int8 embedding (``Embedding.quantize("int8")``).

        Keras stores int8 codes ``q`` and one float scale ``s`` per row, the value being
        ``q / s``. They become 8-bit rows with ``code = q + 128``, ``scale = 1 / s`` and
        ``bias = -128 / s`` (float32), so a value is ``q / s`` up to float32 rounding.

        Parameters
        ----------
        embeddings : keras Embedding layer quantized to "int8", or int8 array (n_rows, dim)
        scale : array_like, shape (n_rows,), optional
            The per-row scales (``layer.embeddings_scale``); needed with an array.
        """
        if scale is None:
            mode = getattr(embeddings, "quantization_mode", None)
            if mode != "int8":
                raise ValueError("from_keras takes a Keras Embedding quantized with "
                                 f'quantize("int8") (its quantization_mode is {mode!r}), '
                                 "or int8 codes and their per-row scales")
            codes = np.asarray(embeddings._embeddings)
            scale = np.asarray(embeddings.embeddings_scale)
        else:
            codes = as_array(embeddings, "embeddings")
        scale = np.asarray(as_array(scale, "scale"), np.float32)
        if codes.dtype != np.int8 or codes.ndim != 2 or codes.shape[1] < 1:
            raise ValueError(f"Keras int8 codes must be a 2-D int8 array, got {codes.dtype} "
                             f"of shape {codes.shape}")
        if scale.shape not in ((codes.shape[0],), (codes.shape[0], 1)):
            raise ValueError(f"scale must have one value per row ({codes.shape[0]},), got "
                             f"shape {scale.shape}")
        scale = scale.reshape(-1)
        if not (np.all(np.isfinite(scale)) and np.all(scale != 0)):
            raise ValueError("Keras scales must be finite and non-zero")
        n, dim = codes.shape
        packed = np.empty((n, dim + 8), np.uint8)
        packed[:, :dim] = codes.view(np.uint8) ^ np.uint8(0x80)  # q + 128, as a byte
        step = (np.float32(1) / scale).astype(np.float32)
        packed[:, dim:dim + 4] = step.reshape(n, 1).view(np.uint8)
        packed[:, dim + 4:] = (np.float32(-128) * step).astype(np.float32).reshape(n, 1).view(np.uint8)
        return cls._trusted(packed, 8, dim)

    @property
    def packed(self):
        return self._packed

    @property
    def bits(self):
        return self._bits

    @property
    def dim(self):
        return self._dim

    @property
    def shape(self):
        return (self._packed.shape[0], self._dim)

    @property
    def nbytes(self):
        """Bytes of the packed rows."""
        return self._packed.shape[0] * self._packed.shape[1]

    def dequantize(self, *, num_threads=None):
        """The float32 (n_rows, dim) table these rows stand for: ``code * scale + bias``."""
        return _quantized_ops.lookup(self, np.arange(self._packed.shape[0], dtype=np.int64),
                                     num_threads=num_threads)

    def __repr__(self):
        return f"QuantizedTable(shape={self.shape}, bits={self._bits})"
