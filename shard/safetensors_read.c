/* safetensors reader (validating; a file by pread, or an image in memory) and the
 * dtype table; the writer is safetensors_write.c.
 *
 * The reader never trusts the file: every offset is checked against the
 * image length with overflow-checked arithmetic before any pointer into the
 * data buffer is formed, so a fuzzed image can at worst produce an error. */
#include "safetensors.h"
#include "rf_fileid.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
    const uint8_t *image; /* whole file image when parsed from memory; NULL for a file */
    uint64_t image_len;   /* bytes of the image or the file */
    int fd;               /* the open file (rf_st_open), -1 for an image in memory */
    rf_file_id_t id;      /* the file's identity at open */
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
    if (f->fd >= 0) (void)close(f->fd); /* read-only: nothing is lost if close reports an error */
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
                            " bytes, file %" PRIu64 ")",
                            f->label, f->data_start + t->begin, t->name, t->begin, t->end, buf_len,
                            f->image_len);
        pos = t->end;
        prev = t;
    }
    if (pos != buf_len)
        return rf_error(REFIT_ERR_FORMAT,
                        "%s: data buffer ends at byte %" PRIu64 " but file has %" PRIu64 " bytes",
                        f->label, f->data_start + pos, f->image_len);
    return REFIT_OK;
}

/* The header length N from the first 8 bytes (`avail` of them present) of
 * a file or image of `len` bytes, checked against SPEC §6's limits. */
static refit_status header_len(const uint8_t *p, size_t avail, uint64_t len, const char *label, uint64_t *out) {
    if (avail < 8)
        return rf_error(REFIT_ERR_FORMAT,
                        "%s: byte 0: file has %" PRIu64 " bytes, too short for the 8-byte header length", label,
                        len);
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
                        " runs past the end of the file (needs %" PRIu64 " bytes, file has %" PRIu64 ")",
                        label, n, 8 + n, len);
    *out = n;
    return REFIT_OK;
}

/* Validates the n header bytes `hdr` of a file or image of `len` bytes
 * into a new file object (no image, fd -1). */
static refit_status parse_header(const uint8_t *hdr, uint64_t n, uint64_t len, const char *label,
                                 rf_st_file_t **out) {
    refit_status st = REFIT_OK;
    json_t *root = NULL;
    if (n == 0 || hdr[0] != '{')
        return rf_error(REFIT_ERR_FORMAT, "%s: byte 8: header does not start with '{'", label);
    rf_st_file_t *f = calloc(1, sizeof *f);
    if (!f || !(f->label = strdup(label))) {
        free(f);
        return rf_error(REFIT_ERR_NOMEM, "%s: out of memory", label);
    }
    f->fd = -1;
    f->image_len = len;
    f->data_start = 8 + n;

    json_error_t jerr;
    /* jansson validates UTF-8, rejects trailing garbage (JSON whitespace,
     * i.e. the space padding, is allowed) and duplicate names. */
    root = json_loadb((const char *)hdr, (size_t)n, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        st = rf_error(REFIT_ERR_FORMAT, "%s: byte %" PRIu64 ": invalid header JSON: %s", label,
                      8 + (uint64_t)(jerr.position > 0 ? jerr.position : 0), jerr.text);
        goto fail;
    }
    if (!json_is_object(root)) { /* cannot happen after '{', kept for safety */
        st = rf_error(REFIT_ERR_FORMAT, "%s: byte 8: header is not a JSON object", label);
        goto fail;
    }
    RF_CHECK_GOTO(parse_tensors(f, root), fail);
    json_decref(root);
    root = NULL;

    qsort(f->tensors, f->count, sizeof *f->tensors, cmp_offsets);
    RF_CHECK_GOTO(check_tiling(f, len - f->data_start), fail);

    for (size_t i = 0; i < f->count; i++) f->by_name[i] = i;
    sort_tensors = f->tensors;
    qsort(f->by_name, f->count, sizeof *f->by_name, cmp_by_name);
    sort_tensors = NULL;

    *out = f;
    return REFIT_OK;

fail:
    json_decref(root);
    rf_st_close(f);
    return st;
}

