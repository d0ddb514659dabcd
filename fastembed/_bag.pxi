# lookup_bag: out[b, :] = pooled rows of weights at ids[bounds[b]:bounds[b + 1]]

def lookup_bag(weights, ids, bounds, int mode, psw, int64_t padding_idx, out, int n_threads,
               ids_for_errors):
    """Pool rows of the 2-D table `weights` (rows contiguous, possibly strided) into `out`
    (n_bags, dim), C-contiguous, same dtype. `ids` and `bounds` are C-contiguous (int32 or
    int64 ids, int64 bounds of length n_bags + 1); `psw` is None or C-contiguous with the
    dtype of `weights`. A bad id raises IndexError naming its position in `ids_for_errors`."""
    cdef Buffers bufs = Buffers()
    cdef Py_buffer *w = bufs.get(weights, False)
    cdef Py_buffer *i = bufs.get(ids, False)
    cdef Py_buffer *bd = bufs.get(bounds, False)
    cdef Py_buffer *o = bufs.get(out, True)
    cdef Py_buffer *p = NULL
    cdef const void *psw_ptr = NULL
    cdef int64_t n_rows = w.shape[0], dim = w.shape[1], n_ids = i.len // i.itemsize
    cdef int64_t n_bags = bd.len // 8 - 1, bad_pos = -1
    cdef fe_status status
    if w.ndim != 2 or o.itemsize != w.itemsize or bd.itemsize != 8 or n_bags < 0:
        raise ValueError("lookup_bag: inconsistent buffers (internal error)")
    if dim > 0 and n_bags > INT64_MAX // dim // w.itemsize:
        raise ValueError("array sizes overflow a 64-bit size product")
    if o.len != n_bags * dim * w.itemsize:
        raise ValueError("lookup_bag: inconsistent buffers (internal error)")
    if psw is not None:
        p = bufs.get(psw, False)
        if p.itemsize != w.itemsize or p.len != n_ids * p.itemsize:
            raise ValueError("lookup_bag: inconsistent buffers (internal error)")
        psw_ptr = p.buf
    with nogil:
        if w.itemsize == 4 and i.itemsize == 4:
            status = fe_lookup_bag_f32_i32(<const char *>w.buf, n_rows, dim, w.strides[0],
                                           <const int32_t *>i.buf, n_ids, <const int64_t *>bd.buf,
                                           n_bags, mode, <const float *>psw_ptr, padding_idx,
                                           <float *>o.buf, n_threads, &bad_pos)
        elif w.itemsize == 4:
            status = fe_lookup_bag_f32_i64(<const char *>w.buf, n_rows, dim, w.strides[0],
                                           <const int64_t *>i.buf, n_ids, <const int64_t *>bd.buf,
                                           n_bags, mode, <const float *>psw_ptr, padding_idx,
                                           <float *>o.buf, n_threads, &bad_pos)
        elif i.itemsize == 4:
            status = fe_lookup_bag_f64_i32(<const char *>w.buf, n_rows, dim, w.strides[0],
                                           <const int32_t *>i.buf, n_ids, <const int64_t *>bd.buf,
                                           n_bags, mode, <const double *>psw_ptr, padding_idx,
                                           <double *>o.buf, n_threads, &bad_pos)
        else:
            status = fe_lookup_bag_f64_i64(<const char *>w.buf, n_rows, dim, w.strides[0],
                                           <const int64_t *>i.buf, n_ids, <const int64_t *>bd.buf,
                                           n_bags, mode, <const double *>psw_ptr, padding_idx,
                                           <double *>o.buf, n_threads, &bad_pos)
    if status != FE_OK:
        raise_status(status, bad_pos, ids_for_errors, n_rows)
