/* fe_quant.h: the contract of the row-quantized table kernels (quant.c).
 *
 * A quantized table keeps each row in PyTorch's prepacked layout (the bytes of
 * torch.ops.quantized.embedding_bag_byte_prepack / embedding_bag_4bit_prepack), one packed
 * row of `fe_qrow_bytes(dim, bits)` bytes per table row; rows may be strided (`stride` bytes
 * apart) but each is contiguous:
 *   bits 8:  code[0..dim) uint8, then float32 scale, float32 bias           dim + 8 bytes
 *   bits 4:  (dim + 1) / 2 bytes; byte k holds column 2k in its low nibble and column 2k + 1
 *            in its high nibble (the high nibble of an odd dim's last byte is 0), then
 *            float16 scale, float16 bias                                   (dim + 1) / 2 + 4
 * Scale and bias need not be aligned. The value of a column is, in float32, unfused:
 *   value[r, d] = (float)code[r, d] * scale[r] + bias[r]
 * Kernels dequantize only the rows they read. Status and thread conventions: fastembed.h.
 */
#ifndef FE_QUANT_H
#define FE_QUANT_H

#include "fastembed.h"

/* Bytes of one packed row, or -1 for bits other than 4 and 8 or a negative dim. */
int64_t fe_qrow_bytes(int64_t dim, int bits);

/* Quantize float32 rows (each contiguous, `row_stride` bytes apart) into `packed` (n_rows
 * packed rows, contiguous), exactly as PyTorch's prepack ops (fbgemm's rowwise quantizers):
 *   bits 8:  lo, hi = min(row), max(row); scale = (hi - lo) / 255; bias = lo
 *            code = lrintf((x - lo) * (255 / (hi - lo + 1e-8)))
 *   bits 4:  lo = float16(min(row)); range = max(row) - lo
 *            scale = float16(range == 0 ? 1 : range / 15), 1 if that is 0; inv = 1 / scale
 *            (scale = inv = 1 if inv is inf); bias = lo
 *            code = clamp(lrintf((x - lo) * inv), 0, 15)
 * Errors (the result is then unspecified; it is the caller's fresh buffer):
 *   FE_ERR_NONFINITE  a NaN or inf in the table; *bad_pos = its flat position r * dim + d
 *   FE_ERR_VALUE      a row whose range overflows float32 (8-bit), or whose min or scale
 *                     overflows float16 (4-bit); *bad_pos = the row (a non-finite value,
 *                     when there is one, is reported first). Bad bits or sizes: *bad_pos -1.
 * Rows are split over threads; each row's bytes depend on that row only. */
fe_status fe_quantize_rows(const char *table, int64_t n_rows, int64_t dim, int64_t row_stride,
                           int bits, uint8_t *packed, int n_threads, int64_t *bad_pos);

/* Dequantizing gather:
 *   for i in range(n_ids): out[i, :] = value[ids[i], :]
 * Every id is checked first (FE_ERR_INDEX, *bad_pos the first bad position; nothing written).
 * Chunks of ids are split over threads. */
fe_status fe_qlookup_i32(const uint8_t *packed, int64_t n_rows, int64_t stride, int64_t dim,
                         int bits, const int32_t *ids, int64_t n_ids, float *out, int n_threads,
                         int64_t *bad_pos);
fe_status fe_qlookup_i64(const uint8_t *packed, int64_t n_rows, int64_t stride, int64_t dim,
                         int bits, const int64_t *ids, int64_t n_ids, float *out, int n_threads,
                         int64_t *bad_pos);

/* Dequantizing pooled lookup, the modes of fe_lookup_bag_* (FE_BAG_SUM/MEAN/MAX/SQRTN):
 *   for b in range(n_bags):
 *       rows = [k for k in range(bounds[b], bounds[b + 1]) if ids[k] != padding_idx]
 *       w_k = psw[k] if psw else 1
 *       sum:   out[b] = sum_k w_k * value[ids[k]]         mean:  sum / sum_k w_k
 *       sqrtn: sum / sqrt(sum_k w_k^2)                    max:   columnwise max of value rows
 *       (an empty bag gives zeros)
 * Sums run in float32 in id order: per column a chain of fused multiply-adds
 * acc = fma(code, w * scale, acc), and the row's w * bias summed once per row into bsum;
 * out = (acc + bsum) / divisor. The quantization step (scale / 2 per value) dwarfs float32
 * rounding. Weight sums in double, the divisor of mean and sqrtn rounded to float. Every
 * SIMD level rounds alike: the result does not depend on the level.
 * Bad mode, bounds, or psw with max: FE_ERR_VALUE, nothing written. A bad id: FE_ERR_INDEX,
 * *bad_pos its first position; the ids are checked as they are pooled (no pass of their
 * own), so out's bags are then unspecified: a caller whose out must stay as it was checks
 * the ids first (fe_first_bad_id). Each bag is pooled by one thread: the result does not
 * depend on the thread count. */
fe_status fe_qlookup_bag_i32(const uint8_t *packed, int64_t n_rows, int64_t stride,
                             int64_t dim, int bits, const int32_t *ids, int64_t n_ids,
                             const int64_t *bounds, int64_t n_bags, int mode, const float *psw,
                             int64_t padding_idx, float *out, int n_threads, int64_t *bad_pos);
fe_status fe_qlookup_bag_i64(const uint8_t *packed, int64_t n_rows, int64_t stride,
                             int64_t dim, int bits, const int64_t *ids, int64_t n_ids,
                             const int64_t *bounds, int64_t n_bags, int mode, const float *psw,
                             int64_t padding_idx, float *out, int n_threads, int64_t *bad_pos);

#endif /* FE_QUANT_H */
