# lookup_bag: out[b, :] = pooled rows of weights at ids[bounds[b]:bounds[b + 1]]

def lookup_bag(weights, ids, bounds, int mode, psw, int64_t padding_idx, out, argmax,
               int n_threads, ids_for_errors, bint bf16=False):
    """Pool rows of the 2-D table `weights` (rows contiguous, possibly strided) into `out`
    (n_bags, dim), C-contiguous, same dtype. `ids` and `bounds` are C-contiguous (int32 or
    int64 ids, int64 bounds of length n_bags + 1); `psw` is None or C-contiguous with the
    dtype of `weights`; `argmax` is None or (mode max) a C-contiguous int64 array like `out`.
    A half table (float16, or bfloat16 with `bf16`) comes as a uint16 view, psw too; its
    `out` is a uint16 view as well, or float32 with FE_BAG_OUT_F32 in `mode`.
    A bad id raises IndexError naming its position in `ids_for_errors`."""
    cdef Buffers bufs = Buffers()
    cdef Py_buffer *w = bufs.get(weights, False)
    cdef Py_buffer *i = bufs.get(ids, False)
    cdef Py_buffer *bd = bufs.get(bounds, False)
    cdef Py_buffer *o = bufs.get(out, True)
    cdef Py_buffer *p = NULL
    cdef const void *psw_ptr = NULL
    cdef int64_t *am_ptr = NULL
    cdef Py_buffer *a
    cdef int64_t n_rows = w.shape[0], dim = w.shape[1], n_ids = i.len // i.itemsize
    cdef int64_t n_bags = bd.len // 8 - 1, bad_pos = -1
    cdef fe_status status
    cdef int64_t o_size = 4 if (w.itemsize == 2 and mode & FE_BAG_OUT_F32) else w.itemsize
    if w.ndim != 2 or o.itemsize != o_size or bd.itemsize != 8 or n_bags < 0:
        raise ValueError("lookup_bag: inconsistent buffers (internal error)")
    if dim > 0 and n_bags > INT64_MAX // dim // 8:
        raise ValueError("array sizes overflow a 64-bit size product")
    if o.len != n_bags * dim * o_size:
        raise ValueError("lookup_bag: inconsistent buffers (internal error)")
    if psw is not None:
        p = bufs.get(psw, False)
        if p.itemsize != w.itemsize or p.len != n_ids * p.itemsize:
            raise ValueError("lookup_bag: inconsistent buffers (internal error)")
        psw_ptr = p.buf
    if argmax is not None:
        a = bufs.get(argmax, True)
        if a.itemsize != 8 or a.len != n_bags * dim * 8:
            raise ValueError("lookup_bag: inconsistent buffers (internal error)")
        am_ptr = <int64_t *>a.buf
    with nogil:
        if w.itemsize == 2 and bf16 and i.itemsize == 4:
            status = fe_lookup_bag_bf16_i32(<const char *>w.buf, n_rows, dim, w.strides[0],
                                            <const int32_t *>i.buf, n_ids,
                                            <const int64_t *>bd.buf, n_bags, mode,
                                            <const uint16_t *>psw_ptr, padding_idx,
                                            <uint16_t *>o.buf, am_ptr, n_threads, &bad_pos)
        elif w.itemsize == 2 and bf16:
            status = fe_lookup_bag_bf16_i64(<const char *>w.buf, n_rows, dim, w.strides[0],
                                            <const int64_t *>i.buf, n_ids,
                                            <const int64_t *>bd.buf, n_bags, mode,
                                            <const uint16_t *>psw_ptr, padding_idx,
                                            <uint16_t *>o.buf, am_ptr, n_threads, &bad_pos)
        elif w.itemsize == 2 and i.itemsize == 4:
            status = fe_lookup_bag_f16_i32(<const char *>w.buf, n_rows, dim, w.strides[0],
                                           <const int32_t *>i.buf, n_ids,
                                           <const int64_t *>bd.buf, n_bags, mode,
                                           <const uint16_t *>psw_ptr, padding_idx,
                                           <uint16_t *>o.buf, am_ptr, n_threads, &bad_pos)
        elif w.itemsize == 2:
            status = fe_lookup_bag_f16_i64(<const char *>w.buf, n_rows, dim, w.strides[0],
                                           <const int64_t *>i.buf, n_ids,
                                           <const int64_t *>bd.buf, n_bags, mode,
                                           <const uint16_t *>psw_ptr, padding_idx,
                                           <uint16_t *>o.buf, am_ptr, n_threads, &bad_pos)
        elif w.itemsize == 4 and i.itemsize == 4:
            status = fe_lookup_bag_f32_i32(<const char *>w.buf, n_rows, dim, w.strides[0],
                                           <const int32_t *>i.buf, n_ids, <const int64_t *>bd.buf,
                                           n_bags, mode, <const float *>psw_ptr, padding_idx,
                                           <float *>o.buf, am_ptr, n_threads, &bad_pos)
        elif w.itemsize == 4:
            status = fe_lookup_bag_f32_i64(<const char *>w.buf, n_rows, dim, w.strides[0],
                                           <const int64_t *>i.buf, n_ids, <const int64_t *>bd.buf,
                                           n_bags, mode, <const float *>psw_ptr, padding_idx,
                                           <float *>o.buf, am_ptr, n_threads, &bad_pos)
        elif i.itemsize == 4:
            status = fe_lookup_bag_f64_i32(<const char *>w.buf, n_rows, dim, w.strides[0],
                                           <const int32_t *>i.buf, n_ids, <const int64_t *>bd.buf,
                                           n_bags, mode, <const double *>psw_ptr, padding_idx,
                                           <double *>o.buf, am_ptr, n_threads, &bad_pos)
        else:
            status = fe_lookup_bag_f64_i64(<const char *>w.buf, n_rows, dim, w.strides[0],
                                           <const int64_t *>i.buf, n_ids, <const int64_t *>bd.buf,
                                           n_bags, mode, <const double *>psw_ptr, padding_idx,
                                           <double *>o.buf, am_ptr, n_threads, &bad_pos)
    if status != FE_OK:
        raise_status(status, bad_pos, ids_for_errors, n_rows)


