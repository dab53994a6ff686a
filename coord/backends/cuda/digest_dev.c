/* digest() and digest_collect() of the cuda backend: kernels/digest_cuda.h
 * on the compute stream s_comp, where the unpack and the quantization of
 * each param run, so a digest of the staging buffer is ordered after its
 * unpack and before the next param's bytes overwrite it. Results stay on
 * the device until collect (one copy, one wait per load). */
#include <stdlib.h>

#include "backend_cuda.h"
#include "digest_cuda.h"

static refit_status ensure_slots(rf_cuda_t *c, size_t slot) {
    if (slot < c->n_dig) return REFIT_OK;
    size_t n = slot + 1 > 2 * c->n_dig ? slot + 1 : 2 * c->n_dig;
    uint64_t *d = NULL;
    CUDA_CHECK(cudaMalloc((void **)&d, n * sizeof *d), "digest slots");
    CUDA_CHECK(cudaMemsetAsync(d, 0, n * sizeof *d, c->s_comp), "digest slots");
    if (c->d_dig) {
        CUDA_CHECK(cudaMemcpyAsync(d, c->d_dig, c->n_dig * sizeof *d, cudaMemcpyDeviceToDevice, c->s_comp),
                   "digest slots");
        CUDA_CHECK(cudaStreamSynchronize(c->s_comp), "digest slots"); /* before the old array goes */
        CUDA_CHECK(cudaFree(c->d_dig), "digest slots");
    }
    c->d_dig = d;
    c->n_dig = n;
    return REFIT_OK;
}

/* The workspace is reused by every digest in stream order; a larger one
 * replaces it once the stream is past the digests using the old one. */
static refit_status ensure_ws(rf_cuda_t *c, uint64_t bytes) {
    size_t need = rf_dgcu_workspace_bytes(bytes);
    if (need <= c->dig_ws_bytes) return REFIT_OK;
    if (c->d_dig_ws) {
        CUDA_CHECK(cudaStreamSynchronize(c->s_comp), "digest workspace");
        CUDA_CHECK(cudaFree(c->d_dig_ws), "digest workspace");
        c->d_dig_ws = NULL;
        c->dig_ws_bytes = 0;
    }
    CUDA_CHECK(cudaMalloc(&c->d_dig_ws, need), "digest workspace");
    c->dig_ws_bytes = need;
    return REFIT_OK;
}

refit_status rf_cu_digest(rf_backend_t *b, size_t slot, const void *ptr, uint64_t bytes) {
    rf_cuda_t *c = b->impl;
    RF_CHECK(ensure_slots(c, slot));
    RF_CHECK(ensure_ws(c, bytes));
    return rf_dgcu_digest(ptr, bytes, c->d_dig + slot, c->d_dig_ws, c->dig_ws_bytes, c->s_comp);
}

refit_status rf_cu_digest_collect(rf_backend_t *b, uint64_t *out, size_t n) {
    rf_cuda_t *c = b->impl;
    size_t have = n < c->n_dig ? n : c->n_dig;
    for (size_t i = have; i < n; i++) out[i] = 0;
    if (have) {
        CUDA_CHECK(cudaMemcpyAsync(out, c->d_dig, have * sizeof *out, cudaMemcpyDeviceToHost, c->s_comp), "digests");
        CUDA_CHECK(cudaMemsetAsync(c->d_dig, 0, c->n_dig * sizeof *c->d_dig, c->s_comp), "digests");
    }
    CUDA_CHECK(cudaStreamSynchronize(c->s_comp), "digests");
    return REFIT_OK;
}

/* ---- leaves: rank 0's chunk hashes of each bucket as it lands (s_h2d) ---- */

refit_status rf_cu_leaves_begin(rf_backend_t *b, size_t n) {
    rf_cuda_t *c = b->impl;
    if (n > c->n_leaves) {
        if (c->d_leaves) {
            CUDA_CHECK(cudaStreamSynchronize(c->s_h2d), "digest leaves"); /* nothing may still write the old ones */
            CUDA_CHECK(cudaFree(c->d_leaves), "digest leaves");
            c->d_leaves = NULL;
            c->n_leaves = 0;
        }
        CUDA_CHECK(cudaMalloc((void **)&c->d_leaves, n * sizeof *c->d_leaves), "digest leaves");
        c->n_leaves = n;
    }
    if (n) CUDA_CHECK(cudaMemsetAsync(c->d_leaves, 0, n * sizeof *c->d_leaves, c->s_h2d), "digest leaves");
    return REFIT_OK;
}

refit_status rf_cu_leaves(rf_backend_t *b, const void *ptr, uint64_t bytes, size_t first) {
    rf_cuda_t *c = b->impl;
    if (first + rf_digest_chunk_count(bytes) > c->n_leaves)
        return rf_error(REFIT_ERR_INTERNAL, "digest leaves %zu..%zu past the %zu slots of this load", first,
                        first + (size_t)rf_digest_chunk_count(bytes), c->n_leaves);
    return rf_dgcu_leaves(ptr, bytes, c->d_leaves + first, c->s_h2d);
}

refit_status rf_cu_leaves_collect(rf_backend_t *b, uint64_t *out, size_t n) {
    rf_cuda_t *c = b->impl;
    if (n > c->n_leaves) return rf_error(REFIT_ERR_INTERNAL, "digest leaves: %zu asked, %zu held", n, c->n_leaves);
    if (n) CUDA_CHECK(cudaMemcpyAsync(out, c->d_leaves, n * sizeof *out, cudaMemcpyDeviceToHost, c->s_h2d), "digest leaves");
    CUDA_CHECK(cudaStreamSynchronize(c->s_h2d), "digest leaves");
    return REFIT_OK;
}

void rf_cu_digest_free(rf_cuda_t *c) {
    if (c->d_leaves && cudaFree(c->d_leaves) != cudaSuccess) (void)cudaGetLastError();
    c->d_leaves = NULL;
    c->n_leaves = 0;
    if (c->d_dig && cudaFree(c->d_dig) != cudaSuccess) (void)cudaGetLastError();
    if (c->d_dig_ws && cudaFree(c->d_dig_ws) != cudaSuccess) (void)cudaGetLastError();
    c->d_dig = c->d_dig_ws = NULL;
    c->n_dig = c->dig_ws_bytes = 0;
}
