/* Tensor-parallel layout (SPEC §3): rf_model_params and rf_param_row_source
 * against an independent brute-force formulation, the SPEC's worked
 * examples, coverage of every source element, and the divisibility errors.
 *
 * The brute force builds, for each param, the full vLLM-side tensor as a
 * list of source coordinates (kv heads physically repeated `replicas` times,
 * vocab padded with zero rows) and cuts it into tp equal contiguous chunks,
 * the way the SPEC table reads; it shares no code with shard/model.c. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

#include "check.h"



/* ---- model configs ---------------------------------------------------- */

static rf_model_config_t mk(const char *type, rf_family_t fam, int64_t hidden, int64_t nh,
                            int64_t nkv, int64_t hd, int64_t inter, int64_t vocab, int64_t layers,
                            bool tie) {
    rf_model_config_t c;
    memset(&c, 0, sizeof c);
    snprintf(c.model_type, sizeof c.model_type, "%s", type);
    c.family = fam;
    c.hidden = hidden;
    c.n_heads = nh;
    c.n_kv_heads = nkv;
    c.head_dim = hd;
    c.intermediate = inter;
    c.vocab = vocab;
    c.n_layers = layers;
    c.tie_embeddings = tie;
    c.qkv_bias = fam == RF_FAM_QWEN2;
    c.qk_norm = fam == RF_FAM_QWEN3;
    return c;
}

/* ---- expected param list (table-driven, independent of model.c) ------- */

enum { D_NONE, D_H, D_Q, D_KV, D_I, D_V, D_HD };

static int64_t dim(const rf_model_config_t *c, int d) {
    switch (d) {
    case D_H: return c->hidden;
    case D_Q: return c->n_heads * c->head_dim;
    case D_KV: return c->n_kv_heads * c->head_dim;
    case D_I: return c->intermediate;
    case D_V: return c->vocab;
    case D_HD: return c->head_dim;
    }
    return 1;
}

enum { W_ALL, W_BIAS, W_QKNORM, W_UNTIED };

typedef struct {
    const char *name; /* "%s" gets "model.layers.N." for per-layer entries */
    int when;
    rf_layout_t layout;
    bool quantize;
    int ndim;
    const char *parts[3]; /* NULL: the param's own name */
    int rows[3], cols;    /* dimension codes of each part */
} spec_t;

static const spec_t head_spec[] = {
    {"model.embed_tokens.weight", W_ALL, RF_LAYOUT_VOCAB, false, 2, {NULL}, {D_V}, D_H},
};
static const spec_t layer_spec[] = {
    {"%sself_attn.qkv_proj.weight", W_ALL, RF_LAYOUT_QKV, true, 2,
     {"%sself_attn.q_proj.weight", "%sself_attn.k_proj.weight", "%sself_attn.v_proj.weight"},
     {D_Q, D_KV, D_KV}, D_H},
    {"%sself_attn.qkv_proj.bias", W_BIAS, RF_LAYOUT_QKV, false, 1,
     {"%sself_attn.q_proj.bias", "%sself_attn.k_proj.bias", "%sself_attn.v_proj.bias"},
     {D_Q, D_KV, D_KV}, D_NONE},
    {"%sself_attn.o_proj.weight", W_ALL, RF_LAYOUT_ROW, true, 2, {NULL}, {D_H}, D_Q},
    {"%sself_attn.q_norm.weight", W_QKNORM, RF_LAYOUT_REPLICATED, false, 1, {NULL}, {D_HD}, D_NONE},
    {"%sself_attn.k_norm.weight", W_QKNORM, RF_LAYOUT_REPLICATED, false, 1, {NULL}, {D_HD}, D_NONE},
    {"%smlp.gate_up_proj.weight", W_ALL, RF_LAYOUT_MERGED, true, 2,
     {"%smlp.gate_proj.weight", "%smlp.up_proj.weight"}, {D_I, D_I}, D_H},
    {"%smlp.down_proj.weight", W_ALL, RF_LAYOUT_ROW, true, 2, {NULL}, {D_H}, D_I},
    {"%sinput_layernorm.weight", W_ALL, RF_LAYOUT_REPLICATED, false, 1, {NULL}, {D_H}, D_NONE},
    {"%spost_attention_layernorm.weight", W_ALL, RF_LAYOUT_REPLICATED, false, 1, {NULL}, {D_H},
     D_NONE},
};
static const spec_t tail_spec[] = {
    {"model.norm.weight", W_ALL, RF_LAYOUT_REPLICATED, false, 1, {NULL}, {D_H}, D_NONE},
    {"lm_head.weight", W_UNTIED, RF_LAYOUT_VOCAB, false, 2, {NULL}, {D_V}, D_H},
};

