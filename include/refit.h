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

/* ---- version ------------------------------------------------------------
 * The header's version; CMake's project(VERSION) must say the same (the test
 * cli_version checks `refit --version` against it). */
#define REFIT_VERSION_MAJOR 0
#define REFIT_VERSION_MINOR 1
#define REFIT_VERSION_PATCH 0

/* "MAJOR.MINOR.PATCH" of the library linked in. Never NULL. */
const char *refit_version(void);

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

typedef struct refit_options {
    int tp;                   /* tensor-parallel size; 0 = world size */
    const char *quant;        /* fp8-tensor (default), fp8-row, fp8-block, none */
    refit_backend backend;    /* auto: cuda when a GPU is usable, else host */
    uint64_t bucket_bytes;    /* staging bucket size, agreed as the MIN over ranks; 0 = 32 MiB */
    refit_commit_mode commit; /* shadow: all-or-nothing; inplace: failure marks the model invalid */
    refit_transfer transfer;  /* cuda backend's data plane (default scatter: measured faster) */
    /* Seconds a refit_load may take; 0 = 60, < 0 = no limit. A load still
     * running then (a rank hung or died) ends the MPI job with exit code 124
     * within this time, after each rank reports its phase on stderr: an MPI
     * job cannot outlive a lost rank. Failures that return never end it. */
    double timeout_s;
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

/* ---- progress -----------------------------------------------------------
 * A load's long part is R3 (moving the bf16 slices). A progress callback
 * lets a launcher show it without reaching into the library. */
typedef struct refit_progress {
    int64_t generation;   /* generation being loaded */
    refit_phase phase;    /* REFIT_PHASE_TRANSFER */
    uint64_t bytes_done;  /* this rank's transfer bytes so far; never decreases within a load */
    uint64_t bytes_total; /* this rank's transfer bytes of the whole load (the same figure
                             refit_load_stats.bytes[REFIT_PHASE_TRANSFER] ends with on success) */
    double seconds;       /* since the phase began on this rank */
} refit_progress;

typedef void (*refit_progress_fn)(const refit_progress *p, void *user);

/* Local (not collective). During each refit_load, fn is called on this rank
 * from the thread that called refit_load, inside the transfer loop, after a
 * bucket is done (cuda: handed to the device streams): at most every 0.1 s,
 * plus once when bytes_done reaches bytes_total. fn must return quickly and
 * must not call refit. fn NULL turns it off. */
void refit_set_progress(refit_ctx *ctx, refit_progress_fn fn, void *user);

#ifdef __cplusplus
}
#endif
#endif
