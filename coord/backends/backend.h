/* The seam between the protocol (coord/) and what holds the model: one
 * operations table per backend (rf_backend_ops_t: functions only, const,
 * shared by every context using that backend) and one state object per
 * context (rf_backend_t: the table, the backend's own state, the memory
 * account). host = RAM + the MPI data plane + the C reference quantization
 * (backends/host/); cuda = device memory + the NCCL data plane + the CUDA
 * kernels (backends/cuda/). A backend includes this header and the layers
 * below (shard, kernels, comm, base), never coord's own headers. */
#ifndef RF_BACKEND_H
#define RF_BACKEND_H

#include "comm.h"
#include "quant.h"
#include "quant_moe.h"
#include "source.h"

typedef struct rf_backend rf_backend_t;

/* What R3 needs from the coordinator: the params of the snapshot, the
 * plan, where rank 0 reads them, and where each rank's slices land. */
typedef struct {
    const rf_param_t *params; /* [n_params], rank-local shapes at tp */
    size_t n_params;
    int tp;
    const rf_plan_t *plan;
    rf_comm_t *comm;
    /* the packing ranks: where every source slot of every param is
     * (src[i][slot], rf_sources_t): rank 0's, or with `local` every rank's */
    const rf_src_t *const *src;
    /* every rank packs only its own slices (group = its tp rank) from its
     * own src; nothing crosses the data plane (a directory read by every
     * rank, tensors in every rank's memory: source.c) */
    bool local;
    /* this rank's src holds device memory (a memory source's
     * REFIT_MEM_DEVICE tensors, cuda only): packed with device copies
     * straight into device buckets, never by the CPU */
    bool device_src;
    /* cuda: broadcast every bucket to all ranks instead of sending each
     * group's buckets to that group only (--transfer bcast) */
    bool bcast;
    /* receivers: backend memory that param p's local bf16 slice lands in */
    void *(*dest)(void *user, size_t param);
    /* called once all of param p's bytes have landed; an error is kept
     * (first one wins) and later params are still received, unprocessed */
    refit_status (*complete)(void *user, size_t param);
    void *user;
    /* after each bucket: this rank's bytes so far and of the whole transfer */
    void (*progress)(void *user, uint64_t done, uint64_t total);
    /* rank 0, optional (NULL: none): bucket k of group `group`'s stream is
     * packed at `bucket` (host memory) and about to be sent; --verify
     * gathers from it the chunks a bucket boundary cuts, in stream order */
    void (*packed)(void *user, int group, size_t k, const uint8_t *bucket);
    /* rank 0, optional (NULL: none): bucket k of
     * `group` was just copied to backend memory at `dev_bucket` (cuda:
     * enqueued on the host-to-device stream, not yet done); --verify
     * enqueues the chunk hashes of its whole chunks there (leaves()), in
     * the same stream order, before the bucket can be reused */
    void (*landed)(void *user, int group, size_t k, const void *dev_bucket);
    /* rf_now() time by which the load must be over (0: none): a backend
     * that polls gives up there with REFIT_ERR_TIMEOUT rather than waiting
     * forever */
    double deadline;
} rf_xfer_t;

