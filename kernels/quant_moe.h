/* Per-expert fp8 quantization of Mixture-of-Experts params (SPEC §3a
 * "Quantization", numerics SPEC §4): the C reference and the shape helpers.
 * The CUDA kernels (quant_moe_cuda.h) produce the same bytes.
 *
 * An expert param is the rank-local 3-D tensor of its E_r local experts,
 * row-major bf16:
 *   w13  x[E_r][2*I_r][H]  expert j = [gate rows c; up rows c], gate first
 *   w2   x[E_r][H][I_r]    expert j = down columns c
 * Each expert is quantized on its own:
 *   fp8-tensor  one scale per expert over its whole [rows, cols] (gate and up
 *               share it)                               scales [E_r]
 *   fp8-row     one scale per row of each expert         scales [E_r, rows, 1]
 *   fp8-block   128x128 blocks of the padded expert; Ip = ceil(I_r/128)*128,
 *               Hp = ceil(H/128)*128:
 *     w13  codes [E_r, 2*Ip, Hp]: gate at rows [0, I_r), up at rows
 *          [Ip, Ip+I_r), columns [0, H); scales [E_r, 2*Ip/128, Hp/128]
 *     w2   codes [E_r, Hp, Ip]: down at [0, H) x [0, I_r);
 *          scales [E_r, Hp/128, Ip/128]
 *     Every other code is 0x00 (+0). Padding is less than 128 rows/columns
 *     on each side of each part, so every block holds real elements; the
 *     zeros never raise a block's amax and no block spans gate and up.
 *   none        the bf16 tensor, copied             no scales
 * A NaN/Inf anywhere rejects the param (REFIT_ERR_NUMERIC) before anything is
 * written; the message names the expert (global index), row and column. */
#ifndef RF_QUANT_MOE_H
#define RF_QUANT_MOE_H

#include <stdbool.h>
#include <stdint.h>

#include "quant.h"

typedef enum { RF_Q_MOE_W13, RF_Q_MOE_W2 } rf_q_moe_kind_t;

/* One expert param as rank r holds it. */
typedef struct {
    rf_q_moe_kind_t kind;
    int64_t experts; /* E_r, local experts (>= 1) */
    int64_t expert0; /* e0, global index of local expert 0 (messages only) */
    int64_t hidden;  /* H (>= 1) */
    int64_t inter;   /* I_r, rank-local expert intermediate size (>= 1) */
} rf_q_moe_t;

/* ceil(n / 128) * 128: Ip from I_r, Hp from H. 0 when n < 1 or too large. */
int64_t rf_q_moe_pad(int64_t n);

/* One expert as `parts` stacked parts (w13: gate, up; w2: the one matrix),
 * each [prows, cols] in the input and [prows_pad, cols_pad] padded:
 * w13 parts 2, [I_r, H] -> [Ip, Hp]; w2 parts 1, [H, I_r] -> [Hp, Ip].
 * Part k is input rows [k*prows, (k+1)*prows) of the expert and fp8-block
 * output rows [k*prows_pad, ...). Shared by the reference and the kernels. */
typedef struct {
    int64_t parts, prows, cols, prows_pad, cols_pad;
} rf_q_moe_geom_t;
void rf_q_moe_geom(const rf_q_moe_t *p, rf_q_moe_geom_t *g);

/* REFIT_OK when p describes a param these functions can handle (sizes >= 1,
 * known kind, every element and byte count of input, output and scales fits
 * in int64); else REFIT_ERR_INVALID_ARG naming `label`. The shape helpers
 * below give all-zero shapes for a param that fails this. */
refit_status rf_q_moe_validate(const rf_q_moe_t *p, const char *label);

/* Rows and columns of one expert of the input: w13 [2*I_r, H], w2 [H, I_r]. */
void rf_q_moe_expert_dims(const rf_q_moe_t *p, int64_t *rows, int64_t *cols);
/* bf16 input shape [E_r, rows, cols]; element count. */
void rf_q_moe_in_shape(const rf_q_moe_t *p, uint64_t shape[3]);
uint64_t rf_q_moe_in_count(const rf_q_moe_t *p);

/* Output shape: the input shape, or the padded one for fp8-block
 * ([E_r, 2*Ip, Hp] / [E_r, Hp, Ip]). Elements are e4m3fn bytes, bf16 for
 * none; rf_q_moe_out_bytes counts bytes (2 per element for none). */
void rf_q_moe_out_shape(rf_qscheme_t s, const rf_q_moe_t *p, uint64_t shape[3]);
uint64_t rf_q_moe_out_count(rf_qscheme_t s, const rf_q_moe_t *p);
uint64_t rf_q_moe_out_bytes(rf_qscheme_t s, const rf_q_moe_t *p);

/* Scale tensor shape (F32): fp8-tensor ndim 1 [E_r]; fp8-row ndim 3
 * [E_r, rows, 1]; fp8-block ndim 3 [E_r, out rows/128, out cols/128];
 * none ndim 0. The dumped name suffix is rf_q_scale_suffix(s). */
void rf_q_moe_scale_shape(rf_qscheme_t s, const rf_q_moe_t *p, int *ndim, uint64_t shape[3]);
uint64_t rf_q_moe_scale_count(rf_qscheme_t s, const rf_q_moe_t *p);

/* (local expert, row, column) of flat input index idx (0 <= idx < in_count). */
void rf_q_moe_locate(const rf_q_moe_t *p, int64_t idx, int64_t *expert, int64_t *row, int64_t *col);
/* Records REFIT_ERR_NUMERIC "LABEL: nan|inf at expert E row R col C" for the
 * bad input element at flat index idx; E = expert0 + local expert, R and C
 * within that expert's [rows, cols]. Shared by the reference and CUDA. */
refit_status rf_q_moe_numeric_error(const rf_q_moe_t *p, const char *label, int64_t idx,
                                    bool is_inf);

/* Quantizes x (rf_q_moe_in_shape) into out[rf_q_moe_out_bytes] and
 * scales[rf_q_moe_scale_count] as described above; writes every byte of out,
 * padding included. REFIT_ERR_INVALID_ARG for a bad scheme, param or NULL
 * pointer, REFIT_ERR_NUMERIC for a NaN/Inf (out and scales untouched). */
refit_status rf_q_moe_quantize_ref(rf_qscheme_t s, const rf_q_moe_t *p, const uint16_t *x,
                                   const char *label, void *out, float *scales);

#endif
