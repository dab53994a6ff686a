/* The CUDA quantization kernels (kernels/quant_cuda.cu) against the C
 * reference (kernels/quant_ref.c), byte for byte (SPEC §4: dumps from the host
 * and the CUDA backend must be identical).
 *
 *  1. the hardware fp32 -> e4m3fn conversion vs rf_f32_to_fp8, all 2^32 inputs;
 *  2. every scheme on ragged and large shapes, random data, every finite bf16
 *     pattern, special values, and unaligned buffers (the scalar kernels);
 *  3. NaN/Inf detection: first bad element and message as the reference;
 *  4. argument errors.
 * Prints one line per case. Exit 0 pass, 1 fail, 77 skip (no GPU). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant.h"
#ifdef REFIT_HAVE_CUDA
#include "cuda_device.h"
#include "quant_cuda.h"
#include "gpu_check.h"
#endif

#ifndef REFIT_HAVE_CUDA
int main(void) {
    printf("test_quant_cuda: no GPU: skipped (built without the CUDA backend)\n");
    return 77;
}
#else

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) {
        printf("FAIL host out of memory (%zu bytes)\n", n);
        exit(1);
    }
    return p;
}

static uint64_t rng = 0x243F6A8885A308D3ull;
static uint32_t rnd(void) {
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return (uint32_t)((rng * 0x2545F4914F6CDD1Dull) >> 32);
}

static bool bf16_finite(uint16_t b) { return (b & 0x7FFF) < 0x7F80; }

/* ---- 1. the raw conversion ---------------------------------------------- */

static void test_convert_all(void) {
    const uint64_t chunk = 1ull << 28, total = 1ull << 32;
    uint8_t *d = NULL, *h = xmalloc(chunk);
    uint64_t bad = 0, bad_nan = 0;
    DEV(rf_dev_malloc(chunk, (void **)&d));
    for (uint64_t first = 0; first < total; first += chunk) {
        DEV(rf_qcu_convert_bits((uint32_t)first, chunk, d, NULL));
        DEV(rf_dev_memcpy(h, d, chunk));
        for (uint64_t i = 0; i < chunk; i++) {
            uint32_t u = (uint32_t)(first + i);
            float f;
            memcpy(&f, &u, 4);
            uint8_t want = rf_f32_to_fp8(f);
            if (h[i] == want) continue;
            if (isnan(f)) {
                if (bad_nan++ < 3)
                    printf("note: NaN input 0x%08x: gpu 0x%02x, reference 0x%02x\n", u, h[i], want);
            } else if (bad++ < 10) {
                printf("FAIL convert 0x%08x (%a): gpu 0x%02x reference 0x%02x\n", u, (double)f,
                       h[i], want);
            }
        }
    }
    rf_dev_free(d);
    free(h);
    cases++;
    if (bad) {
        failures++;
        printf("FAIL convert: %" PRIu64 " of 2^32 non-NaN inputs differ\n", bad);
    } else {
        printf("ok   convert: all 2^32 fp32 -> e4m3fn match the reference (non-NaN inputs)\n");
    }
    if (bad_nan)
        printf("WARNING convert: %" PRIu64 " NaN inputs give another NaN byte than the reference "
               "(0x7F); quantization never converts NaN (it rejects the tensor first)\n",
               bad_nan);
}

/* ---- 2. quantization, byte for byte -------------------------------------- */

typedef struct {
    size_t x_off;   /* elements added to the device x pointer (1 = unaligned) */
    size_t out_off; /* bytes added to the device out pointer */
} layout_t;

static const char *layout_name(layout_t l) {
    if (l.x_off) return "x unaligned";
    if (l.out_off) return "out unaligned";
    return "aligned";
}

static void report_diff(rf_qscheme_t s, const char *what, const uint16_t *x, int64_t cols,
                        const uint8_t *got, const uint8_t *want, size_t n) {
    size_t diffs = 0, first = 0;
    for (size_t i = 0; i < n; i++)
        if (got[i] != want[i] && diffs++ == 0) first = i;
    FAIL("%s %s: %zu of %zu bytes differ; first at row %zu col %zu (x bits 0x%04x): gpu 0x%02x "
         "reference 0x%02x",
         rf_q_scheme_name(s), what, diffs, n, first / (size_t)cols, first % (size_t)cols, x[first],
         got[first], want[first]);
}

