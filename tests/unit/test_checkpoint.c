/* Checkpoint directories: single file, sharded with an index, every way the
 * index and the files can disagree, and rf_index_parse on its own. */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint.h"

#include "check.h"

static char root[] = "/tmp/rf_test_ckpt_XXXXXX";


static void expect_err_at(int line, refit_status st, refit_status code, const char *want) {
    if (st != code || !strstr(rf_err_msg(), want)) {
        fprintf(stderr, "%s:%d: expected %s containing \"%s\", got %s: \"%s\"\n", __FILE__, line,
                refit_status_str(code), want, refit_status_str(st), rf_err_msg());
        failures++;
    }
    rf_err_clear();
}
#define EXPECT_ERR(st, code, want) expect_err_at(__LINE__, (st), (code), (want))

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...) {
    static char bufs[8][1024];
    static int k;
    char *b = bufs[k++ % 8];
    va_list ap;
    va_start(ap, f);
    vsnprintf(b, sizeof bufs[0], f, ap);
    va_end(ap);
    return b;
}

/* A fresh checkpoint directory under root. */
static char *mkckpt(const char *name, bool with_config) {
    char *dir = strdup(fmt("%s/%s", root, name));
    if (mkdir(dir, 0755) != 0) {
        perror(dir);
        exit(1);
    }
    if (with_config) {
        FILE *fp = fopen(fmt("%s/config.json", dir), "w");
        fputs("{\"model_type\":\"llama\",\"hidden_size\":64,\"num_attention_heads\":4,"
              "\"num_key_value_heads\":2,\"intermediate_size\":128,\"vocab_size\":256,"
              "\"num_hidden_layers\":2,\"tie_word_embeddings\":true}",
              fp);
        fclose(fp);
    }
    return dir;
}

/* Writes dir/file with one F32 [2] tensor per name (a NULL-terminated list);
 * tensor k holds {k, -k}. */
static void write_st(const char *dir, const char *file, const char *const *names) {
    rf_st_writer_t *w = NULL;
    uint64_t shape[1] = {2};
    static float vals[64][2];
    if (rf_st_writer_create(&w) != REFIT_OK) exit(1);
    for (int k = 0; names[k]; k++) {
        vals[k][0] = (float)k;
        vals[k][1] = -(float)k;
        if (rf_st_writer_add(w, names[k], RF_DT_F32, 1, shape, vals[k]) != REFIT_OK) exit(1);
    }
    if (rf_st_writer_write(w, fmt("%s/%s", dir, file), NULL, NULL) != REFIT_OK) {
        fprintf(stderr, "write_st: %s\n", rf_err_msg());
        exit(1);
    }
    rf_st_writer_destroy(w);
}

static void write_text(const char *dir, const char *file, const char *text) {
    FILE *fp = fopen(fmt("%s/%s", dir, file), "w");
    if (!fp) exit(1);
    fputs(text, fp);
    fclose(fp);
}

static void rmtree(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char *p = fmt("%s/%s", dir, e->d_name);
        struct stat sb;
        if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode)) {
            char *sub = strdup(p);
            rmtree(sub);
            free(sub);
        } else if (unlink(p) != 0) {
            fprintf(stderr, "unlink %s: %s\n", p, strerror(errno));
            failures++;
        }
    }
    closedir(d);
    if (rmdir(dir) != 0) {
        fprintf(stderr, "rmdir %s: %s\n", dir, strerror(errno));
        failures++;
    }
}

static const char *const A_NAMES[] = {"model.embed_tokens.weight", "model.norm.weight", NULL};
static const char *const B_NAMES[] = {"model.layers.0.mlp.down_proj.weight",
                                      "model.layers.0.input_layernorm.weight", NULL};

#define INDEX_AB                                                                   \
    "{\"metadata\":{\"total_size\":32},\"weight_map\":{"                           \
    "\"model.embed_tokens.weight\":\"model-00001-of-00002.safetensors\","          \
    "\"model.layers.0.mlp.down_proj.weight\":\"model-00002-of-00002.safetensors\"," \
    "\"model.layers.0.input_layernorm.weight\":\"model-00002-of-00002.safetensors\"," \
    "\"model.norm.weight\":\"model-00001-of-00002.safetensors\"}}"

