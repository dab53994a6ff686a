"""y = x @ W^T for a param refit holds: bf16, or fp8 with its scales (SPEC §4).

Dequantization (x ≈ q * scale): fp8-tensor one scale [1]; fp8-row one per
output row [N, 1]; fp8-block one per 128x128 block [ceil(N/128), ceil(K/128)]
(weight_scale_inv: the dequantization factor, as vLLM and DeepSeek use it).
On the GPU, fp8-tensor and fp8-row run torch._scaled_mm (fp8 activations,
quantized per tensor / per row on the fly) when the shapes allow it; every
other case dequantizes the weight and runs a plain matmul in the activation
dtype. Everything reads the live bytes at call time, so a commit shows up in
the next call (and in a CUDA graph replay: the addresses never change).
"""
import torch

FP8_MAX = 448.0
BLOCK = 128


def dequantize(w, scales, quant, dtype):
    """The weight as `dtype` (fp32 on CPU): q * scale, scale broadcast per scheme."""
    if scales is None or quant == "none":
        return w.to(dtype)
    wf = w.to(torch.float32)
    if quant == "fp8-block":
        n, k = wf.shape
        s = scales.repeat_interleave(BLOCK, dim=0)[:n].repeat_interleave(BLOCK, dim=1)[:, :k]
        return (wf * s).to(dtype)
    return (wf * scales).to(dtype)  # fp8-tensor: [1]; fp8-row: [N, 1]


def _scaled_mm_ok(x, w, quant):
    if not (x.is_cuda and hasattr(torch, "_scaled_mm") and quant in ("fp8-tensor", "fp8-row")):
        return False
    n, k = w.shape
    if n % 16 or k % 16:  # cuBLASLt fp8 GEMMs need both dims multiples of 16
        return False
    return quant == "fp8-tensor" or torch.cuda.get_device_capability(x.device) >= (9, 0)  # rowwise: sm90+


def _quantize_act(x2, per_row):
    amax = x2.abs().amax(dim=1, keepdim=True) if per_row else x2.abs().amax().reshape(1, 1)
    s = torch.clamp(amax.float() / FP8_MAX, min=1e-12)
    q = (x2.float() / s).clamp(-FP8_MAX, FP8_MAX).to(torch.float8_e4m3fn)
    return q, s


def _fp8_gemm(x2, w, scales, quant):
    per_row = quant == "fp8-row"
    xq, xs = _quantize_act(x2, per_row)
    if per_row:
        ws = scales.reshape(1, -1).float()  # [1, N]: one per output column of W^T
    else:
        xs, ws = xs.reshape(()), scales.reshape(()).float()
    return torch._scaled_mm(xq, w.t(), scale_a=xs, scale_b=ws, out_dtype=x2.dtype)


def linear(x, w, scales, quant, bias=None):
    """x [..., K] -> [..., N] for a weight w [N, K] (live refit memory)."""
    shape = x.shape
    x2 = x.reshape(-1, shape[-1])
    if _scaled_mm_ok(x2, w, quant) and x2.dtype == torch.bfloat16:
        y = _fp8_gemm(x2, w, scales, quant)
    else:
        y = x2 @ dequantize(w, scales, quant, x2.dtype).t()
    if bias is not None:
        y = y + bias.to(y.dtype)
    return y.reshape(*shape[:-1], w.shape[0])
