/* The reload protocol (SPEC §2) driving one context: R0 open and check,
 * R1 snapshot or digest, R2 restore, R3 transfer, R4 quantize, B agree and
 * commit all or none. Every rank runs every collective of a step even when
 * it already failed locally; failures meet at the agreement points, where
 * all ranks learn the first cause. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctx_internal.h"

#define RF_DEFAULT_BUCKET (32ull << 20) /* best of 16-64 MiB measured on 4 x H200 */

void refit_options_default(refit_options *opt) {
    *opt = (refit_options){.tp = 0, .quant = "fp8-tensor", .backend = REFIT_BACKEND_AUTO,
                           .bucket_bytes = 0, .commit = REFIT_COMMIT_SHADOW,
                           .timeout_s = RF_DEFAULT_TIMEOUT_S};
}

const char *refit_phase_name(refit_phase ph) {
    static const char *const names[REFIT_PHASE_COUNT] = {"open", "snapshot", "restore",
                                                         "transfer", "quantize", "commit"};
    return (int)ph >= 0 && ph < REFIT_PHASE_COUNT ? names[ph] : "unknown";
}

/* auto: cuda only when every rank has a GPU (the choice must be the same everywhere). */
static refit_status pick_backend(refit_ctx *ctx) {
    refit_backend want = ctx->opt.backend;
    if (want == REFIT_BACKEND_AUTO) {
        uint64_t all_gpu = rf_backend_cuda_available();
        RF_CHECK(rf_comm_allreduce_min_u64(ctx->comm, &all_gpu));
        want = all_gpu ? REFIT_BACKEND_CUDA : REFIT_BACKEND_HOST;
    }
    if (want == REFIT_BACKEND_CUDA) return rf_backend_cuda_create(ctx->comm, &ctx->be);
    return rf_backend_host_create(&ctx->be);
}

refit_status refit_create(const void *mpi_comm, const refit_options *opt, refit_ctx **out) {
    refit_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return rf_error(REFIT_ERR_NOMEM, "context");
    refit_options_default(&ctx->opt);
    if (opt) ctx->opt = *opt;
    if (!ctx->opt.quant) ctx->opt.quant = "fp8-tensor";
    ctx->generation = -1;
    ctx->valid = true;
    refit_status st = REFIT_OK;
    if (!rf_q_scheme_parse(ctx->opt.quant, &ctx->scheme))
        st = rf_error(REFIT_ERR_INVALID_ARG, "unknown quant scheme '%s' (fp8-tensor, fp8-row, fp8-block, none)",
                      ctx->opt.quant);
    int world = 0;
    if (st == REFIT_OK) {
        st = rf_comm_create(mpi_comm, 1, &ctx->comm); /* probe world size first */
        if (st == REFIT_OK) {
            world = rf_comm_world(ctx->comm);
            rf_comm_destroy(ctx->comm);
            ctx->comm = NULL;
        }
    }
    int tp = ctx->opt.tp > 0 ? ctx->opt.tp : world;
    if (st == REFIT_OK) st = rf_comm_create(mpi_comm, tp, &ctx->comm);
    ctx->opt.tp = tp;
    /* Every rank must agree on the bucket: the plan is the protocol. */
    ctx->bucket = ctx->opt.bucket_bytes ? ctx->opt.bucket_bytes : RF_DEFAULT_BUCKET;
    if (st == REFIT_OK) st = rf_comm_allreduce_min_u64(ctx->comm, &ctx->bucket);
    /* REFIT_FAULT and the watchdog: agreed apart, backend set-up may be collective */
    if (st == REFIT_OK) st = rf_comm_agree(ctx->comm, rf_guard_create(ctx, &ctx->guard));
    if (st == REFIT_OK) st = rf_comm_agree(ctx->comm, pick_backend(ctx));
    if (st != REFIT_OK) {
        refit_destroy(ctx);
        return st;
    }
    RF_INFO("snap", "context: world %d, tp %d, scheme %s, backend %s, bucket %llu bytes", world, tp,
            rf_q_scheme_name(ctx->scheme), ctx->be->name, (unsigned long long)ctx->bucket);
    *out = ctx;
    return REFIT_OK;
}

