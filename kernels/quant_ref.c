/* fp8 quantization, C reference (SPEC §4). The CUDA kernels in quant_cuda.cu
 * must produce the same bytes; tests/gpu/test_quant_cuda.c checks that.
 *
 * Numerics: every operation is one IEEE fp32 operation rounded to nearest.
 * That needs (a) no x87 excess precision (FLT_EVAL_METHOD 0, i.e. SSE on
 * x86-64), (b) no contraction of a*b+c into an FMA (none of the formulas has
 * that shape, but we forbid it anyway so an edit cannot silently add one), and
 * (c) no -ffast-math. Rounding to e4m3fn is done on the integer bits so it does
 * not depend on the FPU rounding mode. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off") /* gcc ignores the STDC pragma */
#endif

#include <float.h>
#include <inttypes.h>
#include <string.h>

#include "quant.h"

#if !defined(FLT_EVAL_METHOD) || FLT_EVAL_METHOD != 0
#error "quant_ref.c needs FLT_EVAL_METHOD == 0 (fp32 ops rounded to fp32: SSE, not x87)"
#endif

/* SPEC §4 constants. quant_cuda.cu spells the same expressions. */
#define Q_MIN_SCALE (1.0f / (448.0f * 512.0f))
#define Q_R448 ((float)(1.0 / 448.0)) /* fp32(1/448): PyTorch's tensor / 448 on GPU */
#define Q_BLOCK_AMAX_MIN 1e-4f

#define BF16_ABS_MASK 0x7FFFu
#define BF16_ABS_INF 0x7F80u /* |x| bits >= this: Inf or NaN */

#define F32_ABS_INF 0x7F800000u
#define F32_448 0x43E00000u      /* 448.0f = 1.75 * 2^8 */
#define F32_MINNORM8 0x3C800000u /* 2^-6, smallest normal e4m3fn */

/* ---- scheme names and scale shapes ------------------------------------ */

static const char *const scheme_names[RF_Q_COUNT] = {
    [RF_Q_FP8_TENSOR] = "fp8-tensor",
    [RF_Q_FP8_ROW] = "fp8-row",
    [RF_Q_FP8_BLOCK] = "fp8-block",
    [RF_Q_NONE] = "none",
};

const char *rf_q_scheme_name(rf_qscheme_t s) {
    if ((int)s < 0 || s >= RF_Q_COUNT) return "unknown";
    return scheme_names[s];
}

bool rf_q_scheme_parse(const char *name, rf_qscheme_t *out) {
    if (!name) return false;
    for (int i = 0; i < RF_Q_COUNT; i++) {
        if (strcmp(name, scheme_names[i]) == 0) {
            *out = (rf_qscheme_t)i;
            return true;
        }
    }
    return false;
}

const char *rf_q_scale_suffix(rf_qscheme_t s) {
    switch (s) {
    case RF_Q_FP8_TENSOR:
    case RF_Q_FP8_ROW: return "weight_scale";
    case RF_Q_FP8_BLOCK: return "weight_scale_inv";
    default: return NULL;
    }
}

static uint64_t ceil_blocks(int64_t n) {
    return n <= 0 ? 0 : ((uint64_t)n + RF_Q_BLOCK - 1) / RF_Q_BLOCK;
}

void rf_q_scale_shape(rf_qscheme_t s, int64_t rows, int64_t cols, int *ndim, uint64_t shape[2]) {
    shape[0] = shape[1] = 0;
    switch (s) {
    case RF_Q_FP8_TENSOR:
        *ndim = 1;
        shape[0] = 1;
        break;
    case RF_Q_FP8_ROW:
        *ndim = 2;
        shape[0] = rows > 0 ? (uint64_t)rows : 0;
        shape[1] = 1;
        break;
    case RF_Q_FP8_BLOCK:
        *ndim = 2;
        shape[0] = ceil_blocks(rows);
        shape[1] = ceil_blocks(cols);
        break;
    default: *ndim = 0; break;
    }
}

uint64_t rf_q_scale_count(rf_qscheme_t s, int64_t rows, int64_t cols) {
    int ndim;
    uint64_t shape[2];
    rf_q_scale_shape(s, rows, cols, &ndim, shape);
    if (ndim == 0) return 0;
    return ndim == 1 ? shape[0] : shape[0] * shape[1];
}

/* ---- scalar conversions ------------------------------------------------ */

static inline uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Rounds v >> shift to nearest, ties to even, without a branch (a data-
 * dependent branch here mispredicts half the time on real weights): adding
 * half-1, plus 1 when the kept part is odd, carries exactly when the cut-off
 * part is above half, or equal to half with an odd kept part. */
static inline uint32_t shr_rne(uint32_t v, uint32_t shift) {
    return (v + (1u << (shift - 1)) - 1u + ((v >> shift) & 1u)) >> shift;
}

/* |x| in [2^-6, 448): the e4m3fn code is the fp32 exponent rebased (127 -> 7)
 * and the top 3 mantissa bits; a carry out of the mantissa bumps the exponent,
 * which is exactly the next code, so rounding the bits as one integer is right. */
