/* --verify (verify.h) and refit_param_digest. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ctx_internal.h"
#include "verify.h"

refit_status rf_verify_agree(refit_ctx *ctx) {
    uint64_t on = ctx->opt.verify != 0, off = !on;
    RF_CHECK(rf_comm_allreduce_min_u64(ctx->comm, &on));
    RF_CHECK(rf_comm_allreduce_min_u64(ctx->comm, &off));
    if (!on && !off) /* some ranks verify, some do not: the verified loads' collectives would not match */
        return rf_error(REFIT_ERR_INVALID_ARG, "--verify is %s on this rank but not on every rank",
                        ctx->opt.verify ? "on" : "off");
    return REFIT_OK;
}

void rf_verify_free(rf_verify_t *v) {
    if (!v) return;
    free(v->expected);
    free(v->got);
    rf_verify_leaves_free(v);
    free(v);
}

refit_status rf_verify_begin(refit_ctx *ctx) {
    size_t n = ctx->snap->n_params;
    int tp = ctx->snap->tp;
    rf_verify_t *v = ctx->verify;
    if (v && (v->n != n || v->tp != tp)) {
        rf_verify_free(v);
        ctx->verify = v = NULL;
    }
    if (!v) {
        v = calloc(1, sizeof *v);
        if (!v) return rf_error(REFIT_ERR_NOMEM, "verify tables");
        ctx->verify = v;
        v->n = n;
        v->tp = tp;
        v->expected = calloc(n * (size_t)tp + 1, sizeof *v->expected);
        v->got = calloc(n + 1, sizeof *v->got);
        if (!v->expected || !v->got) return rf_error(REFIT_ERR_NOMEM, "verify tables for %zu params", n);
    }
    memset(v->expected, 0, n * (size_t)tp * sizeof *v->expected);
    memset(v->got, 0, n * sizeof *v->got);
    v->failed = REFIT_OK;
    v->seconds = 0;
    return rf_comm_rank(ctx->comm) == 0 ? rf_verify_leaves_begin(ctx) : REFIT_OK;
}

void rf_verify_packed(void *user, int group, size_t k, const uint8_t *bucket) {
    refit_ctx *ctx = user;
    rf_verify_t *v = ctx->verify;
    double t0 = rf_now();
    rf_verify_leaves_packed(ctx, group, k, bucket); /* the cut chunks; whole ones are hashed where they land */
    v->seconds += rf_now() - t0;
}

refit_status rf_verify_finish(refit_ctx *ctx) {
    rf_verify_t *v = ctx->verify;
    double t0 = rf_now();
    refit_status st = ctx->be->ops->digest_collect(ctx->be, v->got, v->n);
    if (st == REFIT_OK && rf_comm_rank(ctx->comm) == 0) st = rf_verify_leaves_finish(ctx);
    /* every rank joins the broadcast, whatever happened to it locally */
    refit_status bst = rf_comm_bcast(ctx->comm, v->expected, v->n * (size_t)v->tp * sizeof *v->expected);
    if (st == REFIT_OK) st = bst;
    if (st == REFIT_OK) st = v->failed;
    int g = rf_comm_tp_rank(ctx->comm);
    for (size_t i = 0; i < v->n && st == REFIT_OK; i++) {
        const rf_param_t *p = &ctx->snap->params[i];
        uint64_t want = v->expected[(size_t)g * v->n + i], bytes = rf_param_bf16_bytes(p, v->tp, g);
        if (bytes == 0 || v->got[i] == want) continue;
        st = rf_error(REFIT_ERR_MISMATCH,
                      "%s: the slice this rank received (tp rank %d, %llu bytes) has digest %016" PRIx64
                      ", rank 0 sent %016" PRIx64 " (--verify)",
                      p->name, g, (unsigned long long)bytes, v->got[i], want);
    }
    v->seconds += rf_now() - t0;
    if (rf_comm_rank(ctx->comm) == 0)
        RF_INFO("verify", "generation %lld: %zu slices checked in %.1f ms (rank 0: %zu chunk hashes, %zu of them of"
                " chunks a bucket boundary cut, gathered on the host)", (long long)ctx->loading, v->n, 1e3 * v->seconds,
                v->n_leaves, v->n_partial);
    else
        RF_INFO("verify", "generation %lld: %zu slices checked in %.1f ms", (long long)ctx->loading, v->n,
                1e3 * v->seconds);
    return st;
}

/* ---- refit_param_digest ------------------------------------------------ */

static refit_status find_param(const refit_ctx *ctx, size_t index, const char *name, size_t *out) {
    if (!name) {
        if (index >= ctx->snap->n_params)
            return rf_error(REFIT_ERR_INVALID_ARG, "refit_param_digest: index %zu, the model has %zu params", index,
                            ctx->snap->n_params);
        *out = index;
        return REFIT_OK;
    }
    for (size_t i = 0; i < ctx->snap->n_params; i++)
        if (!strcmp(ctx->snap->params[i].name, name)) {
            *out = i;
            return REFIT_OK;
        }
    return rf_error(REFIT_ERR_INVALID_ARG, "refit_param_digest: no param named %s", name);
}

static refit_status live_digest(refit_ctx *ctx, size_t i, uint64_t *out) {
    const rf_pstate_t *ps = &ctx->ps[i];
    uint64_t d[2] = {0, RF_DIGEST_EMPTY};
    refit_status st = ctx->be->ops->digest(ctx->be, 0, ps->live, ps->data_bytes);
    if (st == REFIT_OK && ps->scale_bytes) st = ctx->be->ops->digest(ctx->be, 1, ps->live_scales, ps->scale_bytes);
    if (st == REFIT_OK) st = ctx->be->ops->digest_collect(ctx->be, d, ps->scale_bytes ? 2 : 1);
    if (st == REFIT_OK) *out = rf_digest_param(d[0], ps->scale_bytes ? d[1] : RF_DIGEST_EMPTY);
    return st;
}

refit_status refit_param_digest(refit_ctx *ctx, size_t index, const char *name, const char **name_out,
                                uint64_t *out) {
    rf_err_clear();
    if (!ctx || !out) return rf_error(REFIT_ERR_INVALID_ARG, "refit_param_digest: NULL argument");
    if (ctx->generation < 0 || !ctx->ps)
        return rf_error(REFIT_ERR_STATE, "refit_param_digest: no generation committed");
    if (!ctx->valid)
        return rf_error(REFIT_ERR_STATE, "refit_param_digest: an in-place reload failed, the live weights are invalid");
    size_t i = 0;
    RF_CHECK(find_param(ctx, index, name, &i));
    int saved;
    RF_CHECK(rf_ctx_device_enter(ctx, &saved)); /* refit.h: the caller's device back on return */
    rf_guard_live_lock(ctx->guard); /* not while an emergency dump reads the live weights */
    refit_status st = live_digest(ctx, i, out);
    rf_guard_live_unlock(ctx->guard, ctx->generation);
    rf_ctx_device_leave(ctx, saved);
    if (st == REFIT_OK && name_out) *name_out = ctx->snap->params[i].name;
    return st;
}
