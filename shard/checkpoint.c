/* A checkpoint directory: config.json, the safetensors files (one, or those
 * an index names) and a name lookup across all of them. Opening validates
 * every file and, with an index, that index and files agree exactly, so
 * later stages can trust names, dtypes, shapes and offsets. */
#include "checkpoint.h"
#include "rf_fileid.h"
#include "rf_fileio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define INDEX_NAME "model.safetensors.index.json"
#define SINGLE_NAME "model.safetensors"
#define INDEX_MAX_FILE (256u << 20) /* ~100 bytes per entry: millions of tensors */
#define FILE_NAME_MAX 255           /* NAME_MAX of common filesystems */

/* Without model.safetensors and without an index, several *.safetensors
 * files are a sharded checkpoint whose index is missing: say that, rather
 * than that model.safetensors does not exist. */
static refit_status no_index(const char *dir) {
    DIR *d = opendir(dir);
    size_t n = 0;
    for (struct dirent *e; d && (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        n += len > 12 && !strcmp(e->d_name + len - 12, ".safetensors");
    }
    if (d) closedir(d);
    if (n < 2) return REFIT_OK;
    return rf_error(REFIT_ERR_FORMAT, "%s: %zu safetensors files but no %s", dir, n, INDEX_NAME);
}

/* ---- index ------------------------------------------------------------- */

struct rf_index {
    size_t count;
    char **tensors;   /* weight_map keys, in file order */
    size_t *file_of;  /* index into files */
    size_t *by_name;  /* entry indices sorted by tensor name */
    size_t n_files;
    char **files;     /* distinct file names, first-seen order */
};

void rf_index_free(rf_index_t *ix) {
    if (!ix) return;
    for (size_t i = 0; i < ix->count; i++) free(ix->tensors[i]);
    for (size_t i = 0; i < ix->n_files; i++) free(ix->files[i]);
    free(ix->tensors);
    free(ix->file_of);
    free(ix->by_name);
    free(ix->files);
    free(ix);
}

/* qsort has no context argument: the key array is reached through this. */
static _Thread_local char *const *sort_keys;
static int cmp_key_idx(const void *a, const void *b) {
    return strcmp(sort_keys[*(const size_t *)a], sort_keys[*(const size_t *)b]);
}

/* Entry index of `name` in the weight_map, or -1. */
static long ix_lookup(const rf_index_t *ix, const char *name) {
    size_t lo = 0, hi = ix->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, ix->tensors[ix->by_name[mid]]);
        if (c == 0) return (long)ix->by_name[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return -1;
}

/* A file name from the index must stay inside the checkpoint directory. */
static refit_status check_file_name(const char *label, const char *tensor, const char *file) {
    size_t len = strlen(file);
    if (len == 0 || len > FILE_NAME_MAX || strchr(file, '/') || !strcmp(file, ".") ||
        !strcmp(file, ".."))
        return rf_error(REFIT_ERR_FORMAT,
                        "%s: tensor %s: file name '%.64s' is not a plain file name", label, tensor,
                        file);
    return REFIT_OK;
}

/* Index of `file` in ix->files, appending it when first seen. */
static refit_status intern_file(rf_index_t *ix, const char *label, const char *file,
                                size_t *idx) {
    for (size_t i = 0; i < ix->n_files; i++)
        if (!strcmp(ix->files[i], file)) {
            *idx = i;
            return REFIT_OK;
        }
    char *copy = strdup(file);
    if (!copy) return rf_error(REFIT_ERR_NOMEM, "%s: out of memory", label);
    ix->files[ix->n_files] = copy;
    *idx = ix->n_files++;
    return REFIT_OK;
}

static refit_status parse_weight_map(rf_index_t *ix, const json_t *map, const char *label) {
    size_t n = json_object_size(map);
    if (n == 0) return rf_error(REFIT_ERR_FORMAT, "%s: weight_map is empty", label);
    ix->tensors = calloc(n, sizeof *ix->tensors);
    ix->file_of = calloc(n, sizeof *ix->file_of);
    ix->by_name = calloc(n, sizeof *ix->by_name);
    ix->files = calloc(n, sizeof *ix->files); /* at most one file per tensor */
    if (!ix->tensors || !ix->file_of || !ix->by_name || !ix->files)
        return rf_error(REFIT_ERR_NOMEM, "%s: out of memory for %zu entries", label, n);

    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)map, key, val) {
        size_t len = strlen(key);
        if (len > RF_NAME_MAX - 1)
            return rf_error(REFIT_ERR_FORMAT,
                            "%s: weight_map: tensor name '%.40s...' is %zu bytes, limit %d", label,
                            key, len, RF_NAME_MAX - 1);
        if (!json_is_string(val))
            return rf_error(REFIT_ERR_FORMAT, "%s: weight_map: tensor %s: file is not a string",
                            label, key);
        RF_CHECK(check_file_name(label, key, json_string_value(val)));
        RF_CHECK(intern_file(ix, label, json_string_value(val), &ix->file_of[ix->count]));
        if (!(ix->tensors[ix->count] = strdup(key)))
            return rf_error(REFIT_ERR_NOMEM, "%s: out of memory", label);
        ix->count++;
    }
    for (size_t i = 0; i < ix->count; i++) ix->by_name[i] = i;
    sort_keys = ix->tensors;
    qsort(ix->by_name, ix->count, sizeof *ix->by_name, cmp_key_idx);
    sort_keys = NULL;
    return REFIT_OK;
}