static inline uint32_t fp8_normal(uint32_t a) { return shr_rne(a, 20) - ((127u - 7u) << 3); }

/* |x| < 2^-6: the subnormal grid m * 2^-9, m = rne(|x| * 2^9) in 0..8; m = 8
 * is code 0x08 = 2^-6, the smallest normal, so the grids join seamlessly.
 * |x| * 2^9 = sig * 2^-shift; below 2^-10 (shift >= 25) the sum in shr_rne
 * stays under 2^shift and gives 0, so capping shift at 31 is exact. */
static inline uint32_t fp8_subnormal(uint32_t a) {
    uint32_t e = a >> 23;
    uint32_t sig = (a & 0x7FFFFFu) | (e ? 0x800000u : 0u);
    uint32_t eb = e == 0 ? 1u : (e > 121u ? 121u : e); /* keep the unused lane defined */
    uint32_t shift = 141u - eb;
    return shr_rne(sig, shift < 31u ? shift : 31u);
}

/* Saturates like __nv_cvt_float_to_fp8(x, __NV_SATFINITE, __NV_E4M3): every
 * |x| >= 448 (Inf included) gives ±448 (values in [448, 464] round to 448
 * anyway), so clamp(v, ±448) before it changes nothing for non-NaN v; NaN
 * gives the canonical 0x7F whatever its sign, as CUDA does. Written as
 * selects, not branches, for the same reason as shr_rne. */
static inline uint8_t fp8_encode(float f) {
    uint32_t u = f32_bits(f);
    uint32_t a = u & 0x7FFFFFFFu;
    uint32_t q = a < F32_MINNORM8 ? fp8_subnormal(a) : fp8_normal(a);
    q = a >= F32_448 ? 0x7Eu : q;
    q |= (u >> 24) & 0x80u;
    return (uint8_t)(a > F32_ABS_INF ? 0x7Fu : q);
}

uint8_t rf_f32_to_fp8(float f) { return fp8_encode(f); }

float rf_fp8_to_f32(uint8_t v) {
    uint32_t sign = (uint32_t)(v & 0x80u) << 24;
    uint32_t e = (v >> 3) & 0xFu, m = v & 7u;
    if (e == 15 && m == 7) return bits_f32(sign | 0x7FC00000u);
    if (e == 0) {
        float f = (float)m * 0x1p-9f; /* exact */
        return sign ? -f : f;
    }
    return bits_f32(sign | ((e + 127u - 7u) << 23) | (m << 20));
}

/* ---- amax and NaN/Inf scan ---------------------------------------------
 * Non-negative floats order like their bit patterns, so max |x| over bf16 is
 * an integer max of (bits & 0x7FFF): exact, vectorizable, and it doubles as
 * the NaN/Inf test (any result >= 0x7F80). */

static uint16_t abs_bits_max(const uint16_t *x, size_t n) {
    uint16_t lane[16] = {0}; /* independent lanes so the compiler vectorizes */
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int k = 0; k < 16; k++) {
            uint16_t a = x[i + k] & BF16_ABS_MASK;
            lane[k] = a > lane[k] ? a : lane[k];
        }
    uint16_t m = 0;
    for (int k = 0; k < 16; k++)
        m = lane[k] > m ? lane[k] : m;
    for (; i < n; i++) {
        uint16_t a = x[i] & BF16_ABS_MASK;
        m = a > m ? a : m;
    }
    return m;
}

int64_t rf_q_find_nonfinite(const uint16_t *x, size_t n) {
    enum { CHUNK = 4096 };
    for (size_t i = 0; i < n; i += CHUNK) {
        size_t len = n - i < CHUNK ? n - i : CHUNK;
        if (abs_bits_max(x + i, len) < BF16_ABS_INF) continue;
        for (size_t j = i; j < i + len; j++)
            if ((x[j] & BF16_ABS_MASK) >= BF16_ABS_INF) return (int64_t)j;
    }
    return -1;
}

static refit_status numeric_error(const uint16_t *x, int64_t idx, int64_t cols, const char *label) {
    const char *what = (x[idx] & BF16_ABS_MASK) == BF16_ABS_INF ? "inf" : "nan";
    return rf_error(REFIT_ERR_NUMERIC, "%s: %s at row %" PRId64 " col %" PRId64, label, what,
                    idx / cols, idx % cols);
}

/* ---- one element ------------------------------------------------------- */

static inline float clamp448(float v) {
    return v < -RF_FP8_MAX ? -RF_FP8_MAX : (v > RF_FP8_MAX ? RF_FP8_MAX : v);
}

static inline float fmax32(float a, float b) { return a > b ? a : b; } /* no NaN here */

static inline uint8_t q_mul(uint16_t b, float inv) {
    return fp8_encode(clamp448(rf_bf16_to_f32(b) * inv));
}

static inline uint8_t q_div(uint16_t b, float s) {
    return fp8_encode(clamp448(rf_bf16_to_f32(b) / s));
}

