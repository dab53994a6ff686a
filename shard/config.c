/* config.json: the handful of Hugging Face fields SPEC §3 and §3a need. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rf_fileio.h"
#include "model.h"

#define CFG_MAX_COUNT (1ll << 24) /* heads, layers */
#define CFG_MAX_SIZE (1ll << 31)  /* hidden, head_dim, intermediate, vocab */

static const struct {
    const char *name;
    rf_family_t family;
} families[] = {
    {"llama", RF_FAM_LLAMA},
    {"mistral", RF_FAM_MISTRAL},
    {"qwen2", RF_FAM_QWEN2},
    {"qwen3", RF_FAM_QWEN3},
    {"qwen3_moe", RF_FAM_QWEN3_MOE},
    {"qwen2_moe", RF_FAM_QWEN2_MOE},
    {"mixtral", RF_FAM_MIXTRAL},
};

/* A JSON null is treated like a missing key: HF writes nulls for
 * "use the default" (e.g. head_dim). */
static const json_t *field(const json_t *root, const char *key) {
    const json_t *v = json_object_get(root, key);
    return json_is_null(v) ? NULL : v;
}

/* Reads a positive integer field no larger than `cap`. `required` false
 * leaves *out untouched when the field is absent. */
static refit_status get_int(const json_t *root, const char *label, const char *key,
                            long long cap, bool required, int64_t *out) {
    const json_t *v = field(root, key);
    if (!v) {
        if (!required) return REFIT_OK;
        return rf_error(REFIT_ERR_FORMAT, "%s: field %s missing", label, key);
    }
    if (!json_is_integer(v) || json_integer_value(v) <= 0)
        return rf_error(REFIT_ERR_FORMAT, "%s: field %s must be a positive integer", label, key);
    json_int_t i = json_integer_value(v);
    if (i > cap)
        return rf_error(REFIT_ERR_FORMAT, "%s: field %s = %lld exceeds limit %lld", label, key,
                        (long long)i, cap);
    *out = (int64_t)i;
    return REFIT_OK;
}

