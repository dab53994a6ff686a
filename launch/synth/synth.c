/* Synthetic checkpoints: config.json + random bf16 safetensors shaped
 * exactly like a Hugging Face export of the config.
 *
 * Values come from a counter-based generator (splitmix64 of seed, tensor
 * name and element index) through a 64K-entry table of normal quantiles
 * already rounded to bf16: one 64-bit mix yields four elements, so a core
 * fills several GB/s, big tensors are split over threads, and the output
 * is independent of how the work is cut. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rf_bf16.h"
#include "rf_fileio.h"
#include "safetensors.h"
#include "synth.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "synth.c writes little-endian bf16 with native stores"
#endif

/* ---- presets ------------------------------------------------------------ */

typedef struct {
    int64_t experts, inter, shared_inter, sparse_step;
    int n_mlp_only;
    int32_t mlp_only[2];
} moe_preset_t;

typedef struct {
    const char *name, *doc, *model_type;
    rf_family_t family;
    int64_t hidden, n_heads, n_kv_heads, head_dim, intermediate, vocab, n_layers;
    bool tie;
    int n_files;
    moe_preset_t moe; /* experts 0: dense */
} preset_t;

/* The tiny presets divide at tp 1, 2, 4 and 8 and each exercises a
 * different corner: vocab padding, kv < tp, head_dim != hidden/heads, tied
 * embeddings, a single file. The big ones are the real published shapes. */
static const preset_t presets[] = {
    {"tiny", "llama, hidden 256, 8 heads / 4 kv, vocab 1000 (padded), 2 layers, 3 files (3.4 MB)",
     "llama", RF_FAM_LLAMA, 256, 8, 4, 32, 512, 1000, 2, false, 3, {0}},
    {"tiny-qwen2",
     "qwen2 with qkv bias, hidden 256, 8 heads / 2 kv (kv < tp at tp 4), vocab 1531, 2 layers, "
     "2 files (4.6 MB)",
     "qwen2", RF_FAM_QWEN2, 256, 8, 2, 32, 768, 1531, 2, false, 2, {0}},
    {"tiny-qwen3",
     "qwen3 with q/k norm, hidden 256, 8 heads x head_dim 64 / 4 kv, vocab 1111, tied "
     "embeddings, 2 layers, 2 files (3.7 MB)",
     "qwen3", RF_FAM_QWEN3, 256, 8, 4, 64, 512, 1111, 2, true, 2, {0}},
    {"tiny-mistral",
     "mistral, hidden 256, 8 heads / 8 kv, vocab 1024 (no padding), 3 layers, 1 file (5.6 MB)",
     "mistral", RF_FAM_MISTRAL, 256, 8, 8, 32, 640, 1024, 3, false, 1, {0}},
    {"bench-160m",
     "llama, hidden 1024, 16 heads / 8 kv, intermediate 2816, vocab 32000, 8 layers, 2 files "
     "(for benchmarks; divides at tp 1..8) (320 MB)",
     "llama", RF_FAM_LLAMA, 1024, 16, 8, 64, 2816, 32000, 8, false, 2, {0}},
    {"many-10k",
     "llama, hidden 64, 8 heads / 4 kv, 1111 layers: 10,002 tensors, 8 files (control-plane "
     "scaling; divides at tp 1..8) (82 MB)",
     "llama", RF_FAM_LLAMA, 64, 8, 4, 8, 128, 1024, 1111, false, 8, {0}},
    {"llama3-8b",
     "Llama-3-8B shapes: hidden 4096, 32 heads / 8 kv, intermediate 14336, vocab 128256, "
     "32 layers, 4 files (16.06 GB)",
     "llama", RF_FAM_LLAMA, 4096, 32, 8, 128, 14336, 128256, 32, false, 4, {0}},
    {"qwen2-7b",
     "Qwen2-7B shapes: hidden 3584, 28 heads / 4 kv, qkv bias, intermediate 18944, vocab "
     "152064, 28 layers, 4 files (15.23 GB)",
     "qwen2", RF_FAM_QWEN2, 3584, 28, 4, 128, 18944, 152064, 28, false, 4, {0}},
    /* MoE (SPEC §3a): the shapes of tests/ref's --preset tiny. Expert sizes
     * are no multiple of 128 at tp 1, 2, 4 (fp8-block pads), E does not
     * divide 4 (the ep remainder), dense layers sit between MoE ones. */
    {"tiny-qwen3-moe",
     "qwen3_moe, hidden 192, 4 heads x head_dim 32 / 2 kv, 3 layers (layer 1 dense via "
     "mlp_only_layers), 6 experts of 160, vocab 300, tied, 1 file (3.1 MB)",
     "qwen3_moe", RF_FAM_QWEN3_MOE, 192, 4, 2, 32, 256, 300, 3, true, 1, {6, 160, 0, 1, 1, {1}}},
    {"tiny-qwen2-moe",
     "qwen2_moe with qkv bias and shared expert 192, hidden 128, 4 heads / 2 kv, 3 layers "
     "(decoder_sparse_step 2: layer 1 MoE), 5 experts of 96, vocab 517, 2 files (1.4 MB)",
     "qwen2_moe", RF_FAM_QWEN2_MOE, 128, 4, 2, 32, 192, 517, 3, false, 2, {5, 96, 192, 2, 0, {0}}},
    {"tiny-mixtral",
     "mixtral, hidden 160, 4 heads x head_dim 40 / 1 kv, 2 layers, 4 experts of 224, vocab "
     "1001, 3 files (2.6 MB)",
     "mixtral", RF_FAM_MIXTRAL, 160, 4, 1, 40, 224, 1001, 2, false, 3, {4, 224, 0, 1, 0, {0}}},
    {"qwen3-30b-a3b",
     "Qwen3-30B-A3B shapes: hidden 2048, 32 heads x head_dim 128 / 4 kv, 48 layers of 128 "
     "experts of 768, vocab 151936, 16 files (61.06 GB)",
     "qwen3_moe", RF_FAM_QWEN3_MOE, 2048, 32, 4, 128, 6144, 151936, 48, false, 16,
     {128, 768, 0, 1, 0, {0}}},
};
#define N_PRESETS (sizeof presets / sizeof presets[0])

