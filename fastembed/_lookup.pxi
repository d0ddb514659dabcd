# lookup: out[i, :] = weights[ids[i], :]

def lookup(weights, ids, out, int n_threads, ids_for_errors):
    """Gather rows of the 2-D table `weights` (each row contiguous, rows possibly strided)
    at the C-contiguous int32/int64 `ids` into `out`, (len(ids), dim) C-contiguous, same
    dtype. A bad id raises IndexError naming its position in `ids_for_errors`."""
    cdef Buffers bufs = Buffers()
    cdef Py_buffer *w = bufs.get(weights, False)
    cdef Py_buffer *i = bufs.get(ids, False)
    cdef Py_buffer *o = bufs.get(out, True)
    cdef int64_t n_rows = w.shape[0], n_ids = i.len // i.itemsize
    cdef int64_t row_bytes = w.shape[1] * w.itemsize
    cdef int64_t bad_pos = -1
    cdef fe_status status
    if w.ndim != 2 or o.itemsize != w.itemsize:
        raise ValueError("lookup: inconsistent buffers (internal error)")
    # n_ids * row_bytes is checked before it is formed: signed overflow is undefined
    if row_bytes > 0 and n_ids > INT64_MAX // row_bytes:
        raise ValueError("array sizes overflow a 64-bit size product")
    if o.len != n_ids * row_bytes:
        raise ValueError("lookup: inconsistent buffers (internal error)")
    with nogil:
        if i.itemsize == 4:
            status = fe_lookup_i32(<const char *>w.buf, n_rows, row_bytes, w.strides[0],
                                   <const int32_t *>i.buf, n_ids, <char *>o.buf, n_threads,
                                   &bad_pos)
        else:
            status = fe_lookup_i64(<const char *>w.buf, n_rows, row_bytes, w.strides[0],
                                   <const int64_t *>i.buf, n_ids, <char *>o.buf, n_threads,
                                   &bad_pos)
    if status != FE_OK:
        raise_status(status, bad_pos, ids_for_errors, n_rows)