def bag_grad(grad, bag_of, scale, argmax, perm, starts, int64_t skip_group, bint scale_by_count,
             values, int n_threads):
    """values[r] = the in-order, double-accumulated sum over the grouped positions k of group
    r (starts[g]:starts[g + 1], skipping skip_group) of scale[k] * grad[bag_of[k]], or, with
    `argmax`, of the columns of grad[bag_of[k]] that position perm[k] won. bag_of and scale
    are in grouped order (bag_of[perm] of the per-position arrays). All arrays C-contiguous:
    grad and values (n, dim) float32/float64 alike, bag_of/perm/starts/argmax int64, scale
    float64 or None. With `scale_by_count` each group's sum is divided by its number of
    positions (scale_grad_by_freq)."""
    cdef Buffers bufs = Buffers()
    cdef Py_buffer *g = bufs.get(grad, False)
    cdef Py_buffer *bo = bufs.get(bag_of, False)
    cdef Py_buffer *pm = bufs.get(perm, False)
    cdef Py_buffer *st = bufs.get(starts, False)
    cdef Py_buffer *v = bufs.get(values, True)
    cdef Py_buffer *sc
    cdef Py_buffer *am
    cdef const double *sc_ptr = NULL
    cdef const int64_t *am_ptr = NULL
    cdef int64_t n_bags = g.shape[0], dim = g.shape[1], n_ids = bo.len // 8
    cdef int64_t n_groups = st.len // 8 - 1
    cdef fe_status status
    if (g.ndim != 2 or pm.len != bo.len or n_groups < 0 or v.itemsize != g.itemsize
            or v.len != (n_groups - (skip_group >= 0)) * dim * g.itemsize):
        raise ValueError("bag_grad: inconsistent buffers (internal error)")
    if scale is not None:
        sc = bufs.get(scale, False)
        if sc.len != n_ids * 8:
            raise ValueError("bag_grad: inconsistent buffers (internal error)")
        sc_ptr = <const double *>sc.buf
    if argmax is not None:
        am = bufs.get(argmax, False)
        if am.len != n_bags * dim * 8:
            raise ValueError("bag_grad: inconsistent buffers (internal error)")
        am_ptr = <const int64_t *>am.buf
    with nogil:
        if g.itemsize == 4:
            status = fe_bag_grad_f32(<const float *>g.buf, n_bags, dim, <const int64_t *>bo.buf,
                                     sc_ptr, am_ptr, n_ids, <const int64_t *>pm.buf,
                                     <const int64_t *>st.buf, n_groups, skip_group,
                                     scale_by_count, <float *>v.buf, n_threads)
        else:
            status = fe_bag_grad_f64(<const double *>g.buf, n_bags, dim, <const int64_t *>bo.buf,
                                     sc_ptr, am_ptr, n_ids, <const int64_t *>pm.buf,
                                     <const int64_t *>st.buf, n_groups, skip_group,
                                     scale_by_count, <double *>v.buf, n_threads)
    if status != FE_OK:
        raise_status(status, -1, None, 0)


