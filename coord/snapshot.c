/* Snapshot: build, encode/decode (versioned little-endian binary + CRC-32),
 * digest, and the R0 check of a checkpoint against it. */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "backend.h"
#include "snapshot.h"

/* ---- little-endian byte writer ----------------------------------------- */
typedef struct {
    uint8_t *buf;
    size_t len, cap;
    bool oom;
} wbuf_t;

static void put(wbuf_t *w, const void *p, size_t n) {
    if (w->oom) return;
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 4096;
        while (cap < w->len + n) cap *= 2;
        uint8_t *nb = realloc(w->buf, cap);
        if (!nb) {
            w->oom = true;
            return;
        }
        w->buf = nb;
        w->cap = cap;
    }
    memcpy(w->buf + w->len, p, n);
    w->len += n;
}
static void put_u8(wbuf_t *w, uint8_t v) { put(w, &v, 1); }
static void put_u32(wbuf_t *w, uint32_t v) {
    uint8_t b[4];
    for (int i = 0; i < 4; i++) b[i] = (uint8_t)(v >> (8 * i));
    put(w, b, 4);
}
static void put_u64(wbuf_t *w, uint64_t v) {
    uint8_t b[8];
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(v >> (8 * i));
    put(w, b, 8);
}
static void put_str(wbuf_t *w, const char *s) {
    size_t n = strlen(s);
    put_u32(w, (uint32_t)n);
    put(w, s, n);
}

/* ---- bounds-checked reader ---------------------------------------------- */
typedef struct {
    const uint8_t *p;
    size_t len, off;
    const char *label;
    refit_status st;
} rbuf_t;

static bool need(rbuf_t *r, size_t n, const char *what) {
    if (r->st != REFIT_OK) return false;
    if (r->len - r->off < n) {
        r->st = rf_error(REFIT_ERR_FORMAT, "%s: byte %zu: truncated reading %s", r->label, r->off, what);
        return false;
    }
    return true;
}
static uint64_t get_le(rbuf_t *r, int n, const char *what) {
    if (!need(r, (size_t)n, what)) return 0;
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v |= (uint64_t)r->p[r->off + (size_t)i] << (8 * i);
    r->off += (size_t)n;
    return v;
}
static int64_t get_dim(rbuf_t *r, const char *what) {
    size_t at = r->off;
    uint64_t v = get_le(r, 8, what);
    if (r->st == REFIT_OK && (v == 0 || v > (1ull << 40)))
        r->st = rf_error(REFIT_ERR_FORMAT, "%s: byte %zu: %s %llu out of range", r->label, at, what,
                         (unsigned long long)v);
    return (int64_t)v;
}
static uint32_t get_enum(rbuf_t *r, uint32_t limit, const char *what) {
    size_t at = r->off;
    uint32_t v = (uint32_t)get_le(r, 1, what);
    if (r->st == REFIT_OK && v >= limit)
        r->st = rf_error(REFIT_ERR_FORMAT, "%s: byte %zu: %s %u out of range", r->label, at, what, v);
    return v;
}
static void get_str(rbuf_t *r, char *dst, size_t cap, const char *what) {
    size_t at = r->off;
    uint64_t n = get_le(r, 4, what);
    if (r->st != REFIT_OK) return;
    if (n == 0 || n >= cap) {
        r->st = rf_error(REFIT_ERR_FORMAT, "%s: byte %zu: %s length %llu out of range", r->label,
                         at, what, (unsigned long long)n);
        return;
    }
    if (!need(r, (size_t)n, what)) return;
    memcpy(dst, r->p + r->off, (size_t)n);
    dst[n] = '\0';
    if (memchr(dst, '\0', (size_t)n)) {
        r->st = rf_error(REFIT_ERR_FORMAT, "%s: byte %zu: %s holds a NUL byte", r->label, at, what);
        return;
    }
    r->off += (size_t)n;
}

