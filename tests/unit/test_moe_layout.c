/* Mixture-of-Experts layout (SPEC §3a): rf_model_params' MoE params, the
 * expert split of both modes, rf_param_row_source / rf_param_source over
 * every expert, exact coverage of every expert tensor, the SPEC's worked
 * examples and every rejection.
 *
 * The expected placement is built by handing out experts one by one to the
 * ranks in order (each rank takes floor(E/tp), the first E mod tp one more),
 * and the expected rows from the SPEC table directly; nothing is shared with
 * shard/model.c. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "synth.h"

#include "check.h"

static rf_model_config_t preset(const char *name) {
    rf_model_config_t c;
    if (rf_synth_preset(name, &c, NULL) != REFIT_OK) {
        fprintf(stderr, "preset %s: %s\n", name, rf_err_msg());
        exit(1);
    }
    return c;
}

static const rf_param_t *find(const rf_param_t *ps, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++)
        if (!strcmp(ps[i].name, name)) return &ps[i];
    return NULL;
}

/* ---- independent expectations ------------------------------------------ */

/* owner[e] = the tp rank holding expert e under ep. */
static void ep_owners(int64_t E, int tp, int *owner) {
    int64_t e = 0;
    for (int r = 0; r < tp; r++) {
        int64_t take = E / tp + (r < E % tp ? 1 : 0);
        for (int64_t k = 0; k < take; k++) owner[e++] = r;
    }
}

static const char *block(const rf_model_config_t *c) {
    return c->family == RF_FAM_MIXTRAL ? "block_sparse_moe" : "mlp";
}

static const char *stem(const rf_model_config_t *c, int k) {
    static const char *const q[3] = {"gate_proj", "up_proj", "down_proj"}, *const m[3] = {"w1", "w3", "w2"};
    return c->family == RF_FAM_MIXTRAL ? m[k] : q[k];
}

/* Which layers the SPEC table makes MoE, written out per family. */
static bool moe_layer(const rf_model_config_t *c, int64_t l) {
    if (c->family == RF_FAM_MIXTRAL) return true;
    for (int i = 0; i < c->n_mlp_only; i++)
        if (c->mlp_only[i] == l) return false;
    return c->n_experts > 0 && (l + 1) % c->sparse_step == 0;
}

/* ---- one expert param at one tp, one mode -------------------------------- */

/* Every local row of every rank against the SPEC table, and every source
 * row of every expert tensor covered exactly once over the ranks. */
