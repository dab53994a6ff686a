/* Transfer plan and slice packing (shard/plan.h, shard/source.h): the
 * buckets tile each group's stream exactly, every segment lies inside its
 * param, a slice packed across arbitrary bucket boundaries equals the slice
 * built row by row, and a whole bucket packed at once (rf_pack_bucket, in
 * two halves) equals its segments packed one by one. MoE models in both
 * --moe modes: under ep each group's stream holds only its experts (and the
 * groups' streams differ in length when E % tp != 0). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"
#include "source.h"
#include "synth.h"

#include "check.h"


/* Source tensors whose element e holds (uint16)(e * 7 + slot * 13 + 1): any
 * misplaced element shows. */
static uint8_t *make_source(const rf_part_t *part, int slot) {
    uint64_t n = (uint64_t)part->rows * (uint64_t)part->cols;
    uint16_t *d = malloc(n * 2);
    for (uint64_t e = 0; e < n; e++) d[e] = (uint16_t)(e * 7 + (uint64_t)slot * 13 + 1);
    return (uint8_t *)d;
}

/* Row-by-row expectation from rf_param_row_source. */
static void expected_slice(const rf_param_t *p, uint8_t *const *data, int tp, int r, uint16_t *out) {
    int64_t rows = p->rows * rf_param_local_count(p, tp, r);
    for (int64_t row = 0; row < rows; row++) {
        rf_row_src_t s = rf_param_row_source(p, tp, r, row);
        for (int64_t c = 0; c < p->cols; c++) {
            uint16_t v = 0;
            if (s.part >= 0) {
                const uint16_t *src = (const uint16_t *)data[s.part];
                v = src[s.src_row * rf_param_slot_part(p, s.part)->cols + s.src_col + c];
            }
            out[row * p->cols + c] = v;
        }
    }
}

typedef struct {
    rf_param_t *params;
    size_t n_params;
    uint8_t ***data;     /* [param][slot] */
    const rf_src_t **src; /* [param] -> its slots */
    rf_src_t *slots;
} model_t;

static void model_sources(model_t *m) {
    size_t n_slots = 0, at = 0;
    for (size_t i = 0; i < m->n_params; i++) n_slots += (size_t)rf_param_n_sources(&m->params[i]);
    m->data = calloc(m->n_params, sizeof *m->data);
    m->src = calloc(m->n_params, sizeof *m->src);
    m->slots = calloc(n_slots, sizeof *m->slots);
    for (size_t i = 0; i < m->n_params; i++) {
        const rf_param_t *p = &m->params[i];
        m->data[i] = calloc((size_t)rf_param_n_sources(p), sizeof **m->data);
        m->src[i] = &m->slots[at];
        for (int k = 0; k < rf_param_n_sources(p); k++, at++) {
            m->data[i][k] = make_source(rf_param_slot_part(p, k), k);
            m->slots[at] = (rf_src_t){.ptr = m->data[i][k], .fd = -1};
        }
    }
}

static void model_free(model_t *m) {
    for (size_t i = 0; i < m->n_params; i++) {
        for (int k = 0; k < rf_param_n_sources(&m->params[i]); k++) free(m->data[i][k]);
        free(m->data[i]);
    }
    free(m->data);
    free(m->src);
    free(m->slots);
    free(m->params);
}

/* Group r's stream offset of param i, from the layout alone. */
static uint64_t stream_off(const model_t *m, int tp, int r, size_t i) {
    uint64_t off = 0;
    for (size_t j = 0; j < i; j++) off += rf_param_local_elems(&m->params[j], tp, r) * 2;
    return off;
}

