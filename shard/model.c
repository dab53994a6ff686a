/* The tensor-parallel layout of SPEC §3 and the expert layout of SPEC §3a:
 * which vLLM params a rank holds, their rank-local shapes, and where each
 * local row comes from in the checkpoint.
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
    case RF_LAYOUT_EXPERTS_W13: return "experts-w13";
    case RF_LAYOUT_EXPERTS_W2: return "experts-w2";
    case RF_LAYOUT_COUNT: break;
    }
    return "unknown";
}

const char *rf_moe_mode_name(rf_moe_mode_t m) {
    return m == RF_MOE_TP ? "tp" : m == RF_MOE_EP ? "ep" : "unknown";
}

bool rf_moe_mode_parse(const char *name, rf_moe_mode_t *out) {
    for (int m = 0; name && m < RF_MOE_COUNT; m++)
        if (!strcmp(name, rf_moe_mode_name((rf_moe_mode_t)m))) {
            *out = (rf_moe_mode_t)m;
            return true;
        }
    return false;
}

bool rf_cfg_layer_is_moe(const rf_model_config_t *c, int64_t l) {
    if (!c->moe || c->n_experts <= 0 || l < 0 || l >= c->n_layers) return false;
    if (c->family == RF_FAM_MIXTRAL) return true;
    for (int32_t i = 0; i < c->n_mlp_only && i < RF_MAX_MLP_ONLY; i++)
        if (c->mlp_only[i] == l) return false;
    return c->sparse_step > 0 && (l + 1) % c->sparse_step == 0;
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
    rf_moe_mode_t moe;
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

/* Whole tensor on every rank, in bf16: norms (1-D), the MoE router and
 * qwen2_moe's shared_expert_gate (2-D, SPEC §3a). */
static refit_status add_replicated_2d(builder_t *b, const char *name, int ndim, int64_t rows,
                                      int64_t cols) {
    rf_param_t *p;
    RF_CHECK(begin_param(b, RF_LAYOUT_REPLICATED, false, ndim, &p, "%s", name));
    p->rows = rows;
    p->cols = ndim == 1 ? 1 : cols;
    return add_part(p, p->name, rows, cols, rows);
}

