/* What differs between a checkpoint's model and the snapshot's (load.c's
 * check of every reload): the first config.json field, by its name in the
 * file, with both values, else the first param whose layout differs. */
#include <stdio.h>
#include <string.h>

#include "config_diff.h"

typedef struct {
    const char *key; /* config.json's name */
    size_t off;      /* of an int64_t or bool in rf_model_config_t */
    bool is_bool;
} field_t;

#define INT_FIELD(key, member) {key, offsetof(rf_model_config_t, member), false}
#define BOOL_FIELD(key, member) {key, offsetof(rf_model_config_t, member), true}
static const field_t fields[] = {
    INT_FIELD("hidden_size", hidden),
    INT_FIELD("num_attention_heads", n_heads),
    INT_FIELD("num_key_value_heads", n_kv_heads),
    INT_FIELD("head_dim", head_dim),
    INT_FIELD("intermediate_size", intermediate),
    INT_FIELD("vocab_size", vocab),
    INT_FIELD("num_hidden_layers", n_layers),
    BOOL_FIELD("tie_word_embeddings", tie_embeddings),
    BOOL_FIELD("qkv bias (family)", qkv_bias),
    BOOL_FIELD("q/k norm (family)", qk_norm),
    BOOL_FIELD("mixture of experts (family)", moe),
    INT_FIELD("num_experts", n_experts), /* the file's own key is in experts_field */
    INT_FIELD("moe_intermediate_size", moe_inter),
    INT_FIELD("shared_expert_intermediate_size", shared_inter),
    INT_FIELD("decoder_sparse_step", sparse_step),
};

static bool field_diff(const field_t *f, const rf_model_config_t *a, const rf_model_config_t *b, char *out,
                       size_t cap) {
    const char *key = f->off == offsetof(rf_model_config_t, n_experts) && a->experts_field[0] ? a->experts_field : f->key;
    const char *pa = (const char *)a + f->off, *pb = (const char *)b + f->off;
    if (f->is_bool) {
        bool va = *(const bool *)pa, vb = *(const bool *)pb;
        if (va == vb) return false;
        snprintf(out, cap, "%s %s vs snapshot %s", key, va ? "true" : "false", vb ? "true" : "false");
        return true;
    }
    int64_t va = *(const int64_t *)pa, vb = *(const int64_t *)pb;
    if (va == vb) return false;
    snprintf(out, cap, "%s %lld vs snapshot %lld", key, (long long)va, (long long)vb);
    return true;
}

static bool param_diff(const rf_snap_t *a, const rf_snap_t *b, char *out, size_t cap) {
    if (a->n_params != b->n_params) {
        snprintf(out, cap, "%zu params vs snapshot %zu", a->n_params, b->n_params);
        return true;
    }
    for (size_t i = 0; i < a->n_params; i++) {
        const rf_param_t *p = &a->params[i], *q = &b->params[i];
        if (strcmp(p->name, q->name) != 0) {
            snprintf(out, cap, "param %zu is %s vs snapshot %s", i, p->name, q->name);
            return true;
        }
        if (p->rows != q->rows || p->cols != q->cols || p->layout != q->layout || p->n_parts != q->n_parts) {
            snprintf(out, cap, "%s: %s [%lld, %lld] vs snapshot %s [%lld, %lld]", p->name, rf_layout_name(p->layout),
                     (long long)p->rows, (long long)p->cols, rf_layout_name(q->layout), (long long)q->rows,
                     (long long)q->cols);
            return true;
        }
    }
    return false;
}

void rf_snap_describe_diff(const rf_snap_t *cand, const rf_snap_t *snap, char *out, size_t cap) {
    const rf_model_config_t *a = &cand->cfg, *b = &snap->cfg;
    if (strcmp(a->model_type, b->model_type) != 0) {
        snprintf(out, cap, "model_type %s vs snapshot %s", a->model_type, b->model_type);
        return;
    }
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (field_diff(&fields[i], a, b, out, cap)) return;
    if (a->n_mlp_only != b->n_mlp_only || memcmp(a->mlp_only, b->mlp_only, sizeof a->mlp_only) != 0) {
        snprintf(out, cap, "mlp_only_layers (%d layers) vs snapshot (%d layers)", (int)a->n_mlp_only, (int)b->n_mlp_only);
        return;
    }
    if (param_diff(cand, snap, out, cap)) return;
    snprintf(out, cap, "its encoded snapshot differs from the recorded one in a field not named here");
}
