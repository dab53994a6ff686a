/* The steps of a reload (SPEC §2): R0 rank 0 opens and checks the
 * checkpoint, R1 the snapshot or its digest reaches every rank, then R2
 * (restore.c) and R3 + R4 (transfer.c); B, agree and commit, is stage.c's
 * (commit.c), all or none. Every rank
 * runs every collective of a step even when it already failed locally;
 * failures meet at the agreement points, where all ranks learn the first
 * cause. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ctx_internal.h"

/* R0 is source.c's: rf_source_open_root (rank 0) and, for a source every
 * rank reads, rf_source_open_local after R1. */

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

void rf_phase_end(refit_ctx *ctx, double *t, refit_phase ph, uint64_t bytes) {
    double now = rf_now();
    ctx->stats.seconds[ph] += now - *t;
    ctx->stats.bytes[ph] += bytes;
    RF_DEBUG("snap", "generation %lld: %s %.3f ms, %llu bytes", (long long)ctx->loading, refit_phase_name(ph),
             1e3 * (now - *t), (unsigned long long)bytes);
    *t = now;
}

static uint64_t source_bytes(const rf_snap_t *s) {
    uint64_t n = 0;
    for (size_t i = 0; i < s->n_params; i++)
        for (int k = 0; k < s->params[i].n_parts; k++)
            n += (uint64_t)s->params[i].parts[k].rows * (uint64_t)s->params[i].parts[k].cols * 2u;
    return n;
}

refit_status rf_run_steps(refit_ctx *ctx, const refit_source *src, bool snapshot_only) {
    bool root = rf_comm_rank(ctx->comm) == 0;
    double t = rf_now();
    refit_status st = rf_source_agree(ctx, src); /* agreed: every rank or none */
    if (st != REFIT_OK) return st;
    const char *dir = src->kind == REFIT_SOURCE_DIR ? src->dir : NULL;
    st = rf_guard_fault(ctx->guard, REFIT_PHASE_OPEN, ctx->loading, dir);
    if (st == REFIT_OK && root) st = rf_source_open_root(ctx, src);
    st = rf_comm_agree(ctx->comm, st); /* R0 verdict */
    rf_phase_end(ctx, &t, REFIT_PHASE_OPEN, root && st == REFIT_OK ? source_bytes(ctx->snap) : 0);
    if (st != REFIT_OK) return st;

    uint64_t bytes = 0;
    /* an injected error still joins R1's broadcasts: peers must not wait for it */
    refit_status fst = rf_guard_fault(ctx->guard, REFIT_PHASE_SNAPSHOT, ctx->loading, NULL);
    st = distribute_snapshot(ctx, &bytes);
    st = rf_comm_agree(ctx->comm, fst != REFIT_OK ? fst : st);
    rf_phase_end(ctx, &t, REFIT_PHASE_SNAPSHOT, bytes);
    if (st != REFIT_OK || snapshot_only) return st;

    if (ctx->local) { /* every rank's own view of the source, checked; agreed */
        st = rf_comm_agree(ctx->comm, rf_source_open_local(ctx, src));
        rf_phase_end(ctx, &t, REFIT_PHASE_OPEN, 0);
        if (st != REFIT_OK) return st;
    }

    st = rf_guard_fault(ctx->guard, REFIT_PHASE_RESTORE, ctx->loading, NULL);
    st = rf_comm_agree(ctx->comm, st != REFIT_OK ? st : rf_restore(ctx));
    rf_phase_end(ctx, &t, REFIT_PHASE_RESTORE, 0);
    if (st != REFIT_OK) return st;

    ctx->quant_seconds = 0;
    ctx->quant_bytes = 0;
    bytes = 0;
    st = rf_transfer_and_quantize(ctx, &bytes);
    double dev_q = ctx->be->ops->quant_seconds(ctx->be);
    if (!isnan(dev_q)) { /* device kernels overlap the transfer: report their own time */
        ctx->stats.seconds[REFIT_PHASE_QUANTIZE] += dev_q;
        ctx->quant_seconds = 0; /* the transfer's wall clock already holds the enqueue time */
    } else {
        ctx->stats.seconds[REFIT_PHASE_QUANTIZE] += ctx->quant_seconds;
    }
    ctx->stats.bytes[REFIT_PHASE_QUANTIZE] += ctx->quant_bytes;
    t += ctx->quant_seconds; /* R4 ran inside R3's loop: count it once */
    rf_phase_end(ctx, &t, REFIT_PHASE_TRANSFER, bytes);
    return st;
}
