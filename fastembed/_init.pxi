# initializers: counter-based random fills (fe_init_fill)

from libc.stdint cimport uint64_t

cdef extern from "fastembed.h" nogil:
    fe_status fe_init_fill_f32(float *out, int64_t n, int kind, double a, double b,
                               uint64_t seed, int n_threads)
    fe_status fe_init_fill_f64(double *out, int64_t n, int kind, double a, double b,
                               uint64_t seed, int n_threads)


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