size_t rf_synth_preset_count(void) { return N_PRESETS; }

const char *rf_synth_preset_name(size_t i) { return i < N_PRESETS ? presets[i].name : NULL; }

const char *rf_synth_preset_doc(size_t i) { return i < N_PRESETS ? presets[i].doc : NULL; }

static rf_model_config_t preset_config(const preset_t *p) {
    rf_model_config_t c;
    memset(&c, 0, sizeof c);
    snprintf(c.model_type, sizeof c.model_type, "%s", p->model_type);
    c.family = p->family;
    c.hidden = p->hidden;
    c.n_heads = p->n_heads;
    c.n_kv_heads = p->n_kv_heads;
    c.head_dim = p->head_dim;
    c.intermediate = p->intermediate;
    c.vocab = p->vocab;
    c.n_layers = p->n_layers;
    c.tie_embeddings = p->tie;
    c.qkv_bias = p->family == RF_FAM_QWEN2 || p->family == RF_FAM_QWEN2_MOE;
    c.qk_norm = p->family == RF_FAM_QWEN3 || p->family == RF_FAM_QWEN3_MOE;
    if (p->moe.experts == 0) return c;
    c.moe = true;
    c.n_experts = p->moe.experts;
    snprintf(c.experts_field, sizeof c.experts_field, "%s",
             p->family == RF_FAM_MIXTRAL ? "num_local_experts" : "num_experts");
    c.moe_inter = p->moe.inter;
    c.shared_inter = p->moe.shared_inter;
    c.sparse_step = p->moe.sparse_step;
    c.n_mlp_only = p->moe.n_mlp_only;
    for (int i = 0; i < p->moe.n_mlp_only; i++) c.mlp_only[i] = p->moe.mlp_only[i];
    return c;
}

refit_status rf_synth_preset(const char *name, rf_model_config_t *cfg, int *n_files) {
    if (!name || !cfg) return rf_error(REFIT_ERR_INVALID_ARG, "NULL preset argument");
    for (size_t i = 0; i < N_PRESETS; i++) {
        if (strcmp(presets[i].name, name) != 0) continue;
        *cfg = preset_config(&presets[i]);
        if (n_files) *n_files = presets[i].n_files;
        return REFIT_OK;
    }
    char known[256] = "";
    size_t off = 0;
    for (size_t i = 0; i < N_PRESETS && off < sizeof known; i++)
        off += (size_t)snprintf(known + off, sizeof known - off, "%s%s", i ? ", " : "",
                                presets[i].name);
    return rf_error(REFIT_ERR_INVALID_ARG, "unknown preset '%s' (known: %s)", name, known);
}

/* ---- values ------------------------------------------------------------- */

#define SM_GAMMA 0x9E3779B97F4A7C15ull
#define WEIGHT_STD 0.02
#define NORM_MEAN 1.0
#define NORM_STD 0.02