/* Packs group r's stream bucket by bucket, checking each bucket. */
static void check_group(const char *label, const model_t *s, const rf_plan_t *plan, int tp, int r, uint8_t *stream) {
    uint8_t *bucketbuf = malloc(plan->bucket), *whole = malloc(plan->bucket);
    uint64_t covered = 0;
    rf_seg_t *segs = malloc(sizeof *segs * (s->n_params + 2));
    for (size_t k = 0; k < rf_plan_buckets(plan, r); k++) {
        size_t n = rf_plan_segments(plan, r, k, segs, s->n_params + 2);
        uint64_t in_bucket = 0;
        for (size_t j = 0; j < n; j++) {
            const rf_seg_t *g = &segs[j];
            const rf_param_t *p = &s->params[g->param];
            CHECK(g->bucket_off == in_bucket, "bucket %zu segment %zu offset", k, j);
            CHECK(g->param_off + g->len <= rf_param_bf16_bytes(p, tp, r), "segment past param");
            CHECK(g->len % 2 == 0 && g->param_off % 2 == 0, "odd segment");
            CHECK(rf_pack_slice(p, s->src[g->param], tp, r, g->param_off / 2, g->len / 2, false,
                                bucketbuf + g->bucket_off) == REFIT_OK, "pack");
            memcpy(stream + stream_off(s, tp, r, g->param) + g->param_off, bucketbuf + g->bucket_off, g->len);
            in_bucket += g->len;
        }
        CHECK(in_bucket == rf_plan_bucket_bytes(plan, r, k), "bucket %zu holds %llu of %llu bytes", k,
              (unsigned long long)in_bucket, (unsigned long long)rf_plan_bucket_bytes(plan, r, k));
        uint64_t half = in_bucket / 4 * 2; /* whole elements */
        CHECK(rf_pack_bucket(plan, s->params, s->src, r, k, 0, half, false, whole) == REFIT_OK &&
                  rf_pack_bucket(plan, s->params, s->src, r, k, half, UINT64_MAX, false, whole) == REFIT_OK,
              "pack bucket %zu", k);
        CHECK(!memcmp(whole, bucketbuf, in_bucket), "%s rank %d: bucket %zu packed whole differs", label, r, k);
        covered += in_bucket;
    }
    CHECK(covered == rf_plan_total(plan, r) && covered == stream_off(s, tp, r, s->n_params),
          "%s rank %d: buckets cover %llu of %llu bytes", label, r, (unsigned long long)covered,
          (unsigned long long)stream_off(s, tp, r, s->n_params));
    free(segs);
    free(bucketbuf);
    free(whole);
}

static void test_model(const char *preset, int tp, rf_moe_mode_t moe, uint64_t bucket) {
    rf_model_config_t cfg;
    model_t m = {0};
    char label[96];
    snprintf(label, sizeof label, "%s tp %d --moe %s bucket %llu", preset, tp, rf_moe_mode_name(moe),
             (unsigned long long)bucket);
    CHECK(rf_synth_preset(preset, &cfg, NULL) == REFIT_OK &&
              rf_model_params(&cfg, tp, moe, &m.params, &m.n_params) == REFIT_OK,
          "%s: %s", label, rf_err_msg());
    if (!m.params) return;
    rf_plan_t plan;
    CHECK(rf_plan_build(m.params, m.n_params, tp, bucket, &plan) == REFIT_OK && plan.tp == tp, "plan");
    CHECK(plan.bucket % 4096 == 0 && plan.bucket >= 4096, "bucket %llu not 4 KiB aligned", (unsigned long long)plan.bucket);
    bool alike = true;
    for (int r = 1; r < tp; r++) alike = alike && stream_off(&m, tp, r, m.n_params) == stream_off(&m, tp, 0, m.n_params);
    CHECK(alike ? plan.n_streams == 1 : plan.n_streams == tp, "%s: %d streams", label, plan.n_streams);
    model_sources(&m);
    for (int r = 0; r < tp; r++) {
        uint8_t *stream = calloc(1, stream_off(&m, tp, r, m.n_params) + 1);
        check_group(label, &m, &plan, tp, r, stream);
        for (size_t i = 0; i < m.n_params; i++) {
            const rf_param_t *p = &m.params[i];
            uint16_t *want = malloc(rf_param_bf16_bytes(p, tp, r) + 2);
            expected_slice(p, m.data[i], tp, r, want);
            CHECK(!memcmp(want, stream + stream_off(&m, tp, r, i), rf_param_bf16_bytes(p, tp, r)),
                  "%s rank %d: %s differs", label, r, p->name);
            free(want);
        }
        free(stream);
    }
    rf_plan_free(&plan);
    model_free(&m);
}

int main(void) {
    const char *dense[] = {"tiny", "tiny-qwen2", "tiny-qwen3", "tiny-mistral"};
    for (size_t i = 0; i < 4; i++)
        for (int tp = 1; tp <= 4; tp *= 2) {
            test_model(dense[i], tp, RF_MOE_TP, 4096);      /* params split over many buckets */
            test_model(dense[i], tp, RF_MOE_TP, 100000);    /* rounds down to 98304 */
            test_model(dense[i], tp, RF_MOE_TP, 1u << 30);  /* one bucket */
        }
    const char *moe[] = {"tiny-qwen3-moe", "tiny-qwen2-moe", "tiny-mixtral"};
    for (size_t i = 0; i < 3; i++)
        for (int tp = 1; tp <= 4; tp *= 2)
            for (int mode = 0; mode < RF_MOE_COUNT; mode++) {
                test_model(moe[i], tp, (rf_moe_mode_t)mode, 4096);
                test_model(moe[i], tp, (rf_moe_mode_t)mode, 1u << 30);
            }
    printf("test_plan: %s\n", failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}