static void close_sources(refit_ctx *ctx);

static void free_params(refit_ctx *ctx) {
    if (!ctx->ps) return;
    for (size_t i = 0; i < ctx->snap->n_params; i++) {
        rf_pstate_t *p = &ctx->ps[i];
        void *bufs[] = {p->live, p->live_scales, p->shadow, p->shadow_scales};
        for (size_t k = 0; k < sizeof bufs / sizeof bufs[0]; k++)
            if (bufs[k]) ctx->be->release(ctx->be, bufs[k]);
    }
    free(ctx->ps);
    ctx->ps = NULL;
    if (ctx->staging) ctx->be->release(ctx->be, ctx->staging);
    ctx->staging = NULL;
}

void refit_destroy(refit_ctx *ctx) {
    if (!ctx) return;
    rf_guard_destroy(ctx->guard);
    if (ctx->be) free_params(ctx);
    rf_plan_free(&ctx->plan);
    rf_snap_free(ctx->snap);
    free(ctx->snap_blob);
    rf_ckpt_close(ctx->ckpt);
    close_sources(ctx);
    if (ctx->be) ctx->be->destroy(ctx->be);
    rf_comm_destroy(ctx->comm);
    free(ctx);
}

int64_t refit_generation(const refit_ctx *ctx) { return ctx->generation; }
int refit_model_valid(const refit_ctx *ctx) { return ctx->valid; }
const char *refit_last_error(const refit_ctx *ctx) { return ctx->last_error; }
const char *refit_backend_name(const refit_ctx *ctx) { return ctx->be->name; }

refit_status refit_last_stats(const refit_ctx *ctx, refit_load_stats *out) {
    *out = ctx->stats;
    return REFIT_OK;
}

/* ---- R0: rank 0 opens the checkpoint and checks it --------------------- */

/* A new checkpoint's config must describe the model the snapshot records. */
static refit_status check_config(refit_ctx *ctx) {
    const rf_model_config_t *cfg = rf_ckpt_config(ctx->ckpt);
    rf_snap_t *cand = NULL;
    uint8_t *blob = NULL;
    size_t len = 0;
    RF_CHECK(rf_snap_build(cfg, ctx->snap->tp, ctx->scheme, &cand));
    refit_status st = rf_snap_encode(cand, &blob, &len);
    if (st == REFIT_OK && (len != ctx->snap_len || memcmp(blob, ctx->snap_blob, len) != 0))
        st = rf_error(REFIT_ERR_MISMATCH,
                      "%s/config.json: describes a different model than the snapshot (%s, %lld layers, "
                      "hidden %lld vs snapshot %s, %lld layers, hidden %lld)",
                      rf_ckpt_dir(ctx->ckpt), cfg->model_type, (long long)cfg->n_layers,
                      (long long)cfg->hidden, ctx->snap->cfg.model_type,
                      (long long)ctx->snap->cfg.n_layers, (long long)ctx->snap->cfg.hidden);
    free(blob);
    rf_snap_free(cand);
    return st;
}

static void close_sources(refit_ctx *ctx) {
    for (size_t i = 0; i < ctx->n_fds; i++)
        if (ctx->fds[i] >= 0) close(ctx->fds[i]);
    free(ctx->fds);
    ctx->fds = NULL;
    ctx->n_fds = 0;
    free(ctx->src);
    ctx->src = NULL;
}

/* A read-only descriptor for file f, opened once per load. */
static refit_status file_fd(refit_ctx *ctx, const rf_st_file_t *f, const rf_st_file_t **seen, int *fd) {
    for (size_t i = 0; i < ctx->n_fds; i++)
        if (seen[i] == f) {
            *fd = ctx->fds[i];
            return REFIT_OK;
        }
    int d = open(rf_st_label(f), O_RDONLY | O_CLOEXEC);
    if (d < 0) return rf_error(REFIT_ERR_IO, "%s: open: %s", rf_st_label(f), strerror(errno));
    seen[ctx->n_fds] = f;
    ctx->fds[ctx->n_fds++] = d;
    *fd = d;
    return REFIT_OK;
}

