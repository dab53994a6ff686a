/* A test helper of tests/gpu/test_embed_cuda.c: the engine's "inference",
 * a kernel that reads a param's bytes and adds their checksum to a device
 * counter, so that a CUDA graph captured once reads the weights again at
 * every replay. The checksum of bytes b[0..n) with weight w is
 *   w * sum_i b[i] * (i mod 65521 + 1)   (mod 2^64),
 * position sensitive; rf_test_checksum_host is the same on the CPU. */
#ifndef RF_TEST_EMBED_CHECKSUM_H
#define RF_TEST_EMBED_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Enqueues the checksum of device bytes p[0..n) times `weight`, added to
 * *d_sum, on `stream` (a cudaStream_t); returns a cudaError_t as int. */
int rf_test_checksum(const void *p, size_t n, uint64_t weight, uint64_t *d_sum, void *stream);

static inline uint64_t rf_test_checksum_host(const void *p, size_t n, uint64_t weight) {
    const uint8_t *b = (const uint8_t *)p;
    uint64_t acc = 0;
    for (size_t i = 0; i < n; i++) acc += (uint64_t)b[i] * (uint64_t)(i % 65521 + 1);
    return acc * weight;
}

#ifdef __cplusplus
}
#endif
#endif
