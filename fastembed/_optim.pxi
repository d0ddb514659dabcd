# sparse optimizer steps: one call into C each (fe_opt_step, fe_opt_apply), which groups,
# checks, updates the rows and their state and applies the row constraint

cdef int _fill_opt(fe_opt *o, int kind, hyper, cons, bint allow_nonfinite) except -1:
    """The fe_opt fields: `hyper` is (nesterov, decoupled, lr, momentum, eps, beta1, beta2,
    alpha, lr_power, ftrl_l1, ftrl_l2, l2_shrinkage, weight_decay, l1, l2, eps_in_sqrt,
    rounding, seed, step) (fastembed's _ops_optim.Hyper), `cons` None or a row constraint's
    (kind, a, b, rate)."""
    o.kind = kind
    o.allow_nonfinite = allow_nonfinite
    (o.nesterov, o.decoupled, o.lr, o.momentum, o.eps, o.beta1, o.beta2, o.alpha, o.lr_power,
     o.ftrl_l1, o.ftrl_l2, o.l2_shrinkage, o.weight_decay, o.l1, o.l2, o.eps_in_sqrt,
     o.rounding, o.seed, o.step) = hyper
    if cons is None:
        o.cons_kind, o.cons_a, o.cons_b, o.cons_rate = -1, 0.0, 0.0, 0.0
    else:
        o.cons_kind, o.cons_a, o.cons_b, o.cons_rate = cons
    return 0


cdef Py_buffer *_opt_buffers(Buffers bufs, table, grad, int64_t n_grad, const void **g_buf,
                             str name) except NULL:
    """The table's buffer (and in *g_buf the gradient's data), after checking the table
    against the (n_grad, dim) gradient: of the table's type, or float32 for a half table
    (given as a uint16 view)."""
    cdef Py_buffer *w = bufs.get(table, True)
    cdef Py_buffer *g = bufs.get(grad, False)
    if (w.ndim != 2 or g.ndim != 2 or g.shape[0] != n_grad or g.shape[1] != w.shape[1]
            or g.itemsize != (4 if w.itemsize == 2 else w.itemsize)):
        raise ValueError(f"{name}: inconsistent buffers (internal error)")
    g_buf[0] = g.buf
    return w


cdef void *_state_ptr(Buffers bufs, state, Py_buffer *w, int64_t state_row) except? NULL:
    if state is None:
        return NULL
    cdef Py_buffer *b = bufs.get(state, True)
    cdef Py_ssize_t itemsize = 4 if w.itemsize == 2 else w.itemsize  # float for half tables
    # C indexes state rows as C-contiguous memory (a Fortran-order array of the same size
    # would pass the length check and be read wrongly)
    if (b.itemsize != itemsize or b.len != w.shape[0] * state_row * itemsize
            or not PyBuffer_IsContiguous(b, b'C')):
        raise ValueError("optimizer state: inconsistent buffers (internal error)")
    return b.buf


cdef _raise_opt(fe_status status, fe_opt_fault *f, grad, ids, int64_t n_rows, str name):
    if status == FE_ERR_NONFINITE and f.pos >= 0:
        raise ValueError(f"the gradient holds a non-finite value ({grad.reshape(-1)[f.pos]}) at "
                         f"flat position {f.pos}; nothing was updated (allow_nonfinite=True "
                         "lets it through)")
    if status == FE_ERR_NONFINITE:
        raise ValueError(
            f"the gradient holds a non-finite value: the {grad.dtype} sum of the {f.count} "
            f"grad_output rows of row {f.row} overflows (each row is finite); nothing was "
            "updated (allow_nonfinite=True lets it through)")
    raise_status(status, f.pos, ids, n_rows, name)


