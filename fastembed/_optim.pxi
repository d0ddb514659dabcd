# sparse optimizer steps: the touched rows' update (fused with the gradient sum when given a
# grouping) and the finiteness check that precedes it

def sparse_step(table, rows, grad, perm, starts, int64_t skip_group, s1, s2, int64_t state_row,
                dict hyper, int n_threads):
    """Update the rows `rows` (int64, strictly increasing) of `table` (rows contiguous,
    writable) in place. `grad` is (len(rows), dim) summed gradients when `perm` is None,
    else the (n, dim) per-position gradient with the grouping (perm, starts, skip_group) of
    accumulate. `s1`/`s2` are state arrays (or None); `hyper` the fe_opt fields. With
    hyper["check_sums"] and a grouping, a summed row that is not finite (finite rows whose
    sum overflows) raises ValueError before anything is written."""
    cdef Buffers bufs = Buffers()
    cdef Py_buffer *w = bufs.get(table, True)
    cdef Py_buffer *r = bufs.get(rows, False)
    cdef Py_buffer *g = bufs.get(grad, False)
    cdef Py_buffer *b
    cdef const int64_t *perm_ptr = NULL
    cdef const int64_t *starts_ptr = NULL
    cdef void *s1_ptr = NULL
    cdef void *s2_ptr = NULL
    cdef fe_opt o
    cdef int64_t n_rows = w.shape[0], dim = w.shape[1], n_touched = r.len // 8
    cdef int64_t n_grad = g.shape[0] if g.ndim == 2 else 0
    cdef int64_t bad_pos = -1
    cdef fe_status status
    if w.ndim != 2 or g.ndim != 2 or g.shape[1] != dim or g.itemsize != w.itemsize:
        raise ValueError("sparse_step: inconsistent buffers (internal error)")
    if perm is not None:
        b = bufs.get(perm, False)
        perm_ptr = <const int64_t *>b.buf
        b = bufs.get(starts, False)
        if b.len // 8 != n_touched + (1 if skip_group >= 0 else 0) + 1:
            raise ValueError("sparse_step: inconsistent buffers (internal error)")
        starts_ptr = <const int64_t *>b.buf
    for state, k in ((s1, 1), (s2, 2)):
        if state is None:
            continue
        b = bufs.get(state, True)
        # C indexes state rows as C-contiguous memory (a Fortran-order array of the same
        # size would pass the length check and be read wrongly)
        if (b.itemsize != w.itemsize or b.len != n_rows * state_row * w.itemsize
                or not PyBuffer_IsContiguous(b, b'C')):
            raise ValueError("sparse_step: inconsistent buffers (internal error)")
        if k == 1:
            s1_ptr = b.buf
        else:
            s2_ptr = b.buf
    o.kind = hyper["kind"]
    o.nesterov = hyper.get("nesterov", 0)
    o.decoupled = hyper.get("decoupled", 0)
    o.check_sums = hyper.get("check_sums", 0)
    o.lr = hyper["lr"]
    o.momentum = hyper.get("momentum", 0.0)
    o.eps = hyper.get("eps", 0.0)
    o.eps_in_sqrt = hyper.get("eps_in_sqrt", 0)
    o.beta1 = hyper.get("beta1", 0.0)
    o.beta2 = hyper.get("beta2", 0.0)
    o.alpha = hyper.get("alpha", 0.0)
    o.lr_power = hyper.get("lr_power", 0.0)
    o.ftrl_l1 = hyper.get("ftrl_l1", 0.0)
    o.ftrl_l2 = hyper.get("ftrl_l2", 0.0)
    o.l2_shrinkage = hyper.get("l2_shrinkage", 0.0)
    o.weight_decay = hyper.get("weight_decay", 0.0)
    o.l1 = hyper.get("l1", 0.0)
    o.l2 = hyper.get("l2", 0.0)
    with nogil:
        if w.itemsize == 4:
            status = fe_sparse_step_f32(<float *>w.buf, n_rows, dim, w.strides[0] // 4,
                                        <const int64_t *>r.buf, n_touched, <const float *>g.buf,
                                        n_grad, perm_ptr, starts_ptr, skip_group,
                                        <float *>s1_ptr, <float *>s2_ptr, state_row, &o,
                                        n_threads, &bad_pos)
        else:
            status = fe_sparse_step_f64(<double *>w.buf, n_rows, dim, w.strides[0] // 8,
                                        <const int64_t *>r.buf, n_touched, <const double *>g.buf,
                                        n_grad, perm_ptr, starts_ptr, skip_group,
                                        <double *>s1_ptr, <double *>s2_ptr, state_row, &o,
                                        n_threads, &bad_pos)
    if status == FE_ERR_INDEX:
        raise IndexError(f"gradient rows must be strictly increasing and in [0, {n_rows})")
    if status == FE_ERR_NONFINITE:
        grp = bad_pos + (1 if 0 <= skip_group <= bad_pos else 0)
        count = int(starts[grp + 1] - starts[grp])
        raise ValueError(
            f"the gradient holds a non-finite value: the {'float32' if w.itemsize == 4 else 'float64'} "
            f"sum of the {count} grad_output rows of row {int(rows[bad_pos])} overflows (each "
            "row is finite); nothing was updated (allow_nonfinite=True lets it through)")
    if status != FE_OK:
        raise_status(status, -1, None, n_rows)


def first_nonfinite(x, int n_threads):
    """(first flat position of a NaN or inf in the C-contiguous float32/float64 `x` or -1,
    max |x| as a Python float), from one pass over `x`."""
    cdef Buffers bufs = Buffers()
    cdef Py_buffer *b = bufs.get(x, False)
    cdef int64_t n = b.len // b.itemsize, pos
    cdef float top32 = 0
    cdef double top64 = 0
    with nogil:
        if b.itemsize == 4:
            pos = fe_first_nonfinite_f32(<const float *>b.buf, n, &top32, n_threads)
            top64 = top32
        else:
            pos = fe_first_nonfinite_f64(<const double *>b.buf, n, &top64, n_threads)
    return pos, top64
