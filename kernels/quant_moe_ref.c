/* Per-expert fp8 quantization of MoE params (SPEC §3a), C reference.
 *
 * Every numeric step is the dense reference's: each expert (fp8-tensor),
 * all expert rows at once (fp8-row, rows are independent) or each part of
 * each expert (fp8-block, gate and up separately with ragged edge blocks) is
 * handed to rf_q_quantize_ref. This file only places the results: expert
 * offsets, the §3a padding of fp8-block, and the stacked scale grids.
 * kernels/quant_moe_cuda.cu produces the same bytes. */
#include <inttypes.h>
#include <string.h>

#include "quant_moe.h"

#define BF16_ABS_MASK 0x7FFFu
#define BF16_ABS_INF 0x7F80u

/* ---- geometry and shapes ----------------------------------------------- */

int64_t rf_q_moe_pad(int64_t n) {
    if (n < 1 || n > INT64_MAX - (RF_Q_BLOCK - 1)) return 0;
    return (n + RF_Q_BLOCK - 1) / RF_Q_BLOCK * RF_Q_BLOCK;
}

void rf_q_moe_geom(const rf_q_moe_t *p, rf_q_moe_geom_t *g) {
    bool w13 = p->kind == RF_Q_MOE_W13;
    g->parts = w13 ? 2 : 1;
    g->prows = w13 ? p->inter : p->hidden;
    g->cols = w13 ? p->hidden : p->inter;
    g->prows_pad = rf_q_moe_pad(g->prows);
    g->cols_pad = rf_q_moe_pad(g->cols);
}

/* a * b * c * d without overflow, and at most INT64_MAX / 2 (so bf16 byte
 * counts of it fit in int64 too). */
static bool count_ok(int64_t a, int64_t b, int64_t c, int64_t d) {
    uint64_t n;
    return rf_mul_u64((uint64_t)a, (uint64_t)b, &n) && rf_mul_u64(n, (uint64_t)c, &n) &&
           rf_mul_u64(n, (uint64_t)d, &n) && n <= (uint64_t)INT64_MAX / 2;
}

static bool param_ok(const rf_q_moe_t *p) {
    if (!p || (p->kind != RF_Q_MOE_W13 && p->kind != RF_Q_MOE_W2)) return false;
    if (p->experts < 1 || p->hidden < 1 || p->inter < 1 || p->expert0 < 0) return false;
    if (p->expert0 > INT64_MAX - p->experts) return false;
    rf_q_moe_geom_t g;
    rf_q_moe_geom(p, &g);
    if (g.prows_pad == 0 || g.cols_pad == 0) return false;
    /* the padded output is the largest of input, output and scales */
    return count_ok(p->experts, g.parts, g.prows_pad, g.cols_pad);
}

refit_status rf_q_moe_validate(const rf_q_moe_t *p, const char *label) {
    if (!label) label = "(unnamed)";
    if (param_ok(p)) return REFIT_OK;
    if (!p) return rf_error(REFIT_ERR_INVALID_ARG, "%s: quantize experts: no param", label);
    return rf_error(REFIT_ERR_INVALID_ARG,
                    "%s: quantize experts: bad expert param (kind %d, E_r %" PRId64 ", e0 %" PRId64
                    ", H %" PRId64 ", I_r %" PRId64 ")",
                    label, (int)p->kind, p->experts, p->expert0, p->hidden, p->inter);
}

void rf_q_moe_expert_dims(const rf_q_moe_t *p, int64_t *rows, int64_t *cols) {
    *rows = *cols = 0;
    if (!param_ok(p)) return;
    rf_q_moe_geom_t g;
    rf_q_moe_geom(p, &g);
    *rows = g.parts * g.prows;
    *cols = g.cols;
}

static uint64_t prod3(const uint64_t shape[3]) { return shape[0] * shape[1] * shape[2]; }

void rf_q_moe_in_shape(const rf_q_moe_t *p, uint64_t shape[3]) {
    int64_t rows, cols;
    rf_q_moe_expert_dims(p, &rows, &cols);
    shape[0] = rows ? (uint64_t)p->experts : 0;
    shape[1] = (uint64_t)rows;
    shape[2] = (uint64_t)cols;
}