static void test_single(void) {
    char *dir = mkckpt("single", true);
    write_st(dir, "model.safetensors", A_NAMES);
    rf_ckpt_t *c = NULL;
    /* A trailing slash is dropped from messages. */
    refit_status st = rf_ckpt_open(fmt("%s/", dir), &c);
    CHECK(st == REFIT_OK);
    if (st != REFIT_OK) {
        fprintf(stderr, "open: %s\n", rf_err_msg());
        goto out;
    }
    CHECK(!strcmp(rf_ckpt_dir(c), dir));
    CHECK(rf_ckpt_config(c)->family == RF_FAM_LLAMA && rf_ckpt_config(c)->tie_embeddings &&
          rf_ckpt_config(c)->head_dim == 16);
    CHECK(rf_ckpt_count(c) == 2);
    const rf_st_file_t *f = NULL;
    const rf_st_tensor_t *t = NULL;
    rf_ckpt_at(c, 1, &f, &t);
    CHECK(t && !strcmp(t->name, "model.norm.weight"));
    CHECK(f && !strcmp(rf_st_label(f), fmt("%s/model.safetensors", dir)));
    float v[2] = {0, 0};
    CHECK(rf_ckpt_find(c, "model.norm.weight", &f, &t) == REFIT_OK && t &&
          rf_st_read(f, t, 0, sizeof v, v) == REFIT_OK && v[1] == -1.0f);
    f = NULL;
    t = NULL;
    EXPECT_ERR(rf_ckpt_find(c, "lm_head.weight", &f, &t), REFIT_ERR_MISMATCH,
               fmt("%s: tensor lm_head.weight missing", dir));
    CHECK(f == NULL && t == NULL);
    rf_ckpt_close(c);
out:
    free(dir);
}

static void test_sharded(void) {
    char *dir = mkckpt("sharded", true);
    write_st(dir, "model-00001-of-00002.safetensors", A_NAMES);
    write_st(dir, "model-00002-of-00002.safetensors", B_NAMES);
    write_text(dir, "model.safetensors.index.json", INDEX_AB);
    rf_ckpt_t *c = NULL;
    refit_status st = rf_ckpt_open(dir, &c);
    CHECK(st == REFIT_OK);
    if (st != REFIT_OK) {
        fprintf(stderr, "open: %s\n", rf_err_msg());
        goto out;
    }
    CHECK(rf_ckpt_count(c) == 4);
    const rf_st_file_t *f;
    const rf_st_tensor_t *t;
    /* Order: files in first-seen index order, then data order. */
    const char *order[] = {A_NAMES[0], A_NAMES[1], B_NAMES[0], B_NAMES[1]};
    for (size_t i = 0; i < 4; i++) {
        rf_ckpt_at(c, i, &f, &t);
        CHECK(!strcmp(t->name, order[i]));
    }
    CHECK(rf_ckpt_find(c, "model.layers.0.input_layernorm.weight", &f, &t) == REFIT_OK);
    float v0 = 0;
    CHECK(strstr(rf_st_label(f), "model-00002-of-00002.safetensors") &&
          rf_st_read(f, t, 0, sizeof v0, &v0) == REFIT_OK && v0 == 1.0f);
    rf_ckpt_close(c);
out:
    free(dir);
}

/* Opens `dir` expecting failure with `code` and `want`. */
static void open_bad_at(int line, const char *dir, refit_status code, const char *want) {
    rf_ckpt_t *c = NULL;
    refit_status st = rf_ckpt_open(dir, &c);
    expect_err_at(line, st, code, want);
    if (c) {
        fprintf(stderr, "%s:%d: output set on failure\n", __FILE__, line);
        failures++;
        rf_ckpt_close(c);
    }
}
#define OPEN_BAD(dir, code, want) open_bad_at(__LINE__, (dir), (code), (want))

