/* State of the cuda backend, one per context, shared by backend_cuda.c
 * (memory, quantization, device choice) and xfer_nccl.c (the NCCL data
 * plane). Built only with REFIT_HAVE_CUDA. */
#ifndef RF_BACKEND_CUDA_H
#define RF_BACKEND_CUDA_H

#include <pthread.h>

#include "backend.h"
#include "pack_pool.h"
#include "rf_check_nccl.h" /* CUDA_CHECK, NCCL_CHECK */

#define RF_CUDA_RING 3 /* staging buckets in flight per rank */

typedef struct {
    int device, local_rank;
    rf_comm_t *comm;
    ncclComm_t nccl;      /* non-blocking; NULL once aborted (nccl_wait.c) */
    pthread_mutex_t nccl_mu; /* every use of nccl: the watchdog may abort it meanwhile */
    bool nccl_mu_ready;
    cudaStream_t s_h2d, s_nccl, s_comp;
    cudaEvent_t ev_fence[2]; /* refit_commit: caller's stream -> s_comp, s_comp -> caller's stream */

    /* per-param NaN/Inf workspaces and the events that time each param's
     * kernels; param i's workspace is bytes [ws_off[i], ws_off[i + 1]):
     * RF_QCU_WORKSPACE_BYTES, or for an expert param the grouped kernels'
     * (larger for fp8-tensor: one amax per expert), laid out alike so that
     * rf_qcu_ws_first_bad reads either */
    void *d_ws;
    uint8_t *h_ws;
    size_t ws_params;
    uint64_t *ws_off; /* [ws_params + 1] */
    cudaEvent_t *ev_q; /* [2 * ws_params]: start, stop per param */
    bool *q_used;      /* [ws_params]: this load enqueued work for param i */

    /* digest(): result slots and one workspace, used in order on s_comp */
    uint64_t *d_dig;
    size_t n_dig;
    void *d_dig_ws;
    size_t dig_ws_bytes;
    /* leaves(): rank 0's chunk hashes of the buckets (--verify), on s_h2d */
    uint64_t *d_leaves;
    size_t n_leaves;

    /* bucket ring: pinned host side on rank 0 only */
    uint64_t ring_bytes;
    void *pinned[RF_CUDA_RING], *dbuf[RF_CUDA_RING];
    cudaEvent_t ev_h2d[RF_CUDA_RING], ev_sent[RF_CUDA_RING], ev_free[RF_CUDA_RING];
    rf_pack_pool_t *pool;
    double pack_seconds, wait_seconds; /* rank 0's last load: packing, waiting for a pinned bucket */

    /* cudaFree does not tell the size: the size of every model allocation,
     * keyed by pointer, for the memory account */
    struct rf_cuda_rec {
        void *p;
        uint64_t bytes;
    } *recs;
    size_t n_recs, cap_recs;
} rf_cuda_t;

/* xfer_nccl.c */
refit_status rf_nccl_init(rf_cuda_t *c);
void rf_nccl_fini(rf_cuda_t *c);
refit_status rf_xfer_cuda_run(rf_backend_t *b, const rf_xfer_t *x, uint64_t *bytes_moved);

/* nccl_wait.c: the non-blocking communicator. Its waits poll against the
 * communicator's deadline (rf_comm_deadline, set in return mode) and
 * return REFIT_ERR_TIMEOUT there after aborting it. */
refit_status rf_nccl_comm_create(rf_cuda_t *c, int world, ncclUniqueId id, int rank);
void rf_nccl_comm_destroy(rf_cuda_t *c);
void rf_nccl_abort(rf_cuda_t *c); /* any thread, idempotent */
refit_status rf_nccl_settle(rf_cuda_t *c, ncclResult_t r, const char *what);
refit_status rf_nccl_wait_event(rf_cuda_t *c, cudaEvent_t ev, const char *what);
refit_status rf_nccl_wait_stream(rf_cuda_t *c, cudaStream_t s, const char *what);
/* rank 0: bucket buf to peers first, first + stride, ... < world (not 0), one group */
refit_status rf_nccl_send_group(rf_cuda_t *c, const void *buf, size_t bytes, int first, int stride, int world);
refit_status rf_nccl_bcast(rf_cuda_t *c, void *buf, size_t bytes); /* root 0 */
refit_status rf_nccl_recv(rf_cuda_t *c, void *buf, size_t bytes);  /* from rank 0 */

/* digest_dev.c: the digest() and digest_collect() operations. */
refit_status rf_cu_digest(rf_backend_t *b, size_t slot, const void *ptr, uint64_t bytes);
refit_status rf_cu_digest_collect(rf_backend_t *b, uint64_t *out, size_t n);
void rf_cu_digest_free(rf_cuda_t *c);
refit_status rf_cu_leaves_begin(rf_backend_t *b, size_t n);
refit_status rf_cu_leaves(rf_backend_t *b, const void *ptr, uint64_t bytes, size_t first);
refit_status rf_cu_leaves_collect(rf_backend_t *b, uint64_t *out, size_t n);

#endif