uint64_t rf_q_moe_in_count(const rf_q_moe_t *p) {
    uint64_t sh[3];
    rf_q_moe_in_shape(p, sh);
    return prod3(sh);
}

void rf_q_moe_out_shape(rf_qscheme_t s, const rf_q_moe_t *p, uint64_t shape[3]) {
    rf_q_moe_in_shape(p, shape);
    if (s != RF_Q_FP8_BLOCK || shape[0] == 0) return;
    rf_q_moe_geom_t g;
    rf_q_moe_geom(p, &g);
    shape[1] = (uint64_t)(g.parts * g.prows_pad);
    shape[2] = (uint64_t)g.cols_pad;
}

uint64_t rf_q_moe_out_count(rf_qscheme_t s, const rf_q_moe_t *p) {
    uint64_t sh[3];
    rf_q_moe_out_shape(s, p, sh);
    return prod3(sh);
}

uint64_t rf_q_moe_out_bytes(rf_qscheme_t s, const rf_q_moe_t *p) {
    return rf_q_moe_out_count(s, p) * (s == RF_Q_NONE ? 2u : 1u);
}

void rf_q_moe_scale_shape(rf_qscheme_t s, const rf_q_moe_t *p, int *ndim, uint64_t shape[3]) {
    uint64_t out[3];
    rf_q_moe_out_shape(s, p, out);
    shape[0] = shape[1] = shape[2] = 0;
    *ndim = 0;
    if (out[0] == 0) return;
    switch (s) {
    case RF_Q_FP8_TENSOR:
        *ndim = 1;
        shape[0] = out[0];
        break;
    case RF_Q_FP8_ROW:
        *ndim = 3;
        shape[0] = out[0];
        shape[1] = out[1];
        shape[2] = 1;
        break;
    case RF_Q_FP8_BLOCK: /* out is padded: whole blocks */
        *ndim = 3;
        shape[0] = out[0];
        shape[1] = out[1] / RF_Q_BLOCK;
        shape[2] = out[2] / RF_Q_BLOCK;
        break;
    default: break;
    }
}

uint64_t rf_q_moe_scale_count(rf_qscheme_t s, const rf_q_moe_t *p) {
    int ndim;
    uint64_t sh[3];
    rf_q_moe_scale_shape(s, p, &ndim, sh);
    if (ndim == 0) return 0;
    return ndim == 1 ? sh[0] : prod3(sh);
}

/* ---- NaN/Inf ------------------------------------------------------------ */

void rf_q_moe_locate(const rf_q_moe_t *p, int64_t idx, int64_t *expert, int64_t *row,
                     int64_t *col) {
    int64_t rows, cols;
    rf_q_moe_expert_dims(p, &rows, &cols);
    if (rows == 0 || idx < 0) {
        *expert = *row = *col = -1;
        return;
    }
    *expert = idx / (rows * cols);
    *row = idx % (rows * cols) / cols;
    *col = idx % cols;
}

refit_status rf_q_moe_numeric_error(const rf_q_moe_t *p, const char *label, int64_t idx,
                                    bool is_inf) {
    int64_t j, r, c;
    rf_q_moe_locate(p, idx, &j, &r, &c);
    return rf_error(REFIT_ERR_NUMERIC, "%s: %s at expert %" PRId64 " row %" PRId64 " col %" PRId64,
                    label ? label : "(unnamed)", is_inf ? "inf" : "nan", j < 0 ? j : p->expert0 + j,
                    r, c);
}

/* ---- fp8-block placement ------------------------------------------------ */

/* Spreads a [rows, cols] block of codes stored contiguously at q to row
 * stride ld (>= cols) in place, then zeroes columns [cols, ld) of each row
 * and rows [rows, prows_pad): the part's padded [prows_pad, ld] tile. Rows
 * move last to first: row r goes from r*cols to r*ld >= r*cols, above every
 * row not yet moved, so nothing is overwritten before it has moved. */
