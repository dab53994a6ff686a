/* kernels/digest.c (host digests) against the definition in digest.h.
 *
 *  1. XXH64 (the library the chunk hashes come from) on the published
 *     sanity vectors, and short digests built from those known answers;
 *  2. the pinned digests of tests/ref/digest_ref.py (pure Python, from the
 *     written definition);
 *  3. the tree recomputed here with direct XXH64 calls at the lengths around
 *     chunk boundaries (0, 1, C-1, C, C+1, 2C, many chunks) and rf_digest_top;
 *  4. incremental feeding at random split points (and byte by byte, empty
 *     pieces, reads in the middle) equals one-shot;
 *  5. every byte, the order of chunks and the length change the digest;
 *  6. argument errors. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "digest.h"
#include "digest_vectors.h"
#include "digest_xxh.h"

#define C RF_DIGEST_CHUNK

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t next_rand(void) { /* xorshift64* */
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 0x2545F4914F6CDD1Dull;
}

static uint8_t *random_bytes(size_t n) {
    uint8_t *b = malloc(n ? n : 1);
    if (!b) {
        fprintf(stderr, "test_digest: out of memory (%zu bytes)\n", n);
        exit(1);
    }
    for (size_t i = 0; i < n; i++) b[i] = (uint8_t)(next_rand() >> 56);
    return b;
}

static uint64_t digest_of(const void *p, uint64_t n) {
    uint64_t d = 0;
    refit_status st = rf_digest_host(p, n, &d);
    CHECK(st == REFIT_OK, "rf_digest_host(%" PRIu64 " bytes): %s", n, rf_err_msg());
    return d;
}

static void put_le64(uint8_t *b, uint64_t x) {
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(x >> (8 * i));
}

/* XXH64(le64(a) || le64(b)): the tree's top for one chunk, and param_digest. */
static uint64_t xxh64_pair(uint64_t a, uint64_t b) {
    uint8_t buf[16];
    put_le64(buf, a);
    put_le64(buf + 8, b);
    return XXH64(buf, sizeof buf, 0);
}

static void test_known_answers(void) {
    uint8_t *buf = malloc(RF_REF_MAX_LEN);
    CHECK(buf != NULL);
    if (!buf) return;
    rf_sanity_fill(buf, RF_REF_MAX_LEN);
    for (size_t i = 0; i < sizeof rf_xxh64_vectors / sizeof rf_xxh64_vectors[0]; i++) {
        size_t n = rf_xxh64_vectors[i].len;
        uint64_t want = rf_xxh64_vectors[i].hash;
        uint64_t got = XXH64(buf, n, rf_xxh64_vectors[i].seed);
        CHECK(got == want, "XXH64(%zu bytes, seed %" PRIu64 ") = %016" PRIX64 ", published %016" PRIX64, n,
              rf_xxh64_vectors[i].seed, got, want);
        /* one chunk: digest = XXH64(le64(H_0) || le64(n)), H_0 the published answer */
        if (rf_xxh64_vectors[i].seed == 0 && n > 0)
            CHECK(digest_of(buf, n) == xxh64_pair(want, n), "digest of %zu sanity bytes", n);
    }
    uint8_t zero[8] = {0};
    CHECK(RF_DIGEST_EMPTY == XXH64(zero, 8, 0));
    CHECK(digest_of(NULL, 0) == RF_DIGEST_EMPTY);
    CHECK(digest_of(buf, 0) == RF_DIGEST_EMPTY);
    uint64_t ref[sizeof rf_ref_digests / sizeof rf_ref_digests[0]];
    for (size_t i = 0; i < sizeof rf_ref_digests / sizeof rf_ref_digests[0]; i++) {
        ref[i] = digest_of(buf, rf_ref_digests[i].len);
        CHECK(ref[i] == rf_ref_digests[i].digest,
              "digest of %zu sanity bytes = %016" PRIX64 ", digest_ref.py %016" PRIX64, rf_ref_digests[i].len, ref[i],
              rf_ref_digests[i].digest);
    }
    CHECK(rf_digest_param(ref[7], ref[1]) == RF_REF_PARAM_DIGEST);
    free(buf);
}