/* ---- the three schemes --------------------------------------------------
 * The input has been checked finite before any of these writes a byte. */

/* amax was found by the caller's finiteness pass (same max). */
static void quant_tensor(const uint16_t *x, size_t n, uint16_t amax_bits, uint8_t *out,
                         float *scales) {
    float s = fmax32(rf_bf16_to_f32(amax_bits) / RF_FP8_MAX, Q_MIN_SCALE);
    float inv = 1.0f / s;
    for (size_t i = 0; i < n; i++)
        out[i] = q_mul(x[i], inv);
    scales[0] = s;
}

static void quant_row(const uint16_t *x, int64_t rows, int64_t cols, uint8_t *out, float *scales) {
    for (int64_t r = 0; r < rows; r++) {
        const uint16_t *xr = x + r * cols;
        uint8_t *qr = out + r * cols;
        float s = fmax32(rf_bf16_to_f32(abs_bits_max(xr, (size_t)cols)) * Q_R448, Q_MIN_SCALE);
        for (int64_t c = 0; c < cols; c++)
            qr[c] = q_div(xr[c], s);
        scales[r] = s;
    }
}

/* One 128x128 block (fewer rows/cols on the ragged edges) at x, row stride ld. */
static float quant_one_block(const uint16_t *x, int64_t ld, int64_t brows, int64_t bcols,
                             uint8_t *out) {
    uint16_t m = 0;
    for (int64_t r = 0; r < brows; r++) {
        uint16_t a = abs_bits_max(x + r * ld, (size_t)bcols);
        m = a > m ? a : m;
    }
    float sf = fmax32(rf_bf16_to_f32(m), Q_BLOCK_AMAX_MIN) * Q_R448;
    float inv = 1.0f / sf;
    for (int64_t r = 0; r < brows; r++)
        for (int64_t c = 0; c < bcols; c++)
            out[r * ld + c] = q_mul(x[r * ld + c], inv);
    return sf;
}

static void quant_block(const uint16_t *x, int64_t rows, int64_t cols, uint8_t *out,
                        float *scales) {
    int64_t nbc = (int64_t)ceil_blocks(cols);
    for (int64_t r0 = 0; r0 < rows; r0 += RF_Q_BLOCK) {
        int64_t brows = rows - r0 < RF_Q_BLOCK ? rows - r0 : RF_Q_BLOCK;
        for (int64_t c0 = 0; c0 < cols; c0 += RF_Q_BLOCK) {
            int64_t bcols = cols - c0 < RF_Q_BLOCK ? cols - c0 : RF_Q_BLOCK;
            size_t off = (size_t)(r0 * cols + c0);
            scales[(r0 / RF_Q_BLOCK) * nbc + c0 / RF_Q_BLOCK] =
                quant_one_block(x + off, cols, brows, bcols, out + off);
        }
    }
}

/* ---- entry point ------------------------------------------------------- */

static refit_status check_args(rf_qscheme_t s, const uint16_t *x, int64_t rows, int64_t cols,
                               const char *label, const uint8_t *out, const float *scales,
                               size_t *n) {
    uint64_t nn;
    if ((int)s < 0 || s >= RF_Q_NONE)
        return rf_error(REFIT_ERR_INVALID_ARG, "%s: quantize: scheme %s has nothing to quantize",
                        label, rf_q_scheme_name(s));
    if (rows < 0 || cols < 0 || !rf_mul_u64((uint64_t)rows, (uint64_t)cols, &nn) ||
        nn > (uint64_t)INT64_MAX || nn > SIZE_MAX)
        return rf_error(REFIT_ERR_INVALID_ARG, "%s: quantize: bad shape [%" PRId64 ", %" PRId64 "]",
                        label, rows, cols);
    if (nn > 0 && (!x || !out))
        return rf_error(REFIT_ERR_INVALID_ARG, "%s: quantize: NULL data", label);
    if (!scales && rf_q_scale_count(s, rows, cols) > 0)
        return rf_error(REFIT_ERR_INVALID_ARG, "%s: quantize: NULL scales", label);
    *n = (size_t)nn;
    return REFIT_OK;
}

refit_status rf_q_quantize_ref(rf_qscheme_t s, const uint16_t *x, int64_t rows, int64_t cols,
                               const char *label, uint8_t *out, float *scales) {
    size_t n = 0;
    if (!label) label = "(unnamed)";
    RF_CHECK(check_args(s, x, rows, cols, label, out, scales, &n));
    /* Check before writing anything: a rejected reload leaves out untouched.
     * For fp8-tensor this pass is also the amax pass. */
    uint16_t amax_bits = abs_bits_max(x, n);
    if (amax_bits >= BF16_ABS_INF) return numeric_error(x, rf_q_find_nonfinite(x, n), cols, label);
    switch (s) {
    case RF_Q_FP8_TENSOR: quant_tensor(x, n, amax_bits, out, scales); break;
    case RF_Q_FP8_ROW: quant_row(x, rows, cols, out, scales); break;
    default: quant_block(x, rows, cols, out, scales); break;
    }
    return REFIT_OK;
}