/* A non-negative integer (a count that may be 0, like num_experts). */
static refit_status get_count(const json_t *root, const char *label, const char *key, int64_t *out) {
    const json_t *v = field(root, key);
    if (!v) return rf_error(REFIT_ERR_FORMAT, "%s: field %s missing", label, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return rf_error(REFIT_ERR_FORMAT, "%s: field %s must be a non-negative integer", label, key);
    if (json_integer_value(v) > CFG_MAX_COUNT)
        return rf_error(REFIT_ERR_FORMAT, "%s: field %s = %lld exceeds limit %lld", label, key,
                        (long long)json_integer_value(v), CFG_MAX_COUNT);
    *out = (int64_t)json_integer_value(v);
    return REFIT_OK;
}

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* mlp_only_layers: a list of integers (default []); entries outside
 * [0, n_layers) name no layer and are dropped, the rest kept sorted. */
static refit_status get_mlp_only(const json_t *root, const char *label, rf_model_config_t *c) {
    const json_t *v = field(root, "mlp_only_layers");
    c->n_mlp_only = 0;
    if (!v) return REFIT_OK;
    if (!json_is_array(v))
        return rf_error(REFIT_ERR_FORMAT, "%s: field mlp_only_layers must be a list of integers", label);
    size_t i;
    const json_t *e;
    json_array_foreach(v, i, e) {
        if (!json_is_integer(e))
            return rf_error(REFIT_ERR_FORMAT, "%s: field mlp_only_layers[%zu] must be an integer", label, i);
        json_int_t l = json_integer_value(e);
        if (l < 0 || l >= c->n_layers) continue;
        if (c->n_mlp_only >= RF_MAX_MLP_ONLY)
            return rf_error(REFIT_ERR_FORMAT, "%s: field mlp_only_layers lists more than %d layers", label,
                            RF_MAX_MLP_ONLY);
        c->mlp_only[c->n_mlp_only++] = (int32_t)l;
    }
    qsort(c->mlp_only, (size_t)c->n_mlp_only, sizeof c->mlp_only[0], cmp_i32);
    int32_t n = 0; /* drop duplicates */
    for (int32_t k = 0; k < c->n_mlp_only; k++)
        if (n == 0 || c->mlp_only[n - 1] != c->mlp_only[k]) c->mlp_only[n++] = c->mlp_only[k];
    c->n_mlp_only = n;
    return REFIT_OK;
}

/* SPEC §3a fields: E (num_experts, else num_local_experts; mixtral the other
 * way round), I, Is, and which layers are MoE. Routing fields
 * (num_experts_per_tok, norm_topk_prob) are ignored: no weight depends on them. */
static refit_status parse_moe(const json_t *root, const char *label, rf_model_config_t *c) {
    bool mixtral = c->family == RF_FAM_MIXTRAL;
    const char *first = mixtral ? "num_local_experts" : "num_experts";
    const char *second = mixtral ? "num_experts" : "num_local_experts";
    const char *key = field(root, first) ? first : second;
    c->moe = true;
    snprintf(c->experts_field, sizeof c->experts_field, "%s", key);
    RF_CHECK(get_count(root, label, key, &c->n_experts));
    c->sparse_step = 1;
    if (mixtral) {
        c->moe_inter = c->intermediate;
        return REFIT_OK;
    }
    RF_CHECK(get_int(root, label, "moe_intermediate_size", CFG_MAX_SIZE, true, &c->moe_inter));
    if (c->family == RF_FAM_QWEN2_MOE)
        RF_CHECK(get_int(root, label, "shared_expert_intermediate_size", CFG_MAX_SIZE, true,
                         &c->shared_inter));
    RF_CHECK(get_int(root, label, "decoder_sparse_step", CFG_MAX_COUNT, false, &c->sparse_step));
    return get_mlp_only(root, label, c);
}

static refit_status parse_root(const json_t *root, const char *label, rf_model_config_t *c) {
    if (!json_is_object(root))
        return rf_error(REFIT_ERR_FORMAT, "%s: top level is not a JSON object", label);

    const json_t *mt = field(root, "model_type");
    if (!mt) return rf_error(REFIT_ERR_FORMAT, "%s: field model_type missing", label);
    if (!json_is_string(mt))
        return rf_error(REFIT_ERR_FORMAT, "%s: field model_type must be a string", label);
    const char *type = json_string_value(mt);
    size_t k = 0, nfam = sizeof families / sizeof families[0];
    while (k < nfam && strcmp(type, families[k].name)) k++;
    if (k == nfam)
        return rf_error(REFIT_ERR_UNSUPPORTED,
                        "%s: model_type '%.64s' is not supported (llama, mistral, qwen2, qwen3, "
                        "qwen3_moe, qwen2_moe, mixtral)",
                        label, type);
    snprintf(c->model_type, sizeof c->model_type, "%s", families[k].name);
    c->family = families[k].family;

    RF_CHECK(get_int(root, label, "hidden_size", CFG_MAX_SIZE, true, &c->hidden));
    RF_CHECK(get_int(root, label, "num_attention_heads", CFG_MAX_COUNT, true, &c->n_heads));
    c->n_kv_heads = c->n_heads;
    RF_CHECK(get_int(root, label, "num_key_value_heads", CFG_MAX_COUNT, false, &c->n_kv_heads));
    c->head_dim = 0;
    RF_CHECK(get_int(root, label, "head_dim", CFG_MAX_SIZE, false, &c->head_dim));
    if (c->head_dim == 0) {
        if (c->hidden % c->n_heads != 0)
            return rf_error(REFIT_ERR_FORMAT,
                            "%s: field head_dim missing and hidden_size %lld is not divisible "
                            "by num_attention_heads %lld",
                            label, (long long)c->hidden, (long long)c->n_heads);
        c->head_dim = c->hidden / c->n_heads;
    }
    RF_CHECK(get_int(root, label, "intermediate_size", CFG_MAX_SIZE, true, &c->intermediate));
    RF_CHECK(get_int(root, label, "vocab_size", CFG_MAX_SIZE, true, &c->vocab));
    RF_CHECK(get_int(root, label, "num_hidden_layers", CFG_MAX_COUNT, true, &c->n_layers));

    c->tie_embeddings = false;
    const json_t *tie = field(root, "tie_word_embeddings");
    if (tie) {
        if (!json_is_boolean(tie))
            return rf_error(REFIT_ERR_FORMAT,
                            "%s: field tie_word_embeddings must be true or false", label);
        c->tie_embeddings = json_is_true(tie);
    }
    c->qkv_bias = c->family == RF_FAM_QWEN2 || c->family == RF_FAM_QWEN2_MOE;
    c->qk_norm = c->family == RF_FAM_QWEN3 || c->family == RF_FAM_QWEN3_MOE;
    bool moe = c->family == RF_FAM_QWEN3_MOE || c->family == RF_FAM_QWEN2_MOE ||
               c->family == RF_FAM_MIXTRAL;
    return moe ? parse_moe(root, label, c) : REFIT_OK;
}

refit_status rf_cfg_parse(const char *json, size_t len, const char *label, rf_model_config_t *out) {
    if (!label) label = "config.json";
    if (!out || (!json && len))
        return rf_error(REFIT_ERR_INVALID_ARG, "%s: rf_cfg_parse: NULL argument", label);
    json_error_t jerr;
    json_t *root = json_loadb(json ? json : "", len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return rf_error(REFIT_ERR_FORMAT, "%s: byte %d: invalid JSON: %s", label,
                        jerr.position > 0 ? jerr.position : 0, jerr.text);
    rf_model_config_t c;
    memset(&c, 0, sizeof c);
    refit_status st = parse_root(root, label, &c);
    json_decref(root);
    if (st == REFIT_OK) *out = c;
    return st;
}

refit_status rf_cfg_load(const char *path, rf_model_config_t *out) {
    if (!path || !out) return rf_error(REFIT_ERR_INVALID_ARG, "rf_cfg_load: NULL argument");
    char *buf = NULL;
    size_t len = 0;
    RF_CHECK(rf_read_small(path, RF_CFG_MAX_FILE, &buf, &len));
    refit_status st = rf_cfg_parse(buf, len, path, out);
    free(buf);
    return st;
}
