/* Synthetic checkpoints (launch/synth/synth.h): presets, and that every tiny
 * preset written to disk re-opens through rf_ckpt_open with exactly the
 * tensors, shapes, dtype, config and values the layout expects. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint.h"
#include "rf_bf16.h"
#include "synth.h"

#include "check.h"



static char root[256];

static void path_of(char *dst, size_t cap, const char *a, const char *b) {
    int n = snprintf(dst, cap, "%s/%s", a, b);
    if (n < 0 || (size_t)n >= cap) {
        fprintf(stderr, "test_synth: path too long: %s/%s\n", a, b);
        exit(1);
    }
}

static bool exists(const char *dir, const char *name) {
    char p[512];
    struct stat sb;
    path_of(p, sizeof p, dir, name);
    return stat(p, &sb) == 0;
}

/* rm -r of the test's own temporary tree (two levels deep at most). */
static void remove_tree(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char p[512];
        struct stat sb;
        path_of(p, sizeof p, dir, e->d_name);
        if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode)) remove_tree(p);
        else unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

/* ---- presets ------------------------------------------------------------ */

static void check_presets(void) {
    size_t n = rf_synth_preset_count();
    CHECK(n >= 6, "%zu presets", n);
    static const char *const want[] = {"tiny", "tiny-qwen2", "tiny-qwen3", "tiny-mistral",
                                       "llama3-8b", "qwen2-7b"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        rf_model_config_t c;
        int files = 0;
        rf_err_clear();
        CHECK(rf_synth_preset(want[i], &c, &files) == REFIT_OK, "%s: %s", want[i], rf_err_msg());
        CHECK(files >= 1, "%s: %d files", want[i], files);
    }
    for (size_t i = 0; i < n; i++) {
        CHECK(rf_synth_preset_name(i) && rf_synth_preset_doc(i) && rf_synth_preset_doc(i)[0],
              "preset %zu lacks name or doc", i);
    }
    CHECK(rf_synth_preset_name(n) == NULL && rf_synth_preset_doc(n) == NULL, "past the end");

    rf_model_config_t c, before;
    memset(&c, 0x5A, sizeof c);
    before = c;
    int files = -7;
    rf_err_clear();
    CHECK(rf_synth_preset("llama-9000", &c, &files) == REFIT_ERR_INVALID_ARG, "unknown preset");
    CHECK(strstr(rf_err_msg(), "llama-9000") && strstr(rf_err_msg(), "tiny, tiny-qwen2"),
          "message lists presets: %s", rf_err_msg());
    CHECK(!memcmp(&c, &before, sizeof c) && files == -7, "outputs touched on error");

    /* The documented real shapes and sizes. */
    uint64_t bytes = 0;
    size_t tensors = 0;
    CHECK(rf_synth_preset("llama3-8b", &c, &files) == REFIT_OK, "llama3-8b");
    CHECK(c.hidden == 4096 && c.n_heads == 32 && c.n_kv_heads == 8 && c.head_dim == 128 &&
              c.intermediate == 14336 && c.vocab == 128256 && c.n_layers == 32 &&
              !c.tie_embeddings && files == 4,
          "llama3-8b shape");
    CHECK(rf_synth_total_bytes(&c, &bytes, &tensors) == REFIT_OK, "%s", rf_err_msg());
    CHECK(bytes == UINT64_C(16060522496) && tensors == 32 * 9 + 3,
          "llama3-8b: %" PRIu64 " bytes, %zu tensors", bytes, tensors);
    CHECK(rf_synth_preset("qwen2-7b", &c, &files) == REFIT_OK, "qwen2-7b");
    CHECK(c.qkv_bias && !c.qk_norm && c.hidden == 3584 && c.vocab == 152064, "qwen2-7b shape");
    CHECK(rf_synth_total_bytes(&c, &bytes, &tensors) == REFIT_OK, "%s", rf_err_msg());
    CHECK(bytes == UINT64_C(15231233024) && tensors == 28 * 12 + 3,
          "qwen2-7b: %" PRIu64 " bytes, %zu tensors", bytes, tensors);

    /* Qwen3-30B-A3B: 48 layers x (attention 4 + q/k norm 2 + router + 128 x 3
     * experts + 2 norms) + embed, norm, lm_head. */
    CHECK(rf_synth_preset("qwen3-30b-a3b", &c, &files) == REFIT_OK, "qwen3-30b-a3b");
    CHECK(c.moe && c.n_experts == 128 && c.moe_inter == 768 && c.hidden == 2048 && c.n_layers == 48 &&
              c.n_heads == 32 && c.n_kv_heads == 4 && c.head_dim == 128 && c.vocab == 151936 && c.qk_norm,
          "qwen3-30b-a3b shape");
    CHECK(rf_synth_total_bytes(&c, &bytes, &tensors) == REFIT_OK, "%s", rf_err_msg());
    CHECK(bytes == UINT64_C(61064245248) && tensors == 48 * 393 + 3,
          "qwen3-30b-a3b: %" PRIu64 " bytes, %zu tensors", bytes, tensors);

    /* Tiny presets must lay out at tp 1, 2, 4 and 8. */
    for (size_t i = 0; i < 4; i++) {
        CHECK(rf_synth_preset(want[i], &c, NULL) == REFIT_OK, "%s", want[i]);
        for (int tp = 1; tp <= 8; tp *= 2) {
            rf_param_t *ps;
            size_t np;
            rf_err_clear();
            refit_status st = rf_model_params(&c, tp, RF_MOE_TP, &ps, &np);
            CHECK(st == REFIT_OK, "%s tp %d: %s", want[i], tp, rf_err_msg());
            if (st == REFIT_OK) free(ps);
        }
    }
}