typedef struct {
    char name[RF_NAME_MAX];
    const spec_t *spec;
    char src[3][RF_NAME_MAX];
    int n_parts;
} expect_t;

static bool applies(const rf_model_config_t *c, int when) {
    switch (when) {
    case W_BIAS: return c->qkv_bias;
    case W_QKNORM: return c->qk_norm;
    case W_UNTIED: return !c->tie_embeddings;
    }
    return true;
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static void push(expect_t *e, size_t *n, const spec_t *s, const char *prefix) {
    expect_t *x = &e[(*n)++];
    memset(x, 0, sizeof *x);
    x->spec = s;
    snprintf(x->name, sizeof x->name, s->name, prefix);
    for (int i = 0; i < 3; i++) {
        if (i > 0 && !s->parts[i]) break;
        snprintf(x->src[i], sizeof x->src[i], s->parts[i] ? s->parts[i] : s->name, prefix);
        x->n_parts++;
    }
}
#pragma GCC diagnostic pop

static expect_t *expected_params(const rf_model_config_t *c, size_t *n) {
    size_t cap = 3 + (size_t)c->n_layers * (sizeof layer_spec / sizeof layer_spec[0]);
    expect_t *e = calloc(cap, sizeof *e);
    if (!e) abort();
    *n = 0;
    for (size_t i = 0; i < sizeof head_spec / sizeof head_spec[0]; i++) push(e, n, &head_spec[i], "");
    for (int64_t l = 0; l < c->n_layers; l++) {
        char prefix[64];
        snprintf(prefix, sizeof prefix, "model.layers.%" PRId64 ".", l);
        for (size_t i = 0; i < sizeof layer_spec / sizeof layer_spec[0]; i++)
            if (applies(c, layer_spec[i].when)) push(e, n, &layer_spec[i], prefix);
    }
    for (size_t i = 0; i < sizeof tail_spec / sizeof tail_spec[0]; i++)
        if (applies(c, tail_spec[i].when)) push(e, n, &tail_spec[i], "");
    return e;
}

/* ---- brute force: full coordinate tensor, cut in tp chunks ------------ */

typedef struct {
    int part;      /* -1: zero row */
    int64_t row;   /* source row */
} coord_t;

typedef struct {
    coord_t *v;
    int64_t n, cap;
} list_t;

static void list_add(list_t *l, int part, int64_t row) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 1024;
        l->v = realloc(l->v, (size_t)l->cap * sizeof *l->v);
        if (!l->v) abort();
    }
    l->v[l->n++] = (coord_t){part, row};
}

/* Appends chunk `r` of `tp` equal chunks of `full` to `out`. */
static void add_chunk(list_t *out, const list_t *full, int tp, int r) {
    CHECK(full->n % tp == 0, "brute force: %" PRId64 " rows not divisible by %d", full->n, tp);
    int64_t per = full->n / tp;
    for (int64_t i = r * per; i < (r + 1) * per; i++) list_add(out, full->v[i].part, full->v[i].row);
}

static void add_range(list_t *l, int part, int64_t n) {
    for (int64_t i = 0; i < n; i++) list_add(l, part, i);
}

/* The kv projection as vLLM's fused param sees it over all ranks: each
 * head's rows present once per rank that holds it. */
static void add_kv_expanded(list_t *l, int part, int64_t nkv, int64_t hd, int tp) {
    int64_t reps = tp > nkv ? tp / nkv : 1;
    for (int64_t h = 0; h < nkv; h++)
        for (int64_t k = 0; k < reps; k++)
            for (int64_t j = 0; j < hd; j++) list_add(l, part, h * hd + j);
}