/* Rank 0: where every part of every param is (mapping, file, offset). */
static refit_status resolve_sources(refit_ctx *ctx) {
    close_sources(ctx);
    size_t nf = rf_ckpt_count(ctx->ckpt);
    const rf_st_file_t **seen = calloc(nf ? nf : 1, sizeof *seen);
    ctx->fds = calloc(nf ? nf : 1, sizeof *ctx->fds);
    ctx->src = calloc(ctx->snap->n_params, sizeof *ctx->src);
    refit_status st = seen && ctx->fds && ctx->src ? REFIT_OK : rf_error(REFIT_ERR_NOMEM, "source table");
    for (size_t i = 0; i < ctx->snap->n_params && st == REFIT_OK; i++) {
        const rf_param_t *p = &ctx->snap->params[i];
        for (int k = 0; k < p->n_parts && st == REFIT_OK; k++) {
            const rf_st_file_t *f;
            const rf_st_tensor_t *t;
            int fd = -1;
            st = rf_ckpt_find(ctx->ckpt, p->parts[k].src, &f, &t);
            if (st == REFIT_OK) st = file_fd(ctx, f, seen, &fd);
            if (st == REFIT_OK)
                ctx->src[i][k] = (rf_src_t){.ptr = rf_st_data(f, t), .fd = fd, .off = rf_st_data_start(f) + t->begin};
        }
    }
    free(seen);
    return st;
}

static refit_status open_and_check(refit_ctx *ctx, const char *dir) {
    if (!dir) return rf_error(REFIT_ERR_INVALID_ARG, "rank 0 needs a checkpoint directory");
    RF_CHECK(rf_ckpt_open(dir, &ctx->ckpt));
    if (!ctx->snap) { /* I2: the first load records the snapshot */
        RF_CHECK(rf_snap_build(rf_ckpt_config(ctx->ckpt), ctx->opt.tp, ctx->scheme, &ctx->snap));
        RF_CHECK(rf_snap_encode(ctx->snap, &ctx->snap_blob, &ctx->snap_len));
        RF_CHECK(rf_snap_check_ckpt(ctx->snap, ctx->ckpt));
    } else {
        RF_CHECK(rf_snap_check_ckpt(ctx->snap, ctx->ckpt));
        RF_CHECK(check_config(ctx));
    }
    return resolve_sources(ctx);
}

/* ---- R1: snapshot whole at the first load, its digest afterwards ------- */
static refit_status adopt_snapshot(refit_ctx *ctx, uint8_t *blob, size_t len) {
    rf_snap_t *s = NULL;
    refit_status st = rf_snap_decode(blob, len, "snapshot from rank 0", &s);
    if (st != REFIT_OK) {
        free(blob);
        return st;
    }
    rf_snap_free(ctx->snap);
    free(ctx->snap_blob);
    ctx->snap = s;
    ctx->snap_blob = blob;
    ctx->snap_len = len;
    return REFIT_OK;
}

static refit_status distribute_snapshot(refit_ctx *ctx, uint64_t *bytes) {
    bool root = rf_comm_rank(ctx->comm) == 0;
    /* Digest first: 0 on a rank that holds none (the first load). */
    uint64_t digest[2] = {ctx->snap ? rf_snap_digest(ctx->snap_blob, ctx->snap_len) : 0, RF_SNAP_VERSION};
    uint64_t mine[2] = {digest[0], digest[1]};
    RF_CHECK(rf_comm_bcast(ctx->comm, digest, sizeof digest));
    uint64_t stale = !root && (mine[0] != digest[0] || mine[1] != digest[1]);
    if (stale && ctx->snap)
        RF_WARN("snap", "held snapshot digest %016llx differs from rank 0's %016llx: taking a new copy",
                (unsigned long long)mine[0], (unsigned long long)digest[0]);
    uint64_t any_fresh = !stale; /* MIN over ranks: 0 when any rank needs the whole snapshot */
    RF_CHECK(rf_comm_allreduce_min_u64(ctx->comm, &any_fresh));
    *bytes = sizeof digest;
    if (any_fresh) return REFIT_OK;
    uint8_t *blob = root ? ctx->snap_blob : NULL;
    size_t len = root ? ctx->snap_len : 0;
    RF_CHECK(rf_comm_bcast_blob(ctx->comm, &blob, &len));
    *bytes += len;
    if (root) return REFIT_OK;
    if (!stale) {
        free(blob);
        return REFIT_OK;
    }
    return adopt_snapshot(ctx, blob, len);
}

