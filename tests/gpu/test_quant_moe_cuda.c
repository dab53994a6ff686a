/* The grouped MoE quantization kernels (kernels/quant_moe_cuda.cu) against
 * the C reference (kernels/quant_moe_ref.c), byte for byte (SPEC §3a, §5:
 * host and CUDA dumps must be identical):
 *  1. every scheme over the cases of tests/quant_moe_cases.h (the unit
 *     test's), plus the qwen3_moe-30B tp 4 shape with padding; the device
 *     output is pre-filled with 0xEE so unwritten padding shows;
 *  2. the element-wise kernels: x and out at unaligned addresses;
 *  3. NaN/Inf: rf_qcu_moe_check's message and index equal the reference's,
 *     and a workspace that saw a bad param reports a clean one clean;
 *  4. argument errors (workspace too small for fp8-tensor's per-expert amax).
 * One line per case. Exit 0 pass, 1 fail, 77 skip (no GPU). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant_moe.h"
#ifdef REFIT_HAVE_CUDA
#include "../quant_moe_cases.h"
#include "gpu_check.h"
#include "cuda_device.h"
#include "quant_moe_cuda.h"
#endif

#ifndef REFIT_HAVE_CUDA
int main(void) {
    printf("SKIP: no GPU (built without the CUDA backend)\n");
    return 77;
}
#else

/* Device buffers of one param: x and out at byte offsets from their
 * allocations (odd offsets select the element-wise kernels). */
typedef struct {
    uint8_t *x_base, *out_base, *ws;
    float *sc;
    uint16_t *x;
    uint8_t *out;
    size_t n_out, n_sc, ws_bytes;
} gbuf_t;

static void gbuf_init(gbuf_t *g, rf_qscheme_t s, const moe_case_t *c, const uint16_t *x,
                      size_t x_off, size_t out_off) {
    size_t n = moe_case_elems(c);
    g->n_out = (size_t)rf_q_moe_out_bytes(s, &c->p);
    g->n_sc = (size_t)rf_q_moe_scale_count(s, &c->p);
    g->ws_bytes = rf_qcu_moe_workspace_bytes(s, &c->p);
    DEV(rf_dev_malloc(n * 2 + 16, (void **)&g->x_base));
    DEV(rf_dev_malloc(g->n_out + 16, (void **)&g->out_base));
    DEV(rf_dev_malloc(g->n_sc * 4 + 4, (void **)&g->sc));
    DEV(rf_dev_malloc(g->ws_bytes, (void **)&g->ws));
    g->x = (uint16_t *)(g->x_base + 2 * x_off);
    g->out = g->out_base + out_off;
    DEV(rf_dev_memcpy(g->x, x, n * 2));
    DEV(rf_dev_memset(g->out_base, 0xEE, g->n_out + 16));
    DEV(rf_dev_memset(g->sc, 0xEE, g->n_sc * 4 + 4));
}

static void gbuf_free(gbuf_t *g) {
    rf_dev_free(g->x_base);
    rf_dev_free(g->out_base);
    rf_dev_free(g->sc);
    rf_dev_free(g->ws);
}

static refit_status gpu_quantize(gbuf_t *g, rf_qscheme_t s, const moe_case_t *c, const char *label,
                                 int64_t *first_bad) {
    refit_status st = rf_qcu_moe_quantize(s, &c->p, g->x, g->out, g->sc, g->ws, g->ws_bytes, NULL);
    return st == REFIT_OK ? rf_qcu_moe_check(g->ws, &c->p, label, NULL, first_bad) : st;
}

/* The first differing output byte as (expert, row, col) of the output. */
static void report_diff(rf_qscheme_t s, const moe_case_t *c, const char *desc, const uint8_t *got,
                        const uint8_t *want, size_t n) {
    uint64_t sh[3];
    rf_q_moe_out_shape(s, &c->p, sh);
    size_t diffs = 0, first = 0, esz = (size_t)(sh[1] * sh[2]) * (s == RF_Q_NONE ? 2 : 1);
    for (size_t i = 0; i < n; i++)
        if (got[i] != want[i] && diffs++ == 0) first = i;
    FAIL("%s %s: %zu of %zu bytes differ; first: expert %zu byte %zu of it: gpu 0x%02x reference "
         "0x%02x",
         rf_q_scheme_name(s), desc, diffs, n, first / esz, first % esz, got[first], want[first]);
}

