/* `refit inspect`: a safetensors file, a checkpoint directory, a saved
 * snapshot, or a directory `refit run --dump` wrote (its ranks side by side). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "checkpoint.h"
#include "commands.h"
#include "rf_fileio.h"
#include "options.h"
#include "refit_tool.h"
#include "snapshot.h"
#include "units.h"

static int fail(void) {
    fprintf(stderr, "refit inspect: %s\n", rf_err_msg());
    return 1;
}

static void print_shape(const rf_st_tensor_t *t) {
    putchar('[');
    for (int d = 0; d < t->ndim; d++) printf("%s%llu", d ? "," : "", (unsigned long long)t->shape[d]);
    putchar(']');
}

static int inspect_safetensors(const char *path) {
    rf_st_file_t *f;
    if (rf_st_open(path, &f) != REFIT_OK) return fail();
    printf("%s: safetensors, %zu tensors, data at byte %llu\n", path, rf_st_count(f),
           (unsigned long long)rf_st_data_start(f));
    for (size_t i = 0; i < rf_st_meta_count(f); i++) {
        const char *k, *v;
        rf_st_meta_at(f, i, &k, &v);
        printf("  metadata %s = %s\n", k, v);
    }
    for (size_t i = 0; i < rf_st_count(f); i++) {
        const rf_st_tensor_t *t = rf_st_at(f, i);
        printf("  %-60s %-8s ", t->name, rf_dtype_name(t->dtype));
        print_shape(t);
        printf(" bytes [%llu,%llu)\n", (unsigned long long)t->begin, (unsigned long long)t->end);
    }
    rf_st_close(f);
    return 0;
}

static int inspect_snapshot(const char *path) {
    char *buf = NULL;
    size_t n = 0;
    if (rf_read_small(path, (size_t)1 << 30, &buf, &n) != REFIT_OK) return fail();
    rf_snap_t *s;
    refit_status st = rf_snap_decode((const uint8_t *)buf, n, path, &s);
    if (st == REFIT_OK) {
        printf("%s: digest %016llx\n", path, (unsigned long long)rf_snap_digest((const uint8_t *)buf, n));
        rf_snap_print(s, stdout);
        rf_snap_free(s);
    }
    free(buf);
    return st == REFIT_OK ? 0 : fail();
}

static int inspect_checkpoint(const char *dir) {
    rf_ckpt_t *c;
    if (rf_ckpt_open(dir, &c) != REFIT_OK) return fail();
    const rf_model_config_t *cfg = rf_ckpt_config(c);
    printf("%s: %s checkpoint, %zu tensors, hidden %lld, %lld layers, vocab %lld\n", dir, cfg->model_type,
           rf_ckpt_count(c), (long long)cfg->hidden, (long long)cfg->n_layers, (long long)cfg->vocab);
    for (size_t i = 0; i < rf_ckpt_count(c); i++) {
        const rf_st_file_t *f;
        const rf_st_tensor_t *t;
        rf_ckpt_at(c, i, &f, &t);
        printf("  %-60s %-6s ", t->name, rf_dtype_name(t->dtype));
        print_shape(t);
        const char *base = strrchr(rf_st_label(f), '/');
        printf("  %s\n", base ? base + 1 : rf_st_label(f));
    }
    rf_ckpt_close(c);
    return 0;
}

/* ---- a --dump directory (SPEC §5): rank-RRRRR-of-NNNNN.safetensors ------ */
#define MAX_RANK_FILES 65536

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The dump's rank files, sorted (so by rank); *n = how many. */
static char **rank_files(const char *dir, size_t *n) {
    *n = 0;
    DIR *d = opendir(dir);
    char **names = d ? calloc(MAX_RANK_FILES, sizeof *names) : NULL;
    for (struct dirent *e; names && (e = readdir(d)) && *n < MAX_RANK_FILES;) {
        int r, w, end = 0;
        if (sscanf(e->d_name, "rank-%5d-of-%5d.safetensors%n", &r, &w, &end) == 2 && !e->d_name[end])
            names[(*n)++] = strdup(e->d_name);
    }
    if (d) closedir(d);
    if (names) qsort(names, *n, sizeof *names, cmp_str);
    return names;
}