/* Device buffers of one case; x and out sit at the layout's offsets, out is
 * pre-filled with 0xEE so untouched bytes are visible. */
typedef struct {
    uint8_t *x_base, *out_base, *ws;
    float *scales;
    uint16_t *x;
    uint8_t *out;
} gbuf_t;

static void gbuf_init(gbuf_t *g, const uint16_t *x, size_t n, size_t ns, layout_t lay) {
    DEV(rf_dev_malloc(n * 2 + 16, (void **)&g->x_base));
    DEV(rf_dev_malloc(n + 16, (void **)&g->out_base));
    DEV(rf_dev_malloc(ns * sizeof(float), (void **)&g->scales));
    DEV(rf_dev_malloc(RF_QCU_WORKSPACE_BYTES, (void **)&g->ws));
    g->x = (uint16_t *)g->x_base + lay.x_off;
    g->out = g->out_base + lay.out_off;
    DEV(rf_dev_memcpy(g->x, x, n * 2));
    DEV(rf_dev_memset(g->out_base, 0xEE, n + 16));
}

static void gbuf_free(gbuf_t *g) {
    rf_dev_free(g->x_base);
    rf_dev_free(g->out_base);
    rf_dev_free(g->scales);
    rf_dev_free(g->ws);
}

/* rf_qcu_quantize + rf_qcu_check, as a caller would do them. */
static refit_status gpu_quantize(gbuf_t *g, rf_qscheme_t s, int64_t rows, int64_t cols,
                                 const char *label, int64_t *first_bad) {
    refit_status st = rf_qcu_quantize(s, g->x, rows, cols, g->out, g->scales, g->ws,
                                      RF_QCU_WORKSPACE_BYTES, NULL);
    return st == REFIT_OK ? rf_qcu_check(g->ws, cols, label, NULL, first_bad) : st;
}

/* Compares the GPU result in g with the reference's want/wsc. */
static void compare(rf_qscheme_t s, const char *desc, const uint16_t *x, int64_t cols, gbuf_t *g,
                    const uint8_t *want, const float *wsc, size_t n, size_t ns) {
    uint8_t *got = xmalloc(n);
    float *gsc = xmalloc(ns * sizeof(float));
    DEV(rf_dev_memcpy(got, g->out, n));
    DEV(rf_dev_memcpy(gsc, g->scales, ns * sizeof(float)));
    if (memcmp(got, want, n) != 0)
        report_diff(s, desc, x, cols, got, want, n);
    else if (memcmp(gsc, wsc, ns * sizeof(float)) != 0)
        FAIL("%s %s: scales differ", rf_q_scheme_name(s), desc);
    else
        printf("ok   %-10s %s\n", rf_q_scheme_name(s), desc);
    free(got);
    free(gsc);
}

/* Quantizes x on the GPU and with the reference; compares bytes and scales. */
static void run_case(rf_qscheme_t s, const uint16_t *x, int64_t rows, int64_t cols,
                     const char *what, layout_t lay) {
    size_t n = (size_t)(rows * cols);
    size_t ns = (size_t)rf_q_scale_count(s, rows, cols);
    uint8_t *want = xmalloc(n);
    float *wsc = xmalloc(ns * sizeof(float));
    char desc[160];
    snprintf(desc, sizeof desc, "%" PRId64 "x%" PRId64 " %s (%s)", rows, cols, what,
             layout_name(lay));
    cases++;
    if (rf_q_quantize_ref(s, x, rows, cols, "t", want, wsc) != REFIT_OK) {
        FAIL("%s %s: reference failed: %s", rf_q_scheme_name(s), desc, rf_err_msg());
    } else {
        gbuf_t g;
        gbuf_init(&g, x, n, ns, lay);
        refit_status st = gpu_quantize(&g, s, rows, cols, "t", NULL);
        if (st != REFIT_OK)
            FAIL("%s %s: gpu: %s: %s", rf_q_scheme_name(s), desc, refit_status_str(st),
                 rf_err_msg());
        else
            compare(s, desc, x, cols, &g, want, wsc, n, ns);
        gbuf_free(&g);
    }
    rf_err_clear();
    free(want);
    free(wsc);
}

