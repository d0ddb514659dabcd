# float16 / bfloat16 tables in the in-place kernels (renorm_, row and table constraints).
# The Python layer passes the table as a uint16 view (NumPy cannot export bfloat16 through
# the buffer protocol) and says which half type it holds.

cdef Py_buffer *_half_table(Buffers bufs, weights) except NULL:
    cdef Py_buffer *w = bufs.get(weights, True)
    if w.ndim != 2 or w.itemsize != 2:
        raise ValueError("half kernel: inconsistent buffers (internal error)")
    return w


def renorm_half(weights, bint bf16, ids, double max_norm, double norm_type, int n_threads,
                ids_for_errors):
    """renorm() on a float16 (bf16=False) or bfloat16 table given as a writable uint16 view."""
    cdef Buffers bufs = Buffers()
    cdef Py_buffer *w = _half_table(bufs, weights)
    cdef Py_buffer *i = bufs.get(ids, False)
    cdef int64_t n_rows = w.shape[0], dim = w.shape[1], stride = w.strides[0]
    cdef int64_t n_ids = i.len // i.itemsize, bad_pos = -1
    cdef char *t = <char *>w.buf
    cdef fe_status status
    with nogil:
        if bf16 and i.itemsize == 4:
            status = fe_renorm_bf16_i32(t, n_rows, dim, stride, <const int32_t *>i.buf, n_ids,
                                        max_norm, norm_type, n_threads, &bad_pos)
        elif bf16:
            status = fe_renorm_bf16_i64(t, n_rows, dim, stride, <const int64_t *>i.buf, n_ids,
                                        max_norm, norm_type, n_threads, &bad_pos)
        elif i.itemsize == 4:
            status = fe_renorm_f16_i32(t, n_rows, dim, stride, <const int32_t *>i.buf, n_ids,
                                       max_norm, norm_type, n_threads, &bad_pos)
        else:
            status = fe_renorm_f16_i64(t, n_rows, dim, stride, <const int64_t *>i.buf, n_ids,
                                       max_norm, norm_type, n_threads, &bad_pos)
    if status != FE_OK:
        raise_status(status, bad_pos, ids_for_errors, n_rows)


def constrain_rows_half(weights, bint bf16, ids, int kind, double a, double b, double rate,
                        int n_threads, ids_for_errors):
    """constrain_rows() on a float16/bfloat16 table given as a writable uint16 view."""
    cdef Buffers bufs = Buffers()
    cdef Py_buffer *w = _half_table(bufs, weights)
    cdef Py_buffer *i = bufs.get(ids, False)
    cdef int64_t n_rows = w.shape[0], dim = w.shape[1], stride = w.strides[0]
    cdef int64_t n_ids = i.len // i.itemsize, bad_pos = -1
    cdef char *t = <char *>w.buf
    cdef fe_status status
    with nogil:
        if bf16 and i.itemsize == 4:
            status = fe_constrain_rows_bf16_i32(t, n_rows, dim, stride, <const int32_t *>i.buf,
                                                n_ids, kind, a, b, rate, n_threads, &bad_pos)
        elif bf16:
            status = fe_constrain_rows_bf16_i64(t, n_rows, dim, stride, <const int64_t *>i.buf,
                                                n_ids, kind, a, b, rate, n_threads, &bad_pos)
        elif i.itemsize == 4:
            status = fe_constrain_rows_f16_i32(t, n_rows, dim, stride, <const int32_t *>i.buf,
                                               n_ids, kind, a, b, rate, n_threads, &bad_pos)
        else:
            status = fe_constrain_rows_f16_i64(t, n_rows, dim, stride, <const int64_t *>i.buf,
                                               n_ids, kind, a, b, rate, n_threads, &bad_pos)
    if status != FE_OK:
        raise_status(status, bad_pos, ids_for_errors, n_rows, name="rows")


def constrain_table_half(weights, bint bf16, int axis, int kind, double a, double b,
                         double rate, int n_threads):
    """constrain_table() on a float16/bfloat16 table given as a writable uint16 view."""
    cdef Buffers bufs = Buffers()
    cdef Py_buffer *w = _half_table(bufs, weights)
    cdef int64_t n_rows = w.shape[0], dim = w.shape[1], stride = w.strides[0]
    cdef fe_status status
    with nogil:
        if bf16:
            status = fe_constrain_table_bf16(<char *>w.buf, n_rows, dim, stride, axis, kind, a,
                                             b, rate, n_threads)
        else:
            status = fe_constrain_table_f16(<char *>w.buf, n_rows, dim, stride, axis, kind, a,
                                            b, rate, n_threads)
    if status != FE_OK:
        raise_status(status, 0, None, n_rows)
