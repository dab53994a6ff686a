/* fp8 quantization kernels (SPEC §4), bit-identical to kernels/quant_ref.c.
 *
 * Numerics: one IEEE fp32 operation per step, as the reference. Products use
 * __fmul_rn (never contracted into an FMA), divisions __fdiv_rn (IEEE, not
 * the fast approximate '/' of -use_fast_math), and the final rounding is the
 * hardware cvt.rn.satfinite.e4m3x2.f32 (round to nearest even, sign kept,
 * ±448 beyond range), which the reference mirrors.
 *
 * amax: non-negative floats order like their bit patterns, so max |x| over
 * bf16 is an integer max of (bits & 0x7FFF); the same max says whether a
 * NaN/Inf is present (>= 0x7F80). The first bad element is kept in the
 * workspace as key = index << 1 | is_inf, reduced with atomicMin, so the
 * smallest key is the first bad element in row-major order.
 *
 * Layout of the work:
 *   fp8-tensor  two kernels: grid-wide amax (atomicMax into the workspace),
 *               then quantize; the second walks the tensor backwards so its
 *               first reads hit what the amax pass left in L2.
 *   fp8-row     one CTA per row; a row up to 32768 columns is held in
 *               registers between its amax and its quantization (one read).
 *   fp8-block   one CTA per 128x128 block, staged in shared memory by
 *               cp.async (one read; k_block_smem). The earlier kernel that
 *               held the block in registers (k_block_reg) stays selectable
 *               with REFIT_BLOCK_KERNEL=old for comparison (launch_block).
 * Loads are 16 bytes (8 bf16) when the pointers and the row length allow,
 * otherwise one element at a time (same results, slower). */
#include <cuda_fp8.h>
#include <cuda_runtime.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <atomic>

#include "quant_cuda.h"
#include "quant_cuda_dev.cuh"
#include "rf_check_cuda.h"
#include "rf_settings.h"