static void test_bad_dirs(void) {
    char *dir = mkckpt("noconfig", false);
    write_st(dir, "model.safetensors", A_NAMES);
    OPEN_BAD(dir, REFIT_ERR_IO, fmt("%s/config.json: open: No such file or directory", dir));
    free(dir);

    dir = mkckpt("noweights", true);
    OPEN_BAD(dir, REFIT_ERR_IO, fmt("%s/model.safetensors: open: No such file or directory", dir));
    free(dir);

    dir = mkckpt("badconfig", true);
    write_text(dir, "config.json", "{\"model_type\":\"t5\"}");
    write_st(dir, "model.safetensors", A_NAMES);
    OPEN_BAD(dir, REFIT_ERR_UNSUPPORTED, fmt("%s/config.json: model_type 't5'", dir));
    free(dir);

    /* Index names a file that is not there. */
    dir = mkckpt("missingfile", true);
    write_st(dir, "model-00001-of-00002.safetensors", A_NAMES);
    write_text(dir, "model.safetensors.index.json", INDEX_AB);
    OPEN_BAD(dir, REFIT_ERR_IO,
             fmt("%s/model-00002-of-00002.safetensors: open: No such file or directory", dir));
    free(dir);

    /* A tensor sits in the other file than the map says. */
    dir = mkckpt("wrongfile", true);
    const char *const a2[] = {"model.embed_tokens.weight", "model.norm.weight",
                              "model.layers.0.input_layernorm.weight", NULL};
    const char *const b2[] = {"model.layers.0.mlp.down_proj.weight", NULL};
    write_st(dir, "model-00001-of-00002.safetensors", a2);
    write_st(dir, "model-00002-of-00002.safetensors", b2);
    write_text(dir, "model.safetensors.index.json", INDEX_AB);
    OPEN_BAD(dir, REFIT_ERR_FORMAT,
             fmt("%s/model.safetensors.index.json: tensor model.layers.0.input_layernorm.weight "
                 "is mapped to model-00002-of-00002.safetensors but is in "
                 "model-00001-of-00002.safetensors",
                 dir));
    free(dir);

    /* A file holds a tensor the map does not list. */
    dir = mkckpt("unmapped", true);
    const char *const b3[] = {"model.layers.0.mlp.down_proj.weight",
                              "model.layers.0.input_layernorm.weight",
                              "model.layers.0.extra.weight", NULL};
    write_st(dir, "model-00001-of-00002.safetensors", A_NAMES);
    write_st(dir, "model-00002-of-00002.safetensors", b3);
    write_text(dir, "model.safetensors.index.json", INDEX_AB);
    OPEN_BAD(dir, REFIT_ERR_FORMAT,
             fmt("%s/model.safetensors.index.json: tensor model.layers.0.extra.weight (in "
                 "model-00002-of-00002.safetensors) is not in weight_map",
                 dir));
    free(dir);

    /* The map lists a tensor no file has. */
    dir = mkckpt("mapextra", true);
    const char *const b4[] = {"model.layers.0.mlp.down_proj.weight", NULL};
    write_st(dir, "model-00001-of-00002.safetensors", A_NAMES);
    write_st(dir, "model-00002-of-00002.safetensors", b4);
    write_text(dir, "model.safetensors.index.json", INDEX_AB);
    OPEN_BAD(dir, REFIT_ERR_FORMAT,
             fmt("%s/model.safetensors.index.json: tensor model.layers.0.input_layernorm.weight "
                 "is mapped to model-00002-of-00002.safetensors but "
                 "model-00002-of-00002.safetensors has no such tensor",
                 dir));
    free(dir);

    /* The same name in two files. */
    dir = mkckpt("twice", true);
    const char *const b5[] = {"model.layers.0.mlp.down_proj.weight",
                              "model.layers.0.input_layernorm.weight", "model.norm.weight", NULL};
    write_st(dir, "model-00001-of-00002.safetensors", A_NAMES);
    write_st(dir, "model-00002-of-00002.safetensors", b5);
    write_text(dir, "model.safetensors.index.json", INDEX_AB);
    OPEN_BAD(dir, REFIT_ERR_FORMAT,
             fmt("%s: tensor model.norm.weight is in both model-00001-of-00002.safetensors and "
                 "model-00002-of-00002.safetensors",
                 dir));
    free(dir);

    /* A malformed shard file is reported with its path. */
    dir = mkckpt("badshard", true);
    write_st(dir, "model-00001-of-00002.safetensors", A_NAMES);
    write_text(dir, "model-00002-of-00002.safetensors", "garbage!!");
    write_text(dir, "model.safetensors.index.json", INDEX_AB);
    OPEN_BAD(dir, REFIT_ERR_FORMAT,
             fmt("%s/model-00002-of-00002.safetensors: byte 0: header length", dir));
    free(dir);

    /* The index itself is malformed. */
    dir = mkckpt("badindex", true);
    write_st(dir, "model.safetensors", A_NAMES);
    write_text(dir, "model.safetensors.index.json",
               "{\"weight_map\":{\"model.norm.weight\":\"../model.safetensors\"}}");
    OPEN_BAD(dir, REFIT_ERR_FORMAT,
             fmt("%s/model.safetensors.index.json: tensor model.norm.weight: file name "
                 "'../model.safetensors' is not a plain file name",
                 dir));
    free(dir);
}

