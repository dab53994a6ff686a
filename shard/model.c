/* The tensor-parallel layout of SPEC §3: which vLLM params a rank holds, their
 * rank-local shapes, and where each local row comes from in the checkpoint.
 * Everything here is pure arithmetic on the config, so every rank derives
 * the same answer without talking to the others. config.json parsing
 * (rf_cfg_*) lives in config.c. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

const char *rf_layout_name(rf_layout_t l) {
    switch (l) {
    case RF_LAYOUT_REPLICATED: return "replicated";
    case RF_LAYOUT_VOCAB: return "vocab";
    case RF_LAYOUT_QKV: return "qkv";
    case RF_LAYOUT_ROW: return "row";
    case RF_LAYOUT_MERGED: return "merged";
    }
    return "unknown";
}

/* vLLM pads the vocabulary to a multiple of 64 before splitting it
 * (vocab_parallel_embedding.py, DEFAULT_VOCAB_PADDING_SIZE). */
#define RF_VOCAB_PAD 64

/* ---- checked sizes --------------------------------------------------- */

/* Product of two positive sizes; reports overflow naming the param, because
 * a config with absurd dimensions must be rejected rather than wrap. */
static refit_status mul_size(const char *param, const char *what, int64_t a, int64_t b,
                             int64_t *out) {
    int64_t r;
    if (__builtin_mul_overflow(a, b, &r))
        return rf_error(REFIT_ERR_UNSUPPORTED, "%s: %s %lld x %lld overflows", param, what,
                        (long long)a, (long long)b);
    *out = r;
    return REFIT_OK;
}

/* vLLM's divide(n, d): the sizes must split exactly over the ranks. */
static refit_status divide(const char *param, const char *what, int64_t n, int64_t d,
                           int64_t *out) {
    if (n % d != 0)
        return rf_error(REFIT_ERR_UNSUPPORTED, "%s: %s %lld not divisible by tp %lld", param,
                        what, (long long)n, (long long)d);
    *out = n / d;
    return REFIT_OK;
}

static int64_t pad64(int64_t v) { return (v + RF_VOCAB_PAD - 1) / RF_VOCAB_PAD * RF_VOCAB_PAD; }

/* A tensor's element count must also fit, so that later byte counts
 * (elements x 2 or 4) cannot overflow a uint64. */
static refit_status check_elems(const char *param, int64_t rows, int64_t cols) {
    int64_t n = 0;
    RF_CHECK(mul_size(param, "rows x cols", rows, cols, &n));
    if (n > INT64_MAX / 8)
        return rf_error(REFIT_ERR_UNSUPPORTED, "%s: %lld elements is too large", param,
                        (long long)n);
    return REFIT_OK;
}

/* ---- building params ------------------------------------------------- */

typedef struct {
    const rf_model_config_t *cfg;
    int64_t tp;
    rf_param_t *params;
    size_t count, cap;
} builder_t;

/* Starts the next param; the name is printf-formatted. Names are short
 * (layer index < 2^31), so truncation would be a bug: report it anyway. */
