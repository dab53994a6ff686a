/* R2 (SPEC §2): restore the bf16 params. The first load allocates every
 * param's memory (live unless the caller bound it, shadow, scales), the
 * transfer plan and the staging buffer, at addresses that stay for the
 * context's life; all of it or none: a failure part way frees what refit
 * took (never a bound buffer), so a retry starts from scratch. */
#include <stdlib.h>

#include "ctx_internal.h"

static void release(refit_ctx *ctx, void **p) {
    if (*p) ctx->be->ops->release(ctx->be, *p);
    *p = NULL;
}

void rf_free_memory(refit_ctx *ctx) {
    for (size_t i = 0; ctx->ps && i < ctx->snap->n_params; i++) {
        rf_pstate_t *p = &ctx->ps[i];
        if (!p->bound) {
            release(ctx, &p->live);
            release(ctx, &p->live_scales);
        }
        release(ctx, &p->shadow);
        release(ctx, &p->shadow_scales);
    }
    release(ctx, &ctx->staging);
    ctx->staging_bytes = 0;
    rf_plan_free(&ctx->plan);
    ctx->allocated = false;
}

void rf_free_params(refit_ctx *ctx) {
    rf_free_memory(ctx);
    free(ctx->ps);
    ctx->ps = NULL;
}

static refit_status alloc_param(refit_ctx *ctx, size_t i) {
    rf_pstate_t *ps = &ctx->ps[i];
    bool shadow = ctx->opt.commit == REFIT_COMMIT_SHADOW;
    if (!ps->bound) RF_CHECK(ctx->be->ops->alloc(ctx->be, ps->data_bytes, &ps->live));
    if (shadow) RF_CHECK(ctx->be->ops->alloc(ctx->be, ps->data_bytes, &ps->shadow));
    if (ps->scale_bytes) {
        if (!ps->bound) RF_CHECK(ctx->be->ops->alloc(ctx->be, ps->scale_bytes, &ps->live_scales));
        if (shadow) RF_CHECK(ctx->be->ops->alloc(ctx->be, ps->scale_bytes, &ps->shadow_scales));
    }
    return REFIT_OK;
}

/* The first load's allocations. The fault point (REFIT_FAULT kind nomem)
 * sits at the middle param: half the params hold memory when it fails. */
static refit_status allocate(refit_ctx *ctx) {
    const rf_snap_t *s = ctx->snap;
    RF_CHECK(rf_param_table(ctx));
    for (size_t i = 0; i < s->n_params; i++) {
        if (i == s->n_params / 2) RF_CHECK(rf_guard_alloc_fault(ctx->guard, ctx->loading, s->params[i].name));
        RF_CHECK(alloc_param(ctx, i));
    }
    RF_CHECK(rf_plan_build(s->params, s->n_params, s->tp, ctx->bucket, &ctx->plan));
    int r = rf_comm_tp_rank(ctx->comm);
    for (size_t i = 0; i < s->n_params; i++)
        if (rf_snap_param_quantized(s, &s->params[i]) && rf_param_bf16_bytes(&s->params[i], s->tp, r) > ctx->staging_bytes)
            ctx->staging_bytes = rf_param_bf16_bytes(&s->params[i], s->tp, r);
    if (ctx->staging_bytes) RF_CHECK(ctx->be->ops->alloc(ctx->be, ctx->staging_bytes, &ctx->staging));
    ctx->allocated = true;
    return REFIT_OK;
}

refit_status rf_restore(refit_ctx *ctx) {
    if (!ctx->allocated) { /* first load (or a retry of one that failed here) */
        refit_status st = allocate(ctx);
        if (st != REFIT_OK) {
            rf_free_memory(ctx);
            return st;
        }
    }
    if (ctx->opt.commit == REFIT_COMMIT_INPLACE) ctx->valid = false; /* until this load commits */
    return REFIT_OK;
}
