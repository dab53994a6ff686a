/* The calls an engine drives (refit.h, "Embedding"): refit_open (R0 + R1 and
 * the param table), refit_stage (R0..R4 into the shadow, agreed),
 * refit_commit (B: the pause), refit_abandon, and refit_load = stage +
 * commit under one watchdog arming. The states: ctx->ps (open),
 * ctx->staged, ctx->generation (loaded), ctx->timed_out (destroy only). */
#include <string.h>

#include "ctx_internal.h"

static double timeout_of(const refit_ctx *ctx) {
    return ctx->opt.timeout_s == 0 ? RF_DEFAULT_TIMEOUT_S : ctx->opt.timeout_s;
}

/* Around a collective call: the watchdog (abort mode: it ends the job;
 * return mode: it unblocks the backend) and, in return mode, the deadline
 * every MPI wait gives up at. */
static void arm(refit_ctx *ctx) {
    rf_guard_load_begin(ctx->guard, ctx->loading);
    double t = timeout_of(ctx);
    bool ret = ctx->opt.on_timeout == REFIT_ON_TIMEOUT_RETURN && t > 0;
    rf_comm_set_deadline(ctx->comm, ret ? rf_now() + t : 0);
}

static void disarm(refit_ctx *ctx) {
    rf_comm_set_deadline(ctx->comm, 0);
    rf_guard_load_end(ctx->guard);
}

/* A call's start: clear the error; `fresh`: a new generation's figures. */
static void begin(refit_ctx *ctx, bool fresh) {
    rf_err_clear();
    ctx->last_error[0] = '\0';
    if (!fresh) return;
    ctx->loading = ctx->generation + 1;
    memset(&ctx->stats, 0, sizeof ctx->stats);
    ctx->stats.generation = ctx->loading;
}

/* A call's end: the status in the stats and, on failure, the message. A
 * wait that gave up leaves the communicators unusable: destroy only. */
static refit_status finish(refit_ctx *ctx, refit_status st) {
    /* the watchdog aborted the backend (cuda: NCCL), or an MPI wait gave up */
    bool aborted = rf_guard_fired(ctx->guard) && ctx->be->ops->abort;
    if (st == REFIT_ERR_TIMEOUT || rf_comm_timed_out(ctx->comm) || aborted) {
        ctx->timed_out = true;
        if (st != REFIT_OK && st != REFIT_ERR_TIMEOUT) { /* e.g. NCCL's error after the abort, a relayed cause */
            char why[1024]; /* the message is rewritten in place: copy it first */
            snprintf(why, sizeof why, "%s", rf_err_msg()[0] ? rf_err_msg() : refit_status_str(st));
            st = rf_error_replace(REFIT_ERR_TIMEOUT, "rank %d: timed out (timeout %.1f s): %s", rf_comm_rank(ctx->comm),
                                  timeout_of(ctx), why);
        }
    }
    ctx->stats.status = st;
    ctx->stats.total_seconds = ctx->stats.stage_seconds + ctx->stats.pause_seconds;
    ctx->stats.peak_model_bytes = ctx->be->mem_peak;
    if (st != REFIT_OK) {
        snprintf(ctx->last_error, sizeof ctx->last_error, "%s", rf_err_msg()[0] ? rf_err_msg() : refit_status_str(st));
        RF_INFO("snap", "generation %lld not committed; live generation stays %lld%s", (long long)ctx->loading,
                (long long)ctx->generation, ctx->valid ? "" : " (in-place weights now invalid)");
    }
    return st;
}

/* REFIT_ERR_STATE (and the message in last_error) unless `ok`. */
static refit_status state_error(refit_ctx *ctx, const char *call, const char *why) {
    refit_status st = rf_error(REFIT_ERR_STATE, "rank %d: %s: %s", rf_comm_rank(ctx->comm), call, why);
    snprintf(ctx->last_error, sizeof ctx->last_error, "%s", rf_err_msg());
    return st;
}

#define TIMED_OUT_WHY "the context timed out earlier: only refit_destroy is allowed"

