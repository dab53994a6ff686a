/* Packing a bucket from tensors in memory on the cuda backend (a memory
 * source with a device tensor: pack_device.h): copies issued on `stream`
 * straight into the device bucket, the runs of shard/source.c's
 * rf_bucket_runs: device BF16 device-to-device (no host bounce), host BF16
 * host-to-device; F16/F32 are converted on the host (SPEC §1, the same
 * rf_convert_bf16 as every other source), device ones after a copy down:
 * correct, not fast (a trainer's state dict is bf16). */
#include <stdlib.h>

#include "pack_device.h"
#include "rf_check_cuda.h"

typedef struct {
    uint8_t *dbuf;
    cudaStream_t stream;
} dev_pack_t;

/* An F16/F32 run: converted on the host, then copied up (synchronously:
 * the host buffer is freed right after). */
static refit_status converted_run(dev_pack_t *d, const rf_src_t *src, uint64_t src_elem, uint64_t n,
                                  uint64_t dst_byte) {
    uint64_t esz = rf_conv_size(src->conv);
    const uint8_t *at = src->ptr + src_elem * esz;
    uint8_t *down = src->device ? malloc(n * esz) : NULL, *bf = malloc(n * 2);
    refit_status st = bf && (down || !src->device) ? REFIT_OK
                                                   : rf_error(REFIT_ERR_NOMEM, "conversion of %s", src->tensor);
    if (st == REFIT_OK && down) {
        cudaError_t e = cudaMemcpy(down, at, n * esz, cudaMemcpyDeviceToHost);
        if (e != cudaSuccess) st = rf_cuda_fail(e, "device tensor to host for its conversion");
    }
    if (st == REFIT_OK) st = rf_convert_bf16(src, down ? down : at, n, src_elem, bf);
    if (st == REFIT_OK) {
        cudaError_t e = cudaMemcpyAsync(d->dbuf + dst_byte, bf, n * 2, cudaMemcpyHostToDevice, d->stream);
        if (e == cudaSuccess) e = cudaStreamSynchronize(d->stream);
        if (e != cudaSuccess) st = rf_cuda_fail(e, "converted run to the device bucket");
    }
    free(down);
    free(bf);
    return st;
}

static refit_status dev_run(void *user, const rf_src_t *src, uint64_t src_elem, uint64_t n, uint64_t dst_byte) {
    dev_pack_t *d = user;
    if (!src) {
        CUDA_CHECK(cudaMemsetAsync(d->dbuf + dst_byte, 0, n * 2, d->stream), "bucket padding");
        return REFIT_OK;
    }
    if (src->conv != RF_CONV_BF16) return converted_run(d, src, src_elem, n, dst_byte);
    CUDA_CHECK(cudaMemcpyAsync(d->dbuf + dst_byte, src->ptr + src_elem * 2, n * 2,
                               src->device ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice, d->stream),
               "bucket from memory");
    return REFIT_OK;
}

refit_status rf_pack_device(const rf_xfer_t *x, int group, size_t k, void *dbuf, cudaStream_t stream) {
    dev_pack_t d = {.dbuf = dbuf, .stream = stream};
    return rf_bucket_runs(x->plan, x->params, x->src, group, k, 0, rf_plan_bucket_bytes(x->plan, group, k), dev_run,
                          &d);
}
