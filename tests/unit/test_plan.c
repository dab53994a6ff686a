/* Transfer plan and slice packing (shard/plan.h, shard/source.h): the
 * buckets tile each group's stream exactly, every segment lies inside its
 * param, a slice packed across arbitrary bucket boundaries equals the slice
 * built row by row, and a whole bucket packed at once (rf_pack_bucket, in
 * two halves) equals its segments packed one by one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"
#include "source.h"
#include "synth.h"

#include "check.h"


/* Source tensors whose element e holds (uint16)(e * 7 + part * 13 + 1): any
 * misplaced element shows. */
static uint8_t *make_source(const rf_part_t *part, int k) {
    uint64_t n = (uint64_t)part->rows * (uint64_t)part->cols;
    uint16_t *d = malloc(n * 2);
    for (uint64_t e = 0; e < n; e++) d[e] = (uint16_t)(e * 7 + (uint64_t)k * 13 + 1);
    return (uint8_t *)d;
}

/* Row-by-row expectation from rf_param_row_source. */
static void expected_slice(const rf_param_t *p, const uint8_t *const data[RF_MAX_PARTS], int tp, int r, uint16_t *out) {
    for (int64_t row = 0; row < p->rows; row++) {
        rf_row_src_t s = rf_param_row_source(p, tp, r, row);
        for (int64_t c = 0; c < p->cols; c++) {
            uint16_t v = 0;
            if (s.part >= 0) {
                const uint16_t *src = (const uint16_t *)data[s.part];
                v = src[s.src_row * p->parts[s.part].cols + s.src_col + c];
            }
            out[row * p->cols + c] = v;
        }
    }
}

static void test_model(const char *preset, int tp, uint64_t bucket) {
    rf_model_config_t cfg;
    struct {
        rf_param_t *params;
        size_t n_params;
    } model = {0}, *s = &model;
    CHECK(rf_synth_preset(preset, &cfg, NULL) == REFIT_OK &&
              rf_model_params(&cfg, tp, &model.params, &model.n_params) == REFIT_OK,
          "%s tp %d: %s", preset, tp, rf_err_msg());
    if (!model.params) return;
    rf_plan_t plan;
    CHECK(rf_plan_build(s->params, s->n_params, tp, bucket, &plan) == REFIT_OK && plan.tp == tp, "plan");
    CHECK(plan.bucket % 4096 == 0 && plan.bucket >= 4096, "bucket %llu not 4 KiB aligned", (unsigned long long)plan.bucket);
    /* sources */
    const uint8_t *(*data)[RF_MAX_PARTS] = calloc(s->n_params, sizeof *data);
    rf_src_t (*src)[RF_MAX_PARTS] = calloc(s->n_params, sizeof *src);
    for (size_t i = 0; i < s->n_params; i++)
        for (int k = 0; k < s->params[i].n_parts; k++) {
            data[i][k] = make_source(&s->params[i].parts[k], k);
            src[i][k] = (rf_src_t){.ptr = data[i][k], .fd = -1};
        }
    for (int r = 0; r < tp; r++) {
        uint8_t *stream = calloc(1, plan.total), *bucketbuf = malloc(plan.bucket), *whole = malloc(plan.bucket);
        uint64_t covered = 0;
        rf_seg_t *segs = malloc(sizeof *segs * (s->n_params + 2));
        for (size_t k = 0; k < plan.n_buckets; k++) {
            size_t n = rf_plan_segments(&plan, k, segs, s->n_params + 2);
            uint64_t in_bucket = 0;
            for (size_t j = 0; j < n; j++) {
                const rf_seg_t *g = &segs[j];
                CHECK(g->bucket_off == in_bucket, "bucket %zu segment %zu offset", k, j);
                CHECK(g->param_off + g->len <= rf_param_bf16_bytes(&s->params[g->param]), "segment past param");
                CHECK(g->len % 2 == 0 && g->param_off % 2 == 0, "odd segment");
                CHECK(rf_pack_slice(&s->params[g->param], src[g->param], tp, r, g->param_off / 2, g->len / 2, false,
                                    bucketbuf + g->bucket_off) == REFIT_OK, "pack");
                memcpy(stream + plan.offs[g->param] + g->param_off, bucketbuf + g->bucket_off, g->len);
                in_bucket += g->len;
            }
            CHECK(in_bucket == rf_plan_bucket_bytes(&plan, k), "bucket %zu holds %llu of %llu bytes", k,
                  (unsigned long long)in_bucket, (unsigned long long)rf_plan_bucket_bytes(&plan, k));
            uint64_t half = in_bucket / 4 * 2; /* whole elements */
            CHECK(rf_pack_bucket(&plan, s->params, (const rf_src_t(*)[RF_MAX_PARTS])src, r, k, 0, half, false, whole) ==
                          REFIT_OK &&
                      rf_pack_bucket(&plan, s->params, (const rf_src_t(*)[RF_MAX_PARTS])src, r, k, half, UINT64_MAX,
                                     false, whole) == REFIT_OK,
                  "pack bucket %zu", k);
            CHECK(!memcmp(whole, bucketbuf, in_bucket), "%s tp %d rank %d: bucket %zu packed whole differs", preset,
                  tp, r, k);
            covered += in_bucket;
        }
        CHECK(covered == plan.total, "buckets cover %llu of %llu bytes", (unsigned long long)covered,
              (unsigned long long)plan.total);
        for (size_t i = 0; i < s->n_params; i++) {
            const rf_param_t *p = &s->params[i];
            uint16_t *want = malloc(rf_param_bf16_bytes(p));
            expected_slice(p, data[i], tp, r, want);
            CHECK(!memcmp(want, stream + plan.offs[i], rf_param_bf16_bytes(p)), "%s tp %d rank %d: %s differs",
                  preset, tp, r, p->name);
            free(want);
        }
        free(segs);
        free(stream);
        free(bucketbuf);
        free(whole);
    }
    for (size_t i = 0; i < s->n_params; i++)
        for (int k = 0; k < s->params[i].n_parts; k++) free((void *)data[i][k]);
    free(data);
    free(src);
    rf_plan_free(&plan);
    free(model.params);
}

int main(void) {
    const char *presets[] = {"tiny", "tiny-qwen2", "tiny-qwen3", "tiny-mistral"};
    for (size_t i = 0; i < 4; i++)
        for (int tp = 1; tp <= 4; tp *= 2) {
            test_model(presets[i], tp, 4096);   /* params split over many buckets */
            test_model(presets[i], tp, 100000); /* rounds down to 98304 */
            test_model(presets[i], tp, 1u << 30); /* one bucket */
        }
    printf("test_plan: %s\n", failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}