static const char *meta(const rf_st_file_t *f, const char *key) {
    const char *v = rf_st_meta(f, key);
    return v ? v : "?";
}

/* One row per rank; returns -1 when a file cannot be read, else its generation. */
static long long dump_row(const char *dir, const char *name, char *scheme, size_t cap) {
    char path[4400], hb[24];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    rf_st_file_t *f;
    if (rf_st_open(path, &f) != REFIT_OK) {
        fprintf(stderr, "refit inspect: %s\n", rf_err_msg());
        rf_err_clear();
        return -1;
    }
    uint64_t bytes = 0;
    for (size_t i = 0; i < rf_st_count(f); i++) bytes += rf_st_at(f, i)->end - rf_st_at(f, i)->begin;
    printf("%6s %8s %11s  %-11s %8zu %10s  %s\n", meta(f, "rank"), meta(f, "tp_rank"), meta(f, "generation"),
           meta(f, "scheme"), rf_st_count(f), rf_human_bytes(bytes, hb, sizeof hb), name);
    snprintf(scheme, cap, "%s", meta(f, "scheme"));
    long long gen = atoll(meta(f, "generation"));
    rf_st_close(f);
    return gen;
}

static bool access_snapshot(const char *dir) {
    char path[4400];
    struct stat sb;
    snprintf(path, sizeof path, "%s/snapshot.refit", dir);
    return stat(path, &sb) == 0;
}

/* The ranks side by side, then the verdict of the dump's manifest
 * (rf_dump_verify: complete, incomplete or mixed, its last line). */
static int inspect_dump(const char *dir, char **names, size_t n) {
    int world = 0, bad = 0;
    if (n) sscanf(names[0], "rank-%*5d-of-%5d", &world);
    printf("%s: refit dump, %zu rank file%s (world %d)%s\n", dir, n, n == 1 ? "" : "s", world,
           access_snapshot(dir) ? ", snapshot.refit present" : "");
    printf("%6s %8s %11s  %-11s %8s %10s  %s\n", "rank", "tp_rank", "generation", "scheme", "tensors", "bytes", "file");
    char scheme[64];
    for (size_t i = 0; i < n; i++) bad |= dump_row(dir, names[i], scheme, sizeof scheme) < 0;
    fflush(stdout);
    return rf_dump_verify(dir, stdout) || bad ? 1 : 0;
}

/* A checkpoint (config.json), else a dump (rank files, its manifest or snapshot). */
static int inspect_dir(const char *dir) {
    char path[4400];
    struct stat sb;
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (stat(path, &sb) == 0) return inspect_checkpoint(dir);
    size_t n;
    char **names = rank_files(dir, &n);
    snprintf(path, sizeof path, "%s/refit-dump.json", dir);
    bool dump = n || stat(path, &sb) == 0 || access_snapshot(dir);
    int rc = dump ? inspect_dump(dir, names, n) : inspect_checkpoint(dir); /* neither: the checkpoint's error */
    for (size_t i = 0; names && i < n; i++) free(names[i]);
    free(names);
    return rc;
}

int rf_cmd_inspect(int argc, char **argv) {
    rf_opts_t o;
    int rc = rf_opts_front(RF_CMD_INSPECT, argc, argv, &o, false, NULL);
    if (rc >= 0) return rc;
    if (o.n_positional != 1) {
        fprintf(stderr, "refit inspect: give one FILE or DIR\n");
        return 2;
    }
    const char *path = o.positional[0];
    struct stat sb;
    if (stat(path, &sb) != 0) {
        fprintf(stderr, "refit inspect: %s: %m\n", path);
        return 1;
    }
    if (S_ISDIR(sb.st_mode)) return inspect_dir(path);
    FILE *fp = fopen(path, "rb");
    char magic[8] = {0};
    size_t got = fp ? fread(magic, 1, 8, fp) : 0;
    if (fp) (void)fclose(fp); /* read-only: the magic read is all that matters */
    if (got == 8 && !memcmp(magic, RF_SNAP_MAGIC, 8)) return inspect_snapshot(path);
    return inspect_safetensors(path);
}