/* ---- build / free ------------------------------------------------------- */
refit_status rf_snap_build(const rf_model_config_t *cfg, int tp, rf_moe_mode_t moe, rf_qscheme_t scheme,
                           rf_snap_t **out) {
    rf_snap_t *s = calloc(1, sizeof *s);
    if (!s) return rf_error(REFIT_ERR_NOMEM, "snapshot");
    s->version = RF_SNAP_VERSION;
    s->tp = tp;
    s->moe = cfg->moe ? moe : RF_MOE_TP; /* dense models: one layout whatever was asked */
    s->scheme = scheme;
    s->cfg = *cfg;
    if (s->cfg.moe && !s->cfg.experts_field[0]) /* hand-built configs (synth) name no key */
        snprintf(s->cfg.experts_field, sizeof s->cfg.experts_field, "%s",
                 cfg->family == RF_FAM_MIXTRAL ? "num_local_experts" : "num_experts");
    refit_status st = rf_model_params(&s->cfg, tp, s->moe, &s->params, &s->n_params);
    if (st != REFIT_OK) {
        free(s);
        return st;
    }
    *out = s;
    return REFIT_OK;
}

void rf_snap_free(rf_snap_t *s) {
    if (!s) return;
    free(s->params);
    free(s);
}

/* ---- encode ------------------------------------------------------------- */
static void encode_config(wbuf_t *w, const rf_model_config_t *c) {
    put_str(w, c->model_type);
    put_u8(w, (uint8_t)c->family);
    const int64_t dims[] = {c->hidden, c->n_heads, c->n_kv_heads, c->head_dim,
                            c->intermediate, c->vocab, c->n_layers};
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++) put_u64(w, (uint64_t)dims[i]);
    put_u8(w, c->tie_embeddings);
    put_u8(w, c->qkv_bias);
    put_u8(w, c->qk_norm);
    put_u8(w, c->moe);
    if (!c->moe) return;
    put_str(w, c->experts_field);
    const int64_t moe[] = {c->n_experts, c->moe_inter, c->shared_inter, c->sparse_step};
    for (size_t i = 0; i < sizeof moe / sizeof moe[0]; i++) put_u64(w, (uint64_t)moe[i]);
    put_u32(w, (uint32_t)c->n_mlp_only);
    for (int32_t i = 0; i < c->n_mlp_only; i++) put_u32(w, (uint32_t)c->mlp_only[i]);
}

static void encode_param(wbuf_t *w, const rf_param_t *p) {
    put_str(w, p->name);
    put_u8(w, (uint8_t)p->layout);
    put_u8(w, (uint8_t)p->ndim);
    put_u64(w, (uint64_t)p->rows);
    put_u64(w, (uint64_t)p->cols);
    put_u8(w, p->quantize);
    put_u8(w, (uint8_t)p->n_parts);
    for (int i = 0; i < p->n_parts; i++) {
        put_str(w, p->parts[i].src);
        put_u8(w, (uint8_t)p->parts[i].ndim);
        put_u64(w, (uint64_t)p->parts[i].rows);
        put_u64(w, (uint64_t)p->parts[i].cols);
        put_u64(w, (uint64_t)p->part_rows[i]);
    }
    put_u64(w, (uint64_t)p->vocab_real);
    put_u64(w, (uint64_t)p->kv_replicas);
    if (!rf_param_is_expert(p)) return;
    /* SPEC §3a: per expert param E, the mode, I_r, Ip, Hp; each rank's E_r,
     * e0 and range c follow from them and its tp rank (rf_param_experts). */
    put_u64(w, (uint64_t)p->experts);
    put_u8(w, (uint8_t)p->moe);
    put_u64(w, (uint64_t)p->inter_r);
    put_u64(w, (uint64_t)p->inter_pad);
    put_u64(w, (uint64_t)p->hidden_pad);
}

