/* Snapshot: encode/decode round trip, digest, and rejection of every kind
 * of damaged encoding with its byte offset. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot.h"
#include "synth.h"

#include "check.h"


static void expect_reject(const uint8_t *buf, size_t len, const char *what, const char *needle) {
    rf_snap_t *s = NULL;
    rf_err_clear();
    refit_status st = rf_snap_decode(buf, len, "snap", &s);
    CHECK(st == REFIT_ERR_FORMAT && s == NULL, "%s: decoded (status %s)", what, refit_status_str(st));
    CHECK(strstr(rf_err_msg(), needle) != NULL, "%s: message '%s' lacks '%s'", what, rf_err_msg(), needle);
    if (s) rf_snap_free(s);
}

static void test_round_trip(const char *preset, int tp, rf_moe_mode_t moe, rf_qscheme_t scheme) {
    rf_model_config_t cfg;
    CHECK(rf_synth_preset(preset, &cfg, NULL) == REFIT_OK, "preset %s", preset);
    rf_snap_t *s = NULL, *d = NULL;
    uint8_t *buf = NULL, *buf2 = NULL;
    size_t len = 0, len2 = 0;
    CHECK(rf_snap_build(&cfg, tp, moe, scheme, &s) == REFIT_OK, "build %s tp %d: %s", preset, tp, rf_err_msg());
    if (!s) return;
    CHECK(rf_snap_encode(s, &buf, &len) == REFIT_OK, "encode");
    CHECK(rf_snap_decode(buf, len, "snap", &d) == REFIT_OK, "decode: %s", rf_err_msg());
    if (d) {
        CHECK(d->tp == tp && d->scheme == scheme && d->n_params == s->n_params && d->moe == s->moe,
              "header fields differ");
        CHECK(d->cfg.moe == cfg.moe && d->cfg.n_experts == cfg.n_experts && d->cfg.moe_inter == cfg.moe_inter &&
                  d->cfg.shared_inter == cfg.shared_inter && d->cfg.n_mlp_only == cfg.n_mlp_only,
              "MoE config differs");
        CHECK(!strcmp(d->cfg.model_type, cfg.model_type) && d->cfg.vocab == cfg.vocab, "config differs");
        for (size_t i = 0; i < s->n_params; i++) {
            const rf_param_t *a = &s->params[i], *b = &d->params[i];
            CHECK(!strcmp(a->name, b->name) && a->rows == b->rows && a->cols == b->cols && a->layout == b->layout &&
                      a->n_parts == b->n_parts && a->quantize == b->quantize && a->kv_replicas == b->kv_replicas &&
                      a->vocab_real == b->vocab_real && a->ndim == b->ndim && a->experts == b->experts &&
                      a->moe == b->moe && a->inter_r == b->inter_r && a->inter_pad == b->inter_pad &&
                      a->hidden_pad == b->hidden_pad,
                  "param %zu (%s) differs after decode", i, a->name);
        }
        CHECK(rf_snap_encode(d, &buf2, &len2) == REFIT_OK && len2 == len && !memcmp(buf, buf2, len),
              "re-encoding differs");
        CHECK(rf_snap_digest(buf, len) == rf_snap_digest(buf2, len2), "digest differs");
    }
    rf_snap_free(d);
    free(buf2);

    /* damage: every class gets its own message and offset */
    uint8_t *bad = malloc(len);
    memcpy(bad, buf, len);
    bad[0] ^= 1;
    expect_reject(bad, len, "magic", "byte 0: not a refit snapshot");
    memcpy(bad, buf, len);
    bad[8] = 9;
    expect_reject(bad, len, "version", "byte 8: snapshot version 9");
    memcpy(bad, buf, len);
    bad[len - 1] ^= 0x40;
    expect_reject(bad, len, "checksum", "byte 12: checksum");
    expect_reject(buf, len - 1, "truncated", "byte 16: payload length");
    expect_reject(buf, 10, "short", "not a refit snapshot");
    free(bad);
    /* a different tp or scheme changes the digest */
    rf_snap_t *s2 = NULL;
    uint8_t *b2 = NULL;
    size_t l2 = 0;
    if (rf_snap_build(&cfg, tp, RF_MOE_TP, scheme == RF_Q_NONE ? RF_Q_FP8_ROW : RF_Q_NONE, &s2) == REFIT_OK &&
        rf_snap_encode(s2, &b2, &l2) == REFIT_OK)
        CHECK(rf_snap_digest(b2, l2) != rf_snap_digest(buf, len), "scheme change kept the digest");
    rf_snap_free(s2);
    free(b2);
    /* so does the MoE mode of a MoE model (not of a dense one) */
    s2 = NULL;
    b2 = NULL;
    if (rf_snap_build(&cfg, tp, moe == RF_MOE_TP ? RF_MOE_EP : RF_MOE_TP, scheme, &s2) == REFIT_OK &&
        rf_snap_encode(s2, &b2, &l2) == REFIT_OK)
        CHECK((rf_snap_digest(b2, l2) != rf_snap_digest(buf, len)) == cfg.moe, "MoE mode vs digest");
    rf_snap_free(s2);
    free(b2);
    free(buf);
    rf_snap_free(s);
}

