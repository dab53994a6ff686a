/* The cuda backend's floors, measured in the run as bench/floors.c does
 * (floor.h): pinned host->device on rank 0 alone, NCCL broadcast from rank
 * 0, device-to-device copy. Collective on MPI_COMM_WORLD; uses the device
 * the cuda backend selected. Every rank runs every barrier even after a
 * local CUDA error, so a failing rank cannot leave the others waiting. */
#include <cuda_runtime_api.h>
#include <mpi.h>
#include <nccl.h>
#include <stdlib.h>
#include <string.h>

#include "floor.h"
#include "rf_common.h"

#define REPS 5

enum op { OP_H2D, OP_D2D, OP_NCCL };

typedef struct {
    void *pinned, *d1, *d2;
    size_t bytes;
    cudaStream_t s;
    cudaEvent_t a, b;
    ncclComm_t nccl;
    bool ok; /* no CUDA or NCCL error so far on this rank */
} probe_t;

static int cmp_f(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static void issue(probe_t *p, enum op op, bool active) {
    size_t n = active ? p->bytes : 0; /* an idle rank times an empty copy */
    if (op == OP_H2D) p->ok &= cudaMemcpyAsync(p->d1, p->pinned, n, cudaMemcpyHostToDevice, p->s) == cudaSuccess;
    else if (op == OP_D2D) p->ok &= cudaMemcpyAsync(p->d2, p->d1, n, cudaMemcpyDeviceToDevice, p->s) == cudaSuccess;
    else p->ok &= ncclBroadcast(p->d1, p->d2, p->bytes, ncclUint8, 0, p->nccl, p->s) == ncclSuccess;
}

/* The slowest rank's median of REPS timed runs (after one warm-up), in
 * seconds; 0 when any rank failed. */
static double median_s(probe_t *p, enum op op, bool active) {
    float t[REPS];
    for (int i = -1; i < REPS; i++) {
        float ms = 0;
        MPI_Barrier(MPI_COMM_WORLD);
        if (p->ok) {
            p->ok &= cudaEventRecord(p->a, p->s) == cudaSuccess;
            issue(p, op, active);
            p->ok &= cudaEventRecord(p->b, p->s) == cudaSuccess;
            p->ok &= cudaEventSynchronize(p->b) == cudaSuccess;
            p->ok &= cudaEventElapsedTime(&ms, p->a, p->b) == cudaSuccess;
        }
        if (i >= 0) t[i] = ms;
    }
    qsort(t, REPS, sizeof t[0], cmp_f);
    double s = p->ok ? t[REPS / 2] * 1e-3 : -1;
    MPI_Allreduce(MPI_IN_PLACE, &s, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    int bad = !p->ok;
    MPI_Allreduce(MPI_IN_PLACE, &bad, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    return bad || s <= 0 ? 0 : s;
}

/* An NCCL communicator over the world for the broadcast probe. */
static void nccl_init(probe_t *p, int rank, int world) {
    ncclUniqueId id;
    int ok = rank != 0 || ncclGetUniqueId(&id) == ncclSuccess;
    MPI_Bcast(&ok, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (!ok) {
        p->ok = false;
        return;
    }
    MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, MPI_COMM_WORLD);
    p->ok &= ncclCommInitRank(&p->nccl, world, id, rank) == ncclSuccess;
}

static void release(probe_t *p) {
    if (p->nccl) ncclCommDestroy(p->nccl);
    if (p->a) cudaEventDestroy(p->a);
    if (p->b) cudaEventDestroy(p->b);
    if (p->s) cudaStreamDestroy(p->s);
    if (p->pinned) cudaFreeHost(p->pinned);
    if (p->d1) cudaFree(p->d1);
    if (p->d2) cudaFree(p->d2);
}

refit_status rf_floor_measure_cuda(uint64_t bytes, rf_floor_t *f) {
    int rank, world;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    probe_t p = {.bytes = (size_t)bytes, .ok = true};
    p.ok &= cudaHostAlloc(&p.pinned, p.bytes, cudaHostAllocDefault) == cudaSuccess;
    p.ok &= cudaMalloc(&p.d1, p.bytes) == cudaSuccess && cudaMalloc(&p.d2, p.bytes) == cudaSuccess;
    p.ok &= cudaStreamCreateWithFlags(&p.s, cudaStreamNonBlocking) == cudaSuccess;
    p.ok &= cudaEventCreate(&p.a) == cudaSuccess && cudaEventCreate(&p.b) == cudaSuccess;
    if (p.ok) memset(p.pinned, 1, p.bytes); /* touch every page, as the data plane's buckets are */
    double gb = (double)bytes / 1e9;
    double h2d = median_s(&p, OP_H2D, rank == 0), d2d = median_s(&p, OP_D2D, true), nccl = 0;
    if (world > 1) {
        nccl_init(&p, rank, world);
        nccl = median_s(&p, OP_NCCL, true);
    }
    release(&p);
    if (h2d <= 0 || d2d <= 0 || (world > 1 && nccl <= 0))
        return rf_error(REFIT_ERR_DEVICE, "cuda floor probe of %llu bytes failed on some rank",
                        (unsigned long long)bytes);
    f->h2d_gbps = gb / h2d;
    f->d2d_gbps = 2 * gb / d2d; /* read + write */
    f->nccl_gbps = world > 1 ? gb / nccl : 0;
    f->measured = true;
    return REFIT_OK;
}
