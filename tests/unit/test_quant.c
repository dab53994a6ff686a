/* kernels/quant_ref.c against an independent slow oracle (SPEC §4).
 *
 * The oracle never looks at bits: it decodes the 256 e4m3fn codes with
 * ldexp() into doubles and rounds by searching for the nearest one (ties to
 * the even code). The scale formulas are the spec's own, written out again
 * here; amax is taken in double. Exit 0 on success, 1 on the first failures
 * (up to a few printed per check). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant.h"

static int failures;
#define MAX_REPORTS 10

#define EXPECT(cond, ...)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            if (failures++ < MAX_REPORTS) {                                                        \
                fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                               \
                fprintf(stderr, __VA_ARGS__);                                                      \
                fputc('\n', stderr);                                                               \
            }                                                                                      \
        }                                                                                          \
    } while (0)

/* ---- oracle -------------------------------------------------------------- */

static double o_val[256]; /* decoded codes; NaN for 0x7F/0xFF */

static void oracle_init(void) {
    for (int b = 0; b < 256; b++) {
        int e = (b >> 3) & 15, m = b & 7;
        double mag;
        if (e == 15 && m == 7)
            mag = NAN;
        else if (e == 0)
            mag = ldexp(m / 8.0, -6);
        else
            mag = ldexp(1.0 + m / 8.0, e - 7);
        o_val[b] = (b & 0x80) ? -mag : mag;
    }
}

/* Nearest non-negative code to a in [0, 448], ties to the even code. */
static int o_nearest_pos(double a) {
    int lo = 0, hi = 0x7E; /* invariant: o_val[lo] <= a <= o_val[hi] */
    while (hi - lo > 1) {
        int mid = (lo + hi) / 2;
        if (o_val[mid] <= a)
            lo = mid;
        else
            hi = mid;
    }
    double dlo = a - o_val[lo], dhi = o_val[hi] - a;
    if (dlo < dhi) return lo;
    if (dhi < dlo) return hi;
    return (lo & 1) ? hi : lo;
}

/* e4m3fn RNE with CUDA's __NV_SATFINITE behaviour: NaN -> 0x7F, |x| beyond
 * 448 (Inf too) -> ±448, sign kept (so -tiny -> 0x80). */
static uint8_t o_encode(double v) {
    if (isnan(v)) return 0x7F;
    uint8_t sign = signbit(v) ? 0x80 : 0;
    double a = fabs(v);
    if (a >= 448.0) return sign | 0x7E;
    return sign | (uint8_t)o_nearest_pos(a);
}

