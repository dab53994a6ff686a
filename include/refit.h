/* refit — distributed multi-GPU reload coordinator: public C API.
 *
 * One opaque context per rank. A context is created collectively over an MPI
 * communicator (passed as a void* so this header needs no MPI types), loads
 * generation 0 from a checkpoint, then reloads later generations; every reload
 * commits on all ranks or on none.
 *
 * How to read this header (each call says):
 *   Collective   every rank of the context's communicator (the one given to
 *                refit_create) must make the call, in the same order relative
 *                to the context's other collective calls; Local: no
 *                communication, any rank alone.
 *   Thread       refit does not lock a context against itself: the calls on
 *                one context are made by one thread at a time (any thread, as
 *                MPI's thread level allows: a collective call makes MPI calls
 *                on the calling thread, so below MPI_THREAD_MULTIPLE it must be
 *                the thread MPI allows). Different contexts are independent
 *                (disjoint communicators: tests/mpi/test_two_contexts.c).
 *                refit's own threads: the watchdog (one per context, it never
 *                calls back into the caller) and, on cuda, rank 0's packing
 *                threads during a load.
 *   Memory       what the call allocates and who frees it. Strings refit
 *                returns are owned by refit: never free them.
 *   Device       on the cuda backend the model's memory is device memory of
 *                the context's GPU (refit_options.device); every call makes
 *                that GPU current while it works and leaves the caller's
 *                current CUDA device as it found it. No call above the
 *                "stage and commit" section takes or returns a device
 *                pointer: every pointer in it is host memory.
 *
 * The state machine of a context:
 *
 *   refit_create --> CREATED --refit_load ok--> LOADED (generation 0)
 *                      |                          |  refit_load ok: generation + 1
 *                      |                          |  refit_load failed: stays LOADED at the
 *                      |                          |  previous generation (shadow mode)
 *                      |                          v
 *                      +----- refit_destroy <-----+
 *
 *   A failed first load leaves the context CREATED (retry or destroy). A
 *   failed in-place reload (REFIT_COMMIT_INPLACE) makes the model invalid
 *   (refit_model_valid() == 0): only refit_load (which rebuilds every param)
 *   and refit_destroy are useful then. A load that outlives
 *   refit_options.timeout_s ends the MPI job (see timeout_s); the stage /
 *   commit calls and the on_timeout option (section "stage and commit"
 *   below) split LOADED into STAGED -> COMMITTED and add TIMED OUT, from which
 *   only refit_destroy is allowed. */
#ifndef REFIT_H
#define REFIT_H

#include <stddef.h>
#include <stdint.h>

#include "refit_version.h" /* REFIT_VERSION_MAJOR/MINOR/PATCH, REFIT_VERSION (generated) */

/* Every function of the library: the only symbols librefit.so exports. */
#if defined(__GNUC__) || defined(__clang__)
#define REFIT_API __attribute__((visibility("default")))
#else
#define REFIT_API
#endif

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

/* Short lowercase name of a status ("ok", "format error", ...); "unknown
 * status" out of range. Local, any thread, static string (never NULL). */
REFIT_API const char *refit_status_str(refit_status st);

/* ---- version (lib, issue 9) ----------------------------------------------
 * REFIT_VERSION_MAJOR/MINOR/PATCH and REFIT_VERSION ("0.1.0") come from
 * refit_version.h, generated from CMake's project(VERSION): the header's
 * version, fixed when the caller compiled. The library's soname changes with
 * MAJOR (librefit.so.MAJOR).
 * refit_version(): "MAJOR.MINOR.PATCH" of the library linked at run time
 * (compare with REFIT_VERSION to detect a mismatch). Local, any thread,
 * static string. */
REFIT_API const char *refit_version(void);

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

/* Growing without breaking callers: struct_size is the FIRST member and
 * holds sizeof(refit_options) as the caller's refit.h declared it;
 * refit_options_default() sets it (always start from it, then change
 * fields). New fields are only ever added at the end, so refit_create reads
 * exactly the fields the caller's struct has and gives the newer ones their
 * defaults. A struct_size below the first version's, or above this
 * library's (a refit.h newer than the library), is REFIT_ERR_INVALID_ARG. */