static void run_all_schemes(const uint16_t *x, int64_t rows, int64_t cols, const char *what) {
    const layout_t aligned = {0, 0}, x_un = {1, 0}, out_un = {0, 1};
    for (int s = 0; s < RF_Q_NONE; s++) {
        run_case((rf_qscheme_t)s, x, rows, cols, what, aligned);
        if ((size_t)(rows * cols) <= (1u << 24)) { /* the slow paths, on the smaller shapes */
            run_case((rf_qscheme_t)s, x, rows, cols, what, x_un);
            run_case((rf_qscheme_t)s, x, rows, cols, what, out_un);
        }
    }
}

/* Weights-like values: per-block magnitudes 2^-30..2^9 so block/row scales
 * differ, a sprinkle of ±0, occasional outliers. */
static void fill_random(uint16_t *x, int64_t rows, int64_t cols) {
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) {
            int e = (int)(((r / 128) * 7 + (c / 128) * 3 + r % 3) % 40) - 30;
            float v = ldexpf((float)(int32_t)rnd() / 2147483648.0f, e);
            uint32_t k = rnd() % 256;
            if (k == 0) v = 0.0f;
            if (k == 1) v = -0.0f;
            if (k == 2) v *= 1e6f;
            x[r * cols + c] = rf_f32_to_bf16(v);
        }
}

/* Every finite bf16 pattern, cycled to fill the tensor (non-finite -> 0). */
static void fill_patterns(uint16_t *x, size_t n, uint32_t start) {
    for (size_t i = 0; i < n; i++) {
        uint16_t b = (uint16_t)(start + i);
        x[i] = bf16_finite(b) ? b : 0;
    }
}

/* Values that stress the edges: ±0, bf16 subnormals next to huge values (the
 * product underflows), exact ±448 multiples, fp8 midpoints after scaling. */
static void fill_specials(uint16_t *x, size_t n) {
    static const float v[] = {0.0f,          -0.0f,          1.0f,       -1.0f,       448.0f,
                              -448.0f,       0x1p-133f,      -0x1p-133f, 0x1p-127f,   -0x1p-127f,
                              3.3895314e38f, -3.3895314e38f, 0x1.2p-10f, -0x1.2p-10f, 464.0f,
                              0x1.1p0f,      0x1.3p0f,       240.0f,     1e-30f,      -1e-30f,
                              65504.0f,      0x1.fep-7f};
    for (size_t i = 0; i < n; i++)
        x[i] = rf_f32_to_bf16(v[(i * 7 + i / 23) % (sizeof v / sizeof v[0])]);
}

static void test_shapes(void) {
    static const int64_t shapes[][2] = {{1, 1},     {1, 7},     {7, 1},       {127, 129},
                                        {128, 128}, {200, 136}, {300, 4100},  {300, 4104},
                                        {3, 40000}, {2, 40003}, {4096, 4096}, {28672, 4096}};
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        int64_t r = shapes[k][0], c = shapes[k][1];
        size_t n = (size_t)(r * c);
        uint16_t *x = xmalloc(n * 2);
        fill_random(x, r, c);
        run_all_schemes(x, r, c, "random");
        if (n >= 65536 || n <= 16384) {
            fill_patterns(x, n, (uint32_t)k * 4099u);
            run_all_schemes(x, r, c, "all bf16 patterns");
        }
        fill_specials(x, n);
        run_all_schemes(x, r, c, "specials");
        free(x);
    }
}

/* All finite bf16 with |x| <= amax (plus ±amax) laid out 128 wide: the scale
 * is then fixed by amax — the MIN_SCALE floor, exactly 1, 1/448, the largest. */