static float bf(uint16_t b) { /* widening, independent of rf_bf16_to_f32 */
    uint32_t u = (uint32_t)b << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static float fbits(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static bool bf_finite(uint16_t b) { return isfinite(bf(b)); }

static float clampf(float v) { return v < -448.0f ? -448.0f : (v > 448.0f ? 448.0f : v); }

#define O_MIN_SCALE ((float)(1.0 / 229376.0)) /* 1/(448*512) */
#define O_R448 (1.0f / 448.0f)

static float o_amax(const uint16_t *x, int64_t ld, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
    double m = 0;
    for (int64_t r = r0; r < r1; r++)
        for (int64_t c = c0; c < c1; c++)
            m = fmax(m, fabs((double)bf(x[r * ld + c])));
    return (float)m;
}

static float maxf(float a, float b) { return a > b ? a : b; }

/* Expected bytes and scales for scheme s, straight from the SPEC table. */
static void o_quantize(rf_qscheme_t s, const uint16_t *x, int64_t rows, int64_t cols, uint8_t *out,
                       float *scales) {
    if (s == RF_Q_FP8_TENSOR) {
        float sc = maxf(o_amax(x, cols, 0, rows, 0, cols) / 448.0f, O_MIN_SCALE);
        float inv = 1.0f / sc;
        for (int64_t i = 0; i < rows * cols; i++)
            out[i] = o_encode(clampf(bf(x[i]) * inv));
        scales[0] = sc;
    } else if (s == RF_Q_FP8_ROW) {
        for (int64_t r = 0; r < rows; r++) {
            float sc = maxf(o_amax(x, cols, r, r + 1, 0, cols) * O_R448, O_MIN_SCALE);
            for (int64_t c = 0; c < cols; c++)
                out[r * cols + c] = o_encode(clampf(bf(x[r * cols + c]) / sc));
            scales[r] = sc;
        }
    } else {
        int64_t nbc = (cols + 127) / 128;
        for (int64_t br = 0; br * 128 < rows; br++)
            for (int64_t bc = 0; bc * 128 < cols; bc++) {
                int64_t r0 = br * 128, r1 = r0 + 128 < rows ? r0 + 128 : rows;
                int64_t c0 = bc * 128, c1 = c0 + 128 < cols ? c0 + 128 : cols;
                float sf = maxf(o_amax(x, cols, r0, r1, c0, c1), 1e-4f) * O_R448;
                float inv = 1.0f / sf;
                for (int64_t r = r0; r < r1; r++)
                    for (int64_t c = c0; c < c1; c++)
                        out[r * cols + c] = o_encode(clampf(bf(x[r * cols + c]) * inv));
                scales[br * nbc + bc] = sf;
            }
    }
}

/* ---- helpers ------------------------------------------------------------- */

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void) { /* xorshift64* */
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return (uint32_t)((rng * 0x2545F4914F6CDD1Dull) >> 32);
}

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

/* Runs the reference and the oracle on x[rows, cols] and compares all bytes
 * and scales; reports the first differing element. */
static void check_quant(rf_qscheme_t s, const uint16_t *x, int64_t rows, int64_t cols,
                        const char *what) {
    size_t n = (size_t)(rows * cols);
    uint64_t ns = rf_q_scale_count(s, rows, cols);
    uint8_t *got = xmalloc(n), *want = xmalloc(n);
    float *gs = xmalloc(ns * sizeof(float)), *ws = xmalloc(ns * sizeof(float));
    refit_status st = rf_q_quantize_ref(s, x, rows, cols, what, got, gs);
    EXPECT(st == REFIT_OK, "%s %s: status %s (%s)", rf_q_scheme_name(s), what, refit_status_str(st),
           rf_err_msg());
    if (st == REFIT_OK) {
        o_quantize(s, x, rows, cols, want, ws);
        for (size_t i = 0; i < n; i++)
            if (got[i] != want[i]) {
                EXPECT(0,
                       "%s %s [%" PRId64 "x%" PRId64
                       "] elem %zu (x=%a bits 0x%04x): got 0x%02x want 0x%02x",
                       rf_q_scheme_name(s), what, rows, cols, i, (double)bf(x[i]), x[i], got[i],
                       want[i]);
                break;
            }
        for (uint64_t i = 0; i < ns; i++)
            if (memcmp(&gs[i], &ws[i], sizeof(float)) != 0) {
                EXPECT(0, "%s %s scale %" PRIu64 ": got %a want %a", rf_q_scheme_name(s), what, i,
                       (double)gs[i], (double)ws[i]);
                break;
            }
    }
    rf_err_clear();
    free(got);
    free(want);
    free(gs);
    free(ws);
}

static void check_all_schemes(const uint16_t *x, int64_t rows, int64_t cols, const char *what) {
    for (int s = 0; s < RF_Q_NONE; s++)
        check_quant((rf_qscheme_t)s, x, rows, cols, what);
}

/* ---- conversions --------------------------------------------------------- */

static void test_decode_roundtrip(void) {
    for (int b = 0; b < 256; b++) {
        float f = rf_fp8_to_f32((uint8_t)b);
        if ((b & 0x7F) == 0x7F) {
            EXPECT(isnan(f), "decode 0x%02x: want NaN, got %a", b, (double)f);
            EXPECT(rf_f32_to_fp8(f) == 0x7F, "encode(decode(0x%02x)) want 0x7F", b);
            continue;
        }
        EXPECT((double)f == o_val[b] && !signbit(f) == !signbit(o_val[b]),
               "decode 0x%02x: got %a want %a", b, (double)f, o_val[b]);
        EXPECT(rf_f32_to_fp8(f) == b, "encode(decode(0x%02x)) = 0x%02x", b, rf_f32_to_fp8(f));
    }
}

/* Midpoints between consecutive codes go to the even code; one fp32 ulp
 * either side goes to the nearer code. */
static void test_midpoints(void) {
    for (int k = 0; k < 0x7E; k++)
        for (int neg = 0; neg < 2; neg++) {
            float lo = (float)o_val[k], hi = (float)o_val[k + 1];
            float mid = (lo + hi) / 2; /* exact: at most 5 significant bits */
            EXPECT((double)mid == (o_val[k] + o_val[k + 1]) / 2, "midpoint %d not exact", k);
            int even = (k & 1) ? k + 1 : k;
            float sg = neg ? -1.0f : 1.0f;
            uint8_t sb = neg ? 0x80 : 0;
            EXPECT(rf_f32_to_fp8(sg * mid) == (sb | even), "mid %d/%d (%a): got 0x%02x want 0x%02x",
                   k, k + 1, (double)(sg * mid), rf_f32_to_fp8(sg * mid), sb | even);
            float below = nextafterf(mid, 0), above = nextafterf(mid, INFINITY);
            EXPECT(rf_f32_to_fp8(sg * below) == (sb | k), "below mid %d: got 0x%02x", k,
                   rf_f32_to_fp8(sg * below));
            EXPECT(rf_f32_to_fp8(sg * above) == (sb | (k + 1)), "above mid %d: got 0x%02x", k,
                   rf_f32_to_fp8(sg * above));
        }
}

static void test_specials(void) {
    struct {
        float f;
        uint8_t want;
    } c[] = {
        {0.0f, 0x00},
        {-0.0f, 0x80},
        {0x1p-10f, 0x00},
        {-0x1p-10f, 0x80},
        {0x1.000002p-10f, 0x01},
        {0x1p-9f, 0x01},
        {0x1.8p-9f, 0x02},
        {0x1p-6f, 0x08},
        {0x1p-149f, 0x00},
        {-0x1p-149f, 0x80},
        {-0x1p-127f, 0x80},
        {448.0f, 0x7E},
        {-448.0f, 0xFE},
        {460.0f, 0x7E},
        {464.0f, 0x7E},
        {464.0001f, 0x7E},
        {1e30f, 0x7E},
        {-1e30f, 0xFE},
        {INFINITY, 0x7E},
        {-INFINITY, 0xFE},
        {NAN, 0x7F},
        {-NAN, 0x7F},
        {fbits(0x7F800001u), 0x7F},
        {fbits(0xFFC00000u), 0x7F},
        {1.0f, 0x38},
        {-1.0f, 0xB8},
        {416.0f, 0x7D},
        {432.0f, 0x7E},
        {240.0f, 0x77},
        {0.5f, 0x30},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++)
        EXPECT(rf_f32_to_fp8(c[i].f) == c[i].want, "encode %a: got 0x%02x want 0x%02x",
               (double)c[i].f, rf_f32_to_fp8(c[i].f), c[i].want);
}

/* Every bf16 times a set of reciprocal scales, and bf16 patterns padded with
 * the low fp32 bits that sit on/next to rounding boundaries. */
static void test_convert_bf16_grid(void) {
    const float invs[] = {1.0f,
                          448.0f,
                          1.0f / O_MIN_SCALE,
                          1.0f / (1.0f / 448.0f),
                          0x1p-20f,
                          3.0f,
                          1.0f / ((float)(1.0 / 3.0) / 448.0f)};
    for (size_t k = 0; k < sizeof invs / sizeof invs[0]; k++)
        for (uint32_t b = 0; b < 65536; b++) {
            if (!bf_finite((uint16_t)b)) continue;
            float v = clampf(bf((uint16_t)b) * invs[k]);
            uint8_t got = rf_f32_to_fp8(v), want = o_encode(v);
            EXPECT(got == want, "bf16 0x%04x * %a = %a: got 0x%02x want 0x%02x", b, (double)invs[k],
                   (double)v, got, want);
        }
    const uint32_t lows[] = {0x0000, 0x0001, 0x7FFF, 0x8000, 0x8001, 0xFFFF, 0x0800, 0x1000};
    for (uint32_t b = 0; b < 65536; b++)
        for (size_t k = 0; k < sizeof lows / sizeof lows[0]; k++) {
            float f = fbits(b << 16 | lows[k]);
            uint8_t got = rf_f32_to_fp8(f), want = o_encode(f);
            EXPECT(got == want, "fp32 0x%08x: got 0x%02x want 0x%02x", b << 16 | lows[k], got,
                   want);
        }
}

/* A strided sweep of all 2^32 fp32 patterns (NaN, Inf, huge, subnormal). */
static void test_convert_fp32_sweep(void) {
    const uint64_t stride = 251; /* prime: hits every low-bit residue over the sweep */
    for (uint64_t u = 0; u <= 0xFFFFFFFFull; u += stride) {
        float f = fbits((uint32_t)u);
        uint8_t got = rf_f32_to_fp8(f), want = o_encode(f);
        EXPECT(got == want, "fp32 0x%08" PRIx64 ": got 0x%02x want 0x%02x", u, got, want);
    }
}

static void test_bf16(void) {
    for (uint32_t b = 0; b < 65536; b++) {
        if (!bf_finite((uint16_t)b) && !isinf(bf((uint16_t)b))) {
            EXPECT(isnan(bf(rf_f32_to_bf16(bf((uint16_t)b)))), "bf16 NaN 0x%04x lost", b);
            continue;
        }
        EXPECT(rf_f32_to_bf16(bf((uint16_t)b)) == b, "bf16 roundtrip 0x%04x", b);
        EXPECT(memcmp(&(float){rf_bf16_to_f32((uint16_t)b)}, &(float){bf((uint16_t)b)}, 4) == 0,
               "bf16 widen 0x%04x", b);
    }
    EXPECT(rf_f32_to_bf16(fbits(0x3F808000u)) == 0x3F80, "bf16 tie to even (down)");
    EXPECT(rf_f32_to_bf16(fbits(0x3F818000u)) == 0x3F82, "bf16 tie to even (up)");
    EXPECT(rf_f32_to_bf16(fbits(0x3F808001u)) == 0x3F81, "bf16 above tie");
    EXPECT(rf_f32_to_bf16(fbits(0x3F807FFFu)) == 0x3F80, "bf16 below tie");
    EXPECT(rf_f32_to_bf16(fbits(0xBF818000u)) == 0xBF82, "bf16 negative tie");
    EXPECT(rf_f32_to_bf16(3.4028235e38f) == 0x7F80, "bf16 FLT_MAX rounds to inf");
    EXPECT(rf_f32_to_bf16(1.0f / 3.0f) == 0x3EAB, "bf16 1/3");
}

/* ---- quantization, end to end -------------------------------------------- */

/* All finite bf16 with |x| <= amax, plus ±amax, each once; returns count. */
static size_t patterns_upto(float amax, uint16_t *buf) {
    size_t n = 0;
    for (uint32_t b = 0; b < 65536; b++)
        if (bf_finite((uint16_t)b) && fabsf(bf((uint16_t)b)) <= amax) buf[n++] = (uint16_t)b;
    return n;
}

/* fp8-tensor over every bf16 value below several amax (so the scales cover
 * the MIN_SCALE clamp, exactly 1, 1/448 and the largest), fp8-row with one
 * such set per row, fp8-block with the set laid out 128 wide. */
static void test_quant_exhaustive(void) {
    const float amaxes[] = {448.0f,     1.0f,        1e-30f, 0x1p-9f,
                            0x1.02p-9f, 0x1.fcp-10f, 3.0f,   3.3895314e38f /* bf16 max */,
                            0x1p-133f /* bf16 min subnormal */};
    const int na = sizeof amaxes / sizeof amaxes[0];
    uint16_t *buf = xmalloc(65536 * sizeof(uint16_t));
    const int64_t cols = 65536;
    uint16_t *rows = xmalloc((size_t)na * cols * sizeof(uint16_t));
    for (int k = 0; k < na; k++) {
        float a = bf(rf_f32_to_bf16(amaxes[k]));
        size_t n = patterns_upto(a, buf);
        char what[64];
        snprintf(what, sizeof what, "all bf16 |x|<=%g", (double)a);
        check_quant(RF_Q_FP8_TENSOR, buf, 1, (int64_t)n, what);
        check_quant(RF_Q_FP8_TENSOR, buf, (int64_t)n / 7, 7, what);
        int64_t brows = (int64_t)n / 128;
        check_quant(RF_Q_FP8_BLOCK, buf, brows, 128, what);
        check_quant(RF_Q_FP8_BLOCK, buf, 1, (int64_t)n, what);
        for (int64_t c = 0; c < cols; c++)
            rows[k * cols + c] = buf[(size_t)c % n];
    }
    check_quant(RF_Q_FP8_ROW, rows, na, cols, "one amax per row");
    check_quant(RF_Q_FP8_BLOCK, rows, na, cols, "one amax per row");
    free(rows);
    free(buf);
}

/* Random values of mixed magnitudes, per-block magnitude so block scales
 * differ, on ragged shapes. */
static void fill_random(uint16_t *x, int64_t rows, int64_t cols) {
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) {
            int blk_exp = (int)(((r / 128) * 7 + (c / 128) * 3) % 40) - 30; /* 2^-30..2^9 */
            float v = ldexpf((float)(int32_t)rnd() / 2147483648.0f, blk_exp);
            if (rnd() % 64 == 0) v = 0.0f;
            if (rnd() % 64 == 0) v = -0.0f;
            x[r * cols + c] = rf_f32_to_bf16(v);
        }
}