/* ---- R2: restore the bf16 params --------------------------------------- */
static refit_status alloc_param(refit_ctx *ctx, size_t i) {
    const rf_param_t *p = &ctx->snap->params[i];
    rf_pstate_t *ps = &ctx->ps[i];
    bool q = rf_snap_param_quantized(ctx->snap, p);
    uint64_t elems = (uint64_t)p->rows * (uint64_t)p->cols;
    ps->data_bytes = q ? elems : elems * 2;
    ps->scale_bytes = q ? rf_q_scale_count(ctx->scheme, p->rows, p->cols) * sizeof(float) : 0;
    ps->quantized_gen = ps->received_gen = -1;
    RF_CHECK(ctx->be->alloc(ctx->be, ps->data_bytes, &ps->live));
    if (ctx->opt.commit == REFIT_COMMIT_SHADOW) RF_CHECK(ctx->be->alloc(ctx->be, ps->data_bytes, &ps->shadow));
    if (ps->scale_bytes) {
        RF_CHECK(ctx->be->alloc(ctx->be, ps->scale_bytes, &ps->live_scales));
        if (ctx->opt.commit == REFIT_COMMIT_SHADOW)
            RF_CHECK(ctx->be->alloc(ctx->be, ps->scale_bytes, &ps->shadow_scales));
    }
    return REFIT_OK;
}

static refit_status restore(refit_ctx *ctx) {
    if (!ctx->ps) { /* first load: params at addresses that stay for good */
        ctx->ps = calloc(ctx->snap->n_params, sizeof *ctx->ps);
        if (!ctx->ps) return rf_error(REFIT_ERR_NOMEM, "param table");
        for (size_t i = 0; i < ctx->snap->n_params; i++) RF_CHECK(alloc_param(ctx, i));
        RF_CHECK(rf_plan_build(ctx->snap, ctx->bucket, &ctx->plan));
        for (size_t i = 0; i < ctx->snap->n_params; i++)
            if (rf_snap_param_quantized(ctx->snap, &ctx->snap->params[i]) &&
                rf_snap_param_bf16_bytes(&ctx->snap->params[i]) > ctx->staging_bytes)
                ctx->staging_bytes = rf_snap_param_bf16_bytes(&ctx->snap->params[i]);
        if (ctx->staging_bytes) RF_CHECK(ctx->be->alloc(ctx->be, ctx->staging_bytes, &ctx->staging));
    }
    if (ctx->opt.commit == REFIT_COMMIT_INPLACE) ctx->valid = false; /* until this load commits */
    return REFIT_OK;
}

/* ---- R3 + R4: receive slices, quantize each param once it is whole ------ */
void *rf_ctx_target(refit_ctx *ctx, size_t i, bool scales) {
    rf_pstate_t *ps = &ctx->ps[i];
    if (ctx->opt.commit == REFIT_COMMIT_INPLACE) return scales ? ps->live_scales : ps->live;
    return scales ? ps->shadow_scales : ps->shadow;
}

/* A quantized param's bf16 slice lands in the one staging buffer: params
 * complete in order and each is quantized before the next one's bytes are
 * unpacked (synchronously on host, stream-ordered on cuda). */
static void *xfer_dest(void *user, size_t i) {
    refit_ctx *ctx = user;
    if (rf_snap_param_quantized(ctx->snap, &ctx->snap->params[i])) return ctx->staging;
    return rf_ctx_target(ctx, i, false);
}

/* process_weights_after_loading for one param: quantizes at most once per
 * generation however often it is asked (SPEC §2 R4). */
