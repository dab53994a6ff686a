/* Per-expert fp8 quantization of MoE params (SPEC §3a), bit-identical to
 * kernels/quant_moe_ref.c. Every numeric step (widening, amax, scales,
 * x*inv or x/s, the e4m3fn conversion, NaN/Inf keys) is quant_cuda_dev.cuh's,
 * the code the dense kernels use; this file only maps experts, parts and
 * padding onto grids. Compiled like quant_cuda.cu: no fast-math,
 * --fmad=false.
 *
 * The input is viewed as [E_r * parts * prows, cols] (rf_q_moe_geom_t: w13
 * parts are gate and up, [I_r, H] each; w2 is one part [H, I_r]), the
 * fp8-block output as [E_r * parts * prows_pad, cols_pad]. NaN/Inf keys
 * carry the flat input index, so the first bad element of the whole param
 * wins the atomicMin, as in the dense kernels. */
#include <cuda_runtime.h>
#include <inttypes.h>
#include <stdint.h>

#include "quant_cuda_dev.cuh"
#include "quant_moe_cuda.h"

namespace {

constexpr int kThreads = 256;       /* every kernel here */
constexpr int kUnroll = 4;          /* loads in flight per thread, fp8-tensor kernels */
constexpr int kMaxExpertsY = 65535; /* gridDim.y: experts of the fp8-tensor grid */

/* The per-expert amax of fp8-tensor follows the dense workspace header. */
__device__ inline uint32_t *expert_amax(Ws *ws) {
    return reinterpret_cast<uint32_t *>(reinterpret_cast<char *>(ws) + sizeof(Ws));
}
__device__ inline const uint32_t *expert_amax(const Ws *ws) {
    return reinterpret_cast<const uint32_t *>(reinterpret_cast<const char *>(ws) + sizeof(Ws));
}

/* Resets the workspace (and n_amax expert maxima) before every call. */
__global__ void k_moe_init(Ws *ws, int64_t n_amax) {
    const int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (t == 0) {
        ws->amax_bits = 0;
        ws->bad_key = kNoBad;
    }
    for (int64_t i = t; i < n_amax; i += (int64_t)gridDim.x * blockDim.x)
        expert_amax(ws)[i] = 0;
}

/* ---- fp8-tensor: grid (CTAs per expert, E_r) ----------------------------- */

/* Pass 1: amax of each expert (atomicMax per expert), first bad element of
 * all. Expert blockIdx.y; its ne elements start at x + j * ne; W = 8 needs
 * ne % 8 == 0 so every expert starts aligned. Elements past the last whole
 * chunk (ne % W) are done by the expert's thread 0. */
template <int W>
__global__ void __launch_bounds__(kThreads)
    k_moe_tensor_amax(const uint16_t *__restrict__ x, int64_t ne, Ws *ws) {
    typedef typename Chunk<W>::in_t in_t;
    const int64_t j = blockIdx.y, base = j * ne;
    const in_t *xv = reinterpret_cast<const in_t *>(x + base);
    const int64_t nchunk = ne / W, stride = (int64_t)gridDim.x * blockDim.x;
    const int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    uint32_t m = 0;
    unsigned long long key = kNoBad;
    for (int64_t c = t; c < nchunk; c += kUnroll * stride) {
        in_t v[kUnroll];
#pragma unroll
        for (int u = 0; u < kUnroll; u++)
            if (c + u * stride < nchunk) v[u] = __ldg(xv + c + u * stride); /* kept in L2 */
#pragma unroll
        for (int u = 0; u < kUnroll; u++) {
            if (c + u * stride >= nchunk) break;
            uint32_t a = absmax(v[u]);
            m = max(m, a);
            if (a >= kAbsInf) key = min(key, bad_key(v[u], base + (c + u * stride) * W));
        }
    }
    if (t == 0)
        for (int64_t i = nchunk * W; i < ne; i++) {
            m = max(m, absmax(x[base + i]));
            key = min(key, bad_key(x[base + i], base + i));
        }
    m = block_max(m);
    if (threadIdx.x == 0) atomicMax(&expert_amax(ws)[j], m);
    if (key != kNoBad) atomicMin(&ws->bad_key, key);
}

/* Pass 2: quantize with each expert's scale. Experts and chunks are walked
 * in reverse: pass 1 ended on the last experts' tails, still in L2. */
template <int W>
__global__ void __launch_bounds__(kThreads)
    k_moe_tensor_quant(const uint16_t *__restrict__ x, int64_t ne, uint8_t *__restrict__ out,
                       float *scales, const Ws *ws) {
    typedef typename Chunk<W>::in_t in_t;
    typedef typename Chunk<W>::out_t out_t;
    if (ws->bad_key != kNoBad) return; /* rejected: write nothing */
    const int64_t j = gridDim.y - 1 - blockIdx.y, base = j * ne;
    const float s = tensor_scale(expert_amax(ws)[j]);
    const MulOp op{__fdiv_rn(1.0f, s)};
    const in_t *xv = reinterpret_cast<const in_t *>(x + base);
    out_t *ov = reinterpret_cast<out_t *>(out + base);
    const int64_t nchunk = ne / W, stride = (int64_t)gridDim.x * blockDim.x;
    const int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    for (int64_t k = t; k < nchunk; k += kUnroll * stride) {
        in_t v[kUnroll];
#pragma unroll
        for (int u = 0; u < kUnroll; u++)
            if (k + u * stride < nchunk) v[u] = load(xv + nchunk - 1 - (k + u * stride));
#pragma unroll
        for (int u = 0; u < kUnroll; u++)
            if (k + u * stride < nchunk) store(ov + nchunk - 1 - (k + u * stride), quant(v[u], op));
    }
    if (t == 0) {
        for (int64_t i = nchunk * W; i < ne; i++)
            out[base + i] = quant(x[base + i], op);
        scales[j] = s;
    }
}

/* ---- fp8-block: one CTA per 128x128 block of the padded output ------------ */

/* Where output block b (row-major over [E_r, parts*prows_pad/128,
 * cols_pad/128], which is also its scale's index) takes its input: rows
 * in_row0.. of the input view, out_row0.. of the output view, brows x bcols
 * real elements (>= 1 each: padding is < 128 per side of a part). */
struct BlockAt {
    int64_t in_row0, out_row0, c0;
    int brows, bcols;
};

__device__ __forceinline__ BlockAt block_at(const rf_q_moe_geom_t &g, int64_t b) {
    const int64_t nbc = g.cols_pad / kBlock, nbr = g.prows_pad / kBlock;
    const int64_t row_blk = b / nbc;            /* block row over all experts and parts */
    const int64_t part = row_blk / nbr;         /* j * parts + k */
    const int64_t pr0 = row_blk % nbr * kBlock; /* first row within the part */
    BlockAt a;
    a.in_row0 = part * g.prows + pr0;
    a.out_row0 = row_blk * kBlock;
    a.c0 = b % nbc * kBlock;
    a.brows = (int)min((int64_t)kBlock, g.prows - pr0);
    a.bcols = (int)min((int64_t)kBlock, g.cols - a.c0);
    return a;
}

/* Vectorized: the block's real part staged in shared memory by cp.async (one
 * read, as the dense k_block_smem; same chunk mapping: thread t owns chunk
 * column t % 16 of rows t / 16 + 16 u), then all 128 x 128 output codes
 * written, 0x00 outside the real part. Needs cols % 8 == 0 (whole chunks:
 * a chunk is all real or all padding), x 16-byte and out 8-byte aligned. */
__global__ void __launch_bounds__(kThreads, 6)
    k_moe_block_smem(const uint16_t *__restrict__ x, rf_q_moe_geom_t g, uint8_t *__restrict__ out,
                     float *scales, Ws *ws) {
    constexpr int CPR = kBlock / 8, NC = kBlock * CPR, K = NC / kThreads, RPJ = kThreads / CPR;
    static_assert(kThreads % CPR == 0 && NC % kThreads == 0, "chunk mapping");
    __shared__ uint4 tile[NC];
    const BlockAt a = block_at(g, blockIdx.x);
    const int cc = threadIdx.x % CPR, rt = threadIdx.x / CPR;
    const bool col_ok = cc * 8 < a.bcols;
    const uint16_t *xb = x + a.in_row0 * g.cols + a.c0 + cc * 8;
#pragma unroll
    for (int u = 0; u < K; u++) {
        const int r = rt + u * RPJ;
        if (col_ok && r < a.brows) cp_async16(&tile[threadIdx.x + u * kThreads], xb + r * g.cols);
    }
    cp_async_wait_all(); /* each thread reads back only its own chunks */
    uint32_t m = 0;
#pragma unroll
    for (int u = 0; u < K; u++)
        if (col_ok && rt + u * RPJ < a.brows) m = max(m, absmax(tile[threadIdx.x + u * kThreads]));
    m = block_max(m);
    if (m >= kAbsInf) { /* rare: report the first bad element, write nothing */
        unsigned long long key = kNoBad;
#pragma unroll
        for (int u = 0; u < K; u++) {
            const int r = rt + u * RPJ;
            if (col_ok && r < a.brows)
                key = min(key, bad_key(tile[threadIdx.x + u * kThreads],
                                       (a.in_row0 + r) * g.cols + a.c0 + cc * 8));
        }
        if (key != kNoBad) atomicMin(&ws->bad_key, key);
        return;
    }
    const float sf = block_scale(m);
    const MulOp op{__fdiv_rn(1.0f, sf)};
    uint8_t *ob = out + a.out_row0 * g.cols_pad + a.c0 + cc * 8;
#pragma unroll
    for (int u = 0; u < K; u++) {
        const int r = rt + u * RPJ;
        const uint2 q =
            col_ok && r < a.brows ? quant(tile[threadIdx.x + u * kThreads], op) : make_uint2(0, 0);
        store(reinterpret_cast<uint2 *>(ob + r * g.cols_pad), q);
    }
    if (threadIdx.x == 0) scales[blockIdx.x] = sf;
}

/* Any block, one element at a time (cols % 8 != 0 or unaligned pointers):
 * amax over the real part, then every output code of the tile, re-reading
 * the input from L1/L2. */
__global__ void __launch_bounds__(kThreads)
    k_moe_block_loop(const uint16_t *__restrict__ x, rf_q_moe_geom_t g, uint8_t *__restrict__ out,
                     float *scales, Ws *ws) {
    const BlockAt a = block_at(g, blockIdx.x);
    const uint16_t *xb = x + a.in_row0 * g.cols + a.c0;
    const int nreal = a.brows * a.bcols;
    uint32_t m = 0;
    for (int e = threadIdx.x; e < nreal; e += kThreads)
        m = max(m, absmax(xb[e / a.bcols * g.cols + e % a.bcols]));
    m = block_max(m);
    if (m >= kAbsInf) {
        unsigned long long key = kNoBad;
        for (int e = threadIdx.x; e < nreal; e += kThreads) {
            const int64_t off = e / a.bcols * g.cols + e % a.bcols;
            key = min(key, bad_key(xb[off], a.in_row0 * g.cols + a.c0 + off));
        }
        if (key != kNoBad) atomicMin(&ws->bad_key, key);
        return;
    }
    const float sf = block_scale(m);
    const MulOp op{__fdiv_rn(1.0f, sf)};
    uint8_t *ob = out + a.out_row0 * g.cols_pad + a.c0;
    for (int e = threadIdx.x; e < kBlock * kBlock; e += kThreads) {
        const int r = e / kBlock, c = e % kBlock;
        ob[r * g.cols_pad + c] = r < a.brows && c < a.bcols ? quant(xb[r * g.cols + c], op) : 0;
    }
    if (threadIdx.x == 0) scales[blockIdx.x] = sf;
}

/* ---- host side ------------------------------------------------------------ */

refit_status launch_status(rf_qscheme_t s, const rf_q_moe_t *p) {
    cudaError_t e = cudaGetLastError();
    if (e == cudaSuccess) return REFIT_OK;
    return rf_error(REFIT_ERR_DEVICE,
                    "quantize experts %s (E_r %" PRId64 ", H %" PRId64 ", I_r %" PRId64
                    "): launch: %s",
                    rf_q_scheme_name(s), p->experts, p->hidden, p->inter, cudaGetErrorString(e));
}

refit_status launch_tensor(const rf_q_moe_t *p, const rf_q_moe_geom_t &g, const uint16_t *x,
                           uint8_t *out, float *scales, Ws *ws, cudaStream_t st) {
    int sms = 0;
    RF_CHECK(sm_count(&sms));
    const int64_t ne = g.parts * g.prows * g.cols;
    const bool vec = ne % 8 == 0 && (uintptr_t)x % 16 == 0 && (uintptr_t)out % 8 == 0;
    /* A few CTAs per SM over all experts, at most what an expert can use. */
    const int64_t per_cta = (int64_t)kThreads * kUnroll * (vec ? 8 : 1);
    const int64_t want = (ne + per_cta - 1) / per_cta,
                  fill = ((int64_t)sms * 8 + p->experts - 1) / p->experts;
    const dim3 grid((unsigned)(want < fill ? want : fill), (unsigned)p->experts);
    if (vec) {
        k_moe_tensor_amax<8><<<grid, kThreads, 0, st>>>(x, ne, ws);
        k_moe_tensor_quant<8><<<grid, kThreads, 0, st>>>(x, ne, out, scales, ws);
    } else {
        k_moe_tensor_amax<1><<<grid, kThreads, 0, st>>>(x, ne, ws);
        k_moe_tensor_quant<1><<<grid, kThreads, 0, st>>>(x, ne, out, scales, ws);
    }
    return REFIT_OK;
}

void launch_block(const rf_q_moe_t *p, const rf_q_moe_geom_t &g, const uint16_t *x, uint8_t *out,
                  float *scales, Ws *ws, cudaStream_t st) {
    const unsigned grid = (unsigned)rf_q_moe_scale_count(RF_Q_FP8_BLOCK, p);
    if (g.cols % 8 == 0 && (uintptr_t)x % 16 == 0 && (uintptr_t)out % 8 == 0) {
        /* a hint for 6 CTAs x 32 KiB an SM, as the dense block kernel */
        if (cudaFuncSetAttribute(k_moe_block_smem, cudaFuncAttributePreferredSharedMemoryCarveout,
                                 (int)cudaSharedmemCarveoutMaxShared) != cudaSuccess)
            (void)cudaGetLastError();
        k_moe_block_smem<<<grid, kThreads, 0, st>>>(x, g, out, scales, ws);
    } else {
        k_moe_block_loop<<<grid, kThreads, 0, st>>>(x, g, out, scales, ws);
    }
}

refit_status check_args(rf_qscheme_t s, const rf_q_moe_t *p, const uint16_t *x, const void *out,
                        const float *scales, const void *ws, size_t ws_bytes) {
    if ((int)s < 0 || s >= RF_Q_COUNT)
        return rf_error(REFIT_ERR_INVALID_ARG, "gpu: quantize experts: unknown scheme %d", (int)s);
    RF_CHECK(rf_q_moe_validate(p, "gpu"));
    if (s == RF_Q_FP8_TENSOR && p->experts > kMaxExpertsY)
        return rf_error(REFIT_ERR_INVALID_ARG,
                        "gpu: quantize experts fp8-tensor: E_r %" PRId64 " above %d (grid y)",
                        p->experts, kMaxExpertsY);
    if (s == RF_Q_FP8_BLOCK && rf_q_moe_scale_count(s, p) > INT32_MAX)
        return rf_error(REFIT_ERR_INVALID_ARG,
                        "gpu: quantize experts fp8-block: %" PRIu64
                        " blocks, above 2^31-1 (grid x)",
                        rf_q_moe_scale_count(s, p));
    if (!x || !out || (!scales && s != RF_Q_NONE))
        return rf_error(REFIT_ERR_INVALID_ARG, "gpu: quantize experts: NULL data or scales");
    const size_t need = rf_qcu_moe_workspace_bytes(s, p);
    if (!ws || ws_bytes < need || (uintptr_t)ws % 8 != 0)
        return rf_error(REFIT_ERR_INVALID_ARG,
                        "gpu: quantize experts: workspace needs %zu bytes, 8-byte aligned (got %zu "
                        "at %p)",
                        need, ws_bytes, ws);
    return REFIT_OK;
}

/* none: the scan of quant_cuda.cu, then the copy (the param stays bf16). */
refit_status copy_scanned(const rf_q_moe_t *p, const uint16_t *x, void *out, void *ws,
                          cudaStream_t st) {
    const int64_t n = (int64_t)rf_q_moe_in_count(p);
    RF_CHECK(rf_qcu_scan(x, n, ws, st));
    if (out == (const void *)x) return REFIT_OK;
    cudaError_t e = cudaMemcpyAsync(out, x, (size_t)n * 2, cudaMemcpyDeviceToDevice, st);
    return e == cudaSuccess ? REFIT_OK : cuda_error(e, "gpu: quantize experts none: copy");
}

} // namespace