static void test_quant_random_shapes(void) {
    const int64_t shapes[][2] = {{1, 1},     {1, 7},     {7, 1},      {127, 129}, {128, 128},
                                 {129, 128}, {128, 256}, {300, 4100}, {2, 65536}, {257, 3}};
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        int64_t r = shapes[k][0], c = shapes[k][1];
        uint16_t *x = xmalloc((size_t)(r * c) * sizeof(uint16_t));
        fill_random(x, r, c);
        char what[64];
        snprintf(what, sizeof what, "random %" PRId64 "x%" PRId64, r, c);
        check_all_schemes(x, r, c, what);
        free(x);
    }
}

/* All-zero tensors: the scale floors (MIN_SCALE, 1e-4/448) and ±0 -> 0x00/0x80. */
static void test_quant_zeros(void) {
    uint16_t x[130 * 3];
    for (int i = 0; i < 130 * 3; i++)
        x[i] = (i % 2) ? 0x8000 : 0x0000;
    check_all_schemes(x, 130, 3, "all zero");
    uint8_t out[130 * 3];
    float sc[130];
    EXPECT(rf_q_quantize_ref(RF_Q_FP8_TENSOR, x, 130, 3, "z", out, sc) == REFIT_OK, "zeros");
    EXPECT(sc[0] == 1.0f / (448.0f * 512.0f), "zero tensor scale %a", (double)sc[0]);
    EXPECT(out[0] == 0x00 && out[1] == 0x80, "zero bytes 0x%02x 0x%02x", out[0], out[1]);
    EXPECT(rf_q_quantize_ref(RF_Q_FP8_ROW, x, 130, 3, "z", out, sc) == REFIT_OK, "zeros row");
    EXPECT(sc[129] == 1.0f / (448.0f * 512.0f), "zero row scale %a", (double)sc[129]);
    EXPECT(rf_q_quantize_ref(RF_Q_FP8_BLOCK, x, 130, 3, "z", out, sc) == REFIT_OK, "zeros blk");
    EXPECT(sc[0] == 1e-4f * (1.0f / 448.0f) && sc[1] == sc[0], "zero block scale %a",
           (double)sc[0]);
    /* Empty tensors are fine: tensor scale is the floor, nothing else written. */
    EXPECT(rf_q_quantize_ref(RF_Q_FP8_TENSOR, NULL, 0, 5, "e", NULL, sc) == REFIT_OK &&
               sc[0] == 1.0f / (448.0f * 512.0f),
           "empty tensor");
    EXPECT(rf_q_quantize_ref(RF_Q_FP8_BLOCK, NULL, 5, 0, "e", NULL, NULL) == REFIT_OK,
           "empty block");
}