static void test_scales(void) {
    static const float amaxes[] = {448.0f, 1.0f, 1e-30f, 0x1p-9f, 3.3895314e38f, 0x1p-133f};
    uint16_t *x = xmalloc(65536 * 2);
    for (size_t k = 0; k < sizeof amaxes / sizeof amaxes[0]; k++) {
        uint16_t a = rf_f32_to_bf16(amaxes[k]);
        size_t n = 0;
        for (uint32_t b = 0; b < 65536; b++)
            if (bf16_finite((uint16_t)b) && (b & 0x7FFF) <= a) x[n++] = (uint16_t)b;
        while (n % 128)
            x[n++] = 0;
        char what[64];
        snprintf(what, sizeof what, "every bf16 |x| <= %g", (double)rf_bf16_to_f32(a));
        run_all_schemes(x, (int64_t)n / 128, 128, what);
        run_case(RF_Q_FP8_TENSOR, x, 1, (int64_t)n, what, (layout_t){0, 0});
    }
    free(x);
}

/* ---- 3. NaN / Inf --------------------------------------------------------- */

typedef struct {
    int64_t r, c;
    uint16_t bits;
} plant_t;

/* Plants bad values; the first in row-major order must be the one reported,
 * with the reference's message. fp8-tensor must leave out untouched. Then the
 * same workspace must come back clean for the repaired tensor. */
static void nan_case(rf_qscheme_t s, int64_t rows, int64_t cols, const plant_t *p, int np,
                     layout_t lay) {
    const char *label = "model.layers.0.w";
    size_t n = (size_t)(rows * cols), ns = (size_t)rf_q_scale_count(s, rows, cols);
    uint16_t *x = xmalloc(n * 2);
    uint8_t *scratch = xmalloc(n);
    float *sc = xmalloc(ns * sizeof(float));
    fill_random(x, rows, cols);
    for (int i = 0; i < np; i++)
        x[p[i].r * cols + p[i].c] = p[i].bits;
    char want_msg[1024], desc[160];
    rf_err_clear();
    refit_status ref = rf_q_quantize_ref(s, x, rows, cols, label, scratch, sc);
    snprintf(want_msg, sizeof want_msg, "%s", rf_err_msg());
    int64_t want_idx = rf_q_find_nonfinite(x, n), idx = -2;
    rf_err_clear();
    snprintf(desc, sizeof desc, "%s %" PRId64 "x%" PRId64 " %d bad (%s)", rf_q_scheme_name(s), rows,
             cols, np, layout_name(lay));

    gbuf_t g;
    gbuf_init(&g, x, n, ns, lay);
    refit_status st = gpu_quantize(&g, s, rows, cols, label, &idx);
    DEV(rf_dev_memcpy(scratch, g.out, n));
    bool untouched = true;
    for (size_t i = 0; i < n; i++)
        untouched &= scratch[i] == 0xEE;
    cases++;
    if (ref != REFIT_ERR_NUMERIC || st != REFIT_ERR_NUMERIC)
        FAIL("%s: reference %s, gpu %s (%s)", desc, refit_status_str(ref), refit_status_str(st),
             rf_err_msg());
    else if (idx != want_idx || strcmp(rf_err_msg(), want_msg) != 0)
        FAIL("%s: gpu index %" PRId64 " '%s', reference index %" PRId64 " '%s'", desc, idx,
             rf_err_msg(), want_idx, want_msg);
    else if (s == RF_Q_FP8_TENSOR && !untouched)
        FAIL("%s: fp8-tensor wrote output for a rejected tensor", desc);
    else
        printf("ok   %s -> '%s'\n", desc, rf_err_msg());
    rf_err_clear();

    for (int i = 0; i < np; i++)
        x[p[i].r * cols + p[i].c] = 0x3F80;
    DEV(rf_dev_memcpy(g.x, x, n * 2));
    st = gpu_quantize(&g, s, rows, cols, label, &idx);
    cases++;
    if (st != REFIT_OK || idx != -1)
        FAIL("%s: workspace reuse after a rejection: %s idx %" PRId64 " (%s)", desc,
             refit_status_str(st), idx, rf_err_msg());
    rf_err_clear();
    gbuf_free(&g);
    free(x);
    free(scratch);
    free(sc);
}

