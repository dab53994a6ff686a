/* The context's state, shared by the files of coord/ that implement the
 * protocol (ctx.c: steps R0-B; dump.c: SPEC §5 dumps). */
#ifndef RF_CTX_INTERNAL_H
#define RF_CTX_INTERNAL_H

#include "backend.h"
#include "checkpoint.h"
#include "comm.h"
#include "guard.h"
#include "plan.h"
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
    uint64_t bucket;

    rf_snap_t *snap;    /* every rank's copy, checked by digest each reload */
    uint8_t *snap_blob; /* its encoding */
    size_t snap_len;
    rf_plan_t plan;
    rf_pstate_t *ps;    /* [snap->n_params] */

    int64_t generation; /* last committed, -1 none */
    bool valid;

    /* per load */
    int64_t loading;    /* generation being loaded */
    rf_ckpt_t *ckpt;    /* rank 0 */
    rf_src_t (*src)[RF_MAX_PARTS];
    int *fds;           /* rank 0: one read-only descriptor per checkpoint file */
    size_t n_fds;
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
};

/* Where param i's data / scales live for the generation being loaded. */
void *rf_ctx_target(refit_ctx *ctx, size_t i, bool scales);
/* This rank's part of refit_dump, no MPI: its rank file and, on rank 0, the
 * snapshot (the emergency dump of a dying rank uses it alone). */
refit_status rf_dump_local(refit_ctx *ctx, const char *dir);

#endif
