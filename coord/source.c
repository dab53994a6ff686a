/* The source of a load (issue 11; shard/manifest.h, refit.h "sources"):
 * which ranks read it, its manifest checked against the snapshot at R0,
 * and the sources every packing rank reads bytes from in R3.
 *   DIR, readers root; ROOT_MEMORY: rank 0 reads and packs for everyone.
 *   DIR, readers all; RANK_MEMORY: "local": rank 0 checks its manifest at
 *     R0 (and records the snapshot on a first load); after R1 every other
 *     rank checks its own view (its directory's headers, or its tensors)
 *     and every rank packs only its own slices; nothing crosses the data
 *     plane. A rank that cannot open or read fails the agreement, which
 *     names it. */
#include <stdlib.h>
#include <string.h>

#include "config_diff.h"
#include "ctx_internal.h"

static bool is_memory(refit_source_kind k) { return k == REFIT_SOURCE_ROOT_MEMORY || k == REFIT_SOURCE_RANK_MEMORY; }

static const char *kind_name(uint64_t k) {
    static const char *const names[] = {"DIR (readers root)", "DIR (readers all)", "ROOT_MEMORY", "RANK_MEMORY"};
    return k < 4 ? names[k] : "?";
}

/* 0..3: the kinds of kind_name; the readers matter for directories only. */
static uint64_t kind_key(const refit_source *src) {
    if (src->kind == REFIT_SOURCE_DIR) return src->readers == REFIT_READERS_ALL ? 1 : 0;
    return src->kind == REFIT_SOURCE_ROOT_MEMORY ? 2 : 3;
}

static refit_status check_fields(const refit_source *src) {
    if (!src) return rf_error(REFIT_ERR_INVALID_ARG, "refit_stage_source: source is NULL");
    if (src->struct_size < offsetof(refit_source, config_dir) + sizeof src->config_dir)
        return rf_error(REFIT_ERR_INVALID_ARG, "refit_stage_source: struct_size %zu (call refit_source_default)",
                        src->struct_size);
    if (src->kind != REFIT_SOURCE_DIR && !is_memory(src->kind))
        return rf_error(REFIT_ERR_INVALID_ARG, "refit_stage_source: source kind %d", (int)src->kind);
    if (src->kind == REFIT_SOURCE_DIR && src->readers != REFIT_READERS_ROOT && src->readers != REFIT_READERS_ALL)
        return rf_error(REFIT_ERR_INVALID_ARG, "refit_stage_source: readers %d (REFIT_READERS_ROOT or _ALL)",
                        src->readers);
    return REFIT_OK;
}

refit_status rf_source_agree(refit_ctx *ctx, const refit_source *src) {
    refit_status st = check_fields(src);
    uint64_t mine = st == REFIT_OK ? kind_key(src) : 0;
    /* MIN of the kind and of its complement (MAX): a rank with a bad source
     * joins both with values that change neither */
    uint64_t lo = st == REFIT_OK ? mine : UINT64_MAX, neg_hi = st == REFIT_OK ? UINT64_MAX - mine : UINT64_MAX;
    refit_status cst = rf_comm_allreduce_min_u64(ctx->comm, &lo);
    if (cst == REFIT_OK) cst = rf_comm_allreduce_min_u64(ctx->comm, &neg_hi);
    if (st == REFIT_OK) st = cst;
    if (st == REFIT_OK && lo != UINT64_MAX - neg_hi)
        st = rf_error(REFIT_ERR_INVALID_ARG, "the ranks pass different source kinds (%s .. %s): every rank must pass "
                      "the same kind", kind_name(lo), kind_name(UINT64_MAX - neg_hi));
    st = rf_comm_agree(ctx->comm, st); /* a bad source on one rank fails every rank, naming it */
    ctx->local = st == REFIT_OK && (mine == 1 || mine == 3);
    ctx->dir_root = st == REFIT_OK && mine == 0;
    return st;
}

/* A later source's config must describe the model the snapshot records. */
static refit_status check_config(refit_ctx *ctx, const rf_model_config_t *cfg, const char *where) {
    rf_snap_t *cand = NULL;
    uint8_t *blob = NULL;
    size_t len = 0;
    RF_CHECK(rf_snap_build(cfg, ctx->snap->tp, ctx->snap->moe, ctx->scheme, &cand));
    refit_status st = rf_snap_encode(cand, &blob, &len);
    if (st == REFIT_OK && (len != ctx->snap_len || memcmp(blob, ctx->snap_blob, len) != 0)) {
        char diff[512];
        rf_snap_describe_diff(cand, ctx->snap, diff, sizeof diff);
        st = rf_error(REFIT_ERR_MISMATCH, "%s/config.json: %s (a different model than the snapshot)", where, diff);
    }
    free(blob);
    rf_snap_free(cand);
    return st;
}

/* This rank's manifest of src (a directory: opened and validated here). */
static refit_status open_manifest(refit_ctx *ctx, const refit_source *src, const char *dir) {
    ctx->mf = calloc(1, sizeof *ctx->mf);
    if (!ctx->mf) return rf_error(REFIT_ERR_NOMEM, "manifest");
    if (is_memory(src->kind)) {
        bool device_ok = strcmp(ctx->be->ops->name, "cuda") == 0;
        return rf_manifest_from_memory(src->tensors, src->n_tensors, rf_comm_rank(ctx->comm), device_ok, ctx->mf);
    }
    if (!dir) return rf_error(REFIT_ERR_INVALID_ARG, "rank 0 needs a checkpoint directory");
    RF_CHECK(rf_ckpt_open(dir, &ctx->ckpt));
    return rf_manifest_from_ckpt(ctx->ckpt, ctx->mf);
}

