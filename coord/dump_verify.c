/* rf_dump_verify (refit_tool.h): a dump directory against its manifest. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dump_set.h"
#include "refit_tool.h"
#include "rf_fileio.h"
#include "safetensors.h"

typedef struct {
    FILE *out;
    bool mixed, missing;
} verdict_t;

/* The generation a rank file's __metadata__ records, or -1 (reported). */
static long long file_generation(const char *path, verdict_t *v) {
    rf_st_file_t *f = NULL;
    if (rf_st_open(path, &f) != REFIT_OK) {
        fprintf(v->out, "  %s: unreadable: %s\n", path, rf_err_msg());
        rf_err_clear();
        v->mixed = true;
        return -1;
    }
    const char *g = rf_st_meta(f, "generation");
    long long gen = g ? strtoll(g, NULL, 10) : -1;
    rf_st_close(f);
    return gen;
}

/* One file the manifest lists: present, same size and digest, and a rank
 * file of the manifest's generation. */
static void check_entry(const char *dir, const json_t *e, long long gen, verdict_t *v) {
    const char *name = json_string_value(json_object_get(e, "name"));
    const char *want = json_string_value(json_object_get(e, "digest"));
    json_int_t size = json_integer_value(json_object_get(e, "size"));
    if (!name || !want || strchr(name, '/')) {
        fprintf(v->out, "  manifest entry without a plain name and digest\n");
        v->mixed = true;
        return;
    }
    char path[4200], hex[24];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    uint64_t got_size = 0, got = 0;
    struct stat sb;
    if (stat(path, &sb) != 0) {
        fprintf(v->out, "  %s: missing\n", name);
        v->missing = true;
        return;
    }
    if (rf_dump_file_digest(path, &got_size, &got) != REFIT_OK) {
        fprintf(v->out, "  %s: %s\n", name, rf_err_msg());
        rf_err_clear();
        v->mixed = true;
        return;
    }
    snprintf(hex, sizeof hex, "%016" PRIx64, got);
    long long fgen = strcmp(name, RF_DUMP_SNAPSHOT) ? file_generation(path, v) : gen;
    bool ok = got_size == (uint64_t)size && !strcmp(hex, want) && fgen == gen;
    fprintf(v->out, "  %s: %s (%" PRIu64 " bytes, digest %s%s%s)\n", name, ok ? "ok" : "DIFFERS", got_size, hex,
            strcmp(hex, want) ? ", manifest says " : "", strcmp(hex, want) ? want : "");
    if (fgen != gen) fprintf(v->out, "  %s: holds generation %lld, manifest says %lld\n", name, fgen, gen);
    if (!ok) v->mixed = true;
}

/* Without a manifest: the rank files there and their generations. */
static void list_rank_files(const char *dir, verdict_t *v) {
    DIR *d = opendir(dir);
    long long first = -2;
    if (!d) return;
    for (struct dirent *e; (e = readdir(d));) {
        if (strncmp(e->d_name, "rank-", 5) || !strstr(e->d_name, ".safetensors") || e->d_name[0] == '.') continue;
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        long long g = file_generation(path, v);
        fprintf(v->out, "  %s: generation %lld\n", e->d_name, g);
        if (first != -2 && g != first) v->mixed = true;
        first = g;
    }
    (void)closedir(d); /* read-only */
}

int rf_dump_verify(const char *dir, FILE *out) {
    verdict_t v = {.out = out};
    char path[4200];
    char *text = NULL;
    size_t len = 0;
    snprintf(path, sizeof path, "%s/%s", dir, RF_DUMP_MANIFEST);
    json_t *root = NULL;
    if (rf_read_small(path, 64u << 20, &text, &len) == REFIT_OK) root = json_loadb(text, len, 0, NULL);
    free(text);
    const json_t *files = json_object_get(root, "files");
    long long gen = json_integer_value(json_object_get(root, "generation"));
    if (!root || !json_is_array(files) || !json_is_integer(json_object_get(root, "generation"))) {
        fprintf(out, "%s: no readable manifest %s%s%s\n", dir, RF_DUMP_MANIFEST, rf_err_msg()[0] ? ": " : "",
                rf_err_msg());
        rf_err_clear();
        list_rank_files(dir, &v);
        v.missing = true;
    } else {
        fprintf(out, "%s: manifest: generation %lld, world %lld, tp %lld, scheme %s, %zu files\n", dir, gen,
                (long long)json_integer_value(json_object_get(root, "world")),
                (long long)json_integer_value(json_object_get(root, "tp")),
                json_string_value(json_object_get(root, "scheme")) ? json_string_value(json_object_get(root, "scheme"))
                                                                    : "?",
                json_array_size(files));
        size_t i;
        const json_t *e;
        json_array_foreach(files, i, e) check_entry(dir, e, gen, &v);
    }
    json_decref(root);
    const char *verdict = v.mixed ? "mixed" : v.missing ? "incomplete" : "complete";
    fprintf(out, "%s: %s\n", dir, verdict);
    return v.mixed || v.missing ? 1 : 0;
}
