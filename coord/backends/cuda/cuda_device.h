/* The cuda backend's device helpers, in plain C over the CUDA runtime API
 * and free of CUDA types (device pointers are void*, a stream is a void*
 * cudaStream_t, NULL = the legacy default stream): the device count, PCI
 * ids and selection the backend and the launcher (refit topo, binding)
 * need, and the memory, copy and timing calls the GPU tests and benchmarks
 * use. Built only with REFIT_HAVE_CUDA. Errors are REFIT_ERR_DEVICE naming
 * the GPU, the call and CUDA's reason (rf_check_cuda.h). */
#ifndef RF_CUDA_DEVICE_H
#define RF_CUDA_DEVICE_H

#include <stddef.h>

#include "rf_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Visible CUDA devices; 0 on any CUDA error (no driver, no device: error 35). */
int rf_dev_count(void);
/* PCI bus id of device `dev` as "dddd:bb:dd.f" (lowercase, what hwloc and
 * nvidia-smi print). */
refit_status rf_dev_pci_bus_id(int dev, char *buf, size_t len);
/* Makes `dev` this thread's current device. */
refit_status rf_dev_set(int dev);
/* This thread's current device; -1 on any CUDA error (no driver, no device). */
int rf_dev_current(void);
/* "NVIDIA H100 80GB HBM3, sm_90, 132 SMs, 79.1 GiB, L2 50 MiB" for the current device. */
refit_status rf_dev_desc(char *buf, size_t len);

/* Synchronous memory helpers. */
refit_status rf_dev_malloc(size_t bytes, void **out); /* *out set only on success */
void rf_dev_free(void *d);                            /* NULL is fine */
/* Any direction (unified addressing): host<->device, device<->device. */
refit_status rf_dev_memcpy(void *dst, const void *src, size_t bytes);
refit_status rf_dev_memset(void *d, int byte, size_t bytes);
refit_status rf_dev_sync(void *stream);
/* Asynchronous copy on `stream` (the benchmark's device-copy baseline). */
refit_status rf_dev_memcpy_async(void *dst, const void *src, size_t bytes, void *stream);

/* GPU-side timing with CUDA events: start and stop are recorded on `stream`;
 * rf_dev_timer_stop waits for the stop event and gives the elapsed ms. */
typedef struct rf_dev_timer rf_dev_timer_t;
refit_status rf_dev_timer_create(rf_dev_timer_t **out);
refit_status rf_dev_timer_start(rf_dev_timer_t *t, void *stream);
refit_status rf_dev_timer_stop(rf_dev_timer_t *t, void *stream, float *ms);
void rf_dev_timer_destroy(rf_dev_timer_t *t); /* NULL is fine */

#ifdef __cplusplus
}
#endif
#endif