/* Pads and the 16 bytes past the output must still be 0xEE. */
static bool tail_untouched(const gbuf_t *g, size_t out_off) {
    uint8_t tail[32];
    DEV(rf_dev_memcpy(tail, g->out + g->n_out, 16 - out_off));
    for (size_t i = 0; i < 16 - out_off; i++)
        if (tail[i] != 0xEE) return false;
    return true;
}

static void run_case(rf_qscheme_t s, const moe_case_t *c, const uint16_t *x, size_t x_off,
                     size_t out_off) {
    char desc[160];
    snprintf(desc, sizeof desc, "%s E_r %" PRId64 " H %" PRId64 " I_r %" PRId64 "%s%s",
             moe_kind_name(c->p.kind), c->p.experts, c->p.hidden, c->p.inter,
             x_off ? " (x unaligned)" : "", out_off ? " (out unaligned)" : "");
    cases++;
    gbuf_t g;
    gbuf_init(&g, s, c, x, x_off, out_off);
    uint8_t *want = moe_xmalloc(g.n_out), *got = moe_xmalloc(g.n_out);
    float *wsc = moe_xmalloc(g.n_sc * 4), *gsc = moe_xmalloc(g.n_sc * 4);
    refit_status st = rf_q_moe_quantize_ref(s, &c->p, x, "t", want, wsc);
    if (st != REFIT_OK) {
        FAIL("%s %s: reference: %s", rf_q_scheme_name(s), desc, rf_err_msg());
    } else if ((st = gpu_quantize(&g, s, c, "t", NULL)) != REFIT_OK) {
        FAIL("%s %s: gpu: %s (%s)", rf_q_scheme_name(s), desc, refit_status_str(st), rf_err_msg());
    } else {
        DEV(rf_dev_memcpy(got, g.out, g.n_out));
        DEV(rf_dev_memcpy(gsc, g.sc, g.n_sc * 4));
        if (memcmp(got, want, g.n_out) != 0)
            report_diff(s, c, desc, got, want, g.n_out);
        else if (memcmp(gsc, wsc, g.n_sc * 4) != 0)
            FAIL("%s %s: scales differ", rf_q_scheme_name(s), desc);
        else if (!tail_untouched(&g, out_off))
            FAIL("%s %s: wrote past the output", rf_q_scheme_name(s), desc);
        else
            printf("ok   %-10s %s\n", rf_q_scheme_name(s), desc);
    }
    rf_err_clear();
    free(want);
    free(got);
    free(wsc);
    free(gsc);
    gbuf_free(&g);
}

static void run_all_schemes(const moe_case_t *c, size_t x_off, size_t out_off) {
    uint16_t *x = moe_xmalloc(moe_case_elems(c) * 2);
    moe_fill(c, x);
    for (int s = 0; s < RF_Q_COUNT; s++)
        run_case((rf_qscheme_t)s, c, x, x_off, out_off);
    free(x);
}

/* Every case aligned; the element-wise kernels (unaligned x or out) on the
 * first two I_r of the grid. */
static void grid_case(const moe_case_t *c, size_t inter_idx) {
    run_all_schemes(c, 0, 0);
    if (inter_idx < 2) {
        run_all_schemes(c, 1, 0);
        run_all_schemes(c, 0, 3);
    }
}

static void test_cases(void) {
    moe_each_case(grid_case);
    /* qwen3_moe-30B at tp 4 (I_r 192 pads to 256), 128 experts; and a
     * smaller expert count over many CTAs per expert. */
    for (int kind = 0; kind < 2; kind++) {
        moe_case_t big = moe_case((rf_q_moe_kind_t)kind, 128, 2048, 192);
        run_all_schemes(&big, 0, 0);
        moe_case_t few = moe_case((rf_q_moe_kind_t)kind, 2, 4096, 1536);
        run_all_schemes(&few, 0, 0);
    }
}

/* ---- NaN/Inf ------------------------------------------------------------- */

