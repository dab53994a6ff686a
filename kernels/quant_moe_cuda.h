/* Per-expert fp8 quantization of MoE params on the GPU (SPEC §3a), bit-
 * identical to rf_q_moe_quantize_ref (kernels/quant_moe.h; checked byte for
 * byte by tests/gpu/test_quant_moe_cuda.c). Same conventions as
 * quant_cuda.h: device pointers are plain pointers, a stream is a void*
 * (cudaStream_t, NULL = legacy default stream), calls return after enqueueing.
 *
 * All experts of a param are quantized by one grouped launch over
 * [E_r, rows, cols] (after the workspace reset every quantize call makes):
 *   fp8-tensor  two kernels: per-expert amax over all experts, then quantize
 *   fp8-row     the dense row kernel over the E_r*rows rows (rows are
 *               independent; the scales [E_r, rows, 1] are its [E_r*rows])
 *   fp8-block   one CTA per 128x128 block of the padded output, all experts;
 *               the kernel writes the padding zeros itself (the destination
 *               need not be zeroed)
 *   none        NaN/Inf scan, then a device copy (none when d_out == d_x) */
#ifndef RF_QUANT_MOE_CUDA_H
#define RF_QUANT_MOE_CUDA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "quant_cuda.h"
#include "quant_moe.h"

/* Workspace bytes for one rf_qcu_moe_quantize: the dense workspace
 * (RF_QCU_WORKSPACE_BYTES, same layout, so rf_qcu_ws_first_bad decodes it)
 * plus, for fp8-tensor, one amax per expert; always a multiple of
 * RF_QCU_WORKSPACE_BYTES. 8-byte alignment as quant_cuda.h. */
size_t rf_qcu_moe_workspace_bytes(rf_qscheme_t s, const rf_q_moe_t *p);

/* Quantizes d_x (rf_q_moe_in_shape(p), bf16) into d_out
 * (rf_q_moe_out_bytes(s, p) bytes) and d_scales (rf_q_moe_scale_count(s, p)
 * floats; unused for none), asynchronously on `stream`. REFIT_ERR_INVALID_ARG
 * for bad arguments (scheme, param, NULL, workspace too small, more than
 * 65535 experts), REFIT_ERR_DEVICE when a launch fails. NaN/Inf detection is
 * folded into the kernels and recorded in the workspace: call
 * rf_qcu_moe_check (or copy the workspace and use rf_qcu_ws_first_bad, which
 * gives the flat input index) before trusting the output; on NaN/Inf the
 * contents of d_out/d_scales are unspecified. One call in flight per
 * workspace. */
refit_status rf_qcu_moe_quantize(rf_qscheme_t s, const rf_q_moe_t *p, const uint16_t *d_x,
                                 void *d_out, float *d_scales, void *d_workspace,
                                 size_t workspace_bytes, void *stream);

/* Waits for `stream`, then reads the workspace of a finished
 * rf_qcu_moe_quantize of p: REFIT_OK when every element was finite,
 * REFIT_ERR_NUMERIC with rf_q_moe_numeric_error's message ("LABEL: nan at
 * expert E row R col C", as the reference) for the first bad element,
 * REFIT_ERR_DEVICE on a CUDA error. *first_bad (may be NULL) gets the flat
 * input index or -1, on REFIT_OK and REFIT_ERR_NUMERIC. */
refit_status rf_qcu_moe_check(const void *d_workspace, const rf_q_moe_t *p, const char *label,
                              void *stream, int64_t *first_bad);

#ifdef __cplusplus
}
#endif
#endif