static inline uint64_t splitmix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Per-tensor stream key: the name decides the stream, so renaming or
 * reordering tensors across files never changes a tensor's values. */
static uint64_t tensor_key(uint64_t seed, const char *name) {
    uint64_t h = 0xCBF29CE484222325ull; /* FNV-1a */
    for (const unsigned char *s = (const unsigned char *)name; *s; s++)
        h = (h ^ *s) * 0x100000001B3ull;
    return splitmix(seed * SM_GAMMA ^ h);
}

/* Acklam's rational approximation of the normal quantile (rel. error
 * 1.2e-9, far below bf16 resolution). */
static double normal_quantile(double p) {
    static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,
                               -2.759285104469687e+02, 1.383577518672690e+02,
                               -3.066479806614716e+01, 2.506628277459239e+00};
    static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02,
                               -1.556989798598866e+02, 6.680131188771972e+01,
                               -1.328068155288572e+01};
    static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01,
                               -2.400758277161838e+00, -2.549732539343734e+00,
                               4.374664141464968e+00,  2.938163982698783e+00};
    static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01,
                               2.445134137142996e+00, 3.754408661907416e+00};
    const double plow = 0.02425;
    if (p < plow || p > 1 - plow) {
        double q = sqrt(-2 * log(p < plow ? p : 1 - p));
        double x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
                   ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
        return p < plow ? x : -x;
    }
    double q = p - 0.5, r = q * q;
    return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
           (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

/* 16 random bits -> bf16 of mean + std * quantile((i + 0.5) / 65536). */
static uint16_t weight_tab[65536], norm_tab[65536];
static pthread_once_t tab_once = PTHREAD_ONCE_INIT;

static void tab_init(void) {
    for (int i = 0; i < 65536; i++) {
        double z = normal_quantile((i + 0.5) / 65536.0); /* |z| < 4.2 */
        weight_tab[i] = rf_f32_to_bf16((float)(WEIGHT_STD * z));
        norm_tab[i] = rf_f32_to_bf16((float)(NORM_MEAN + NORM_STD * z));
    }
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

/* Norm gains (input_layernorm, q_norm, model.norm, ...) sit around 1. */
static const uint16_t *table_for(const char *name) {
    PTHREAD_MUST(pthread_once(&tab_once, tab_init));
    return ends_with(name, "norm.weight") ? norm_tab : weight_tab;
}

static inline uint16_t value_at(const uint16_t *tab, uint64_t key, uint64_t e) {
    uint64_t w = splitmix(key + (e >> 2) * SM_GAMMA);
    return tab[(w >> (16 * (e & 3))) & 0xFFFF];
}

uint16_t rf_synth_value(uint64_t seed, const char *name, uint64_t index) {
    return value_at(table_for(name), tensor_key(seed, name), index);
}

/* Elements [first, first + n) into dst (dst holds element `first`). */
static void fill_range(const uint16_t *tab, uint64_t key, uint8_t *dst, uint64_t first,
                       uint64_t n) {
    uint64_t e = first, end = first + n;
    for (; e < end && (e & 3); e++, dst += 2) {
        uint16_t v = value_at(tab, key, e);
        memcpy(dst, &v, 2);
    }
    for (; e + 4 <= end; e += 4, dst += 8) {
        uint64_t w = splitmix(key + (e >> 2) * SM_GAMMA);
        uint64_t out = (uint64_t)tab[w & 0xFFFF] | (uint64_t)tab[(w >> 16) & 0xFFFF] << 16 |
                       (uint64_t)tab[(w >> 32) & 0xFFFF] << 32 | (uint64_t)tab[w >> 48] << 48;
        memcpy(dst, &out, 8);
    }
    for (; e < end; e++, dst += 2) {
        uint16_t v = value_at(tab, key, e);
        memcpy(dst, &v, 2);
    }
}

typedef struct {
    const uint16_t *tab;
    uint64_t key, first, n;
    uint8_t *dst;
} fill_job_t;

static void *fill_worker(void *arg) {
    fill_job_t *j = arg;
    fill_range(j->tab, j->key, j->dst, j->first, j->n);
    return NULL;
}

#define FILL_MAX_THREADS 32
#define FILL_BYTES_PER_THREAD (8u << 20) /* below this a thread costs more than it saves */

static int fill_threads(uint64_t nbytes) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    uint64_t by_size = nbytes / FILL_BYTES_PER_THREAD;
    int n = cpus > 0 ? (int)(cpus < FILL_MAX_THREADS ? cpus : FILL_MAX_THREADS) : 1;
    if (by_size < (uint64_t)n) n = by_size > 0 ? (int)by_size : 1;
    return n;
}

/* Fills a whole tensor of `nelem` bf16 elements. Threads get 4-aligned
 * slices; if a thread cannot start, this thread does its slice instead, so
 * the bytes are the same either way. */
static void fill_tensor(const char *name, uint64_t seed, uint8_t *dst, uint64_t nelem) {
    const uint16_t *tab = table_for(name);
    uint64_t key = tensor_key(seed, name);
    int nt = fill_threads(nelem * 2);
    if (nt <= 1) {
        fill_range(tab, key, dst, 0, nelem);
        return;
    }
    fill_job_t jobs[FILL_MAX_THREADS];
    pthread_t tids[FILL_MAX_THREADS];
    bool started[FILL_MAX_THREADS] = {false};
    uint64_t per = (nelem / (uint64_t)nt + 3) & ~3ull, first = 0;
    for (int t = 0; t < nt; t++) {
        uint64_t left = nelem - first; /* the last thread takes whatever remains */
        uint64_t n = t == nt - 1 || left < per ? left : per;
        jobs[t] = (fill_job_t){.tab = tab, .key = key, .first = first, .n = n, .dst = dst + 2 * first};
        first += n;
        if (t > 0) started[t] = pthread_create(&tids[t], NULL, fill_worker, &jobs[t]) == 0;
    }
    fill_worker(&jobs[0]);
    for (int t = 1; t < nt; t++) {
        if (started[t]) PTHREAD_MUST(pthread_join(tids[t], NULL));
        else fill_worker(&jobs[t]);
    }
}

/* ---- plan: tensors and their files ------------------------------------- */

typedef struct {
    char name[RF_NAME_MAX];
    int ndim;
    uint64_t shape[2], nelem, bytes;
    int file;
} synth_tensor_t;

typedef struct {
    rf_param_t *params;
    synth_tensor_t *t;
    size_t n;
    uint64_t total;
} plan_t;

static void plan_free(plan_t *p) {
    free(p->t);
    free(p->params);
}

/* Every checkpoint tensor is a part of some tp=1 param, in param order. */
/* esz: bytes per stored element (2: BF16/F16, 4: F32). */
static refit_status plan_tensors(const rf_model_config_t *cfg, uint64_t esz, plan_t *out) {
    plan_t p = {0};
    size_t np = 0, cap = 0;
    RF_CHECK(rf_model_params(cfg, 1, RF_MOE_TP, &p.params, &np));
    for (size_t i = 0; i < np; i++) cap += (size_t)rf_param_n_sources(&p.params[i]);
    p.t = calloc(cap ? cap : 1, sizeof *p.t);
    if (!p.t) {
        free(p.params);
        return rf_error(REFIT_ERR_NOMEM, "cannot allocate %zu tensors", cap);
    }
    for (size_t i = 0; i < np; i++) {
        for (int k = 0; k < rf_param_n_sources(&p.params[i]); k++) {
            rf_part_t pt; /* expert params: one tensor per expert and part */
            refit_status st = rf_param_source(&p.params[i], k, &pt);
            if (st != REFIT_OK) {
                plan_free(&p);
                return st;
            }
            synth_tensor_t *t = &p.t[p.n++];
            memcpy(t->name, pt.src, sizeof t->name);
            t->ndim = pt.ndim;
            t->shape[0] = (uint64_t)pt.rows;
            t->shape[1] = (uint64_t)pt.cols;
            t->nelem = (uint64_t)pt.rows * (uint64_t)pt.cols; /* checked by rf_model_params */
            t->bytes = esz * t->nelem;
            if (!rf_add_u64(p.total, t->bytes, &p.total)) {
                plan_free(&p);
                return rf_error(REFIT_ERR_UNSUPPORTED, "checkpoint size overflows");
            }
        }
    }
    *out = p;
    return REFIT_OK;
}

/* Splits tensors, in order, into n_files non-empty runs of about equal
 * bytes: a file is closed when the next tensor's midpoint passes the
 * file's share of the total, or when the remaining tensors are just enough
 * to give every remaining file one. */
static void plan_files(plan_t *p, int n_files) {
    uint64_t done = 0;
    int f = 0;
    size_t in_file = 0;
    for (size_t i = 0; i < p->n; i++) {
        uint64_t mid = done + p->t[i].bytes / 2;
        unsigned __int128 boundary = (unsigned __int128)p->total * (unsigned)(f + 1) / (unsigned)n_files;
        bool need = p->n - i == (size_t)(n_files - 1 - f);
        if (in_file > 0 && f < n_files - 1 && (need || mid >= boundary)) {
            f++;
            in_file = 0;
        }
        p->t[i].file = f;
        in_file++;
        done += p->t[i].bytes;
    }
}

refit_status rf_synth_total_bytes(const rf_model_config_t *cfg, uint64_t *bytes,
                                  size_t *n_tensors) {
    if (!cfg) return rf_error(REFIT_ERR_INVALID_ARG, "NULL config");
    plan_t p;
    RF_CHECK(plan_tensors(cfg, 2, &p));
    if (bytes) *bytes = p.total;
    if (n_tensors) *n_tensors = p.n;
    plan_free(&p);
    return REFIT_OK;
}

/* ---- files -------------------------------------------------------------- */

static refit_status join(char *dst, size_t cap, const char *dir, const char *name) {
    int n = snprintf(dst, cap, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= cap)
        return rf_error(REFIT_ERR_INVALID_ARG, "path too long: %s/%s", dir, name);
    return REFIT_OK;
}

/* Writes text to dir/name via a temporary file and rename, like the
 * safetensors writer, so readers never see a partial config or index. */
static refit_status write_text(const char *dir, const char *name, const char *text) {
    char path[4096], tmp[4100];
    RF_CHECK(join(path, sizeof path, dir, name));
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return rf_error(REFIT_ERR_IO, "cannot create %s: %s", tmp, strerror(errno));
    size_t len = strlen(text);
    bool ok = fwrite(text, 1, len, f) == len;
    int err = errno;
    if (fclose(f) != 0 && ok) {
        ok = false;
        err = errno;
    }
    if (!ok) {
        unlink(tmp);
        return rf_error(REFIT_ERR_IO, "cannot write %s: %s", tmp, strerror(err));
    }
    if (rename(tmp, path) != 0) {
        err = errno;
        unlink(tmp);
        return rf_error(REFIT_ERR_IO, "cannot rename %s: %s", tmp, strerror(err));
    }
    return REFIT_OK;
}

static refit_status remove_stale(const char *dir, const char *name) {
    char path[4096];
    RF_CHECK(join(path, sizeof path, dir, name));
    if (unlink(path) != 0 && errno != ENOENT)
        return rf_error(REFIT_ERR_IO, "cannot remove stale %s: %s", path, strerror(errno));
    return REFIT_OK;
}

static const char *architecture(rf_family_t f) {
    switch (f) {
    case RF_FAM_LLAMA: return "LlamaForCausalLM";
    case RF_FAM_MISTRAL: return "MistralForCausalLM";
    case RF_FAM_QWEN2: return "Qwen2ForCausalLM";
    case RF_FAM_QWEN3: return "Qwen3ForCausalLM";
    case RF_FAM_QWEN3_MOE: return "Qwen3MoeForCausalLM";
    case RF_FAM_QWEN2_MOE: return "Qwen2MoeForCausalLM";
    case RF_FAM_MIXTRAL: return "MixtralForCausalLM";
    case RF_FAM_COUNT: break;
    }
    return "?";
}

static const char *family_type(rf_family_t f) {
    switch (f) {
    case RF_FAM_LLAMA: return "llama";
    case RF_FAM_MISTRAL: return "mistral";
    case RF_FAM_QWEN2: return "qwen2";
    case RF_FAM_QWEN3: return "qwen3";
    case RF_FAM_QWEN3_MOE: return "qwen3_moe";
    case RF_FAM_QWEN2_MOE: return "qwen2_moe";
    case RF_FAM_MIXTRAL: return "mixtral";
    case RF_FAM_COUNT: break;
    }
    return "?";
}

/* The SPEC §3a fields of a MoE config (""  for dense families), each line
 * ending in ",\n" to sit before the common fields. */
static refit_status moe_fields(const rf_model_config_t *c, char *out, size_t cap) {
    out[0] = '\0';
    if (!c->moe) return REFIT_OK;
    if (c->family == RF_FAM_MIXTRAL) {
        int n = snprintf(out, cap, "  \"num_local_experts\": %lld,\n  \"num_experts_per_tok\": %lld,\n",
                         (long long)c->n_experts, (long long)(c->n_experts < 2 ? c->n_experts : 2));
        return n < 0 || (size_t)n >= cap ? rf_error(REFIT_ERR_INTERNAL, "synth: MoE fields too long") : REFIT_OK;
    }
    char only[RF_MAX_MLP_ONLY * 12 + 4] = "";
    size_t o = 0;
    for (int32_t i = 0; i < c->n_mlp_only; i++)
        o += (size_t)snprintf(only + o, sizeof only - o, "%s%d", i ? ", " : "", (int)c->mlp_only[i]);
    char shared[80] = "";
    if (c->family == RF_FAM_QWEN2_MOE)
        snprintf(shared, sizeof shared, "  \"shared_expert_intermediate_size\": %lld,\n",
                 (long long)c->shared_inter);
    int n = snprintf(out, cap,
                     "  \"num_experts\": %lld,\n  \"moe_intermediate_size\": %lld,\n%s"
                     "  \"decoder_sparse_step\": %lld,\n  \"mlp_only_layers\": [%s],\n"
                     "  \"num_experts_per_tok\": %lld,\n  \"norm_topk_prob\": %s,\n",
                     (long long)c->n_experts, (long long)c->moe_inter, shared, (long long)c->sparse_step,
                     only, (long long)(c->n_experts < 8 ? c->n_experts : 8),
                     c->family == RF_FAM_QWEN3_MOE ? "true" : "false");
    return n < 0 || (size_t)n >= cap ? rf_error(REFIT_ERR_INTERNAL, "synth: MoE fields too long") : REFIT_OK;
}

/* config.json as transformers writes it, reduced to what matters plus the
 * usual rope/norm fields so other tools accept the directory too. */
/* torch_dtype names the stored dtype, as a trainer saving it writes. */
static refit_status write_config(const char *dir, const rf_model_config_t *c, rf_dtype_t dtype) {
    char text[2048 + RF_MAX_MLP_ONLY * 12], moe[RF_MAX_MLP_ONLY * 12 + 512];
    bool qwen = c->family != RF_FAM_LLAMA && c->family != RF_FAM_MISTRAL && c->family != RF_FAM_MIXTRAL;
    RF_CHECK(moe_fields(c, moe, sizeof moe));
    int n = snprintf(text, sizeof text,
                     "{\n"
                     "  \"architectures\": [\"%s\"],\n"
                     "  \"model_type\": \"%s\",\n"
                     "%s"
                     "  \"hidden_size\": %lld,\n"
                     "  \"num_attention_heads\": %lld,\n"
                     "  \"num_key_value_heads\": %lld,\n"
                     "  \"head_dim\": %lld,\n"
                     "  \"intermediate_size\": %lld,\n"
                     "  \"vocab_size\": %lld,\n"
                     "  \"num_hidden_layers\": %lld,\n"
                     "  \"tie_word_embeddings\": %s,\n"
                     "  \"hidden_act\": \"silu\",\n"
                     "  \"max_position_embeddings\": %d,\n"
                     "  \"rms_norm_eps\": %s,\n"
                     "  \"rope_theta\": %s,\n"
                     "  \"torch_dtype\": \"%s\"\n"
                     "}\n",
                     architecture(c->family), family_type(c->family), moe, (long long)c->hidden,
                     (long long)c->n_heads, (long long)c->n_kv_heads, (long long)c->head_dim,
                     (long long)c->intermediate, (long long)c->vocab, (long long)c->n_layers,
                     c->tie_embeddings ? "true" : "false", qwen ? 32768 : 8192,
                     qwen ? "1e-06" : "1e-05", qwen ? "1000000.0" : "500000.0",
                     dtype == RF_DT_F16 ? "float16" : dtype == RF_DT_F32 ? "float32" : "bfloat16");
    if (n < 0 || (size_t)n >= sizeof text)
        return rf_error(REFIT_ERR_INTERNAL, "config.json too long");
    return write_text(dir, "config.json", text);
}

static void file_name(char *dst, size_t cap, int k, int n_files) {
    if (n_files == 1) snprintf(dst, cap, "model.safetensors");
    else snprintf(dst, cap, "model-%05d-of-%05d.safetensors", k + 1, n_files);
}

/* {"metadata":{"total_size":N},"weight_map":{tensor: file}}; names come
 * from rf_model_params, plain ASCII without quotes or backslashes. */
static refit_status write_index(const char *dir, const plan_t *p, int n_files) {
    size_t cap = 128 + p->n * (RF_NAME_MAX + 64), off = 0;
    char *text = malloc(cap);
    if (!text) return rf_error(REFIT_ERR_NOMEM, "cannot allocate index text");
    off += (size_t)snprintf(text + off, cap - off,
                            "{\n  \"metadata\": {\"total_size\": %llu},\n  \"weight_map\": {\n",
                            (unsigned long long)p->total);
    for (size_t i = 0; i < p->n; i++) {
        char fname[64];
        file_name(fname, sizeof fname, p->t[i].file, n_files);
        off += (size_t)snprintf(text + off, cap - off, "    \"%s\": \"%s\"%s\n", p->t[i].name,
                                fname, i + 1 < p->n ? "," : "");
    }
    snprintf(text + off, cap - off, "  }\n}\n");
    refit_status st = write_text(dir, "model.safetensors.index.json", text);
    free(text);
    return st;
}

typedef struct {
    const plan_t *plan;
    rf_dtype_t dtype; /* stored: BF16, F16 or F32 */
    size_t first; /* plan index of the file's first tensor */
    size_t count;
    uint64_t seed;
    rf_synth_progress_t prog;
    rf_synth_progress_fn progress;
    void *user;
} file_ctx_t;

/* n bf16 values at dst + 2n to fp32 at dst, exact: element i is read (at
 * 2n + 2i) before it is written ([4i, 4i + 4), below 2n + 2i + 2 for no
 * later element's bytes). */
static void widen_f32(uint8_t *dst, uint64_t n) {
    for (uint64_t i = 0; i < n; i++) {
        uint16_t b;
        memcpy(&b, dst + 2 * n + 2 * i, 2);
        float f = rf_bf16_to_f32(b);
        memcpy(dst + 4 * i, &f, 4);
    }
}

/* fp32 -> fp16, round to nearest even (subnormals included, NaN kept). */
static uint16_t f32_to_f16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t a = u & 0x7FFFFFFFu;
    if (a > 0x7F800000u) return sign | 0x7E00u;
    if (a >= 0x477FF000u) return sign | 0x7C00u; /* >= 65520: rounds to inf */
    if (a >= 0x38800000u) {                      /* normal in fp16: >= 2^-14 */
        uint32_t m = a - 0x38000000u;             /* exponent rebias 127 -> 15 */
        m += 0xFFFu + ((m >> 13) & 1u);
        return sign | (uint16_t)(m >> 13);
    }
    int shift = 126 - (int)(a >> 23); /* subnormal: mant * 2^(e - 126) units of 2^-24 */
    if (shift > 24) return sign;
    uint32_t mant = (a & 0x7FFFFFu) | 0x800000u, h = mant >> shift, rem = mant & ((1u << shift) - 1u);
    uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (h & 1u))) h++;
    return sign | (uint16_t)h;
}