/* ---- values ------------------------------------------------------------- */

static void check_values(void) {
    double sum = 0, sq = 0, nsum = 0, amax = 0;
    const int n = 1 << 20;
    for (int i = 0; i < n; i++) {
        float w = rf_bf16_to_f32(rf_synth_value(7, "model.layers.0.mlp.up_proj.weight", (uint64_t)i));
        float g = rf_bf16_to_f32(rf_synth_value(7, "model.layers.0.input_layernorm.weight", (uint64_t)i));
        CHECK(isfinite(w) && isfinite(g), "element %d not finite", i);
        sum += w;
        sq += (double)w * w;
        nsum += g;
        if (fabs(w) > amax) amax = fabs(w);
    }
    double mean = sum / n, sd = sqrt(sq / n - mean * mean);
    CHECK(fabs(mean) < 1e-3 && fabs(sd - 0.02) < 1e-3, "weights mean %g std %g", mean, sd);
    CHECK(amax < 0.1, "weights max |x| %g", amax);
    CHECK(fabs(nsum / n - 1.0) < 1e-2, "norm mean %g", nsum / n);
    /* Streams differ by seed and by name. */
    int same_seed = 0, same_name = 0;
    for (uint64_t i = 0; i < 1000; i++) {
        same_seed += rf_synth_value(1, "a.weight", i) == rf_synth_value(2, "a.weight", i);
        same_name += rf_synth_value(1, "a.weight", i) == rf_synth_value(1, "b.weight", i);
    }
    CHECK(same_seed < 100 && same_name < 100, "streams collide: %d %d", same_seed, same_name);
}

/* ---- a written preset re-opened ----------------------------------------- */

typedef struct {
    int tensors, files;
    uint64_t last_done, total;
    bool monotonic;
} progress_t;

static void on_progress(void *user, const rf_synth_progress_t *p) {
    progress_t *pr = user;
    if (p->tensor) pr->tensors++;
    else pr->files++;
    if (p->bytes_done < pr->last_done || p->bytes_done > p->bytes_total) pr->monotonic = false;
    pr->last_done = p->bytes_done;
    pr->total = p->bytes_total;
}

static void check_config(const char *preset, const rf_model_config_t *got,
                         const rf_model_config_t *want) {
    CHECK(got->family == want->family && !strcmp(got->model_type, want->model_type) &&
              got->hidden == want->hidden && got->n_heads == want->n_heads &&
              got->n_kv_heads == want->n_kv_heads && got->head_dim == want->head_dim &&
              got->intermediate == want->intermediate && got->vocab == want->vocab &&
              got->n_layers == want->n_layers && got->tie_embeddings == want->tie_embeddings &&
              got->qkv_bias == want->qkv_bias && got->qk_norm == want->qk_norm,
          "%s: config.json does not round-trip", preset);
    bool moe_ok = got->moe == want->moe && got->n_experts == want->n_experts &&
                  got->moe_inter == want->moe_inter && got->shared_inter == want->shared_inter &&
                  got->sparse_step == want->sparse_step && got->n_mlp_only == want->n_mlp_only;
    for (int32_t i = 0; moe_ok && i < want->n_mlp_only; i++) moe_ok = got->mlp_only[i] == want->mlp_only[i];
    for (int64_t l = 0; l < want->n_layers; l++)
        moe_ok = moe_ok && rf_cfg_layer_is_moe(got, l) == rf_cfg_layer_is_moe(want, l);
    CHECK(moe_ok, "%s: MoE fields of config.json do not round-trip", preset);
}