static void index_bad_at(int line, const char *json, const char *want) {
    rf_index_t *ix = NULL;
    refit_status st = rf_index_parse(json, strlen(json), "ix.json", &ix);
    expect_err_at(line, st, REFIT_ERR_FORMAT, want);
    if (ix) {
        fprintf(stderr, "%s:%d: output set on failure\n", __FILE__, line);
        failures++;
        rf_index_free(ix);
    }
}
#define INDEX_BAD(json, want) index_bad_at(__LINE__, (json), (want))

static void test_index_parse(void) {
    rf_index_t *ix = NULL;
    CHECK(rf_index_parse(INDEX_AB, strlen(INDEX_AB), "ix.json", &ix) == REFIT_OK);
    if (ix) {
        CHECK(rf_index_count(ix) == 4 && rf_index_file_count(ix) == 2);
        CHECK(!strcmp(rf_index_file(ix, 0), "model-00001-of-00002.safetensors"));
        CHECK(!strcmp(rf_index_file(ix, 1), "model-00002-of-00002.safetensors"));
        const char *t, *f;
        rf_index_at(ix, 1, &t, &f);
        CHECK(!strcmp(t, "model.layers.0.mlp.down_proj.weight") &&
              !strcmp(f, "model-00002-of-00002.safetensors"));
        rf_index_free(ix);
    }
    ix = NULL;
    const char *nometa = "{\"weight_map\":{\"a\":\"x.safetensors\"},\"extra\":[1]}";
    CHECK(rf_index_parse(nometa, strlen(nometa), "ix.json", &ix) == REFIT_OK && ix &&
          rf_index_count(ix) == 1);
    rf_index_free(ix);

    INDEX_BAD("", "ix.json: byte 0: invalid JSON");
    INDEX_BAD("[]", "ix.json: top level is not a JSON object");
    INDEX_BAD("{\"metadata\":{}}", "ix.json: weight_map missing");
    INDEX_BAD("{\"weight_map\":[\"a\"]}", "ix.json: weight_map is not an object");
    INDEX_BAD("{\"weight_map\":{}}", "ix.json: weight_map is empty");
    INDEX_BAD("{\"metadata\":5,\"weight_map\":{\"a\":\"x\"}}", "ix.json: metadata is not an object");
    INDEX_BAD("{\"weight_map\":{\"a\":1}}", "ix.json: weight_map: tensor a: file is not a string");
    INDEX_BAD("{\"weight_map\":{\"a\":\"x\",\"a\":\"y\"}}", "duplicate object key");
    INDEX_BAD("{\"weight_map\":{\"a\":\"\"}}", "tensor a: file name '' is not a plain file name");
    INDEX_BAD("{\"weight_map\":{\"a\":\".\"}}", "file name '.' is not a plain file name");
    INDEX_BAD("{\"weight_map\":{\"a\":\"..\"}}", "file name '..' is not a plain file name");
    INDEX_BAD("{\"weight_map\":{\"a\":\"/etc/passwd\"}}", "file name '/etc/passwd' is not a plain");
    INDEX_BAD("{\"weight_map\":{\"a\":\"sub/x.safetensors\"}}", "is not a plain file name");
    char big[400];
    snprintf(big, sizeof big, "{\"weight_map\":{\"%0300d\":\"x\"}}", 0);
    INDEX_BAD(big, "is 300 bytes, limit 255");
}