typedef struct refit_options {
    size_t struct_size;       /* sizeof(refit_options) of the caller: set by refit_options_default() */
    int tp;                   /* tensor-parallel size; 0 = world size */
    const char *quant;        /* fp8-tensor (default), fp8-row, fp8-block, none; copied by refit_create */
    refit_backend backend;    /* auto: cuda when every rank has a usable GPU, else host */
    uint64_t bucket_bytes;    /* staging bucket size, the same on every rank; 0 = 32 MiB */
    refit_commit_mode commit; /* shadow: all-or-nothing; inplace: failure marks the model invalid */
    refit_transfer transfer;  /* cuda backend's data plane (default scatter: measured faster) */
    refit_moe_mode moe;       /* how expert params split over the tp ranks (default tp) */
    /* Seconds a refit_load may take; 0 = 60, < 0 = no limit. A load still
     * running then (a rank hung or died) ends the MPI job with exit code 124
     * within this time, after each rank reports its phase on stderr: an MPI
     * job cannot outlive a lost rank. Failures that return never end it. */
    double timeout_s;
    /* ---- fields added after 0.1.0's first layout (struct_size tells) ---- */
    /* cuda backend: the CUDA device this rank's context uses; -1 (default) =
     * by local rank (local rank % visible GPUs, or 0 when one is visible).
     * Every refit call sets it current while it works and puts the caller's
     * current device back before returning. Ignored on the host backend. */
    int device;
    /* ---- integrity (issue 14) --------------------------------------------
     * Nonzero: every reload checks that what each rank received is what
     * rank 0 sent (a digest per param slice, compared before the vote; a
     * mismatch fails the reload naming the param and rank). Every rank
     * must pass the same value (checked at create). refit run --verify,
     * REFIT_VERIFY. Default 0. It checks loads from a directory read by
     * rank 0; the other sources (refit_stage_source) send no packed host
     * bucket to check and load unverified. */
    int verify;
    /* What a collective call past timeout_s does (see "Embedding" below):
     * REFIT_ON_TIMEOUT_RETURN (default, 0) or REFIT_ON_TIMEOUT_ABORT. */
    int on_timeout;
    /* ---- sources (issue 11) ---------------------------------------------
     * Who reads a checkpoint directory: REFIT_READERS_ROOT (default, 0):
     * rank 0 reads every byte and sends each rank its slices; ALL: rank 0
     * validates every header against the snapshot and broadcasts the
     * verdict, then every rank preads only its own slices from the same
     * directory (it must see it: a shared or replicated file system) and
     * nothing crosses the data plane. Same value on every rank (checked at
     * create). refit run --readers, REFIT_READERS. */
    int readers;
} refit_options;

typedef enum { REFIT_READERS_ROOT = 0, REFIT_READERS_ALL = 1 } refit_readers;

/* Fills *opt with the defaults of the fields `struct_size` bytes hold and
 * sets opt->struct_size = struct_size. Local, any thread, allocates nothing.
 * Call it through refit_options_default(), which passes the caller's size. */
REFIT_API void refit_options_init(refit_options *opt, size_t struct_size);
static inline void refit_options_default(refit_options *opt) { refit_options_init(opt, sizeof *opt); }

/* Collective over `mpi_comm` (an MPI_Comm*, duplicated: the caller may free
 * its communicator afterwards; MPI must be initialized). `opt` NULL = the
 * defaults; its strings are copied. On success *out is a new context, freed
 * by refit_destroy; it allocates the communicators, the watchdog thread and
 * the backend's state (cuda: streams and NCCL communicators on the chosen
 * device), no model memory yet. On failure *out is untouched, nothing stays
 * allocated, and every rank fails: the lowest failing rank returns its
 * status, the others REFIT_ERR_REMOTE, and refit_last_error(NULL) on the
 * calling thread of each gives that rank's cause ("rank R: ..."). The
 * options must be the same on every rank: the first difference fails it on
 * every rank, naming it ("rank 1 has --quant none, rank 0 has fp8-tensor"). */
REFIT_API refit_status refit_create(const void *mpi_comm, const refit_options *opt, refit_ctx **out);
/* Collective over the context's communicator (it frees communicators; cuda:
 * NCCL's). Frees everything the context allocated, the model memory too:
 * pointers obtained from the context are invalid afterwards. NULL is a no-op.
 * The only call allowed in every state. */
REFIT_API void refit_destroy(refit_ctx *ctx);

/* Collective: the first call loads generation 0, each later call reloads
 * (SPEC §2). Only rank 0 reads `checkpoint_dir` (others may pass NULL; it is
 * read during the call only). The first successful load allocates every
 * param's memory (live + shadow on the backend: device memory on cuda),
 * kept at the same addresses until refit_destroy. On failure no rank
 * commits, the previous generation stays live (shadow mode), and
 * refit_last_error(ctx) on every rank holds the first cause. Blocks until
 * the commit's barrier. */