static void spread_pad(uint8_t *q, int64_t rows, int64_t cols, int64_t prows_pad, int64_t ld) {
    for (int64_t r = rows - 1; r >= 0; r--)
        memmove(q + r * ld, q + r * cols, (size_t)cols);
    for (int64_t r = 0; r < rows; r++)
        memset(q + r * ld + cols, 0, (size_t)(ld - cols));
    memset(q + rows * ld, 0, (size_t)((prows_pad - rows) * ld));
}

/* Part k of expert j: block-quantized on its own (ragged edge blocks, SPEC
 * §4), its codes written at its padded position and its scale grid
 * [prows_pad/128, cols_pad/128] at its place in the expert's stacked grid. */
static refit_status quant_block_part(const rf_q_moe_geom_t *g, const uint16_t *x_exp,
                                     uint8_t *out_exp, float *sc_exp, int64_t k,
                                     const char *label) {
    const int64_t nbc = g->cols_pad / RF_Q_BLOCK;
    uint8_t *q = out_exp + k * g->prows_pad * g->cols_pad;
    RF_CHECK(rf_q_quantize_ref(RF_Q_FP8_BLOCK, x_exp + k * g->prows * g->cols, g->prows, g->cols,
                               label, q, sc_exp + k * (g->prows_pad / RF_Q_BLOCK) * nbc));
    spread_pad(q, g->prows, g->cols, g->prows_pad, g->cols_pad);
    return REFIT_OK;
}

/* ---- entry point --------------------------------------------------------- */

static refit_status quant_checked(rf_qscheme_t s, const rf_q_moe_t *p, const uint16_t *x,
                                  const char *label, uint8_t *out, float *scales) {
    rf_q_moe_geom_t g;
    rf_q_moe_geom(p, &g);
    const int64_t rows = g.parts * g.prows, n_exp = rows * g.cols;
    switch (s) {
    case RF_Q_NONE: memcpy(out, x, (size_t)(p->experts * n_exp) * 2); return REFIT_OK;
    case RF_Q_FP8_ROW: /* rows are independent: all experts' rows in one call */
        return rf_q_quantize_ref(s, x, p->experts * rows, g.cols, label, out, scales);
    case RF_Q_FP8_TENSOR:
        for (int64_t j = 0; j < p->experts; j++)
            RF_CHECK(rf_q_quantize_ref(s, x + j * n_exp, rows, g.cols, label, out + j * n_exp,
                                       scales + j));
        return REFIT_OK;
    default: {
        const int64_t out_exp = g.parts * g.prows_pad * g.cols_pad;
        const int64_t sc_exp = out_exp / (RF_Q_BLOCK * RF_Q_BLOCK);
        for (int64_t j = 0; j < p->experts; j++)
            for (int64_t k = 0; k < g.parts; k++)
                RF_CHECK(quant_block_part(&g, x + j * n_exp, out + j * out_exp, scales + j * sc_exp,
                                          k, label));
        return REFIT_OK;
    }
    }
}

refit_status rf_q_moe_quantize_ref(rf_qscheme_t s, const rf_q_moe_t *p, const uint16_t *x,
                                   const char *label, void *out, float *scales) {
    if (!label) label = "(unnamed)";
    if ((int)s < 0 || s >= RF_Q_COUNT)
        return rf_error(REFIT_ERR_INVALID_ARG, "%s: quantize experts: unknown scheme %d", label,
                        (int)s);
    RF_CHECK(rf_q_moe_validate(p, label));
    if (!x || !out || (!scales && s != RF_Q_NONE))
        return rf_error(REFIT_ERR_INVALID_ARG, "%s: quantize experts: NULL data or scales", label);
    /* Check all experts before writing anything: a rejected reload leaves
     * out untouched. */
    const size_t n = (size_t)rf_q_moe_in_count(p);
    const int64_t bad = rf_q_find_nonfinite(x, n);
    if (bad >= 0)
        return rf_q_moe_numeric_error(p, label, bad, (x[bad] & BF16_ABS_MASK) == BF16_ABS_INF);
    return quant_checked(s, p, x, label, (uint8_t *)out, scales);
}
