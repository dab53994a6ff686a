/* config.json, model families and the tensor-parallel layout of SPEC §3 and
 * the Mixture-of-Experts layout of SPEC §3a: which vLLM params a rank holds,
 * their rank-local shapes, and for every local row which checkpoint tensor
 * row/column run it comes from.
 * Pure computation: no MPI, no I/O except rf_cfg_load. */
#ifndef RF_MODEL_H
#define RF_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rf_common.h"

typedef enum {
    RF_FAM_LLAMA,
    RF_FAM_MISTRAL,
    RF_FAM_QWEN2,
    RF_FAM_QWEN3,
    RF_FAM_QWEN3_MOE,
    RF_FAM_QWEN2_MOE,
    RF_FAM_MIXTRAL,
    RF_FAM_COUNT
} rf_family_t;

/* How expert params are split over the tp ranks (SPEC §3a "Parallel modes"):
 * tp cuts every expert on the intermediate dim; ep gives each rank whole
 * experts (contiguous, remainder to the first ranks). */
typedef enum { RF_MOE_TP = 0, RF_MOE_EP = 1, RF_MOE_COUNT } rf_moe_mode_t;
const char *rf_moe_mode_name(rf_moe_mode_t m); /* "tp", "ep" */
bool rf_moe_mode_parse(const char *name, rf_moe_mode_t *out);

/* mlp_only_layers entries kept (real configs list a handful at most). */
#define RF_MAX_MLP_ONLY 1024

typedef struct {
    char model_type[32];
    rf_family_t family;
    int64_t hidden, n_heads, n_kv_heads, head_dim, intermediate, vocab, n_layers;
    bool tie_embeddings;
    bool qkv_bias; /* qwen2, qwen2_moe */
    bool qk_norm;  /* qwen3, qwen3_moe */
    /* Mixture-of-Experts (SPEC §3a); all zero for dense families. */
    bool moe;                 /* qwen3_moe, qwen2_moe, mixtral */
    int64_t n_experts;        /* E (>= 0 as parsed; the layout needs E >= tp) */
    char experts_field[24];   /* the config key E was read from, for errors */
    int64_t moe_inter;        /* I: moe_intermediate_size (mixtral: intermediate_size) */
    int64_t shared_inter;     /* Is: shared_expert_intermediate_size (qwen2_moe) */
    int64_t sparse_step;      /* decoder_sparse_step (qwen MoE; default 1) */
    int32_t n_mlp_only;       /* mlp_only_layers within [0, n_layers), ascending, unique */
    int32_t mlp_only[RF_MAX_MLP_ONLY];
} rf_model_config_t;

/* Whether layer `l` holds experts (SPEC §3a "which layers are MoE"). */
bool rf_cfg_layer_is_moe(const rf_model_config_t *c, int64_t l);

/* Parses config.json text. Missing required fields, wrong types, values
 * <= 0 or absurdly large (> 2^24 layers/heads, > 2^31 sizes) and unknown
 * model_type are REFIT_ERR_FORMAT / REFIT_ERR_UNSUPPORTED naming `label` and
 * the field. */
refit_status rf_cfg_parse(const char *json, size_t len, const char *label, rf_model_config_t *out);
refit_status rf_cfg_load(const char *path, rf_model_config_t *out);
#define RF_CFG_MAX_FILE (64u << 20) /* a config.json is a few KiB; refuse huge inputs */

typedef enum {
    RF_LAYOUT_REPLICATED, /* whole tensor on every rank */
    RF_LAYOUT_VOCAB,      /* rows of the 64-padded vocab, zero rows past V */
    RF_LAYOUT_QKV,        /* [q_r; k_r; v_r] on dim 0 */
    RF_LAYOUT_ROW,        /* row-parallel linear: a column block */
    RF_LAYOUT_MERGED,     /* [gate_r; up_r] on dim 0 */
    RF_LAYOUT_EXPERTS_W13, /* [E_r, 2*I_r, H]: per local expert [G_e rows c; U_e rows c] */
    RF_LAYOUT_EXPERTS_W2,  /* [E_r, H, I_r]: per local expert D_e columns c */
    RF_LAYOUT_COUNT
} rf_layout_t;

const char *rf_layout_name(rf_layout_t l); /* "replicated", "vocab", ... */

#define RF_MAX_PARTS 3

/* The placeholder an expert part's name holds for the expert index. */
#define RF_EXPERT_MARK "{e}"

typedef struct {
    char src[RF_NAME_MAX]; /* checkpoint tensor name; expert params: with RF_EXPERT_MARK */
    int ndim;              /* 1 or 2 */
    int64_t rows, cols;    /* full checkpoint shape; cols == 1 when ndim == 1 */
} rf_part_t;

