/* The context's state, shared by the files of coord/ that implement the
 * protocol (SPEC §2), one file per step:
 *   ctx.c       refit_create / refit_destroy, accessors, the guard's hooks
 *   load.c      refit_load: R0 open and check, R1 snapshot, the steps in order
 *   restore.c   R2: the params' memory, allocated once
 *   transfer.c  R3 + R4: slices through the backend, quantize once each
 *   commit.c    B: commit the agreed generation
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
    rf_pstate_t *ps;    /* [snap->n_params]; NULL until R2 allocated every param */

    int64_t generation; /* last committed, -1 none */
    bool valid;

    /* per load */
    int64_t loading;    /* generation being loaded */
    rf_ckpt_t *ckpt;    /* rank 0 */
    rf_sources_t src;   /* rank 0: where every param's bytes are in ckpt */
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
void rf_free_params(refit_ctx *ctx);
/* transfer.c: R3 + R4; *moved = bytes this rank moved. */
refit_status rf_transfer_and_quantize(refit_ctx *ctx, uint64_t *moved);
/* Where param i's data / scales live for the generation being loaded. */
void *rf_ctx_target(refit_ctx *ctx, size_t i, bool scales);
/* commit.c: B after the agreement, under the live lock. */
refit_status rf_commit(refit_ctx *ctx, uint64_t *bytes);
/* dump.c: this rank's part of refit_dump, no MPI: its rank file and, on
 * rank 0, the snapshot (the emergency dump of a dying rank uses it alone). */
refit_status rf_dump_local(refit_ctx *ctx, const char *dir);

#endif
