/* The copy floors of the one-GPU benchmarks (embed_pause.c, source_bw.c),
 * measured in the same run as what they bound: bytes copied per second of a
 * 1 GiB copy, best of 5 after a warm-up, pinned or pageable host to device,
 * or device to device (bytes copied once: a device copy reads and writes
 * each). Exits the program on a CUDA error. */
#ifndef RF_BENCH_COPY_RATE_H
#define RF_BENCH_COPY_RATE_H

#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { RF_COPY_H2D_PINNED, RF_COPY_H2D_PAGEABLE, RF_COPY_D2D };

static inline void rf_copy_check(cudaError_t e, const char *what) {
    if (e == cudaSuccess) return;
    fprintf(stderr, "copy floor: %s: %s\n", what, cudaGetErrorString(e));
    exit(1);
}

static inline double rf_copy_rate(int kind, cudaStream_t s) {
    const size_t bytes = 1ull << 30;
    void *src = NULL, *dst = NULL;
    rf_copy_check(cudaMalloc(&dst, bytes), "cudaMalloc");
    if (kind == RF_COPY_D2D) rf_copy_check(cudaMalloc(&src, bytes), "cudaMalloc");
    else if (kind == RF_COPY_H2D_PINNED) rf_copy_check(cudaHostAlloc(&src, bytes, cudaHostAllocDefault), "cudaHostAlloc");
    else if (!(src = malloc(bytes))) rf_copy_check(cudaErrorMemoryAllocation, "malloc");
    if (kind == RF_COPY_D2D) rf_copy_check(cudaMemsetAsync(src, 1, bytes, s), "cudaMemsetAsync");
    else memset(src, 1, bytes); /* every page touched */
    cudaEvent_t e0, e1;
    rf_copy_check(cudaEventCreate(&e0), "cudaEventCreate");
    rf_copy_check(cudaEventCreate(&e1), "cudaEventCreate");
    float best = 1e30f;
    for (int i = 0; i < 6; i++) { /* the first is a warm-up */
        rf_copy_check(cudaEventRecord(e0, s), "cudaEventRecord");
        rf_copy_check(cudaMemcpyAsync(dst, src, bytes, kind == RF_COPY_D2D ? cudaMemcpyDeviceToDevice
                                                                           : cudaMemcpyHostToDevice, s),
                      "cudaMemcpyAsync");
        rf_copy_check(cudaEventRecord(e1, s), "cudaEventRecord");
        rf_copy_check(cudaEventSynchronize(e1), "cudaEventSynchronize");
        float ms = 0;
        rf_copy_check(cudaEventElapsedTime(&ms, e0, e1), "cudaEventElapsedTime");
        if (i > 0 && ms < best) best = ms;
    }
    rf_copy_check(cudaEventDestroy(e0), "cudaEventDestroy");
    rf_copy_check(cudaEventDestroy(e1), "cudaEventDestroy");
    rf_copy_check(cudaFree(dst), "cudaFree");
    if (kind == RF_COPY_D2D) rf_copy_check(cudaFree(src), "cudaFree");
    else if (kind == RF_COPY_H2D_PINNED) rf_copy_check(cudaFreeHost(src), "cudaFreeHost");
    else free(src);
    return (double)bytes / (best * 1e-3);
}

#endif
