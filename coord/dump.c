/* refit_dump (SPEC §5): every rank writes its params of the last committed
 * generation to DIR/rank-RRRRR-of-NNNNN.safetensors; rank 0 also saves the
 * snapshot. Nothing backend-specific goes into a dump, so host and CUDA
 * dumps of the same run are byte-identical. The files form one set
 * (dump_set.h): temporary names per job and rank, renamed only after every
 * rank wrote its own, the manifest refit-dump.json last. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ctx_internal.h"
#include "dump_set.h"
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
void rf_scale_name(const char *param, rf_qscheme_t s, char *out, size_t cap) {
    size_t n = strlen(param);
    const char *suffix = rf_q_scale_suffix(s);
    if (n > 6 && !strcmp(param + n - 6, "weight"))
        snprintf(out, cap, "%.*s%s", (int)(n - 6), param, suffix);
    else
        snprintf(out, cap, "%s_%s", param, suffix);
}

/* Dumped shapes of param p on this rank: the weight (expert params 3-D,
 * fp8-block experts padded, SPEC §3a) and, when quantized, its scales. */
void rf_param_shapes(refit_ctx *ctx, const rf_param_t *p, int *ndim, uint64_t shape[3], int *sndim,
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
    rf_param_shapes(ctx, p, &ndim, shape, &sndim, sshape);
    RF_CHECK(rf_st_writer_add(w, p->name, q ? RF_DT_F8_E4M3 : RF_DT_BF16, ndim, shape, NULL));
    f->src[f->n++] = ps->live;
    if (!q) return REFIT_OK;
    char name[RF_NAME_MAX + 16];
    rf_scale_name(p->name, ctx->scheme, name, sizeof name);
    RF_CHECK(rf_st_writer_add(w, name, RF_DT_F32, sndim, sshape, NULL));
    f->src[f->n++] = ps->live_scales;
    return REFIT_OK;
}