/* Every expected tensor present with shape, dtype and values; nothing else. */
static void check_tensors(const char *preset, const rf_ckpt_t *ck, const rf_model_config_t *c,
                          uint64_t seed) {
    rf_param_t *ps;
    size_t np, expected = 0;
    CHECK(rf_model_params(c, 1, RF_MOE_TP, &ps, &np) == REFIT_OK, "%s", rf_err_msg());
    for (size_t i = 0; i < np; i++) {
        for (int k = 0; k < rf_param_n_sources(&ps[i]); k++) {
            rf_part_t part; /* expert params: one tensor per expert and part */
            CHECK(rf_param_source(&ps[i], k, &part) == REFIT_OK, "%s", rf_err_msg());
            const rf_part_t *pt = &part;
            const rf_st_file_t *f;
            const rf_st_tensor_t *t;
            expected++;
            rf_err_clear();
            if (rf_ckpt_find(ck, pt->src, &f, &t) != REFIT_OK) {
                CHECK(0, "%s: %s missing: %s", preset, pt->src, rf_err_msg());
                continue;
            }
            bool shape_ok = t->ndim == pt->ndim && t->shape[0] == (uint64_t)pt->rows &&
                            (pt->ndim == 1 || t->shape[1] == (uint64_t)pt->cols);
            CHECK(t->dtype == RF_DT_BF16, "%s: %s dtype %s", preset, pt->src, rf_dtype_name(t->dtype));
            CHECK(shape_ok, "%s: %s shape wrong (ndim %d)", preset, pt->src, t->ndim);
            uint64_t n = (uint64_t)pt->rows * (uint64_t)pt->cols, bad = 0;
            CHECK(t->nelem == n && t->end - t->begin == 2 * n, "%s: %s size", preset, pt->src);
            uint8_t *d = malloc(2 * n);
            if (d && rf_st_read(f, t, 0, 2 * n, d) != REFIT_OK) {
                CHECK(0, "%s: %s: %s", preset, pt->src, rf_err_msg());
                free(d);
                d = NULL;
            }
            for (uint64_t e = 0; d && e < n; e++) {
                uint16_t v;
                memcpy(&v, d + 2 * e, 2);
                bad += v != rf_synth_value(seed, pt->src, e) || !isfinite(rf_bf16_to_f32(v));
            }
            free(d);
            CHECK(bad == 0, "%s: %s: %" PRIu64 " elements differ from rf_synth_value", preset,
                  pt->src, bad);
        }
    }
    CHECK(rf_ckpt_count(ck) == expected, "%s: %zu tensors, want %zu", preset, rf_ckpt_count(ck),
          expected);
    free(ps);
}

static void check_files(const char *preset, const char *dir, const rf_ckpt_t *ck, int n_files) {
    char name[64];
    CHECK(exists(dir, "config.json"), "%s: no config.json", preset);
    if (n_files == 1) {
        CHECK(exists(dir, "model.safetensors"), "%s: no model.safetensors", preset);
        CHECK(!exists(dir, "model.safetensors.index.json"), "%s: stray index", preset);
        return;
    }
    CHECK(exists(dir, "model.safetensors.index.json"), "%s: no index", preset);
    CHECK(!exists(dir, "model.safetensors"), "%s: stray model.safetensors", preset);
    /* Every file exists and holds at least one tensor. */
    for (int k = 1; k <= n_files; k++) {
        snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", k, n_files);
        CHECK(exists(dir, name), "%s: %s missing", preset, name);
        size_t held = 0;
        for (size_t i = 0; i < rf_ckpt_count(ck); i++) {
            const rf_st_file_t *f;
            const rf_st_tensor_t *t;
            rf_ckpt_at(ck, i, &f, &t);
            const char *label = rf_st_label(f);
            size_t ll = strlen(label), nl = strlen(name);
            held += ll >= nl && !strcmp(label + ll - nl, name);
        }
        CHECK(held > 0, "%s: %s holds no tensor", preset, name);
    }
}