static void check_expert_param(const rf_model_config_t *c, const rf_param_t *p, int tp, rf_moe_mode_t mode,
                               const char *blk) {
    bool w13 = p->layout == RF_LAYOUT_EXPERTS_W13;
    int64_t E = c->n_experts, I = c->moe_inter, H = c->hidden;
    int64_t I_r = mode == RF_MOE_TP ? I / tp : I;
    int owner[256];
    ep_owners(E, tp, owner);
    CHECK(p->ndim == 3 && p->quantize && p->experts == E && p->moe == mode && p->inter_r == I_r, "%s fields", p->name);
    CHECK(p->rows == (w13 ? 2 * I_r : H) && p->cols == (w13 ? H : I_r), "%s: per-expert [%" PRId64 ",%" PRId64 "]",
          p->name, p->rows, p->cols);
    CHECK(p->inter_pad == (I_r + 127) / 128 * 128 && p->hidden_pad == (H + 127) / 128 * 128, "%s: Ip %" PRId64
          " Hp %" PRId64, p->name, p->inter_pad, p->hidden_pad);
    CHECK(rf_param_n_sources(p) == (w13 ? 2 : 1) * (int)E, "%s: %d sources", p->name, rf_param_n_sources(p));
    for (int slot = 0; slot < rf_param_n_sources(p); slot++) {
        rf_part_t pt;
        char want[RF_NAME_MAX];
        int k = w13 ? slot / (int)E : 2;
        snprintf(want, sizeof want, "%s.experts.%d.%s.weight", blk, slot % (int)E, stem(c, k));
        CHECK(rf_param_source(p, slot, &pt) == REFIT_OK && !strcmp(pt.src, want) && pt.ndim == 2 &&
              pt.rows == (w13 ? I : H) && pt.cols == (w13 ? H : I), "%s slot %d: %s, want %s", p->name, slot, pt.src,
              want);
    }
    /* coverage counters: [slot][source row][column block of I_r columns] */
    int64_t src_rows = w13 ? I : H, col_blocks = w13 ? 1 : I / I_r;
    int64_t n_cnt = rf_param_n_sources(p) * src_rows * col_blocks;
    int *cnt = calloc((size_t)n_cnt, sizeof *cnt);
    if (!cnt) abort();
    int64_t bad = 0;
    for (int r = 0; r < tp; r++) {
        int64_t e0 = -1, n = 0;
        for (int64_t e = 0; e < E; e++)
            if (mode == RF_MOE_TP || owner[e] == r) {
                if (e0 < 0) e0 = e;
                n++;
            }
        rf_expert_slice_t s = rf_param_experts(p, tp, r);
        int64_t c0 = mode == RF_MOE_TP ? r * I_r : 0;
        CHECK(s.n == n && s.e0 == e0 && s.inter == I_r && s.c0 == c0, "%s tp %d rank %d: E_r %" PRId64 " e0 %" PRId64
              " I_r %" PRId64 " c0 %" PRId64 ", want %" PRId64 " %" PRId64 " %" PRId64 " %" PRId64, p->name, tp, r,
              s.n, s.e0, s.inter, s.c0, n, e0, I_r, c0);
        CHECK(rf_param_local_count(p, tp, r) == n && rf_param_local_elems(p, tp, r) == (uint64_t)(n * p->rows * p->cols),
              "%s rank %d: local size", p->name, r);
        for (int64_t j = 0; j < n; j++)
            for (int64_t i = 0; i < p->rows; i++) {
                int64_t e = e0 + j;
                /* w13 expert j = [G_e rows c; U_e rows c]; w2 expert j = D_e columns c */
                int want_slot = w13 ? (int)((i < I_r ? 0 : E) + e) : (int)e;
                int64_t want_row = w13 ? c0 + (i < I_r ? i : i - I_r) : i, want_col = w13 ? 0 : c0;
                rf_row_src_t got = rf_param_row_source(p, tp, r, j * p->rows + i);
                if (got.part != want_slot || got.src_row != want_row || got.src_col != want_col) {
                    if (bad++ < 3)
                        fprintf(stderr, "%s tp %d rank %d expert %" PRId64 " row %" PRId64 ": got (%d,%" PRId64
                                ",%" PRId64 ") want (%d,%" PRId64 ",%" PRId64 ")\n", p->name, tp, r, e, i, got.part,
                                got.src_row, got.src_col, want_slot, want_row, want_col);
                    continue;
                }
                cnt[(want_slot * src_rows + want_row) * col_blocks + want_col / I_r]++;
            }
        CHECK(rf_param_row_source(p, tp, r, n * p->rows).part == -1, "%s rank %d: row past the experts", p->name, r);
    }
    CHECK(bad == 0, "%s tp %d --moe %s: %" PRId64 " rows with a wrong source", p->name, tp,
          rf_moe_mode_name(mode), bad);
    int64_t uncovered = 0;
    for (int64_t k = 0; k < n_cnt; k++) uncovered += cnt[k] != 1;
    CHECK(uncovered == 0, "%s tp %d --moe %s: %" PRId64 " source rows not covered exactly once", p->name, tp,
          rf_moe_mode_name(mode), uncovered);
    free(cnt);
}

/* The MLP params of every layer: dense names on dense layers, the §3a
 * params on MoE layers, in the documented order. */