/* Local rows of `x` on rank r and the first source column of each
 * (the same for every row). */
static void brute_local(const rf_model_config_t *c, const expect_t *x, int tp, int r, list_t *out,
                        int64_t *col0, int64_t *local_cols) {
    const spec_t *s = x->spec;
    list_t full[3] = {{0}};
    int64_t cols = s->cols == D_NONE ? 1 : dim(c, s->cols);
    *col0 = 0;
    *local_cols = cols;
    out->n = 0;
    switch (s->layout) {
    case RF_LAYOUT_REPLICATED:
        add_range(out, 0, dim(c, s->rows[0]));
        break;
    case RF_LAYOUT_ROW:
        add_range(out, 0, dim(c, s->rows[0]));
        *local_cols = cols / tp;
        *col0 = r * (cols / tp);
        break;
    case RF_LAYOUT_VOCAB: {
        int64_t padded = (c->vocab + 63) / 64 * 64;
        for (int64_t i = 0; i < padded; i++) list_add(&full[0], i < c->vocab ? 0 : -1, i);
        add_chunk(out, &full[0], tp, r);
        break;
    }
    case RF_LAYOUT_QKV:
        add_range(&full[0], 0, c->n_heads * c->head_dim);
        add_kv_expanded(&full[1], 1, c->n_kv_heads, c->head_dim, tp);
        add_kv_expanded(&full[2], 2, c->n_kv_heads, c->head_dim, tp);
        for (int i = 0; i < 3; i++) add_chunk(out, &full[i], tp, r);
        break;
    case RF_LAYOUT_MERGED:
        add_range(&full[0], 0, c->intermediate);
        add_range(&full[1], 1, c->intermediate);
        for (int i = 0; i < 2; i++) add_chunk(out, &full[i], tp, r);
        break;
    case RF_LAYOUT_EXPERTS_W13:
    case RF_LAYOUT_EXPERTS_W2:
    case RF_LAYOUT_COUNT: /* dense configs only here; experts: test_moe_layout.c */
        CHECK(0, "%s: no dense layout %s", x->name, rf_layout_name(s->layout));
        break;
    }
    for (int i = 0; i < 3; i++) free(full[i].v);
}

/* ---- coverage: every source element exactly once per group ----------- */

/* Ranks that together must cover a part exactly once: all ranks for split
 * parts, each rank alone for replicated ones, and for kv parts the ranks
 * with the same r % replicas (one of each set of ranks sharing a block). */
static int coverage_groups(const rf_param_t *p, int part, int tp) {
    if (p->layout == RF_LAYOUT_REPLICATED) return tp;
    if (p->layout == RF_LAYOUT_QKV && part > 0) return (int)p->kv_replicas;
    return 1;
}

static int coverage_group(const rf_param_t *p, int part, int r) {
    if (p->layout == RF_LAYOUT_REPLICATED) return r;
    if (p->layout == RF_LAYOUT_QKV && part > 0) return (int)(r % p->kv_replicas);
    return 0;
}

