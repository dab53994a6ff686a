/* NCCL_CHECK (rf_check.h's family, for the cuda backend's data plane): a
 * failed NCCL call becomes REFIT_ERR_COMM "nccl WHAT: <reason>: <NCCL's
 * last error text>". */
#ifndef RF_CHECK_NCCL_H
#define RF_CHECK_NCCL_H

#include <nccl.h>

#include "rf_check_cuda.h"

static inline refit_status rf_nccl_fail(ncclResult_t r, const char *what) {
    const char *last = ncclGetLastError(NULL);
    return rf_error(REFIT_ERR_COMM, "nccl %s: %s%s%s", what, ncclGetErrorString(r), last && *last ? ": " : "",
                    last ? last : "");
}

#define NCCL_CHECK(call, what)                                        \
    do {                                                              \
        ncclResult_t rf_nr_ = (call);                                 \
        if (rf_nr_ != ncclSuccess) return rf_nccl_fail(rf_nr_, what); \
    } while (0)

#endif
