/* Device helpers over the CUDA runtime API (cuda_device.h). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_device.h"
#include "rf_check_cuda.h"

int rf_dev_count(void) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        (void)cudaGetLastError(); /* clear, so later calls do not see it */
        return 0;
    }
    return n;
}

refit_status rf_dev_pci_bus_id(int dev, char *buf, size_t len) {
    if (!buf || len < 13) return rf_error(REFIT_ERR_INVALID_ARG, "pci bus id buffer of %zu bytes", len);
    CUDA_CHECK(cudaDeviceGetPCIBusId(buf, (int)len, dev), "cudaDeviceGetPCIBusId");
    /* CUDA prints "00000000:3B:00.0"; hwloc and sysfs use "0000:3b:00.0". */
    char *colon = buf;
    while (*colon && *colon != ':') colon++;
    size_t dom = (size_t)(colon - buf);
    if (*colon && dom > 4) memmove(buf, buf + dom - 4, strlen(buf + dom - 4) + 1);
    for (char *p = buf; *p; p++) *p = (char)tolower((unsigned char)*p);
    return REFIT_OK;
}

refit_status rf_dev_set(int dev) {
    CUDA_CHECK(cudaSetDevice(dev), "cudaSetDevice");
    return REFIT_OK;
}

int rf_dev_current(void) {
    int dev = -1;
    if (cudaGetDevice(&dev) != cudaSuccess) {
        (void)cudaGetLastError();
        return -1;
    }
    return dev;
}

refit_status rf_dev_desc(char *buf, size_t len) {
    int dev = 0;
    struct cudaDeviceProp p;
    CUDA_CHECK(cudaGetDevice(&dev), "cudaGetDevice");
    CUDA_CHECK(cudaGetDeviceProperties(&p, dev), "device properties");
    snprintf(buf, len, "%s, sm_%d%d, %d SMs, %.1f GiB, L2 %.0f MiB", p.name, p.major, p.minor,
             p.multiProcessorCount, (double)p.totalGlobalMem / (1024.0 * 1024 * 1024),
             (double)p.l2CacheSize / (1024.0 * 1024));
    return REFIT_OK;
}

refit_status rf_dev_malloc(size_t bytes, void **out) {
    void *p = NULL;
    CUDA_CHECK(cudaMalloc(&p, bytes ? bytes : 1), "cudaMalloc");
    *out = p;
    return REFIT_OK;
}

void rf_dev_free(void *d) {
    if (d && cudaFree(d) != cudaSuccess) {
        (void)cudaGetLastError(); /* an error of an earlier kernel; the memory is gone either way */
        RF_WARN("kern", "cudaFree reported an earlier error");
    }
}

refit_status rf_dev_memcpy(void *dst, const void *src, size_t bytes) {
    CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDefault), "cudaMemcpy");
    return REFIT_OK;
}

refit_status rf_dev_memset(void *d, int byte, size_t bytes) {
    CUDA_CHECK(cudaMemset(d, byte, bytes), "cudaMemset");
    return REFIT_OK;
}

refit_status rf_dev_sync(void *stream) {
    CUDA_CHECK(cudaStreamSynchronize((cudaStream_t)stream), "cudaStreamSynchronize");
    return REFIT_OK;
}

refit_status rf_dev_memcpy_async(void *dst, const void *src, size_t bytes, void *stream) {
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, (cudaStream_t)stream), "cudaMemcpyAsync");
    return REFIT_OK;
}

struct rf_dev_timer {
    cudaEvent_t start, stop;
};

void rf_dev_timer_destroy(rf_dev_timer_t *t) {
    if (!t) return;
    if (t->start && cudaEventDestroy(t->start) != cudaSuccess) (void)cudaGetLastError();
    if (t->stop && cudaEventDestroy(t->stop) != cudaSuccess) (void)cudaGetLastError();
    free(t);
}

static refit_status timer_events(rf_dev_timer_t *t) {
    CUDA_CHECK(cudaEventCreate(&t->start), "cudaEventCreate");
    CUDA_CHECK(cudaEventCreate(&t->stop), "cudaEventCreate");
    return REFIT_OK;
}

refit_status rf_dev_timer_create(rf_dev_timer_t **out) {
    rf_dev_timer_t *t = calloc(1, sizeof *t);
    if (!t) return rf_error(REFIT_ERR_NOMEM, "timer: out of memory");
    refit_status st = timer_events(t);
    if (st != REFIT_OK) {
        rf_dev_timer_destroy(t);
        return st;
    }
    *out = t;
    return REFIT_OK;
}

refit_status rf_dev_timer_start(rf_dev_timer_t *t, void *stream) {
    CUDA_CHECK(cudaEventRecord(t->start, (cudaStream_t)stream), "cudaEventRecord");
    return REFIT_OK;
}

refit_status rf_dev_timer_stop(rf_dev_timer_t *t, void *stream, float *ms) {
    CUDA_CHECK(cudaEventRecord(t->stop, (cudaStream_t)stream), "cudaEventRecord");
    CUDA_CHECK(cudaEventSynchronize(t->stop), "timer");
    CUDA_CHECK(cudaEventElapsedTime(ms, t->start, t->stop), "timer");
    return REFIT_OK;
}