static refit_status write_rank_file(refit_ctx *ctx, const char *path) {
    int rank = rf_comm_rank(ctx->comm), world = rf_comm_world(ctx->comm);
    char val[32];
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

static refit_status write_snapshot(refit_ctx *ctx, const char *path) {
    FILE *fp = fopen(path, "wb");
    if (!fp) return rf_error(REFIT_ERR_IO, "%s: %s", path, strerror(errno));
    size_t n = fwrite(ctx->snap_blob, 1, ctx->snap_len, fp);
    if (fclose(fp) != 0 || n != ctx->snap_len)
        return rf_error(REFIT_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    return REFIT_OK;
}

static refit_status can_dump(refit_ctx *ctx, const char *dir) {
    if (ctx->generation < 0) return rf_error(REFIT_ERR_STATE, "nothing to dump: no generation was ever committed");
    if (!ctx->valid)
        return rf_error(REFIT_ERR_STATE,
                        "nothing to dump: an in-place reload failed, the live weights match no checkpoint");
    return rf_mkdir_p(dir, 0755);
}

/* This rank's files of a dump (its rank file; rank 0 also the snapshot):
 * f[0], and f[1] on rank 0. Returns how many. */
static size_t dump_files(refit_ctx *ctx, const char *dir, uint64_t job, rf_dump_file_t f[2]) {
    char name[64];
    snprintf(name, sizeof name, "rank-%05d-of-%05d.safetensors", rf_comm_rank(ctx->comm), rf_comm_world(ctx->comm));
    rf_dump_file_init(&f[0], dir, name, job);
    if (rf_comm_rank(ctx->comm) != 0) return 1;
    rf_dump_file_init(&f[1], dir, RF_DUMP_SNAPSHOT, job);
    return 2;
}

/* Writes this rank's files under their temporary names and, for a set's
 * manifest, their sizes and digests (an emergency dump has no time to spare
 * for them: it writes no manifest). */
static refit_status write_tmp(refit_ctx *ctx, rf_dump_file_t *f, size_t n, bool digest) {
    refit_status st = write_rank_file(ctx, f[0].tmp);
    if (st == REFIT_OK && n > 1) st = write_snapshot(ctx, f[1].tmp);
    for (size_t i = 0; digest && i < n && st == REFIT_OK; i++)
        st = rf_dump_file_digest(f[i].tmp, &f[i].size, &f[i].digest);
    return st;
}

static void remove_tmp(const rf_dump_file_t *f, size_t n) {
    for (size_t i = 0; i < n; i++) (void)unlink(f[i].tmp); /* absent after a rename or a failed write: fine */
}

static refit_status rename_tmp(const rf_dump_file_t *f, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (rename(f[i].tmp, f[i].final) != 0)
            return rf_error(REFIT_ERR_IO, "%s: rename from %s: %s", f[i].final, f[i].tmp, strerror(errno));
    return REFIT_OK;
}

/* The emergency dump of a dying rank (no MPI, no agreement, no manifest):
 * its own files, each through a temporary name of its own and a rename. */
refit_status rf_dump_local(refit_ctx *ctx, const char *dir) {
    rf_dump_file_t f[2];
    RF_CHECK(can_dump(ctx, dir));
    size_t n = dump_files(ctx, dir, 0, f);
    refit_status st = write_tmp(ctx, f, n, false);
    if (st == REFIT_OK) st = rename_tmp(f, n);
    remove_tmp(f, n);
    return st;
}

/* A token shared by the ranks of this job, different in every job that
 * dumps at the same time: rank 0's pid and clock. */
static refit_status job_token(refit_ctx *ctx, uint64_t *job) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    *job = ((uint64_t)getpid() << 32) ^ (uint64_t)ts.tv_sec * 1000000000u ^ (uint64_t)ts.tv_nsec;
    return rf_comm_bcast(ctx->comm, job, sizeof *job);
}

/* Rank 0 collects every rank's (size, digest) and writes the manifest. */
static refit_status write_manifest(refit_ctx *ctx, const char *dir, const rf_dump_file_t *f, uint64_t job) {
    int world = rf_comm_world(ctx->comm);
    bool root = rf_comm_rank(ctx->comm) == 0;
    uint64_t mine[2] = {f[0].size, f[0].digest}, *all = root ? calloc((size_t)world, sizeof mine) : NULL;
    rf_dump_file_t *files = root ? calloc((size_t)world + 1, sizeof *files) : NULL;
    refit_status st = !root || (all && files) ? REFIT_OK : rf_error(REFIT_ERR_NOMEM, "dump manifest table");
    refit_status gst = rf_comm_gather(ctx->comm, mine, sizeof mine, all);
    if (st == REFIT_OK) st = gst;
    for (int r = 0; root && st == REFIT_OK && r <= world; r++) {
        char name[64];
        if (r < world) snprintf(name, sizeof name, "rank-%05d-of-%05d.safetensors", r, world);
        rf_dump_file_init(&files[r], dir, r < world ? name : RF_DUMP_SNAPSHOT, job);
        files[r].size = r < world ? all[2 * r] : f[1].size;
        files[r].digest = r < world ? all[2 * r + 1] : f[1].digest;
    }
    rf_dump_manifest_t m = {.generation = ctx->generation, .world = world, .tp = rf_comm_tp(ctx->comm),
                            .scheme = rf_q_scheme_name(ctx->scheme), .files = files, .n = (size_t)world + 1};
    if (root && st == REFIT_OK) st = rf_dump_manifest_write(dir, &m, job);
    free(all);
    free(files);
    return st;
}

/* write (temporary names) -> agree -> rank 0 removes the old manifest ->
 * agree -> rename -> agree -> manifest last. A failure before the renames
 * leaves the old set whole; one during them leaves no manifest, so the
 * directory reads "incomplete", never a complete-looking mix. `local`: this
 * rank's status so far, agreed with the writes. */
static refit_status dump_set(refit_ctx *ctx, const char *dir, uint64_t job, refit_status local) {
    bool root = rf_comm_rank(ctx->comm) == 0;
    rf_dump_file_t f[2];
    size_t n = dump_files(ctx, dir, job, f);
    rf_guard_live_lock(ctx->guard); /* not at once with a dying rank's emergency dump */
    refit_status st = local == REFIT_OK ? write_tmp(ctx, f, n, true) : local;
    rf_guard_live_unlock(ctx->guard, ctx->generation);
    st = rf_comm_agree(ctx->comm, st); /* from here on st is the same on every rank */
    refit_status mst = REFIT_OK;
    if (st == REFIT_OK && root) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", dir, RF_DUMP_MANIFEST);
        if (unlink(path) != 0 && errno != ENOENT)
            mst = rf_error(REFIT_ERR_IO, "%s: cannot remove the old manifest: %s", path, strerror(errno));
    }
    if (st == REFIT_OK) st = rf_comm_agree(ctx->comm, mst);
    if (st == REFIT_OK) st = rf_comm_agree(ctx->comm, rename_tmp(f, n));
    remove_tmp(f, n);
    if (st == REFIT_OK) st = rf_comm_agree(ctx->comm, write_manifest(ctx, dir, f, job));
    return st;
}

refit_status refit_dump(refit_ctx *ctx, const char *dir) {
    rf_err_clear();
    bool root = rf_comm_rank(ctx->comm) == 0;
    uint64_t job = 0;
    int lock = -1, saved;
    refit_status st = job_token(ctx, &job);
    if (st == REFIT_OK) st = can_dump(ctx, dir);
    /* the lock is rank 0's; every rank learns whether it was taken */
    if (st == REFIT_OK && root) st = rf_dump_lock(dir, ctx->opt.timeout_s > 0 ? ctx->opt.timeout_s / 2 : 30, &lock);
    st = rf_comm_agree(ctx->comm, st);
    bool entered = false;
    if (st == REFIT_OK) { /* refit.h: the caller's device back on return; a failure to enter is agreed */
        refit_status dst = rf_ctx_device_enter(ctx, &saved);
        entered = dst == REFIT_OK;
        st = dump_set(ctx, dir, job, dst);
    }
    if (entered) rf_ctx_device_leave(ctx, saved);
    rf_dump_unlock(lock);
    if (st != REFIT_OK) snprintf(ctx->last_error, sizeof ctx->last_error, "%s", rf_err_msg());
    return st;
}