/* The definition, spelled out with XXH64 calls over an explicit byte array. */
static uint64_t tree_by_hand(const uint8_t *b, uint64_t n, uint64_t *hashes) {
    uint64_t m = (n + C - 1) / C;
    uint8_t *top = malloc(8 * (m + 1));
    CHECK(top != NULL);
    if (!top) return 0;
    for (uint64_t i = 0; i < m; i++) {
        uint64_t len = n - i * C < C ? n - i * C : C;
        hashes[i] = XXH64(b + i * C, len, 0);
        put_le64(top + 8 * i, hashes[i]);
    }
    put_le64(top + 8 * m, n);
    uint64_t d = XXH64(top, 8 * (m + 1), 0);
    free(top);
    return d;
}

static const uint64_t lengths[] = {
    0, 1, 7, 31, 32, 33, C - 1, C, C + 1, 2 * C - 1, 2 * C, 2 * C + 1, 5 * C + 12345, 67 * C + 3};
#define NLEN (sizeof lengths / sizeof lengths[0])
#define MAXLEN (67 * C + 3)

static void test_tree(const uint8_t *data) {
    uint64_t *hashes = malloc(8 * (MAXLEN / C + 1));
    CHECK(hashes != NULL);
    if (!hashes) return;
    for (size_t k = 0; k < NLEN; k++) {
        uint64_t n = lengths[k], want = tree_by_hand(data, n, hashes);
        CHECK(rf_digest_chunk_count(n) == (n + C - 1) / C, "chunk count of %" PRIu64, n);
        CHECK(digest_of(data, n) == want, "one-shot digest of %" PRIu64 " bytes", n);
        CHECK(rf_digest_top(hashes, n) == want, "rf_digest_top of %" PRIu64 " bytes", n);
        /* the same bytes at an odd address */
        uint8_t *shifted = malloc(n + 3);
        CHECK(shifted != NULL);
        if (!shifted) continue;
        memcpy(shifted + 3, data, n);
        CHECK(digest_of(shifted + 3, n) == want, "digest of %" PRIu64 " bytes at an odd address", n);
        free(shifted);
    }
    CHECK(rf_digest_chunk_count(UINT64_MAX) == UINT64_MAX / C + 1);
    uint64_t a = next_rand(), b = next_rand();
    CHECK(rf_digest_param(a, b) == xxh64_pair(a, b));
    CHECK(rf_digest_param(a, b) != rf_digest_param(b, a));
    free(hashes);
}

/* Feeds data[0..n) in pieces cut at random points (a few empty), reading the
 * value in the middle; returns the final value. */
static uint64_t feed_random(rf_digest_t *d, const uint8_t *data, uint64_t n, uint64_t max_piece) {
    rf_digest_reset(d);
    uint64_t off = 0;
    while (off < n) {
        uint64_t piece = next_rand() % (max_piece + 1);
        if (piece > n - off) piece = n - off;
        CHECK(rf_digest_update(d, data + off, piece) == REFIT_OK);
        off += piece;
        if (next_rand() % 8 == 0) /* a read must not disturb the state */
            CHECK(rf_digest_value(d) == digest_of(data, off), "value after %" PRIu64 " of %" PRIu64 " bytes", off, n);
    }
    CHECK(rf_digest_length(d) == n);
    return rf_digest_value(d);
}

