/* The context's state, shared by the files of coord/ that implement the
 * protocol (SPEC §2), one file per step:
 *   ctx.c       refit_create / refit_destroy, accessors, the guard's hooks
 *   load.c      refit_load: R0 open and check, R1 snapshot, the steps in order
 *   restore.c   R2: the params' memory, allocated once
 *   transfer.c  R3 + R4: slices through the backend, quantize once each
 *   commit.c    B: commit the agreed generation
 *   stage.c     refit_stage / refit_commit / refit_abandon / refit_load
 *   params.c    the param table: refit_open's result, introspection, binds
 *   dump.c      refit_dump (SPEC §5)
 *   verify.c    --verify and refit_param_digest
 * Everything a context owns is reached from struct refit_ctx: two contexts
 * in one process share nothing but the base layer's log settings. */
#ifndef RF_CTX_INTERNAL_H
#define RF_CTX_INTERNAL_H

#include "backend.h"
#include "checkpoint.h"
#include "guard.h"
#include "snapshot.h"

/* One param's memory on this rank. Live buffers keep their addresses for
 * the context's whole life (an engine's captured graphs stay valid). */
typedef struct {
    void *live, *live_scales;     /* committed generation: fp8 + scales, or bf16 */
    void *shadow, *shadow_scales; /* generation being loaded (shadow commit mode) */
    uint64_t data_bytes, scale_bytes;
    int64_t received_gen;         /* generation whose bf16 slice last arrived whole */
    int64_t quantized_gen;        /* quantize-once guard (SPEC §2 R4) */
    bool bound;                   /* live, live_scales are the caller's (refit_bind): never freed */
    char scale_name[RF_NAME_MAX + 24];
} rf_pstate_t;

struct refit_ctx {
    rf_comm_t *comm;
    rf_backend_t *be;
    refit_options opt;
    rf_qscheme_t scheme;
    rf_moe_mode_t moe; /* --moe: how expert params split (SPEC §3a) */
    uint64_t bucket;

    rf_snap_t *snap;    /* every rank's copy, checked by digest each reload */
    uint8_t *snap_blob; /* its encoding */
    size_t snap_len;
    rf_plan_t plan;
    rf_pstate_t *ps;    /* [snap->n_params]: the param table, NULL until refit_open or the first R2 */
    bool allocated;     /* R2 took every param's memory (binds are closed from then on) */
    bool staged;        /* generation `loading` sits in the shadow, agreed by every rank */
    bool timed_out;     /* a wait gave up (on_timeout=return): destroy only */

    int64_t generation; /* last committed, -1 none */
    bool valid;

    /* per load */
    int64_t loading;    /* generation being loaded */
    rf_ckpt_t *ckpt;    /* a directory source, on the ranks that read it (rank 0; every rank with readers all) */
    rf_manifest_t *mf;  /* the source's manifest on the ranks that read it (source.c) */
    rf_sources_t src;   /* the packing ranks: where every param's bytes are (rank 0; every rank when local) */
    bool local;         /* this load's source is read by every rank for its own slices (source.c) */
    bool dir_root;      /* this load's source is a directory read by rank 0 (what --verify checks) */
    double quant_seconds;
    uint64_t quant_bytes;
    void *staging;      /* bf16 slice of the quantized param being received */
    uint64_t staging_bytes;

    refit_load_stats stats;
    refit_progress_fn progress_fn; /* refit_set_progress */
    void *progress_user;
    double progress_t0, progress_last;
    char last_error[1024];
    rf_guard_t *guard;  /* fault points, watchdog, emergency dump */
    struct rf_verify *verify; /* --verify's tables (verify.h), NULL until the first verified load */
};

/* ctx.c: every public call that works on the backend (load, dump, destroy;
 * embed's stage/commit/bind too) brackets its work with these: enter saves
 * the caller's current CUDA device and makes the context's current, leave
 * puts the caller's back (refit.h: refit_options.device). No-ops on host. */
refit_status rf_ctx_device_enter(refit_ctx *ctx, int *saved);
void rf_ctx_device_leave(refit_ctx *ctx, int saved);
/* restore.c: R2, and freeing what it allocated (also on a failure part way). */
refit_status rf_restore(refit_ctx *ctx);
/* Frees refit's own memory of every param (never a bound buffer); the table stays. */
void rf_free_memory(refit_ctx *ctx);
/* rf_free_memory and the table. */
void rf_free_params(refit_ctx *ctx);
/* params.c: the table of ctx->snap's params with their sizes, no memory. */
refit_status rf_param_table(refit_ctx *ctx);
/* load.c: R0 + R1 (snapshot_only) or R0..R4 of generation ctx->loading
 * from `src` (every rank's own, same kind); the status is agreed after each
 * step but the last (R3 + R4: local). */
refit_status rf_run_steps(refit_ctx *ctx, const refit_source *src, bool snapshot_only);
/* source.c: the source of a load (issue 11). rf_source_agree: every rank
 * passes the same kind (and readers); sets ctx->local. rf_source_open_root:
 * R0 on rank 0 (manifest, the snapshot on a first load, the check; the
 * sources when rank 0 packs for everyone). rf_source_open_local: after R1,
 * for a local source, every rank's own manifest (checked) and sources.
 * rf_source_close: lets go of all of it (any rank, any state). */
refit_status rf_source_agree(refit_ctx *ctx, const refit_source *src);
refit_status rf_source_open_root(refit_ctx *ctx, const refit_source *src);
refit_status rf_source_open_local(refit_ctx *ctx, const refit_source *src);
void rf_source_close(refit_ctx *ctx);
/* A failure of this rank's own reading of a local source: its message
 * names the rank (unless it does already), for the agreement to relay. */
refit_status rf_source_name_rank(refit_ctx *ctx, refit_status st);
/* load.c: adds the time since *t to phase ph, and bytes; *t = now. */
void rf_phase_end(refit_ctx *ctx, double *t, refit_phase ph, uint64_t bytes);
/* dump.c: "x.weight" -> "x.weight_scale" (tensor, row) / "x.weight_scale_inv" (block). */
void rf_scale_name(const char *param, rf_qscheme_t s, char *out, size_t cap);
/* dump.c: param p's shape on this rank (expert params 3-D, fp8-block experts
 * padded, SPEC §3a) and, when quantized, its scales' (sndim 0 otherwise). */
void rf_param_shapes(refit_ctx *ctx, const rf_param_t *p, int *ndim, uint64_t shape[3], int *sndim,
                     uint64_t sshape[3]);
/* transfer.c: R3 + R4; *moved = bytes this rank moved. */
refit_status rf_transfer_and_quantize(refit_ctx *ctx, uint64_t *moved);
/* Where param i's data / scales live for the generation being loaded. */
void *rf_ctx_target(refit_ctx *ctx, size_t i, bool scales);
/* commit.c: B after the agreement, under the live lock; the copies are
 * ordered after, and before, the work of `stream` (cuda; NULL: none). */
refit_status rf_commit(refit_ctx *ctx, void *stream, uint64_t *bytes);
/* dump.c: this rank's part of refit_dump, no MPI: its rank file and, on
 * rank 0, the snapshot (the emergency dump of a dying rank uses it alone). */
refit_status rf_dump_local(refit_ctx *ctx, const char *dir);

#endif
