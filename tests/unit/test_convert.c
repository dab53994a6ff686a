/* SPEC §1 conversions of F16/F32 sources to bf16 (shard/source.h):
 * rf_f16_to_f32 is exact for all 65536 halves (against the value IEEE 754
 * binary16 defines, computed with ldexpf); rf_convert_bf16 of F32 rounds to nearest even, ties included;
 * a value not finite after conversion (an F32 above bf16's range, an F16
 * Inf or NaN) is REFIT_ERR_NUMERIC naming tensor, file and element; and the
 * manifest of memory tensors refuses what SPEC §1 does not convert. */
#include <math.h>
#include <string.h>

#include "check.h"
#include "manifest.h"
#include "rf_bf16.h"

/* The binary16 value of bits h: (-1)^s * man * 2^-24 (subnormal) or
 * (-1)^s * (1024 + man) * 2^(exp - 25); exp 31: Inf or NaN. */
static float half_value(uint16_t h) {
    int exp = (h >> 10) & 31, man = h & 1023;
    float sign = (h & 0x8000) ? -1.0f : 1.0f;
    if (exp == 31) return man ? NAN : sign * INFINITY;
    return sign * (exp == 0 ? ldexpf((float)man, -24) : ldexpf((float)(1024 + man), exp - 25));
}

static void f16_widening_is_exact(void) {
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        uint16_t b = (uint16_t)h;
        float want = half_value(b), got = rf_f16_to_f32(b);
        bool same = isnan(want) ? isnan(got) : memcmp(&want, &got, 4) == 0;
        if (!same && bad++ < 5) CHECK(same, "half 0x%04x: got %a, want %a", h, got, want);
    }
    CHECK(bad == 0, "%d halves widened wrongly", bad);
}

static rf_src_t src_of(rf_conv_t conv) {
    return (rf_src_t){.fd = -1, .file = "ck/model.safetensors", .tensor = "t", .conv = conv};
}

static void f32_rounds_to_nearest_even(void) {
    /* 1 + 2^-8 is a tie between 1 and 1 + 2^-7: even (1); 1 + 3 * 2^-8 goes up */
    float in[4] = {1.0f + 0x1p-8f, 1.0f + 3 * 0x1p-8f, -2.5f, 3.4e38f};
    uint16_t out[4];
    rf_src_t s = src_of(RF_CONV_F32);
    CHECK(rf_convert_bf16(&s, in, 3, 0, out) == REFIT_OK, "%s", rf_err_msg());
    CHECK(out[0] == 0x3F80 && out[1] == 0x3F82 && out[2] == 0xC020, "got %04x %04x %04x", out[0], out[1], out[2]);
    rf_err_clear();
    CHECK(rf_convert_bf16(&s, in, 4, 10, out) == REFIT_ERR_NUMERIC, "3.4e38 rounds to inf in bf16 (max 3.3895e38)");
    CHECK(!strcmp(rf_err_msg(), "tensor t of file ck/model.safetensors: element 13 is inf after conversion from F32 "
                                "to BF16"), "%s", rf_err_msg());
}

static void f16_nonfinite_is_refused(void) {
    uint16_t in[2] = {0x3C00, 0x7E00}, out[2]; /* 1.0, NaN */
    rf_src_t s = src_of(RF_CONV_F16);
    rf_err_clear();
    CHECK(rf_convert_bf16(&s, in, 2, 0, out) == REFIT_ERR_NUMERIC, "NaN refused");
    CHECK(out[0] == 0x3F80, "1.0 -> %04x", out[0]);
    CHECK(!strcmp(rf_err_msg(), "tensor t of file ck/model.safetensors: element 1 is nan after conversion from F16 "
                                "to BF16"), "%s", rf_err_msg());
}

static void memory_manifest_checks(void) {
    uint16_t data[6] = {0};
    refit_tensor t[2] = {{.name = "b", .dtype = REFIT_DTYPE_F16, .ndim = 2, .shape = {2, 3}, .data = data},
                         {.name = "a", .dtype = REFIT_DTYPE_BF16, .ndim = 1, .shape = {6}, .data = data}};
    rf_manifest_t m;
    CHECK(rf_manifest_from_memory(t, 2, 3, false, &m) == REFIT_OK, "%s", rf_err_msg());
    const rf_mf_entry_t *e = rf_manifest_find(&m, "b");
    CHECK(e && e->dtype == RF_DT_F16 && e->shape[1] == 3 && e->src.conv == RF_CONV_F16 && !strcmp(e->src.file,
          "rank 3's memory"), "entry b");
    CHECK(m.n == 2 && !strcmp(m.e[0].name, "a") && !m.any_device, "sorted by name, host");
    rf_manifest_free(&m);
    struct {
        refit_tensor t;
        refit_status st;
        const char *msg;
    } bad[] = {
        {{.name = "x", .dtype = REFIT_DTYPE_F8_E4M3, .ndim = 1, .shape = {6}, .data = data}, REFIT_ERR_UNSUPPORTED,
         "unsupported dtype F8_E4M3 in tensor x of rank 3's memory"},
        {{.name = "x", .dtype = REFIT_DTYPE_BF16, .ndim = 4, .shape = {6}, .data = data}, REFIT_ERR_INVALID_ARG,
         "rank 3's memory: tensor x: ndim 4 (1..3)"},
        {{.name = "x", .dtype = REFIT_DTYPE_BF16, .ndim = 2, .shape = {6, 0}, .data = data}, REFIT_ERR_INVALID_ARG,
         "rank 3's memory: tensor x: shape[1] = 0"},
        {{.name = "x", .dtype = REFIT_DTYPE_BF16, .ndim = 1, .shape = {6}, .data = data, .where = REFIT_MEM_DEVICE},
         REFIT_ERR_INVALID_ARG, "rank 3's memory: tensor x: device memory needs the cuda backend"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rf_err_clear();
        CHECK(rf_manifest_from_memory(&bad[i].t, 1, 3, false, &m) == bad[i].st && !strcmp(rf_err_msg(), bad[i].msg),
              "case %zu: %s", i, rf_err_msg());
    }
    refit_tensor twice[2] = {t[1], t[1]};
    rf_err_clear();
    CHECK(rf_manifest_from_memory(twice, 2, 0, false, &m) == REFIT_ERR_INVALID_ARG &&
          !strcmp(rf_err_msg(), "rank 0's memory: tensor a given twice"), "%s", rf_err_msg());
}

int main(void) {
    f16_widening_is_exact();
    f32_rounds_to_nearest_even();
    f16_nonfinite_is_refused();
    memory_manifest_checks();
    return failures != 0;
}