refit_status rf_index_parse(const char *json, size_t len, const char *label, rf_index_t **out) {
    refit_status st = REFIT_OK;
    rf_index_t *ix = NULL;
    if (!label) label = INDEX_NAME;
    if (!out || (!json && len))
        return rf_error(REFIT_ERR_INVALID_ARG, "%s: rf_index_parse: NULL argument", label);
    json_error_t jerr;
    /* Duplicate keys would make the weight_map ambiguous. */
    json_t *root = json_loadb(json ? json : "", len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return rf_error(REFIT_ERR_FORMAT, "%s: byte %d: invalid JSON: %s", label,
                        jerr.position > 0 ? jerr.position : 0, jerr.text);
    if (!json_is_object(root)) {
        st = rf_error(REFIT_ERR_FORMAT, "%s: top level is not a JSON object", label);
        goto out;
    }
    const json_t *meta = json_object_get(root, "metadata");
    if (meta && !json_is_object(meta) && !json_is_null(meta)) {
        st = rf_error(REFIT_ERR_FORMAT, "%s: metadata is not an object", label);
        goto out;
    }
    const json_t *map = json_object_get(root, "weight_map");
    if (!map) {
        st = rf_error(REFIT_ERR_FORMAT, "%s: weight_map missing", label);
        goto out;
    }
    if (!json_is_object(map)) {
        st = rf_error(REFIT_ERR_FORMAT, "%s: weight_map is not an object", label);
        goto out;
    }
    if (!(ix = calloc(1, sizeof *ix))) {
        st = rf_error(REFIT_ERR_NOMEM, "%s: out of memory", label);
        goto out;
    }
    RF_CHECK_GOTO(parse_weight_map(ix, map, label), out);
    *out = ix;
    ix = NULL;
out:
    rf_index_free(ix);
    json_decref(root);
    return st;
}

size_t rf_index_count(const rf_index_t *ix) { return ix->count; }

void rf_index_at(const rf_index_t *ix, size_t i, const char **tensor, const char **file) {
    bool ok = i < ix->count;
    if (tensor) *tensor = ok ? ix->tensors[i] : NULL;
    if (file) *file = ok ? ix->files[ix->file_of[i]] : NULL;
}

size_t rf_index_file_count(const rf_index_t *ix) { return ix->n_files; }

const char *rf_index_file(const rf_index_t *ix, size_t i) {
    return i < ix->n_files ? ix->files[i] : NULL;
}

/* ---- checkpoint -------------------------------------------------------- */

typedef struct {
    size_t file;
    const rf_st_tensor_t *t;
} ck_entry_t;

struct rf_ckpt {
    char *dir;
    rf_model_config_t cfg;
    size_t n_files;
    rf_st_file_t **files;
    char **file_names; /* plain names, as the index spells them */
    size_t count;
    ck_entry_t *all;    /* file order, then data-offset order */
    ck_entry_t *sorted; /* by tensor name */
    /* identities at open, checked again after the last byte was read */
    rf_file_id_t cfg_id, index_id;
    bool has_index;
    char **listing; /* the directory's entries, sorted */
    size_t n_listing;
};

static void free_listing(char **names, size_t n) {
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The directory's entries but . and .., sorted: a save that adds or
 * removes a file while a reload reads the directory shows up here. */
static refit_status list_dir(const char *dir, char ***out, size_t *n_out) {
    DIR *d = opendir(dir);
    if (!d) return rf_error(REFIT_ERR_IO, "%s: opendir: %s", dir, strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    refit_status st = REFIT_OK;
    for (struct dirent *e; st == REFIT_OK && (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (n == cap) {
            char **grown = realloc(names, (cap = cap ? 2 * cap : 16) * sizeof *names);
            if (!grown) {
                st = rf_error(REFIT_ERR_NOMEM, "%s: out of memory listing the directory", dir);
                break;
            }
            names = grown;
        }
        if (!(names[n] = strdup(e->d_name)))
            st = rf_error(REFIT_ERR_NOMEM, "%s: out of memory listing the directory", dir);
        else
            n++;
    }
    (void)closedir(d); /* a directory opened for reading: nothing to lose */
    if (st != REFIT_OK) {
        free_listing(names, n);
        return st;
    }
    qsort(names, n, sizeof *names, cmp_str);
    *out = names;
    *n_out = n;
    return REFIT_OK;
}

/* REFIT_ERR_IO naming the first entry that appeared or went away. */
static refit_status check_listing(const rf_ckpt_t *c) {
    char **now = NULL;
    size_t n = 0;
    RF_CHECK(list_dir(c->dir, &now, &n));
    size_t i = 0, j = 0;
    while (i < c->n_listing && j < n && !strcmp(c->listing[i], now[j])) i++, j++;
    refit_status st = REFIT_OK;
    if (i < c->n_listing || j < n) {
        bool gone = j == n || (i < c->n_listing && strcmp(c->listing[i], now[j]) < 0);
        rf_err_clear(); /* the change is the cause of whatever failed while reading */
        st = rf_error(REFIT_ERR_IO, "%s changed while it was read (%s %s)", c->dir,
                      gone ? c->listing[i] : now[j], gone ? "went away" : "appeared");
    }
    free_listing(now, n);
    return st;
}

void rf_ckpt_close(rf_ckpt_t *c) {
    if (!c) return;
    free(c->sorted);
    free(c->all);
    for (size_t i = 0; i < c->n_files; i++) {
        rf_st_close(c->files[i]);
        free(c->file_names[i]);
    }
    free(c->file_names);
    free(c->files);
    free_listing(c->listing, c->n_listing);
    free(c->dir);
    free(c);
}

static char *join(const char *dir, const char *name) {
    char *p;
    if (asprintf(&p, "%s/%s", dir, name) < 0) return NULL;
    return p;
}

/* Opens `name` in the directory as file number c->n_files. */
static refit_status open_file(rf_ckpt_t *c, const char *name) {
    char *path = join(c->dir, name), *copy = strdup(name);
    refit_status st = REFIT_OK;
    if (!path || !copy) {
        st = rf_error(REFIT_ERR_NOMEM, "%s: out of memory", c->dir);
        goto fail;
    }
    RF_CHECK_GOTO(rf_st_open(path, &c->files[c->n_files]), fail);
    c->file_names[c->n_files++] = copy;
    free(path);
    return REFIT_OK;
fail:
    free(copy);
    free(path);
    return st;
}

static int cmp_entry_name(const void *a, const void *b) {
    return strcmp(((const ck_entry_t *)a)->t->name, ((const ck_entry_t *)b)->t->name);
}

/* Flattens every file's tensors and builds the sorted name table; a name in
 * two files is an error (the index cannot say which one is meant). */
static refit_status build_tables(rf_ckpt_t *c) {
    size_t n = 0;
    for (size_t i = 0; i < c->n_files; i++) n += rf_st_count(c->files[i]);
    c->all = calloc(n ? n : 1, sizeof *c->all);
    c->sorted = calloc(n ? n : 1, sizeof *c->sorted);
    if (!c->all || !c->sorted)
        return rf_error(REFIT_ERR_NOMEM, "%s: out of memory for %zu tensors", c->dir, n);
    for (size_t i = 0; i < c->n_files; i++)
        for (size_t j = 0; j < rf_st_count(c->files[i]); j++)
            c->all[c->count++] = (ck_entry_t){.file = i, .t = rf_st_at(c->files[i], j)};
    memcpy(c->sorted, c->all, n * sizeof *c->all);
    qsort(c->sorted, n, sizeof *c->sorted, cmp_entry_name);
    for (size_t i = 1; i < n; i++)
        if (!strcmp(c->sorted[i - 1].t->name, c->sorted[i].t->name)) {
            size_t a = c->sorted[i - 1].file, b = c->sorted[i].file;
            if (a > b) { /* name them in file order, independent of qsort */
                size_t t = a;
                a = b;
                b = t;
            }
            return rf_error(REFIT_ERR_FORMAT, "%s: tensor %s is in both %s and %s", c->dir,
                            c->sorted[i].t->name, c->file_names[a], c->file_names[b]);
        }
    return REFIT_OK;
}

/* The index and the files must agree exactly, both ways. */
static refit_status check_index(const rf_ckpt_t *c, const rf_index_t *ix, const char *label) {
    for (size_t i = 0; i < c->count; i++) {
        const ck_entry_t *e = &c->all[i];
        long k = ix_lookup(ix, e->t->name);
        if (k < 0)
            return rf_error(REFIT_ERR_FORMAT, "%s: tensor %s (in %s) is not in weight_map", label,
                            e->t->name, c->file_names[e->file]);
        if (ix->file_of[k] != e->file)
            return rf_error(REFIT_ERR_FORMAT, "%s: tensor %s is mapped to %s but is in %s", label,
                            e->t->name, ix->files[ix->file_of[k]], c->file_names[e->file]);
    }
    for (size_t i = 0; i < ix->count; i++)
        if (!rf_st_find(c->files[ix->file_of[i]], ix->tensors[i]))
            return rf_error(REFIT_ERR_FORMAT, "%s: tensor %s is mapped to %s but %s has no such tensor",
                            label, ix->tensors[i], ix->files[ix->file_of[i]],
                            ix->files[ix->file_of[i]]);
    return REFIT_OK;
}

refit_status rf_ckpt_open(const char *dir, rf_ckpt_t **out) {
    refit_status st = REFIT_OK;
    rf_ckpt_t *c = NULL;
    rf_index_t *ix = NULL;
    char *path = NULL, *text = NULL;
    if (!dir || !out || !*dir) return rf_error(REFIT_ERR_INVALID_ARG, "rf_ckpt_open: no directory");

    if (!(c = calloc(1, sizeof *c)) || !(c->dir = strdup(dir))) {
        st = rf_error(REFIT_ERR_NOMEM, "%s: out of memory", dir);
        goto fail;
    }
    /* "ckpt/" and "ckpt" name the same directory; keep messages clean. */
    for (size_t l = strlen(c->dir); l > 1 && c->dir[l - 1] == '/'; l--) c->dir[l - 1] = '\0';

    RF_CHECK_GOTO(list_dir(c->dir, &c->listing, &c->n_listing), fail);
    if (!(path = join(c->dir, "config.json"))) goto nomem;
    size_t len = 0;
    RF_CHECK_GOTO(rf_read_small_id(path, RF_CFG_MAX_FILE, &text, &len, &c->cfg_id), fail);
    RF_CHECK_GOTO(rf_cfg_parse(text, len, path, &c->cfg), fail);
    free(text);
    text = NULL;
    free(path);

    if (!(path = join(c->dir, INDEX_NAME))) goto nomem;
    struct stat sb;
    if (stat(path, &sb) == 0) {
        c->has_index = true;
        RF_CHECK_GOTO(rf_read_small_id(path, INDEX_MAX_FILE, &text, &len, &c->index_id), fail);
        RF_CHECK_GOTO(rf_index_parse(text, len, path, &ix), fail);
        c->files = calloc(ix->n_files, sizeof *c->files);
        c->file_names = calloc(ix->n_files, sizeof *c->file_names);
        if (!c->files || !c->file_names) goto nomem;
        for (size_t i = 0; i < ix->n_files; i++) RF_CHECK_GOTO(open_file(c, ix->files[i]), fail);
        RF_CHECK_GOTO(build_tables(c), fail);
        RF_CHECK_GOTO(check_index(c, ix, path), fail);
    } else if (errno == ENOENT) {
        c->files = calloc(1, sizeof *c->files);
        c->file_names = calloc(1, sizeof *c->file_names);
        if (!c->files || !c->file_names) goto nomem;
        free(path);
        if (!(path = join(c->dir, SINGLE_NAME))) goto nomem;
        if (access(path, F_OK) != 0 && errno == ENOENT) RF_CHECK_GOTO(no_index(c->dir), fail);
        RF_CHECK_GOTO(open_file(c, SINGLE_NAME), fail);
        RF_CHECK_GOTO(build_tables(c), fail);
    } else {
        st = rf_error(REFIT_ERR_IO, "%s: stat: %s", path, strerror(errno));
        goto fail;
    }
    rf_index_free(ix);
    free(text);
    free(path);
    *out = c;
    return REFIT_OK;

nomem:
    st = rf_error(REFIT_ERR_NOMEM, "%s: out of memory", dir);
fail:
    rf_index_free(ix);
    free(text);
    free(path);
    rf_ckpt_close(c);
    return st;
}

refit_status rf_ckpt_check_unchanged(const rf_ckpt_t *c) {
    char *path = join(c->dir, "config.json");
    if (!path) return rf_error(REFIT_ERR_NOMEM, "%s: out of memory", c->dir);
    refit_status st = rf_file_id_check(path, -1, &c->cfg_id);
    free(path);
    if (st == REFIT_OK && c->has_index) {
        if (!(path = join(c->dir, INDEX_NAME))) return rf_error(REFIT_ERR_NOMEM, "%s: out of memory", c->dir);
        st = rf_file_id_check(path, -1, &c->index_id);
        free(path);
    }
    for (size_t i = 0; i < c->n_files && st == REFIT_OK; i++) st = rf_st_check_unchanged(c->files[i]);
    return st == REFIT_OK ? check_listing(c) : st;
}

const char *rf_ckpt_dir(const rf_ckpt_t *c) { return c->dir; }
const rf_model_config_t *rf_ckpt_config(const rf_ckpt_t *c) { return &c->cfg; }
size_t rf_ckpt_count(const rf_ckpt_t *c) { return c->count; }

void rf_ckpt_at(const rf_ckpt_t *c, size_t i, const rf_st_file_t **file, const rf_st_tensor_t **t) {
    bool ok = i < c->count;
    if (file) *file = ok ? c->files[c->all[i].file] : NULL;
    if (t) *t = ok ? c->all[i].t : NULL;
}

refit_status rf_ckpt_find(const rf_ckpt_t *c, const char *name, const rf_st_file_t **file,
                          const rf_st_tensor_t **t) {
    if (!c || !name) return rf_error(REFIT_ERR_INVALID_ARG, "rf_ckpt_find: NULL argument");
    size_t lo = 0, hi = c->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = strcmp(name, c->sorted[mid].t->name);
        if (cmp == 0) {
            if (file) *file = c->files[c->sorted[mid].file];
            if (t) *t = c->sorted[mid].t;
            return REFIT_OK;
        }
        if (cmp < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return rf_error(REFIT_ERR_MISMATCH, "%s: tensor %s missing", c->dir, name);
}
