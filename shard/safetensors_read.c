/* safetensors reader (validating, over a borrowed or mmap'd image) and the
 * dtype table; the writer is safetensors_write.c.
 *
 * The reader never trusts the file: every offset is checked against the
 * image length with overflow-checked arithmetic before any pointer into the
 * data buffer is formed, so a fuzzed image can at worst produce an error. */
#include "safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- dtypes ------------------------------------------------------------ */

static const struct {
    const char *name;
    size_t size;
} dtype_info[RF_DT_COUNT] = {
    [RF_DT_BOOL] = {"BOOL", 1},       [RF_DT_U8] = {"U8", 1},
    [RF_DT_I8] = {"I8", 1},           [RF_DT_U16] = {"U16", 2},
    [RF_DT_I16] = {"I16", 2},         [RF_DT_U32] = {"U32", 4},
    [RF_DT_I32] = {"I32", 4},         [RF_DT_U64] = {"U64", 8},
    [RF_DT_I64] = {"I64", 8},         [RF_DT_F16] = {"F16", 2},
    [RF_DT_BF16] = {"BF16", 2},       [RF_DT_F32] = {"F32", 4},
    [RF_DT_F64] = {"F64", 8},         [RF_DT_F8_E4M3] = {"F8_E4M3", 1},
    [RF_DT_F8_E5M2] = {"F8_E5M2", 1},
};

const char *rf_dtype_name(rf_dtype_t dt) {
    if ((int)dt < 0 || dt >= RF_DT_COUNT) return "?";
    return dtype_info[dt].name;
}

size_t rf_dtype_size(rf_dtype_t dt) {
    if ((int)dt < 0 || dt >= RF_DT_COUNT) return 0;
    return dtype_info[dt].size;
}

bool rf_dtype_parse(const char *name, rf_dtype_t *out) {
    for (int i = 0; i < RF_DT_COUNT; i++) {
        if (!strcmp(name, dtype_info[i].name)) {
            *out = (rf_dtype_t)i;
            return true;
        }
    }
    return false;
}

/* "[4096, 11008]" for error messages; truncated quietly if enormous. */
const char *rf_st_shape_str(char *buf, size_t cap, int ndim, const uint64_t *shape) {
    size_t off = 0;
    off += (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && off < cap; i++)
        off += (size_t)snprintf(buf + off, cap - off, "%s%" PRIu64, i ? ", " : "", shape[i]);
    if (off < cap) snprintf(buf + off, cap - off, "]");
    return buf;
}

/* ---- reader ------------------------------------------------------------ */

struct rf_st_file {
    char *label;
    const uint8_t *image; /* whole file image */
    size_t image_len;
    void *map;            /* non-NULL when we own an mmap of image */
    size_t map_len;
    uint64_t data_start;  /* 8 + N */
    size_t count;
    rf_st_tensor_t *tensors; /* data-offset order */
    size_t *by_name;         /* indices into tensors, sorted by name */
    char *names;             /* arena holding every tensor name */
    size_t n_meta;
    char **meta_keys, **meta_vals;
};

void rf_st_close(rf_st_file_t *f) {
    if (!f) return;
    for (size_t i = 0; i < f->n_meta; i++) {
        free(f->meta_keys[i]);
        free(f->meta_vals[i]);
    }
    free(f->meta_keys);
    free(f->meta_vals);
    free(f->names);
    free(f->by_name);
    free(f->tensors);
    if (f->map) (void)munmap(f->map, f->map_len); /* a read-only mapping: nothing to lose */
    free(f->label);
    free(f);
}

static int cmp_offsets(const void *a, const void *b) {
    const rf_st_tensor_t *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return strcmp(x->name, y->name); /* deterministic among empty tensors */
}

/* qsort has no context argument; the tensor array is reached through this
 * thread-local while sorting the name index. */
static _Thread_local const rf_st_tensor_t *sort_tensors;
static int cmp_by_name(const void *a, const void *b) {
    return strcmp(sort_tensors[*(const size_t *)a].name, sort_tensors[*(const size_t *)b].name);
}

/* Reads a non-negative JSON integer. */
static bool get_u64(const json_t *v, uint64_t *out) {
    if (!json_is_integer(v)) return false;
    json_int_t i = json_integer_value(v);
    if (i < 0) return false;
    *out = (uint64_t)i;
    return true;
}