static void test_nonfinite(void) {
    static const int64_t shapes[][2] = {{127, 129}, {300, 4104}, {3, 40000}, {4096, 4096}};
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        int64_t R = shapes[k][0], C = shapes[k][1];
        const plant_t one_nan[] = {{R / 2, C / 3, 0x7FC0}};
        const plant_t one_inf[] = {{R - 1, C - 1, 0xFF80}};
        const plant_t many[] = {{R - 1, 2, 0x7F80},
                                {R / 2, C - 1, 0xFFC1},
                                {R / 2, C / 2, 0xFF80},
                                {0, C - 1, 0x7F81},
                                {R - 1, C - 1, 0x7FC0}};
        for (int s = 0; s < RF_Q_NONE; s++)
            for (int u = 0; u < 2; u++) {
                layout_t lay = {(size_t)u, 0};
                nan_case((rf_qscheme_t)s, R, C, one_nan, 1, lay);
                nan_case((rf_qscheme_t)s, R, C, one_inf, 1, lay);
                nan_case((rf_qscheme_t)s, R, C, many, 5, lay);
            }
    }
}

/* ---- 4. arguments ---------------------------------------------------------- */

static void test_args(void) {
    uint8_t *d;
    DEV(rf_dev_malloc(1024, (void **)&d));
    uint16_t *x = (uint16_t *)d;
    float *sc = (float *)(d + 512);
    uint8_t *ws = d + 768;
    struct {
        rf_qscheme_t s;
        int64_t r, c;
        void *ws;
        size_t wsb;
        const char *what;
    } bad[] = {
        {RF_Q_NONE, 2, 2, ws, RF_QCU_WORKSPACE_BYTES, "scheme none"},
        {RF_Q_FP8_ROW, -1, 2, ws, RF_QCU_WORKSPACE_BYTES, "negative rows"},
        {RF_Q_FP8_ROW, 2, 2, ws, 8, "small workspace"},
        {RF_Q_FP8_ROW, 2, 2, NULL, RF_QCU_WORKSPACE_BYTES, "NULL workspace"},
        {RF_Q_FP8_ROW, 2, 2, ws + 4, RF_QCU_WORKSPACE_BYTES, "unaligned workspace"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        cases++;
        refit_status st = rf_qcu_quantize(bad[k].s, x, bad[k].r, bad[k].c, d + 256, sc, bad[k].ws,
                                          bad[k].wsb, NULL);
        if (st != REFIT_ERR_INVALID_ARG)
            FAIL("args %s: got %s", bad[k].what, refit_status_str(st));
        else
            printf("ok   args %s -> '%s'\n", bad[k].what, rf_err_msg());
        rf_err_clear();
    }
    /* An empty fp8-tensor still writes its (floor) scale. */
    float h = 0;
    cases++;
    DEV(rf_qcu_quantize(RF_Q_FP8_TENSOR, NULL, 0, 4096, NULL, sc, ws, RF_QCU_WORKSPACE_BYTES,
                        NULL));
    DEV(rf_qcu_check(ws, 4096, "empty", NULL, NULL));
    DEV(rf_dev_memcpy(&h, sc, sizeof h));
    if (h != 1.0f / (448.0f * 512.0f))
        FAIL("empty fp8-tensor scale %a", (double)h);
    else
        printf("ok   empty fp8-tensor -> scale MIN_SCALE\n");
    rf_dev_free(d);
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    int ndev = rf_dev_count();
    if (ndev == 0) {
        printf("test_quant_cuda: no GPU: skipped (rf_dev_count() == 0)\n");
        return 77;
    }
    char desc[256];
    DEV(rf_dev_desc(desc, sizeof desc));
    printf("test_quant_cuda: %d device(s); using %s\n", ndev, desc);
    test_args();
    test_convert_all();
    test_scales();
    test_shapes();
    test_nonfinite();
    printf("test_quant_cuda: %d case(s), %d failure(s)\n", cases, failures);
    return failures ? 1 : 0;
}
#endif