refit_status rf_snap_encode(const rf_snap_t *s, uint8_t **buf, size_t *len) {
    wbuf_t w = {0};
    put(&w, RF_SNAP_MAGIC, 8);
    put_u32(&w, s->version);
    put_u32(&w, 0); /* crc32, patched below */
    put_u64(&w, 0); /* payload length, patched below */
    put_u32(&w, (uint32_t)s->tp);
    put_u8(&w, (uint8_t)s->moe);
    put_u8(&w, (uint8_t)s->scheme);
    encode_config(&w, &s->cfg);
    put_u32(&w, (uint32_t)s->n_params);
    for (size_t i = 0; i < s->n_params; i++) encode_param(&w, &s->params[i]);
    if (w.oom) {
        free(w.buf);
        return rf_error(REFIT_ERR_NOMEM, "snapshot encoding");
    }
    uint64_t payload = w.len - RF_SNAP_HEADER_BYTES;
    uint32_t crc = (uint32_t)crc32(0L, w.buf + RF_SNAP_HEADER_BYTES, (uInt)payload);
    for (int i = 0; i < 4; i++) w.buf[12 + i] = (uint8_t)(crc >> (8 * i));
    for (int i = 0; i < 8; i++) w.buf[16 + i] = (uint8_t)(payload >> (8 * i));
    *buf = w.buf;
    *len = w.len;
    return REFIT_OK;
}

uint64_t rf_snap_digest(const uint8_t *encoded, size_t len) {
    if (len < RF_SNAP_HEADER_BYTES) return 0;
    uint64_t crc = 0;
    for (int i = 0; i < 4; i++) crc |= (uint64_t)encoded[12 + i] << (8 * i);
    return (crc << 32) ^ (uint64_t)(len - RF_SNAP_HEADER_BYTES);
}

/* ---- decode ------------------------------------------------------------- */
static void decode_config(rbuf_t *r, rf_model_config_t *c) {
    get_str(r, c->model_type, sizeof c->model_type, "model_type");
    c->family = (rf_family_t)get_enum(r, RF_FAM_COUNT, "family");
    int64_t *dims[] = {&c->hidden, &c->n_heads, &c->n_kv_heads, &c->head_dim,
                       &c->intermediate, &c->vocab, &c->n_layers};
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++) *dims[i] = get_dim(r, "config size");
    c->tie_embeddings = get_enum(r, 2, "tie_word_embeddings");
    c->qkv_bias = get_enum(r, 2, "qkv_bias");
    c->qk_norm = get_enum(r, 2, "qk_norm");
    c->moe = get_enum(r, 2, "moe flag");
    if (!c->moe || r->st != REFIT_OK) return;
    get_str(r, c->experts_field, sizeof c->experts_field, "experts field");
    c->n_experts = (int64_t)get_le(r, 8, "num_experts");
    if (r->st == REFIT_OK && c->n_experts > (1 << 16))
        r->st = rf_error(REFIT_ERR_FORMAT, "%s: byte %zu: num_experts %lld out of range", r->label, r->off,
                         (long long)c->n_experts);
    c->moe_inter = get_dim(r, "moe_intermediate_size");
    c->shared_inter = (int64_t)get_le(r, 8, "shared_expert_intermediate_size");
    c->sparse_step = get_dim(r, "decoder_sparse_step");
    size_t at = r->off;
    uint64_t n = get_le(r, 4, "mlp_only_layers count");
    if (r->st == REFIT_OK && n > RF_MAX_MLP_ONLY)
        r->st = rf_error(REFIT_ERR_FORMAT, "%s: byte %zu: %llu mlp_only_layers out of range", r->label, at,
                         (unsigned long long)n);
    c->n_mlp_only = (int32_t)(r->st == REFIT_OK ? n : 0);
    for (int32_t i = 0; i < c->n_mlp_only; i++) c->mlp_only[i] = (int32_t)get_le(r, 4, "mlp_only layer");
}

/* The expert fields, checked against each other and the parts so that
 * rf_param_experts / rf_param_row_source stay inside the source tensors. */