/* n bf16 values at dst to fp16 in place (what a trainer saving fp16 writes). */
static void to_f16(uint8_t *dst, uint64_t n) {
    for (uint64_t i = 0; i < n; i++) {
        uint16_t b;
        memcpy(&b, dst + 2 * i, 2);
        b = f32_to_f16(rf_bf16_to_f32(b));
        memcpy(dst + 2 * i, &b, 2);
    }
}

static refit_status fill_cb(void *user, size_t index, uint8_t *dst, uint64_t nbytes) {
    file_ctx_t *fc = user;
    if (index >= fc->count)
        return rf_error(REFIT_ERR_INTERNAL, "fill asked for tensor %zu of %zu", index,
                        fc->count);
    const synth_tensor_t *t = &fc->plan->t[fc->first + index];
    if (nbytes != t->bytes || !dst)
        return rf_error(REFIT_ERR_INTERNAL, "%s: fill of %llu bytes, expected %llu",
                        t->name, (unsigned long long)nbytes, (unsigned long long)t->bytes);
    if (fc->dtype == RF_DT_F32) { /* the bf16 values in the upper half, widened forward in place */
        fill_tensor(t->name, fc->seed, dst + 2 * t->nelem, t->nelem);
        widen_f32(dst, t->nelem);
    } else {
        fill_tensor(t->name, fc->seed, dst, t->nelem);
        if (fc->dtype == RF_DT_F16) to_f16(dst, t->nelem);
    }
    fc->prog.bytes_done += t->bytes;
    fc->prog.tensor = t->name;
    if (fc->progress) fc->progress(fc->user, &fc->prog);
    return REFIT_OK;
}

