/* safetensors writer (header + data written through a shared mapping, then
 * renamed); the reader is safetensors_read.c. */
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

/* ---- writer ------------------------------------------------------------ */

typedef struct {
    const void *data; /* borrowed; NULL = use the fill callback */
    uint64_t begin, nbytes;
} wr_tensor_t;

struct rf_st_writer {
    json_t *tensors; /* name -> entry, insertion order kept by jansson */
    json_t *meta;    /* key -> string */
    wr_tensor_t *items;
    size_t count, cap;
    uint64_t data_len;
};

refit_status rf_st_writer_create(rf_st_writer_t **out) {
    if (!out) return rf_error(REFIT_ERR_INVALID_ARG, "rf_st_writer_create: NULL argument");
    rf_st_writer_t *w = calloc(1, sizeof *w);
    if (!w) return rf_error(REFIT_ERR_NOMEM, "safetensors writer: out of memory");
    w->tensors = json_object();
    w->meta = json_object();
    if (!w->tensors || !w->meta) {
        rf_st_writer_destroy(w);
        return rf_error(REFIT_ERR_NOMEM, "safetensors writer: out of memory");
    }
    *out = w;
    return REFIT_OK;
}

void rf_st_writer_destroy(rf_st_writer_t *w) {
    if (!w) return;
    json_decref(w->tensors);
    json_decref(w->meta);
    free(w->items);
    free(w);
}

/* Builds {"dtype":..,"shape":[..],"data_offsets":[b,e]}. */
static json_t *entry_json(rf_dtype_t dtype, int ndim, const uint64_t *shape, uint64_t begin,
                          uint64_t end) {
    json_t *e = json_object(), *sh = json_array(), *off = json_array();
    if (!e || !sh || !off) goto fail;
    for (int i = 0; i < ndim; i++)
        if (json_array_append_new(sh, json_integer((json_int_t)shape[i])) != 0) goto fail;
    if (json_array_append_new(off, json_integer((json_int_t)begin)) != 0 ||
        json_array_append_new(off, json_integer((json_int_t)end)) != 0)
        goto fail;
    if (json_object_set_new(e, "dtype", json_string(rf_dtype_name(dtype))) != 0) goto fail;
    if (json_object_set_new(e, "shape", sh) != 0) {
        sh = NULL;
        goto fail;
    }
    sh = NULL;
    if (json_object_set_new(e, "data_offsets", off) != 0) {
        off = NULL;
        goto fail;
    }
    return e;
fail:
    json_decref(off);
    json_decref(sh);
    json_decref(e);
    return NULL;
}

