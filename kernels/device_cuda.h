/* The few CUDA device queries the launcher needs (refit topo, rank -> GPU
 * selection, binding to the GPU's cores), C-callable and free of CUDA
 * types. Only built when the CUDA backend is on (REFIT_HAVE_CUDA). */
#ifndef RF_DEVICE_CUDA_H
#define RF_DEVICE_CUDA_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "rf_common.h"

/* Visible CUDA devices; 0 on any CUDA error (no driver, no device: error 35). */
int rf_dev_count(void);
/* PCI bus id of device `dev` as "dddd:bb:dd.f" (lowercase, what hwloc and
 * nvidia-smi print); REFIT_ERR_DEVICE naming the CUDA error otherwise. */
refit_status rf_dev_pci_bus_id(int dev, char *buf, size_t len);
/* Makes `dev` this thread's current device. */
refit_status rf_dev_set(int dev);

#ifdef __cplusplus
}
#endif
#endif