static void check_model(const char *label, const rf_model_config_t *c, int tp, rf_moe_mode_t mode) {
    rf_param_t *ps = NULL;
    size_t n = 0;
    rf_err_clear();
    refit_status st = rf_model_params(c, tp, mode, &ps, &n);
    CHECK(st == REFIT_OK, "%s tp %d --moe %s: %s", label, tp, rf_moe_mode_name(mode), rf_err_msg());
    if (st != REFIT_OK) return;
    for (int64_t l = 0; l < c->n_layers; l++) {
        char blk[96], name[RF_NAME_MAX];
        snprintf(blk, sizeof blk, "model.layers.%" PRId64 ".%s", l, block(c));
        snprintf(name, sizeof name, "model.layers.%" PRId64 ".mlp.gate_up_proj.weight", l);
        const rf_param_t *dense = find(ps, n, name);
        CHECK(moe_layer(c, l) == (dense == NULL), "%s layer %" PRId64 ": dense MLP %s", label, l,
              dense ? "present" : "absent");
        if (!moe_layer(c, l)) continue;
        snprintf(name, sizeof name, "%s.gate.weight", blk);
        const rf_param_t *router = find(ps, n, name);
        CHECK(router && router->layout == RF_LAYOUT_REPLICATED && !router->quantize && router->ndim == 2 &&
              router->rows == c->n_experts && router->cols == c->hidden, "%s: router %s", label, name);
        if (!router) continue;
        const rf_param_t *w13 = router + 1, *w2 = router + 2; /* router, w13, w2 in that order */
        snprintf(name, sizeof name, "%s.experts.w13_weight", blk);
        CHECK(!strcmp(w13->name, name) && w13->layout == RF_LAYOUT_EXPERTS_W13, "%s: %s after the router", label, name);
        snprintf(name, sizeof name, "%s.experts.w2_weight", blk);
        CHECK(!strcmp(w2->name, name) && w2->layout == RF_LAYOUT_EXPERTS_W2, "%s: %s after w13", label, name);
        check_expert_param(c, w13, tp, mode, blk);
        check_expert_param(c, w2, tp, mode, blk);
        if (c->family != RF_FAM_QWEN2_MOE) continue;
        const rf_param_t *sgu = router + 3, *sd = router + 4, *sg = router + 5;
        snprintf(name, sizeof name, "%s.shared_expert.gate_up_proj.weight", blk);
        CHECK(!strcmp(sgu->name, name) && sgu->layout == RF_LAYOUT_MERGED && sgu->quantize &&
              sgu->rows == 2 * c->shared_inter / tp && sgu->cols == c->hidden, "%s: %s", label, name);
        snprintf(name, sizeof name, "%s.shared_expert.down_proj.weight", blk);
        CHECK(!strcmp(sd->name, name) && sd->layout == RF_LAYOUT_ROW && sd->quantize &&
              sd->cols == c->shared_inter / tp, "%s: %s", label, name);
        snprintf(name, sizeof name, "%s.shared_expert_gate.weight", blk);
        CHECK(!strcmp(sg->name, name) && sg->layout == RF_LAYOUT_REPLICATED && !sg->quantize && sg->ndim == 2 &&
              sg->rows == 1 && sg->cols == c->hidden, "%s: %s", label, name);
    }
    free(ps);
}

/* ---- SPEC examples and rejections ---------------------------------------- */

static void check_spec_examples(void) {
    /* E = 6, tp = 4, ep: {0,1}, {2,3}, {4}, {5} */
    rf_model_config_t c = preset("tiny-qwen3-moe");
    rf_param_t *ps = NULL;
    size_t n = 0;
    CHECK(rf_model_params(&c, 4, RF_MOE_EP, &ps, &n) == REFIT_OK, "%s", rf_err_msg());
    const rf_param_t *w13 = find(ps, n, "model.layers.0.mlp.experts.w13_weight");
    const int64_t e0[4] = {0, 2, 4, 5}, er[4] = {2, 2, 1, 1};
    for (int r = 0; w13 && r < 4; r++) {
        rf_expert_slice_t s = rf_param_experts(w13, 4, r);
        CHECK(s.e0 == e0[r] && s.n == er[r] && s.inter == 160 && s.c0 == 0, "E=6 tp=4 rank %d", r);
    }
    free(ps);
    /* Qwen3-30B-A3B (H 2048, I 768) at tp 4: I_r = 192 -> Ip = 256, w13 [128, 384, 2048] */
    c = preset("qwen3-30b-a3b");
    CHECK(rf_model_params(&c, 4, RF_MOE_TP, &ps, &n) == REFIT_OK, "%s", rf_err_msg());
    w13 = find(ps, n, "model.layers.47.mlp.experts.w13_weight");
    CHECK(w13 && w13->rows == 384 && w13->cols == 2048 && w13->inter_pad == 256 && w13->hidden_pad == 2048 &&
          rf_param_local_count(w13, 4, 3) == 128, "30B-A3B tp 4 w13");
    free(ps);
}

static void expect_error(const rf_model_config_t *c, int tp, rf_moe_mode_t mode, const char *want) {
    rf_param_t *ps = NULL;
    size_t n = 0;
    rf_err_clear();
    refit_status st = rf_model_params(c, tp, mode, &ps, &n);
    CHECK(st == REFIT_ERR_UNSUPPORTED && strstr(rf_err_msg(), want), "tp %d --moe %s: want \"%s\", got %s: \"%s\"",
          tp, rf_moe_mode_name(mode), want, refit_status_str(st), rf_err_msg());
    if (st == REFIT_OK) free(ps);
    rf_err_clear();
}

