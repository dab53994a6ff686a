/* R3 + R4 (SPEC §2): the backend moves every param's bf16 slice (its data
 * plane, rf_xfer_t) and calls back as each one lands whole; a quantized
 * param is quantized right then, at most once per generation, and the
 * NaN/Inf scan of every param is collected at the end. */
#include <stdio.h>
#include <stdlib.h>

#include <string.h>

#include "ctx_internal.h"
#include "verify.h"

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
    RF_CHECK(rf_guard_fault(ctx->guard, REFIT_PHASE_QUANTIZE, ctx->loading, p->name));
    double t0 = rf_now();
    int tp = ctx->snap->tp, r = rf_comm_tp_rank(ctx->comm);
    refit_status st;
    if (rf_param_is_expert(p)) { /* per local expert, all of them at once (SPEC §3a) */
        rf_q_moe_t m = rf_param_moe_desc(p, tp, r);
        st = ctx->be->ops->process_experts(ctx->be, i, ctx->scheme, &m, ctx->staging, rf_ctx_target(ctx, i, false),
                                           rf_ctx_target(ctx, i, true));
    } else {
        st = ctx->be->ops->process(ctx->be, i, ctx->scheme, ctx->staging, p->rows, p->cols,
                                   rf_ctx_target(ctx, i, false), rf_ctx_target(ctx, i, true));
    }
    ctx->quant_seconds += rf_now() - t0;
    ctx->quant_bytes += rf_param_bf16_bytes(p, tp, r);
    if (st == REFIT_OK) ps->quantized_gen = ctx->loading;
    return st;
}

/* REFIT_FAULT=R:transfer:corrupt flips one byte of a received slice, as a
 * bit flip on the way would, before --verify digests it. */
static refit_status corrupt_fault(refit_ctx *ctx, size_t i, const char *name) {
    if (!rf_guard_corrupt_fault(ctx->guard, ctx->loading, name)) return REFIT_OK;
    if (strcmp(ctx->be->ops->name, "host") != 0)
        return rf_error(REFIT_ERR_INVALID_ARG, "REFIT_FAULT kind corrupt needs the host backend");
    if (rf_param_bf16_bytes(&ctx->snap->params[i], ctx->snap->tp, rf_comm_tp_rank(ctx->comm)) > 0)
        ((uint8_t *)xfer_dest(ctx, i))[0] ^= 0x40;
    return REFIT_OK;
}

static refit_status xfer_complete(void *user, size_t i) {
    refit_ctx *ctx = user;
    const rf_param_t *p = &ctx->snap->params[i];
    /* R3's fault point: mid-transfer, as a slice lands, peers still sending */
    RF_CHECK(rf_guard_fault(ctx->guard, REFIT_PHASE_TRANSFER, ctx->loading, p->name));
    RF_CHECK(corrupt_fault(ctx, i, p->name));
    ctx->ps[i].received_gen = ctx->loading;
    if (ctx->opt.verify) { /* before R4 reads (quantized: before the next slice overwrites) the staging buffer */
        double t0 = rf_now();
        uint64_t bytes = rf_param_bf16_bytes(p, ctx->snap->tp, rf_comm_tp_rank(ctx->comm));
        RF_CHECK(ctx->be->ops->digest(ctx->be, i, xfer_dest(ctx, i), bytes));
        ctx->verify->seconds += rf_now() - t0;
    }
    if (rf_snap_param_quantized(ctx->snap, p)) return quantize_param(ctx, i);
    RF_CHECK(rf_guard_fault(ctx->guard, REFIT_PHASE_QUANTIZE, ctx->loading, p->name));
    double t0 = rf_now(); /* bf16 params: only the NaN/Inf scan, over all local experts of expert params */
    int64_t rows = p->rows * rf_param_local_count(p, ctx->snap->tp, rf_comm_tp_rank(ctx->comm));
    refit_status st = ctx->be->ops->process(ctx->be, i, RF_Q_NONE, rf_ctx_target(ctx, i, false), rows, p->cols,
                                            NULL, NULL);
    ctx->quant_seconds += rf_now() - t0;
    return st;
}

/* Error for a NaN/Inf at local element `bad` of param i: names the param
 * (and, for expert params, the global expert), the checkpoint tensor and
 * its row/column. */
