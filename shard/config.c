/* config.json: the handful of Hugging Face fields SPEC §3 needs. */
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
#define CFG_MAX_FILE (64u << 20)  /* a config.json is a few KiB; refuse huge inputs */

static const struct {
    const char *name;
    rf_family_t family;
} families[] = {
    {"llama", RF_FAM_LLAMA},
    {"mistral", RF_FAM_MISTRAL},
    {"qwen2", RF_FAM_QWEN2},
    {"qwen3", RF_FAM_QWEN3},
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
                        "%s: model_type '%.64s' is not supported (llama, mistral, qwen2, qwen3)",
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
    c->qkv_bias = c->family == RF_FAM_QWEN2;
    c->qk_norm = c->family == RF_FAM_QWEN3;
    return REFIT_OK;
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
    RF_CHECK(rf_read_small(path, CFG_MAX_FILE, &buf, &len));
    refit_status st = rf_cfg_parse(buf, len, path, out);
    free(buf);
    return st;
}