static void check_coverage(const rf_param_t *p, int tp) {
    /* Column runs are p->cols long and must start on a multiple of it, so a
     * (source row, column block) counter is an exact-cover check. */
    int64_t *count[RF_MAX_PARTS] = {0}, blocks[RF_MAX_PARTS], pad_rows = 0;
    for (int i = 0; i < p->n_parts; i++) {
        CHECK(p->parts[i].cols % p->cols == 0, "%s: part cols %" PRId64 " vs local %" PRId64,
              p->name, p->parts[i].cols, p->cols);
        blocks[i] = p->parts[i].cols / p->cols;
        count[i] = calloc((size_t)(coverage_groups(p, i, tp) * p->parts[i].rows * blocks[i]),
                          sizeof(int64_t));
        if (!count[i]) abort();
    }
    for (int r = 0; r < tp; r++) {
        for (int64_t row = 0; row < p->rows; row++) {
            rf_row_src_t s = rf_param_row_source(p, tp, r, row);
            if (s.part < 0) {
                pad_rows++;
                continue;
            }
            const rf_part_t *pt = &p->parts[s.part];
            if (s.src_row < 0 || s.src_row >= pt->rows || s.src_col < 0 ||
                s.src_col % p->cols != 0 || s.src_col + p->cols > pt->cols) {
                CHECK(0, "%s rank %d row %" PRId64 ": source (%d,%" PRId64 ",%" PRId64 ") out of %s",
                      p->name, r, row, s.part, s.src_row, s.src_col, pt->src);
                continue;
            }
            int g = coverage_group(p, s.part, r);
            count[s.part][(g * pt->rows + s.src_row) * blocks[s.part] + s.src_col / p->cols]++;
        }
    }
    for (int i = 0; i < p->n_parts; i++) {
        int64_t n = coverage_groups(p, i, tp) * p->parts[i].rows * blocks[i], bad = 0;
        for (int64_t k = 0; k < n; k++) bad += count[i][k] != 1;
        CHECK(bad == 0, "%s tp %d: %" PRId64 " source blocks of %s not covered exactly once",
              p->name, tp, bad, p->parts[i].src);
        free(count[i]);
    }
    int64_t want_pad = p->layout == RF_LAYOUT_VOCAB ? p->rows * tp - p->vocab_real : 0;
    CHECK(pad_rows == want_pad, "%s tp %d: %" PRId64 " zero rows, want %" PRId64, p->name, tp,
          pad_rows, want_pad);
}

/* ---- one config at one tp -------------------------------------------- */

static void check_param(const rf_model_config_t *c, const expect_t *x, const rf_param_t *p,
                        int tp) {
    const spec_t *s = x->spec;
    CHECK(!strcmp(p->name, x->name), "name %s, want %s", p->name, x->name);
    CHECK(p->layout == s->layout, "%s: layout %s", p->name, rf_layout_name(p->layout));
    CHECK(p->quantize == s->quantize, "%s: quantize %d", p->name, p->quantize);
    CHECK(p->ndim == s->ndim, "%s: ndim %d", p->name, p->ndim);
    CHECK(p->n_parts == x->n_parts, "%s: %d parts, want %d", p->name, p->n_parts, x->n_parts);
    if (p->n_parts != x->n_parts) return;
    for (int i = 0; i < p->n_parts; i++) {
        const rf_part_t *pt = &p->parts[i];
        int64_t want_cols = s->cols == D_NONE ? 1 : dim(c, s->cols);
        CHECK(!strcmp(pt->src, x->src[i]), "%s part %d: src %s, want %s", p->name, i, pt->src,
              x->src[i]);
        CHECK(pt->ndim == s->ndim, "%s part %d: ndim %d", p->name, i, pt->ndim);
        CHECK(pt->rows == dim(c, s->rows[i]) && pt->cols == want_cols,
              "%s part %d: shape [%" PRId64 ",%" PRId64 "]", p->name, i, pt->rows, pt->cols);
    }
    if (s->layout == RF_LAYOUT_VOCAB) CHECK(p->vocab_real == c->vocab, "%s: vocab_real", p->name);
    if (s->layout == RF_LAYOUT_QKV) {
        int64_t reps = tp >= c->n_kv_heads ? tp / c->n_kv_heads : 1;
        CHECK(p->kv_replicas == reps, "%s: kv_replicas %" PRId64 ", want %" PRId64, p->name,
              p->kv_replicas, reps);
    }

    list_t local = {0};
    for (int r = 0; r < tp; r++) {
        int64_t col0, cols;
        brute_local(c, x, tp, r, &local, &col0, &cols);
        CHECK(p->rows == local.n && p->cols == cols,
              "%s tp %d: local shape [%" PRId64 ",%" PRId64 "], want [%" PRId64 ",%" PRId64 "]",
              p->name, tp, p->rows, p->cols, local.n, cols);
        if (p->rows != local.n) break;
        int64_t bad = 0;
        for (int64_t row = 0; row < local.n; row++) {
            rf_row_src_t got = rf_param_row_source(p, tp, r, row);
            coord_t want = local.v[row];
            bool ok = got.part == want.part &&
                      (want.part < 0 || (got.src_row == want.row && got.src_col == col0));
            if (!ok && bad++ < 3)
                fprintf(stderr, "%s tp %d rank %d row %" PRId64 ": got (%d,%" PRId64 ",%" PRId64
                        ") want (%d,%" PRId64 ",%" PRId64 ")\n",
                        p->name, tp, r, row, got.part, got.src_row, got.src_col, want.part,
                        want.row, col0);
        }
        CHECK(bad == 0, "%s tp %d rank %d: %" PRId64 " rows with a wrong source", p->name, tp, r,
              bad);
    }
    free(local.v);
    check_coverage(p, tp);
}