static refit_status add_replicated(builder_t *b, const char *name, int64_t len) {
    return add_replicated_2d(b, name, 1, len, 1);
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

/* gate_up_proj.weight under `mlp` (e.g. "model.layers.3.mlp." or the
 * shared expert's "...mlp.shared_expert."): [gate_r; up_r] of size `inter`
 * (config field `what`). */
static refit_status add_merged(builder_t *b, const char *mlp, const char *what, int64_t inter) {
    const rf_model_config_t *c = b->cfg;
    rf_param_t *p;
    RF_CHECK(begin_param(b, RF_LAYOUT_MERGED, true, 2, &p, "%sgate_up_proj.weight", mlp));
    int64_t i_r = 0;
    RF_CHECK(divide(p->name, what, inter, b->tp, &i_r));
    p->rows = 2 * i_r; /* i_r <= intermediate <= INT64_MAX/8 via check_elems below */
    p->cols = c->hidden;
    char src[RF_NAME_MAX];
    RF_CHECK(part_name(p, src, mlp, "gate_proj", ".weight"));
    RF_CHECK(add_part(p, src, inter, c->hidden, i_r));
    RF_CHECK(part_name(p, src, mlp, "up_proj", ".weight"));
    RF_CHECK(add_part(p, src, inter, c->hidden, i_r));
    return check_elems(p->name, p->rows, p->cols);
}

/* The §3 MLP under prefix `mlp`: gate_up_proj + down_proj. */
static refit_status add_dense_mlp(builder_t *b, const char *mlp, const char *what, int64_t inter) {
    char name[RF_NAME_MAX];
    RF_CHECK(add_merged(b, mlp, what, inter));
    if (snprintf(name, sizeof name, "%sdown_proj.weight", mlp) >= (int)sizeof name)
        return rf_error(REFIT_ERR_UNSUPPORTED, "param name %sdown_proj.weight longer than %d bytes", mlp,
                        RF_NAME_MAX - 1);
    return add_row(b, name, what, b->cfg->hidden, inter);
}

/* ---- Mixture-of-Experts (SPEC §3a) ------------------------------------ */

#define RF_MOE_MAX_EXPERTS 65535 /* the grouped CUDA kernels' grid limit */

#define RF_FP8_BLOCK 128          /* SPEC §4 fp8-block side: Ip and Hp round up to it */

static int64_t pad128(int64_t n) { return (n + RF_FP8_BLOCK - 1) / RF_FP8_BLOCK * RF_FP8_BLOCK; }

/* Expert block B and the checkpoint stems G, U, D of each family. */
static const char *moe_block(const rf_model_config_t *c) {
    return c->family == RF_FAM_MIXTRAL ? "block_sparse_moe" : "mlp";
}
static const char *const *expert_stems(const rf_model_config_t *c) {
    static const char *const qwen[3] = {"gate_proj", "up_proj", "down_proj"};
    static const char *const mixtral[3] = {"w1", "w3", "w2"};
    return c->family == RF_FAM_MIXTRAL ? mixtral : qwen;
}
static const char *moe_inter_field(const rf_model_config_t *c) {
    return c->family == RF_FAM_MIXTRAL ? "intermediate_size" : "moe_intermediate_size";
}
static const char *experts_field(const rf_model_config_t *c) {
    return c->experts_field[0] ? c->experts_field : "num_experts";
}

/* Expert part `stem` of block `blk`: "B.experts.{e}.STEM.weight". */
static refit_status add_expert_part(rf_param_t *p, const char *blk, const char *stem, int64_t rows,
                                    int64_t cols, int64_t local_rows) {
    char src[RF_NAME_MAX];
    int n = snprintf(src, sizeof src, "%s.experts." RF_EXPERT_MARK ".%s.weight", blk, stem);
    if (n < 0 || n >= RF_NAME_MAX - 8) /* room for the index that replaces the mark */
        return rf_error(REFIT_ERR_INTERNAL, "%s: source name too long", p->name);
    RF_CHECK(add_part(p, src, rows, cols, local_rows));
    p->parts[p->n_parts - 1].ndim = 2; /* each expert's tensor is 2-D; the param is 3-D */
    return REFIT_OK;
}

/* B.experts.w13_weight (w13) or B.experts.w2_weight: every expert's
 * intermediate slice c under --moe tp, whole experts under --moe ep. */
static refit_status add_experts(builder_t *b, const char *blk, bool w13) {
    const rf_model_config_t *c = b->cfg;
    const char *const *stem = expert_stems(c);
    rf_param_t *p;
    RF_CHECK(begin_param(b, w13 ? RF_LAYOUT_EXPERTS_W13 : RF_LAYOUT_EXPERTS_W2, true, 3, &p,
                         "%s.experts.%s", blk, w13 ? "w13_weight" : "w2_weight"));
    int64_t i_r = c->moe_inter;
    if (b->moe == RF_MOE_TP && c->moe_inter % b->tp != 0)
        return rf_error(REFIT_ERR_UNSUPPORTED,
                        "%s: %s %lld not divisible by tp %lld (--moe tp cuts every expert; "
                        "--moe ep keeps experts whole)",
                        p->name, moe_inter_field(c), (long long)c->moe_inter, (long long)b->tp);
    if (b->moe == RF_MOE_TP) i_r = c->moe_inter / b->tp;
    p->experts = c->n_experts;
    p->moe = b->moe;
    p->inter_r = i_r;
    p->inter_pad = pad128(i_r);
    p->hidden_pad = pad128(c->hidden);
    p->rows = w13 ? 2 * i_r : c->hidden;
    p->cols = w13 ? c->hidden : i_r;
    if (w13) {
        RF_CHECK(add_expert_part(p, blk, stem[0], c->moe_inter, c->hidden, i_r));
        RF_CHECK(add_expert_part(p, blk, stem[1], c->moe_inter, c->hidden, i_r));
    } else {
        RF_CHECK(add_expert_part(p, blk, stem[2], c->hidden, c->moe_inter, c->hidden));
    }
    /* All experts, bf16 and padded fp8, must fit the later byte counts. */
    RF_CHECK(check_elems(p->name, p->experts * p->rows, p->cols));
    return check_elems(p->name, p->experts * 2 * p->inter_pad, p->hidden_pad);
}

/* A MoE layer's MLP: router, w13, w2 and qwen2_moe's shared expert. */
static refit_status add_moe_mlp(builder_t *b, int64_t l) {
    const rf_model_config_t *c = b->cfg;
    char blk[96], name[RF_NAME_MAX]; /* layer < 2^24: "model.layers.N.block_sparse_moe" fits */
    snprintf(blk, sizeof blk, "model.layers.%lld.%s", (long long)l, moe_block(c));
    snprintf(name, sizeof name, "%s.gate.weight", blk);
    RF_CHECK(add_replicated_2d(b, name, 2, c->n_experts, c->hidden));
    RF_CHECK(add_experts(b, blk, true));
    RF_CHECK(add_experts(b, blk, false));
    if (c->family != RF_FAM_QWEN2_MOE) return REFIT_OK;
    snprintf(name, sizeof name, "%s.shared_expert.", blk);
    RF_CHECK(add_dense_mlp(b, name, "shared_expert_intermediate_size", c->shared_inter));
    snprintf(name, sizeof name, "%s.shared_expert_gate.weight", blk);
    return add_replicated_2d(b, name, 2, 1, c->hidden);
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
    if (rf_cfg_layer_is_moe(c, l)) {
        RF_CHECK(add_moe_mlp(b, l));
    } else {
        snprintf(name, sizeof name, "model.layers.%lld.mlp.", (long long)l);
        RF_CHECK(add_dense_mlp(b, name, "intermediate_size", c->intermediate));
    }
    snprintf(name, sizeof name, "model.layers.%lld.input_layernorm.weight", (long long)l);
    RF_CHECK(add_replicated(b, name, c->hidden));
    snprintf(name, sizeof name, "model.layers.%lld.post_attention_layernorm.weight",
             (long long)l);
    return add_replicated(b, name, c->hidden);
}

/* SPEC §3a rejections that concern the whole model: every rank needs at
 * least one expert (vLLM's Qwen MoE blocks raise when E < tp). */
static refit_status check_moe_config(const rf_model_config_t *c, int tp) {
    const struct { const char *name; int64_t v; } f[] = {
        {moe_inter_field(c), c->moe_inter},
        {"shared_expert_intermediate_size", c->family == RF_FAM_QWEN2_MOE ? c->shared_inter : 1},
        {"decoder_sparse_step", c->family == RF_FAM_MIXTRAL ? 1 : c->sparse_step},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (f[i].v <= 0 || f[i].v > INT64_MAX / 8)
            return rf_error(REFIT_ERR_INVALID_ARG, "model layout: %s %lld out of range", f[i].name,
                            (long long)f[i].v);
    if (c->n_experts < tp)
        return rf_error(REFIT_ERR_UNSUPPORTED,
                        "model layout: %s %lld is less than tp %d: every rank needs at least one "
                        "expert",
                        experts_field(c), (long long)c->n_experts, tp);
    if (c->n_experts > RF_MOE_MAX_EXPERTS)
        return rf_error(REFIT_ERR_UNSUPPORTED, "model layout: %s %lld exceeds %d", experts_field(c),
                        (long long)c->n_experts, RF_MOE_MAX_EXPERTS);
    if (c->n_mlp_only < 0 || c->n_mlp_only > RF_MAX_MLP_ONLY)
        return rf_error(REFIT_ERR_INVALID_ARG, "model layout: %d mlp_only_layers out of range",
                        (int)c->n_mlp_only);
    return REFIT_OK;
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
    return c->moe ? check_moe_config(c, tp) : REFIT_OK;
}

static size_t params_per_layer(const rf_model_config_t *c) {
    /* attention + norms, then the larger of a dense MLP (2) and a MoE one
     * (router, w13, w2; qwen2_moe: + shared gate_up, down, gate) */
    size_t mlp = c->family == RF_FAM_QWEN2_MOE ? 6 : c->moe ? 3 : 2;
    return 4 + mlp + (c->qkv_bias ? 1 : 0) + (c->qk_norm ? 2 : 0);
}

refit_status rf_model_params(const rf_model_config_t *cfg, int tp, rf_moe_mode_t moe,
                             rf_param_t **out, size_t *count) {
    if (!cfg || !out || !count)
        return rf_error(REFIT_ERR_INVALID_ARG, "rf_model_params: NULL argument");
    if ((int)moe < 0 || moe >= RF_MOE_COUNT)
        return rf_error(REFIT_ERR_INVALID_ARG, "model layout: MoE mode %d out of range", (int)moe);
    RF_CHECK(check_config(cfg, tp));
    builder_t b = {.cfg = cfg, .tp = tp, .moe = moe};
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

/* Local row `row` over all local experts: row i of local expert j is global
 * expert e0 + j's gate (i < I_r) or up row, or its down row with the
 * columns of c. */
static rf_row_src_t expert_source(const rf_param_t *p, int tp, int r, int64_t row) {
    rf_expert_slice_t s = rf_param_experts(p, tp, r);
    int64_t e = s.e0 + row / p->rows, i = row % p->rows;
    if (p->layout == RF_LAYOUT_EXPERTS_W2) return src_of((int)e, i, s.c0);
    int64_t k = i >= s.inter; /* 0: gate, 1: up */
    return src_of((int)(k * p->experts + e), s.c0 + i - k * s.inter, 0);
}

rf_row_src_t rf_param_row_source(const rf_param_t *p, int tp, int tp_rank, int64_t row) {
    /* Out-of-range arguments are a caller bug; answer "no source" rather
     * than an index outside the checkpoint tensor. */
    if (!p || tp < 1 || tp_rank < 0 || tp_rank >= tp || row < 0 ||
        row >= p->rows * rf_param_local_count(p, tp, tp_rank))
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
    case RF_LAYOUT_EXPERTS_W13:
    case RF_LAYOUT_EXPERTS_W2: return expert_source(p, tp, tp_rank, row);
    case RF_LAYOUT_COUNT: break;
    }
    return src_of(-1, -1, -1);
}

/* ---- expert slices and source slots ------------------------------------ */

rf_expert_slice_t rf_param_experts(const rf_param_t *p, int tp, int tp_rank) {
    rf_expert_slice_t s = {0, 0, 0, 0};
    if (!p || !rf_param_is_expert(p) || tp < 1 || tp_rank < 0 || tp_rank >= tp) return s;
    s.inter = p->inter_r;
    if (p->moe == RF_MOE_EP) { /* vLLM's linear placement, remainder to the first ranks */
        int64_t base = p->experts / tp, rem = p->experts % tp;
        s.n = base + (tp_rank < rem);
        s.e0 = tp_rank * base + (tp_rank < rem ? tp_rank : rem);
    } else {
        s.n = p->experts;
        s.c0 = (int64_t)tp_rank * p->inter_r;
    }
    return s;
}

int64_t rf_param_local_count(const rf_param_t *p, int tp, int tp_rank) {
    return rf_param_is_expert(p) ? rf_param_experts(p, tp, tp_rank).n : 1;
}

uint64_t rf_param_local_elems(const rf_param_t *p, int tp, int tp_rank) {
    return (uint64_t)rf_param_local_count(p, tp, tp_rank) * (uint64_t)p->rows * (uint64_t)p->cols;
}

int rf_param_n_sources(const rf_param_t *p) {
    return rf_param_is_expert(p) ? p->n_parts * (int)p->experts : p->n_parts;
}

/* `tmpl` with RF_EXPERT_MARK replaced by `e`. */
static refit_status expand_mark(const char *tmpl, int64_t e, char *out) {
    const char *mark = strstr(tmpl, RF_EXPERT_MARK);
    if (!mark) return rf_error(REFIT_ERR_INTERNAL, "expert source %s has no index mark", tmpl);
    int n = snprintf(out, RF_NAME_MAX, "%.*s%lld%s", (int)(mark - tmpl), tmpl, (long long)e,
                     mark + strlen(RF_EXPERT_MARK));
    if (n < 0 || n >= RF_NAME_MAX)
        return rf_error(REFIT_ERR_INTERNAL, "expert source %s: name too long", tmpl);
    return REFIT_OK;
}

refit_status rf_param_source(const rf_param_t *p, int slot, rf_part_t *out) {
    if (slot < 0 || slot >= rf_param_n_sources(p))
        return rf_error(REFIT_ERR_INTERNAL, "%s: source slot %d out of range", p->name, slot);
    if (!rf_param_is_expert(p)) {
        *out = p->parts[slot];
        return REFIT_OK;
    }
    const rf_part_t *pt = &p->parts[slot / p->experts];
    *out = *pt;
    return expand_mark(pt->src, slot % p->experts, out->src);
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

/* Reads a decimal index without leading zeros at *s; advances past it. */
static bool read_index(const char **s, int64_t *out) {
    const char *p = *s;
    if (*p < '0' || *p > '9' || (p[0] == '0' && p[1] >= '0' && p[1] <= '9')) return false;
    int64_t v = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > (INT64_MAX - 9) / 10) return false;
        v = v * 10 + (*p - '0');
    }
    *s = p;
    *out = v;
    return true;
}

static bool skip_lit(const char **s, const char *lit) {
    size_t n = strlen(lit);
    if (strncmp(*s, lit, n) != 0) return false;
    *s += n;
    return true;
}

bool rf_model_expert_out_of_range(const rf_model_config_t *cfg, const char *hf_name, int64_t *index) {
    if (!cfg || !cfg->moe || !hf_name) return false;
    const char *s = hf_name;
    int64_t layer, e;
    if (!skip_lit(&s, "model.layers.") || !read_index(&s, &layer) || !skip_lit(&s, ".") ||
        !skip_lit(&s, moe_block(cfg)) || !skip_lit(&s, ".experts.") || !read_index(&s, &e) ||
        !skip_lit(&s, "."))
        return false;
    if (!rf_cfg_layer_is_moe(cfg, layer) || e < cfg->n_experts) return false;
    for (int k = 0; k < 3; k++) {
        const char *t = s;
        if (skip_lit(&t, expert_stems(cfg)[k]) && !strcmp(t, ".weight")) {
            *index = e;
            return true;
        }
    }
    return false;
}
