/* kernels/quant_moe_ref.c (per-expert quantization, SPEC §3a) against an
 * oracle built here from the SPEC text:
 *   fp8-tensor  each expert alone through the dense reference (one scale over
 *               gate and up), and that scale against max(amax/448, MIN_SCALE)
 *               with amax taken in double here;
 *   fp8-row     each expert alone through the dense reference;
 *   fp8-block   the padded expert Xp_j / Yp_j built literally (+0 everywhere
 *               but gate at rows [0, I_r), up at [Ip, Ip+I_r), columns
 *               [0, H)) and block-quantized whole by the dense reference;
 *               and the "equivalently" of §3a: gate and up quantized apart,
 *               scale grids stacked;
 *   none        the input bytes.
 * The dense reference itself is checked against a slow oracle by
 * test_quant.c. Also NaN/Inf reports, argument errors and the shape helpers
 * (the SPEC's qwen3_moe-30B tp 4 example). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../quant_moe_cases.h"
#include "check.h"
#include "quant_moe.h"

/* ---- oracle -------------------------------------------------------------- */

static float bf(uint16_t b) { /* widening, independent of rf_bf16_to_f32 */
    uint32_t u = (uint32_t)b << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

typedef struct {
    uint8_t *out;
    float *sc;
    size_t n_out, n_sc;
} result_t;

static void result_alloc(result_t *r, size_t n_out, size_t n_sc) {
    r->n_out = n_out;
    r->n_sc = n_sc;
    r->out = moe_xmalloc(n_out);
    r->sc = moe_xmalloc(n_sc * sizeof(float) + 4);
    memset(r->out, 0xAB, n_out); /* every byte must be written */
    memset(r->sc, 0xCD, n_sc * sizeof(float) + 4);
}

static void result_free(result_t *r) {
    free(r->out);
    free(r->sc);
}

static void dense(rf_qscheme_t s, const uint16_t *x, int64_t rows, int64_t cols, uint8_t *out,
                  float *sc) {
    refit_status st = rf_q_quantize_ref(s, x, rows, cols, "oracle", out, sc);
    CHECK(st == REFIT_OK, "oracle dense %s [%" PRId64 ",%" PRId64 "]: %s", rf_q_scheme_name(s),
          rows, cols, rf_err_msg());
    rf_err_clear();
}

/* SPEC §4 fp8-tensor scale from an amax computed in double. */
static float tensor_scale(const uint16_t *x, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs((double)bf(x[i])));
    float s = (float)m / 448.0f;
    const float min_scale = (float)(1.0 / 229376.0); /* 1/(448*512) */
    return s > min_scale ? s : min_scale;
}

/* Padded expert j per §3a: all +0, then each part's rows at k*prows_pad. */
static uint16_t *padded_expert(const moe_case_t *c, const uint16_t *xj, int64_t *prow,
                               int64_t *pcol) {
    bool w13 = c->p.kind == RF_Q_MOE_W13;
    int64_t parts = w13 ? 2 : 1, prows = w13 ? c->p.inter : c->p.hidden;
    int64_t prp = w13 ? c->ip : c->hp, pc = w13 ? c->hp : c->ip;
    uint16_t *xp = moe_xmalloc((size_t)(parts * prp * pc) * 2);
    memset(xp, 0, (size_t)(parts * prp * pc) * 2);
    for (int64_t k = 0; k < parts; k++)
        for (int64_t r = 0; r < prows; r++)
            memcpy(xp + (k * prp + r) * pc, xj + (k * prows + r) * c->cols, (size_t)c->cols * 2);
    *prow = parts * prp;
    *pcol = pc;
    return xp;
}

static void oracle(rf_qscheme_t s, const moe_case_t *c, const uint16_t *x, result_t *want) {
    const int64_t ne = c->rows * c->cols;
    for (int64_t j = 0; j < c->p.experts; j++) {
        const uint16_t *xj = x + j * ne;
        if (s == RF_Q_NONE) {
            memcpy(want->out + j * ne * 2, xj, (size_t)ne * 2);
        } else if (s == RF_Q_FP8_TENSOR) {
            dense(s, xj, c->rows, c->cols, want->out + j * ne, want->sc + j);
            float s_spec = tensor_scale(xj, (size_t)ne);
            CHECK(memcmp(&s_spec, want->sc + j, 4) == 0, "expert %" PRId64 " scale %a, spec %a", j,
                  (double)want->sc[j], (double)s_spec);
        } else if (s == RF_Q_FP8_ROW) {
            dense(s, xj, c->rows, c->cols, want->out + j * ne, want->sc + j * c->rows);
        } else {
            int64_t pr, pc;
            uint16_t *xp = padded_expert(c, xj, &pr, &pc);
            dense(s, xp, pr, pc, want->out + j * pr * pc, want->sc + j * (pr / 128) * (pc / 128));
            free(xp);
        }
    }
}

