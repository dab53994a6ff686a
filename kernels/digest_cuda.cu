/* Parameter digests on the GPU (digest_cuda.h), with XXH64 written here from
 * xxHash's specification (doc/xxhash_spec.md): 4 accumulators fed one 8-byte
 * lane each per 32-byte stripe, convergence, length, up to 31 tail bytes in
 * 8-, 4- and 1-byte steps, avalanche. All arithmetic is on uint64 modulo
 * 2^64, so the result cannot depend on the compiler's floating-point flags.
 *
 * Parallelism. XXH64 is sequential along its input, but its 4 accumulators
 * are independent until the convergence, so a chunk is hashed by a quad of
 * 4 threads: thread k runs accumulator k over lane k of every stripe, and
 * the quad joins its accumulators with shuffles. One quad per 64 KiB chunk;
 * each quad's threads read a full 32-byte sector per stripe, so every sector
 * fetched is used entirely by the instruction that fetched it. The number
 * of chunks, not of warps, bounds the parallelism, so each thread hides its
 * own memory latency by keeping 16-32 stripes of loads in flight
 * (lane_stripes).
 *
 * Two launches per batch of up to RF_DGCU_BATCH_MAX strings:
 *   k_leaves  chunk hashes H_i into the workspace, and after each string's
 *             hashes its length n (so the top's input is one contiguous
 *             le64 array: the device is little-endian);
 *   k_tops    one quad per string: XXH64 over its 8 * (m + 1) workspace
 *             bytes -> *out.
 * The batch travels as a __grid_constant__ kernel parameter (< 4 KiB), so
 * no host-to-device copy and no host synchronization is needed. */
#include <cuda_runtime.h>
#include <inttypes.h>
#include <stdint.h>

#include "digest_cuda.h"