static void test_nonfinite(void) {
    moe_case_t c = moe_case(RF_Q_MOE_W13, 3, 200, 96);
    size_t n = moe_case_elems(&c);
    uint16_t *x = moe_xmalloc(n * 2), *clean = moe_xmalloc(n * 2);
    moe_fill(&c, clean);
    for (size_t k = 0; k < MOE_N(moe_bad_cases); k++) {
        size_t at = moe_bad_fill(&c, k, x);
        for (int s = 0; s < RF_Q_COUNT; s++) {
            cases++;
            gbuf_t g;
            gbuf_init(&g, (rf_qscheme_t)s, &c, x, 0, 0);
            int64_t bad = -2;
            rf_err_clear();
            refit_status st = gpu_quantize(&g, (rf_qscheme_t)s, &c, MOE_BAD_LABEL, &bad);
            const char *name = rf_q_scheme_name((rf_qscheme_t)s);
            if (st != REFIT_ERR_NUMERIC || bad != (int64_t)at)
                FAIL("%s bad case %zu: status %s index %" PRId64 ", want numeric at %zu (%s)", name,
                     k, refit_status_str(st), bad, at, rf_err_msg());
            else if (strcmp(rf_err_msg(), moe_bad_cases[k].msg) != 0)
                FAIL("%s bad case %zu: message '%s', want '%s'", name, k, rf_err_msg(),
                     moe_bad_cases[k].msg);
            else
                printf("ok   %-10s %s\n", name, moe_bad_cases[k].msg);
            rf_err_clear();
            /* The same workspace, a clean param: nothing left over. */
            DEV(rf_dev_memcpy(g.x, clean, n * 2));
            st = gpu_quantize(&g, (rf_qscheme_t)s, &c, MOE_BAD_LABEL, &bad);
            if (st != REFIT_OK || bad != -1)
                FAIL("%s after bad case %zu: clean param reported %s (%s)", name, k,
                     refit_status_str(st), rf_err_msg());
            rf_err_clear();
            gbuf_free(&g);
        }
    }
    free(x);
    free(clean);
}

/* ---- arguments ------------------------------------------------------------- */

static void expect_invalid(refit_status st, const char *what) {
    cases++;
    if (st != REFIT_ERR_INVALID_ARG)
        FAIL("args %s: got %s, want invalid argument", what, refit_status_str(st));
    else
        printf("ok   args %s: %s\n", what, rf_err_msg());
    rf_err_clear();
}

static void test_args(void) {
    moe_case_t c = moe_case(RF_Q_MOE_W2, 128, 256, 96);
    uint16_t *x = moe_xmalloc(moe_case_elems(&c) * 2);
    moe_fill(&c, x);
    gbuf_t g;
    gbuf_init(&g, RF_Q_FP8_TENSOR, &c, x, 0, 0);
    size_t need = rf_qcu_moe_workspace_bytes(RF_Q_FP8_TENSOR, &c.p);
    if (need < 16 + 128 * 4 || need % RF_QCU_WORKSPACE_BYTES != 0)
        FAIL("workspace bytes %zu for 128 experts", need);
    expect_invalid(rf_qcu_moe_quantize(RF_Q_FP8_TENSOR, &c.p, g.x, g.out, g.sc, g.ws,
                                       RF_QCU_WORKSPACE_BYTES, NULL),
                   "fp8-tensor workspace too small");
    expect_invalid(rf_qcu_moe_quantize(RF_Q_FP8_TENSOR, &c.p, NULL, g.out, g.sc, g.ws, need, NULL),
                   "NULL x");
    expect_invalid(rf_qcu_moe_quantize(RF_Q_FP8_BLOCK, &c.p, g.x, g.out, NULL, g.ws, need, NULL),
                   "NULL scales");
    expect_invalid(rf_qcu_moe_quantize((rf_qscheme_t)9, &c.p, g.x, g.out, g.sc, g.ws, need, NULL),
                   "bad scheme");
    moe_case_t bad = c;
    bad.p.inter = 0;
    expect_invalid(rf_qcu_moe_quantize(RF_Q_FP8_ROW, &bad.p, g.x, g.out, g.sc, g.ws, need, NULL),
                   "I_r 0");
    gbuf_free(&g);
    free(x);
}

int main(void) {
    if (rf_dev_count() == 0) {
        printf("SKIP: no GPU (rf_dev_count() == 0)\n");
        return 77;
    }
    char desc[256];
    DEV(rf_dev_desc(desc, sizeof desc));
    printf("# test_quant_moe_cuda: %s\n", desc);
    test_cases();
    test_nonfinite();
    test_args();
    printf("test_quant_moe_cuda: %d case(s), %d failure(s)\n", cases, failures);
    return failures ? 1 : 0;
}
#endif
