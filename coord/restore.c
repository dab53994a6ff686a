/* R2 (SPEC §2): restore the bf16 params. The first load allocates every
 * param's memory (live, shadow, scales), the transfer plan and the staging
 * buffer, at addresses that stay for the context's life; all of it or none:
 * a failure part way frees what was taken, so a retry starts from scratch. */
#include <stdlib.h>

#include "ctx_internal.h"

void rf_free_params(refit_ctx *ctx) {
    if (ctx->ps) {
        for (size_t i = 0; i < ctx->snap->n_params; i++) {
            rf_pstate_t *p = &ctx->ps[i];
            void *bufs[] = {p->live, p->live_scales, p->shadow, p->shadow_scales};
            for (size_t k = 0; k < sizeof bufs / sizeof bufs[0]; k++)
                if (bufs[k]) ctx->be->ops->release(ctx->be, bufs[k]);
        }
        free(ctx->ps);
        ctx->ps = NULL;
    }
    if (ctx->staging) ctx->be->ops->release(ctx->be, ctx->staging);
    ctx->staging = NULL;
    ctx->staging_bytes = 0;
    rf_plan_free(&ctx->plan);
}

static refit_status alloc_param(refit_ctx *ctx, size_t i) {
    const rf_param_t *p = &ctx->snap->params[i];
    rf_pstate_t *ps = &ctx->ps[i];
    /* this rank's share: under --moe ep its own experts; fp8-block experts padded (SPEC §3a) */
    rf_snap_param_sizes(ctx->snap, p, rf_comm_tp_rank(ctx->comm), &ps->data_bytes, &ps->scale_bytes);
    ps->quantized_gen = ps->received_gen = -1;
    RF_CHECK(ctx->be->ops->alloc(ctx->be, ps->data_bytes, &ps->live));
    if (ctx->opt.commit == REFIT_COMMIT_SHADOW) RF_CHECK(ctx->be->ops->alloc(ctx->be, ps->data_bytes, &ps->shadow));
    if (ps->scale_bytes) {
        RF_CHECK(ctx->be->ops->alloc(ctx->be, ps->scale_bytes, &ps->live_scales));
        if (ctx->opt.commit == REFIT_COMMIT_SHADOW)
            RF_CHECK(ctx->be->ops->alloc(ctx->be, ps->scale_bytes, &ps->shadow_scales));
    }
    return REFIT_OK;
}

/* The first load's allocations. The fault point (REFIT_FAULT kind nomem)
 * sits at the middle param: half the params hold memory when it fails. */
static refit_status allocate(refit_ctx *ctx) {
    const rf_snap_t *s = ctx->snap;
    ctx->ps = calloc(s->n_params ? s->n_params : 1, sizeof *ctx->ps);
    if (!ctx->ps) return rf_error(REFIT_ERR_NOMEM, "param table of %zu params", s->n_params);
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
    return REFIT_OK;
}

refit_status rf_restore(refit_ctx *ctx) {
    if (!ctx->ps) { /* first load (or a retry of one that failed here) */
        refit_status st = allocate(ctx);
        if (st != REFIT_OK) {
            rf_free_params(ctx);
            return st;
        }
    }
    if (ctx->opt.commit == REFIT_COMMIT_INPLACE) ctx->valid = false; /* until this load commits */
    return REFIT_OK;
}