static void check_rejections(void) {
    rf_model_config_t c = preset("tiny-mixtral"); /* E 4, heads 4, kv 1 */
    c.n_experts = 2;
    expect_error(&c, 4, RF_MOE_EP, "model layout: num_local_experts 2 is less than tp 4: every rank needs at least one "
                                   "expert");
    expect_error(&c, 4, RF_MOE_TP, "num_local_experts 2 is less than tp 4");
    c = preset("tiny-qwen3-moe"); /* I 160 */
    c.moe_inter = 150;
    expect_error(&c, 4, RF_MOE_TP, "model.layers.0.mlp.experts.w13_weight: moe_intermediate_size 150 not divisible by "
                                   "tp 4 (--moe tp cuts every expert");
    rf_param_t *ps = NULL;
    size_t n = 0;
    CHECK(rf_model_params(&c, 4, RF_MOE_EP, &ps, &n) == REFIT_OK, "ep keeps experts whole: %s", rf_err_msg());
    free(ps);
    c = preset("tiny-mixtral");
    c.moe_inter = c.intermediate = 222;
    expect_error(&c, 4, RF_MOE_TP, "model.layers.0.block_sparse_moe.experts.w13_weight: intermediate_size 222 not "
                                   "divisible by tp 4");
    c = preset("tiny-qwen2-moe"); /* Is 192; layer 1 is the MoE layer */
    c.shared_inter = 98;
    expect_error(&c, 4, RF_MOE_EP, "model.layers.1.mlp.shared_expert.gate_up_proj.weight: "
                                   "shared_expert_intermediate_size 98 not divisible by tp 4");
    c = preset("tiny-qwen3-moe");
    c.n_experts = 70000;
    expect_error(&c, 1, RF_MOE_TP, "num_experts 70000 exceeds 65535");
}

static void check_expert_names(void) {
    rf_model_config_t c = preset("tiny-qwen3-moe"); /* E 6, layer 1 dense */
    int64_t e = -1;
    CHECK(rf_model_expert_out_of_range(&c, "model.layers.0.mlp.experts.6.up_proj.weight", &e) && e == 6);
    CHECK(rf_model_expert_out_of_range(&c, "model.layers.2.mlp.experts.17.down_proj.weight", &e) && e == 17);
    CHECK(!rf_model_expert_out_of_range(&c, "model.layers.0.mlp.experts.5.up_proj.weight", &e), "in range");
    CHECK(!rf_model_expert_out_of_range(&c, "model.layers.0.mlp.experts.06.up_proj.weight", &e), "leading zero");
    CHECK(!rf_model_expert_out_of_range(&c, "model.layers.1.mlp.experts.7.up_proj.weight", &e), "dense layer");
    CHECK(!rf_model_expert_out_of_range(&c, "model.layers.0.mlp.experts.7.w1.weight", &e), "other family's stem");
    CHECK(!rf_model_expert_out_of_range(&c, "model.layers.0.mlp.experts.7.up_proj.weight.x", &e), "suffix");
    CHECK(!rf_model_expert_out_of_range(&c, "model.layers.0.mlp.experts.gate_up_proj", &e), "fused experts");
    c = preset("tiny-mixtral");
    CHECK(rf_model_expert_out_of_range(&c, "model.layers.1.block_sparse_moe.experts.4.w3.weight", &e) && e == 4);
    CHECK(!rf_model_expert_out_of_range(&c, "model.layers.1.mlp.experts.4.up_proj.weight", &e), "qwen names");
    c = preset("tiny");
    CHECK(!rf_model_expert_out_of_range(&c, "model.layers.0.mlp.experts.4.up_proj.weight", &e), "dense family");
}

int main(void) {
    const char *presets[] = {"tiny-qwen3-moe", "tiny-qwen2-moe", "tiny-mixtral"};
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++) {
        rf_model_config_t c = preset(presets[i]);
        for (int tp = 1; tp <= 4; tp++) {
            if (c.n_heads % tp || c.n_experts < tp) continue;
            for (int m = 0; m < RF_MOE_COUNT; m++) {
                if (m == RF_MOE_TP && c.moe_inter % tp) continue;
                check_model(presets[i], &c, tp, (rf_moe_mode_t)m);
            }
        }
    }
    check_spec_examples();
    check_rejections();
    check_expert_names();
    if (failures) {
        fprintf(stderr, "test_moe_layout: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_moe_layout: ok\n");
    return 0;
}
