/* Packing a bucket from a memory source that holds device tensors (refit.h:
 * REFIT_MEM_DEVICE, ROOT_MEMORY on rank 0 or RANK_MEMORY on every rank):
 * device copies into the device bucket on `stream`, no pinned staging. */
#ifndef RF_PACK_DEVICE_H
#define RF_PACK_DEVICE_H

#include <cuda_runtime.h>

#include "backend.h"

/* Bucket k of group `group` of x's plan from x->src into dbuf (device
 * memory), ordered on `stream`. */
refit_status rf_pack_device(const rf_xfer_t *x, int group, size_t k, void *dbuf, cudaStream_t stream);

#endif
