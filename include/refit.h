/* refit — distributed multi-GPU reload coordinator: public C API.
 *
 * One opaque context per rank. A context is created collectively over an MPI
 * communicator (passed as a void* so this header needs no MPI types), loads
 * generation 0 from a checkpoint, then reloads later generations; every reload
 * commits on all ranks or on none. */
#ifndef REFIT_H
#define REFIT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum refit_status {
    REFIT_OK = 0,
    REFIT_ERR_INVALID_ARG, /* a caller passed something impossible */
    REFIT_ERR_IO,          /* open/read/write/mmap failed */
    REFIT_ERR_FORMAT,      /* malformed safetensors, index, config or snapshot */
    REFIT_ERR_MISMATCH,    /* checkpoint disagrees with the snapshot */
    REFIT_ERR_UNSUPPORTED, /* unknown model family, tensor or dtype */
    REFIT_ERR_NUMERIC,     /* NaN or Inf in a source tensor */
    REFIT_ERR_NOMEM,       /* allocation failed */
    REFIT_ERR_COMM,        /* MPI or NCCL failed */
    REFIT_ERR_DEVICE,      /* CUDA failed or no usable GPU */
    REFIT_ERR_REMOTE,      /* another rank failed; its cause is in the message */
    REFIT_ERR_TIMEOUT,     /* a bounded wait ran out */
    REFIT_ERR_STATE,       /* call not valid in this state (e.g. model invalid) */
    REFIT_ERR_INTERNAL,    /* a bug in refit */
    REFIT_STATUS_COUNT
} refit_status;

/* Short lowercase name of a status ("ok", "format error", ...). Never NULL. */
const char *refit_status_str(refit_status st);

/* ---- context ------------------------------------------------------------ */
typedef struct refit_ctx refit_ctx;

typedef enum { REFIT_BACKEND_AUTO = 0, REFIT_BACKEND_HOST, REFIT_BACKEND_CUDA } refit_backend;
typedef enum { REFIT_COMMIT_SHADOW = 0, REFIT_COMMIT_INPLACE } refit_commit_mode;
/* cuda data plane: scatter = each bucket sent (ncclSend/Recv) only to the
 * ranks whose slice it holds; bcast = ncclBroadcast to every rank. */
typedef enum { REFIT_TRANSFER_SCATTER = 0, REFIT_TRANSFER_BCAST } refit_transfer;
/* Mixture-of-Experts models (SPEC §3a): tp = every rank holds every expert,
 * cut on the intermediate dim (vLLM's default); ep = each rank holds whole
 * experts, contiguous, the remainder to the first ranks (vLLM
 * enable_expert_parallel); attention and dense layers stay tensor-parallel.
 * Dense models ignore it. */
typedef enum { REFIT_MOE_TP = 0, REFIT_MOE_EP } refit_moe_mode;

typedef struct refit_options {
    int tp;                   /* tensor-parallel size; 0 = world size */
    const char *quant;        /* fp8-tensor (default), fp8-row, fp8-block, none */
    refit_backend backend;    /* auto: cuda when a GPU is usable, else host */
    uint64_t bucket_bytes;    /* staging bucket size, agreed as the MIN over ranks; 0 = 32 MiB */
    refit_commit_mode commit; /* shadow: all-or-nothing; inplace: failure marks the model invalid */
    refit_transfer transfer;  /* cuda backend's data plane (default scatter: measured faster) */
    refit_moe_mode moe;       /* how expert params split over the tp ranks (default tp) */
    /* Seconds a refit_load may take; 0 = 60, < 0 = no limit. A load still
     * running then (a rank hung or died) ends the MPI job with exit code 124
     * within this time, after each rank reports its phase on stderr: an MPI
     * job cannot outlive a lost rank. Failures that return never end it. */
    double timeout_s;
    /* ---- integrity (issue 14); appended: keep at the end ---------------
     * Nonzero: every reload checks that what each rank received is what
     * rank 0 sent (a digest per param slice, compared before the vote; a
     * mismatch fails the reload naming the param and rank). Every rank
     * must pass the same value. refit run --verify, REFIT_VERIFY. */
    int verify;
} refit_options;