/* ---- comparisons --------------------------------------------------------- */

static void compare(rf_qscheme_t s, const result_t *got, const result_t *want, const char *what) {
    for (size_t i = 0; i < got->n_out; i++)
        if (got->out[i] != want->out[i]) {
            CHECK(0, "%s %s: byte %zu: got 0x%02x want 0x%02x", rf_q_scheme_name(s), what, i,
                  got->out[i], want->out[i]);
            break;
        }
    for (size_t i = 0; i < got->n_sc; i++)
        if (memcmp(&got->sc[i], &want->sc[i], 4) != 0) {
            CHECK(0, "%s %s: scale %zu: got %a want %a", rf_q_scheme_name(s), what, i,
                  (double)got->sc[i], (double)want->sc[i]);
            break;
        }
}

/* fp8-block, second reading of §3a: gate and up (or the w2 matrix) block-
 * quantized apart with ragged edges; their scale grids stacked, their codes
 * at row offsets 0 and Ip, every other code 0x00. */
static void check_block_parts(const moe_case_t *c, const uint16_t *x, const result_t *got,
                              const char *what) {
    bool w13 = c->p.kind == RF_Q_MOE_W13;
    int64_t parts = w13 ? 2 : 1, prows = w13 ? c->p.inter : c->p.hidden;
    int64_t prp = w13 ? c->ip : c->hp, pc = w13 ? c->hp : c->ip;
    int64_t nsc = (prp / 128) * (pc / 128);
    uint8_t *q = moe_xmalloc((size_t)(prows * c->cols));
    float *sc = moe_xmalloc((size_t)nsc * sizeof(float));
    for (int64_t j = 0; j < c->p.experts; j++)
        for (int64_t k = 0; k < parts; k++) {
            dense(RF_Q_FP8_BLOCK, x + (j * c->rows + k * prows) * c->cols, prows, c->cols, q, sc);
            const uint8_t *o = got->out + (j * parts + k) * prp * pc;
            CHECK(memcmp(sc, got->sc + (j * parts + k) * nsc, (size_t)nsc * 4) == 0,
                  "%s: expert %" PRId64 " part %" PRId64 " scales not the stacked grid", what, j,
                  k);
            bool codes = true, pad = true;
            for (int64_t r = 0; r < prp; r++)
                for (int64_t col = 0; col < pc; col++) {
                    if (r < prows && col < c->cols)
                        codes &= o[r * pc + col] == q[r * c->cols + col];
                    else
                        pad &= o[r * pc + col] == 0x00;
                }
            CHECK(codes, "%s: expert %" PRId64 " part %" PRId64 " codes misplaced", what, j, k);
            CHECK(pad, "%s: expert %" PRId64 " part %" PRId64 " padding not 0x00", what, j, k);
        }
    free(q);
    free(sc);
}

/* Expert 1 is all zero (moe_fill): its scales are §4's floors, written out
 * here: MIN_SCALE = 1/(448*512) for fp8-tensor and fp8-row, and for every
 * fp8-block block max(0, 1e-4) * fp32(1/448). */
static void check_floors(rf_qscheme_t s, const moe_case_t *c, const result_t *got,
                         const char *what) {
    if (s == RF_Q_NONE) return;
    const float min_scale = (float)(1.0 / 229376.0), block_floor = 1e-4f * (float)(1.0 / 448.0);
    const size_t per_expert = got->n_sc / (size_t)c->p.experts;
    const float want = s == RF_Q_FP8_BLOCK ? block_floor : min_scale;
    for (size_t i = per_expert; i < 2 * per_expert; i++)
        if (memcmp(&got->sc[i], &want, 4) != 0) {
            CHECK(0, "%s %s: zero expert scale %zu is %a, want %a", rf_q_scheme_name(s), what, i,
                  (double)got->sc[i], (double)want);
            return;
        }
}

