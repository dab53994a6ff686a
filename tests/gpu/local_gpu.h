/* The GPU a rank of an MPI job uses when it picks its own: local rank %
 * visible GPUs (refit's default for refit_options.device = -1), made
 * current, so that a program's own device buffers (an engine's bound
 * weights) live where refit's context does. Header-only, for
 * tests/embed/test_embed.c and bench/embed_pause.c; include only where
 * REFIT_HAVE_CUDA is defined. Returns the device, or -1 without one. */
#ifndef RF_TEST_LOCAL_GPU_H
#define RF_TEST_LOCAL_GPU_H

#include <cuda_runtime_api.h>
#include <mpi.h>

static inline int rf_local_gpu(void) {
    MPI_Comm local;
    int lrank = 0, ndev = 0;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local);
    MPI_Comm_rank(local, &lrank);
    MPI_Comm_free(&local);
    if (cudaGetDeviceCount(&ndev) != cudaSuccess || ndev == 0) return -1;
    return cudaSetDevice(lrank % ndev) == cudaSuccess ? lrank % ndev : -1;
}

#endif
