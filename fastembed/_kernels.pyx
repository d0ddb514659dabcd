# The only place Python meets C. Each kernel wrapper takes arrays that fastembed's Python
# layer has already validated (dtype, shape, layout), hands raw pointers and sizes to C with
# the GIL released once, and turns the returned status into the right Python exception.
#
# Arrays are read through the raw buffer protocol (a `Buffers` holder) rather than typed
# memoryviews: a call on 100 ids must cost about what np.take costs (~1 us), and acquiring
# three typed memoryviews plus fused-signature dispatch measured 0.6 us against 0.12 us for
# raw Py_buffers. Read-only buffers are accepted wherever the kernel only reads.
from cpython.buffer cimport (PyBUF_RECORDS, PyBUF_RECORDS_RO, PyBuffer_IsContiguous,
                             PyBuffer_Release, PyObject_GetBuffer)
from libc.stdint cimport INT64_MAX, int32_t, int64_t

from fastembed._errors import index_error

# The C enums of csrc/fastembed.h, for the ops layer (never restated by hand in Python).
OK, ERR_INDEX, ERR_VALUE, ERR_OVERFLOW, ERR_NOMEM, ERR_NONFINITE = (
    FE_OK, FE_ERR_INDEX, FE_ERR_VALUE, FE_ERR_OVERFLOW, FE_ERR_NOMEM, FE_ERR_NONFINITE)
BAG_SUM, BAG_MEAN, BAG_MAX, BAG_SQRTN, BAG_ACC64, BAG_OUT_F32 = (
    FE_BAG_SUM, FE_BAG_MEAN, FE_BAG_MAX, FE_BAG_SQRTN, FE_BAG_ACC64, FE_BAG_OUT_F32)
OPT_SGD, OPT_ADAGRAD, OPT_ROWWISE_ADAGRAD, OPT_ADAM, OPT_FTRL = (
    FE_OPT_SGD, FE_OPT_ADAGRAD, FE_OPT_ROWWISE_ADAGRAD, FE_OPT_ADAM, FE_OPT_FTRL)
OPT_ROUND_NEAREST, OPT_ROUND_STOCHASTIC = FE_OPT_ROUND_NEAREST, FE_OPT_ROUND_STOCHASTIC
INIT_UNIFORM, INIT_NORMAL, INIT_TRUNCATED, INIT_CONSTANT = (
    FE_INIT_UNIFORM, FE_INIT_NORMAL, FE_INIT_TRUNCATED, FE_INIT_CONSTANT)
CONS_NONNEG, CONS_MAXNORM, CONS_UNITNORM, CONS_MINMAXNORM = (
    FE_CONS_NONNEG, FE_CONS_MAXNORM, FE_CONS_UNITNORM, FE_CONS_MINMAXNORM)


def raise_status(status, bad_pos, ids, n_rows, name="ids"):
    if status == ERR_INDEX:
        raise index_error(name, ids, bad_pos, n_rows)
    if status == ERR_OVERFLOW:
        raise ValueError("array sizes overflow a 64-bit size product")
    if status == ERR_NOMEM:
        raise MemoryError("fastembed could not allocate its scratch memory")
    if status == ERR_VALUE:
        raise ValueError("invalid size, offset or hyperparameter passed to a fastembed kernel")
    raise RuntimeError(f"fastembed kernel returned unknown status {status}")


cdef class Buffers:
    """Holds the Py_buffers of one kernel call and releases them when the call ends
    (CPython frees the holder as soon as the wrapper returns or raises). `count` starts at
    0 because Cython zero-fills C attributes at allocation; there is deliberately no
    __cinit__: Cython's generated __cinit__ wrapper computes ``NULL + 0`` on the tp_new
    path, undefined behaviour that clang's UBSan traps on (found by fuzz/)."""

    cdef Py_buffer *get(self, obj, bint writable) except NULL:
        if self.count == MAX_BUFFERS:
            raise RuntimeError("too many buffers in one kernel call")
        PyObject_GetBuffer(obj, &self.views[self.count], PyBUF_RECORDS if writable else PyBUF_RECORDS_RO)
        self.count += 1
        cdef Py_buffer *view = &self.views[self.count - 1]
        # C reads elements through typed pointers: an unaligned one is undefined behaviour
        # (the Python layer copies such arrays; this is the net under it)
        if view.itemsize > 1 and (<size_t>view.buf) % <size_t>view.itemsize != 0:
            raise ValueError("misaligned buffer passed to a fastembed kernel (internal error)")
        return view

    def __dealloc__(self):
        cdef int k
        for k in range(self.count):
            PyBuffer_Release(&self.views[k])


# ---- build and runtime facts --------------------------------------------------------------

def openmp_enabled():
    return bool(fe_openmp_enabled())


def omp_max_threads():
    """omp_get_max_threads(): reflects OMP_NUM_THREADS and threadpoolctl limits."""
    return fe_omp_max_threads()


def openmp_runtime():
    return fe_openmp_runtime().decode()


def compiler():
    return fe_compiler().decode()


def in_forked_child():
    return bool(fe_in_forked_child())


def plan_threads(int requested, int64_t work_bytes):
    return fe_plan_threads(requested, work_bytes)


def simd_info():
    """(compiled paths, path the CPU supports, path in use)."""
    return (fe_simd_compiled().decode(), fe_simd_name(fe_simd_cpu_level()).decode(),
            fe_simd_name(fe_simd_level()).decode())


def first_bad_id(ids, int64_t n_rows, int n_threads):
    """First position of an id outside [0, n_rows) in C-contiguous int32/int64 `ids`, or -1."""
    cdef Buffers bufs = Buffers()
    cdef Py_buffer *b = bufs.get(ids, False)
    cdef int64_t n = b.len // b.itemsize, bad = -1
    with nogil:
        if b.itemsize == 4:
            bad = fe_first_bad_id_i32(<const int32_t *>b.buf, n, n_rows, n_threads)
        else:
            bad = fe_first_bad_id_i64(<const int64_t *>b.buf, n, n_rows, n_threads)
    return bad


include "_lookup.pxi"
include "_bag.pxi"
include "_accumulate.pxi"
include "_optim.pxi"
include "_init.pxi"
include "_constraint.pxi"
include "_quant.pxi"
include "_half.pxi"