static refit_status call_open(refit_ctx *ctx, const refit_source *src) {
    begin(ctx, true);
    if (ctx->timed_out) return state_error(ctx, "refit_open", TIMED_OUT_WHY);
    if (ctx->ps) return state_error(ctx, "refit_open", "already open (the param table exists)");
    arm(ctx);
    double t0 = rf_now();
    refit_status st = rf_run_steps(ctx, src, true);
    if (st == REFIT_OK) st = rf_comm_agree(ctx->comm, rf_param_table(ctx));
    disarm(ctx);
    rf_source_close(ctx);
    ctx->stats.stage_seconds = rf_now() - t0;
    return finish(ctx, st);
}

/* R0..R4 into the shadow (in-place: into live), then every rank agrees. */
static refit_status stage(refit_ctx *ctx, const refit_source *src) {
    double t0 = rf_now();
    refit_status st = rf_run_steps(ctx, src, false);
    double t = rf_now();
    st = rf_comm_agree(ctx->comm, st); /* staged on every rank or on none */
    rf_phase_end(ctx, &t, REFIT_PHASE_TRANSFER, 0); /* waiting for the slowest rank's R3 */
    rf_source_close(ctx); /* the caller's memory is free again once the stage returns */
    ctx->staged = st == REFIT_OK;
    ctx->stats.stage_seconds = rf_now() - t0;
    return st;
}

/* B: the commit fault point comes before the vote: after it, a rank must
 * commit. The staged generation is spent either way. */
static refit_status commit(refit_ctx *ctx, void *stream) {
    double t0 = rf_now(), t = t0;
    rf_guard_phase(ctx->guard, REFIT_PHASE_COMMIT);
    refit_status st = rf_guard_fault(ctx->guard, REFIT_PHASE_COMMIT, ctx->loading, NULL);
    /* two-phase: the vote (a signal taken before it makes it a no), the
     * agreement (a failure anywhere fails everyone), then the commit */
    st = rf_comm_agree(ctx->comm, rf_guard_vote(ctx->guard, st));
    rf_guard_vote_result(ctx->guard, st);
    uint64_t bytes = 0;
    if (st == REFIT_OK) {
        st = rf_commit(ctx, stream, &bytes);
        rf_guard_vote_committed(ctx->guard, st == REFIT_OK);
    }
    refit_status bst = rf_comm_barrier(ctx->comm);
    if (st == REFIT_OK) st = bst;
    ctx->staged = false;
    rf_phase_end(ctx, &t, REFIT_PHASE_COMMIT, bytes);
    ctx->stats.pause_seconds = rf_now() - t0;
    if (st == REFIT_OK)
        RF_INFO("snap", "generation %lld committed in %.1f ms (stage %.1f ms, pause %.2f ms)",
                (long long)ctx->generation, 1e3 * (ctx->stats.stage_seconds + ctx->stats.pause_seconds),
                1e3 * ctx->stats.stage_seconds, 1e3 * ctx->stats.pause_seconds);
    return st;
}

static refit_status call_stage(refit_ctx *ctx, const refit_source *src) {
    begin(ctx, false);
    if (ctx->timed_out) return state_error(ctx, "refit_stage", TIMED_OUT_WHY);
    if (ctx->staged) return state_error(ctx, "refit_stage", "a generation is already staged (commit or abandon it)");
    if (ctx->opt.commit == REFIT_COMMIT_INPLACE)
        return state_error(ctx, "refit_stage", "in-place commit mode has no shadow: staging would write live bytes "
                                               "(use refit_load, or shadow mode)");
    begin(ctx, true);
    arm(ctx);
    refit_status st = stage(ctx, src);
    disarm(ctx);
    return finish(ctx, st);
}

static refit_status call_commit(refit_ctx *ctx, void *cuda_stream) {
    begin(ctx, false);
    if (ctx->timed_out) return state_error(ctx, "refit_commit", TIMED_OUT_WHY);
    if (!ctx->staged) return state_error(ctx, "refit_commit", "nothing staged (call refit_stage first)");
    arm(ctx);
    refit_status st = commit(ctx, cuda_stream);
    disarm(ctx);
    return finish(ctx, st);
}

