/* config.json, model families and the tensor-parallel layout of SPEC §3:
 * which vLLM params a rank holds, their rank-local shapes, and for every
 * local row which checkpoint tensor row/column run it comes from.
 * Pure computation: no MPI, no I/O except rf_cfg_load. */
#ifndef RF_MODEL_H
#define RF_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rf_common.h"

typedef enum { RF_FAM_LLAMA, RF_FAM_MISTRAL, RF_FAM_QWEN2, RF_FAM_QWEN3 } rf_family_t;

typedef struct {
    char model_type[32];
    rf_family_t family;
    int64_t hidden, n_heads, n_kv_heads, head_dim, intermediate, vocab, n_layers;
    bool tie_embeddings;
    bool qkv_bias; /* qwen2 */
    bool qk_norm;  /* qwen3 */
} rf_model_config_t;

/* Parses config.json text. Missing required fields, wrong types, values
 * <= 0 or absurdly large (> 2^24 layers/heads, > 2^31 sizes) and unknown
 * model_type are REFIT_ERR_FORMAT / REFIT_ERR_UNSUPPORTED naming `label` and
 * the field. */
refit_status rf_cfg_parse(const char *json, size_t len, const char *label, rf_model_config_t *out);
refit_status rf_cfg_load(const char *path, rf_model_config_t *out);

typedef enum {
    RF_LAYOUT_REPLICATED, /* whole tensor on every rank */
    RF_LAYOUT_VOCAB,      /* rows of the 64-padded vocab, zero rows past V */
    RF_LAYOUT_QKV,        /* [q_r; k_r; v_r] on dim 0 */
    RF_LAYOUT_ROW,        /* row-parallel linear: a column block */
    RF_LAYOUT_MERGED      /* [gate_r; up_r] on dim 0 */
} rf_layout_t;

const char *rf_layout_name(rf_layout_t l); /* "replicated", "vocab", ... */

#define RF_MAX_PARTS 3

typedef struct {
    char src[RF_NAME_MAX]; /* checkpoint tensor name */
    int ndim;              /* 1 or 2 */
    int64_t rows, cols;    /* full checkpoint shape; cols == 1 when ndim == 1 */
} rf_part_t;

typedef struct {
    char name[RF_NAME_MAX]; /* vLLM param name, e.g. model.layers.0.self_attn.qkv_proj.weight */
    rf_layout_t layout;
    int ndim;               /* 1 or 2 */
    int64_t rows, cols;     /* rank-local shape (identical on every tp rank); cols == 1 for 1-D */
    bool quantize;          /* qkv_proj, o_proj, gate_up_proj, down_proj weights */
    int n_parts;
    rf_part_t parts[RF_MAX_PARTS];
    int64_t part_rows[RF_MAX_PARTS]; /* QKV/MERGED: local rows taken from each part */
    int64_t vocab_real;              /* VOCAB: V (local rows = pad64(V)/tp) */
    int64_t kv_replicas;             /* QKV: ranks sharing one kv block (1 if tp < nkv) */
} rf_param_t;

/* Every rank-local param for `cfg` at tensor-parallel size `tp`, in a fixed
 * order (embed_tokens; per layer: qkv_proj.weight, qkv_proj.bias (qwen2),
 * o_proj.weight, q_norm/k_norm (qwen3), gate_up_proj.weight,
 * down_proj.weight, input_layernorm, post_attention_layernorm; model.norm;
 * lm_head unless tied). Sizes that do not divide are REFIT_ERR_UNSUPPORTED
 * naming the size, the divisor and the param. *out is malloc'd; free() it. */
refit_status rf_model_params(const rf_model_config_t *cfg, int tp, rf_param_t **out, size_t *count);

/* Bytes of a param's rank-local bf16 slice (what R3 moves for it). */
static inline uint64_t rf_param_bf16_bytes(const rf_param_t *p) {
    return (uint64_t)p->rows * (uint64_t)p->cols * 2u;
}

/* Source of local row `row` of `p` on tensor-parallel rank `tp_rank`:
 * part index, source row and first source column; the run is p->cols
 * elements long. part = -1 means a zero (vocab padding) row. */
typedef struct {
    int part;
    int64_t src_row, src_col;
} rf_row_src_t;
rf_row_src_t rf_param_row_source(const rf_param_t *p, int tp, int tp_rank, int64_t row);

/* True for checkpoint tensors refit deliberately ignores: *rotary_emb.inv_freq,
 * and lm_head.weight when embeddings are tied. */
bool rf_model_skips(const rf_model_config_t *cfg, const char *hf_name);

#endif