/* Validates one header entry (not its place in the buffer) into *t. */
static refit_status parse_entry(const char *label, const char *name, const json_t *e,
                                rf_st_tensor_t *t) {
    if (!json_is_object(e))
        return rf_error(REFIT_ERR_FORMAT, "%s: byte 8: tensor %s: entry is not an object", label,
                        name);

    const json_t *dt = json_object_get(e, "dtype");
    if (!json_is_string(dt))
        return rf_error(REFIT_ERR_FORMAT, "%s: byte 8: tensor %s: dtype missing or not a string",
                        label, name);
    if (!rf_dtype_parse(json_string_value(dt), &t->dtype))
        return rf_error(REFIT_ERR_FORMAT, "%s: byte 8: tensor %s: unknown dtype '%.32s'", label,
                        name, json_string_value(dt));

    const json_t *shape = json_object_get(e, "shape");
    if (!json_is_array(shape))
        return rf_error(REFIT_ERR_FORMAT, "%s: byte 8: tensor %s: shape missing or not an array",
                        label, name);
    size_t nd = json_array_size(shape);
    if (nd > RF_ST_MAX_DIMS)
        return rf_error(REFIT_ERR_FORMAT, "%s: byte 8: tensor %s: shape has %zu dims, limit %d",
                        label, name, nd, RF_ST_MAX_DIMS);
    t->ndim = (int)nd;
    t->nelem = 1;
    bool overflow = false;
    for (size_t i = 0; i < nd; i++) {
        if (!get_u64(json_array_get(shape, i), &t->shape[i]))
            return rf_error(REFIT_ERR_FORMAT,
                            "%s: byte 8: tensor %s: shape[%zu] is not a non-negative integer",
                            label, name, i);
        if (!rf_mul_u64(t->nelem, t->shape[i], &t->nelem)) overflow = true;
    }

    const json_t *offs = json_object_get(e, "data_offsets");
    if (!json_is_array(offs) || json_array_size(offs) != 2)
        return rf_error(REFIT_ERR_FORMAT,
                        "%s: byte 8: tensor %s: data_offsets missing or not a [begin, end] pair",
                        label, name);
    if (!get_u64(json_array_get(offs, 0), &t->begin) ||
        !get_u64(json_array_get(offs, 1), &t->end))
        return rf_error(REFIT_ERR_FORMAT,
                        "%s: byte 8: tensor %s: data_offsets are not non-negative integers", label,
                        name);
    if (t->begin > t->end)
        return rf_error(REFIT_ERR_FORMAT,
                        "%s: byte 8: tensor %s: data_offsets [%" PRIu64 ",%" PRIu64
                        ") end before they begin",
                        label, name, t->begin, t->end);

    char sh[160];
    uint64_t need;
    if (overflow || !rf_mul_u64(t->nelem, rf_dtype_size(t->dtype), &need))
        return rf_error(REFIT_ERR_FORMAT, "%s: byte 8: tensor %s: %s %s byte size overflows",
                        label, name, rf_dtype_name(t->dtype),
                        rf_st_shape_str(sh, sizeof sh, t->ndim, t->shape));
    if (t->end - t->begin != need)
        return rf_error(REFIT_ERR_FORMAT,
                        "%s: byte 8: tensor %s: data_offsets [%" PRIu64 ",%" PRIu64 ") hold %" PRIu64
                        " bytes but %s %s needs %" PRIu64,
                        label, name, t->begin, t->end, t->end - t->begin, rf_dtype_name(t->dtype),
                        rf_st_shape_str(sh, sizeof sh, t->ndim, t->shape), need);
    return REFIT_OK;
}

static refit_status parse_metadata(rf_st_file_t *f, const json_t *meta) {
    if (!json_is_object(meta))
        return rf_error(REFIT_ERR_FORMAT, "%s: byte 8: __metadata__ is not an object", f->label);
    size_t n = json_object_size(meta);
    f->meta_keys = calloc(n ? n : 1, sizeof *f->meta_keys);
    f->meta_vals = calloc(n ? n : 1, sizeof *f->meta_vals);
    if (!f->meta_keys || !f->meta_vals)
        return rf_error(REFIT_ERR_NOMEM, "%s: out of memory for metadata", f->label);
    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)meta, key, val) {
        if (!json_is_string(val))
            return rf_error(REFIT_ERR_FORMAT,
                            "%s: byte 8: __metadata__ value of '%.64s' is not a string", f->label,
                            key);
        /* Values may hold "\u0000" only with JSON_ALLOW_NUL, which we do not
         * pass, so strdup keeps the whole value. */
        char *k = strdup(key), *v = strdup(json_string_value(val));
        if (!k || !v) {
            free(k);
            free(v);
            return rf_error(REFIT_ERR_NOMEM, "%s: out of memory for metadata", f->label);
        }
        f->meta_keys[f->n_meta] = k;
        f->meta_vals[f->n_meta] = v;
        f->n_meta++;
    }
    return REFIT_OK;
}

