# initializers: counter-based random fills (fe_init_fill)

def init_fill(out, int kind, double a, double b, uint64_t seed, int n_threads):
    """Fill the writable C-contiguous float32/float64 `out` (every element): kind 0 uniform
    in [a, b), 1 normal (mean a, stddev b), 2 the same truncated at 2 stddev, 3 constant a. Element i
    depends only on (seed, i), so the result is the same for any thread count."""
    cdef Buffers bufs = Buffers()
    cdef Py_buffer *o = bufs.get(out, True)
    cdef int64_t n = o.len // o.itemsize
    cdef fe_status status
    with nogil:
        if o.itemsize == 4:
            status = fe_init_fill_f32(<float *>o.buf, n, kind, a, b, seed, n_threads)
        else:
            status = fe_init_fill_f64(<double *>o.buf, n, kind, a, b, seed, n_threads)
    if status != FE_OK:
        raise_status(status, 0, None, 0)


def dropout_base(uint64_t seed):
    return fe_dropout_base(seed)


def dropout_key(uint64_t base, uint64_t call):
    return fe_dropout_key(base, call)


def dropout_keep(ids, uint64_t key, double rate, keep, int n_threads):
    """keep[i] = the draw of (key, ids[i]) >= rate, for C-contiguous int32/int64 `ids` and a
    writable bool/uint8 `keep` of as many elements."""
    cdef Buffers bufs = Buffers()
    cdef Py_buffer *i = bufs.get(ids, False)
    cdef Py_buffer *k = bufs.get(keep, True)
    cdef int64_t n = i.len // i.itemsize
    if k.len != n or k.itemsize != 1:
        raise ValueError("dropout_keep: inconsistent buffers (internal error)")
    with nogil:
        if i.itemsize == 4:
            fe_dropout_keep_i32(<const int32_t *>i.buf, n, key, rate, <uint8_t *>k.buf, n_threads)
        else:
            fe_dropout_keep_i64(<const int64_t *>i.buf, n, key, rate, <uint8_t *>k.buf, n_threads)