refit_status rf_st_writer_add(rf_st_writer_t *w, const char *name, rf_dtype_t dtype, int ndim,
                              const uint64_t *shape, const void *data) {
    if (!w || !name || (ndim > 0 && !shape))
        return rf_error(REFIT_ERR_INVALID_ARG, "rf_st_writer_add: NULL argument");
    size_t len = strlen(name);
    if (len > RF_NAME_MAX - 1)
        return rf_error(REFIT_ERR_INVALID_ARG,
                        "safetensors writer: tensor name '%.40s...' is %zu bytes, limit %d", name,
                        len, RF_NAME_MAX - 1);
    if (!strcmp(name, "__metadata__"))
        return rf_error(REFIT_ERR_INVALID_ARG,
                        "safetensors writer: '__metadata__' is reserved, not a tensor name");
    if ((int)dtype < 0 || dtype >= RF_DT_COUNT)
        return rf_error(REFIT_ERR_INVALID_ARG, "safetensors writer: tensor %s: bad dtype %d",
                        name, (int)dtype);
    if (ndim < 0 || ndim > RF_ST_MAX_DIMS)
        return rf_error(REFIT_ERR_INVALID_ARG,
                        "safetensors writer: tensor %s: %d dims, limit %d", name, ndim,
                        RF_ST_MAX_DIMS);
    if (json_object_get(w->tensors, name))
        return rf_error(REFIT_ERR_INVALID_ARG, "safetensors writer: tensor %s added twice", name);

    uint64_t nelem = 1, nbytes, end;
    for (int i = 0; i < ndim; i++)
        if (!rf_mul_u64(nelem, shape[i], &nelem) || shape[i] > INT64_MAX)
            goto too_big;
    /* JSON integers are signed 64-bit: keep every offset below 2^63. */
    if (!rf_mul_u64(nelem, rf_dtype_size(dtype), &nbytes) ||
        !rf_add_u64(w->data_len, nbytes, &end) || end > INT64_MAX)
        goto too_big;

    if (w->count == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 16;
        wr_tensor_t *items = realloc(w->items, cap * sizeof *items);
        if (!items) return rf_error(REFIT_ERR_NOMEM, "safetensors writer: out of memory");
        w->items = items;
        w->cap = cap;
    }
    json_t *e = entry_json(dtype, ndim, shape, w->data_len, end);
    if (!e) return rf_error(REFIT_ERR_NOMEM, "safetensors writer: out of memory");
    /* json_object_set_new also rejects names that are not valid UTF-8. */
    if (json_object_set_new(w->tensors, name, e) != 0)
        return rf_error(REFIT_ERR_INVALID_ARG,
                        "safetensors writer: tensor name '%.64s' is not valid UTF-8", name);
    w->items[w->count++] = (wr_tensor_t){.data = data, .begin = w->data_len, .nbytes = nbytes};
    w->data_len = end;
    return REFIT_OK;

too_big: {
    char sh[160];
    return rf_error(REFIT_ERR_INVALID_ARG, "safetensors writer: tensor %s: %s %s is too large",
                    name, rf_dtype_name(dtype), rf_st_shape_str(sh, sizeof sh, ndim, shape));
}
}

refit_status rf_st_writer_meta(rf_st_writer_t *w, const char *key, const char *value) {
    if (!w || !key || !value)
        return rf_error(REFIT_ERR_INVALID_ARG, "rf_st_writer_meta: NULL argument");
    json_t *v = json_string(value);
    if (!v)
        return rf_error(REFIT_ERR_INVALID_ARG,
                        "safetensors writer: metadata value of '%.64s' is not valid UTF-8", key);
    if (json_object_set_new(w->meta, key, v) != 0)
        return rf_error(REFIT_ERR_INVALID_ARG,
                        "safetensors writer: metadata key '%.64s' is not valid UTF-8", key);
    return REFIT_OK;
}

/* Header text: __metadata__ first (if any), then tensors in insertion order,
 * compact. malloc'd; NULL on allocation failure. */
static char *header_text(const rf_st_writer_t *w) {
    json_t *hdr = json_object();
    char *text = NULL;
    if (!hdr) return NULL;
    if (json_object_size(w->meta) && json_object_set(hdr, "__metadata__", w->meta) != 0)
        goto out;
    const char *key;
    json_t *val;
    json_object_foreach(w->tensors, key, val) {
        if (json_object_set(hdr, key, val) != 0) goto out;
    }
    text = json_dumps(hdr, JSON_COMPACT);
out:
    json_decref(hdr);
    return text;
}