refit_status rf_st_parse(const void *buf, size_t len, const char *label, rf_st_file_t **out) {
    if (!label) label = "(memory)";
    if (!out || (!buf && len))
        return rf_error(REFIT_ERR_INVALID_ARG, "%s: rf_st_parse: NULL argument", label);
    const uint8_t *p = buf;
    uint64_t n = 0;
    RF_CHECK(header_len(p, len, len, label, &n));
    RF_CHECK(parse_header(p + 8, n, len, label, out));
    (*out)->image = p;
    return REFIT_OK;
}

/* n bytes at file offset `off` into dst; a short read means the file
 * shrank under us (a writer truncated it), told apart from an I/O error. */
static refit_status pread_all(int fd, const char *label, void *dst, uint64_t n, uint64_t off) {
    uint8_t *d = dst;
    while (n > 0) {
        ssize_t got = pread(fd, d, n, (off_t)off);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0)
            return rf_error(REFIT_ERR_IO, "%s: read of %" PRIu64 " bytes at byte %" PRIu64 ": %s", label, n, off,
                            got < 0 ? strerror(errno) : "file shrank while it was read");
        d += got;
        off += (uint64_t)got;
        n -= (uint64_t)got;
    }
    return REFIT_OK;
}

/* The file is never mapped: the header is read with pread and the data
 * stays in the file (rf_st_read, or the caller's pread on rf_st_fd), so a
 * writer truncating it makes a read come up short instead of a SIGBUS. */
refit_status rf_st_open(const char *path, rf_st_file_t **out) {
    int fd = -1;
    rf_file_id_t id;
    uint8_t first[8];
    uint8_t *hdr = NULL;
    uint64_t n = 0;
    if (!path || !out) return rf_error(REFIT_ERR_INVALID_ARG, "rf_st_open: NULL argument");
    RF_CHECK(rf_open_regular(path, &fd, &id));
    refit_status st = id.size < 8 ? REFIT_OK : pread_all(fd, path, first, 8, 0);
    if (st == REFIT_OK) st = header_len(first, id.size < 8 ? (size_t)id.size : 8, id.size, path, &n);
    if (st == REFIT_OK && !(hdr = malloc(n ? n : 1))) st = rf_error(REFIT_ERR_NOMEM, "%s: out of memory", path);
    if (st == REFIT_OK) st = pread_all(fd, path, hdr, n, 8);
    if (st == REFIT_OK) st = parse_header(hdr, n, id.size, path, out);
    free(hdr);
    if (st != REFIT_OK) {
        (void)close(fd); /* read-only: nothing to lose */
        return st;
    }
    (*out)->fd = fd;
    (*out)->id = id;
    return REFIT_OK;
}

refit_status rf_st_read(const rf_st_file_t *f, const rf_st_tensor_t *t, uint64_t off, uint64_t n, void *dst) {
    if (off > t->end - t->begin || n > t->end - t->begin - off)
        return rf_error(REFIT_ERR_INVALID_ARG, "%s: tensor %s: read of %" PRIu64 " bytes at %" PRIu64
                        " past its %" PRIu64 " bytes", f->label, t->name, n, off, t->end - t->begin);
    if (f->image) {
        memcpy(dst, f->image + f->data_start + t->begin + off, n);
        return REFIT_OK;
    }
    return pread_all(f->fd, f->label, dst, n, f->data_start + t->begin + off);
}

int rf_st_fd(const rf_st_file_t *f) { return f->fd; }

refit_status rf_st_check_unchanged(const rf_st_file_t *f) {
    return f->fd < 0 ? REFIT_OK : rf_file_id_check(f->label, f->fd, &f->id);
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
    return f->image ? f->image + f->data_start + t->begin : NULL;
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