namespace {

constexpr int kThreads = 256;    /* tensor and block kernels */
constexpr int kRowRegChunks = 4; /* 16-byte chunks per thread kept by the row kernel */
constexpr int kUnroll = 4;       /* loads in flight per thread, tensor kernels */

/* Resets the workspace; runs before every quantize/scan. It lets a kernel
 * launched after it with programmatic dependent launch (PDL, sm_90: the
 * fp8-block kernel) start at once, so that kernel's launch latency hides
 * behind this one; such a kernel executes griddepcontrol.wait (pdl_wait)
 * before it touches the workspace. Without such a launch this is a no-op. */
__global__ void k_init(Ws *ws) {
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
    ws->amax_bits = 0;
    ws->bad_key = kNoBad;
}

/* ---- fp8-tensor ---------------------------------------------------------- */

/* Elements past the last whole chunk (n % W of them), done by one thread. */
__device__ void tensor_tail_amax(const uint16_t *x, int64_t from, int64_t n, uint32_t *m,
                                 unsigned long long *key) {
    for (int64_t i = from; i < n; i++) {
        *m = max(*m, absmax(x[i]));
        *key = min(*key, key_of(x[i], i));
    }
}

template <int W>
__global__ void __launch_bounds__(kThreads)
    k_tensor_amax(const uint16_t *__restrict__ x, int64_t n, Ws *ws) {
    typedef typename Chunk<W>::in_t in_t;
    const in_t *xv = reinterpret_cast<const in_t *>(x);
    const int64_t nchunk = n / W, stride = (int64_t)gridDim.x * blockDim.x;
    const int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    uint32_t m = 0;
    unsigned long long key = kNoBad;
    for (int64_t c = t; c < nchunk; c += kUnroll * stride) {
        in_t v[kUnroll];
#pragma unroll
        for (int j = 0; j < kUnroll; j++)
            if (c + j * stride < nchunk)
                v[j] = __ldg(xv + c + j * stride); /* kept in L2 for pass 2 */
#pragma unroll
        for (int j = 0; j < kUnroll; j++) {
            if (c + j * stride >= nchunk) break;
            uint32_t a = absmax(v[j]);
            m = max(m, a);
            if (a >= kAbsInf) key = min(key, bad_key(v[j], (c + j * stride) * W));
        }
    }
    if (t == 0) tensor_tail_amax(x, nchunk * W, n, &m, &key);
    m = block_max(m);
    if (threadIdx.x == 0) atomicMax(&ws->amax_bits, m);
    if (key != kNoBad) atomicMin(&ws->bad_key, key);
}

template <int W>
__global__ void __launch_bounds__(kThreads)
    k_tensor_quant(const uint16_t *__restrict__ x, int64_t n, uint8_t *__restrict__ out,
                   float *scales, const Ws *ws) {
    typedef typename Chunk<W>::in_t in_t;
    typedef typename Chunk<W>::out_t out_t;
    if (ws->bad_key != kNoBad) return; /* rejected: write nothing */
    const float s = tensor_scale(ws->amax_bits);
    const MulOp op{__fdiv_rn(1.0f, s)};
    const in_t *xv = reinterpret_cast<const in_t *>(x);
    out_t *ov = reinterpret_cast<out_t *>(out);
    const int64_t nchunk = n / W, stride = (int64_t)gridDim.x * blockDim.x;
    const int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    /* Backwards: the amax pass ended on the tail, which is still in L2. */
    for (int64_t k = t; k < nchunk; k += kUnroll * stride) {
        in_t v[kUnroll];
#pragma unroll
        for (int j = 0; j < kUnroll; j++)
            if (k + j * stride < nchunk) v[j] = load(xv + nchunk - 1 - (k + j * stride));
#pragma unroll
        for (int j = 0; j < kUnroll; j++)
            if (k + j * stride < nchunk) store(ov + nchunk - 1 - (k + j * stride), quant(v[j], op));
    }
    if (t == 0) {
        for (int64_t i = nchunk * W; i < n; i++)
            out[i] = quant(x[i], op);
        scales[0] = s;
    }
}

/* ---- fp8-row ------------------------------------------------------------- */

/* Bad row: every thread reports the first bad element among its chunks. */
template <int W, int K>
__device__ void row_report(const typename Chunk<W>::in_t (&v)[K], int64_t nchunk, int64_t base,
                           Ws *ws) {
    unsigned long long key = kNoBad;
#pragma unroll
    for (int j = 0; j < K; j++) {
        int64_t c = threadIdx.x + (int64_t)j * blockDim.x;
        if (c < nchunk) key = min(key, bad_key(v[j], base + c * W));
    }
    if (key != kNoBad) atomicMin(&ws->bad_key, key);
}

/* One CTA per row, the row held in registers: K chunks of 8 per thread.
 * Requires cols % 8 == 0, cols <= 8 * K * blockDim, 16-byte aligned rows. */
template <int K>
__global__ void __launch_bounds__(1024)
    k_row_reg(const uint16_t *__restrict__ x, int64_t cols, uint8_t *__restrict__ out,
              float *scales, Ws *ws) {
    const int64_t row = blockIdx.x, nchunk = cols / 8;
    const uint4 *xr = reinterpret_cast<const uint4 *>(x + row * cols);
    uint2 *qr = reinterpret_cast<uint2 *>(out + row * cols);
    uint4 v[K];
    uint32_t m = 0;
#pragma unroll
    for (int j = 0; j < K; j++) {
        int64_t c = threadIdx.x + (int64_t)j * blockDim.x;
        v[j] = c < nchunk ? load(xr + c) : make_uint4(0, 0, 0, 0);
        m = max(m, absmax(v[j]));
    }
    m = block_max(m);
    if (m >= kAbsInf) return row_report<8, K>(v, nchunk, row * cols, ws);
    const DivOp op{row_scale(m)};
#pragma unroll
    for (int j = 0; j < K; j++) {
        int64_t c = threadIdx.x + (int64_t)j * blockDim.x;
        if (c < nchunk) store(qr + c, quant(v[j], op));
    }
    if (threadIdx.x == 0) scales[row] = op.s;
}

/* Any row: amax pass, then a second pass that re-reads the row (from L1/L2).
 * For rows too long for registers (W = 8) or unaligned/odd rows (W = 1). */
template <int W>
__global__ void __launch_bounds__(kThreads)
    k_row_loop(const uint16_t *__restrict__ x, int64_t cols, uint8_t *__restrict__ out,
               float *scales, Ws *ws) {
    typedef typename Chunk<W>::in_t in_t;
    typedef typename Chunk<W>::out_t out_t;
    const int64_t row = blockIdx.x, nchunk = cols / W;
    const in_t *xr = reinterpret_cast<const in_t *>(x + row * cols);
    out_t *qr = reinterpret_cast<out_t *>(out + row * cols);
    uint32_t m = 0;
    for (int64_t c = threadIdx.x; c < nchunk; c += blockDim.x)
        m = max(m, absmax(__ldg(xr + c)));
    m = block_max(m);
    if (m >= kAbsInf) {
        unsigned long long key = kNoBad;
        for (int64_t c = threadIdx.x; c < nchunk; c += blockDim.x)
            key = min(key, bad_key(xr[c], row * cols + c * W));
        if (key != kNoBad) atomicMin(&ws->bad_key, key);
        return;
    }
    const DivOp op{row_scale(m)};
    for (int64_t c = threadIdx.x; c < nchunk; c += blockDim.x)
        store(qr + c, quant(load(xr + c), op));
    if (threadIdx.x == 0) scales[row] = op.s;
}

/* ---- fp8-block ------------------------------------------------------------ */

/* The previous fp8-block kernel, kept for comparison (REFIT_BLOCK_KERNEL=old);
 * k_block_smem below replaces it.
 * One CTA of kThreads per 128x128 block, held in registers: chunk c of the
 * block (8 bf16) is row c / 16, chunk column c % 16; a warp covers whole
 * 256-byte row segments, so loads coalesce. Needs cols % 8 == 0 and aligned
 * pointers (then ragged edge blocks still hold whole chunks). */
__global__ void __launch_bounds__(kThreads)
    k_block_reg(const uint16_t *__restrict__ x, int64_t rows, int64_t cols,
                uint8_t *__restrict__ out, float *scales, Ws *ws) {
    constexpr int CPR = kBlock / 8, K = kBlock * CPR / kThreads;
    const int64_t nbc = (cols + kBlock - 1) / kBlock;
    const int64_t r0 = blockIdx.x / nbc * kBlock, c0 = blockIdx.x % nbc * kBlock;
    const int64_t brows = min((int64_t)kBlock, rows - r0), bcols = min((int64_t)kBlock, cols - c0);
    uint4 v[K];
    uint32_t m = 0;
#pragma unroll
    for (int j = 0; j < K; j++) {
        const int c = threadIdx.x + j * kThreads, r = c / CPR, cc = c % CPR;
        const bool ok = r < brows && cc * 8 < bcols;
        v[j] = ok ? load(reinterpret_cast<const uint4 *>(x + (r0 + r) * cols + c0 + cc * 8))
                  : make_uint4(0, 0, 0, 0);
        m = max(m, absmax(v[j]));
    }
    m = block_max(m);
    if (m >= kAbsInf) {
        unsigned long long key = kNoBad;
#pragma unroll
        for (int j = 0; j < K; j++) {
            const int c = threadIdx.x + j * kThreads, r = c / CPR, cc = c % CPR;
            if (r < brows && cc * 8 < bcols)
                key = min(key, bad_key(v[j], (r0 + r) * cols + c0 + cc * 8));
        }
        if (key != kNoBad) atomicMin(&ws->bad_key, key);
        return;
    }
    const float sf = block_scale(m);
    const MulOp op{__fdiv_rn(1.0f, sf)};
#pragma unroll
    for (int j = 0; j < K; j++) {
        const int c = threadIdx.x + j * kThreads, r = c / CPR, cc = c % CPR;
        if (r < brows && cc * 8 < bcols)
            store(reinterpret_cast<uint2 *>(out + (r0 + r) * cols + c0 + cc * 8), quant(v[j], op));
    }
    if (threadIdx.x == 0) scales[blockIdx.x] = sf; /* [nbr, nbc] row-major */
}

/* PDL: waits until the kernel this one was launched after (k_init) has
 * completed and its writes are visible. Returns at once when the kernel was
 * launched normally. */
__device__ __forceinline__ void pdl_wait() { asm volatile("griddepcontrol.wait;" ::: "memory"); }

/* One CTA of kBlockThreads per 128x128 block, staged in shared memory
 * (32 KiB) instead of registers. k_block_reg holds its block in registers
 * (80 a thread), so only 3 CTAs fit on an SM: 96 KiB of loads in flight, and
 * few CTAs to overlap one CTA's reduction and quantization with the others'
 * loads (0.66 of copy bandwidth on H200). Here registers stay at 40, and
 * shared memory allows 6 CTAs an SM (6 x (32 + 1 reserved) KiB <= 228 KiB):
 * twice the bytes in flight. (Keeping part of the block in registers to fit
 * 8-10 CTAs was measured too, on H100: no faster.)
 *
 * Same chunk mapping as k_block_reg (chunk c = row c / 16, chunk column
 * c % 16, c = threadIdx.x + j * kBlockThreads; a warp covers two whole
 * 256-byte row segments, so loads and the 8-byte stores coalesce), same
 * predicates for ragged edge blocks, same operations in the same order: the
 * bytes, scales and NaN/Inf keys are k_block_reg's. Each thread reads back
 * only the chunks it copied, so its own cp.async wait suffices before the
 * amax; the one barrier is the block reduction's. Needs cols % 8 == 0, x
 * 16-byte and out 8-byte aligned (then every chunk is aligned, edge blocks
 * included).
 *
 * Launched with PDL after k_init (launch_block): everything before pdl_wait()
 * touches only x, out and scales, which k_init does not; the workspace is
 * touched only after it. Thread 0 of every CTA also waits before exiting, so
 * this grid never completes before k_init, whatever runs after it. */
constexpr int kBlockThreads = 256;

__global__ void __launch_bounds__(kBlockThreads, 6)
    k_block_smem(const uint16_t *__restrict__ x, int64_t rows, int64_t cols,
                 uint8_t *__restrict__ out, float *scales, Ws *ws) {
    constexpr int T = kBlockThreads, CPR = kBlock / 8, NC = kBlock * CPR, K = NC / T,
                  RPJ = T / CPR;
    static_assert(T % CPR == 0 && NC % T == 0 && T % 32 == 0, "chunk mapping");
    __shared__ uint4 tile[NC];
    __shared__ uint32_t part[T / 32];
    const int64_t nbc = (cols + kBlock - 1) / kBlock;
    const int64_t r0 = blockIdx.x / nbc * kBlock, c0 = blockIdx.x % nbc * kBlock;
    const int brows = (int)min((int64_t)kBlock, rows - r0),
              bcols = (int)min((int64_t)kBlock, cols - c0);
    /* T is a multiple of CPR, so all of a thread's chunks are in one chunk
     * column cc, and its j-th chunk (tile[threadIdx.x + j * T]) is in block
     * row rt + j * RPJ. */
    const int cc = threadIdx.x % CPR, rt = threadIdx.x / CPR;
    const bool col_ok = cc * 8 < bcols;
    const uint16_t *xb = x + r0 * cols + c0 + cc * 8;
#pragma unroll
    for (int j = 0; j < K; j++) {
        const int r = rt + j * RPJ;
        if (col_ok && r < brows) cp_async16(&tile[threadIdx.x + j * T], xb + r * cols);
    }
    cp_async_wait_all();

    uint32_t m = 0;
#pragma unroll
    for (int j = 0; j < K; j++)
        if (col_ok && rt + j * RPJ < brows) m = max(m, absmax(tile[threadIdx.x + j * T]));
    /* Block max with one barrier: every thread then reads all warps' maxima. */
    m = __reduce_max_sync(0xFFFFFFFFu, m);
    if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = m;
    __syncthreads();
#pragma unroll
    for (int w = 0; w < T / 32; w++)
        m = max(m, part[w]);

    if (m >= kAbsInf) { /* rare: report the first bad element, write nothing */
        unsigned long long key = kNoBad;
#pragma unroll
        for (int j = 0; j < K; j++) {
            const int r = rt + j * RPJ;
            if (col_ok && r < brows)
                key = min(key, bad_key(tile[threadIdx.x + j * T], (r0 + r) * cols + c0 + cc * 8));
        }
        pdl_wait(); /* k_init's reset of bad_key must come first */
        if (key != kNoBad) atomicMin(&ws->bad_key, key);
        return;
    }
    const float sf = block_scale(m);
    const MulOp op{__fdiv_rn(1.0f, sf)};
    uint8_t *ob = out + r0 * cols + c0 + cc * 8;
#pragma unroll
    for (int j = 0; j < K; j++) {
        const int r = rt + j * RPJ;
        if (col_ok && r < brows)
            store(reinterpret_cast<uint2 *>(ob + r * cols), quant(tile[threadIdx.x + j * T], op));
    }
    if (threadIdx.x == 0) {
        scales[blockIdx.x] = sf; /* [nbr, nbc] row-major */
        pdl_wait();              /* see above: not done before k_init is */
    }
}

/* Any block, one element at a time: amax pass, then a second pass re-reading
 * the block (from L1/L2). For unaligned pointers or cols % 8 != 0. */
__global__ void __launch_bounds__(kThreads)
    k_block_loop(const uint16_t *__restrict__ x, int64_t rows, int64_t cols,
                 uint8_t *__restrict__ out, float *scales, Ws *ws) {
    const int64_t nbc = (cols + kBlock - 1) / kBlock;
    const int64_t r0 = blockIdx.x / nbc * kBlock, c0 = blockIdx.x % nbc * kBlock;
    const int brows = (int)min((int64_t)kBlock, rows - r0),
              bcols = (int)min((int64_t)kBlock, cols - c0);
    const int nelem = brows * bcols;
    const uint16_t *xb = x + r0 * cols + c0;
    uint32_t m = 0;
    for (int e = threadIdx.x; e < nelem; e += kThreads)
        m = max(m, absmax(xb[e / bcols * cols + e % bcols]));
    m = block_max(m);
    if (m >= kAbsInf) {
        unsigned long long key = kNoBad;
        for (int e = threadIdx.x; e < nelem; e += kThreads) {
            const int64_t off = e / bcols * cols + e % bcols;
            key = min(key, key_of(xb[off], r0 * cols + c0 + off));
        }
        if (key != kNoBad) atomicMin(&ws->bad_key, key);
        return;
    }
    const float sf = block_scale(m);
    const MulOp op{__fdiv_rn(1.0f, sf)};
    for (int e = threadIdx.x; e < nelem; e += kThreads) {
        const int64_t off = e / bcols * cols + e % bcols;
        out[r0 * cols + c0 + off] = quant(xb[off], op);
    }
    if (threadIdx.x == 0) scales[blockIdx.x] = sf;
}

/* ---- test hook ------------------------------------------------------------ */

__global__ void k_convert_bits(uint32_t first, uint64_t count, uint8_t *out) {
    const uint64_t stride = (uint64_t)gridDim.x * blockDim.x;
    for (uint64_t i = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x; i < count; i += stride)
        out[i] =
            __nv_cvt_float_to_fp8(__uint_as_float(first + (uint32_t)i), __NV_SATFINITE, __NV_E4M3);
}

/* ---- host side ------------------------------------------------------------ */

refit_status launch_status(rf_qscheme_t s, int64_t rows, int64_t cols) {
    cudaError_t e = cudaGetLastError();
    if (e == cudaSuccess) return REFIT_OK;
    return rf_error(REFIT_ERR_DEVICE, "quantize %s [%" PRId64 ", %" PRId64 "]: launch: %s",
                    rf_q_scheme_name(s), rows, cols, cudaGetErrorString(e));
}

/* Grid for a grid-stride kernel over nchunk chunks, kUnroll per thread per
 * step: enough CTAs to fill the GPU a few times over, no more. */
unsigned stride_grid(int64_t nchunk, int sms) {
    int64_t want = (nchunk + (int64_t)kThreads * kUnroll - 1) / ((int64_t)kThreads * kUnroll);
    int64_t cap = (int64_t)sms * 8;
    return (unsigned)(want < 1 ? 1 : (want < cap ? want : cap));
}

refit_status launch_tensor(const uint16_t *x, int64_t n, bool vec, uint8_t *out, float *scales,
                           Ws *ws, cudaStream_t st) {
    int sms = 0;
    RF_CHECK(sm_count(&sms));
    const unsigned grid = stride_grid(vec ? n / 8 : n, sms);
    if (vec) {
        k_tensor_amax<8><<<grid, kThreads, 0, st>>>(x, n, ws);
        k_tensor_quant<8><<<grid, kThreads, 0, st>>>(x, n, out, scales, ws);
    } else {
        k_tensor_amax<1><<<grid, kThreads, 0, st>>>(x, n, ws);
        k_tensor_quant<1><<<grid, kThreads, 0, st>>>(x, n, out, scales, ws);
    }
    return REFIT_OK;
}

unsigned round_warp(int64_t n) { return (unsigned)((n + 31) / 32 * 32); }

void launch_row(const uint16_t *x, int64_t rows, int64_t cols, bool vec, uint8_t *out,
                float *scales, Ws *ws, cudaStream_t st) {
    if (rows == 0) return;
    const int64_t nchunk = vec ? cols / 8 : cols;
    const int64_t reg_threads = round_warp((nchunk + kRowRegChunks - 1) / kRowRegChunks);
    const unsigned loop_threads =
        nchunk >= kThreads ? kThreads : (nchunk < 32 ? 32 : round_warp(nchunk));
    const unsigned grid = (unsigned)rows, threads = reg_threads < 32 ? 32 : (unsigned)reg_threads;
    if (vec && reg_threads <= 1024)
        k_row_reg<kRowRegChunks><<<grid, threads, 0, st>>>(x, cols, out, scales, ws);
    else if (vec)
        k_row_loop<8><<<grid, loop_threads, 0, st>>>(x, cols, out, scales, ws);
    else
        k_row_loop<1><<<grid, loop_threads, 0, st>>>(x, cols, out, scales, ws);
}

/* Lets k_block_smem's 6 x 33 KiB of shared memory an SM be configured (a
 * hint; the driver's default usually picks it anyway). Once per device: the
 * attribute belongs to the CUDA function, process-wide, so the record of
 * having set it is too (CUDA's state, not a context's). */
void block_smem_carveout() {
    static std::atomic<unsigned long long> done{0};
    int dev = 0;
    if (cudaGetDevice(&dev) != cudaSuccess) {
        (void)cudaGetLastError();
        return;
    }
    const unsigned long long bit = dev < 64 ? 1ull << dev : 0;
    if (bit && (done.load(std::memory_order_relaxed) & bit)) return;
    if (cudaFuncSetAttribute(k_block_smem, cudaFuncAttributePreferredSharedMemoryCarveout,
                             (int)cudaSharedmemCarveoutMaxShared) != cudaSuccess)
        (void)cudaGetLastError(); /* only a hint: never fail the launch for it */
    else if (bit)
        done.fetch_or(bit, std::memory_order_relaxed);
}

/* fp8-block. REFIT_BLOCK_KERNEL (rf_settings.h; read every call, for
 * benchmarks) picks the kernel of the vectorized path: pdl (default) =
 * k_block_smem launched with PDL after k_init, "nopdl" = the same kernel
 * launched normally, "old" = k_block_reg (the kernel before k_block_smem).
 * All give the same bytes. */
refit_status launch_block(const uint16_t *x, int64_t rows, int64_t cols, bool vec,
                          uint8_t *out, float *scales, Ws *ws, cudaStream_t st) {
    const int64_t nblocks = (int64_t)rf_q_scale_count(RF_Q_FP8_BLOCK, rows, cols);
    if (nblocks == 0) return REFIT_OK;
    const unsigned grid = (unsigned)nblocks;
    int which = 0; /* choices "pdl|nopdl|old" */
    RF_CHECK(rf_setting_choice(RF_SET_BLOCK_KERNEL, &which));
    if (!vec) {
        k_block_loop<<<grid, kThreads, 0, st>>>(x, rows, cols, out, scales, ws);
    } else if (which == 2) {
        k_block_reg<<<grid, kThreads, 0, st>>>(x, rows, cols, out, scales, ws);
    } else if (which == 1) {
        block_smem_carveout();
        k_block_smem<<<grid, kBlockThreads, 0, st>>>(x, rows, cols, out, scales, ws);
    } else {
        block_smem_carveout();
        /* PDL: k_block_smem may start as soon as k_init (the kernel just
         * before it on st) starts; see k_block_smem for why that is safe. */
        cudaLaunchAttribute attr[1];
        attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
        attr[0].val.programmaticStreamSerializationAllowed = 1;
        cudaLaunchConfig_t cfg = {};
        cfg.gridDim = dim3(grid);
        cfg.blockDim = dim3(kBlockThreads);
        cfg.dynamicSmemBytes = 0;
        cfg.stream = st;
        cfg.attrs = attr;
        cfg.numAttrs = 1;
        cudaError_t e = cudaLaunchKernelEx(&cfg, k_block_smem, x, rows, cols, out, scales, ws);
        if (e != cudaSuccess) {
            (void)cudaGetLastError();
            return rf_error(REFIT_ERR_DEVICE,
                            "quantize fp8-block [%" PRId64 ", %" PRId64 "]: launch: %s", rows,
                            cols, cudaGetErrorString(e));
        }
    }
    return REFIT_OK;
}

refit_status check_args(rf_qscheme_t s, const uint16_t *x, int64_t rows, int64_t cols,
                        const uint8_t *out, const float *scales, const void *ws, size_t ws_bytes,
                        int64_t *n) {
    uint64_t nn = 0;
    if ((int)s < 0 || s >= RF_Q_NONE)
        return rf_error(REFIT_ERR_INVALID_ARG, "quantize (cuda): scheme %s has nothing to quantize",
                        rf_q_scheme_name(s));
    if (rows < 0 || cols < 0 || !rf_mul_u64((uint64_t)rows, (uint64_t)cols, &nn) ||
        nn > (uint64_t)INT64_MAX / 2 || rows > INT32_MAX ||
        rf_q_scale_count(s, rows, cols) > INT32_MAX)
        return rf_error(REFIT_ERR_INVALID_ARG,
                        "quantize (cuda): shape [%" PRId64 ", %" PRId64 "] not supported", rows,
                        cols);
    if (nn > 0 && (!x || !out))
        return rf_error(REFIT_ERR_INVALID_ARG, "quantize (cuda): NULL data");
    if (!scales && rf_q_scale_count(s, rows, cols) > 0)
        return rf_error(REFIT_ERR_INVALID_ARG, "quantize (cuda): NULL scales");
    if (!ws || ws_bytes < RF_QCU_WORKSPACE_BYTES || (uintptr_t)ws % 8 != 0)
        return rf_error(REFIT_ERR_INVALID_ARG,
                        "quantize (cuda): workspace needs %d bytes, 8-byte aligned (got %zu at %p)",
                        RF_QCU_WORKSPACE_BYTES, ws_bytes, ws);
    *n = (int64_t)nn;
    return REFIT_OK;
}

/* 16-byte loads of x and 8-byte stores of out need aligned bases, and for the
 * 2-D schemes every row start aligned too (cols % 8 == 0). */
bool can_vectorize(rf_qscheme_t s, const uint16_t *x, int64_t cols, const uint8_t *out) {
    bool aligned = (uintptr_t)x % 16 == 0 && (uintptr_t)out % 8 == 0;
    return aligned && (s == RF_Q_FP8_TENSOR || cols % 8 == 0);
}

} // namespace