static void no_temporaries(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        CHECK(n < 4 || strcmp(e->d_name + n - 4, ".tmp") != 0, "%s: leftover %s", dir, e->d_name);
    }
    closedir(d);
}

static void check_preset_roundtrip(const char *preset) {
    rf_model_config_t c;
    int n_files;
    char dir[512];
    const uint64_t seed = 1234;
    CHECK(rf_synth_preset(preset, &c, &n_files) == REFIT_OK, "%s", rf_err_msg());
    snprintf(dir, sizeof dir, "%s/nested/%s", root, preset); /* exercises mkdir -p */
    progress_t pr = {.monotonic = true};
    rf_err_clear();
    refit_status st = rf_synth_write(dir, &c, n_files, seed, on_progress, &pr);
    CHECK(st == REFIT_OK, "%s: write: %s", preset, rf_err_msg());
    if (st != REFIT_OK) return;
    uint64_t total = 0;
    size_t tensors = 0;
    CHECK(rf_synth_total_bytes(&c, &total, &tensors) == REFIT_OK, "%s", rf_err_msg());
    CHECK(pr.files == n_files && pr.tensors == (int)tensors, "%s: progress %d files %d tensors",
          preset, pr.files, pr.tensors);
    CHECK(pr.monotonic && pr.last_done == total && pr.total == total, "%s: progress bytes",
          preset);
    no_temporaries(dir);

    rf_ckpt_t *ck = NULL;
    rf_err_clear();
    st = rf_ckpt_open(dir, &ck);
    CHECK(st == REFIT_OK, "%s: rf_ckpt_open: %s", preset, rf_err_msg());
    if (st != REFIT_OK) return;
    check_config(preset, rf_ckpt_config(ck), &c);
    check_tensors(preset, ck, &c, seed);
    check_files(preset, dir, ck, n_files);
    rf_ckpt_close(ck);
}

/* ---- determinism, rewrites and errors ------------------------------------ */

