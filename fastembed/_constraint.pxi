# constraints: Keras's MaxNorm, NonNeg, UnitNorm, MinMaxNorm in place (fe_constrain_*)

def constrain_rows(weights, ids, int kind, double a, double b, double rate, int n_threads,
                   ids_for_errors):
    """Project in place the distinct rows of the C-contiguous int32/int64 `ids` in the
    writable 2-D float32/float64 `weights` (rows contiguous, possibly strided). A bad id
    raises IndexError naming its position in `ids_for_errors`; nothing is then written."""
    cdef Buffers bufs = Buffers()
    cdef Py_buffer *w = bufs.get(weights, True)
    cdef Py_buffer *i = bufs.get(ids, False)
    if w.ndim != 2:
        raise ValueError("constraint: inconsistent buffers (internal error)")
    cdef int64_t n_rows = w.shape[0], dim = w.shape[1], stride = w.strides[0]
    cdef int64_t n_ids = i.len // i.itemsize, bad_pos = -1
    cdef fe_status status
    with nogil:
        if w.itemsize == 4:
            if i.itemsize == 4:
                status = fe_constrain_rows_f32_i32(<char *>w.buf, n_rows, dim, stride,
                                                   <const int32_t *>i.buf, n_ids, kind, a, b,
                                                   rate, n_threads, &bad_pos)
            else:
                status = fe_constrain_rows_f32_i64(<char *>w.buf, n_rows, dim, stride,
                                                   <const int64_t *>i.buf, n_ids, kind, a, b,
                                                   rate, n_threads, &bad_pos)
        else:
            if i.itemsize == 4:
                status = fe_constrain_rows_f64_i32(<char *>w.buf, n_rows, dim, stride,
                                                   <const int32_t *>i.buf, n_ids, kind, a, b,
                                                   rate, n_threads, &bad_pos)
            else:
                status = fe_constrain_rows_f64_i64(<char *>w.buf, n_rows, dim, stride,
                                                   <const int64_t *>i.buf, n_ids, kind, a, b,
                                                   rate, n_threads, &bad_pos)
    if status != FE_OK:
        raise_status(status, bad_pos, ids_for_errors, n_rows, name="rows")


def constrain_table(weights, int axis, int kind, double a, double b, double rate,
                    int n_threads):
    """Project in place every row (axis 1) or every column (axis 0) of the writable 2-D
    float32/float64 `weights` (rows contiguous, possibly strided)."""
    cdef Buffers bufs = Buffers()
    cdef Py_buffer *w = bufs.get(weights, True)
    if w.ndim != 2:
        raise ValueError("constraint: inconsistent buffers (internal error)")
    cdef int64_t n_rows = w.shape[0], dim = w.shape[1], stride = w.strides[0]
    cdef fe_status status
    with nogil:
        if w.itemsize == 4:
            status = fe_constrain_table_f32(<char *>w.buf, n_rows, dim, stride, axis, kind, a, b,
                                            rate, n_threads)
        else:
            status = fe_constrain_table_f64(<char *>w.buf, n_rows, dim, stride, axis, kind, a, b,
                                            rate, n_threads)
    if status != FE_OK:
        raise_status(status, 0, None, n_rows)