static void decode_expert(rbuf_t *r, rf_param_t *p) {
    size_t at = r->off;
    p->experts = get_dim(r, "experts");
    p->moe = (rf_moe_mode_t)get_enum(r, RF_MOE_COUNT, "MoE mode");
    p->inter_r = get_dim(r, "I_r");
    p->inter_pad = get_dim(r, "Ip");
    p->hidden_pad = get_dim(r, "Hp");
    if (r->st != REFIT_OK) return;
    bool w13 = p->layout == RF_LAYOUT_EXPERTS_W13;
    const rf_part_t *pt = &p->parts[0];
    int64_t inter = w13 ? pt->rows : pt->cols, hidden = w13 ? pt->cols : pt->rows;
    bool ok = p->experts <= (1 << 16) && p->n_parts == (w13 ? 2 : 1) && pt->ndim == 2 &&
              (!w13 || (p->parts[1].rows == inter && p->parts[1].cols == hidden)) &&
              (p->moe == RF_MOE_EP ? p->inter_r == inter : inter % p->inter_r == 0) &&
              p->rows == (w13 ? 2 * p->inter_r : hidden) && p->cols == (w13 ? hidden : p->inter_r) &&
              p->inter_pad == (p->inter_r + 127) / 128 * 128 && p->hidden_pad == (hidden + 127) / 128 * 128;
    for (int k = 0; ok && k < p->n_parts; k++) ok = strstr(p->parts[k].src, RF_EXPERT_MARK) != NULL;
    if (!ok)
        r->st = rf_error(REFIT_ERR_FORMAT, "%s: byte %zu: expert param %s has inconsistent sizes", r->label, at,
                         p->name);
}

static void decode_param(rbuf_t *r, rf_param_t *p) {
    get_str(r, p->name, sizeof p->name, "param name");
    p->layout = (rf_layout_t)get_enum(r, RF_LAYOUT_COUNT, "layout");
    p->ndim = (int)get_enum(r, 4, "ndim");
    if (r->st == REFIT_OK && p->ndim == 0)
        r->st = rf_error(REFIT_ERR_FORMAT, "%s: byte %zu: param %s has ndim 0", r->label, r->off, p->name);
    p->rows = get_dim(r, "rows");
    p->cols = get_dim(r, "cols");
    p->quantize = get_enum(r, 2, "quantize flag");
    p->n_parts = (int)get_enum(r, RF_MAX_PARTS + 1, "part count");
    for (int i = 0; i < p->n_parts && r->st == REFIT_OK; i++) {
        get_str(r, p->parts[i].src, sizeof p->parts[i].src, "source name");
        p->parts[i].ndim = (int)get_enum(r, 3, "source ndim");
        p->parts[i].rows = get_dim(r, "source rows");
        p->parts[i].cols = get_dim(r, "source cols");
        p->part_rows[i] = (int64_t)get_le(r, 8, "part rows");
    }
    p->vocab_real = (int64_t)get_le(r, 8, "vocab");
    p->kv_replicas = (int64_t)get_le(r, 8, "kv replicas");
    if (r->st == REFIT_OK && p->n_parts == 0)
        r->st = rf_error(REFIT_ERR_FORMAT, "%s: byte %zu: param %s has no source", r->label, r->off, p->name);
    if (r->st == REFIT_OK && (p->ndim == 3) != rf_param_is_expert(p))
        r->st = rf_error(REFIT_ERR_FORMAT, "%s: byte %zu: param %s: ndim %d does not fit layout %s", r->label,
                         r->off, p->name, p->ndim, rf_layout_name(p->layout));
    if (r->st == REFIT_OK && rf_param_is_expert(p)) decode_expert(r, p);
}

static refit_status check_header(const uint8_t *buf, size_t len, const char *label, uint32_t *version) {
    if (len < RF_SNAP_HEADER_BYTES || memcmp(buf, RF_SNAP_MAGIC, 8) != 0)
        return rf_error(REFIT_ERR_FORMAT, "%s: byte 0: not a refit snapshot (bad magic or %zu bytes)", label, len);
    rbuf_t r = {.p = buf, .len = len, .off = 8, .label = label};
    *version = (uint32_t)get_le(&r, 4, "version");
    uint32_t crc = (uint32_t)get_le(&r, 4, "crc32");
    uint64_t payload = get_le(&r, 8, "payload length");
    if (*version != RF_SNAP_VERSION)
        return rf_error(REFIT_ERR_FORMAT, "%s: byte 8: snapshot version %u, this refit reads %u", label,
                        *version, RF_SNAP_VERSION);
    if (payload != len - RF_SNAP_HEADER_BYTES)
        return rf_error(REFIT_ERR_FORMAT, "%s: byte 16: payload length %llu but %zu bytes follow", label,
                        (unsigned long long)payload, len - RF_SNAP_HEADER_BYTES);
    uint32_t actual = (uint32_t)crc32(0L, buf + RF_SNAP_HEADER_BYTES, (uInt)payload);
#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION /* let the fuzzer past the checksum */
    if (actual != crc)
        return rf_error(REFIT_ERR_FORMAT, "%s: byte 12: checksum 0x%08x, content has 0x%08x", label, crc, actual);
#else
    (void)actual;
    (void)crc;
#endif
    return REFIT_OK;
}

