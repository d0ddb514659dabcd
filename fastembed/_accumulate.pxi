# accumulate: grouping of ids (fe_group_ids), per-id row sums, the sparse scatter, renorm_

import numpy as _np

from fastembed._pool import empty as _pool_empty  # large results: recycled pages


def group_ids(ids, int64_t n_rows, int n_threads, ids_for_errors):
    """Stable grouping of the C-contiguous int32/int64 `ids`: returns (uniq, starts, perm)
    int64 arrays with the positions of id uniq[u] at perm[starts[u]:starts[u+1]] in input
    order. `uniq` and `starts` are views of n_ids-sized buffers (trimmed to n_unique and
    n_unique + 1). A bad id raises IndexError naming its position in `ids_for_errors`."""
    cdef Buffers bufs = Buffers()
    cdef Py_buffer *i = bufs.get(ids, False)
    cdef int64_t n_ids = i.len // i.itemsize
    uniq = _np.empty(n_ids, _np.int64)
    starts = _np.empty(n_ids + 1, _np.int64)
    perm = _np.empty(n_ids, _np.int64)
    cdef Py_buffer *u = bufs.get(uniq, True)
    cdef Py_buffer *s = bufs.get(starts, True)
    cdef Py_buffer *p = bufs.get(perm, True)
    cdef int64_t n_unique = 0, bad_pos = -1
    cdef fe_status status
    with nogil:
        if i.itemsize == 4:
            status = fe_group_ids_i32(<const int32_t *>i.buf, n_ids, n_rows, <int64_t *>u.buf,
                                      <int64_t *>s.buf, <int64_t *>p.buf, &n_unique, n_threads,
                                      &bad_pos)
        else:
            status = fe_group_ids_i64(<const int64_t *>i.buf, n_ids, n_rows, <int64_t *>u.buf,
                                      <int64_t *>s.buf, <int64_t *>p.buf, &n_unique, n_threads,
                                      &bad_pos)
    if status != FE_OK:
        raise_status(status, bad_pos, ids_for_errors, n_rows)
    return uniq[:n_unique], starts[:n_unique + 1], perm


def accumulate(ids, grad, int64_t n_rows, int64_t padding_idx, bint scale_by_count,
               int n_threads, ids_for_errors, out=None):
    """Row-sparse gradient of lookup: (indices, values) with indices the sorted distinct ids
    (minus `padding_idx` when >= 0) and values[r] the sum, in input order, of the rows of the
    C-contiguous (len(ids), dim) float32/float64 `grad` at the positions of indices[r].
    The grouping lives in C scratch memory (huge-page advised), never in NumPy arrays: only
    the two results are allocated here, or they are the leading rows of `out`, a checked
    (indices, values) pair of (len(ids),) int64 and (len(ids), dim) buffers."""
    cdef Buffers bufs = Buffers()
    cdef Py_buffer *i = bufs.get(ids, False)
    cdef Py_buffer *g = bufs.get(grad, False)
    cdef int64_t n_ids = i.len // i.itemsize
    if g.ndim != 2 or g.shape[0] != n_ids:
        raise ValueError("accumulate: inconsistent buffers (internal error)")
    cdef int64_t dim = g.shape[1], n_unique = 0, bad_pos = -1, skip = -1, k, m
    cdef int64_t *uniq = <int64_t *>fe_scratch_alloc(n_ids * 8)
    cdef int64_t *starts = <int64_t *>fe_scratch_alloc((n_ids + 1) * 8)
    cdef int64_t *perm = <int64_t *>fe_scratch_alloc(n_ids * 8)
    cdef fe_status status = FE_ERR_NOMEM
    cdef Py_buffer *v
    cdef Py_buffer *o
    cdef int64_t *out_idx
    try:
        if uniq != NULL and starts != NULL and perm != NULL:
            with nogil:
                if i.itemsize == 4:
                    status = fe_group_ids_i32(<const int32_t *>i.buf, n_ids, n_rows, uniq, starts,
                                              perm, &n_unique, n_threads, &bad_pos)
                else:
                    status = fe_group_ids_i64(<const int64_t *>i.buf, n_ids, n_rows, uniq, starts,
                                              perm, &n_unique, n_threads, &bad_pos)
        if status != FE_OK:
            raise_status(status, bad_pos, ids_for_errors, n_rows)
        if padding_idx >= 0:
            skip = fe_group_of(uniq, n_unique, padding_idx)
        if out is None:
            indices = _pool_empty((n_unique - (skip >= 0),), _np.int64)
            values = _pool_empty((n_unique - (skip >= 0), dim), grad.dtype)
        else:
            indices = out[0][:n_unique - (skip >= 0)]
            values = out[1][:n_unique - (skip >= 0)]
        o = bufs.get(indices, True)
        v = bufs.get(values, True)
        out_idx = <int64_t *>o.buf
        with nogil:
            m = 0
            for k in range(n_unique):
                if k != skip:
                    out_idx[m] = uniq[k]
                    m += 1
            if g.itemsize == 4:
                status = fe_sum_groups_f32(<const float *>g.buf, n_ids, dim, perm, n_ids, starts,
                                           n_unique, skip, scale_by_count, <float *>v.buf,
                                           n_threads)
            else:
                status = fe_sum_groups_f64(<const double *>g.buf, n_ids, dim, perm, n_ids,
                                           starts, n_unique, skip, scale_by_count,
                                           <double *>v.buf, n_threads)
        if status != FE_OK:
            raise_status(status, -1, ids_for_errors, n_rows)
        return indices, values
    finally:
        fe_scratch_free(uniq)
        fe_scratch_free(starts)
        fe_scratch_free(perm)