static refit_status quantize_param(refit_ctx *ctx, size_t i) {
    rf_pstate_t *ps = &ctx->ps[i];
    const rf_param_t *p = &ctx->snap->params[i];
    if (!rf_snap_param_quantized(ctx->snap, p) || ps->quantized_gen == ctx->loading) return REFIT_OK;
    if (ps->received_gen != ctx->loading)
        return rf_error(REFIT_ERR_INTERNAL, "%s: asked to quantize before its bf16 slice arrived", p->name);
    RF_CHECK(rf_guard_fault(ctx->guard, REFIT_PHASE_QUANTIZE, p->name));
    double t0 = rf_now();
    refit_status st = ctx->be->process(ctx->be, i, ctx->scheme, ctx->staging, p->rows, p->cols,
                                       rf_ctx_target(ctx, i, false), rf_ctx_target(ctx, i, true));
    ctx->quant_seconds += rf_now() - t0;
    ctx->quant_bytes += rf_snap_param_bf16_bytes(p);
    if (st == REFIT_OK) ps->quantized_gen = ctx->loading;
    return st;
}

static refit_status xfer_complete(void *user, size_t i) {
    refit_ctx *ctx = user;
    const rf_param_t *p = &ctx->snap->params[i];
    /* R3's fault point: mid-transfer, as a slice lands, peers still sending */
    RF_CHECK(rf_guard_fault(ctx->guard, REFIT_PHASE_TRANSFER, p->name));
    ctx->ps[i].received_gen = ctx->loading;
    if (rf_snap_param_quantized(ctx->snap, p)) return quantize_param(ctx, i);
    RF_CHECK(rf_guard_fault(ctx->guard, REFIT_PHASE_QUANTIZE, p->name));
    double t0 = rf_now(); /* bf16 params: only the NaN/Inf scan */
    refit_status st = ctx->be->process(ctx->be, i, RF_Q_NONE, rf_ctx_target(ctx, i, false), p->rows, p->cols,
                                       NULL, NULL);
    ctx->quant_seconds += rf_now() - t0;
    return st;
}

/* Error for a NaN/Inf at local element `bad` of param i: names the param,
 * the checkpoint tensor and its row/column. */
static refit_status nonfinite_error(refit_ctx *ctx, size_t i, int64_t bad, uint16_t bits) {
    const rf_param_t *p = &ctx->snap->params[i];
    int64_t row = bad / p->cols, col = bad % p->cols;
    rf_row_src_t src = rf_param_row_source(p, ctx->snap->tp, rf_comm_tp_rank(ctx->comm), row);
    const char *what = (bits & 0x7f) ? "nan" : "inf";
    if (src.part < 0) src.part = 0;
    return rf_error(REFIT_ERR_NUMERIC, "%s: %s at row %lld col %lld (checkpoint tensor %s row %lld col %lld)",
                    p->name, what, (long long)row, (long long)col, p->parts[src.part].src,
                    (long long)src.src_row, (long long)(src.src_col + col));
}

void refit_set_progress(refit_ctx *ctx, refit_progress_fn fn, void *user) {
    ctx->progress_fn = fn;
    ctx->progress_user = user;
}

#define RF_PROGRESS_INTERVAL 0.1 /* seconds: ~10 calls a second at most */

static void xfer_progress(void *user, uint64_t done, uint64_t total) {
    refit_ctx *ctx = user;
    double now = rf_now();
    if (!ctx->progress_fn || (done < total && now - ctx->progress_last < RF_PROGRESS_INTERVAL)) return;
    ctx->progress_last = now;
    refit_progress p = {.generation = ctx->loading, .phase = REFIT_PHASE_TRANSFER, .bytes_done = done,
                        .bytes_total = total, .seconds = now - ctx->progress_t0};
    ctx->progress_fn(&p, ctx->progress_user);
}