static void run_case(rf_qscheme_t s, const moe_case_t *c, const uint16_t *x) {
    char what[96];
    snprintf(what, sizeof what, "%s E_r %" PRId64 " H %" PRId64 " I_r %" PRId64,
             moe_kind_name(c->p.kind), c->p.experts, c->p.hidden, c->p.inter);
    size_t n_out = (size_t)rf_q_moe_out_bytes(s, &c->p);
    size_t n_sc = (size_t)rf_q_moe_scale_count(s, &c->p);
    result_t got, want;
    result_alloc(&got, n_out, n_sc);
    result_alloc(&want, n_out, n_sc);
    refit_status st = rf_q_moe_quantize_ref(s, &c->p, x, "experts", got.out, got.sc);
    CHECK(st == REFIT_OK, "%s %s: %s", rf_q_scheme_name(s), what, rf_err_msg());
    rf_err_clear();
    oracle(s, c, x, &want);
    compare(s, &got, &want, what);
    if (s == RF_Q_FP8_BLOCK) check_block_parts(c, x, &got, what);
    if (c->p.experts > 1) check_floors(s, c, &got, what);
    CHECK(((uint8_t *)got.sc)[n_sc * 4] == 0xCD || n_sc == 0, "%s %s: wrote past the scales",
          rf_q_scheme_name(s), what);
    result_free(&got);
    result_free(&want);
}

static void all_schemes(const moe_case_t *c, size_t inter_idx) {
    (void)inter_idx;
    uint16_t *x = moe_xmalloc(moe_case_elems(c) * 2);
    moe_fill(c, x);
    for (int s = 0; s < RF_Q_COUNT; s++)
        run_case((rf_qscheme_t)s, c, x);
    free(x);
}

/* ---- NaN/Inf -------------------------------------------------------------- */

static void expect_reject(rf_qscheme_t s, const moe_case_t *c, const uint16_t *x,
                          const char *want) {
    size_t n_out = (size_t)rf_q_moe_out_bytes(s, &c->p);
    size_t n_sc = (size_t)rf_q_moe_scale_count(s, &c->p);
    result_t got;
    result_alloc(&got, n_out, n_sc);
    rf_err_clear();
    refit_status st = rf_q_moe_quantize_ref(s, &c->p, x, MOE_BAD_LABEL, got.out, got.sc);
    CHECK(st == REFIT_ERR_NUMERIC, "%s: want numeric error, got %s", rf_q_scheme_name(s),
          refit_status_str(st));
    CHECK(strcmp(rf_err_msg(), want) == 0, "%s: message '%s', want '%s'", rf_q_scheme_name(s),
          rf_err_msg(), want);
    bool untouched = true;
    for (size_t i = 0; i < n_out; i++)
        untouched &= got.out[i] == 0xAB;
    for (size_t i = 0; i < n_sc * 4; i++)
        untouched &= ((uint8_t *)got.sc)[i] == 0xCD;
    CHECK(untouched, "%s: output written for a rejected param", rf_q_scheme_name(s));
    rf_err_clear();
    result_free(&got);
}

static void test_nonfinite(void) {
    moe_case_t c = moe_case(RF_Q_MOE_W13, 3, 200, 96);
    uint16_t *x = moe_xmalloc(moe_case_elems(&c) * 2);
    for (size_t k = 0; k < MOE_N(moe_bad_cases); k++) {
        size_t at = moe_bad_fill(&c, k, x);
        for (int s = 0; s < RF_Q_COUNT; s++)
            expect_reject((rf_qscheme_t)s, &c, x, moe_bad_cases[k].msg);
        int64_t j, r, col;
        rf_q_moe_locate(&c.p, (int64_t)at, &j, &r, &col);
        CHECK(j == moe_bad_cases[k].j && r == moe_bad_cases[k].r && col == moe_bad_cases[k].c,
              "locate case %zu", k);
    }
    free(x);
}

/* ---- arguments ------------------------------------------------------------ */

static void expect_invalid(rf_qscheme_t s, const rf_q_moe_t *p, const uint16_t *x, void *out,
                           float *sc, const char *what) {
    rf_err_clear();
    refit_status st = rf_q_moe_quantize_ref(s, p, x, "w", out, sc);
    CHECK(st == REFIT_ERR_INVALID_ARG, "%s: got %s", what, refit_status_str(st));
    CHECK(strncmp(rf_err_msg(), "w: quantize experts", 19) == 0, "%s: message '%s'", what,
          rf_err_msg());
    rf_err_clear();
}