REFIT_API refit_status refit_load(refit_ctx *ctx, const char *checkpoint_dir);

/* Local accessors, any thread that owns the context at the moment:
 * refit_generation: last committed generation, -1 before the first commit.
 * refit_model_valid: 0 after an in-place reload failed (the live weights
 *   match no checkpoint), else 1.
 * refit_backend_name: "host" or "cuda", static string. */
REFIT_API int64_t refit_generation(const refit_ctx *ctx);
REFIT_API int refit_model_valid(const refit_ctx *ctx);
REFIT_API const char *refit_backend_name(const refit_ctx *ctx);
/* The cause of the context's last failed refit_load or refit_dump (""
 * if none; refit_load clears it when it starts), owned by the context and
 * overwritten by its next failure. With ctx NULL: the cause
 * of the last refit_create that failed ON THE CALLING THREAD ("" if the
 * thread's last refit_create succeeded or none ran), thread-local storage
 * valid until that thread's next refit_create. Local. Never NULL. */
REFIT_API const char *refit_last_error(const refit_ctx *ctx);

/* Collective: each rank writes DIR/rank-RRRRR-of-NNNNN.safetensors with the
 * last committed generation (SPEC §5); rank 0 also writes DIR/snapshot.refit.
 * DIR is created if missing; every rank needs a DIR path (shared or local).
 * Reads the live weights (cuda: copies them to host memory it frees before
 * returning). REFIT_ERR_STATE before the first commit or on an invalid model. */
REFIT_API refit_status refit_dump(refit_ctx *ctx, const char *dir);

typedef enum {
    REFIT_PHASE_OPEN,      /* R0: rank 0 opens and checks the checkpoint */
    REFIT_PHASE_SNAPSHOT,  /* R1: snapshot or digest distributed and checked */
    REFIT_PHASE_RESTORE,   /* R2: bf16 params restored */
    REFIT_PHASE_TRANSFER,  /* R3: bf16 slices moved */
    REFIT_PHASE_QUANTIZE,  /* R4: local quantization */
    REFIT_PHASE_COMMIT,    /* B: agreement, commit, barrier */
    REFIT_PHASE_COUNT
} refit_phase;

/* "open", "snapshot", ...; "unknown" out of range. Local, any thread, static. */
REFIT_API const char *refit_phase_name(refit_phase ph);

typedef struct refit_load_stats {
    int64_t generation;                  /* generation this load tried to commit */
    refit_status status;
    double seconds[REFIT_PHASE_COUNT];
    uint64_t bytes[REFIT_PHASE_COUNT];   /* bytes this rank moved/processed in each phase */
    double total_seconds;
    uint64_t peak_model_bytes;           /* peak bytes refit held for the model on this rank:
                                            live + shadow + staging + buckets (device memory on cuda) */
    double stage_seconds;                /* R0-R4 into the shadow (refit_stage, or its part of refit_load) */
    double pause_seconds;                /* the commit: agreement, shadow -> live, barrier (refit_commit) */
} refit_load_stats;

/* Figures of the most recent refit_load on this rank, copied into the
 * caller's *out (all zero before the first load). Local. */
REFIT_API refit_status refit_last_stats(const refit_ctx *ctx, refit_load_stats *out);