typedef struct {
    char name[RF_NAME_MAX]; /* vLLM param name, e.g. model.layers.0.self_attn.qkv_proj.weight */
    rf_layout_t layout;
    int ndim;               /* 1 or 2; 3 for expert params */
    /* Rank-local shape, identical on every tp rank; cols == 1 for 1-D. Expert
     * params: the shape of ONE local expert ([2*I_r, H] or [H, I_r]); the
     * rank holds rf_param_local_count() of them, which under ep can differ
     * between ranks. */
    int64_t rows, cols;
    bool quantize;          /* qkv_proj, o_proj, gate_up_proj, down_proj, expert weights */
    int n_parts;
    rf_part_t parts[RF_MAX_PARTS];
    int64_t part_rows[RF_MAX_PARTS]; /* QKV/MERGED/EXPERTS_W13: local rows taken from each part */
    int64_t vocab_real;              /* VOCAB: V (local rows = pad64(V)/tp) */
    int64_t kv_replicas;             /* QKV: ranks sharing one kv block (1 if tp < nkv) */
    /* Expert params only (0 otherwise). Part k of global expert e is the
     * checkpoint tensor parts[k].src with RF_EXPERT_MARK replaced by e. */
    int64_t experts;                 /* E, global expert count */
    rf_moe_mode_t moe;               /* tp or ep */
    int64_t inter_r;                 /* I_r */
    int64_t inter_pad, hidden_pad;   /* Ip = ceil(I_r/128)*128, Hp = ceil(H/128)*128 (fp8-block) */
} rf_param_t;

static inline bool rf_param_is_expert(const rf_param_t *p) {
    return p->layout == RF_LAYOUT_EXPERTS_W13 || p->layout == RF_LAYOUT_EXPERTS_W2;
}

/* What tp rank r holds of an expert param (SPEC §3a): E_r local experts,
 * global experts [e0, e0 + E_r), intermediate range [c0, c0 + I_r). */
typedef struct {
    int64_t n, e0, inter, c0;
} rf_expert_slice_t;
/* All zero for a non-expert param or an out-of-range rank. */
rf_expert_slice_t rf_param_experts(const rf_param_t *p, int tp, int tp_rank);

/* Rank-local matrices of [rows, cols]: E_r for expert params, else 1. */
int64_t rf_param_local_count(const rf_param_t *p, int tp, int tp_rank);
/* Rank-local bf16 element count (count x rows x cols). */
uint64_t rf_param_local_elems(const rf_param_t *p, int tp, int tp_rank);

/* Checkpoint tensors a param reads, as "slots": part k of a non-expert
 * param is slot k; part k of global expert e is slot k*E + e. */
int rf_param_n_sources(const rf_param_t *p);
/* Fills *out with slot `slot`'s name (expert index substituted), ndim and
 * full shape. REFIT_ERR_INTERNAL for a bad slot or a name that overflows. */
refit_status rf_param_source(const rf_param_t *p, int slot, rf_part_t *out);

/* Every rank-local param for `cfg` at tensor-parallel size `tp`, in a fixed
 * order (embed_tokens; per layer: qkv_proj.weight, qkv_proj.bias (qwen2),
 * o_proj.weight, q_norm/k_norm (qwen3), then the MLP: dense
 * gate_up_proj.weight, down_proj.weight, or for a MoE layer (SPEC §3a) the
 * router B.gate.weight, B.experts.w13_weight, B.experts.w2_weight and
 * qwen2_moe's shared_expert.gate_up_proj/down_proj and shared_expert_gate;
 * input_layernorm, post_attention_layernorm; model.norm; lm_head unless
 * tied). `moe` splits the experts (ignored by dense families). Sizes that do
 * not divide, E < tp and the other §3a rejections are REFIT_ERR_UNSUPPORTED
 * naming the config field, the divisor and the param. *out is malloc'd;
 * free() it. */
refit_status rf_model_params(const rf_model_config_t *cfg, int tp, rf_moe_mode_t moe, rf_param_t **out,
                             size_t *count);

/* Bytes of a param's rank-local bf16 slice on tp rank `tp_rank` (what R3
 * moves for it; expert params under --moe ep differ between ranks). */
static inline uint64_t rf_param_bf16_bytes(const rf_param_t *p, int tp, int tp_rank) {
    return rf_param_local_elems(p, tp, tp_rank) * 2u;
}

/* The part a source slot belongs to (its rows and cols are the slot's). */
static inline const rf_part_t *rf_param_slot_part(const rf_param_t *p, int slot) {
    return &p->parts[rf_param_is_expert(p) ? slot / (int)p->experts : slot];
}

/* Source of local row `row` of `p` on tensor-parallel rank `tp_rank`:
 * source slot (rf_param_source; the part index for non-expert params),
 * source row and first source column; the run is p->cols elements long.
 * Expert params number their local rows over all local experts: row
 * j*p->rows + i is row i of local expert j. part = -1 means a zero (vocab
 * padding) row. */
typedef struct {
    int part;
    int64_t src_row, src_col;
} rf_row_src_t;
rf_row_src_t rf_param_row_source(const rf_param_t *p, int tp, int tp_rank, int64_t row);

/* True for checkpoint tensors refit deliberately ignores: *rotary_emb.inv_freq,
 * and lm_head.weight when embeddings are tied. */
bool rf_model_skips(const rf_model_config_t *cfg, const char *hf_name);

/* True when `hf_name` is an expert tensor (B.experts.{e}.G|U|D.weight) of a
 * MoE layer of `cfg` whose index e is >= E; *index gets e. Such a tensor is
 * rejected by name (SPEC §3a) rather than as merely unknown. */
bool rf_model_expert_out_of_range(const rf_model_config_t *cfg, const char *hf_name, int64_t *index);

#endif