/* ---- errors -------------------------------------------------------------- */

static void expect_reject(rf_qscheme_t s, const uint16_t *x, int64_t rows, int64_t cols,
                          const char *want_msg) {
    size_t n = (size_t)(rows * cols);
    uint64_t ns = rf_q_scale_count(s, rows, cols);
    uint8_t *out = xmalloc(n);
    float *sc = xmalloc(ns * sizeof(float));
    memset(out, 0xAB, n);
    memset(sc, 0xCD, ns * sizeof(float));
    rf_err_clear();
    refit_status st = rf_q_quantize_ref(s, x, rows, cols, "layers.3.w", out, sc);
    EXPECT(st == REFIT_ERR_NUMERIC, "%s: want numeric error, got %s", rf_q_scheme_name(s),
           refit_status_str(st));
    const char *m = rf_err_msg();
    size_t lm = strlen(m), lw = strlen(want_msg);
    EXPECT(lm >= lw && strcmp(m + lm - lw, want_msg) == 0, "%s: message '%s', want '%s'",
           rf_q_scheme_name(s), m, want_msg);
    bool untouched = true;
    for (size_t i = 0; i < n; i++)
        untouched &= out[i] == 0xAB;
    for (uint64_t i = 0; i < ns * sizeof(float); i++)
        untouched &= ((uint8_t *)sc)[i] == 0xCD;
    EXPECT(untouched, "%s: output written on a rejected tensor", rf_q_scheme_name(s));
    rf_err_clear();
    free(out);
    free(sc);
}

