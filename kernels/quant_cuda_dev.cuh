/* Device-side numerics of the fp8 quantization kernels (SPEC §4), shared by
 * quant_cuda.cu (dense params) and quant_moe_cuda.cu (expert params), so both
 * convert, reduce and flag NaN/Inf with the same code. Internal to kernels/:
 * everything sits in an anonymous namespace, one copy per translation unit.
 * The numerics notes at the top of quant_cuda.cu apply to every line here. */
#ifndef RF_QUANT_CUDA_DEV_CUH
#define RF_QUANT_CUDA_DEV_CUH

#include <cuda_fp8.h>
#include <cuda_runtime.h>
#include <stdint.h>

#include "quant_cuda.h"

namespace {

/* SPEC §4 constants, spelled as in quant_ref.c. */
constexpr float kMinScale = 1.0f / (448.0f * 512.0f);
constexpr float kR448 = (float)(1.0 / 448.0);
constexpr float kBlockAmaxMin = 1e-4f;
constexpr uint32_t kAbsInf = 0x7F80u;
constexpr unsigned long long kNoBad = ~0ull;
constexpr int kBlock = RF_Q_BLOCK;

struct Ws {
    uint32_t amax_bits;
    uint32_t pad;
    unsigned long long bad_key;
};
static_assert(sizeof(Ws) <= RF_QCU_WORKSPACE_BYTES, "workspace too small");

/* ---- scales, one IEEE op per step --------------------------------------- */

__device__ __forceinline__ float bf16f(uint32_t b) { return __uint_as_float(b << 16); }

__device__ __forceinline__ float tensor_scale(uint32_t amax_bits) {
    return fmaxf(__fdiv_rn(bf16f(amax_bits), 448.0f), kMinScale);
}
__device__ __forceinline__ float row_scale(uint32_t amax_bits) {
    return fmaxf(__fmul_rn(bf16f(amax_bits), kR448), kMinScale);
}
__device__ __forceinline__ float block_scale(uint32_t amax_bits) {
    return __fmul_rn(fmaxf(bf16f(amax_bits), kBlockAmaxMin), kR448);
}

/* x * inv (fp8-tensor, fp8-block) or x / s (fp8-row). */
struct MulOp {
    float inv;
    __device__ __forceinline__ float operator()(float x) const { return __fmul_rn(x, inv); }
};
struct DivOp {
    float s;
    __device__ __forceinline__ float operator()(float x) const { return __fdiv_rn(x, s); }
};

__device__ __forceinline__ float clamp448(float v) { return fminf(fmaxf(v, -448.0f), 448.0f); }

/* Two bf16 packed in a word -> two e4m3fn bytes (low element in the low byte). */
template <class Op> __device__ __forceinline__ uint32_t quant2(uint32_t w, Op op) {
    float lo = clamp448(op(bf16f(w & 0xFFFFu)));
    float hi = clamp448(op(__uint_as_float(w & 0xFFFF0000u)));
    return __nv_cvt_float2_to_fp8x2(make_float2(lo, hi), __NV_SATFINITE, __NV_E4M3);
}

/* ---- chunk = the unit one thread loads: 8 bf16 (uint4) or 1 bf16 -------- */

template <int W> struct Chunk;
template <> struct Chunk<8> {
    typedef uint4 in_t;
    typedef uint2 out_t;
};
template <> struct Chunk<1> {
    typedef uint16_t in_t;
    typedef uint8_t out_t;
};

__device__ __forceinline__ uint32_t absmax(uint4 v) {
    const uint32_t m = 0x7FFF7FFFu;
    uint32_t p = __vmaxu2(__vmaxu2(v.x & m, v.y & m), __vmaxu2(v.z & m, v.w & m));
    return max(p & 0xFFFFu, p >> 16);
}
__device__ __forceinline__ uint32_t absmax(uint16_t v) { return v & 0x7FFFu; }

template <class Op> __device__ __forceinline__ uint2 quant(uint4 v, Op op) {
    uint2 o;
    o.x = quant2(v.x, op) | quant2(v.y, op) << 16;
    o.y = quant2(v.z, op) | quant2(v.w, op) << 16;
    return o;
}
template <class Op> __device__ __forceinline__ uint8_t quant(uint16_t v, Op op) {
    return (uint8_t)quant2(v, op);
}

__device__ __forceinline__ unsigned long long key_of(uint32_t h, int64_t idx) {
    uint32_t a = h & 0x7FFFu;
    if (a < kAbsInf) return kNoBad;
    return (unsigned long long)idx << 1 | (a == kAbsInf ? 1u : 0u);
}
/* Smallest key in a chunk whose first element has flat index idx. Rare path. */
__device__ __forceinline__ unsigned long long bad_key(uint4 v, int64_t idx) {
    const uint32_t w[4] = {v.x, v.y, v.z, v.w};
    unsigned long long k = kNoBad;
    for (int i = 0; i < 4; i++) {
        k = min(k, key_of(w[i] & 0xFFFFu, idx + 2 * i));
        k = min(k, key_of(w[i] >> 16, idx + 2 * i + 1));
    }
    return k;
}
__device__ __forceinline__ unsigned long long bad_key(uint16_t v, int64_t idx) {
    return key_of(v, idx);
}

/* Streaming loads/stores: each input byte is read once per pass and each
 * output byte written once, so keep them from evicting what will be reused. */
template <class T> __device__ __forceinline__ T load(const T *p) { return __ldcs(p); }
template <class T> __device__ __forceinline__ void store(T *p, T v) { __stcs(p, v); }

/* Max over the CTA (blockDim a multiple of 32); every thread gets it. */
__device__ uint32_t block_max(uint32_t m) {
    __shared__ uint32_t part[32];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    m = __reduce_max_sync(0xFFFFFFFFu, m);
    if (lane == 0) part[warp] = m;
    __syncthreads();
    if (warp == 0) {
        m = lane < (int)(blockDim.x >> 5) ? part[lane] : 0u;
        m = __reduce_max_sync(0xFFFFFFFFu, m);
        if (lane == 0) part[0] = m;
    }
    __syncthreads();
    return part[0];
}

/* cp.async (sm_80+): a 16-byte global -> shared copy that does not go through
 * registers, so a CTA can have its whole block in flight at little register
 * cost. .cg: cached in L2 only (each byte is read once). */
__device__ __forceinline__ void cp_async16(uint4 *dst, const void *src) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(
                     (uint32_t)__cvta_generic_to_shared(dst)),
                 "l"((unsigned long long)__cvta_generic_to_global(src))
                 : "memory");
}
/* Waits for this thread's own cp.async copies, which are then visible to it.
 * (Other threads' copies would need a barrier as well; k_block_smem only ever
 * reads back what the same thread copied.) The memory clobber keeps the
 * compiler from moving shared-memory reads above the wait. */
__device__ __forceinline__ void cp_async_wait_all() {
    asm volatile("cp.async.wait_all;\n" ::: "memory");
}

/* ---- host side helpers ---------------------------------------------------- */

inline refit_status cuda_error(cudaError_t e, const char *what) {
    return rf_error(REFIT_ERR_DEVICE, "%s: %s (%s)", what, cudaGetErrorString(e),
                    cudaGetErrorName(e));
}

inline refit_status sm_count(int *out) {
    int dev = 0, n = 0;
    cudaError_t e = cudaGetDevice(&dev);
    if (e == cudaSuccess) e = cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev);
    if (e != cudaSuccess) return cuda_error(e, "quantize: device query");
    *out = n;
    return REFIT_OK;
}

} // namespace
#endif
