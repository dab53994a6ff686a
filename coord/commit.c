/* B (SPEC §2): once every rank agreed, the shadow becomes live (copied
 * into the live buffers, whose addresses never change) and the generation
 * moves, under the guard's live lock so that an emergency dump never reads
 * half-copied weights. */
#include "ctx_internal.h"

static refit_status commit_copy(refit_ctx *ctx, uint64_t *bytes) {
    if (ctx->opt.commit == REFIT_COMMIT_SHADOW) {
        for (size_t i = 0; i < ctx->snap->n_params; i++) {
            rf_pstate_t *ps = &ctx->ps[i];
            RF_CHECK(ctx->be->ops->copy(ctx->be, ps->live, ps->shadow, ps->data_bytes));
            if (ps->scale_bytes) RF_CHECK(ctx->be->ops->copy(ctx->be, ps->live_scales, ps->shadow_scales, ps->scale_bytes));
            *bytes += ps->data_bytes + ps->scale_bytes;
        }
        RF_CHECK(ctx->be->ops->sync(ctx->be));
    }
    ctx->generation = ctx->loading;
    ctx->valid = true;
    return REFIT_OK;
}

refit_status rf_commit(refit_ctx *ctx, uint64_t *bytes) {
    rf_guard_live_lock(ctx->guard);
    refit_status st = commit_copy(ctx, bytes);
    rf_guard_live_unlock(ctx->guard, ctx->generation);
    return st;
}
