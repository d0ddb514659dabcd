# accumulate: grouping of ids (fe_group_ids), per-id row sums, the sparse scatter, renorm_

import numpy as _np


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
