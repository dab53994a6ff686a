/* The checksum kernel of embed_checksum.h: grid-stride partial sums, a warp
 * reduction, one atomicAdd per warp (unsigned 64-bit arithmetic wraps the
 * same way as the host's). */
#include <cuda_runtime.h>

#include "embed_checksum.h"

__global__ void checksum_kernel(const uint8_t *p, size_t n, unsigned long long weight, unsigned long long *sum) {
    unsigned long long acc = 0;
    size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)
        acc += (unsigned long long)p[i] * (unsigned long long)(i % 65521 + 1);
    for (int off = 16; off > 0; off >>= 1) acc += __shfl_down_sync(0xffffffffu, acc, off);
    if ((threadIdx.x & 31) == 0 && acc) atomicAdd(sum, acc * weight);
}

extern "C" int rf_test_checksum(const void *p, size_t n, uint64_t weight, uint64_t *d_sum, void *stream) {
    if (n == 0) return (int)cudaSuccess;
    const unsigned threads = 256;
    size_t blocks = (n + threads - 1) / threads;
    if (blocks > 2048) blocks = 2048;
    checksum_kernel<<<(unsigned)blocks, threads, 0, (cudaStream_t)stream>>>(
        (const uint8_t *)p, n, (unsigned long long)weight, (unsigned long long *)d_sum);
    return (int)cudaGetLastError();
}