static refit_status begin_param(builder_t *b, rf_layout_t layout, bool quantize, int ndim,
                                rf_param_t **out, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static refit_status begin_param(builder_t *b, rf_layout_t layout, bool quantize, int ndim,
                                rf_param_t **out, const char *fmt, ...) {
    if (b->count >= b->cap)
        return rf_error(REFIT_ERR_INTERNAL, "model layout: param table overflow (%zu)", b->cap);
    rf_param_t *p = &b->params[b->count];
    memset(p, 0, sizeof *p);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(p->name, sizeof p->name, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof p->name)
        return rf_error(REFIT_ERR_INTERNAL, "model layout: param name too long");
    p->layout = layout;
    p->quantize = quantize;
    p->ndim = ndim;
    p->kv_replicas = 1;
    b->count++;
    *out = p;
    return REFIT_OK;
}

/* Adds source part `src` (full checkpoint shape rows x cols; cols ignored
 * for 1-D params) of which each rank takes `local_rows` rows. */
static refit_status add_part(rf_param_t *p, const char *src, int64_t rows, int64_t cols,
                             int64_t local_rows) {
    if (p->n_parts >= RF_MAX_PARTS)
        return rf_error(REFIT_ERR_INTERNAL, "%s: too many parts", p->name);
    rf_part_t *part = &p->parts[p->n_parts];
    size_t len = strlen(src); /* src may be p->name itself: copy, not snprintf */
    if (len >= sizeof part->src)
        return rf_error(REFIT_ERR_INTERNAL, "%s: source name too long", p->name);
    memcpy(part->src, src, len + 1);
    part->ndim = p->ndim;
    part->rows = rows;
    part->cols = p->ndim == 1 ? 1 : cols;
    RF_CHECK(check_elems(part->src, part->rows, part->cols));
    p->part_rows[p->n_parts] = local_rows;
    p->n_parts++;
    return REFIT_OK;
}

/* Source name of a fused param's part: `prefix` + `stem` + `suffix`. */
static refit_status part_name(const rf_param_t *p, char *dst, const char *prefix,
                              const char *stem, const char *suffix) {
    int n = snprintf(dst, RF_NAME_MAX, "%s%s%s", prefix, stem, suffix);
    if (n < 0 || n >= RF_NAME_MAX)
        return rf_error(REFIT_ERR_INTERNAL, "%s: source name too long", p->name);
    return REFIT_OK;
}

/* Whole tensor on every rank: norms. */
static refit_status add_replicated(builder_t *b, const char *name, int64_t len) {
    rf_param_t *p;
    RF_CHECK(begin_param(b, RF_LAYOUT_REPLICATED, false, 1, &p, "%s", name));
    p->rows = len;
    p->cols = 1;
    return add_part(p, p->name, len, 1, len);
}

/* Embedding or lm_head: rows of the 64-padded vocab. */
static refit_status add_vocab(builder_t *b, const char *name) {
    const rf_model_config_t *c = b->cfg;
    rf_param_t *p;
    RF_CHECK(begin_param(b, RF_LAYOUT_VOCAB, false, 2, &p, "%s", name));
    int64_t padded = pad64(c->vocab), per;
    if (padded % b->tp != 0)
        return rf_error(REFIT_ERR_UNSUPPORTED,
                        "%s: padded vocab_size %lld (vocab_size %lld) not divisible by tp %lld",
                        p->name, (long long)padded, (long long)c->vocab, (long long)b->tp);
    per = padded / b->tp;
    p->rows = per;
    p->cols = c->hidden;
    p->vocab_real = c->vocab;
    RF_CHECK(check_elems(p->name, padded, p->cols));
    return add_part(p, p->name, c->vocab, c->hidden, per);
}

/* kv heads per rank and how many ranks share each kv block (SPEC §3). */
static refit_status kv_split(const rf_param_t *p, int64_t nkv, int64_t tp, int64_t *nkv_r,
                             int64_t *replicas) {
    if (tp >= nkv) {
        if (tp % nkv != 0)
            return rf_error(REFIT_ERR_UNSUPPORTED,
                            "%s: tp %lld not divisible by num_key_value_heads %lld", p->name,
                            (long long)tp, (long long)nkv);
        *nkv_r = 1;
        *replicas = tp / nkv;
    } else {
        if (nkv % tp != 0)
            return rf_error(REFIT_ERR_UNSUPPORTED,
                            "%s: num_key_value_heads %lld not divisible by tp %lld", p->name,
                            (long long)nkv, (long long)tp);
        *nkv_r = nkv / tp;
        *replicas = 1;
    }
    return REFIT_OK;
}

/* qkv_proj.weight (ndim 2) or qkv_proj.bias (ndim 1) of layer `layer`. */
static refit_status add_qkv(builder_t *b, int64_t layer, int ndim) {
    const rf_model_config_t *c = b->cfg;
    const char *suffix = ndim == 2 ? ".weight" : ".bias";
    rf_param_t *p;
    RF_CHECK(begin_param(b, RF_LAYOUT_QKV, ndim == 2, ndim, &p,
                         "model.layers.%lld.self_attn.qkv_proj%s", (long long)layer, suffix));
    int64_t heads_r = 0, nkv_r = 0, replicas = 1, q_rows = 0, kv_rows = 0, q_r, kv_r;
    RF_CHECK(divide(p->name, "num_attention_heads", c->n_heads, b->tp, &heads_r));
    RF_CHECK(kv_split(p, c->n_kv_heads, b->tp, &nkv_r, &replicas));
    RF_CHECK(mul_size(p->name, "num_attention_heads x head_dim", c->n_heads, c->head_dim,
                      &q_rows));
    RF_CHECK(mul_size(p->name, "num_key_value_heads x head_dim", c->n_kv_heads, c->head_dim,
                      &kv_rows));
    q_r = heads_r * c->head_dim; /* <= q_rows: cannot overflow */
    kv_r = nkv_r * c->head_dim;   /* <= max(kv_rows, head_dim) */
    p->cols = ndim == 2 ? c->hidden : 1;
    p->kv_replicas = replicas;

    char prefix[RF_NAME_MAX], src[RF_NAME_MAX];
    snprintf(prefix, sizeof prefix, "model.layers.%lld.self_attn.", (long long)layer);
    static const char *const stems[3] = {"q_proj", "k_proj", "v_proj"};
    const int64_t full[3] = {q_rows, kv_rows, kv_rows}, local[3] = {q_r, kv_r, kv_r};
    for (int i = 0; i < 3; i++) {
        RF_CHECK(part_name(p, src, prefix, stems[i], suffix));
        RF_CHECK(add_part(p, src, full[i], c->hidden, local[i]));
    }
    /* Each term is now known to be <= INT64_MAX / 8: the sum fits. */
    p->rows = q_r + 2 * kv_r;
    return check_elems(p->name, p->rows, p->cols);
}

/* Row-parallel linear (o_proj, down_proj): the input dim `in` is split. */
static refit_status add_row(builder_t *b, const char *name, const char *what, int64_t out_dim,
                            int64_t in) {
    rf_param_t *p;
    RF_CHECK(begin_param(b, RF_LAYOUT_ROW, true, 2, &p, "%s", name));
    int64_t in_r = 0;
    RF_CHECK(divide(p->name, what, in, b->tp, &in_r));
    p->rows = out_dim;
    p->cols = in_r;
    return add_part(p, p->name, out_dim, in, out_dim);
}

/* gate_up_proj.weight: [gate_r; up_r]. */
static refit_status add_merged(builder_t *b, int64_t layer) {
    const rf_model_config_t *c = b->cfg;
    rf_param_t *p;
    RF_CHECK(begin_param(b, RF_LAYOUT_MERGED, true, 2, &p, "model.layers.%lld.mlp.gate_up_proj.weight",
                         (long long)layer));
    int64_t i_r = 0;
    RF_CHECK(divide(p->name, "intermediate_size", c->intermediate, b->tp, &i_r));
    p->rows = 2 * i_r; /* i_r <= intermediate <= INT64_MAX/8 via check_elems below */
    p->cols = c->hidden;
    char prefix[RF_NAME_MAX], src[RF_NAME_MAX];
    snprintf(prefix, sizeof prefix, "model.layers.%lld.mlp.", (long long)layer);
    RF_CHECK(part_name(p, src, prefix, "gate_proj", ".weight"));
    RF_CHECK(add_part(p, src, c->intermediate, c->hidden, i_r));
    RF_CHECK(part_name(p, src, prefix, "up_proj", ".weight"));
    RF_CHECK(add_part(p, src, c->intermediate, c->hidden, i_r));
    return check_elems(p->name, p->rows, p->cols);
}

static refit_status add_layer(builder_t *b, int64_t l) {
    const rf_model_config_t *c = b->cfg;
    char name[RF_NAME_MAX];
    int64_t attn_out = 0;
    RF_CHECK(add_qkv(b, l, 2));
    if (c->qkv_bias) RF_CHECK(add_qkv(b, l, 1));
    snprintf(name, sizeof name, "model.layers.%lld.self_attn.o_proj.weight", (long long)l);
    RF_CHECK(mul_size(name, "num_attention_heads x head_dim", c->n_heads, c->head_dim,
                      &attn_out));
    RF_CHECK(add_row(b, name, "num_attention_heads*head_dim", c->hidden, attn_out));
    if (c->qk_norm) {
        snprintf(name, sizeof name, "model.layers.%lld.self_attn.q_norm.weight", (long long)l);
        RF_CHECK(add_replicated(b, name, c->head_dim));
        snprintf(name, sizeof name, "model.layers.%lld.self_attn.k_norm.weight", (long long)l);
        RF_CHECK(add_replicated(b, name, c->head_dim));
    }
    RF_CHECK(add_merged(b, l));
    snprintf(name, sizeof name, "model.layers.%lld.mlp.down_proj.weight", (long long)l);
    RF_CHECK(add_row(b, name, "intermediate_size", c->hidden, c->intermediate));
    snprintf(name, sizeof name, "model.layers.%lld.input_layernorm.weight", (long long)l);
    RF_CHECK(add_replicated(b, name, c->hidden));
    snprintf(name, sizeof name, "model.layers.%lld.post_attention_layernorm.weight",
             (long long)l);
    return add_replicated(b, name, c->hidden);
}

/* Rejects configs the arithmetic below cannot handle; config.c already
 * validates parsed files, this guards hand-built configs. */
static refit_status check_config(const rf_model_config_t *c, int tp) {
    if (tp < 1) return rf_error(REFIT_ERR_INVALID_ARG, "model layout: tp %d must be >= 1", tp);
    const struct { const char *name; int64_t v; } f[] = {
        {"hidden_size", c->hidden},          {"num_attention_heads", c->n_heads},
        {"num_key_value_heads", c->n_kv_heads}, {"head_dim", c->head_dim},
        {"intermediate_size", c->intermediate}, {"vocab_size", c->vocab},
        {"num_hidden_layers", c->n_layers},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        if (f[i].v <= 0 || f[i].v > INT64_MAX / 8)
            return rf_error(REFIT_ERR_INVALID_ARG, "model layout: %s %lld out of range",
                            f[i].name, (long long)f[i].v);
    }
    /* Layer indices go into names through %lld and the param count must fit. */
    if (c->n_layers > (1 << 24))
        return rf_error(REFIT_ERR_UNSUPPORTED, "model layout: num_hidden_layers %lld too large",
                        (long long)c->n_layers);
    return REFIT_OK;
}

static size_t params_per_layer(const rf_model_config_t *c) {
    return 6 + (c->qkv_bias ? 1 : 0) + (c->qk_norm ? 2 : 0);
}

refit_status rf_model_params(const rf_model_config_t *cfg, int tp, rf_param_t **out,
                             size_t *count) {
    if (!cfg || !out || !count)
        return rf_error(REFIT_ERR_INVALID_ARG, "rf_model_params: NULL argument");
    RF_CHECK(check_config(cfg, tp));
    builder_t b = {.cfg = cfg, .tp = tp};
    b.cap = (size_t)cfg->n_layers * params_per_layer(cfg) + 3; /* embed, norm, lm_head */
    b.params = calloc(b.cap, sizeof *b.params);
    if (!b.params)
        return rf_error(REFIT_ERR_NOMEM, "model layout: cannot allocate %zu params", b.cap);

    refit_status st;
    RF_CHECK_GOTO(add_vocab(&b, "model.embed_tokens.weight"), fail);
    for (int64_t l = 0; l < cfg->n_layers; l++) RF_CHECK_GOTO(add_layer(&b, l), fail);
    RF_CHECK_GOTO(add_replicated(&b, "model.norm.weight", cfg->hidden), fail);
    if (!cfg->tie_embeddings) RF_CHECK_GOTO(add_vocab(&b, "lm_head.weight"), fail);
    *out = b.params;
    *count = b.count;
    return REFIT_OK;
fail:
    free(b.params);
    return st;
}

/* ---- row sources ----------------------------------------------------- */

static rf_row_src_t src_of(int part, int64_t row, int64_t col) {
    return (rf_row_src_t){.part = part, .src_row = row, .src_col = col};
}

/* Local rows are the parts' local blocks stacked; find which block `row`
 * falls in and its first source row on rank `r`. */
static rf_row_src_t fused_source(const rf_param_t *p, int64_t r, int64_t row) {
    for (int i = 0; i < p->n_parts; i++) {
        int64_t n = p->part_rows[i];
        if (row < n) {
            /* q, gate and up are split over all tp ranks; k and v over the
             * tp/replicas distinct kv blocks (s = r / replicas). */
            bool kv = p->layout == RF_LAYOUT_QKV && i > 0;
            int64_t block = kv ? r / p->kv_replicas : r;
            return src_of(i, block * n + row, 0);
        }
        row -= n;
    }
    return src_of(-1, -1, -1); /* unreachable for a valid row */
}

rf_row_src_t rf_param_row_source(const rf_param_t *p, int tp, int tp_rank, int64_t row) {
    /* Out-of-range arguments are a caller bug; answer "no source" rather
     * than an index outside the checkpoint tensor. */
    if (!p || tp < 1 || tp_rank < 0 || tp_rank >= tp || row < 0 || row >= p->rows)
        return src_of(-1, -1, -1);
    switch (p->layout) {
    case RF_LAYOUT_REPLICATED: return src_of(0, row, 0);
    case RF_LAYOUT_ROW: return src_of(0, row, (int64_t)tp_rank * p->cols);
    case RF_LAYOUT_VOCAB: {
        int64_t g = (int64_t)tp_rank * p->rows + row; /* row of the padded vocab */
        return g < p->vocab_real ? src_of(0, g, 0) : src_of(-1, g, 0);
    }
    case RF_LAYOUT_QKV:
    case RF_LAYOUT_MERGED: return fused_source(p, tp_rank, row);
    }
    return src_of(-1, -1, -1);
}

/* ---- skipped checkpoint tensors --------------------------------------- */

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

bool rf_model_skips(const rf_model_config_t *cfg, const char *hf_name) {
    if (!hf_name) return false;
    /* Rotary frequencies are recomputed by the engine, never loaded. */
    if (ends_with(hf_name, "rotary_emb.inv_freq")) return true;
    /* Tied models reuse embed_tokens; some exporters still write lm_head. */
    return cfg && cfg->tie_embeddings && strcmp(hf_name, "lm_head.weight") == 0;
}
