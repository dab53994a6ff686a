/* CUDA_CHECK (rf_check.h's family, for code built with the CUDA runtime:
 * the CUDA kernels and the cuda backend). A failed call, or a success that
 * leaves an error behind (cudaGetLastError: a kernel launch before it),
 * becomes REFIT_ERR_DEVICE "gpu D: WHAT: <reason> (<cudaErrorName>)"; the
 * error is cleared so the next call does not report it again. */
#ifndef RF_CHECK_CUDA_H
#define RF_CHECK_CUDA_H

#include <cuda_runtime_api.h>

#include "rf_common.h"

static inline refit_status rf_cuda_fail(cudaError_t e, const char *what) {
    int dev = -1;
    (void)cudaGetLastError(); /* clear: the error is reported here, once */
    if (cudaGetDevice(&dev) != cudaSuccess) {
        dev = -1;
        (void)cudaGetLastError();
    }
    return rf_error(REFIT_ERR_DEVICE, "gpu %d: %s: %s (%s)", dev, what, cudaGetErrorString(e), cudaGetErrorName(e));
}

#define CUDA_CHECK(call, what)                                     \
    do {                                                           \
        cudaError_t rf_ce_ = (call);                               \
        if (rf_ce_ == cudaSuccess) rf_ce_ = cudaGetLastError();    \
        if (rf_ce_ != cudaSuccess) return rf_cuda_fail(rf_ce_, what); \
    } while (0)

#endif