/* Collects and validates every tensor entry of the parsed header. */
static refit_status parse_tensors(rf_st_file_t *f, json_t *hdr) {
    size_t n = 0, name_bytes = 0;
    const char *key;
    json_t *val;
    json_object_foreach(hdr, key, val) {
        if (!strcmp(key, "__metadata__")) continue;
        size_t len = strlen(key);
        if (len > RF_NAME_MAX - 1)
            return rf_error(REFIT_ERR_FORMAT,
                            "%s: byte 8: tensor name '%.40s...' is %zu bytes, limit %d", f->label,
                            key, len, RF_NAME_MAX - 1);
        n++;
        name_bytes += len + 1;
    }
    f->tensors = calloc(n ? n : 1, sizeof *f->tensors);
    f->by_name = calloc(n ? n : 1, sizeof *f->by_name);
    f->names = malloc(name_bytes ? name_bytes : 1);
    if (!f->tensors || !f->by_name || !f->names)
        return rf_error(REFIT_ERR_NOMEM, "%s: out of memory for %zu tensors", f->label, n);

    char *arena = f->names;
    json_object_foreach(hdr, key, val) {
        if (!strcmp(key, "__metadata__")) {
            RF_CHECK(parse_metadata(f, val));
            continue;
        }
        rf_st_tensor_t *t = &f->tensors[f->count];
        size_t len = strlen(key);
        memcpy(arena, key, len + 1);
        t->name = arena;
        arena += len + 1;
        RF_CHECK(parse_entry(f->label, t->name, val, t));
        f->count++;
    }
    return REFIT_OK;
}

/* SPEC §6: sorted by offset, tensors tile [0, buffer size) exactly. */
static refit_status check_tiling(const rf_st_file_t *f, uint64_t buf_len) {
    uint64_t pos = 0;
    const rf_st_tensor_t *prev = NULL;
    for (size_t i = 0; i < f->count; i++) {
        const rf_st_tensor_t *t = &f->tensors[i];
        if (t->begin < pos)
            return rf_error(REFIT_ERR_FORMAT,
                            "%s: tensors %s and %s overlap at data byte %" PRIu64
                            " (file byte %" PRIu64 ")",
                            f->label, prev->name, t->name, t->begin, f->data_start + t->begin);
        if (t->begin > pos)
            return rf_error(REFIT_ERR_FORMAT,
                            "%s: hole in data buffer at byte %" PRIu64 " (file byte %" PRIu64 ")",
                            f->label, pos, f->data_start + pos);
        if (t->end > buf_len)
            return rf_error(REFIT_ERR_FORMAT,
                            "%s: byte %" PRIu64 ": tensor %s: data_offsets [%" PRIu64 ",%" PRIu64
                            ") run past the end of the file (data buffer has %" PRIu64
                            " bytes, file %zu)",
                            f->label, f->data_start + t->begin, t->name, t->begin, t->end, buf_len,
                            f->image_len);
        pos = t->end;
        prev = t;
    }
    if (pos != buf_len)
        return rf_error(REFIT_ERR_FORMAT,
                        "%s: data buffer ends at byte %" PRIu64 " but file has %zu bytes",
                        f->label, f->data_start + pos, f->image_len);
    return REFIT_OK;
}

refit_status rf_st_parse(const void *buf, size_t len, const char *label, rf_st_file_t **out) {
    refit_status st = REFIT_OK;
    json_t *hdr = NULL;
    if (!label) label = "(memory)";
    if (!out || (!buf && len))
        return rf_error(REFIT_ERR_INVALID_ARG, "%s: rf_st_parse: NULL argument", label);
    const uint8_t *p = buf;

    if (len < 8)
        return rf_error(REFIT_ERR_FORMAT,
                        "%s: byte 0: file has %zu bytes, too short for the 8-byte header length",
                        label, len);
    if (p[0] == '{') /* a JSON file (config.json, an index) given as safetensors */
        return rf_error(REFIT_ERR_FORMAT, "%s: not a safetensors file (it starts with '{')", label);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | p[i];
    if (n > RF_ST_MAX_HEADER)
        return rf_error(REFIT_ERR_FORMAT, "%s: byte 0: header length %" PRIu64
                        " exceeds limit %llu", label, n, RF_ST_MAX_HEADER);
    if (8 + n > len)
        return rf_error(REFIT_ERR_FORMAT,
                        "%s: byte 0: header length %" PRIu64
                        " runs past the end of the file (needs %" PRIu64 " bytes, file has %zu)",
                        label, n, 8 + n, len);
    if (n == 0 || p[8] != '{')
        return rf_error(REFIT_ERR_FORMAT, "%s: byte 8: header does not start with '{'", label);

    rf_st_file_t *f = calloc(1, sizeof *f);
    if (!f || !(f->label = strdup(label))) {
        st = rf_error(REFIT_ERR_NOMEM, "%s: out of memory", label);
        goto fail;
    }
    f->image = p;
    f->image_len = len;
    f->data_start = 8 + n;

    json_error_t jerr;
    /* jansson validates UTF-8, rejects trailing garbage (JSON whitespace,
     * i.e. the space padding, is allowed) and duplicate names. */
    hdr = json_loadb((const char *)p + 8, (size_t)n, JSON_REJECT_DUPLICATES, &jerr);
    if (!hdr) {
        st = rf_error(REFIT_ERR_FORMAT, "%s: byte %" PRIu64 ": invalid header JSON: %s", label,
                      8 + (uint64_t)(jerr.position > 0 ? jerr.position : 0), jerr.text);
        goto fail;
    }
    if (!json_is_object(hdr)) { /* cannot happen after '{', kept for safety */
        st = rf_error(REFIT_ERR_FORMAT, "%s: byte 8: header is not a JSON object", label);
        goto fail;
    }
    RF_CHECK_GOTO(parse_tensors(f, hdr), fail);
    json_decref(hdr);
    hdr = NULL;

    qsort(f->tensors, f->count, sizeof *f->tensors, cmp_offsets);
    RF_CHECK_GOTO(check_tiling(f, len - f->data_start), fail);

    for (size_t i = 0; i < f->count; i++) f->by_name[i] = i;
    sort_tensors = f->tensors;
    qsort(f->by_name, f->count, sizeof *f->by_name, cmp_by_name);
    sort_tensors = NULL;

    *out = f;
    return REFIT_OK;

fail:
    json_decref(hdr);
    rf_st_close(f);
    return st;
}