/* ==== Embedding: the engine owns the weights (issue 9) ====================
 *
 * An inference engine links refit, lists the params of its rank, optionally
 * binds its own storage to them, then serves from the live weights while
 * refit stages the next generation, and pauses only for the commit.
 *
 * State machine of a context (every call not listed for a state returns
 * REFIT_ERR_STATE and changes nothing):
 *
 *   created --refit_open--> open --refit_stage--> staged --refit_commit--> loaded
 *      |                     |  \--refit_load--> loaded      |  ^              |
 *      \------refit_load-----+-----------------------------/  |  \-refit_stage-/
 *                                                     refit_abandon: back to open/loaded
 *   any state --timeout with on_timeout=return--> timed out: refit_destroy only
 *
 *   created: refit_create returned; no param table yet.
 *   open:    the param table is known (refit_open, or the first stage/load
 *            built it); refit_bind is allowed until the first stage or load.
 *   staged:  generation g+1 sits in the shadow, live still holds g.
 *   loaded:  generation g >= 0 is live.
 *
 * Threads: every call of this section is made by the thread that created
 * the context (calls on one context never run concurrently). What the engine
 * may do meanwhile on other threads or streams: read the live weights
 * (refit_param_info's data/scales) at any time except during refit_commit.
 * refit_stage writes only refit's own shadow memory, on refit's own CUDA
 * streams (cuda backend); refit_commit is the only call that writes live
 * bytes.
 *
 * Timeouts: with on_timeout = REFIT_ON_TIMEOUT_RETURN (the library's
 * default) a collective call of this section (refit_open, refit_stage,
 * refit_commit, refit_abandon, refit_load) that runs past timeout_s, counted
 * from its start on each rank, returns REFIT_ERR_TIMEOUT on every rank still
 * running, at timeout_s (a rank that was itself stalled returns as soon as
 * it runs again), and the process survives. The live weights then hold the last
 * committed generation (shadow mode; a timed-out in-place load leaves them
 * invalid). The context is in "timed out": every call but refit_destroy and
 * the accessors returns REFIT_ERR_STATE. With REFIT_ON_TIMEOUT_ABORT the
 * job ends with exit code 124 as described at timeout_s (the refit command's
 * choice). How return works: every MPI wait of the protocol is a
 * non-blocking collective finished by an MPI_Test loop against the deadline
 * (refit calls MPI from the calling thread only); on cuda the NCCL
 * communicator is non-blocking (ncclConfig_t.blocking = 0) and every host
 * wait of the data plane is a loop over cudaEventQuery/cudaStreamQuery and
 * ncclCommGetAsyncError against the same deadline, which aborts the
 * communicator there (ncclCommAbort frees the kernels that wait for a hung
 * peer); the watchdog thread aborts it too, under the same lock, should the
 * main thread be elsewhere. Requests a timeout leaves pending are leaked with
 * their buffers and communicators on purpose (MPI cannot cancel a
 * collective); refit_destroy then frees everything else and never waits on
 * a peer. MPI thread level: abort mode (with timeout_s >= 0) needs
 * MPI_THREAD_MULTIPLE, because its watchdog thread calls MPI_Abort while the
 * main thread may be inside MPI; refit_create fails with
 * REFIT_ERR_INVALID_ARG naming MPI_Init_thread when MPI runs at a lower
 * level. Return mode works at any level. */
typedef enum { REFIT_ON_TIMEOUT_RETURN = 0, REFIT_ON_TIMEOUT_ABORT = 1 } refit_on_timeout;

/* F16 and F32 appear only in sources (converted to bf16 as SPEC §1 says). */
typedef enum { REFIT_DTYPE_BF16 = 1, REFIT_DTYPE_F8_E4M3 = 2, REFIT_DTYPE_F32 = 3, REFIT_DTYPE_F16 = 4 } refit_dtype;

/* One param of this rank. Strings and pointers are owned by the context and
 * stay valid until refit_destroy. data/scales are device pointers on the
 * cuda backend, host pointers on the host backend; a param's addresses never
 * change once set. */
typedef struct refit_param_info {
    const char *name;          /* vLLM param name, e.g. model.layers.0.mlp.down_proj.weight */
    refit_dtype dtype;         /* F8_E4M3 when quantized, else BF16 */
    int ndim;                  /* 1..3 */
    int64_t shape[3];          /* rank-local shape, row-major; unused entries 0 */
    const char *layout;        /* tensor-parallel layout, e.g. replicated, vocab, qkv, row, merged */
    const char *scale_name;    /* quantized: "x.weight" -> "x.weight_scale" (fp8-tensor, fp8-row) or
                                  "x.weight_scale_inv" (fp8-block), as in the dumps (SPEC §4); else NULL */
    refit_dtype scale_dtype;   /* F32 when quantized, else 0 */
    int scale_ndim;            /* fp8-tensor: 1 [1]; fp8-row: 2 [rows, 1]; fp8-block: 2 [ceil(rows/128),
                                  ceil(cols/128)]; expert params (3-D data): 3-D, SPEC §3a */
    int64_t scale_shape[3];
    void *data;                /* live data: the bound buffer, or refit's own (NULL until the first stage or load) */
    void *scales;              /* live scales, likewise; NULL when not quantized */
    uint64_t data_bytes;       /* exact size of data */
    uint64_t scale_bytes;      /* exact size of scales; 0 when not quantized */
    int64_t generation;        /* generation the live bytes hold; -1 before the first commit */
    int bound;                 /* 1 when data/scales are the caller's (refit_bind) */
} refit_param_info;

