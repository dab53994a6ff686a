/* refit — distributed multi-GPU reload coordinator: public C API.
 *
 * One opaque context per rank. A context is created collectively over an MPI
 * communicator (passed as a void* so this header needs no MPI types), loads
 * generation 0 from a checkpoint, then reloads later generations; every reload
 * commits on all ranks or on none. */
#ifndef REFIT_H
#define REFIT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum refit_status {
    REFIT_OK = 0,
    REFIT_ERR_INVALID_ARG, /* a caller passed something impossible */
    REFIT_ERR_IO,          /* open/read/write/mmap failed */
    REFIT_ERR_FORMAT,      /* malformed safetensors, index, config or snapshot */
    REFIT_ERR_MISMATCH,    /* checkpoint disagrees with the snapshot */
    REFIT_ERR_UNSUPPORTED, /* unknown model family, tensor or dtype */
    REFIT_ERR_NUMERIC,     /* NaN or Inf in a source tensor */
    REFIT_ERR_NOMEM,       /* allocation failed */
    REFIT_ERR_COMM,        /* MPI or NCCL failed */
    REFIT_ERR_DEVICE,      /* CUDA failed or no usable GPU */
    REFIT_ERR_REMOTE,      /* another rank failed; its cause is in the message */
    REFIT_ERR_TIMEOUT,     /* a bounded wait ran out */
    REFIT_ERR_STATE,       /* call not valid in this state (e.g. model invalid) */
    REFIT_ERR_INTERNAL,    /* a bug in refit */
    REFIT_STATUS_COUNT
} refit_status;

/* Short lowercase name of a status ("ok", "format error", ...). Never NULL. */
const char *refit_status_str(refit_status st);

#ifdef __cplusplus
}
#endif
#endif