def scatter_rows(values, indices, int64_t n_rows, out, int n_threads):
    """out[:] = 0; out[indices] = values, for the C-contiguous (nnz, dim) `values`, int64
    `indices` (strictly increasing, in range) and C-contiguous (n_rows, dim) `out`."""
    cdef Buffers bufs = Buffers()
    cdef Py_buffer *v = bufs.get(values, False)
    cdef Py_buffer *i = bufs.get(indices, False)
    cdef Py_buffer *o = bufs.get(out, True)
    cdef int64_t nnz = i.len // 8, row_bytes, bad_pos = -1
    if v.ndim != 2 or o.ndim != 2 or v.itemsize != o.itemsize or i.itemsize != 8:
        raise ValueError("scatter_rows: inconsistent buffers (internal error)")
    row_bytes = v.shape[1] * v.itemsize
    if v.shape[0] != nnz or o.shape[0] != n_rows or o.shape[1] != v.shape[1]:
        raise ValueError("scatter_rows: inconsistent buffers (internal error)")
    cdef fe_status status
    with nogil:
        status = fe_scatter_rows(<const char *>v.buf, nnz, row_bytes, <const int64_t *>i.buf,
                                 n_rows, <char *>o.buf, n_threads, &bad_pos)
    if status != FE_OK:
        raise_status(status, bad_pos, indices, n_rows, name="indices")


def renorm(weights, ids, double max_norm, double norm_type, int n_threads, ids_for_errors):
    """In-place max-norm renorm of the distinct rows of `ids` in the writable 2-D `weights`
    (rows contiguous, possibly strided)."""
    cdef Buffers bufs = Buffers()
    cdef Py_buffer *w = bufs.get(weights, True)
    cdef Py_buffer *i = bufs.get(ids, False)
    cdef int64_t n_rows = w.shape[0], dim = w.shape[1], stride = w.strides[0]
    cdef int64_t n_ids = i.len // i.itemsize, bad_pos = -1
    cdef fe_status status
    if w.ndim != 2:
        raise ValueError("renorm_: inconsistent buffers (internal error)")
    with nogil:
        if w.itemsize == 4:
            if i.itemsize == 4:
                status = fe_renorm_f32_i32(<char *>w.buf, n_rows, dim, stride,
                                           <const int32_t *>i.buf, n_ids, max_norm, norm_type,
                                           n_threads, &bad_pos)
            else:
                status = fe_renorm_f32_i64(<char *>w.buf, n_rows, dim, stride,
                                           <const int64_t *>i.buf, n_ids, max_norm, norm_type,
                                           n_threads, &bad_pos)
        else:
            if i.itemsize == 4:
                status = fe_renorm_f64_i32(<char *>w.buf, n_rows, dim, stride,
                                           <const int32_t *>i.buf, n_ids, max_norm, norm_type,
                                           n_threads, &bad_pos)
            else:
                status = fe_renorm_f64_i64(<char *>w.buf, n_rows, dim, stride,
                                           <const int64_t *>i.buf, n_ids, max_norm, norm_type,
                                           n_threads, &bad_pos)
    if status != FE_OK:
        raise_status(status, bad_pos, ids_for_errors, n_rows)


def group_of(uniq, int64_t id):
    """fe_group_of: the position of `id` in the sorted distinct int64 `uniq` (group_ids's
    first result), or -1: THE padding-row search (accumulate, the bags' gradient, the
    optimizer step all use it)."""
    cdef Buffers bufs = Buffers()
    cdef Py_buffer *u = bufs.get(uniq, False)
    if u.itemsize != 8 or not PyBuffer_IsContiguous(u, b'C'):
        raise ValueError("group_of: uniq must be C-contiguous int64 (internal error)")
    return fe_group_of(<const int64_t *>u.buf, u.len // 8, id)
