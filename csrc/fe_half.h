/* fe_half.h: float16 (IEEE binary16) and bfloat16 storage, converted to and from float in
 * portable C (bit operations, no F16C or _Float16 needed), rounding to nearest, ties to even,
 * exactly as NumPy's float16 and ml_dtypes' bfloat16 casts do. Arithmetic on half values is
 * always done in float (or double): these are storage types only. */
#ifndef FE_HALF_H
#define FE_HALF_H

#include <stdint.h>
#include <string.h>

typedef uint16_t fe_f16; /* the bits of one IEEE binary16 value */
typedef uint16_t fe_bf16; /* the bits of one bfloat16 value (the top half of a float) */

static inline float fe_bits_to_float(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline uint32_t fe_float_to_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* Exact: every binary16 value is a float. Exponent and mantissa are moved into a float's
 * places and the bias difference (2^112) is applied by one exact multiply, which also
 * normalises subnormals; inf and NaN (exponent all ones) get the float's all-ones exponent. */
static inline float fe_f16_to_float(fe_f16 h)
{
    uint32_t em = (uint32_t)(h & 0x7fffu);
    float f = fe_bits_to_float(em << 13) * 0x1p112f;
    uint32_t u = fe_float_to_bits(f);
    if (em >= 0x7c00u)
        u |= 0x7f800000u;
    return fe_bits_to_float(u | ((uint32_t)(h & 0x8000u) << 16));
}

/* Round to nearest, ties to even; overflow gives inf, NaN stays a (quiet) NaN. */
static inline fe_f16 fe_float_to_f16(float f)
{
    uint32_t x = fe_float_to_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    x &= 0x7fffffffu;
    if (x >= 0x7f800000u) /* inf or NaN */
        return (fe_f16)(sign | (x > 0x7f800000u ? 0x7e00u | ((x >> 13) & 0x3ffu) : 0x7c00u));
    if (x >= 0x477ff000u) /* 65520 and above round to inf */
        return (fe_f16)(sign | 0x7c00u);
    if (x < 0x38800000u) { /* below 2^-14: a binary16 subnormal or zero */
        /* adding 0.5 puts the value's 2^-24 units in the low mantissa bits; the FPU's own
         * round-to-nearest-even does the rounding */
        float a = fe_bits_to_float(x) + 0.5f;
        return (fe_f16)(sign | (uint16_t)(fe_float_to_bits(a) - 0x3f000000u));
    }
    /* rebias the exponent (127 -> 15) and round the 13 dropped mantissa bits to even */
    x += 0xc8000fffu + ((x >> 13) & 1u);
    return (fe_f16)(sign | (uint16_t)(x >> 13));
}

static inline float fe_bf16_to_float(fe_bf16 h)
{
    return fe_bits_to_float((uint32_t)h << 16);
}

static inline fe_bf16 fe_float_to_bf16(float f)
{
    uint32_t x = fe_float_to_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) /* NaN: keep it a quiet NaN */
        return (fe_bf16)((x >> 16) | 0x40u);
    x += 0x7fffu + ((x >> 16) & 1u);
    return (fe_bf16)(x >> 16);
}

/* ---- value loads and stores: the convention every kernel body follows -------------------
 * A body instantiated per value type (suffix VSUF: f32, f64, f16, bf16) reads a stored value
 * with FE_LOAD(VSUF, p), which gives its compute type FE_CT_<VSUF> (float for f32 and the
 * half types, double for f64; FE_CSUF(VSUF) its suffix, f32 or f64), and writes with
 * FE_STORE(VSUF, p, x), x of the compute type,
 * rounded to nearest (ties to even) for the half types. On f32/f64 both are plain accesses:
 * the bodies compile to what they were. */
#define FE_CT_f32 float
#define FE_CT_f64 double
#define FE_CT_f16 float
#define FE_CT_bf16 float
#define FE_CSUF_f32 f32 /* the suffix of the compute type */
#define FE_CSUF_f64 f64
#define FE_CSUF_f16 f32
#define FE_CSUF_bf16 f32
#define FE_LOAD_f32(p) (*(p))
#define FE_LOAD_f64(p) (*(p))
#define FE_LOAD_f16(p) fe_f16_to_float(*(p))
#define FE_LOAD_bf16(p) fe_bf16_to_float(*(p))
#define FE_STORE_f32(p, x) (*(p) = (x))
#define FE_STORE_f64(p, x) (*(p) = (x))
#define FE_STORE_f16(p, x) (*(p) = fe_float_to_f16(x))
#define FE_STORE_bf16(p, x) (*(p) = fe_float_to_bf16(x))
#define FE_HALF_CAT_(a, b) a##b
#define FE_HALF_CAT(a, b) FE_HALF_CAT_(a, b)
#define FE_CT(VSUF) FE_HALF_CAT(FE_CT_, VSUF)
#define FE_CSUF(VSUF) FE_HALF_CAT(FE_CSUF_, VSUF)
#define FE_LOAD(VSUF, p) FE_HALF_CAT(FE_LOAD_, VSUF)(p)
#define FE_STORE(VSUF, p, x) FE_HALF_CAT(FE_STORE_, VSUF)(p, x)

#endif /* FE_HALF_H */