static refit_status write_file(const char *dir, file_ctx_t *fc) {
    char path[4096];
    RF_CHECK(join(path, sizeof path, dir, fc->prog.file));
    rf_st_writer_t *w = NULL;
    refit_status st = REFIT_OK;
    RF_CHECK(rf_st_writer_create(&w));
    RF_CHECK_GOTO(rf_st_writer_meta(w, "format", "pt"), out);
    for (size_t i = 0; i < fc->count; i++) {
        const synth_tensor_t *t = &fc->plan->t[fc->first + i];
        RF_CHECK_GOTO(rf_st_writer_add(w, t->name, fc->dtype, t->ndim, t->shape, NULL), out);
    }
    RF_CHECK_GOTO(rf_st_writer_write(w, path, fill_cb, fc), out);
    fc->prog.tensor = NULL;
    if (fc->progress) fc->progress(fc->user, &fc->prog);
out:
    rf_st_writer_destroy(w);
    return st;
}

/* Only the flag combinations config.json can express round-trip. */
static refit_status check_family(const rf_model_config_t *c) {
    bool bias = c->family == RF_FAM_QWEN2 || c->family == RF_FAM_QWEN2_MOE;
    bool norm = c->family == RF_FAM_QWEN3 || c->family == RF_FAM_QWEN3_MOE;
    bool moe = c->family == RF_FAM_QWEN3_MOE || c->family == RF_FAM_QWEN2_MOE || c->family == RF_FAM_MIXTRAL;
    if (c->moe != moe)
        return rf_error(REFIT_ERR_INVALID_ARG, "synth: the moe flag must match the family (%s has moe %d)",
                        family_type(c->family), c->moe);
    if (c->qkv_bias != bias || c->qk_norm != norm)
        return rf_error(REFIT_ERR_INVALID_ARG,
                        "qkv_bias/qk_norm must match the family (%s has qkv_bias %d, "
                        "qk_norm %d)",
                        family_type(c->family), c->qkv_bias, c->qk_norm);
    return REFIT_OK;
}

