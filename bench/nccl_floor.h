/* The NCCL floors of the GPU benchmarks, shared so that a program measuring
 * a memory source (source_bw.c) bounds it by the same figure floors.c
 * writes as nccl_send_gbps: NCCL sends from rank 0, the bytes split evenly
 * over the other ranks in one group (bytes rank 0 sent / time, the slowest
 * rank's median of 5 after a warm-up), the floor of a scatter from rank 0's
 * GPU memory (issue 15). Also the timing loop and the error checks floors.c
 * uses for its other floors. A failed call names the rank and aborts the
 * job (the other ranks may wait in a collective). Every function here is
 * collective over MPI_COMM_WORLD: every rank calls it, in the same order.
 * Header-only, CUDA builds under mpirun. */
#ifndef RF_BENCH_NCCL_FLOOR_H
#define RF_BENCH_NCCL_FLOOR_H

#include <cuda_runtime_api.h>
#include <mpi.h>
#include <nccl.h>
#include <stdio.h>
#include <stdlib.h>

#ifndef RF_FLOOR_PROG
#define RF_FLOOR_PROG "floors" /* the program a message names */
#endif

static inline void rf_floor_die(const char *call, const char *why) {
    int rank = -1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    fprintf(stderr, RF_FLOOR_PROG ": rank %d: %s: %s\n", rank, call, why);
    MPI_Abort(MPI_COMM_WORLD, 1);
}
#define CK(x)                                                              \
    do {                                                                   \
        cudaError_t e_ = (x);                                              \
        if (e_ != cudaSuccess) rf_floor_die(#x, cudaGetErrorString(e_));   \
    } while (0)
#define NK(x)                                                              \
    do {                                                                   \
        ncclResult_t r_ = (x);                                             \
        if (r_ != ncclSuccess) rf_floor_die(#x, ncclGetErrorString(r_));   \
    } while (0)

static inline int rf_floor_cmp_f(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Median ms of `reps` (at most 16) timed runs of op on stream s, after one
 * warm-up; a barrier before each so that every rank starts together. */
typedef void (*op_fn)(void *ctx, cudaStream_t s);
static inline float median_ms(op_fn op, void *ctx, cudaStream_t s, int reps) {
    cudaEvent_t a, b;
    float t[16];
    CK(cudaEventCreate(&a));
    CK(cudaEventCreate(&b));
    op(ctx, s);
    CK(cudaStreamSynchronize(s));
    for (int i = 0; i < reps; i++) {
        MPI_Barrier(MPI_COMM_WORLD);
        CK(cudaEventRecord(a, s));
        op(ctx, s);
        CK(cudaEventRecord(b, s));
        CK(cudaEventSynchronize(b));
        CK(cudaEventElapsedTime(&t[i], a, b));
    }
    qsort(t, (size_t)reps, sizeof t[0], rf_floor_cmp_f);
    cudaEventDestroy(a);
    cudaEventDestroy(b);
    return t[reps / 2];
}

/* Slowest rank's median (a floor all ranks share). */
static inline float slowest(float ms) {
    MPI_Allreduce(MPI_IN_PLACE, &ms, 1, MPI_FLOAT, MPI_MAX, MPI_COMM_WORLD);
    return ms;
}

typedef struct {
    void *dst, *src;
    size_t bytes;
    int rank, world;
    ncclComm_t nccl;
    enum cudaMemcpyKind kind;
} job_t;

/* An NCCL communicator over MPI_COMM_WORLD (world > 1). */
static inline void rf_floor_nccl_init(ncclComm_t *comm, int rank, int world) {
    ncclUniqueId id;
    if (rank == 0) NK(ncclGetUniqueId(&id));
    MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, MPI_COMM_WORLD);
    NK(ncclCommInitRank(comm, world, id, rank));
}

/* Rank 0 sends bytes / (world - 1) to every other rank, one NCCL group. */
static inline void do_scatter(void *ctx, cudaStream_t s) {
    job_t *j = ctx;
    size_t chunk = j->bytes / (size_t)(j->world - 1);
    NK(ncclGroupStart());
    if (j->rank == 0)
        for (int r = 1; r < j->world; r++)
            NK(ncclSend((const char *)j->src + (size_t)(r - 1) * chunk, chunk, ncclUint8, r, j->nccl, s));
    else
        NK(ncclRecv(j->dst, chunk, ncclUint8, 0, j->nccl, s));
    NK(ncclGroupEnd());
}

/* GB/s rank 0 sends in a scatter of j->bytes (j: src on rank 0, dst on the
 * others, each j->bytes long, rank, world > 1, an NCCL communicator). */
static inline double rf_nccl_send_gbps(job_t *j, cudaStream_t s) {
    double sent = (double)(j->bytes / (size_t)(j->world - 1) * (size_t)(j->world - 1)) / 1e9;
    return sent / (slowest(median_ms(do_scatter, j, s, 5)) * 1e-3);
}

/* The same figure for a program without floors.c's buffers: its own 1 GiB
 * on this rank's current GPU and its own communicator, both gone on
 * return. */
static inline double rf_nccl_send_gbps_world(void) {
    job_t j = {.bytes = 1ull << 30};
    MPI_Comm_rank(MPI_COMM_WORLD, &j.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &j.world);
    cudaStream_t s;
    CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    CK(cudaMalloc(&j.src, j.bytes));
    CK(cudaMalloc(&j.dst, j.bytes));
    CK(cudaMemset(j.src, 1, j.bytes));
    rf_floor_nccl_init(&j.nccl, j.rank, j.world);
    double gbps = rf_nccl_send_gbps(&j, s);
    NK(ncclCommDestroy(j.nccl));
    CK(cudaFree(j.src));
    CK(cudaFree(j.dst));
    CK(cudaStreamDestroy(s));
    return gbps;
}

#endif