static refit_status transfer_and_quantize(refit_ctx *ctx, uint64_t *moved) {
    bool root = rf_comm_rank(ctx->comm) == 0;
    rf_xfer_t x = {.snap = ctx->snap, .plan = &ctx->plan, .comm = ctx->comm,
                   .src = root ? (const rf_src_t(*)[RF_MAX_PARTS])ctx->src : NULL,
                   .bcast = ctx->opt.transfer == REFIT_TRANSFER_BCAST,
                   .dest = xfer_dest, .complete = xfer_complete, .user = ctx, .progress = xfer_progress,
                   .deadline = rf_guard_deadline(ctx->guard)};
    ctx->progress_t0 = ctx->progress_last = rf_now();
    rf_guard_phase(ctx->guard, REFIT_PHASE_TRANSFER);
    refit_status st = ctx->be->transfer(ctx->be, &x, moved);
    /* process_weights_after_loading over every param: a no-op for those
     * already quantized as their last bucket landed. */
    for (size_t i = 0; i < ctx->snap->n_params && st == REFIT_OK; i++) st = quantize_param(ctx, i);
    size_t bad_param;
    int64_t bad_elem;
    uint16_t bits;
    double t0 = rf_now();
    refit_status cst = ctx->be->collect(ctx->be, &bad_param, &bad_elem, &bits);
    ctx->quant_seconds += rf_now() - t0;
    if (st == REFIT_OK) st = cst;
    if (st == REFIT_OK && bad_param != SIZE_MAX) st = nonfinite_error(ctx, bad_param, bad_elem, bits);
    return st;
}

/* ---- B: all ranks agree, then commit together --------------------------- */
static refit_status commit_copy(refit_ctx *ctx, uint64_t *bytes) {
    if (ctx->opt.commit == REFIT_COMMIT_SHADOW) {
        for (size_t i = 0; i < ctx->snap->n_params; i++) {
            rf_pstate_t *ps = &ctx->ps[i];
            RF_CHECK(ctx->be->copy(ctx->be, ps->live, ps->shadow, ps->data_bytes));
            if (ps->scale_bytes) RF_CHECK(ctx->be->copy(ctx->be, ps->live_scales, ps->shadow_scales, ps->scale_bytes));
            *bytes += ps->data_bytes + ps->scale_bytes;
        }
        RF_CHECK(ctx->be->sync(ctx->be));
    }
    ctx->generation = ctx->loading;
    ctx->valid = true;
    return REFIT_OK;
}

/* Under the live lock: an emergency dump never sees half-copied weights. */
static refit_status commit(refit_ctx *ctx, uint64_t *bytes) {
    rf_guard_live_lock(ctx->guard);
    refit_status st = commit_copy(ctx, bytes);
    rf_guard_live_unlock(ctx->guard);
    return st;
}

typedef struct {
    refit_ctx *ctx;
    double t;
} phase_clock_t;

static void phase_end(phase_clock_t *c, refit_phase ph, uint64_t bytes) {
    double now = rf_now();
    c->ctx->stats.seconds[ph] += now - c->t;
    c->ctx->stats.bytes[ph] += bytes;
    RF_DEBUG("snap", "generation %lld: %s %.3f ms, %llu bytes", (long long)c->ctx->loading, refit_phase_name(ph),
             1e3 * (now - c->t), (unsigned long long)bytes);
    c->t = now;
}

static uint64_t source_bytes(const rf_snap_t *s) {
    uint64_t n = 0;
    for (size_t i = 0; i < s->n_params; i++)
        for (int k = 0; k < s->params[i].n_parts; k++)
            n += (uint64_t)s->params[i].parts[k].rows * (uint64_t)s->params[i].parts[k].cols * 2u;
    return n;
}