extern "C" {

size_t rf_qcu_moe_workspace_bytes(rf_qscheme_t s, const rf_q_moe_t *p) {
    /* in_count is 0 for an invalid param (rf_qcu_moe_quantize then refuses it) */
    if (s != RF_Q_FP8_TENSOR || rf_q_moe_in_count(p) == 0) return RF_QCU_WORKSPACE_BYTES;
    const size_t need = sizeof(Ws) + (size_t)p->experts * sizeof(uint32_t);
    return (need + RF_QCU_WORKSPACE_BYTES - 1) / RF_QCU_WORKSPACE_BYTES * RF_QCU_WORKSPACE_BYTES;
}

refit_status rf_qcu_moe_quantize(rf_qscheme_t s, const rf_q_moe_t *p, const uint16_t *d_x,
                                 void *d_out, float *d_scales, void *d_workspace,
                                 size_t workspace_bytes, void *stream) {
    RF_CHECK(check_args(s, p, d_x, d_out, d_scales, d_workspace, workspace_bytes));
    cudaStream_t st = (cudaStream_t)stream;
    Ws *ws = (Ws *)d_workspace;
    rf_q_moe_geom_t g;
    rf_q_moe_geom(p, &g);
    uint8_t *out = (uint8_t *)d_out;
    switch (s) {
    case RF_Q_NONE: RF_CHECK(copy_scanned(p, d_x, d_out, d_workspace, st)); break;
    case RF_Q_FP8_ROW: /* rows are independent: the dense kernel over all experts' rows */
        return rf_qcu_quantize(s, d_x, p->experts * g.parts * g.prows, g.cols, out, d_scales,
                               d_workspace, workspace_bytes, stream);
    case RF_Q_FP8_TENSOR:
        k_moe_init<<<(unsigned)((p->experts + kThreads - 1) / kThreads), kThreads, 0, st>>>(
            ws, p->experts);
        RF_CHECK(launch_tensor(p, g, d_x, out, d_scales, ws, st));
        break;
    default:
        k_moe_init<<<1, 32, 0, st>>>(ws, 0);
        launch_block(p, g, d_x, out, d_scales, ws, st);
        break;
    }
    return launch_status(s, p);
}

refit_status rf_qcu_moe_check(const void *d_workspace, const rf_q_moe_t *p, const char *label,
                              void *stream, int64_t *first_bad) {
    Ws h;
    cudaStream_t st = (cudaStream_t)stream;
    cudaError_t e = cudaMemcpyAsync(&h, d_workspace, sizeof h, cudaMemcpyDeviceToHost, st);
    if (e == cudaSuccess) e = cudaStreamSynchronize(st);
    if (e != cudaSuccess) return cuda_error(e, "gpu: quantize experts: check");
    bool is_inf = false;
    const int64_t idx = rf_qcu_ws_first_bad(&h, &is_inf);
    if (first_bad) *first_bad = idx;
    if (idx < 0) return REFIT_OK;
    return rf_q_moe_numeric_error(p, label, idx, is_inf);
}

} // extern "C"
