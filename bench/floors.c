/* The floors refit's GPU figures are judged against, measured in the same
 * run on the same machine (under mpirun, one rank per GPU):
 *   pinned host-to-device copy on rank 0 alone, and on every rank at once;
 *   NCCL broadcast from rank 0 (algbw = bytes / time, as nccl-tests);
 *   NCCL sends from rank 0, the bytes split evenly over the other ranks in
 *   one group (bytes rank 0 sent / time): the floor of a scatter from rank
 *   0's GPU memory (a memory source, issue 15);
 *   device-to-device copy (read + write counted).
 * Prints one line per floor; with --json FILE also writes them.
 * usage: mpirun -np N floors [--bytes MiB] [--json FILE]   (exit 77 without a GPU) */
#include <cuda_runtime_api.h>
#include <mpi.h>
#include <nccl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nccl_floor.h" /* CK, NK, median_ms, slowest, job_t, the NCCL send floor */

static void do_copy(void *ctx, cudaStream_t s) {
    job_t *j = ctx;
    CK(cudaMemcpyAsync(j->dst, j->src, j->bytes, j->kind, s));
}

static void do_bcast(void *ctx, cudaStream_t s) {
    job_t *j = ctx;
    NK(ncclBroadcast(j->src, j->dst, j->bytes, ncclUint8, 0, j->nccl, s));
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, world, ndev = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    size_t mib = 1024;
    const char *json = NULL;
    for (int i = 1; i < argc - 1; i++) {
        if (!strcmp(argv[i], "--bytes")) mib = (size_t)atol(argv[++i]);
        else if (!strcmp(argv[i], "--json")) json = argv[++i];
    }
    if (cudaGetDeviceCount(&ndev) != cudaSuccess || ndev == 0) {
        if (rank == 0) printf("floors: no GPU: skipped\n");
        MPI_Finalize();
        return 77;
    }
    MPI_Comm local;
    int lrank;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local);
    MPI_Comm_rank(local, &lrank);
    CK(cudaSetDevice(ndev == 1 ? 0 : lrank % ndev));
    size_t bytes = mib << 20;
    job_t j = {.bytes = bytes};
    void *pinned, *d1, *d2;
    CK(cudaHostAlloc(&pinned, bytes, cudaHostAllocDefault));
    memset(pinned, 1, bytes);
    CK(cudaMalloc(&d1, bytes));
    CK(cudaMalloc(&d2, bytes));
    cudaStream_t s;
    CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    const double gb = (double)bytes / 1e9;
    double h2d_one = 0, h2d_all, d2d, bcast = 0, send = 0;

    j = (job_t){.dst = d1, .src = pinned, .bytes = bytes, .kind = cudaMemcpyHostToDevice};
    /* rank 0 alone: the others time a zero-byte copy */
    job_t idle = {.dst = d1, .src = pinned, .bytes = 0, .kind = cudaMemcpyHostToDevice};
    float ms = median_ms(do_copy, rank == 0 ? (void *)&j : (void *)&idle, s, 5);
    if (rank == 0) h2d_one = gb / (ms * 1e-3);
    h2d_all = gb / (slowest(median_ms(do_copy, &j, s, 5)) * 1e-3);
    j = (job_t){.dst = d2, .src = d1, .bytes = bytes, .kind = cudaMemcpyDeviceToDevice};
    d2d = 2 * gb / (slowest(median_ms(do_copy, &j, s, 5)) * 1e-3);
    if (world > 1) {
        rf_floor_nccl_init(&j.nccl, rank, world);
        j.src = d1;
        j.dst = d2;
        bcast = gb / (slowest(median_ms(do_bcast, &j, s, 5)) * 1e-3);
        j.rank = rank;
        j.world = world;
        send = rf_nccl_send_gbps(&j, s);
        ncclCommDestroy(j.nccl);
    }
    if (rank == 0) {
        struct cudaDeviceProp p;
        CK(cudaGetDeviceProperties(&p, 0));
        printf("floors on %d x %s, %zu MiB transfers (median of 5, slowest rank)\n", world, p.name, mib);
        printf("  pinned host->device, rank 0 alone : %7.1f GB/s\n", h2d_one);
        printf("  pinned host->device, all %d ranks  : %7.1f GB/s each\n", world, h2d_all);
        printf("  device copy (read+write)           : %7.1f GB/s\n", d2d);
        if (world > 1) printf("  NCCL broadcast algbw               : %7.1f GB/s\n", bcast);
        if (world > 1) printf("  NCCL sends from rank 0 (scatter)   : %7.1f GB/s\n", send);
        if (json) {
            FILE *f = fopen(json, "w");
            if (f) {
                fprintf(f, "{\"gpu\":\"%s\",\"world\":%d,\"bytes\":%zu,\"h2d_one_gbps\":%.2f,\"h2d_all_gbps\":%.2f,"
                           "\"d2d_gbps\":%.2f,\"nccl_bcast_gbps\":%.2f,\"nccl_send_gbps\":%.2f}\n",
                        p.name, world, bytes, h2d_one, h2d_all, d2d, bcast, send);
                fclose(f);
            }
        }
    }
    cudaFreeHost(pinned);
    cudaFree(d1);
    cudaFree(d2);
    MPI_Finalize();
    return 0;
}