static refit_status call_abandon(refit_ctx *ctx) {
    begin(ctx, false);
    if (ctx->timed_out) return state_error(ctx, "refit_abandon", TIMED_OUT_WHY);
    if (!ctx->staged) return state_error(ctx, "refit_abandon", "nothing staged");
    ctx->staged = false;
    arm(ctx);
    refit_status st = rf_comm_barrier(ctx->comm);
    disarm(ctx);
    return finish(ctx, st);
}

static refit_status call_load(refit_ctx *ctx, const refit_source *src) {
    begin(ctx, false);
    if (ctx->timed_out) return state_error(ctx, "refit_load", TIMED_OUT_WHY);
    if (ctx->staged) return state_error(ctx, "refit_load", "a generation is staged (commit or abandon it)");
    begin(ctx, true);
    arm(ctx);
    refit_status st = stage(ctx, src);
    if (st == REFIT_OK) st = commit(ctx, NULL);
    disarm(ctx);
    return finish(ctx, st);
}

/* ---- the public calls: on the context's device, the caller's back on return */
typedef struct {
    refit_ctx *ctx;
    const refit_source *src;
    void *stream;
    refit_status (*src_call)(refit_ctx *, const refit_source *);
    refit_status (*stream_call)(refit_ctx *, void *);
} call_t;

static refit_status on_device(call_t c) {
    int saved = -1;
    rf_err_clear();
    refit_status st = rf_ctx_device_enter(c.ctx, &saved);
    if (st == REFIT_OK) st = c.src_call ? c.src_call(c.ctx, c.src) : c.stream_call(c.ctx, c.stream);
    else snprintf(c.ctx->last_error, sizeof c.ctx->last_error, "%s", rf_err_msg());
    rf_ctx_device_leave(c.ctx, saved);
    return st;
}

static refit_status abandon_call(refit_ctx *ctx, void *unused) {
    (void)unused;
    return call_abandon(ctx);
}

void refit_source_init(refit_source *src, size_t struct_size) {
    if (!src || struct_size < sizeof src->struct_size) return;
    refit_source d = {.struct_size = struct_size, .kind = REFIT_SOURCE_DIR, .readers = REFIT_READERS_ROOT};
    memcpy(src, &d, struct_size < sizeof d ? struct_size : sizeof d);
}

/* A directory as a source: read as the context's readers option says. */
static refit_source dir_source(const refit_ctx *ctx, const char *dir) {
    refit_source s;
    refit_source_default(&s);
    s.dir = dir;
    s.readers = ctx->opt.readers;
    return s;
}

refit_status refit_open(refit_ctx *ctx, const char *dir) {
    refit_source s = dir_source(ctx, dir);
    return on_device((call_t){ctx, &s, NULL, call_open, NULL});
}
refit_status refit_stage(refit_ctx *ctx, const char *dir) {
    refit_source s = dir_source(ctx, dir);
    return on_device((call_t){ctx, &s, NULL, call_stage, NULL});
}
refit_status refit_load(refit_ctx *ctx, const char *dir) {
    refit_source s = dir_source(ctx, dir);
    return on_device((call_t){ctx, &s, NULL, call_load, NULL});
}
refit_status refit_stage_source(refit_ctx *ctx, const refit_source *src) {
    return on_device((call_t){ctx, src, NULL, call_stage, NULL});
}
refit_status refit_load_source(refit_ctx *ctx, const refit_source *src) {
    return on_device((call_t){ctx, src, NULL, call_load, NULL});
}
refit_status refit_commit(refit_ctx *ctx, void *stream) {
    return on_device((call_t){ctx, NULL, stream, NULL, call_commit});
}
refit_status refit_abandon(refit_ctx *ctx) { return on_device((call_t){ctx, NULL, NULL, NULL, abandon_call}); }
