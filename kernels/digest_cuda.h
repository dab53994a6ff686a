/* Parameter digests (digest.h) on the GPU, bit-identical to rf_digest_host
 * (tests/gpu/test_digest_cuda.c compares them over random buffers, lengths
 * and alignments, and checks XXH64's published vectors).
 *
 * Stream-ordered: every call only enqueues work on `stream` (a cudaStream_t
 * as void*; NULL = the legacy default stream) and returns; the digest lands
 * in a device u64 that the host copies back whenever it likes, so a digest
 * can be queued right behind the copy or kernel that produced a param's
 * bytes. Nothing here synchronizes with the host.
 *
 * Work: one launch writes the tree's leaves (one 4-thread group per 64 KiB
 * chunk; thread k of the group keeps XXH64 accumulator k, reading the k-th
 * 8-byte lane of every 32-byte stripe), a second hashes each string's top
 * (chunk hashes and length). The chunk hashes live in a caller-provided
 * device workspace until the second launch has read them.
 *
 * C-callable and free of CUDA types. Only built with the CUDA backend
 * (REFIT_HAVE_CUDA). Device pointers may have any alignment (8-byte aligned
 * data is read in 8-byte words, other data with two aligned words per lane
 * and a funnel shift); they must stay valid and unchanged until the stream
 * has passed the digest. */
#ifndef RF_DIGEST_CUDA_H
#define RF_DIGEST_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include "digest.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One string to digest: `len` device-readable bytes at `src` (device memory
 * or mapped host memory; NULL only when len is 0), digest to the device u64
 * `out` (8-byte aligned). */
typedef struct {
    const void *src;
    uint64_t len;
    uint64_t *out;
} rf_dgcu_item_t;

/* Items per launch pair; a longer batch is enqueued as several pairs that
 * reuse the same workspace one after the other (stream order). */
#define RF_DGCU_BATCH_MAX 128

/* Workspace for one string of n bytes: 8 * (ceil(n / 65536) + 1). */
size_t rf_dgcu_workspace_bytes(uint64_t n);
/* Workspace for a batch (the largest of its launch pairs) into *bytes.
 * REFIT_ERR_INVALID_ARG as rf_dgcu_digest_batch would return it. */
refit_status rf_dgcu_batch_workspace_bytes(const rf_dgcu_item_t *items, size_t count, size_t *bytes);

/* Enqueues digest(d_src[0..n)) -> *d_out on `stream`. d_ws: device memory of
 * at least rf_dgcu_workspace_bytes(n) bytes, 8-byte aligned, not used by any
 * other work until this digest has run. REFIT_ERR_INVALID_ARG for bad
 * arguments (nothing enqueued), REFIT_ERR_DEVICE when a launch fails. */
refit_status rf_dgcu_digest(const void *d_src, uint64_t n, uint64_t *d_out, void *d_ws, size_t ws_bytes, void *stream);

/* The same for `count` strings at once (a bucket of small params costs two
 * launches, not two per param). The item array is read during the call and
 * may be reused after it returns. Every item is checked before anything is
 * enqueued; an error names the item's index. */
refit_status rf_dgcu_digest_batch(const rf_dgcu_item_t *items, size_t count, void *d_ws, size_t ws_bytes, void *stream);

/* Enqueues *d_out = rf_digest_param(*d_data, *d_scales) (one thread). */
refit_status rf_dgcu_param(const uint64_t *d_data, const uint64_t *d_scales, uint64_t *d_out, void *stream);

/* The tree's leaves only: d_out[i] = H_i = XXH64 of chunk i of the n bytes
 * at d_src, for i < rf_digest_chunk_count(n) (every chunk 64 KiB but the
 * last). For a string that arrives in pieces: its whole chunks hashed where
 * they lie, the top taken later by rf_digest_top (digest.h) on the host
 * (--verify on rank 0: the chunks of each bucket as it lands on the GPU). */
refit_status rf_dgcu_leaves(const void *d_src, uint64_t n, uint64_t *d_out, void *stream);

/* Test hook: *d_out = XXH64(d_src[0..n), seed) computed by the device's own
 * XXH64 (one 4-thread group; slow for large n). Lets a test check it against
 * xxHash's published vectors directly. */
refit_status rf_dgcu_xxh64(const void *d_src, uint64_t n, uint64_t seed, uint64_t *d_out, void *stream);

#ifdef __cplusplus
}
#endif
#endif