static void test_bad_args(void) {
    uint16_t x[2 * 2 * 3] = {0};
    uint8_t out[2 * 256 * 128];
    float sc[16];
    rf_q_moe_t ok = {.kind = RF_Q_MOE_W13, .experts = 1, .hidden = 3, .inter = 2};
    CHECK(rf_q_moe_quantize_ref(RF_Q_FP8_BLOCK, &ok, x, "w", out, sc) == REFIT_OK, "valid: %s",
          rf_err_msg());
    rf_q_moe_t p = ok;
    p.experts = 0;
    expect_invalid(RF_Q_FP8_ROW, &p, x, out, sc, "no experts");
    p = ok;
    p.inter = -1;
    expect_invalid(RF_Q_FP8_ROW, &p, x, out, sc, "negative I_r");
    p = ok;
    p.hidden = 0;
    expect_invalid(RF_Q_FP8_ROW, &p, x, out, sc, "H 0");
    p = ok;
    p.kind = (rf_q_moe_kind_t)5;
    expect_invalid(RF_Q_FP8_ROW, &p, x, out, sc, "bad kind");
    p = ok;
    p.expert0 = -1;
    expect_invalid(RF_Q_FP8_ROW, &p, x, out, sc, "negative e0");
    p = ok;
    p.experts = INT64_MAX / 4;
    expect_invalid(RF_Q_FP8_ROW, &p, x, out, sc, "overflowing E_r");
    p = ok;
    p.hidden = INT64_MAX - 5;
    expect_invalid(RF_Q_FP8_ROW, &p, x, out, sc, "H near INT64_MAX");
    expect_invalid(RF_Q_FP8_ROW, NULL, x, out, sc, "NULL param");
    expect_invalid((rf_qscheme_t)9, &ok, x, out, sc, "bad scheme");
    expect_invalid(RF_Q_FP8_TENSOR, &ok, NULL, out, sc, "NULL x");
    expect_invalid(RF_Q_FP8_TENSOR, &ok, x, NULL, sc, "NULL out");
    expect_invalid(RF_Q_FP8_TENSOR, &ok, x, out, NULL, "NULL scales");
    CHECK(rf_q_moe_quantize_ref(RF_Q_NONE, &ok, x, "w", out, NULL) == REFIT_OK,
          "none needs no scales");
    CHECK(rf_q_moe_validate(&ok, NULL) == REFIT_OK, "validate ok");
}

/* ---- shapes ---------------------------------------------------------------- */

static void expect3(const uint64_t got[3], uint64_t a, uint64_t b, uint64_t c, const char *what) {
    CHECK(got[0] == a && got[1] == b && got[2] == c,
          "%s: [%" PRIu64 ", %" PRIu64 ", %" PRIu64 "] want [%" PRIu64 ", %" PRIu64 ", %" PRIu64
          "]",
          what, got[0], got[1], got[2], a, b, c);
}

static void expect_scale(rf_qscheme_t s, const rf_q_moe_t *p, int nd, uint64_t a, uint64_t b,
                         uint64_t c, const char *what) {
    int ndim = -1;
    uint64_t sh[3] = {99, 99, 99};
    rf_q_moe_scale_shape(s, p, &ndim, sh);
    CHECK(ndim == nd, "%s: ndim %d want %d", what, ndim, nd);
    expect3(sh, a, b, c, what);
    uint64_t count = nd == 0 ? 0 : nd == 1 ? a : a * b * c;
    CHECK(rf_q_moe_scale_count(s, p) == count, "%s: count %" PRIu64, what,
          rf_q_moe_scale_count(s, p));
}