void refit_options_default(refit_options *opt);

/* Collective over `mpi_comm` (an MPI_Comm*). */
refit_status refit_create(const void *mpi_comm, const refit_options *opt, refit_ctx **out);
void refit_destroy(refit_ctx *ctx);

/* Collective: the first call loads generation 0, each later call reloads
 * (SPEC §2). Only rank 0 reads `checkpoint_dir` (others may pass NULL).
 * On failure no rank commits, the previous generation stays live, and
 * refit_last_error() on every rank holds the first cause. */
refit_status refit_load(refit_ctx *ctx, const char *checkpoint_dir);

/* Last committed generation, -1 before the first commit. */
int64_t refit_generation(const refit_ctx *ctx);
/* False after an in-place reload failed: the live weights match no checkpoint. */
int refit_model_valid(const refit_ctx *ctx);
const char *refit_last_error(const refit_ctx *ctx);
const char *refit_backend_name(const refit_ctx *ctx);

/* Collective: each rank writes DIR/rank-RRRRR-of-NNNNN.safetensors with the
 * last committed generation (SPEC §5); rank 0 also writes DIR/snapshot.refit. */
refit_status refit_dump(refit_ctx *ctx, const char *dir);

typedef enum {
    REFIT_PHASE_OPEN,      /* R0: rank 0 opens and checks the checkpoint */
    REFIT_PHASE_SNAPSHOT,  /* R1: snapshot or digest distributed and checked */
    REFIT_PHASE_RESTORE,   /* R2: bf16 params restored */
    REFIT_PHASE_TRANSFER,  /* R3: bf16 slices moved */
    REFIT_PHASE_QUANTIZE,  /* R4: local quantization */
    REFIT_PHASE_COMMIT,    /* B: agreement, commit, barrier */
    REFIT_PHASE_COUNT
} refit_phase;

const char *refit_phase_name(refit_phase ph);

typedef struct refit_load_stats {
    int64_t generation;                  /* generation this load tried to commit */
    refit_status status;
    double seconds[REFIT_PHASE_COUNT];
    uint64_t bytes[REFIT_PHASE_COUNT];   /* bytes this rank moved/processed in each phase */
    double total_seconds;
    uint64_t peak_model_bytes;           /* peak bytes refit held for the model on this rank:
                                            live + shadow + staging + buckets (device memory on cuda) */
} refit_load_stats;

/* Figures of the most recent refit_load on this rank. */
refit_status refit_last_stats(const refit_ctx *ctx, refit_load_stats *out);

/* ---- integrity (issue 14): digests of the committed weights -----------
 * refit_param_digest: the digest of this rank's committed (live) bytes of
 * one param: the param named `name`, or, when name is NULL, param number
 * `index` (0-based, in snapshot order; *name_out, when not NULL, gets its
 * name, valid for the context's life). Local, not collective: each rank
 * digests its own slice, in host memory (host backend, libxxhash) or on
 * the GPU (cuda backend, the XXH64-tree kernels; waits for them). The
 * value is param_digest(D, S) of kernels/digest.h: D the digest of the
 * param's data bytes (fp8, or bf16 when not quantized), S that of its
 * float32 scales (the digest of no bytes without scales), exactly the
 * bytes of the param's tensors in a refit_dump file, so an engine or a
 * trainer can check weights against its own copy. Call it between loads,
 * from the thread that loads. REFIT_ERR_STATE before the first commit or
 * after a failed in-place reload, REFIT_ERR_INVALID_ARG for an unknown name
 * or an index past the last param. */
refit_status refit_param_digest(refit_ctx *ctx, size_t index, const char *name, const char **name_out,
                                uint64_t *out);

#ifdef __cplusplus
}
#endif
#endif