typedef struct rf_backend_ops {
    const char *name;
    refit_status (*alloc)(rf_backend_t *b, size_t bytes, void **out);
    void (*release)(rf_backend_t *b, void *ptr);
    refit_status (*copy)(rf_backend_t *b, void *dst, const void *src, size_t bytes);
    refit_status (*to_host)(rf_backend_t *b, void *host_dst, const void *src, size_t bytes);
    /* R4 for one param whose bf16 slice x[rows, cols] is complete: scan it
     * for NaN/Inf and, unless s is RF_Q_NONE, quantize it into out/scales.
     * May run asynchronously (cuda); a NaN/Inf is not an error here but is
     * recorded and reported by collect(). */
    refit_status (*process)(rf_backend_t *b, size_t param, rf_qscheme_t s, const void *x, int64_t rows,
                            int64_t cols, void *out, void *scales);
    /* process() for an expert param (SPEC §3a) whose slice x, m's
     * [E_r, rows, cols] bf16, is complete: scan it and quantize every local
     * expert on its own into out (fp8-block: the padded layout) and scales
     * (s is an fp8 scheme; bf16 expert params go through process()). cuda:
     * one grouped launch over all experts. A NaN/Inf is recorded as in
     * process(), its element the flat index into x. */
    refit_status (*process_experts)(rf_backend_t *b, size_t param, rf_qscheme_t s, const rf_q_moe_t *m,
                                    const void *x, void *out, void *scales);
    /* Waits for every process() of this load. *bad_param = the lowest param
     * index that held a NaN/Inf (SIZE_MAX if none), *bad_elem its first bad
     * element, *bad_bits that element's bf16 bits. Resets for the next load. */
    refit_status (*collect)(rf_backend_t *b, size_t *bad_param, int64_t *bad_elem, uint16_t *bad_bits);
    refit_status (*transfer)(rf_backend_t *b, const rf_xfer_t *x, uint64_t *bytes_moved);
    /* Waits for every copy() issued so far (cuda copies are asynchronous). */
    refit_status (*sync)(rf_backend_t *b);
    /* Seconds the quantize/scan work of the last load took on the device
     * (cuda: summed kernel time; host: NAN, the caller's clock is exact). */
    double (*quant_seconds)(rf_backend_t *b);
    /* Frees the state and the rf_backend_t itself. */
    void (*destroy)(rf_backend_t *b);
    /* Enqueues digest (kernels/digest.h) of `bytes` bytes of backend memory
     * at ptr into result slot `slot`, ordered after the work already issued
     * on that memory (cuda: on the compute stream, after the unpack, before
     * the quantization that reads the same staging buffer). */
    refit_status (*digest)(rf_backend_t *b, size_t slot, const void *ptr, uint64_t bytes);
    /* Waits for every digest() and copies slots [0, n) to out; a slot no
     * digest() wrote since the last collect holds 0. */
    refit_status (*digest_collect)(rf_backend_t *b, uint64_t *out, size_t n);
    /* --verify on rank 0 (coord/verify_leaves.c), every backend has them.
     * leaves_begin: leaf slots [0, n) zeroed for this load. leaves: enqueues
     * the chunk hashes (digest.h's H_i) of the `bytes` bytes of backend
     * memory at ptr into leaf slots first, first + 1, ..., ordered after the
     * bucket copy landed() announced. leaves_collect: waits for them and
     * copies slots [0, n) to out. */
    refit_status (*leaves_begin)(rf_backend_t *b, size_t n);
    refit_status (*leaves)(rf_backend_t *b, const void *ptr, uint64_t bytes, size_t first);
    refit_status (*leaves_collect)(rf_backend_t *b, uint64_t *out, size_t n);
    /* Optional (NULL: nothing to do). Called once, from the watchdog thread,
     * when a load outlived its timeout, while the main thread may be blocked
     * in this backend: makes its blocked calls return (cuda: ncclCommAbort on
     * every communicator). The job ends right after. */
    void (*abort)(rf_backend_t *b);
    /* refit_bind: the alignment a caller's buffer needs (host 16: SSE/AVX
     * loads of the engine; cuda 256: cudaMalloc's and what vectorized kernels
     * assume), and whether ptr is memory this backend can use as a param's
     * live storage (optional, NULL: any; otherwise false + why, e.g. "host
     * memory, the cuda backend needs device memory of GPU 0"). */
    size_t bind_align;
    bool (*check_ptr)(rf_backend_t *b, const void *ptr, char *why, size_t cap);
    /* refit_commit on the caller's stream (optional, NULL: nothing to order):
     * before = true: later copy() calls wait for the work enqueued on
     * `stream` so far; before = false: work enqueued on `stream` later waits
     * for every copy() so far. */
    refit_status (*fence)(rf_backend_t *b, void *stream, bool before);
    /* Optional (NULL: the backend has no current device, host). Around every
     * public call on a context: device_enter saves the calling thread's
     * current device in *saved and makes the context's device current (the
     * caller may have changed it since the last call); device_leave(saved)
     * puts the caller's back. device_leave needs no state: refit_destroy
     * calls it after the backend is gone (the table is static). */
    refit_status (*device_enter)(rf_backend_t *b, int *saved);
    void (*device_leave)(int saved);
} rf_backend_ops_t;

struct rf_backend {
    const rf_backend_ops_t *ops;
    void *impl;                 /* the backend's state, one per context */
    uint64_t mem_now, mem_peak; /* bytes this backend holds for the model, and the peak */
};

/* The quantization kernels' view of expert param p on tp rank `tp_rank`. */
static inline rf_q_moe_t rf_param_moe_desc(const rf_param_t *p, int tp, int tp_rank) {
    rf_expert_slice_t e = rf_param_experts(p, tp, tp_rank);
    bool w13 = p->layout == RF_LAYOUT_EXPERTS_W13;
    return (rf_q_moe_t){.kind = w13 ? RF_Q_MOE_W13 : RF_Q_MOE_W2, .experts = e.n, .expert0 = e.e0,
                        .hidden = w13 ? p->cols : p->rows, .inter = e.inter};
}

/* The memory account of every backend: `bytes` taken, or given back. */
static inline void rf_backend_account(rf_backend_t *b, uint64_t bytes, bool taken) {
    b->mem_now = taken ? b->mem_now + bytes : b->mem_now - bytes;
    if (b->mem_now > b->mem_peak) b->mem_peak = b->mem_now;
}

refit_status rf_backend_host_create(rf_backend_t **out);
#ifdef REFIT_HAVE_CUDA
/* Whether this machine has a usable GPU. */
bool rf_backend_cuda_available(void);
/* Collective over comm (NCCL's set-up). device: the CUDA device to use, -1 =
 * by local rank. Leaves that device current (refit_create restores the
 * caller's with the two calls below). */
refit_status rf_backend_cuda_create(rf_comm_t *comm, int device, rf_backend_t **out);
/* The calling thread's current CUDA device (-1: none, no usable GPU) and
 * putting it back (-1: nothing to do): for refit_create, before any context
 * has a backend. */
int rf_backend_cuda_device_save(void);
void rf_backend_cuda_device_restore(int saved);
#endif

#endif
