/* State of the cuda backend, shared by coord/backend_cuda.c (memory,
 * quantization, device choice) and comm/xfer_nccl_cuda.c (the NCCL data
 * plane). Built only with REFIT_HAVE_CUDA. */
#ifndef RF_BACKEND_CUDA_H
#define RF_BACKEND_CUDA_H

#include <cuda_runtime_api.h>
#include <nccl.h>

#include "backend.h"
#include "pack_pool.h"

#define RF_CUDA_RING 3 /* staging buckets in flight per rank */

typedef struct {
    int device, local_rank;
    rf_comm_t *comm;
    ncclComm_t nccl;
    cudaStream_t s_h2d, s_nccl, s_comp;

    /* per-param NaN/Inf workspaces (RF_QCU_WORKSPACE_BYTES each) and the
     * events that time each param's kernels */
    void *d_ws;
    uint8_t *h_ws;
    size_t ws_params;
    cudaEvent_t *ev_q; /* [2 * ws_params]: start, stop per param */
    bool *q_used;      /* [ws_params]: this load enqueued work for param i */

    /* bucket ring: pinned host side on rank 0 only */
    uint64_t ring_bytes;
    void *pinned[RF_CUDA_RING], *dbuf[RF_CUDA_RING];
    cudaEvent_t ev_h2d[RF_CUDA_RING], ev_sent[RF_CUDA_RING], ev_free[RF_CUDA_RING];
    rf_pack_pool_t *pool;
    double pack_seconds, wait_seconds; /* rank 0's last load: packing, waiting for a pinned bucket */
} rf_cuda_t;

refit_status rf_cuda_error(cudaError_t e, const char *what);
refit_status rf_nccl_error(ncclResult_t r, const char *what);
#define RF_CUDA_CHECK(call, what)                                  \
    do {                                                           \
        cudaError_t rf_ce_ = (call);                               \
        if (rf_ce_ != cudaSuccess) return rf_cuda_error(rf_ce_, what); \
    } while (0)
#define RF_NCCL_CHECK(call, what)                                  \
    do {                                                           \
        ncclResult_t rf_nr_ = (call);                              \
        if (rf_nr_ != ncclSuccess) return rf_nccl_error(rf_nr_, what); \
    } while (0)

/* comm/xfer_nccl_cuda.c */
refit_status rf_nccl_init(rf_cuda_t *c);
void rf_nccl_fini(rf_cuda_t *c);
refit_status rf_xfer_cuda_run(rf_backend_t *b, const rf_xfer_t *x, uint64_t *bytes_moved);

#endif
