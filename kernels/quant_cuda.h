/* fp8 quantization on the GPU (SPEC §4), bit-identical to rf_q_quantize_ref
 * (kernels/quant_ref.c; tests/gpu/test_quant_cuda.c checks every byte).
 *
 * C-callable and free of CUDA types: device pointers are plain pointers and a
 * stream is a void* (a cudaStream_t; NULL = the legacy default stream). Only
 * built when the CUDA backend is on (REFIT_HAVE_CUDA). Kernels are compiled
 * without fast-math and with --fmad=false; divisions and the reciprocal use
 * the IEEE round-to-nearest intrinsics explicitly anyway. Memory, copies,
 * timers and the device count for callers that have no CUDA headers are
 * the cuda backend's (coord/backends/cuda/cuda_device.h). */
#ifndef RF_QUANT_CUDA_H
#define RF_QUANT_CUDA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "quant.h"

/* Workspace: a small device buffer holding the running amax and the first
 * NaN/Inf position of one quantize call. Its size does not depend on the
 * scheme or shape today; the arguments are there so it may. Needs 8-byte
 * alignment (any cudaMalloc pointer; carve several at multiples of this). */
#define RF_QCU_WORKSPACE_BYTES 256
size_t rf_qcu_workspace_bytes(rf_qscheme_t s, int64_t rows, int64_t cols);

/* Quantizes row-major bf16 d_x[rows, cols] into d_out[rows*cols] (e4m3fn)
 * and d_scales[rf_q_scale_count(s, rows, cols)], asynchronously on `stream`.
 * Returns after enqueueing: REFIT_ERR_INVALID_ARG for bad arguments (scheme
 * none, shape, NULL, workspace too small), REFIT_ERR_DEVICE when a launch
 * fails. NaN/Inf detection is fused into the amax pass and recorded in the
 * workspace; call rf_qcu_check() on the same workspace before trusting the
 * output. When it reports NaN/Inf the contents of d_out/d_scales are
 * unspecified (fp8-tensor writes nothing; fp8-row/block skip the rows/blocks
 * that hold a bad element). The workspace must not be shared by two calls
 * in flight at once. */
refit_status rf_qcu_quantize(rf_qscheme_t s, const uint16_t *d_x, int64_t rows, int64_t cols,
                             uint8_t *d_out, float *d_scales, void *d_workspace,
                             size_t workspace_bytes, void *stream);

/* Waits for `stream`, then reads the workspace of a finished rf_qcu_quantize
 * over a tensor with `cols` columns. REFIT_OK when every element was finite,
 * REFIT_ERR_NUMERIC with "LABEL: nan|inf at row R col C" for the first bad
 * element in row-major order (the same message as the C reference),
 * REFIT_ERR_DEVICE when CUDA reports an error (including an earlier kernel's).
 * *first_bad (may be NULL) gets the flat index, or -1 when clean; it is set
 * on REFIT_OK and REFIT_ERR_NUMERIC only. */
refit_status rf_qcu_check(const void *d_workspace, int64_t cols, const char *label, void *stream,
                          int64_t *first_bad);

/* NaN/Inf scan only (params that stay bf16): records the first bad element
 * of d_x[n] in the workspace as rf_qcu_quantize does; asynchronous. */
refit_status rf_qcu_scan(const uint16_t *d_x, int64_t n, void *d_workspace, void *stream);

/* Decodes a workspace copied to the host after its stream finished: the
 * first bad flat index (and whether it is an Inf), or -1 when all finite.
 * Lets a caller check many workspaces with one copy and one sync. */
int64_t rf_qcu_ws_first_bad(const void *host_ws, bool *is_inf);

/* Test hook: d_out[i] = e4m3fn of the fp32 with bit pattern first + i, as the
 * kernels convert (cvt.rn.satfinite, no clamp), for i < count; the pattern
 * wraps modulo 2^32. Lets a test compare the hardware conversion with
 * rf_f32_to_fp8 over all 2^32 inputs. Asynchronous on `stream`. */
refit_status rf_qcu_convert_bits(uint32_t first, uint64_t count, uint8_t *d_out, void *stream);

#ifdef __cplusplus
}
#endif
#endif
