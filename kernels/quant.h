/* fp8 quantization (SPEC §4): the C reference, bit-identical to the CUDA
 * kernels in quant_cuda.cu. All arithmetic fp32, no fast-math. */
#ifndef RF_QUANT_H
#define RF_QUANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rf_bf16.h" /* rf_bf16_to_f32, rf_f32_to_bf16 */
#include "rf_common.h"

typedef enum { RF_Q_FP8_TENSOR, RF_Q_FP8_ROW, RF_Q_FP8_BLOCK, RF_Q_NONE, RF_Q_COUNT } rf_qscheme_t;

const char *rf_q_scheme_name(rf_qscheme_t s); /* "fp8-tensor", ... */
bool rf_q_scheme_parse(const char *name, rf_qscheme_t *out);
/* Dumped scale tensor suffix: "weight_scale" (tensor, row), "weight_scale_inv" (block), NULL (none). */
const char *rf_q_scale_suffix(rf_qscheme_t s);
/* Scale tensor shape for a [rows, cols] weight: [1], [rows,1], [ceil(rows/128), ceil(cols/128)]. ndim 0 for none. */
void rf_q_scale_shape(rf_qscheme_t s, int64_t rows, int64_t cols, int *ndim, uint64_t shape[2]);
uint64_t rf_q_scale_count(rf_qscheme_t s, int64_t rows, int64_t cols);

#define RF_FP8_MAX 448.0f
#define RF_Q_BLOCK 128

/* fp32 -> e4m3fn, round to nearest even, sign kept; caller clamps to ±448 first. NaN -> 0x7F/0xFF. */
uint8_t rf_f32_to_fp8(float f);
float rf_fp8_to_f32(uint8_t v);

/* Index of the first NaN/Inf element, or -1. */
int64_t rf_q_find_nonfinite(const uint16_t *x, size_t n);

/* Quantizes row-major bf16 x[rows, cols] into out[rows*cols] (e4m3fn bytes)
 * and scales[rf_q_scale_count()]. A NaN/Inf anywhere is REFIT_ERR_NUMERIC
 * with a message "LABEL: nan|inf at row R col C", out untouched.
 * RF_Q_NONE is REFIT_ERR_INVALID_ARG (nothing to quantize). */
refit_status rf_q_quantize_ref(rf_qscheme_t s, const uint16_t *x, int64_t rows, int64_t cols,
                               const char *label, uint8_t *out, float *scales);

#endif