refit_status rf_st_open(const char *path, rf_st_file_t **out) {
    refit_status st = REFIT_OK;
    void *map = NULL;
    size_t size = 0;
    rf_st_file_t *f = NULL;
    if (!path || !out) return rf_error(REFIT_ERR_INVALID_ARG, "rf_st_open: NULL argument");

    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return rf_error(REFIT_ERR_IO, "%s: open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        st = rf_error(REFIT_ERR_IO, "%s: fstat: %s", path, strerror(errno));
        goto out_fd;
    }
    if (!S_ISREG(sb.st_mode)) {
        st = rf_error(REFIT_ERR_IO, "%s: not a regular file", path);
        goto out_fd;
    }
    if ((uint64_t)sb.st_size > SIZE_MAX) {
        st = rf_error(REFIT_ERR_IO, "%s: file of %lld bytes too large to map", path,
                      (long long)sb.st_size);
        goto out_fd;
    }
    size = (size_t)sb.st_size;
    /* mmap of length 0 fails; an empty file is simply too short to parse. */
    if (size > 0) {
        map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            map = NULL;
            st = rf_error(REFIT_ERR_IO, "%s: mmap of %zu bytes: %s", path, size, strerror(errno));
            goto out_fd;
        }
    }
    RF_CHECK_GOTO(rf_st_parse(map, size, path, &f), out_map);
    f->map = map; /* the file object now owns the mapping */
    f->map_len = size;
    map = NULL;
    *out = f;

out_map:
    if (map) (void)munmap(map, size); /* after a failure already reported */
out_fd:
    (void)close(fd); /* read-only, and the mapping stays valid after close: nothing to lose */
    return st;
}

const char *rf_st_label(const rf_st_file_t *f) { return f->label; }
size_t rf_st_count(const rf_st_file_t *f) { return f->count; }

const rf_st_tensor_t *rf_st_at(const rf_st_file_t *f, size_t i) {
    return i < f->count ? &f->tensors[i] : NULL;
}

const rf_st_tensor_t *rf_st_find(const rf_st_file_t *f, const char *name) {
    size_t lo = 0, hi = f->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const rf_st_tensor_t *t = &f->tensors[f->by_name[mid]];
        int c = strcmp(name, t->name);
        if (c == 0) return t;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

const uint8_t *rf_st_data(const rf_st_file_t *f, const rf_st_tensor_t *t) {
    /* In range by construction: check_tiling proved data_start + end <= image_len. */
    return f->image + f->data_start + t->begin;
}

uint64_t rf_st_data_start(const rf_st_file_t *f) { return f->data_start; }

const char *rf_st_meta(const rf_st_file_t *f, const char *key) {
    for (size_t i = 0; i < f->n_meta; i++)
        if (!strcmp(f->meta_keys[i], key)) return f->meta_vals[i];
    return NULL;
}

size_t rf_st_meta_count(const rf_st_file_t *f) { return f->n_meta; }

void rf_st_meta_at(const rf_st_file_t *f, size_t i, const char **key, const char **value) {
    if (i >= f->n_meta) {
        if (key) *key = NULL;
        if (value) *value = NULL;
        return;
    }
    if (key) *key = f->meta_keys[i];
    if (value) *value = f->meta_vals[i];
}