namespace {

constexpr uint64_t P1 = 0x9E3779B185EBCA87ull;
constexpr uint64_t P2 = 0xC2B2AE3D27D4EB4Full;
constexpr uint64_t P3 = 0x165667B19E3779F9ull;
constexpr uint64_t P4 = 0x85EBCA77C2B2AE63ull;
constexpr uint64_t P5 = 0x27D4EB2F165667C5ull;

constexpr uint64_t kChunk = RF_DIGEST_CHUNK;
constexpr int kLeafThreads = 128; /* 32 quads per block */
constexpr int kTopThreads = 128;  /* 32 strings per block */
constexpr int kMaxItems = RF_DGCU_BATCH_MAX;

static_assert(kChunk % 32 == 0, "a chunk must hold whole stripes: only a string's last chunk has a tail");

/* One launch pair's strings. first[i] is the workspace word where string i's
 * chunk hashes start; its length word is at first[i + 1] - 1, so string i
 * has first[i + 1] - first[i] - 1 chunks and chunks before it number
 * first[i] - i. */
struct Group {
    const uint8_t *src[kMaxItems];
    uint64_t len[kMaxItems];
    uint64_t *out[kMaxItems];
    uint32_t first[kMaxItems + 1];
    uint64_t *ws;
    uint32_t count;
};
static_assert(sizeof(Group) + sizeof(uint64_t) <= 4096, "kernel parameters are limited to 4 KiB");

/* ---- XXH64, per the specification ---------------------------------------- */

__device__ __forceinline__ uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

__device__ __forceinline__ uint64_t xround(uint64_t acc, uint64_t lane) { return rotl(acc + lane * P2, 31) * P1; }

__device__ __forceinline__ uint64_t xmerge(uint64_t acc, uint64_t v) { return (acc ^ xround(0, v)) * P1 + P4; }

/* The tail's 8-byte step. */
__device__ __forceinline__ uint64_t step8(uint64_t acc, uint64_t lane) {
    return rotl(acc ^ xround(0, lane), 27) * P1 + P4;
}

__device__ __forceinline__ uint64_t avalanche(uint64_t acc) {
    acc ^= acc >> 33;
    acc *= P2;
    acc ^= acc >> 29;
    acc *= P3;
    return acc ^ (acc >> 32);
}

/* n <= 8 bytes at any address, little-endian. */
__device__ __forceinline__ uint64_t load_bytes(const uint8_t *p, int n) {
    uint64_t x = 0;
    for (int i = 0; i < n; i++) x |= (uint64_t)__ldg(p + i) << (8 * i);
    return x;
}

/* Step 4-6: length added by the caller; r < 32 remaining bytes; avalanche. */
__device__ uint64_t finish(uint64_t acc, const uint8_t *p, uint32_t r) {
    for (; r >= 8; p += 8, r -= 8) acc = step8(acc, load_bytes(p, 8));
    if (r >= 4) {
        acc = rotl(acc ^ (load_bytes(p, 4) * P1), 23) * P2 + P3;
        p += 4;
        r -= 4;
    }
    for (; r; p++, r--) acc = rotl(acc ^ ((uint64_t)__ldg(p) * P5), 11) * P1;
    return avalanche(acc);
}

/* 8 bytes at p, little-endian. Aligned: one load. Otherwise (p % 8 != 0) the
 * two aligned words that hold them, joined by a shift: both hold bytes of
 * the string, so neither read leaves its allocation. */
template <bool kAligned> __device__ __forceinline__ uint64_t load_lane(const uint8_t *p) {
    if (kAligned) return __ldg(reinterpret_cast<const unsigned long long *>(p));
    const uintptr_t a = reinterpret_cast<uintptr_t>(p);
    const unsigned long long *w = reinterpret_cast<const unsigned long long *>(a & ~uintptr_t(7));
    const unsigned sh = (unsigned)(a & 7) * 8; /* 8..56 */
    return (__ldg(w) >> sh) | (__ldg(w + 1) << (64 - sh));
}

/* Accumulator v over lane words p[32 s] for 0 < nstripes (p already points
 * at this thread's lane). Rolling prefetch: the word of stripe s + kDist is
 * requested as soon as stripe s is hashed, so kDist loads are always in
 * flight with only kDist words live. One accumulator step is a chain of ~20
 * cycles, so 32 stripes (~650 cycles) cover a DRAM round trip; unaligned
 * lanes hold two words each and look 16 ahead. Loads past the end are
 * clamped to the last stripe (cache hits) instead of branching. */
template <bool kAligned> __device__ uint64_t lane_stripes(const uint8_t *p, uint64_t nstripes, uint64_t v) {
    constexpr int kDist = kAligned ? 32 : 16;
    const uint64_t last = nstripes - 1;
    uint64_t buf[kDist];
#pragma unroll
    for (int k = 0; k < kDist; k++) buf[k] = load_lane<kAligned>(p + 32 * min((uint64_t)k, last));
    for (uint64_t s = 0; s < nstripes; s += kDist) {
#pragma unroll
        for (int k = 0; k < kDist; k++) {
            if (s + k < nstripes) v = xround(v, buf[k]);
            buf[k] = load_lane<kAligned>(p + 32 * min(s + kDist + k, last));
        }
    }
    return v;
}

/* XXH64(p[0..len), seed) by the quad whose lanes are `mask`; thread k = the
 * quad lane. Every lane of the quad returns the hash. */
template <bool kAligned>
__device__ uint64_t quad_xxh64_impl(const uint8_t *p, uint64_t len, uint64_t seed, unsigned k, unsigned mask) {
    const uint64_t nstripes = len / 32;
    uint64_t acc;
    if (nstripes) {
        const uint64_t init = k == 0 ? seed + P1 + P2 : k == 1 ? seed + P2 : k == 2 ? seed : seed - P1;
        const uint64_t v = lane_stripes<kAligned>(p + 8 * k, nstripes, init);
        const uint64_t v1 = __shfl_sync(mask, v, 0, 4), v2 = __shfl_sync(mask, v, 1, 4);
        const uint64_t v3 = __shfl_sync(mask, v, 2, 4), v4 = __shfl_sync(mask, v, 3, 4);
        acc = rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18);
        acc = xmerge(xmerge(xmerge(xmerge(acc, v1), v2), v3), v4);
    } else {
        acc = seed + P5;
    }
    return finish(acc + len, p + 32 * nstripes, (uint32_t)(len % 32));
}

__device__ uint64_t quad_xxh64(const uint8_t *p, uint64_t len, uint64_t seed) {
    const unsigned k = threadIdx.x & 3, mask = 0xFu << (threadIdx.x & 28);
    if (reinterpret_cast<uintptr_t>(p) & 7) return quad_xxh64_impl<false>(p, len, seed, k, mask);
    return quad_xxh64_impl<true>(p, len, seed, k, mask);
}

/* The string that chunk q (counted over the whole group) belongs to: the
 * last i whose chunks start at or before q (empty strings have none). */