extern "C" {

size_t rf_qcu_workspace_bytes(rf_qscheme_t s, int64_t rows, int64_t cols) {
    (void)s;
    (void)rows;
    (void)cols;
    return RF_QCU_WORKSPACE_BYTES;
}

refit_status rf_qcu_quantize(rf_qscheme_t s, const uint16_t *d_x, int64_t rows, int64_t cols,
                             uint8_t *d_out, float *d_scales, void *d_workspace,
                             size_t workspace_bytes, void *stream) {
    int64_t n = 0;
    RF_CHECK(check_args(s, d_x, rows, cols, d_out, d_scales, d_workspace, workspace_bytes, &n));
    cudaStream_t st = (cudaStream_t)stream;
    Ws *ws = (Ws *)d_workspace;
    const bool vec = can_vectorize(s, d_x, cols, d_out);
    k_init<<<1, 1, 0, st>>>(ws);
    switch (s) {
    case RF_Q_FP8_TENSOR: RF_CHECK(launch_tensor(d_x, n, vec, d_out, d_scales, ws, st)); break;
    case RF_Q_FP8_ROW: launch_row(d_x, rows, cols, vec, d_out, d_scales, ws, st); break;
    default: RF_CHECK(launch_block(d_x, rows, cols, vec, d_out, d_scales, ws, st)); break;
    }
    return launch_status(s, rows, cols);
}

refit_status rf_qcu_scan(const uint16_t *d_x, int64_t n, void *d_workspace, void *stream) {
    if (!d_x || !d_workspace || n <= 0)
        return rf_error(REFIT_ERR_INVALID_ARG, "scan (cuda): bad arguments (n %" PRId64 ")", n);
    cudaStream_t st = (cudaStream_t)stream;
    Ws *ws = (Ws *)d_workspace;
    int sms = 0;
    RF_CHECK(sm_count(&sms));
    const bool vec = ((uintptr_t)d_x % 16) == 0;
    k_init<<<1, 1, 0, st>>>(ws);
    if (vec) k_tensor_amax<8><<<stride_grid(n / 8, sms), kThreads, 0, st>>>(d_x, n, ws);
    else k_tensor_amax<1><<<stride_grid(n, sms), kThreads, 0, st>>>(d_x, n, ws);
    return launch_status(RF_Q_NONE, 1, n);
}

int64_t rf_qcu_ws_first_bad(const void *host_ws, bool *is_inf) {
    const Ws *w = (const Ws *)host_ws;
    if (w->bad_key == kNoBad) return -1;
    if (is_inf) *is_inf = (w->bad_key & 1) != 0;
    return (int64_t)(w->bad_key >> 1);
}

refit_status rf_qcu_check(const void *d_workspace, int64_t cols, const char *label, void *stream,
                          int64_t *first_bad) {
    Ws h;
    cudaStream_t st = (cudaStream_t)stream;
    cudaError_t e = cudaMemcpyAsync(&h, d_workspace, sizeof h, cudaMemcpyDeviceToHost, st);
    if (e == cudaSuccess) e = cudaStreamSynchronize(st);
    if (e != cudaSuccess) return rf_cuda_fail(e, "quantize (cuda): check");
    int64_t idx = h.bad_key == kNoBad ? -1 : (int64_t)(h.bad_key >> 1);
    if (first_bad) *first_bad = idx;
    if (idx < 0) return REFIT_OK;
    if (cols <= 0) cols = 1; /* cannot happen: no elements, no bad one */
    return rf_error(REFIT_ERR_NUMERIC, "%s: %s at row %" PRId64 " col %" PRId64,
                    label ? label : "(unnamed)", (h.bad_key & 1) ? "inf" : "nan", idx / cols,
                    idx % cols);
}

refit_status rf_qcu_convert_bits(uint32_t first, uint64_t count, uint8_t *d_out, void *stream) {
    if (count == 0) return REFIT_OK;
    int sms = 0;
    RF_CHECK(sm_count(&sms));
    k_convert_bits<<<(unsigned)sms * 8, kThreads, 0, (cudaStream_t)stream>>>(first, count, d_out);
    cudaError_t e = cudaGetLastError();
    return e == cudaSuccess ? REFIT_OK : rf_cuda_fail(e, "convert_bits: launch");
}

} // extern "C"