static void test_nonfinite(void) {
    const int64_t R = 127, C = 129;
    uint16_t *x = xmalloc((size_t)(R * C) * sizeof(uint16_t));
    struct {
        int64_t r, c;
        uint16_t bits;
        const char *msg;
    } cases[] = {
        {5, 17, 0x7FC0, "layers.3.w: nan at row 5 col 17"},
        {0, 0, 0xFFC1, "layers.3.w: nan at row 0 col 0"},
        {126, 128, 0x7F80, "layers.3.w: inf at row 126 col 128"},
        {64, 1, 0xFF80, "layers.3.w: inf at row 64 col 1"},
        {3, 3, 0x7F81, "layers.3.w: nan at row 3 col 3"}, /* signalling-style payload */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        fill_random(x, R, C);
        x[cases[k].r * C + cases[k].c] = cases[k].bits;
        x[(R - 1) * C + 5] = 0x7F80; /* a later one must not be the one reported */
        if (cases[k].r == R - 1) x[(R - 1) * C + 5] = 0x3F80;
        for (int s = 0; s < RF_Q_NONE; s++)
            expect_reject((rf_qscheme_t)s, x, R, C, cases[k].msg);
        EXPECT(rf_q_find_nonfinite(x, (size_t)(R * C)) == cases[k].r * C + cases[k].c,
               "find_nonfinite case %zu", k);
    }
    free(x);

    /* rf_q_find_nonfinite across its internal chunk boundaries. */
    const size_t n = 20000;
    uint16_t *y = xmalloc(n * sizeof(uint16_t));
    for (size_t i = 0; i < n; i++)
        y[i] = (uint16_t)(0x3F80 + (i % 100));
    EXPECT(rf_q_find_nonfinite(y, n) == -1, "finite reported bad");
    EXPECT(rf_q_find_nonfinite(y, 0) == -1, "empty reported bad");
    const size_t pos[] = {0, 15, 16, 4095, 4096, 4097, 12345, n - 1};
    for (size_t k = 0; k < sizeof pos / sizeof pos[0]; k++) {
        y[pos[k]] = 0xFF80;
        EXPECT(rf_q_find_nonfinite(y, n) == (int64_t)pos[k], "find at %zu", pos[k]);
        y[pos[k]] = 0x3F80;
    }
    y[n - 1] = 0x7F7F; /* bf16 max is finite */
    EXPECT(rf_q_find_nonfinite(y, n) == -1, "bf16 max reported bad");
    free(y);
}

