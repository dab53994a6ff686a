/* The expert params and data of the MoE quantization tests, shared by
 * tests/unit/test_quant_moe.c (reference vs SPEC oracle) and
 * tests/gpu/test_quant_moe_cuda.c (CUDA vs reference), so both run the same
 * cases. Header-only, for single-file test programs (static inline: a
 * program need not use all of it). */
#ifndef RF_TEST_QUANT_MOE_CASES_H
#define RF_TEST_QUANT_MOE_CASES_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "quant_moe.h"

/* E_r, H and I_r of the case grid: the sizes of the brief (I_r 96, 160, 192
 * pad to 128/256; H 200 pads, 256 does not), whole blocks (128), a single
 * row, and odd sizes (131, 37: rows not a multiple of 8, the kernels'
 * element-wise paths). */
static const int64_t moe_case_experts[] = {1, 3};
static const int64_t moe_case_hidden[] = {200, 256, 128, 131};
static const int64_t moe_case_inter[] = {96, 160, 192, 128, 1, 37};
#define MOE_N(a) (sizeof(a) / sizeof((a)[0]))

typedef struct {
    rf_q_moe_t p;
    int64_t rows, cols; /* one expert of the input, from SPEC §3a */
    int64_t ip, hp;     /* Ip, Hp as §3a defines them */
} moe_case_t;

static inline int64_t moe_up128(int64_t n) { return (n + 127) / 128 * 128; }

/* expert0 7: messages name experts 7, 8, ... */
static inline moe_case_t moe_case(rf_q_moe_kind_t kind, int64_t e, int64_t h, int64_t i) {
    moe_case_t c = {.p = {.kind = kind, .experts = e, .expert0 = 7, .hidden = h, .inter = i}};
    c.rows = kind == RF_Q_MOE_W13 ? 2 * i : h;
    c.cols = kind == RF_Q_MOE_W13 ? h : i;
    c.ip = moe_up128(i);
    c.hp = moe_up128(h);
    return c;
}

/* Calls fn on every (kind, E_r, H, I_r) of the grid; inter_idx is I_r's
 * index in moe_case_inter, for callers that run extra variants on a few. */
static inline void moe_each_case(void (*fn)(const moe_case_t *c, size_t inter_idx)) {
    for (int kind = 0; kind < 2; kind++)
        for (size_t a = 0; a < MOE_N(moe_case_experts); a++)
            for (size_t b = 0; b < MOE_N(moe_case_hidden); b++)
                for (size_t d = 0; d < MOE_N(moe_case_inter); d++) {
                    moe_case_t c = moe_case((rf_q_moe_kind_t)kind, moe_case_experts[a],
                                            moe_case_hidden[b], moe_case_inter[d]);
                    fn(&c, d);
                }
}

static inline const char *moe_kind_name(rf_q_moe_kind_t k) {
    return k == RF_Q_MOE_W13 ? "w13" : "w2";
}

static inline size_t moe_case_elems(const moe_case_t *c) {
    return (size_t)(c->p.experts * c->rows * c->cols);
}

static inline void *moe_xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) {
        printf("FAIL out of memory (%zu bytes)\n", n);
        exit(2);
    }
    return p;
}

static uint64_t moe_rng = 0x6A09E667F3BCC909ull;
static inline uint32_t moe_rnd(void) { /* xorshift64* */
    moe_rng ^= moe_rng >> 12;
    moe_rng ^= moe_rng << 25;
    moe_rng ^= moe_rng >> 27;
    return (uint32_t)((moe_rng * 0x2545F4914F6CDD1Dull) >> 32);
}

/* Mixed magnitudes: one per (expert, 128-row strip, 64-column strip) so
 * block and row scales differ; the up half of w13 in another range than the
 * gate half (their shared fp8-tensor scale matters); some ±0; expert 1 (when
 * there is one) all zero (the scale floors). */
static inline void moe_fill(const moe_case_t *c, uint16_t *x) {
    for (int64_t j = 0; j < c->p.experts; j++)
        for (int64_t r = 0; r < c->rows; r++)
            for (int64_t k = 0; k < c->cols; k++) {
                int ex = (int)((j * 5 + r / 128 * 7 + k / 64 * 3) % 24) - 16;
                if (c->p.kind == RF_Q_MOE_W13 && r >= c->p.inter) ex += 3;
                float v = ldexpf((float)(int32_t)moe_rnd() / 2147483648.0f, ex);
                uint32_t z = moe_rnd() % 32;
                if (z == 0 || j == 1) v = 0.0f;
                if (z == 1) v = -0.0f;
                x[(j * c->rows + r) * c->cols + k] = rf_f32_to_bf16(v);
            }
}

/* NaN/Inf placements in moe_case(RF_Q_MOE_W13, 3, 200, 96) (experts 7..9,
 * rows 192, cols 200) and the message the reference gives for each. */
typedef struct {
    int64_t j, r, c;
    uint16_t bits;
    const char *msg;
} moe_bad_t;
#define MOE_BAD_LABEL "layers.1.mlp.experts.w13_weight"
static const moe_bad_t moe_bad_cases[] = {
    {0, 0, 0, 0x7FC0, MOE_BAD_LABEL ": nan at expert 7 row 0 col 0"},
    {1, 100, 17, 0xFF80, MOE_BAD_LABEL ": inf at expert 8 row 100 col 17"},
    {2, 191, 199, 0x7F80, MOE_BAD_LABEL ": inf at expert 9 row 191 col 199"},
    {2, 95, 3, 0xFF81, MOE_BAD_LABEL ": nan at expert 9 row 95 col 3"},
};

/* Fills x for bad case k: the bad element, and (unless it is the last
 * element itself) a NaN in the last element, which must not be reported. */
static inline size_t moe_bad_fill(const moe_case_t *c, size_t k, uint16_t *x) {
    size_t n = moe_case_elems(c);
    const moe_bad_t *b = &moe_bad_cases[k];
    moe_fill(c, x);
    size_t at = (size_t)((b->j * c->rows + b->r) * c->cols + b->c);
    x[at] = b->bits;
    if (at + 1 < n) x[n - 1] = 0x7FC0;
    return at;
}

#endif