static void check_model(const char *label, const rf_model_config_t *c, int tp) {
    rf_param_t *ps = NULL;
    size_t n = 0, ne = 0;
    rf_err_clear();
    refit_status st = rf_model_params(c, tp, RF_MOE_TP, &ps, &n);
    CHECK(st == REFIT_OK, "%s tp %d: %s (%s)", label, tp, refit_status_str(st), rf_err_msg());
    if (st != REFIT_OK) return;
    expect_t *e = expected_params(c, &ne);
    CHECK(n == ne, "%s tp %d: %zu params, want %zu", label, tp, n, ne);
    for (size_t i = 0; i < n && i < ne; i++) check_param(c, &e[i], &ps[i], tp);
    free(e);
    free(ps);
}

/* ---- SPEC §3 worked examples ----------------------------------------- */

static const rf_param_t *find(const rf_param_t *ps, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++)
        if (!strcmp(ps[i].name, name)) return &ps[i];
    return NULL;
}

static void check_spec_examples(void) {
    rf_model_config_t c = mk("llama", RF_FAM_LLAMA, 4096, 32, 8, 128, 11008, 32001, 1, false);
    rf_param_t *ps;
    size_t n;
    CHECK(rf_model_params(&c, 16, RF_MOE_TP, &ps, &n) == REFIT_OK, "spec tp16: %s", rf_err_msg());
    const rf_param_t *qkv = find(ps, n, "model.layers.0.self_attn.qkv_proj.weight");
    CHECK(qkv && qkv->rows == 512 && qkv->cols == 4096, "qkv local shape");
    CHECK(qkv && qkv->part_rows[0] == 256 && qkv->part_rows[1] == 128 && qkv->part_rows[2] == 128,
          "qkv split 256 q + 128 k + 128 v");
    CHECK(qkv && qkv->kv_replicas == 2, "kv replicas 2");
    for (int r = 0; qkv && r < 16; r++) {
        rf_row_src_t q = rf_param_row_source(qkv, 16, r, 0);
        rf_row_src_t k = rf_param_row_source(qkv, 16, r, 256);
        rf_row_src_t v = rf_param_row_source(qkv, 16, r, 511);
        CHECK(q.part == 0 && q.src_row == r * 256, "rank %d q block", r);
        CHECK(k.part == 1 && k.src_row == (r / 2) * 128, "rank %d kv block r/2", r);
        CHECK(v.part == 2 && v.src_row == (r / 2) * 128 + 127, "rank %d v last row", r);
    }
    free(ps);

    CHECK(rf_model_params(&c, 2, RF_MOE_TP, &ps, &n) == REFIT_OK, "spec tp2: %s", rf_err_msg());
    const rf_param_t *emb = find(ps, n, "model.embed_tokens.weight");
    CHECK(emb && emb->rows == 16032 && emb->rows * 2 == 32064, "vocab 32001 pads to 32064");
    int64_t real = 0, zero = 0;
    for (int64_t row = 0; emb && row < emb->rows; row++) {
        rf_row_src_t s = rf_param_row_source(emb, 2, 1, row);
        if (s.part < 0) zero++;
        else {
            real++;
            CHECK(s.src_row == 16032 + row, "rank 1 row %" PRId64, row);
        }
    }
    CHECK(real == 15969 && zero == 63, "rank 1: %" PRId64 " real, %" PRId64 " zero", real, zero);
    const rf_param_t *o = find(ps, n, "model.layers.0.self_attn.o_proj.weight");
    CHECK(o && o->rows == 4096 && o->cols == 2048, "o_proj local [4096, 2048]");
    CHECK(o && rf_param_row_source(o, 2, 1, 7).src_col == 2048, "o_proj rank 1 columns");
    free(ps);
}