static void test_bad_args(void) {
    uint16_t x[4] = {0};
    uint8_t out[4];
    float sc[4];
    EXPECT(rf_q_quantize_ref(RF_Q_NONE, x, 2, 2, "w", out, sc) == REFIT_ERR_INVALID_ARG, "none");
    EXPECT(strstr(rf_err_msg(), "w: quantize") != NULL, "none message '%s'", rf_err_msg());
    rf_err_clear();
    EXPECT(rf_q_quantize_ref(RF_Q_FP8_ROW, x, -1, 2, "w", out, sc) == REFIT_ERR_INVALID_ARG,
           "negative rows");
    rf_err_clear();
    EXPECT(rf_q_quantize_ref(RF_Q_FP8_ROW, x, INT64_MAX, 2, "w", out, sc) == REFIT_ERR_INVALID_ARG,
           "overflowing shape");
    rf_err_clear();
    EXPECT(rf_q_quantize_ref(RF_Q_FP8_TENSOR, x, 2, 2, "w", out, NULL) == REFIT_ERR_INVALID_ARG,
           "NULL scales");
    rf_err_clear();
    EXPECT(rf_q_quantize_ref((rf_qscheme_t)99, x, 2, 2, "w", out, sc) == REFIT_ERR_INVALID_ARG,
           "bad scheme");
    rf_err_clear();
}

