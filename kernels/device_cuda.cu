/* CUDA device queries for the launcher (device_cuda.h). */
#include <ctype.h>
#include <string.h>
#include <cuda_runtime.h>

#include "device_cuda.h"

static refit_status dev_error(cudaError_t e, const char *what, int dev) {
    (void)cudaGetLastError(); /* clear, so later calls do not see it */
    return rf_error(REFIT_ERR_DEVICE, "%s(%d): %s (%s)", what, dev, cudaGetErrorString(e), cudaGetErrorName(e));
}

extern "C" {

int rf_dev_count(void) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        (void)cudaGetLastError();
        return 0;
    }
    return n;
}

refit_status rf_dev_pci_bus_id(int dev, char *buf, size_t len) {
    if (!buf || len < 13) return rf_error(REFIT_ERR_INVALID_ARG, "pci bus id buffer of %zu bytes", len);
    cudaError_t e = cudaDeviceGetPCIBusId(buf, (int)len, dev);
    if (e != cudaSuccess) return dev_error(e, "cudaDeviceGetPCIBusId", dev);
    /* CUDA prints "00000000:3B:00.0"; hwloc and sysfs use "0000:3b:00.0". */
    char *colon = buf;
    while (*colon && *colon != ':') colon++;
    size_t dom = (size_t)(colon - buf);
    if (*colon && dom > 4) memmove(buf, buf + dom - 4, strlen(buf + dom - 4) + 1);
    for (char *p = buf; *p; p++) *p = (char)tolower((unsigned char)*p);
    return REFIT_OK;
}

refit_status rf_dev_set(int dev) {
    cudaError_t e = cudaSetDevice(dev);
    if (e != cudaSuccess) return dev_error(e, "cudaSetDevice", dev);
    return REFIT_OK;
}

} // extern "C"
