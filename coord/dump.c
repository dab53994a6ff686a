/* refit_dump (SPEC §5): every rank writes its params of the last committed
 * generation to DIR/rank-RRRRR-of-NNNNN.safetensors; rank 0 also saves the
 * snapshot. Nothing backend-specific goes into a dump, so host and CUDA
 * dumps of the same run are byte-identical. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ctx_internal.h"
#include "rf_fileio.h"
#include "safetensors.h"

typedef struct {
    refit_ctx *ctx;
    size_t n;
    const void **src; /* [n] backend pointer of each dumped tensor */
} dump_fill_t;

static refit_status fill_tensor(void *user, size_t index, uint8_t *dst, uint64_t nbytes) {
    dump_fill_t *f = user;
    return f->ctx->be->ops->to_host(f->ctx->be, dst, f->src[index], (size_t)nbytes);
}

/* "x.weight" -> "x.weight_scale" / "x.weight_scale_inv" (SPEC §4);
 * "B.experts.w13_weight" -> "B.experts.w13_weight_scale" (SPEC §3a). */
static void scale_name(const char *param, rf_qscheme_t s, char *out, size_t cap) {
    size_t n = strlen(param);
    const char *suffix = rf_q_scale_suffix(s);
    if (n > 6 && !strcmp(param + n - 6, "weight"))
        snprintf(out, cap, "%.*s%s", (int)(n - 6), param, suffix);
    else
        snprintf(out, cap, "%s_%s", param, suffix);
}

/* Dumped shapes of param p on this rank: the weight (expert params 3-D,
 * fp8-block experts padded, SPEC §3a) and, when quantized, its scales. */
static void dump_shapes(refit_ctx *ctx, const rf_param_t *p, int *ndim, uint64_t shape[3], int *sndim,
                        uint64_t sshape[3]) {
    rf_qscheme_t s = rf_snap_param_quantized(ctx->snap, p) ? ctx->scheme : RF_Q_NONE;
    *sndim = 0;
    if (rf_param_is_expert(p)) {
        rf_q_moe_t m = rf_param_moe_desc(p, ctx->snap->tp, rf_comm_tp_rank(ctx->comm));
        *ndim = 3;
        rf_q_moe_out_shape(s, &m, shape);
        rf_q_moe_scale_shape(s, &m, sndim, sshape);
        return;
    }
    *ndim = p->ndim;
    shape[0] = (uint64_t)p->rows;
    shape[1] = (uint64_t)p->cols;
    if (s != RF_Q_NONE) rf_q_scale_shape(s, p->rows, p->cols, sndim, sshape);
}

static refit_status add_param(rf_st_writer_t *w, dump_fill_t *f, size_t i) {
    refit_ctx *ctx = f->ctx;
    const rf_param_t *p = &ctx->snap->params[i];
    const rf_pstate_t *ps = &ctx->ps[i];
    bool q = rf_snap_param_quantized(ctx->snap, p);
    int ndim, sndim;
    uint64_t shape[3], sshape[3];
    dump_shapes(ctx, p, &ndim, shape, &sndim, sshape);
    RF_CHECK(rf_st_writer_add(w, p->name, q ? RF_DT_F8_E4M3 : RF_DT_BF16, ndim, shape, NULL));
    f->src[f->n++] = ps->live;
    if (!q) return REFIT_OK;
    char name[RF_NAME_MAX + 16];
    scale_name(p->name, ctx->scheme, name, sizeof name);
    RF_CHECK(rf_st_writer_add(w, name, RF_DT_F32, sndim, sshape, NULL));
    f->src[f->n++] = ps->live_scales;
    return REFIT_OK;
}

static refit_status write_rank_file(refit_ctx *ctx, const char *dir) {
    int rank = rf_comm_rank(ctx->comm), world = rf_comm_world(ctx->comm);
    char path[4200], val[32];
    snprintf(path, sizeof path, "%s/rank-%05d-of-%05d.safetensors", dir, rank, world);
    dump_fill_t f = {.ctx = ctx, .src = malloc(sizeof(void *) * 2 * ctx->snap->n_params)};
    rf_st_writer_t *w = NULL;
    refit_status st = f.src ? rf_st_writer_create(&w) : rf_error(REFIT_ERR_NOMEM, "dump table");
    struct { const char *key; long long v; } meta[] = {
        {"generation", ctx->generation}, {"tp_rank", rf_comm_tp_rank(ctx->comm)},
        {"tp_size", rf_comm_tp(ctx->comm)}, {"rank", rank}, {"world_size", world}};
    for (size_t k = 0; k < sizeof meta / sizeof meta[0] && st == REFIT_OK; k++) {
        snprintf(val, sizeof val, "%lld", meta[k].v);
        st = rf_st_writer_meta(w, meta[k].key, val);
    }
    if (st == REFIT_OK) st = rf_st_writer_meta(w, "scheme", rf_q_scheme_name(ctx->scheme));
    if (st == REFIT_OK) st = rf_st_writer_meta(w, "model_type", ctx->snap->cfg.model_type);
    if (st == REFIT_OK) st = rf_st_writer_meta(w, "refit_version", refit_version());
    if (st == REFIT_OK && ctx->snap->cfg.moe) /* SPEC §3a */
        st = rf_st_writer_meta(w, "moe_parallel", rf_moe_mode_name(ctx->snap->moe));
    for (size_t i = 0; i < ctx->snap->n_params && st == REFIT_OK; i++) st = add_param(w, &f, i);
    if (st == REFIT_OK) st = rf_st_writer_write(w, path, fill_tensor, &f);
    rf_st_writer_destroy(w);
    free(f.src);
    return st;
}

static refit_status write_snapshot(refit_ctx *ctx, const char *dir) {
    char path[4200];
    snprintf(path, sizeof path, "%s/snapshot.refit", dir);
    FILE *fp = fopen(path, "wb");
    if (!fp) return rf_error(REFIT_ERR_IO, "%s: %s", path, strerror(errno));
    size_t n = fwrite(ctx->snap_blob, 1, ctx->snap_len, fp);
    if (fclose(fp) != 0 || n != ctx->snap_len)
        return rf_error(REFIT_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    return REFIT_OK;
}

refit_status rf_dump_local(refit_ctx *ctx, const char *dir) {
    if (ctx->generation < 0) return rf_error(REFIT_ERR_STATE, "nothing to dump: no generation was ever committed");
    if (!ctx->valid)
        return rf_error(REFIT_ERR_STATE,
                        "nothing to dump: an in-place reload failed, the live weights match no checkpoint");
    RF_CHECK(rf_mkdir_p(dir, 0755));
    RF_CHECK(write_rank_file(ctx, dir));
    return rf_comm_rank(ctx->comm) == 0 ? write_snapshot(ctx, dir) : REFIT_OK;
}

refit_status refit_dump(refit_ctx *ctx, const char *dir) {
    rf_err_clear();
    int saved;
    refit_status st = rf_ctx_device_enter(ctx, &saved); /* refit.h: the caller's device back on return */
    if (st == REFIT_OK) {
        rf_guard_live_lock(ctx->guard); /* not at once with a dying rank's emergency dump */
        st = rf_dump_local(ctx, dir);
        rf_guard_live_unlock(ctx->guard, ctx->generation);
    }
    rf_ctx_device_leave(ctx, saved);
    st = rf_comm_agree(ctx->comm, st);
    if (st != REFIT_OK) snprintf(ctx->last_error, sizeof ctx->last_error, "%s", rf_err_msg());
    return st;
}