static void test_shapes(void) {
    uint64_t sh[3];
    /* SPEC §3a: qwen3_moe-30B (H 2048, I 768, 128 experts) at tp 4. */
    rf_q_moe_t w13 = {.kind = RF_Q_MOE_W13, .experts = 128, .hidden = 2048, .inter = 192};
    rf_q_moe_t w2 = w13;
    w2.kind = RF_Q_MOE_W2;
    CHECK(rf_q_moe_pad(192) == 256 && rf_q_moe_pad(2048) == 2048 && rf_q_moe_pad(1) == 128 &&
              rf_q_moe_pad(129) == 256 && rf_q_moe_pad(0) == 0 && rf_q_moe_pad(INT64_MAX) == 0,
          "pad");
    rf_q_moe_in_shape(&w13, sh);
    expect3(sh, 128, 384, 2048, "w13 tp4 input");
    rf_q_moe_out_shape(RF_Q_FP8_BLOCK, &w13, sh);
    expect3(sh, 128, 512, 2048, "w13 tp4 block codes (SPEC example)");
    expect_scale(RF_Q_FP8_BLOCK, &w13, 3, 128, 4, 16, "w13 tp4 block scales (SPEC example)");
    CHECK(rf_q_moe_out_bytes(RF_Q_FP8_BLOCK, &w13) == 128ull * 512 * 2048, "w13 block bytes");
    rf_q_moe_out_shape(RF_Q_FP8_BLOCK, &w2, sh);
    expect3(sh, 128, 2048, 256, "w2 tp4 block codes");
    expect_scale(RF_Q_FP8_BLOCK, &w2, 3, 128, 16, 2, "w2 tp4 block scales");
    rf_q_moe_out_shape(RF_Q_FP8_ROW, &w13, sh);
    expect3(sh, 128, 384, 2048, "w13 row codes (unpadded)");
    expect_scale(RF_Q_FP8_ROW, &w13, 3, 128, 384, 1, "w13 row scales");
    expect_scale(RF_Q_FP8_ROW, &w2, 3, 128, 2048, 1, "w2 row scales");
    expect_scale(RF_Q_FP8_TENSOR, &w13, 1, 128, 0, 0, "w13 tensor scales");
    expect_scale(RF_Q_NONE, &w2, 0, 0, 0, 0, "none: no scales");
    rf_q_moe_out_shape(RF_Q_NONE, &w2, sh);
    expect3(sh, 128, 2048, 192, "w2 none");
    CHECK(rf_q_moe_out_bytes(RF_Q_NONE, &w2) == 2ull * 128 * 2048 * 192, "none bytes are bf16");
    CHECK(rf_q_moe_out_bytes(RF_Q_FP8_TENSOR, &w2) == 128ull * 2048 * 192, "tensor bytes");
    /* tp 1: 768 and 2048 are whole blocks, no padding. */
    w13.inter = 768;
    rf_q_moe_out_shape(RF_Q_FP8_BLOCK, &w13, sh);
    expect3(sh, 128, 1536, 2048, "w13 tp1 block codes");
    expect_scale(RF_Q_FP8_BLOCK, &w13, 3, 128, 12, 16, "w13 tp1 block scales");
    /* Ragged H pads too. */
    rf_q_moe_t odd = {.kind = RF_Q_MOE_W2, .experts = 3, .hidden = 200, .inter = 96};
    rf_q_moe_out_shape(RF_Q_FP8_BLOCK, &odd, sh);
    expect3(sh, 3, 256, 128, "w2 H 200 I_r 96 block codes");
    int64_t r, c;
    rf_q_moe_expert_dims(&odd, &r, &c);
    CHECK(r == 200 && c == 96, "w2 expert dims %" PRId64 "x%" PRId64, r, c);
    CHECK(rf_q_moe_in_count(&odd) == 3ull * 200 * 96, "in count");
    rf_q_moe_geom_t g;
    rf_q_moe_geom(&w13, &g);
    CHECK(g.parts == 2 && g.prows == 768 && g.cols == 2048 && g.prows_pad == 768 &&
              g.cols_pad == 2048,
          "w13 geometry");
    /* An invalid param has empty shapes. */
    odd.experts = 0;
    rf_q_moe_out_shape(RF_Q_FP8_BLOCK, &odd, sh);
    expect3(sh, 0, 0, 0, "invalid param");
    expect_scale(RF_Q_FP8_ROW, &odd, 0, 0, 0, 0, "invalid param scales");
    CHECK(rf_q_moe_out_bytes(RF_Q_NONE, NULL) == 0, "NULL param");
}

int main(void) {
    test_shapes();
    moe_each_case(all_schemes);
    test_nonfinite();
    test_bad_args();
    if (failures) {
        fprintf(stderr, "test_quant_moe: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_quant_moe: ok\n");
    return 0;
}