def bag_dots(weights, ids, bag_of, grad, dots, int n_threads, bint bf16=False):
    """dots[p] = weights[ids[p]] . grad[bag_of[p]] (float64), for the per_sample_weights
    gradient. weights as in lookup_bag; ids int32/int64, bag_of int64, grad (n_bags, dim) of
    the table's dtype (both uint16 views for half tables: float16, or bfloat16 with bf16)."""
    cdef Buffers bufs = Buffers()
    cdef Py_buffer *w = bufs.get(weights, False)
    cdef Py_buffer *i = bufs.get(ids, False)
    cdef Py_buffer *bo = bufs.get(bag_of, False)
    cdef Py_buffer *g = bufs.get(grad, False)
    cdef Py_buffer *d = bufs.get(dots, True)
    cdef int64_t n_rows = w.shape[0], dim = w.shape[1], n_ids = i.len // i.itemsize
    cdef int64_t n_bags = g.shape[0]
    cdef fe_status status
    if (w.ndim != 2 or g.ndim != 2 or g.shape[1] != dim or g.itemsize != w.itemsize
            or bo.len != n_ids * 8 or d.len != n_ids * 8):
        raise ValueError("bag_dots: inconsistent buffers (internal error)")
    with nogil:
        if w.itemsize == 2 and bf16 and i.itemsize == 4:
            status = fe_bag_dots_bf16_i32(<const char *>w.buf, n_rows, dim, w.strides[0],
                                          <const int32_t *>i.buf, n_ids, <const int64_t *>bo.buf,
                                          <const uint16_t *>g.buf, n_bags, <double *>d.buf,
                                          n_threads)
        elif w.itemsize == 2 and bf16:
            status = fe_bag_dots_bf16_i64(<const char *>w.buf, n_rows, dim, w.strides[0],
                                          <const int64_t *>i.buf, n_ids, <const int64_t *>bo.buf,
                                          <const uint16_t *>g.buf, n_bags, <double *>d.buf,
                                          n_threads)
        elif w.itemsize == 2 and i.itemsize == 4:
            status = fe_bag_dots_f16_i32(<const char *>w.buf, n_rows, dim, w.strides[0],
                                         <const int32_t *>i.buf, n_ids, <const int64_t *>bo.buf,
                                         <const uint16_t *>g.buf, n_bags, <double *>d.buf,
                                         n_threads)
        elif w.itemsize == 2:
            status = fe_bag_dots_f16_i64(<const char *>w.buf, n_rows, dim, w.strides[0],
                                         <const int64_t *>i.buf, n_ids, <const int64_t *>bo.buf,
                                         <const uint16_t *>g.buf, n_bags, <double *>d.buf,
                                         n_threads)
        elif w.itemsize == 4 and i.itemsize == 4:
            status = fe_bag_dots_f32_i32(<const char *>w.buf, n_rows, dim, w.strides[0],
                                         <const int32_t *>i.buf, n_ids, <const int64_t *>bo.buf,
                                         <const float *>g.buf, n_bags, <double *>d.buf, n_threads)
        elif w.itemsize == 4:
            status = fe_bag_dots_f32_i64(<const char *>w.buf, n_rows, dim, w.strides[0],
                                         <const int64_t *>i.buf, n_ids, <const int64_t *>bo.buf,
                                         <const float *>g.buf, n_bags, <double *>d.buf, n_threads)
        elif i.itemsize == 4:
            status = fe_bag_dots_f64_i32(<const char *>w.buf, n_rows, dim, w.strides[0],
                                         <const int32_t *>i.buf, n_ids, <const int64_t *>bo.buf,
                                         <const double *>g.buf, n_bags, <double *>d.buf, n_threads)
        else:
            status = fe_bag_dots_f64_i64(<const char *>w.buf, n_rows, dim, w.strides[0],
                                         <const int64_t *>i.buf, n_ids, <const int64_t *>bo.buf,
                                         <const double *>g.buf, n_bags, <double *>d.buf, n_threads)
    if status != FE_OK:
        raise_status(status, -1, None, 0)