/* Expert params must split as the snapshot's tp and mode say: every rank
 * holds at least one expert, and under tp I_r * tp == I. */
static refit_status check_expert_split(const rf_snap_t *s, const char *label) {
    for (size_t i = 0; i < s->n_params; i++) {
        const rf_param_t *p = &s->params[i];
        if (!rf_param_is_expert(p)) continue;
        int64_t inter = p->layout == RF_LAYOUT_EXPERTS_W13 ? p->parts[0].rows : p->parts[0].cols;
        if (p->moe != s->moe || p->experts < s->tp || (p->moe == RF_MOE_TP && p->inter_r * s->tp != inter))
            return rf_error(REFIT_ERR_FORMAT, "%s: expert param %s does not split over tp %d (--moe %s)", label,
                            p->name, s->tp, rf_moe_mode_name(s->moe));
    }
    return REFIT_OK;
}

refit_status rf_snap_decode(const uint8_t *buf, size_t len, const char *label, rf_snap_t **out) {
    uint32_t version = 0;
    RF_CHECK(check_header(buf, len, label, &version));
    rbuf_t r = {.p = buf, .len = len, .off = RF_SNAP_HEADER_BYTES, .label = label};
    rf_snap_t *s = calloc(1, sizeof *s);
    if (!s) return rf_error(REFIT_ERR_NOMEM, "snapshot");
    s->version = version;
    s->tp = (int)get_le(&r, 4, "tp");
    s->moe = (rf_moe_mode_t)get_enum(&r, RF_MOE_COUNT, "MoE mode");
    s->scheme = (rf_qscheme_t)get_enum(&r, RF_Q_COUNT, "scheme");
    decode_config(&r, &s->cfg);
    size_t at = r.off;
    uint64_t n = get_le(&r, 4, "param count");
    /* each param needs far more than 16 bytes: bounds the allocation by the input */
    if (r.st == REFIT_OK && (s->tp < 1 || s->tp > (1 << 20)))
        r.st = rf_error(REFIT_ERR_FORMAT, "%s: byte %d: tp %d out of range", label, RF_SNAP_HEADER_BYTES, s->tp);
    if (r.st == REFIT_OK && (n == 0 || n > (len - r.off) / 16))
        r.st = rf_error(REFIT_ERR_FORMAT, "%s: byte %zu: param count %llu out of range", label, at,
                        (unsigned long long)n);
    if (r.st == REFIT_OK && !(s->params = calloc((size_t)n, sizeof *s->params)))
        r.st = rf_error(REFIT_ERR_NOMEM, "snapshot params");
    for (uint64_t i = 0; i < n && r.st == REFIT_OK; i++) decode_param(&r, &s->params[i]);
    s->n_params = (size_t)n;
    if (r.st == REFIT_OK) r.st = check_expert_split(s, label);
    if (r.st == REFIT_OK && r.off != len)
        r.st = rf_error(REFIT_ERR_FORMAT, "%s: byte %zu: %zu trailing bytes", label, r.off, len - r.off);
    if (r.st != REFIT_OK) {
        rf_snap_free(s);
        return r.st;
    }
    *out = s;
    return REFIT_OK;
}

/* ---- R0: checkpoint vs snapshot ----------------------------------------- */
/* A part's tensor: present, of a SPEC §1 source dtype (BF16, F16, F32: the
 * dtype may change from one generation to the next, so it is the source's,
 * never compared with an earlier one), of the recorded shape. */