/* Collective. Rank 0 reads checkpoint_dir's metadata only (config, headers,
 * no tensor bytes: R0 and R1 of SPEC §2), every rank gets the snapshot and
 * builds its param table: the params can then be listed and bound before
 * any weight is loaded. created -> open. Allocates nothing the caller sees.
 * A later stage or load may read another checkpoint of the same model. */
REFIT_API refit_status refit_open(refit_ctx *ctx, const char *checkpoint_dir);

/* Local, any state but created: number of params of this rank. 0 when
 * created (no table yet). */
REFIT_API size_t refit_param_count(const refit_ctx *ctx);
/* Local: index of the param named `vllm_name`; REFIT_ERR_INVALID_ARG
 * ("unknown param NAME") when none, REFIT_ERR_STATE when created. */
REFIT_API refit_status refit_param_find(refit_ctx *ctx, const char *vllm_name, size_t *index);
/* Local: fills *out for param `index` (REFIT_ERR_INVALID_ARG past the count).
 * (Named _get: refit_param_info is the struct.) Valid from refit_open on;
 * data/scales are NULL for unbound params until the first stage or load. */
REFIT_API refit_status refit_param_info_get(refit_ctx *ctx, size_t index, refit_param_info *out);

/* Local, state open, before the first stage or load, shadow commit mode
 * only. Makes the caller's `data` (data_bytes) and `scales` (scale_bytes)
 * the live storage of param `index`: refit never allocates a live copy of
 * it and every commit writes there. The caller keeps ownership: it frees
 * them after refit_destroy. Checks, each an exact error naming the param:
 * data NULL; data_bytes or scale_bytes differing from refit_param_info's;
 * scales NULL for a quantized param or non-NULL for a bf16 one; an address
 * not aligned to 256 bytes (cuda) or 16 bytes (host); on cuda, memory that is
 * not device memory of this rank's GPU (cudaPointerGetAttributes). Errors:
 * REFIT_ERR_INVALID_ARG, or REFIT_ERR_STATE after the first stage/load, in
 * in-place mode, or twice for one param. Unbound params keep refit's own
 * storage. refit_bind_name is the same by vLLM name. */
REFIT_API refit_status refit_bind(refit_ctx *ctx, size_t index, void *data, size_t data_bytes, void *scales,
                        size_t scale_bytes);
REFIT_API refit_status refit_bind_name(refit_ctx *ctx, const char *vllm_name, void *data, size_t data_bytes,
                             void *scales, size_t scale_bytes);

/* Collective, state created, open or loaded, shadow commit mode only (an
 * in-place context cannot build a generation without writing live bytes:
 * REFIT_ERR_STATE). R0-R4 of SPEC §2 into the shadow; no live byte is
 * written. On success every rank is staged with generation + 1; on failure
 * no rank is, the state is unchanged and refit_last_error() holds the cause. */
REFIT_API refit_status refit_stage(refit_ctx *ctx, const char *checkpoint_dir);

/* Collective, state staged: the pause. Agreement, then shadow -> live on
 * every rank, then a barrier; generation + 1. cuda_stream (a cudaStream_t,
 * ignored on host): the copies start after the work enqueued on it so far
 * (cudaStreamWaitEvent) and work enqueued on it afterwards waits for them;
 * NULL: no ordering (nothing of the caller's may read the weights meanwhile).
 * refit_commit returns once the copies are done. On failure no rank commits,
 * the staged generation is dropped (stage again) and live keeps generation g. */
REFIT_API refit_status refit_commit(refit_ctx *ctx, void *cuda_stream);

/* Collective, state staged: drops the staged generation; back to open or
 * loaded. */
REFIT_API refit_status refit_abandon(refit_ctx *ctx);