def opt_step(table, bint bf16, ids, grad, int64_t padding_idx, s1, s2, int64_t state_row,
             int kind, hyper, cons, bint allow_nonfinite, int n_threads, ids_for_errors):
    """fe_opt_step: group the C-contiguous int32/int64 `ids`, check them and the
    C-contiguous (len(ids), dim) `grad`, update the touched rows of `table` (writable, rows
    contiguous; a float16 or (bf16) bfloat16 table as a uint16 view, its grad and state
    float32) and the state arrays `s1`/`s2` (or None), project each row by `cons`."""
    cdef Buffers bufs = Buffers()
    cdef Py_buffer *i = bufs.get(ids, False)
    cdef int64_t n_ids = i.len // i.itemsize
    cdef const void *g
    cdef Py_buffer *w = _opt_buffers(bufs, table, grad, n_ids, &g, "opt_step")
    cdef const void *ip = i.buf
    cdef void *p1 = _state_ptr(bufs, s1, w, state_row)
    cdef void *p2 = _state_ptr(bufs, s2, w, state_row)
    cdef int64_t state_stride = state_row * (4 if w.itemsize == 2 else w.itemsize)  # bytes
    cdef fe_opt o
    cdef fe_opt_fault f
    _fill_opt(&o, kind, hyper, cons, allow_nonfinite)
    cdef int64_t n_rows = w.shape[0], dim = w.shape[1], stride = w.strides[0]
    cdef char *t = <char *>w.buf
    cdef int wide = i.itemsize == 8
    cdef fe_status status
    with nogil:
        if w.itemsize == 4:
            if wide:
                status = fe_opt_step_f32_i64(t, n_rows, dim, stride, <const int64_t *>ip, n_ids,
                                             <const float *>g, padding_idx, <float *>p1,
                                             <float *>p2, state_stride, &o, n_threads, &f)
            else:
                status = fe_opt_step_f32_i32(t, n_rows, dim, stride, <const int32_t *>ip, n_ids,
                                             <const float *>g, padding_idx, <float *>p1,
                                             <float *>p2, state_stride, &o, n_threads, &f)
        elif w.itemsize == 8:
            if wide:
                status = fe_opt_step_f64_i64(t, n_rows, dim, stride, <const int64_t *>ip, n_ids,
                                             <const double *>g, padding_idx, <double *>p1,
                                             <double *>p2, state_stride, &o, n_threads, &f)
            else:
                status = fe_opt_step_f64_i32(t, n_rows, dim, stride, <const int32_t *>ip, n_ids,
                                             <const double *>g, padding_idx, <double *>p1,
                                             <double *>p2, state_stride, &o, n_threads, &f)
        elif bf16:
            if wide:
                status = fe_opt_step_bf16_i64(t, n_rows, dim, stride, <const int64_t *>ip,
                                              n_ids, <const float *>g, padding_idx,
                                              <float *>p1, <float *>p2, state_stride, &o,
                                              n_threads, &f)
            else:
                status = fe_opt_step_bf16_i32(t, n_rows, dim, stride, <const int32_t *>ip,
                                              n_ids, <const float *>g, padding_idx,
                                              <float *>p1, <float *>p2, state_stride, &o,
                                              n_threads, &f)
        else:
            if wide:
                status = fe_opt_step_f16_i64(t, n_rows, dim, stride, <const int64_t *>ip, n_ids,
                                             <const float *>g, padding_idx, <float *>p1,
                                             <float *>p2, state_stride, &o, n_threads, &f)
            else:
                status = fe_opt_step_f16_i32(t, n_rows, dim, stride, <const int32_t *>ip, n_ids,
                                             <const float *>g, padding_idx, <float *>p1,
                                             <float *>p2, state_stride, &o, n_threads, &f)
    if status != FE_OK:
        _raise_opt(status, &f, grad, ids_for_errors, n_rows, "ids")


def opt_apply(table, bint bf16, indices, values, s1, s2, int64_t state_row, int kind, hyper,
              cons, bint allow_nonfinite, int n_threads):
    """fe_opt_apply: the update of `opt_step` from a summed gradient: int64 `indices`
    (strictly increasing) and C-contiguous (len(indices), dim) `values`."""
    cdef Buffers bufs = Buffers()
    cdef Py_buffer *r = bufs.get(indices, False)
    cdef int64_t n_touched = r.len // 8
    if r.itemsize != 8:
        raise ValueError("opt_apply: inconsistent buffers (internal error)")
    cdef const void *g
    cdef Py_buffer *w = _opt_buffers(bufs, table, values, n_touched, &g, "opt_apply")
    cdef const int64_t *rows = <const int64_t *>r.buf
    cdef void *p1 = _state_ptr(bufs, s1, w, state_row)
    cdef void *p2 = _state_ptr(bufs, s2, w, state_row)
    cdef int64_t state_stride = state_row * (4 if w.itemsize == 2 else w.itemsize)  # bytes
    cdef fe_opt o
    cdef fe_opt_fault f
    _fill_opt(&o, kind, hyper, cons, allow_nonfinite)
    cdef int64_t n_rows = w.shape[0], dim = w.shape[1], stride = w.strides[0]
    cdef char *t = <char *>w.buf
    cdef fe_status status
    with nogil:
        if w.itemsize == 4:
            status = fe_opt_apply_f32_i64(t, n_rows, dim, stride, rows, n_touched,
                                          <const float *>g, <float *>p1, <float *>p2,
                                          state_stride, &o, n_threads, &f)
        elif w.itemsize == 8:
            status = fe_opt_apply_f64_i64(t, n_rows, dim, stride, rows, n_touched,
                                          <const double *>g, <double *>p1, <double *>p2,
                                          state_stride, &o, n_threads, &f)
        elif bf16:
            status = fe_opt_apply_bf16_i64(t, n_rows, dim, stride, rows, n_touched,
                                           <const float *>g, <float *>p1, <float *>p2,
                                           state_stride, &o, n_threads, &f)
        else:
            status = fe_opt_apply_f16_i64(t, n_rows, dim, stride, rows, n_touched,
                                          <const float *>g, <float *>p1, <float *>p2,
                                          state_stride, &o, n_threads, &f)
    if status != FE_OK:
        _raise_opt(status, &f, values, indices, n_rows, "indices")