/* The model of this source: a directory's config.json, a memory source's
 * config_dir (NULL *cfg: none given, the snapshot's model stands). */
static refit_status source_config(refit_ctx *ctx, const refit_source *src, rf_model_config_t *buf,
                                  const rf_model_config_t **cfg, const char **where) {
    *cfg = NULL;
    if (!is_memory(src->kind)) {
        *cfg = rf_ckpt_config(ctx->ckpt);
        *where = rf_ckpt_dir(ctx->ckpt);
        return REFIT_OK;
    }
    if (!src->config_dir) {
        if (ctx->snap) return REFIT_OK;
        return rf_error(REFIT_ERR_INVALID_ARG, "a memory source in state created needs config_dir (the directory "
                        "of the model's config.json): nothing records the model yet");
    }
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/config.json", src->config_dir) >= sizeof path)
        return rf_error(REFIT_ERR_INVALID_ARG, "config_dir %s: path too long", src->config_dir);
    RF_CHECK(rf_cfg_load(path, buf));
    *cfg = buf;
    *where = src->config_dir;
    return REFIT_OK;
}

refit_status rf_source_open_root(refit_ctx *ctx, const refit_source *src) {
    rf_model_config_t buf;
    const rf_model_config_t *cfg;
    const char *where = NULL;
    RF_CHECK(open_manifest(ctx, src, src->dir));
    RF_CHECK(source_config(ctx, src, &buf, &cfg, &where));
    if (!ctx->snap) { /* I2: the first load records the snapshot */
        RF_CHECK(rf_snap_build(cfg, ctx->opt.tp, ctx->moe, ctx->scheme, &ctx->snap));
        RF_CHECK(rf_snap_encode(ctx->snap, &ctx->snap_blob, &ctx->snap_len));
    } else if (cfg) { /* the config first: a model of another shape is named as such */
        RF_CHECK(check_config(ctx, cfg, where));
    }
    RF_CHECK(rf_snap_check_manifest(ctx->snap, ctx->mf));
    if (ctx->local) return REFIT_OK; /* sources after R1, with every rank's */
    return rf_sources_open(ctx->mf, ctx->snap->params, ctx->snap->n_params, &ctx->src);
}

/* Readers all: each rank reads its own directory when it names one (its
 * view of a shared file system), else rank 0's. Every rank joins. */
static refit_status local_dir(refit_ctx *ctx, const refit_source *src, char **out) {
    bool root = rf_comm_rank(ctx->comm) == 0;
    uint8_t *blob = root && src->dir ? (uint8_t *)src->dir : NULL;
    size_t len = blob ? strlen(src->dir) + 1 : 0;
    RF_CHECK(rf_comm_bcast_blob(ctx->comm, &blob, &len));
    if (root) return REFIT_OK;
    if (src->dir) {
        free(blob);
        *out = strdup(src->dir);
    } else {
        *out = len && blob[len - 1] == '\0' ? (char *)blob : (free(blob), NULL);
    }
    return *out ? REFIT_OK : rf_error(REFIT_ERR_INVALID_ARG, "no checkpoint directory for readers all");
}

refit_status rf_source_open_local(refit_ctx *ctx, const refit_source *src) {
    bool root = rf_comm_rank(ctx->comm) == 0;
    char *dir = NULL;
    refit_status st = src->kind == REFIT_SOURCE_DIR ? local_dir(ctx, src, &dir) : REFIT_OK;
    if (st == REFIT_OK && !root) st = open_manifest(ctx, src, dir);
    /* every rank's view: its headers or tensors, checked as rank 0's were */
    if (st == REFIT_OK && !root) st = rf_snap_check_manifest(ctx->snap, ctx->mf);
    if (st == REFIT_OK) st = rf_sources_open(ctx->mf, ctx->snap->params, ctx->snap->n_params, &ctx->src);
    free(dir);
    return rf_source_name_rank(ctx, st);
}

refit_status rf_source_name_rank(refit_ctx *ctx, refit_status st) {
    /* the agreement gives every rank this message: it must say whose view
     * failed (the command's log prefix names the rank; an embedder's none) */
    if (st != REFIT_OK && st != REFIT_ERR_REMOTE && strncmp(rf_err_msg(), "rank ", 5) != 0) {
        char why[1024];
        snprintf(why, sizeof why, "%s", rf_err_msg());
        st = rf_error_replace(st, "rank %d: %s", rf_comm_rank(ctx->comm), why);
    }
    return st;
}

void rf_source_close(refit_ctx *ctx) {
    rf_sources_close(&ctx->src);
    if (ctx->mf) rf_manifest_free(ctx->mf);
    free(ctx->mf);
    ctx->mf = NULL;
    rf_ckpt_close(ctx->ckpt); /* the checkpoint may change before the next reload */
    ctx->ckpt = NULL;
}