static bool same_file(const char *a, const char *b) {
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    bool same = fa && fb;
    while (same) {
        int x = fgetc(fa), y = fgetc(fb);
        if (x != y) same = false;
        if (x == EOF || y == EOF) break;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return same;
}

static void check_determinism(void) {
    rf_model_config_t c;
    int n_files;
    char a[512], b[512], d[512], fa[600], fb[600], fd[600];
    CHECK(rf_synth_preset("tiny", &c, &n_files) == REFIT_OK, "tiny");
    snprintf(a, sizeof a, "%s/det-a", root);
    snprintf(b, sizeof b, "%s/det-b", root);
    snprintf(d, sizeof d, "%s/det-d", root);
    CHECK(rf_synth_write(a, &c, n_files, 42, NULL, NULL) == REFIT_OK, "%s", rf_err_msg());
    CHECK(rf_synth_write(b, &c, n_files, 42, NULL, NULL) == REFIT_OK, "%s", rf_err_msg());
    CHECK(rf_synth_write(d, &c, n_files, 43, NULL, NULL) == REFIT_OK, "%s", rf_err_msg());
    for (int k = 1; k <= n_files; k++) {
        char name[64];
        snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", k, n_files);
        path_of(fa, sizeof fa, a, name);
        path_of(fb, sizeof fb, b, name);
        path_of(fd, sizeof fd, d, name);
        CHECK(same_file(fa, fb), "%s differs between identical writes", name);
        CHECK(!same_file(fa, fd), "%s identical across seeds", name);
    }
    path_of(fa, sizeof fa, a, "model.safetensors.index.json");
    path_of(fb, sizeof fb, b, "model.safetensors.index.json");
    CHECK(same_file(fa, fb), "index differs");

    /* Rewriting the directory as one file drops the stale index, so it
     * opens as the new single-file checkpoint. */
    CHECK(rf_synth_write(a, &c, 1, 42, NULL, NULL) == REFIT_OK, "%s", rf_err_msg());
    CHECK(!exists(a, "model.safetensors.index.json"), "stale index kept");
    rf_ckpt_t *ck = NULL;
    rf_err_clear();
    CHECK(rf_ckpt_open(a, &ck) == REFIT_OK, "reopen single file: %s", rf_err_msg());
    if (ck) {
        check_tensors("tiny (1 file)", ck, &c, 42);
        rf_ckpt_close(ck);
    }
    /* And back to several files drops the stale model.safetensors. */
    CHECK(rf_synth_write(a, &c, 5, 42, NULL, NULL) == REFIT_OK, "%s", rf_err_msg());
    CHECK(!exists(a, "model.safetensors") && exists(a, "model-00005-of-00005.safetensors"),
          "5-file rewrite");
}

/* A tensor big enough to be filled by several threads must hold the same
 * values as the element-wise definition, including an odd-sized tail. */
static void check_threaded_fill(void) {
    rf_model_config_t c;
    char dir[512];
    memset(&c, 0, sizeof c);
    snprintf(c.model_type, sizeof c.model_type, "llama");
    c.family = RF_FAM_LLAMA;
    c.hidden = 257;
    c.n_heads = c.n_kv_heads = 1;
    c.head_dim = 16;
    c.intermediate = 8;
    c.vocab = 65537; /* embed_tokens: 16,843,009 elements, 33.7 MB */
    c.n_layers = 1;
    snprintf(dir, sizeof dir, "%s/threaded", root);
    rf_err_clear();
    CHECK(rf_synth_write(dir, &c, 2, 99, NULL, NULL) == REFIT_OK, "%s", rf_err_msg());
    rf_ckpt_t *ck = NULL;
    CHECK(rf_ckpt_open(dir, &ck) == REFIT_OK, "%s", rf_err_msg());
    if (!ck) return;
    check_tensors("threaded", ck, &c, 99);
    rf_ckpt_close(ck);
}

static void expect_write_error(const char *dir, const rf_model_config_t *c, int n_files,
                               refit_status code, const char *msg) {
    rf_err_clear();
    refit_status st = rf_synth_write(dir, c, n_files, 1, NULL, NULL);
    CHECK(st == code, "status %s, want %s (%s)", refit_status_str(st), refit_status_str(code),
          rf_err_msg());
    CHECK(strstr(rf_err_msg(), msg), "message '%s' lacks '%s'", rf_err_msg(), msg);
}

static void check_errors(void) {
    rf_model_config_t c;
    size_t tensors = 0;
    char dir[512], file[512];
    CHECK(rf_synth_preset("tiny", &c, NULL) == REFIT_OK, "tiny");
    CHECK(rf_synth_total_bytes(&c, NULL, &tensors) == REFIT_OK, "%s", rf_err_msg());
    snprintf(dir, sizeof dir, "%s/err", root);
    expect_write_error(dir, &c, 0, REFIT_ERR_INVALID_ARG, "0 files");
    expect_write_error(dir, &c, (int)tensors + 1, REFIT_ERR_INVALID_ARG, "files for");
    rf_model_config_t bad = c;
    bad.qkv_bias = true; /* llama with bias cannot be expressed in config.json */
    expect_write_error(dir, &bad, 1, REFIT_ERR_INVALID_ARG, "qkv_bias");
    bad = c;
    bad.n_heads = 0;
    expect_write_error(dir, &bad, 1, REFIT_ERR_INVALID_ARG, "num_attention_heads");
    /* A path component that is a regular file. */
    snprintf(file, sizeof file, "%s/plainfile", root);
    FILE *f = fopen(file, "w");
    if (f) fclose(f);
    snprintf(dir, sizeof dir, "%s/plainfile/sub", root);
    expect_write_error(dir, &c, 1, REFIT_ERR_IO, "plainfile");
}

int main(void) {
    const char *tmp = getenv("TMPDIR");
    snprintf(root, sizeof root, "%s/refit-test-synth-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(root)) {
        fprintf(stderr, "mkdtemp %s: %s\n", root, strerror(errno));
        return 1;
    }
    check_presets();
    check_values();
    static const char *const tiny[] = {"tiny", "tiny-qwen2", "tiny-qwen3", "tiny-mistral",
                                       "tiny-qwen3-moe", "tiny-qwen2-moe", "tiny-mixtral"};
    for (size_t i = 0; i < sizeof tiny / sizeof tiny[0]; i++) check_preset_roundtrip(tiny[i]);
    check_determinism();
    check_threaded_fill();
    check_errors();
    remove_tree(root);
    if (failures) {
        fprintf(stderr, "test_synth: %d failures\n", failures);
        return 1;
    }
    printf("test_synth: ok\n");
    return 0;
}