/* ---- errors ----------------------------------------------------------- */

static void expect_error(const rf_model_config_t *c, int tp, refit_status code, const char *msg) {
    rf_param_t *ps = (rf_param_t *)&ps; /* sentinel: must stay untouched */
    size_t n = 12345;
    rf_err_clear();
    refit_status st = rf_model_params(c, tp, RF_MOE_TP, &ps, &n);
    CHECK(st == code, "tp %d: status %s, want %s", tp, refit_status_str(st),
          refit_status_str(code));
    CHECK(strstr(rf_err_msg(), msg) != NULL, "message '%s' lacks '%s'", rf_err_msg(), msg);
    CHECK(ps == (rf_param_t *)&ps && n == 12345, "outputs touched on error");
    if (st == REFIT_OK) free(ps);
}

static void check_errors(void) {
    rf_model_config_t c = mk("llama", RF_FAM_LLAMA, 768, 12, 12, 64, 3072, 1000, 2, false);
    expect_error(&c, 8, REFIT_ERR_UNSUPPORTED,
                 "model.layers.0.self_attn.qkv_proj.weight: num_attention_heads 12 not divisible "
                 "by tp 8");
    /* tp >= nkv: tp must be a multiple of nkv. */
    c = mk("llama", RF_FAM_LLAMA, 768, 12, 4, 64, 3072, 150, 1, false);
    expect_error(&c, 6, REFIT_ERR_UNSUPPORTED,
                 "model.layers.0.self_attn.qkv_proj.weight: tp 6 not divisible by "
                 "num_key_value_heads 4");
    /* tp < nkv: nkv must be a multiple of tp. */
    c = mk("llama", RF_FAM_LLAMA, 512, 8, 6, 64, 1024, 1000, 1, false);
    expect_error(&c, 4, REFIT_ERR_UNSUPPORTED,
                 "model.layers.0.self_attn.qkv_proj.weight: num_key_value_heads 6 not divisible "
                 "by tp 4");
    c = mk("llama", RF_FAM_LLAMA, 512, 8, 8, 64, 1004, 1000, 1, false);
    expect_error(&c, 8, REFIT_ERR_UNSUPPORTED,
                 "model.layers.0.mlp.gate_up_proj.weight: intermediate_size 1004 not divisible "
                 "by tp 8");
    c = mk("llama", RF_FAM_LLAMA, 768, 12, 12, 64, 3072, 1000, 1, false);
    expect_error(&c, 3, REFIT_ERR_UNSUPPORTED,
                 "model.embed_tokens.weight: padded vocab_size 1024 (vocab_size 1000) not "
                 "divisible by tp 3");
    expect_error(&c, 0, REFIT_ERR_INVALID_ARG, "tp 0 must be >= 1");
    expect_error(&c, -2, REFIT_ERR_INVALID_ARG, "tp -2 must be >= 1");
    /* Products that overflow int64 are rejected, not wrapped. */
    c = mk("llama", RF_FAM_LLAMA, INT64_C(1) << 40, 8, 8, 64, 1024, INT64_C(1) << 40, 1, false);
    expect_error(&c, 1, REFIT_ERR_UNSUPPORTED, "model.embed_tokens.weight");
    c = mk("llama", RF_FAM_LLAMA, 64, INT64_C(1) << 31, 8, INT64_C(1) << 33, 64, 64, 1, false);
    expect_error(&c, 1, REFIT_ERR_UNSUPPORTED, "qkv_proj.weight");
    c = mk("llama", RF_FAM_LLAMA, 64, 8, 0, 8, 64, 64, 1, false);
    expect_error(&c, 1, REFIT_ERR_INVALID_ARG, "num_key_value_heads 0");
    c = mk("llama", RF_FAM_LLAMA, 64, 8, 8, 8, 64, 64, 1, false);
    expect_error(NULL, 1, REFIT_ERR_INVALID_ARG, "NULL");
    /* The same config is fine at a tp that divides. */
    rf_param_t *ps;
    size_t n;
    CHECK(rf_model_params(&c, 4, RF_MOE_TP, &ps, &n) == REFIT_OK, "valid config rejected: %s", rf_err_msg());
    free(ps);
}