/* Runs R0..R4; returns the agreed status (same on every rank). */
static refit_status run_steps(refit_ctx *ctx, const char *dir, phase_clock_t *clk) {
    bool root = rf_comm_rank(ctx->comm) == 0;
    refit_status st = rf_guard_fault(ctx->guard, REFIT_PHASE_OPEN, dir);
    if (st == REFIT_OK && root) st = open_and_check(ctx, dir);
    st = rf_comm_agree(ctx->comm, st); /* R0 verdict */
    phase_end(clk, REFIT_PHASE_OPEN, root && st == REFIT_OK ? source_bytes(ctx->snap) : 0);
    if (st != REFIT_OK) return st;

    uint64_t bytes = 0;
    /* an injected error still joins R1's broadcasts: peers must not wait for it */
    refit_status fst = rf_guard_fault(ctx->guard, REFIT_PHASE_SNAPSHOT, NULL);
    st = distribute_snapshot(ctx, &bytes);
    st = rf_comm_agree(ctx->comm, fst != REFIT_OK ? fst : st);
    phase_end(clk, REFIT_PHASE_SNAPSHOT, bytes);
    if (st != REFIT_OK) return st;

    st = rf_guard_fault(ctx->guard, REFIT_PHASE_RESTORE, NULL);
    st = rf_comm_agree(ctx->comm, st != REFIT_OK ? st : restore(ctx));
    phase_end(clk, REFIT_PHASE_RESTORE, 0);
    if (st != REFIT_OK) return st;

    ctx->quant_seconds = 0;
    ctx->quant_bytes = 0;
    bytes = 0;
    st = transfer_and_quantize(ctx, &bytes);
    double dev_q = ctx->be->quant_seconds(ctx->be);
    if (!isnan(dev_q)) { /* device kernels overlap the transfer: report their own time */
        ctx->stats.seconds[REFIT_PHASE_QUANTIZE] += dev_q;
        ctx->quant_seconds = 0; /* the transfer's wall clock already holds the enqueue time */
    } else {
        ctx->stats.seconds[REFIT_PHASE_QUANTIZE] += ctx->quant_seconds;
    }
    ctx->stats.bytes[REFIT_PHASE_QUANTIZE] += ctx->quant_bytes;
    clk->t += ctx->quant_seconds; /* R4 ran inside R3's loop: count it once */
    phase_end(clk, REFIT_PHASE_TRANSFER, bytes);
    return st;
}

refit_status refit_load(refit_ctx *ctx, const char *checkpoint_dir) {
    rf_err_clear();
    ctx->last_error[0] = '\0';
    ctx->loading = ctx->generation + 1;
    memset(&ctx->stats, 0, sizeof ctx->stats);
    ctx->stats.generation = ctx->loading;
    double start = rf_now();
    phase_clock_t clk = {ctx, start};
    rf_guard_load_begin(ctx->guard);

    refit_status st = run_steps(ctx, checkpoint_dir, &clk);
    /* B's fault point comes before the vote: after it, a rank must commit */
    rf_guard_phase(ctx->guard, REFIT_PHASE_COMMIT);
    if (st == REFIT_OK) st = rf_guard_fault(ctx->guard, REFIT_PHASE_COMMIT, NULL);
    st = rf_comm_agree(ctx->comm, st); /* B: a failure anywhere fails everyone */
    uint64_t bytes = 0;
    if (st == REFIT_OK) st = commit(ctx, &bytes);
    refit_status bst = rf_comm_barrier(ctx->comm);
    if (st == REFIT_OK) st = bst;
    rf_guard_load_end(ctx->guard);
    phase_end(&clk, REFIT_PHASE_COMMIT, bytes);

    close_sources(ctx);
    rf_ckpt_close(ctx->ckpt); /* unmaps: the checkpoint may change before the next reload */
    ctx->ckpt = NULL;
    ctx->stats.status = st;
    ctx->stats.total_seconds = rf_now() - start;
    ctx->stats.peak_model_bytes = ctx->be->mem_peak;
    if (st != REFIT_OK) {
        snprintf(ctx->last_error, sizeof ctx->last_error, "%s", rf_err_msg()[0] ? rf_err_msg() : refit_status_str(st));
        RF_INFO("snap", "generation %lld not committed; live generation stays %lld%s", (long long)ctx->loading,
                (long long)ctx->generation, ctx->valid ? "" : " (in-place weights now invalid)");
    } else {
        RF_INFO("snap", "generation %lld committed in %.1f ms", (long long)ctx->generation,
                1e3 * ctx->stats.total_seconds);
    }
    return st;
}