/* An expert param that does not split as the snapshot says is refused:
 * rf_param_row_source would otherwise read outside the expert tensors. */
static void test_bad_experts(void) {
    rf_model_config_t cfg;
    CHECK(rf_synth_preset("tiny-qwen3-moe", &cfg, NULL) == REFIT_OK, "preset");
    rf_snap_t *s = NULL;
    uint8_t *buf = NULL;
    size_t len = 0;
    CHECK(rf_snap_build(&cfg, 2, RF_MOE_TP, RF_Q_FP8_BLOCK, &s) == REFIT_OK, "%s", rf_err_msg());
    if (!s) return;
    for (size_t i = 0; i < s->n_params; i++)
        if (rf_param_is_expert(&s->params[i])) s->params[i].inter_r = 40; /* I 160 / tp 2 is 80 */
    CHECK(rf_snap_encode(s, &buf, &len) == REFIT_OK, "encode");
    expect_reject(buf, len, "expert I_r", "expert param model.layers.0.mlp.experts.w13_weight has inconsistent sizes");
    free(buf);
    for (size_t i = 0; i < s->n_params; i++)
        if (rf_param_is_expert(&s->params[i])) {
            rf_param_t *p = &s->params[i];
            p->inter_r = 160 / 4; /* consistent by itself, but not with tp 2 */
            p->rows = p->layout == RF_LAYOUT_EXPERTS_W13 ? 80 : p->rows;
            p->cols = p->layout == RF_LAYOUT_EXPERTS_W13 ? p->cols : 40;
            p->inter_pad = 128;
        }
    CHECK(rf_snap_encode(s, &buf, &len) == REFIT_OK, "encode");
    expect_reject(buf, len, "expert split", "expert param model.layers.0.mlp.experts.w13_weight does not split over "
                                            "tp 2 (--moe tp)");
    free(buf);
    rf_snap_free(s);
}

int main(void) {
    test_round_trip("tiny", 1, RF_MOE_TP, RF_Q_FP8_TENSOR);
    test_round_trip("tiny", 2, RF_MOE_TP, RF_Q_FP8_BLOCK);
    test_round_trip("tiny-qwen2", 4, RF_MOE_TP, RF_Q_FP8_ROW);
    test_round_trip("tiny-qwen3", 2, RF_MOE_TP, RF_Q_NONE);
    test_round_trip("llama3-8b", 4, RF_MOE_TP, RF_Q_FP8_TENSOR);
    test_round_trip("tiny-qwen3-moe", 2, RF_MOE_TP, RF_Q_FP8_BLOCK);
    test_round_trip("tiny-qwen3-moe", 4, RF_MOE_EP, RF_Q_FP8_TENSOR);
    test_round_trip("tiny-qwen2-moe", 2, RF_MOE_EP, RF_Q_FP8_ROW);
    test_round_trip("tiny-mixtral", 4, RF_MOE_TP, RF_Q_NONE);
    test_round_trip("qwen3-30b-a3b", 4, RF_MOE_EP, RF_Q_FP8_BLOCK);
    test_bad_experts();
    printf("test_snapshot: %s\n", failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}