refit_status rf_st_writer_write(rf_st_writer_t *w, const char *path, rf_st_fill_fn fill,
                                void *user) {
    refit_status st = REFIT_OK;
    char *hdr = NULL, *tmp = NULL;
    uint8_t *map = NULL;
    uint64_t total = 0;
    int fd = -1;
    if (!w || !path) return rf_error(REFIT_ERR_INVALID_ARG, "rf_st_writer_write: NULL argument");
    for (size_t i = 0; i < w->count; i++)
        if (!w->items[i].data && w->items[i].nbytes && !fill)
            return rf_error(REFIT_ERR_INVALID_ARG,
                            "%s: tensor number %zu has no data and no fill callback was given",
                            path, i);

    hdr = header_text(w);
    if (!hdr) return rf_error(REFIT_ERR_NOMEM, "%s: out of memory building header", path);
    size_t hlen = strlen(hdr);
    /* Pad with spaces so the data buffer starts 8-aligned in the file. */
    uint64_t n = (hlen + 7) & ~(uint64_t)7;
    if (n > RF_ST_MAX_HEADER) {
        st = rf_error(REFIT_ERR_INVALID_ARG, "%s: header of %" PRIu64 " bytes exceeds limit %llu",
                      path, n, RF_ST_MAX_HEADER);
        goto out;
    }
    if (!rf_add_u64(8 + n, w->data_len, &total) || total > (uint64_t)INT64_MAX ||
        total > SIZE_MAX) {
        st = rf_error(REFIT_ERR_INVALID_ARG, "%s: file too large", path);
        goto out;
    }
    if (asprintf(&tmp, "%s.tmp", path) < 0) {
        tmp = NULL;
        st = rf_error(REFIT_ERR_NOMEM, "%s: out of memory", path);
        goto out;
    }

    fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        st = rf_error(REFIT_ERR_IO, "%s: open: %s", tmp, strerror(errno));
        goto out;
    }
    if (ftruncate(fd, (off_t)total) != 0) {
        st = rf_error(REFIT_ERR_IO, "%s: ftruncate to %" PRIu64 " bytes: %s", tmp, total,
                      strerror(errno));
        goto out_unlink;
    }
    /* Reserve the blocks now: a full disk must be an error here, not a
     * SIGBUS while storing through the mapping. Filesystems without
     * fallocate keep the sparse file (best effort). */
    int fe = posix_fallocate(fd, 0, (off_t)total);
    if (fe != 0 && fe != EOPNOTSUPP && fe != EINVAL) {
        st = rf_error(REFIT_ERR_IO, "%s: reserving %" PRIu64 " bytes: %s", tmp, total,
                      strerror(fe));
        goto out_unlink;
    }
    map = mmap(NULL, (size_t)total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        map = NULL;
        st = rf_error(REFIT_ERR_IO, "%s: mmap of %" PRIu64 " bytes: %s", tmp, total,
                      strerror(errno));
        goto out_unlink;
    }

    for (int i = 0; i < 8; i++) map[i] = (uint8_t)(n >> (8 * i));
    memcpy(map + 8, hdr, hlen);
    memset(map + 8 + hlen, ' ', (size_t)(n - hlen));
    uint8_t *data = map + 8 + n;
    for (size_t i = 0; i < w->count; i++) {
        const wr_tensor_t *t = &w->items[i];
        if (!t->nbytes) continue;
        if (t->data)
            memcpy(data + t->begin, t->data, (size_t)t->nbytes);
        else
            RF_CHECK_GOTO(fill(user, i, data + t->begin, t->nbytes), out_unmap);
    }
    if (msync(map, (size_t)total, MS_SYNC) != 0) {
        st = rf_error(REFIT_ERR_IO, "%s: msync: %s", tmp, strerror(errno));
        goto out_unmap;
    }
    if (munmap(map, (size_t)total) != 0) {
        st = rf_error(REFIT_ERR_IO, "%s: munmap: %s", tmp, strerror(errno));
        goto out_unmap;
    }
    map = NULL;
    if (close(fd) != 0) {
        fd = -1;
        st = rf_error(REFIT_ERR_IO, "%s: close: %s", tmp, strerror(errno));
        goto out_unlink;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        st = rf_error(REFIT_ERR_IO, "%s: rename from %s: %s", path, tmp, strerror(errno));
        goto out_unlink;
    }
    goto out;

/* Clean-up after a failure already reported: the temporary file goes; a
 * failure here would only leave PATH.tmp behind, never a wrong PATH. */
out_unmap:
    if (map) (void)munmap(map, (size_t)total);
out_unlink:
    if (fd >= 0) (void)close(fd);
    fd = -1;
    (void)unlink(tmp);
out:
    free(tmp);
    free(hdr);
    return st;
}