static void check_misc(void) {
    CHECK(!strcmp(rf_layout_name(RF_LAYOUT_REPLICATED), "replicated"), "name");
    CHECK(!strcmp(rf_layout_name(RF_LAYOUT_VOCAB), "vocab"), "name");
    CHECK(!strcmp(rf_layout_name(RF_LAYOUT_QKV), "qkv"), "name");
    CHECK(!strcmp(rf_layout_name(RF_LAYOUT_ROW), "row"), "name");
    CHECK(!strcmp(rf_layout_name(RF_LAYOUT_MERGED), "merged"), "name");

    rf_model_config_t untied = mk("llama", RF_FAM_LLAMA, 64, 8, 8, 8, 64, 64, 1, false);
    rf_model_config_t tied = untied;
    tied.tie_embeddings = true;
    CHECK(rf_model_skips(&untied, "model.layers.3.self_attn.rotary_emb.inv_freq"), "inv_freq");
    CHECK(rf_model_skips(&tied, "model.layers.0.self_attn.rotary_emb.inv_freq"), "inv_freq");
    CHECK(!rf_model_skips(&untied, "lm_head.weight"), "untied lm_head is loaded");
    CHECK(rf_model_skips(&tied, "lm_head.weight"), "tied lm_head is skipped");
    CHECK(!rf_model_skips(&tied, "model.embed_tokens.weight"), "embed kept");
    CHECK(!rf_model_skips(&tied, "model.layers.0.self_attn.q_proj.weight"), "q_proj kept");
    CHECK(!rf_model_skips(&tied, "rotary_emb.inv_freq.x"), "suffix only");

    /* Out-of-range queries answer "no source", never a wild index. */
    rf_param_t *ps;
    size_t n;
    CHECK(rf_model_params(&untied, 2, RF_MOE_TP, &ps, &n) == REFIT_OK, "%s", rf_err_msg());
    CHECK(rf_param_row_source(&ps[1], 2, 2, 0).part == -1, "rank out of range");
    CHECK(rf_param_row_source(&ps[1], 2, 0, ps[1].rows).part == -1, "row out of range");
    CHECK(rf_param_row_source(&ps[1], 2, 0, -1).part == -1, "negative row");
    free(ps);
}

int main(void) {
    struct {
        const char *label;
        rf_model_config_t cfg;
    } cases[] = {
        /* nkv 2 < tp at 4 and 8; vocab 1000 needs padding */
        {"llama", mk("llama", RF_FAM_LLAMA, 64, 8, 2, 8, 96, 1000, 2, false)},
        /* nkv 8 > tp up to 4, == tp at 8; vocab needs no padding */
        {"mistral", mk("mistral", RF_FAM_MISTRAL, 128, 16, 8, 8, 64, 512, 2, false)},
        /* qkv bias; vocab 1531 -> 1536 */
        {"qwen2", mk("qwen2", RF_FAM_QWEN2, 64, 8, 4, 8, 128, 1531, 2, false)},
        /* q/k norm, head_dim 16 != 64/8, MQA (nkv 1), tied embeddings */
        {"qwen3", mk("qwen3", RF_FAM_QWEN3, 64, 8, 1, 16, 128, 1111, 2, true)},
        /* tied llama: no lm_head param */
        {"llama-tied", mk("llama", RF_FAM_LLAMA, 64, 8, 8, 8, 64, 130, 1, true)},
        /* the SPEC example model (one layer) */
        {"spec", mk("llama", RF_FAM_LLAMA, 4096, 32, 8, 128, 11008, 32001, 1, false)},
    };
    static const int tps[] = {1, 2, 4, 8};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (size_t t = 0; t < sizeof tps / sizeof tps[0]; t++)
            check_model(cases[i].label, &cases[i].cfg, tps[t]);
    check_model("spec", &cases[5].cfg, 16);
    check_spec_examples();
    check_errors();
    check_misc();
    if (failures) {
        fprintf(stderr, "test_layout: %d failures\n", failures);
        return 1;
    }
    printf("test_layout: ok\n");
    return 0;
}