static refit_status check_part(const rf_manifest_t *m, const rf_part_t *part) {
    const rf_mf_entry_t *t;
    rf_conv_t conv;
    RF_CHECK(rf_manifest_need(m, part->src, &t));
    if (!rf_conv_of(t->dtype, &conv))
        return rf_error(REFIT_ERR_UNSUPPORTED, "unsupported dtype %s in tensor %s of file %s (refit reads BF16, F16, "
                        "F32)", rf_dtype_name(t->dtype), part->src, t->src.file);
    bool ok = t->ndim == part->ndim && t->shape[0] == (uint64_t)part->rows &&
              (part->ndim == 1 || t->shape[1] == (uint64_t)part->cols);
    if (!ok) {
        char got[128] = "";
        size_t o = 0;
        for (int d = 0; d < t->ndim && o < sizeof got - 24; d++)
            o += (size_t)snprintf(got + o, sizeof got - o, "%s%llu", d ? "," : "",
                                  (unsigned long long)t->shape[d]);
        if (part->ndim == 1)
            return rf_error(REFIT_ERR_MISMATCH, "%s: tensor %s has shape [%s], snapshot records [%lld]",
                            t->src.file, part->src, got, (long long)part->rows);
        return rf_error(REFIT_ERR_MISMATCH, "%s: tensor %s has shape [%s], snapshot records [%lld,%lld]",
                        t->src.file, part->src, got, (long long)part->rows, (long long)part->cols);
    }
    return REFIT_OK;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Every source tensor name of every param (experts expanded), sorted. */
static refit_status known_names(const rf_snap_t *s, char **store, const char ***known, size_t *n) {
    size_t total = 0;
    for (size_t i = 0; i < s->n_params; i++) total += (size_t)rf_param_n_sources(&s->params[i]);
    *store = malloc(total * RF_NAME_MAX + 1);
    *known = malloc(sizeof **known * (total ? total : 1));
    if (!*store || !*known) return rf_error(REFIT_ERR_NOMEM, "tensor name table");
    *n = 0;
    for (size_t i = 0; i < s->n_params; i++)
        for (int k = 0; k < rf_param_n_sources(&s->params[i]); k++) {
            rf_part_t pt;
            RF_CHECK(rf_param_source(&s->params[i], k, &pt));
            char *dst = *store + *n * RF_NAME_MAX;
            memcpy(dst, pt.src, RF_NAME_MAX);
            (*known)[(*n)++] = dst;
        }
    qsort(*known, *n, sizeof **known, cmp_str);
    return REFIT_OK;
}

/* Every checkpoint tensor must feed some param or be deliberately skipped. */
static refit_status check_unknown(const rf_snap_t *s, const rf_manifest_t *m) {
    char *store = NULL;
    const char **known = NULL;
    size_t n = 0;
    refit_status st = known_names(s, &store, &known, &n);
    for (size_t i = 0; i < m->n && st == REFIT_OK; i++) {
        const rf_mf_entry_t *t = &m->e[i];
        int64_t e = 0;
        if (rf_model_skips(&s->cfg, t->name)) continue;
        if (bsearch(&t->name, known, n, sizeof *known, cmp_str)) continue;
        if (rf_model_expert_out_of_range(&s->cfg, t->name, &e))
            st = rf_error(REFIT_ERR_UNSUPPORTED, "%s: tensor %s: expert index %lld >= %s %lld", t->src.file,
                          t->name, (long long)e, s->cfg.experts_field, (long long)s->cfg.n_experts);
        else
            st = rf_error(REFIT_ERR_UNSUPPORTED, "%s: unknown tensor %s (not part of any %s param)",
                          t->src.file, t->name, s->cfg.model_type);
    }
    free(known);
    free(store);
    return st;
}

refit_status rf_snap_check_manifest(const rf_snap_t *s, const rf_manifest_t *m) {
    for (size_t i = 0; i < s->n_params; i++)
        for (int k = 0; k < rf_param_n_sources(&s->params[i]); k++) {
            rf_part_t pt;
            RF_CHECK(rf_param_source(&s->params[i], k, &pt));
            RF_CHECK(check_part(m, &pt));
        }
    return check_unknown(s, m);
}

refit_status rf_snap_check_ckpt(const rf_snap_t *s, const rf_ckpt_t *c) {
    rf_manifest_t *m = calloc(1, sizeof *m); /* 4 KiB of `where`: off the stack */
    if (!m) return rf_error(REFIT_ERR_NOMEM, "manifest");
    refit_status st = rf_manifest_from_ckpt(c, m);
    if (st == REFIT_OK) st = rf_snap_check_manifest(s, m);
    rf_manifest_free(m);
    free(m);
    return st;
}

/* ---- helpers and listing ------------------------------------------------ */
bool rf_snap_param_quantized(const rf_snap_t *s, const rf_param_t *p) {
    return p->quantize && s->scheme != RF_Q_NONE;
}

void rf_snap_param_sizes(const rf_snap_t *s, const rf_param_t *p, int tp_rank, uint64_t *data, uint64_t *scales) {
    uint64_t elems = rf_param_local_elems(p, s->tp, tp_rank);
    *scales = 0;
    if (!rf_snap_param_quantized(s, p)) {
        *data = elems * 2;
    } else if (rf_param_is_expert(p)) {
        rf_q_moe_t m = rf_param_moe_desc(p, s->tp, tp_rank);
        *data = rf_q_moe_out_bytes(s->scheme, &m);
        *scales = rf_q_moe_scale_count(s->scheme, &m) * sizeof(float);
    } else {
        *data = elems;
        *scales = rf_q_scale_count(s->scheme, p->rows, p->cols) * sizeof(float);
    }
}

/* Shape column of the listing: expert params show [E_r,rows,cols] with
 * E_r of tp rank 0 and, under ep, the range over ranks. */
static void print_shape(const rf_snap_t *s, const rf_param_t *p, FILE *out) {
    char buf[96];
    if (p->ndim == 1) snprintf(buf, sizeof buf, "[%lld]", (long long)p->rows);
    else if (p->ndim == 2) snprintf(buf, sizeof buf, "[%lld,%lld]", (long long)p->rows, (long long)p->cols);
    else {
        int64_t lo = rf_param_local_count(p, s->tp, s->tp - 1), hi = rf_param_local_count(p, s->tp, 0);
        if (lo == hi) snprintf(buf, sizeof buf, "[%lld,%lld,%lld]", (long long)hi, (long long)p->rows,
                               (long long)p->cols);
        else snprintf(buf, sizeof buf, "[%lld..%lld,%lld,%lld]", (long long)lo, (long long)hi,
                      (long long)p->rows, (long long)p->cols);
    }
    fprintf(out, "  %-58s %-11s %-18s", p->name, rf_layout_name(p->layout), buf);
}

void rf_snap_print(const rf_snap_t *s, FILE *out) {
    const rf_model_config_t *c = &s->cfg;
    fprintf(out, "snapshot v%u: %s, tp %d, scheme %s, %zu params\n", s->version, c->model_type, s->tp,
            rf_q_scheme_name(s->scheme), s->n_params);
    fprintf(out, "  hidden %lld, heads %lld, kv heads %lld, head_dim %lld, intermediate %lld, vocab %lld, "
            "layers %lld%s\n", (long long)c->hidden, (long long)c->n_heads, (long long)c->n_kv_heads,
            (long long)c->head_dim, (long long)c->intermediate, (long long)c->vocab,
            (long long)c->n_layers, c->tie_embeddings ? ", tied embeddings" : "");
    if (c->moe)
        fprintf(out, "  experts %lld (%s), expert size %lld%s, --moe %s\n", (long long)c->n_experts,
                c->experts_field, (long long)c->moe_inter, c->family == RF_FAM_QWEN2_MOE ? ", shared expert" : "",
                rf_moe_mode_name(s->moe));
    for (size_t i = 0; i < s->n_params; i++) {
        const rf_param_t *p = &s->params[i];
        print_shape(s, p, out);
        fprintf(out, "%s  <-", rf_snap_param_quantized(s, p) ? " fp8" : " bf16");
        for (int k = 0; k < p->n_parts; k++) fprintf(out, " %s", p->parts[k].src);
        if (rf_param_is_expert(p)) fprintf(out, " (e < %lld)", (long long)p->experts);
        fputc('\n', out);
    }
}
