/* Content digests of parameter bytes ("verify what landed", issue 14 item 5):
 * rank 0 digests every slice it sends, every rank digests what it received
 * and what it committed, and a mismatch fails the reload before the vote.
 * The host computes them here (libxxhash); the GPU computes the same values
 * with its own XXH64 (digest_cuda.h). Both must agree bit for bit.
 *
 * ---- Definition (what any other implementation must reproduce) ---------
 * XXH64(bytes) is xxHash's 64-bit hash (doc/xxhash_spec.md in the xxHash
 * sources) with seed 0; le64(x) is the 8 bytes of x, least significant
 * first; || is concatenation.
 *
 *   digest(B), for a byte string B of n >= 0 bytes:
 *     C   = RF_DIGEST_CHUNK = 65536
 *     m   = ceil(n / C)                                  (0 when n = 0)
 *     H_i = XXH64(B[i*C : min((i+1)*C, n)])              for 0 <= i < m
 *           (every chunk is C bytes except the last, which has 1..C)
 *     digest(B) = XXH64(le64(H_0) || ... || le64(H_{m-1}) || le64(n))
 *
 *   so digest("") = XXH64(le64(0)) = RF_DIGEST_EMPTY. The chunk hashes fix
 *   the content and its order; n is hashed too, so the length counts.
 *
 *   param_digest(D, S) = XXH64(le64(D) || le64(S)), where D is the digest of
 *   a param's data bytes and S the digest of its scale bytes (float32 in
 *   storage order, SPEC §4); a param without scales (bf16, or quantization
 *   off) has S = RF_DIGEST_EMPTY.
 *
 *   In Python (pip package xxhash):
 *     def digest(b):
 *         h = b"".join(struct.pack("<Q", xxhash.xxh64_intdigest(b[i:i + 65536]))
 *                      for i in range(0, len(b), 65536))
 *         return xxhash.xxh64_intdigest(h + struct.pack("<Q", len(b)))
 *
 * ---- Why a tree of 64 KiB chunks ---------------------------------------
 * XXH64 is sequential within its input, so on a GPU the parallelism is the
 * number of chunks, while the top hash over the chunk hashes is serial. A
 * smaller C gives more parallel chunks but a longer top hash (8 bytes per
 * chunk) and vice versa. With 64 KiB, a 112 MiB MLP weight (Llama-3-8B, one
 * GPU) has 1,792 chunks hashed at once and a 14 KiB top hash; a 1 GiB
 * embedding has 16,384 chunks and a 128 KiB top hash (1/8192 of the data).
 * On the host a chunk stays in the L2 cache and one XXH64 call per 64 KiB
 * makes its fixed cost negligible. The chunk boundaries are fixed offsets
 * of the string, so how the bytes were delivered (buckets, segments) never
 * changes the value.
 *
 * Only libc and rf_common.h; no CUDA. Thread-safe: no shared state. */
#ifndef RF_DIGEST_H
#define RF_DIGEST_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "rf_common.h" /* C linkage for its functions when a .cu includes this */

#define RF_DIGEST_CHUNK 65536u
/* digest("") = XXH64 of 8 zero bytes */
#define RF_DIGEST_EMPTY UINT64_C(0x34C96ACDCADB1BBB)

/* m = ceil(n / RF_DIGEST_CHUNK): how many chunk hashes a string of n bytes has. */
uint64_t rf_digest_chunk_count(uint64_t n);

/* digest of the n bytes at p (p may be NULL when n is 0) into *out.
 * REFIT_ERR_INVALID_ARG for NULL data with n > 0 or a NULL out. */
refit_status rf_digest_host(const void *p, uint64_t n, uint64_t *out);

/* The top of the tree: digest of a string of n bytes whose chunk hashes
 * H_0..H_{m-1} (m = rf_digest_chunk_count(n)) are given, e.g. computed by
 * several threads, each XXH64 of its own chunks. */
uint64_t rf_digest_top(const uint64_t *chunk_hashes, uint64_t n);

/* One leaf: XXH64 of n <= RF_DIGEST_CHUNK bytes at p (a chunk that
 * arrived in pieces, gathered by the caller). */
uint64_t rf_digest_leaf(const void *p, uint64_t n);

/* param_digest(data_digest, scale_digest) of the definition above. */
uint64_t rf_digest_param(uint64_t data_digest, uint64_t scale_digest);

/* ---- incremental: a string fed in pieces, in order ---------------------
 * The pieces may have any sizes (bucket segments, single bytes, empty); the
 * value equals rf_digest_host over their concatenation. One digest is used
 * by one thread at a time. */
typedef struct rf_digest rf_digest_t;

/* REFIT_ERR_NOMEM when it cannot be allocated; *out is set only on success. */
refit_status rf_digest_new(rf_digest_t **out);
void rf_digest_free(rf_digest_t *d); /* NULL is fine */
/* Back to the empty string. */
void rf_digest_reset(rf_digest_t *d);
/* Appends n bytes at p. REFIT_ERR_INVALID_ARG for NULL data with n > 0, or
 * when the total length would pass 2^64 - 1 (nothing is appended then). */
refit_status rf_digest_update(rf_digest_t *d, const void *p, uint64_t n);
/* Digest of everything appended so far; d is unchanged and may be fed on. */
uint64_t rf_digest_value(const rf_digest_t *d);
/* Bytes appended so far. */
uint64_t rf_digest_length(const rf_digest_t *d);

#ifdef __cplusplus
}
#endif
#endif