static void test_incremental(const uint8_t *data) {
    rf_digest_t *d = NULL;
    CHECK(rf_digest_new(&d) == REFIT_OK && d);
    if (!d) return;
    CHECK(rf_digest_value(d) == RF_DIGEST_EMPTY && rf_digest_length(d) == 0);
    for (size_t k = 0; k < NLEN; k++) {
        uint64_t n = lengths[k], want = digest_of(data, n);
        for (int rep = 0; rep < 3; rep++) {
            CHECK(feed_random(d, data, n, 257) == want, "small pieces, %" PRIu64 " bytes", n);
            CHECK(feed_random(d, data, n, 3 * C) == want, "bucket-sized pieces, %" PRIu64 " bytes", n);
        }
    }
    /* byte by byte across three chunk boundaries */
    uint64_t n = 3 * C + 5;
    rf_digest_reset(d);
    for (uint64_t i = 0; i < n; i++) CHECK(rf_digest_update(d, data + i, 1) == REFIT_OK);
    CHECK(rf_digest_value(d) == digest_of(data, n), "byte-by-byte feeding");
    /* pieces aligned to chunk boundaries, as full buckets arrive */
    rf_digest_reset(d);
    CHECK(rf_digest_update(d, data, 2 * C) == REFIT_OK && rf_digest_update(d, data + 2 * C, C) == REFIT_OK);
    CHECK(rf_digest_value(d) == digest_of(data, 3 * C));
    rf_digest_free(d);
    rf_digest_free(NULL);
}

/* Any changed byte, swapped chunks, an extra zero byte: a different digest. */
static void test_sensitivity(const uint8_t *data) {
    uint64_t n = 4 * C + 100;
    uint8_t *b = malloc(n + 1);
    CHECK(b != NULL);
    if (!b) return;
    memcpy(b, data, n);
    uint64_t base = digest_of(b, n);
    const uint64_t at[] = {0, 1, C - 1, C, 2 * C + 17, 4 * C, n - 1};
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
        b[at[i]] ^= 0x01;
        CHECK(digest_of(b, n) != base, "bit flip at byte %" PRIu64 " not seen", at[i]);
        b[at[i]] ^= 0x01;
    }
    memcpy(b, data + C, C); /* chunks 0 and 1 swapped */
    memcpy(b + C, data, C);
    CHECK(digest_of(b, n) != base, "swapped chunks not seen");
    memcpy(b, data, n);
    b[n] = 0;
    CHECK(digest_of(b, n + 1) != base, "appended zero byte not seen");
    CHECK(digest_of(b, n) == base);
    free(b);
}

static void test_errors(void) {
    uint64_t out = 7;
    rf_err_clear();
    CHECK(rf_digest_host(NULL, 5, &out) == REFIT_ERR_INVALID_ARG && out == 7);
    CHECK(strstr(rf_err_msg(), "NULL data with 5 bytes") != NULL, "message: %s", rf_err_msg());
    rf_err_clear();
    CHECK(rf_digest_host("x", 1, NULL) == REFIT_ERR_INVALID_ARG);
    CHECK(strstr(rf_err_msg(), "NULL output") != NULL, "message: %s", rf_err_msg());
    rf_digest_t *d = NULL;
    CHECK(rf_digest_new(&d) == REFIT_OK);
    if (!d) return;
    rf_err_clear();
    CHECK(rf_digest_update(d, NULL, 1) == REFIT_ERR_INVALID_ARG && rf_digest_length(d) == 0);
    CHECK(rf_digest_update(d, NULL, 0) == REFIT_OK);
    CHECK(rf_digest_update(d, "abc", 3) == REFIT_OK);
    rf_err_clear();
    CHECK(rf_digest_update(d, "abc", UINT64_MAX) == REFIT_ERR_INVALID_ARG, "2^64 overflow accepted");
    CHECK(strstr(rf_err_msg(), "pass 2^64") != NULL, "message: %s", rf_err_msg());
    CHECK(rf_digest_length(d) == 3 && rf_digest_value(d) == digest_of("abc", 3));
    rf_err_clear();
    rf_digest_free(d);
}

int main(void) {
    uint8_t *data = random_bytes(MAXLEN);
    test_known_answers();
    test_tree(data);
    test_incremental(data);
    test_sensitivity(data);
    test_errors();
    free(data);
    if (failures) {
        fprintf(stderr, "test_digest: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_digest: ok\n");
    return 0;
}