/* ---- names and shapes ---------------------------------------------------- */

static void expect_shape(rf_qscheme_t s, int64_t r, int64_t c, int nd, uint64_t a, uint64_t b) {
    int ndim = -1;
    uint64_t sh[2] = {99, 99};
    rf_q_scale_shape(s, r, c, &ndim, sh);
    EXPECT(ndim == nd && (nd < 1 || sh[0] == a) && (nd < 2 || sh[1] == b),
           "%s [%" PRId64 ",%" PRId64 "]: ndim %d shape [%" PRIu64 ",%" PRIu64 "]",
           rf_q_scheme_name(s), r, c, ndim, sh[0], sh[1]);
    uint64_t count = nd == 0 ? 0 : nd == 1 ? a : a * b;
    EXPECT(rf_q_scale_count(s, r, c) == count, "%s count", rf_q_scheme_name(s));
}

static void test_names_shapes(void) {
    const char *names[] = {"fp8-tensor", "fp8-row", "fp8-block", "none"};
    for (int s = 0; s < RF_Q_COUNT; s++) {
        rf_qscheme_t p;
        EXPECT(strcmp(rf_q_scheme_name((rf_qscheme_t)s), names[s]) == 0, "name %d", s);
        EXPECT(rf_q_scheme_parse(names[s], &p) && p == (rf_qscheme_t)s, "parse %s", names[s]);
    }
    rf_qscheme_t p = RF_Q_FP8_ROW;
    EXPECT(!rf_q_scheme_parse("fp8", &p) && p == RF_Q_FP8_ROW, "parse rejects fp8");
    EXPECT(!rf_q_scheme_parse("FP8-TENSOR", &p), "parse is exact");
    EXPECT(!rf_q_scheme_parse(NULL, &p), "parse NULL");
    EXPECT(strcmp(rf_q_scale_suffix(RF_Q_FP8_TENSOR), "weight_scale") == 0, "suffix tensor");
    EXPECT(strcmp(rf_q_scale_suffix(RF_Q_FP8_ROW), "weight_scale") == 0, "suffix row");
    EXPECT(strcmp(rf_q_scale_suffix(RF_Q_FP8_BLOCK), "weight_scale_inv") == 0, "suffix block");
    EXPECT(rf_q_scale_suffix(RF_Q_NONE) == NULL, "suffix none");

    expect_shape(RF_Q_FP8_TENSOR, 300, 4100, 1, 1, 0);
    expect_shape(RF_Q_FP8_ROW, 300, 4100, 2, 300, 1);
    expect_shape(RF_Q_FP8_BLOCK, 1, 1, 2, 1, 1);
    expect_shape(RF_Q_FP8_BLOCK, 127, 129, 2, 1, 2);
    expect_shape(RF_Q_FP8_BLOCK, 128, 128, 2, 1, 1);
    expect_shape(RF_Q_FP8_BLOCK, 129, 256, 2, 2, 2);
    expect_shape(RF_Q_FP8_BLOCK, 300, 4100, 2, 3, 33);
    expect_shape(RF_Q_FP8_BLOCK, 28672, 4096, 2, 224, 32);
    expect_shape(RF_Q_FP8_BLOCK, 0, 4096, 2, 0, 32);
    expect_shape(RF_Q_NONE, 300, 4100, 0, 0, 0);
}

int main(void) {
    oracle_init();
    test_names_shapes();
    test_decode_roundtrip();
    test_midpoints();
    test_specials();
    test_bf16();
    test_convert_bf16_grid();
    test_convert_fp32_sweep();
    test_quant_exhaustive();
    test_quant_random_shapes();
    test_quant_zeros();
    test_nonfinite();
    test_bad_args();
    if (failures) {
        fprintf(stderr, "test_quant: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_quant: ok\n");
    return 0;
}