/* ---- sources (issue 11): where the next generation's weights are --------
 * A source is a manifest (every checkpoint tensor's name, dtype, shape:
 * checked against the snapshot before any weight is read) plus bytes on
 * demand. Three kinds:
 *   REFIT_SOURCE_DIR: a safetensors checkpoint directory, read by rank 0 or
 *     by every rank (`readers`, as refit_options.readers); refit_stage(ctx,
 *     dir) is this kind with the context's readers. With readers ALL a rank
 *     reads the `dir` it passes (its view of a shared file system), or rank
 *     0's path when it passes NULL; every rank checks its view's headers
 *     against the snapshot, after rank 0's verdict.
 *   REFIT_SOURCE_ROOT_MEMORY: tensors in rank 0's memory (a trainer's
 *     gathered state dict): rank 0 passes `tensors`, the other ranks pass
 *     none; rank 0 packs the buckets from them (device pointers with device
 *     copies, host pointers through pinned staging) and sends each rank its
 *     slices as from a directory.
 *   REFIT_SOURCE_RANK_MEMORY: every rank holds the full tensors (after an
 *     all-gather in a colocated trainer): each rank slices and quantizes its
 *     own part locally; each rank's manifest is checked against the
 *     snapshot and a rank whose manifest differs fails the stage everywhere.
 * Memory tensors: names as in the checkpoint (Hugging Face names, e.g.
 * model.layers.0.self_attn.q_proj.weight), contiguous row-major, BF16, F16
 * or F32 (converted per SPEC §1; a value not finite after conversion is
 * rejected naming the tensor). Device pointers only on the cuda backend, on
 * this rank's GPU. The caller keeps every pointer valid and unchanged until
 * refit_stage_source returns; refit copies nothing it keeps afterwards.
 * The model (config.json) comes from the open context (refit_open, or an
 * earlier load); a context in state created needs `config_dir`: a
 * directory holding the model's config.json (rank 0's), the snapshot is
 * then built from it and rank 0's manifest. */
typedef enum { REFIT_MEM_HOST = 0, REFIT_MEM_DEVICE = 1 } refit_mem_kind;

typedef struct refit_tensor {
    const char *name;     /* checkpoint tensor name */
    refit_dtype dtype;    /* REFIT_DTYPE_BF16, _F16 or _F32 */
    int ndim;             /* 1..3 */
    int64_t shape[3];     /* row-major; unused entries 0 */
    const void *data;     /* contiguous; product(shape) elements of dtype */
    refit_mem_kind where; /* host memory, or device memory of this rank's GPU */
} refit_tensor;

typedef enum { REFIT_SOURCE_DIR = 0, REFIT_SOURCE_ROOT_MEMORY = 1, REFIT_SOURCE_RANK_MEMORY = 2 } refit_source_kind;

/* Grows like refit_options: struct_size first (refit_source_default sets it). */
typedef struct refit_source {
    size_t struct_size;
    refit_source_kind kind;
    const char *dir;             /* DIR: the checkpoint directory */
    int readers;                 /* DIR: refit_readers */
    const refit_tensor *tensors; /* memory kinds: this rank's tensors (ROOT_MEMORY: rank 0 only) */
    size_t n_tensors;
    const char *config_dir;      /* memory kinds, state created only: where config.json is (rank 0) */
} refit_source;

/* Fills *src with the defaults of the fields `struct_size` bytes hold (kind
 * DIR, readers ROOT, every pointer NULL) and sets src->struct_size. Local,
 * any thread, allocates nothing; call it through refit_source_default(). */
REFIT_API void refit_source_init(refit_source *src, size_t struct_size);
static inline void refit_source_default(refit_source *src) { refit_source_init(src, sizeof *src); }

/* Collective, as refit_stage (same states, same all-or-nothing promise),
 * from any source kind; every rank passes the same kind. Errors name the
 * rank, the tensor and the cause: REFIT_ERR_MISMATCH for a manifest that
 * differs from the snapshot (a missing tensor, a shape),
 * REFIT_ERR_UNSUPPORTED for a tensor no param takes or a dtype other than
 * BF16, F16, F32, REFIT_ERR_NUMERIC for a value not finite after its
 * conversion, REFIT_ERR_INVALID_ARG for a NULL pointer or a device pointer on the host
 * backend, REFIT_ERR_IO or REFIT_ERR_FORMAT for a rank that cannot open or
 * read a directory (the message names the rank and the file), and
 * REFIT_ERR_INVALID_ARG when the ranks pass different kinds. A pointer
 * whose buffer is shorter than its shape cannot be detected. --verify
 * (refit_options.verify) covers DIR read by rank 0 only. */
REFIT_API refit_status refit_stage_source(refit_ctx *ctx, const refit_source *src);
/* refit_stage_source then refit_commit(ctx, NULL). */
REFIT_API refit_status refit_load_source(refit_ctx *ctx, const refit_source *src);

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
REFIT_API void refit_set_progress(refit_ctx *ctx, refit_progress_fn fn, void *user);

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
REFIT_API refit_status refit_param_digest(refit_ctx *ctx, size_t index, const char *name, const char **name_out,
                                          uint64_t *out);

#ifdef __cplusplus
}
#endif
#endif