static refit_status nonfinite_error(refit_ctx *ctx, size_t i, int64_t bad, uint16_t bits) {
    const rf_param_t *p = &ctx->snap->params[i];
    int tp = ctx->snap->tp, r = rf_comm_tp_rank(ctx->comm);
    int64_t row = bad / p->cols, col = bad % p->cols;
    rf_row_src_t src = rf_param_row_source(p, tp, r, row);
    const char *what = (bits & 0x7f) ? "nan" : "inf";
    rf_part_t part;
    if (src.part < 0) src.part = 0;
    if (rf_param_source(p, src.part, &part) != REFIT_OK) snprintf(part.src, sizeof part.src, "?");
    char where[64] = "";
    if (rf_param_is_expert(p)) { /* row within the expert, as the kernels count it */
        snprintf(where, sizeof where, "expert %lld ", (long long)(rf_param_experts(p, tp, r).e0 + row / p->rows));
        row %= p->rows;
    }
    return rf_error(REFIT_ERR_NUMERIC, "%s: %s at %srow %lld col %lld (checkpoint tensor %s row %lld col %lld)",
                    p->name, what, where, (long long)row, (long long)col, part.src, (long long)src.src_row,
                    (long long)(src.src_col + col));
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

refit_status rf_transfer_and_quantize(refit_ctx *ctx, uint64_t *moved) {
    bool root = rf_comm_rank(ctx->comm) == 0;
    /* The once-per-generation guards hold for one attempt: an abandoned or
     * failed attempt at this generation number must not mark the next
     * attempt's params (another checkpoint, maybe) as done. */
    for (size_t i = 0; i < ctx->snap->n_params; i++) ctx->ps[i].quantized_gen = ctx->ps[i].received_gen = -1;
    /* --verify compares what rank 0 packed from the files with what
     * arrived: a local source sends nothing (each rank packs its own
     * slices) and device memory is packed where the CPU cannot digest it,
     * so it covers directories read by rank 0 */
    bool verify = ctx->opt.verify && ctx->dir_root;
    if (ctx->opt.verify && !verify && root)
        RF_INFO("verify", "generation %lld: --verify checks directories read by rank 0; this source loads unverified",
                (long long)ctx->loading);
    rf_xfer_t x = {.params = ctx->snap->params, .n_params = ctx->snap->n_params, .tp = ctx->snap->tp,
                   .plan = &ctx->plan, .comm = ctx->comm,
                   .src = root || ctx->local ? ctx->src.src : NULL, .local = ctx->local,
                   .device_src = ctx->mf && ctx->mf->any_device,
                   .bcast = ctx->opt.transfer == REFIT_TRANSFER_BCAST,
                   .dest = xfer_dest, .complete = xfer_complete, .user = ctx, .progress = xfer_progress,
                   .packed = verify && root ? rf_verify_packed : NULL,
                   .landed = verify && root ? rf_verify_landed : NULL,
                   .deadline = rf_guard_deadline(ctx->guard)};
    ctx->progress_t0 = ctx->progress_last = rf_now();
    rf_guard_phase(ctx->guard, REFIT_PHASE_TRANSFER);
    /* --verify is an option every rank has, so every rank takes the same
     * path: tables agreed on first, rank 0's broadcast joined at the end */
    if (verify) RF_CHECK(rf_comm_agree(ctx->comm, rf_verify_begin(ctx)));
    refit_status st = ctx->be->ops->transfer(ctx->be, &x, moved);
    if (ctx->local) st = rf_source_name_rank(ctx, st); /* each rank read its own: say which one failed */
    /* the readers read their last byte: a checkpoint that changed meanwhile
     * (a trainer saving into it) may have given slices of two saves. The
     * reader's vote at B then fails, so no rank commits. */
    if (ctx->ckpt) {
        refit_status ist = rf_ckpt_check_unchanged(ctx->ckpt);
        if (ist != REFIT_OK) st = ist;
    }
    if (verify) { /* before the vote: a slice that differs fails the reload everywhere */
        refit_status vst = rf_verify_finish(ctx);
        if (st == REFIT_OK) st = vst;
    }
    /* process_weights_after_loading over every param: a no-op for those
     * already quantized as their last bucket landed. */
    for (size_t i = 0; i < ctx->snap->n_params && st == REFIT_OK; i++) st = quantize_param(ctx, i);
    size_t bad_param;
    int64_t bad_elem;
    uint16_t bits;
    double t0 = rf_now();
    refit_status cst = ctx->be->ops->collect(ctx->be, &bad_param, &bad_elem, &bits);
    ctx->quant_seconds += rf_now() - t0;
    if (st == REFIT_OK) st = cst;
    if (st == REFIT_OK && bad_param != SIZE_MAX) st = nonfinite_error(ctx, bad_param, bad_elem, bits);
    return st;
}
