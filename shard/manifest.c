/* Manifests of the source kinds (manifest.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manifest.h"

bool rf_conv_of(rf_dtype_t dt, rf_conv_t *out) {
    switch (dt) {
    case RF_DT_BF16: *out = RF_CONV_BF16; return true;
    case RF_DT_F16: *out = RF_CONV_F16; return true;
    case RF_DT_F32: *out = RF_CONV_F32; return true;
    default: return false;
    }
}

static int cmp_entry(const void *a, const void *b) {
    return strcmp(((const rf_mf_entry_t *)a)->name, ((const rf_mf_entry_t *)b)->name);
}

void rf_manifest_free(rf_manifest_t *m) {
    free(m->e);
    m->e = NULL;
    m->n = 0;
}

refit_status rf_manifest_from_ckpt(const rf_ckpt_t *c, rf_manifest_t *out) {
    rf_manifest_t m = {.n = rf_ckpt_count(c)};
    snprintf(m.where, sizeof m.where, "%s", rf_ckpt_dir(c));
    m.e = calloc(m.n ? m.n : 1, sizeof *m.e);
    if (!m.e) return rf_error(REFIT_ERR_NOMEM, "manifest of %zu tensors", m.n);
    for (size_t i = 0; i < m.n; i++) {
        const rf_st_file_t *f;
        const rf_st_tensor_t *t;
        rf_ckpt_at(c, i, &f, &t);
        rf_mf_entry_t *e = &m.e[i];
        rf_conv_t conv = RF_CONV_BF16; /* other dtypes are rejected by the check before a byte is read */
        (void)rf_conv_of(t->dtype, &conv);
        *e = (rf_mf_entry_t){.name = t->name, .dtype = t->dtype, .ndim = t->ndim,
                             .src = {.ptr = rf_st_data(f, t), .fd = rf_st_fd(f),
                                     .off = rf_st_data_start(f) + t->begin, .file = rf_st_label(f),
                                     .tensor = t->name, .conv = conv}};
        memcpy(e->shape, t->shape, sizeof e->shape);
    }
    qsort(m.e, m.n, sizeof *m.e, cmp_entry); /* names are unique across files (rf_ckpt_open) */
    *out = m;
    return REFIT_OK;
}

static bool public_dtype(refit_dtype d, rf_dtype_t *out) {
    switch (d) {
    case REFIT_DTYPE_BF16: *out = RF_DT_BF16; return true;
    case REFIT_DTYPE_F16: *out = RF_DT_F16; return true;
    case REFIT_DTYPE_F32: *out = RF_DT_F32; return true;
    case REFIT_DTYPE_F8_E4M3: *out = RF_DT_F8_E4M3; return true;
    default: return false;
    }
}

/* One caller tensor into entry e; errors name the tensor (index when unnamed). */
static refit_status memory_entry(const refit_tensor *t, size_t i, const char *where, bool device_ok,
                                 rf_mf_entry_t *e) {
    if (!t->name) return rf_error(REFIT_ERR_INVALID_ARG, "%s: tensor %zu has no name", where, i);
    if (!t->data) return rf_error(REFIT_ERR_INVALID_ARG, "%s: tensor %s: data is NULL", where, t->name);
    if (t->where != REFIT_MEM_HOST && t->where != REFIT_MEM_DEVICE)
        return rf_error(REFIT_ERR_INVALID_ARG, "%s: tensor %s: memory kind %d", where, t->name, (int)t->where);
    if (t->where == REFIT_MEM_DEVICE && !device_ok)
        return rf_error(REFIT_ERR_INVALID_ARG, "%s: tensor %s: device memory needs the cuda backend", where,
                        t->name);
    rf_dtype_t dt;
    rf_conv_t conv;
    if (!public_dtype(t->dtype, &dt))
        return rf_error(REFIT_ERR_UNSUPPORTED, "unsupported dtype %d in tensor %s of %s", (int)t->dtype, t->name,
                        where);
    if (!rf_conv_of(dt, &conv))
        return rf_error(REFIT_ERR_UNSUPPORTED, "unsupported dtype %s in tensor %s of %s", rf_dtype_name(dt),
                        t->name, where);
    if (t->ndim < 1 || t->ndim > 3)
        return rf_error(REFIT_ERR_INVALID_ARG, "%s: tensor %s: ndim %d (1..3)", where, t->name, t->ndim);
    *e = (rf_mf_entry_t){.name = t->name, .dtype = dt, .ndim = t->ndim,
                         .src = {.ptr = t->data, .fd = -1, .file = where, .tensor = t->name, .conv = conv,
                                 .device = t->where == REFIT_MEM_DEVICE}};
    for (int d = 0; d < t->ndim; d++) {
        if (t->shape[d] < 1 || t->shape[d] > (1ll << 40))
            return rf_error(REFIT_ERR_INVALID_ARG, "%s: tensor %s: shape[%d] = %lld", where, t->name, d,
                            (long long)t->shape[d]);
        e->shape[d] = (uint64_t)t->shape[d];
    }
    return REFIT_OK;
}

refit_status rf_manifest_from_memory(const refit_tensor *t, size_t n, int rank, bool device_ok,
                                     rf_manifest_t *out) {
    rf_manifest_t m = {.n = n};
    snprintf(m.where, sizeof m.where, "rank %d's memory", rank);
    if (n > 0 && !t) return rf_error(REFIT_ERR_INVALID_ARG, "%s: %zu tensors at NULL", m.where, n);
    m.e = calloc(n ? n : 1, sizeof *m.e);
    if (!m.e) return rf_error(REFIT_ERR_NOMEM, "manifest of %zu tensors", n);
    refit_status st = REFIT_OK;
    for (size_t i = 0; i < n && st == REFIT_OK; i++) st = memory_entry(&t[i], i, m.where, device_ok, &m.e[i]);
    if (st == REFIT_OK) {
        qsort(m.e, n, sizeof *m.e, cmp_entry);
        for (size_t i = 1; i < n && st == REFIT_OK; i++)
            if (!strcmp(m.e[i - 1].name, m.e[i].name))
                st = rf_error(REFIT_ERR_INVALID_ARG, "%s: tensor %s given twice", m.where, m.e[i].name);
    }
    if (st != REFIT_OK) {
        free(m.e);
        return st;
    }
    /* entries point at their manifest's `where`: fixed up once it is in place */
    *out = m;
    for (size_t i = 0; i < n; i++) {
        out->e[i].src.file = out->where;
        out->any_device |= out->e[i].src.device;
    }
    return REFIT_OK;
}

const rf_mf_entry_t *rf_manifest_find(const rf_manifest_t *m, const char *name) {
    rf_mf_entry_t key = {.name = name};
    return m->n ? bsearch(&key, m->e, m->n, sizeof *m->e, cmp_entry) : NULL;
}

refit_status rf_manifest_need(const rf_manifest_t *m, const char *name, const rf_mf_entry_t **out) {
    *out = rf_manifest_find(m, name);
    if (!*out) return rf_error(REFIT_ERR_MISMATCH, "%s: tensor %s missing", m->where, name);
    return REFIT_OK;
}
