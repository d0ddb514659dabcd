# Row-quantized tables (csrc/fe_quant.h): quantize, and the dequantizing lookup and bags.
from libc.stdint cimport uint8_t

cdef extern from "fe_quant.h" nogil:
    int64_t fe_qrow_bytes(int64_t dim, int bits)
    fe_status fe_quantize_rows(const char *table, int64_t n_rows, int64_t dim,
                               int64_t row_stride, int bits, uint8_t *packed, int n_threads,
                               int64_t *bad_pos)
    fe_status fe_qlookup_i32(const uint8_t *packed, int64_t n_rows, int64_t stride, int64_t dim,
                             int bits, const int32_t *ids, int64_t n_ids, float *out,
                             int n_threads, int64_t *bad_pos)
    fe_status fe_qlookup_i64(const uint8_t *packed, int64_t n_rows, int64_t stride, int64_t dim,
                             int bits, const int64_t *ids, int64_t n_ids, float *out,
                             int n_threads, int64_t *bad_pos)
    fe_status fe_qlookup_bag_i32(const uint8_t *packed, int64_t n_rows, int64_t stride,
                                 int64_t dim, int bits, const int32_t *ids, int64_t n_ids,
                                 const int64_t *bounds, int64_t n_bags, int mode,
                                 const float *psw, int64_t padding_idx, float *out,
                                 int n_threads, int64_t *bad_pos)
    fe_status fe_qlookup_bag_i64(const uint8_t *packed, int64_t n_rows, int64_t stride,
                                 int64_t dim, int bits, const int64_t *ids, int64_t n_ids,
                                 const int64_t *bounds, int64_t n_bags, int mode,
                                 const float *psw, int64_t padding_idx, float *out,
                                 int n_threads, int64_t *bad_pos)


def qrow_bytes(int64_t dim, int bits):
    """Bytes of one packed row of `dim` columns at `bits` (4 or 8), or -1."""
    return fe_qrow_bytes(dim, bits)


def quantize_rows(table, int bits, packed, int n_threads):
    """Quantize the 2-D float32 `table` (rows contiguous, possibly strided) into the
    C-contiguous uint8 `packed` (n_rows, qrow_bytes(dim, bits)). Returns (status, bad_pos):
    the Python layer words the error (a non-finite value's position, or a row whose range
    overflows)."""
    cdef Buffers bufs = Buffers()
    cdef Py_buffer *w = bufs.get(table, False)
    cdef Py_buffer *p = bufs.get(packed, True)
    cdef int64_t n_rows = w.shape[0], dim = w.shape[1], bad_pos = -1
    cdef fe_status status
    if (w.ndim != 2 or w.itemsize != 4 or fe_qrow_bytes(dim, bits) < 0
            or p.len != n_rows * fe_qrow_bytes(dim, bits)):
        raise ValueError("quantize_rows: inconsistent buffers (internal error)")
    with nogil:
        status = fe_quantize_rows(<const char *>w.buf, n_rows, dim, w.strides[0], bits,
                                  <uint8_t *>p.buf, n_threads, &bad_pos)
    return int(status), bad_pos


def qlookup(packed, int64_t dim, int bits, ids, out, int n_threads, ids_for_errors):
    """Dequantize the rows of the 2-D uint8 `packed` (rows contiguous, possibly strided) at
    the C-contiguous int32/int64 `ids` into the C-contiguous float32 `out` (len(ids), dim)."""
    cdef Buffers bufs = Buffers()
    cdef Py_buffer *q = bufs.get(packed, False)
    cdef Py_buffer *i = bufs.get(ids, False)
    cdef Py_buffer *o = bufs.get(out, True)
    cdef int64_t n_rows = q.shape[0], n_ids = i.len // i.itemsize, bad_pos = -1
    cdef fe_status status
    if (q.ndim != 2 or q.itemsize != 1 or o.itemsize != 4 or q.shape[1] != fe_qrow_bytes(dim, bits)
            or dim < 0 or (dim > 0 and n_ids > INT64_MAX // dim // 4) or o.len != n_ids * dim * 4):
        raise ValueError("qlookup: inconsistent buffers (internal error)")
    with nogil:
        if i.itemsize == 4:
            status = fe_qlookup_i32(<const uint8_t *>q.buf, n_rows, q.strides[0], dim, bits,
                                    <const int32_t *>i.buf, n_ids, <float *>o.buf, n_threads,
                                    &bad_pos)
        else:
            status = fe_qlookup_i64(<const uint8_t *>q.buf, n_rows, q.strides[0], dim, bits,
                                    <const int64_t *>i.buf, n_ids, <float *>o.buf, n_threads,
                                    &bad_pos)
    if status != FE_OK:
        raise_status(status, bad_pos, ids_for_errors, n_rows)


def qlookup_bag(packed, int64_t dim, int bits, ids, bounds, int mode, psw, int64_t padding_idx,
                out, int n_threads, ids_for_errors):
    """Pool dequantized rows of `packed` (as in qlookup) into the C-contiguous float32 `out`
    (n_bags, dim); `bounds` int64 (n_bags + 1), `psw` None or C-contiguous float32 like ids."""
    cdef Buffers bufs = Buffers()
    cdef Py_buffer *q = bufs.get(packed, False)
    cdef Py_buffer *i = bufs.get(ids, False)
    cdef Py_buffer *bd = bufs.get(bounds, False)
    cdef Py_buffer *o = bufs.get(out, True)
    cdef Py_buffer *p
    cdef const float *psw_ptr = NULL
    cdef int64_t n_rows = q.shape[0], n_ids = i.len // i.itemsize, bad_pos = -1
    cdef int64_t n_bags = bd.len // 8 - 1
    cdef fe_status status
    if (q.ndim != 2 or q.itemsize != 1 or o.itemsize != 4 or bd.itemsize != 8 or n_bags < 0
            or q.shape[1] != fe_qrow_bytes(dim, bits) or dim < 0
            or (dim > 0 and n_bags > INT64_MAX // dim // 4) or o.len != n_bags * dim * 4):
        raise ValueError("qlookup_bag: inconsistent buffers (internal error)")
    if psw is not None:
        p = bufs.get(psw, False)
        if p.itemsize != 4 or p.len != n_ids * 4:
            raise ValueError("qlookup_bag: inconsistent buffers (internal error)")
        psw_ptr = <const float *>p.buf
    with nogil:
        if i.itemsize == 4:
            status = fe_qlookup_bag_i32(<const uint8_t *>q.buf, n_rows, q.strides[0], dim, bits,
                                        <const int32_t *>i.buf, n_ids, <const int64_t *>bd.buf,
                                        n_bags, mode, psw_ptr, padding_idx, <float *>o.buf,
                                        n_threads, &bad_pos)
        else:
            status = fe_qlookup_bag_i64(<const uint8_t *>q.buf, n_rows, q.strides[0], dim, bits,
                                        <const int64_t *>i.buf, n_ids, <const int64_t *>bd.buf,
                                        n_bags, mode, psw_ptr, padding_idx, <float *>o.buf,
                                        n_threads, &bad_pos)
    if status != FE_OK:
        raise_status(status, bad_pos, ids_for_errors, n_rows)