__device__ uint32_t item_of(const Group &g, uint64_t q) {
    uint32_t lo = 0, hi = g.count - 1;
    while (lo < hi) {
        const uint32_t mid = (lo + hi + 1) / 2;
        if ((uint64_t)(g.first[mid] - mid) <= q)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

/* Quads 0..nchunks-1 hash a chunk each; quads nchunks..nchunks+count-1 write
 * the strings' length words. */
__global__ void __launch_bounds__(kLeafThreads) k_leaves(const __grid_constant__ Group g, uint64_t nchunks) {
    const uint64_t q = ((uint64_t)blockIdx.x * kLeafThreads + threadIdx.x) / 4;
    const bool lead = (threadIdx.x & 3) == 0;
    if (q >= nchunks) {
        const uint64_t i = q - nchunks;
        if (lead && i < g.count) g.ws[g.first[i + 1] - 1] = g.len[i];
        return;
    }
    const uint32_t i = item_of(g, q);
    const uint64_t c = q - (g.first[i] - i), off = c * kChunk;
    const uint64_t len = g.len[i] - off < kChunk ? g.len[i] - off : kChunk;
    const uint64_t h = quad_xxh64(g.src[i] + off, len, 0);
    if (lead) g.ws[g.first[i] + c] = h;
}

__global__ void __launch_bounds__(kTopThreads) k_tops(const __grid_constant__ Group g) {
    const uint32_t i = (blockIdx.x * kTopThreads + threadIdx.x) / 4;
    if (i >= g.count) return;
    const uint64_t words = g.first[i + 1] - g.first[i];
    const uint64_t h = quad_xxh64(reinterpret_cast<const uint8_t *>(g.ws + g.first[i]), 8 * words, 0);
    if ((threadIdx.x & 3) == 0) *g.out[i] = h;
}

/* Quad q hashes chunk q of one string of len bytes (the tree's leaves only). */
__global__ void __launch_bounds__(kLeafThreads) k_leaves_plain(const uint8_t *p, uint64_t len, uint64_t *out) {
    const uint64_t q = ((uint64_t)blockIdx.x * kLeafThreads + threadIdx.x) / 4;
    if (q * kChunk >= len) return; /* whole quads leave together: the shuffles stay within live lanes */
    const uint64_t n = len - q * kChunk < kChunk ? len - q * kChunk : kChunk;
    const uint64_t h = quad_xxh64(p + q * kChunk, n, 0);
    if ((threadIdx.x & 3) == 0) out[q] = h;
}

__global__ void k_param(const uint64_t *data, const uint64_t *scales, uint64_t *out) {
    /* XXH64 of 16 bytes: no stripe, two 8-byte tail steps */
    *out = avalanche(step8(step8(P5 + 16, *data), *scales));
}

__global__ void k_xxh64(const uint8_t *p, uint64_t len, uint64_t seed, uint64_t *out) {
    const uint64_t h = quad_xxh64(p, len, seed);
    if (threadIdx.x == 0) *out = h;
}

/* ---- host side -------------------------------------------------------------- */

refit_status launched(const char *what) {
    const cudaError_t e = cudaGetLastError();
    if (e == cudaSuccess) return REFIT_OK;
    return rf_error(REFIT_ERR_DEVICE, "digest: %s launch: %s (%s)", what, cudaGetErrorString(e), cudaGetErrorName(e));
}

bool aligned8(const void *p) { return (reinterpret_cast<uintptr_t>(p) & 7) == 0; }

refit_status check_item(const rf_dgcu_item_t *it, size_t idx) {
    if (!it->src && it->len)
        return rf_error(REFIT_ERR_INVALID_ARG, "digest item %zu: NULL source with %" PRIu64 " bytes", idx, it->len);
    if (!it->out || !aligned8(it->out))
        return rf_error(REFIT_ERR_INVALID_ARG, "digest item %zu: output %p is not an 8-byte aligned device address",
                        idx, (void *)it->out);
    return REFIT_OK;
}

/* Fills g with items[start..*end): up to kMaxItems strings whose workspace
 * words (chunks + 1 each) fit a uint32. *words, *nchunks: that group's totals. */
refit_status make_group(const rf_dgcu_item_t *items, size_t count, size_t start, Group *g, size_t *end, uint64_t *words,
                        uint64_t *nchunks) {
    uint64_t w = 0, c = 0;
    size_t i = start;
    for (; i < count && i - start < (size_t)kMaxItems; i++) {
        RF_CHECK(check_item(&items[i], i));
        const uint64_t m = rf_digest_chunk_count(items[i].len);
        if (w + m + 1 > UINT32_MAX) {
            if (i == start)
                return rf_error(REFIT_ERR_INVALID_ARG,
                                "digest item %zu: %" PRIu64 " bytes is more than one launch takes", i, items[i].len);
            break;
        }
        g->src[i - start] = static_cast<const uint8_t *>(items[i].src);
        g->len[i - start] = items[i].len;
        g->out[i - start] = items[i].out;
        g->first[i - start] = (uint32_t)w;
        w += m + 1;
        c += m;
    }
    g->count = (uint32_t)(i - start);
    g->first[g->count] = (uint32_t)w;
    *end = i;
    *words = w;
    *nchunks = c;
    return REFIT_OK;
}

refit_status launch_group(Group *g, uint64_t nchunks, cudaStream_t st) {
    const uint64_t quads = nchunks + g->count;
    const uint64_t leaf_blocks = (quads * 4 + kLeafThreads - 1) / kLeafThreads;
    k_leaves<<<(unsigned)leaf_blocks, kLeafThreads, 0, st>>>(*g, nchunks);
    RF_CHECK(launched("chunk hash"));
    k_tops<<<(g->count * 4 + kTopThreads - 1) / kTopThreads, kTopThreads, 0, st>>>(*g);
    return launched("top hash");
}

} // namespace

extern "C" {

size_t rf_dgcu_workspace_bytes(uint64_t n) { return (size_t)(8 * (rf_digest_chunk_count(n) + 1)); }

refit_status rf_dgcu_batch_workspace_bytes(const rf_dgcu_item_t *items, size_t count, size_t *bytes) {
    if (!bytes || (!items && count))
        return rf_error(REFIT_ERR_INVALID_ARG, "digest batch: NULL %s", bytes ? "items" : "output");
    Group g = {};
    uint64_t most = 0;
    for (size_t at = 0, end; at < count; at = end) {
        uint64_t words, nchunks;
        RF_CHECK(make_group(items, count, at, &g, &end, &words, &nchunks));
        if (words > most) most = words;
    }
    *bytes = (size_t)(8 * most);
    return REFIT_OK;
}

refit_status rf_dgcu_digest_batch(const rf_dgcu_item_t *items, size_t count, void *d_ws, size_t ws_bytes,
                                  void *stream) {
    size_t need = 0;
    RF_CHECK(rf_dgcu_batch_workspace_bytes(items, count, &need));
    if (!count) return REFIT_OK;
    if (!d_ws || !aligned8(d_ws) || ws_bytes < need)
        return rf_error(REFIT_ERR_INVALID_ARG,
                        "digest batch of %zu: workspace %p of %zu bytes (needs %zu bytes, 8-byte aligned)", count, d_ws,
                        ws_bytes, need);
    Group g = {};
    g.ws = static_cast<uint64_t *>(d_ws);
    for (size_t at = 0, end; at < count; at = end) {
        uint64_t words, nchunks;
        RF_CHECK(make_group(items, count, at, &g, &end, &words, &nchunks));
        RF_CHECK(launch_group(&g, nchunks, static_cast<cudaStream_t>(stream)));
    }
    return REFIT_OK;
}

refit_status rf_dgcu_digest(const void *d_src, uint64_t n, uint64_t *d_out, void *d_ws, size_t ws_bytes, void *stream) {
    const rf_dgcu_item_t it = {d_src, n, d_out};
    return rf_dgcu_digest_batch(&it, 1, d_ws, ws_bytes, stream);
}

refit_status rf_dgcu_param(const uint64_t *d_data, const uint64_t *d_scales, uint64_t *d_out, void *stream) {
    if (!d_data || !d_scales || !d_out || !aligned8(d_data) || !aligned8(d_scales) || !aligned8(d_out))
        return rf_error(REFIT_ERR_INVALID_ARG,
                        "param digest: digests %p, %p and output %p must be 8-byte aligned device addresses",
                        (const void *)d_data, (const void *)d_scales, (void *)d_out);
    k_param<<<1, 1, 0, static_cast<cudaStream_t>(stream)>>>(d_data, d_scales, d_out);
    return launched("param digest");
}

refit_status rf_dgcu_leaves(const void *d_src, uint64_t n, uint64_t *d_out, void *stream) {
    if ((!d_src && n) || !d_out || !aligned8(d_out))
        return rf_error(REFIT_ERR_INVALID_ARG, "digest leaves: source %p with %" PRIu64 " bytes, output %p", d_src, n,
                        (void *)d_out);
    const uint64_t quads = rf_digest_chunk_count(n);
    if (!quads) return REFIT_OK;
    const uint64_t blocks = (quads * 4 + kLeafThreads - 1) / kLeafThreads;
    k_leaves_plain<<<(unsigned)blocks, kLeafThreads, 0, static_cast<cudaStream_t>(stream)>>>(
        static_cast<const uint8_t *>(d_src), n, d_out);
    return launched("digest leaves");
}

refit_status rf_dgcu_xxh64(const void *d_src, uint64_t n, uint64_t seed, uint64_t *d_out, void *stream) {
    if ((!d_src && n) || !d_out || !aligned8(d_out))
        return rf_error(REFIT_ERR_INVALID_ARG, "xxh64: source %p with %" PRIu64 " bytes, output %p", d_src, n,
                        (void *)d_out);
    k_xxh64<<<1, 4, 0, static_cast<cudaStream_t>(stream)>>>(static_cast<const uint8_t *>(d_src), n, seed, d_out);
    return launched("xxh64");
}

} // extern "C"