/* ~10,000 tensors over 3 files: every lookup finds the right file and data. */
enum { MANY = 10000, MANY_FILES = 3 };

/* Tensor number i of file fi is model.layers.K.w with K = fi + i * MANY_FILES,
 * holding the U16 value K. */
static refit_status fill_many(void *user, size_t index, uint8_t *dst, uint64_t nbytes) {
    int k = *(int *)user + (int)index * MANY_FILES;
    if (nbytes != 2) return rf_error(REFIT_ERR_INTERNAL, "fill_many: %llu bytes",
                                     (unsigned long long)nbytes);
    dst[0] = (uint8_t)k;
    dst[1] = (uint8_t)(k >> 8);
    return REFIT_OK;
}

static void test_many(void) {
    char *dir = mkckpt("many", true);
    size_t cap = (size_t)MANY * 64 + 64, off = 0;
    char *index = malloc(cap);
    off += (size_t)snprintf(index + off, cap - off, "{\"weight_map\":{");
    for (int fi = 0; fi < MANY_FILES; fi++) {
        rf_st_writer_t *w = NULL;
        uint64_t shape[1] = {1};
        CHECK(rf_st_writer_create(&w) == REFIT_OK);
        for (int k = fi; k < MANY; k += MANY_FILES) {
            char name[64];
            snprintf(name, sizeof name, "model.layers.%d.w", k);
            CHECK(rf_st_writer_add(w, name, RF_DT_U16, 1, shape, NULL) == REFIT_OK);
            off += (size_t)snprintf(index + off, cap - off, "%s\"%s\":\"f%d.safetensors\"",
                                    k ? "," : "", name, fi);
        }
        CHECK(rf_st_writer_write(w, fmt("%s/f%d.safetensors", dir, fi), fill_many, &fi) ==
              REFIT_OK);
        rf_st_writer_destroy(w);
    }
    snprintf(index + off, cap - off, "}}");
    write_text(dir, "model.safetensors.index.json", index);
    free(index);

    rf_ckpt_t *c = NULL;
    double t0 = rf_now();
    refit_status st = rf_ckpt_open(dir, &c);
    double t1 = rf_now();
    CHECK(st == REFIT_OK);
    if (st == REFIT_OK) {
        CHECK(rf_ckpt_count(c) == MANY);
        for (int k = 0; k < MANY; k++) {
            char name[64];
            snprintf(name, sizeof name, "model.layers.%d.w", k);
            const rf_st_file_t *f = NULL;
            const rf_st_tensor_t *t = NULL;
            if (rf_ckpt_find(c, name, &f, &t) != REFIT_OK) {
                fprintf(stderr, "find %s: %s\n", name, rf_err_msg());
                failures++;
                break;
            }
            uint8_t d[2] = {0, 0};
            CHECK(rf_st_read(f, t, 0, 2, d) == REFIT_OK && (d[0] | d[1] << 8) == k);
            CHECK(strstr(rf_st_label(f), fmt("/f%d.safetensors", k % MANY_FILES)));
        }
        rf_ckpt_close(c);
    } else {
        fprintf(stderr, "open many: %s\n", rf_err_msg());
    }
    rf_err_clear();
    printf("opened %d tensors in %d files in %.3f s\n", MANY, MANY_FILES, t1 - t0);
    free(dir);
}

int main(void) {
    if (!mkdtemp(root)) {
        perror("mkdtemp");
        return 1;
    }
    test_single();
    test_sharded();
    test_bad_dirs();
    test_index_parse();
    test_many();
    rmtree(root);
    if (failures) {
        fprintf(stderr, "test_checkpoint: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_checkpoint: ok\n");
    return 0;
}