refit_status rf_synth_write(const char *dir, const rf_model_config_t *cfg, int n_files,
                            uint64_t seed, rf_synth_progress_fn progress, void *user) {
    return rf_synth_write_as(dir, cfg, n_files, seed, RF_DT_BF16, progress, user);
}

refit_status rf_synth_write_as(const char *dir, const rf_model_config_t *cfg, int n_files, uint64_t seed,
                               rf_dtype_t dtype, rf_synth_progress_fn progress, void *user) {
    if (!dir || !cfg) return rf_error(REFIT_ERR_INVALID_ARG, "NULL argument");
    if (dtype != RF_DT_BF16 && dtype != RF_DT_F16 && dtype != RF_DT_F32)
        return rf_error(REFIT_ERR_INVALID_ARG, "synth: dtype %s (BF16, F16 or F32)", rf_dtype_name(dtype));
    RF_CHECK(check_family(cfg));
    plan_t plan;
    refit_status st;
    RF_CHECK(plan_tensors(cfg, rf_dtype_size(dtype), &plan));
    if (n_files < 1 || n_files > 99999 || (size_t)n_files > plan.n) {
        st = rf_error(REFIT_ERR_INVALID_ARG, "%d files for %zu tensors (need 1..%zu)",
                      n_files, plan.n, plan.n < 99999 ? plan.n : 99999);
        goto out;
    }
    plan_files(&plan, n_files);
    RF_CHECK_GOTO(rf_mkdir_p(dir, 0777), out);
    /* Drop the previous index first: until the new one is written last, an
     * interrupted run leaves a directory that fails to open rather than one
     * that silently mixes old and new files. */
    RF_CHECK_GOTO(remove_stale(dir, "model.safetensors.index.json"), out);
    if (n_files > 1) RF_CHECK_GOTO(remove_stale(dir, "model.safetensors"), out);
    RF_CHECK_GOTO(write_config(dir, cfg, dtype), out);

    file_ctx_t fc = {.plan = &plan, .dtype = dtype, .seed = seed, .progress = progress, .user = user};
    fc.prog.n_files = n_files;
    fc.prog.bytes_total = plan.total;
    char fname[64];
    for (int k = 0; k < n_files; k++) {
        fc.first += fc.count;
        fc.count = 0;
        while (fc.first + fc.count < plan.n && plan.t[fc.first + fc.count].file == k) fc.count++;
        file_name(fname, sizeof fname, k, n_files);
        fc.prog.file = fname;
        fc.prog.file_index = k;
        RF_CHECK_GOTO(write_file(dir, &fc), out);
    }
    /* The index goes last: it names files that must already exist. */
    if (n_files > 1) RF_CHECK_GOTO(write_index(dir, &plan, n_files), out);
    st = REFIT_OK;
out:
    plan_free(&plan);
    return st;
}
