/* The GPU digests (kernels/digest_cuda.cu) against the host ones
 * (kernels/digest.c, libxxhash) and against known answers.
 *
 *  1. the device XXH64 on xxHash's published vectors, at every alignment;
 *  2. the pinned digests of tests/ref/digest_ref.py;
 *  3. device == host over random buffers: every length 0..300, lengths
 *     around chunk and batch boundaries, random lengths, each at several
 *     byte offsets (unaligned), and one 300 MiB buffer;
 *  4. batches: 333 strings (several launch pairs) of random lengths and
 *     offsets, empty ones and repeats among them; one batch of only empty
 *     strings;
 *  5. the param combine; a one-byte change seen; the workspace reused by
 *     consecutive digests on one stream;
 *  6. argument errors, with nothing written.
 * Prints a line per part. Exit 0 pass, 1 fail, 77 skip (no GPU). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "digest_vectors.h"
#ifdef REFIT_HAVE_CUDA
#include "check.h"
#include "cuda_device.h"
#include "digest_cuda.h"
#include "quant_cuda.h"
#endif

#ifndef REFIT_HAVE_CUDA
int main(void) {
    printf("SKIP: no GPU (built without the CUDA backend)\n");
    return 77;
}
#else

#define C RF_DIGEST_CHUNK

static int cases;

/* Counts a case; a failure is reported and counted by CHECK (check.h). */
#define EXPECT(cond, ...)                                                                                              \
    do {                                                                                                               \
        cases++;                                                                                                       \
        CHECK(cond, __VA_ARGS__);                                                                                      \
    } while (0)

/* A CUDA helper failed: the GPU is unusable for the rest of the run. */
static void dev_ok(refit_status st, const char *call, int line) {
    if (st == REFIT_OK) return;
    printf("FAIL line %d: %s: %s (%s)\n", line, call, refit_status_str(st), rf_err_msg());
    exit(1);
}
#define DEV(call) dev_ok((call), #call, __LINE__)

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    dev_ok(p ? REFIT_OK : REFIT_ERR_NOMEM, "malloc", __LINE__);
    return p;
}

static uint64_t rng = 0xD1B54A32D192ED03ull;
static uint64_t next_rand(void) { /* xorshift64* */
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 0x2545F4914F6CDD1Dull;
}

/* Device scratch shared by the tests: data, workspace, outputs. */
typedef struct {
    uint8_t *data; /* DATA_BYTES, a copy of host */
    uint8_t *host;
    void *ws;
    size_t ws_bytes;
    uint64_t *out; /* OUT_WORDS */
} gpu_t;
#define DATA_BYTES ((size_t)300 << 20)
#define OUT_WORDS 1024

static uint64_t host_digest(const void *p, uint64_t n) {
    uint64_t d = 0;
    DEV(rf_digest_host(p, n, &d));
    return d;
}

static uint64_t read_u64(const uint64_t *d) {
    uint64_t v;
    DEV(rf_dev_memcpy(&v, d, sizeof v));
    return v;
}

/* Device digest of g->data[off .. off + n). */
static uint64_t dev_digest(gpu_t *g, size_t off, uint64_t n) {
    DEV(rf_dev_memset(g->out, 0xA5, 8));
    DEV(rf_dgcu_digest(g->data + off, n, g->out, g->ws, g->ws_bytes, NULL));
    return read_u64(g->out);
}

static void check_same(gpu_t *g, size_t off, uint64_t n) {
    uint64_t want = host_digest(g->host + off, n), got = dev_digest(g, off, n);
    EXPECT(got == want, "digest of %" PRIu64 " bytes at offset %zu: device %016" PRIX64 ", host %016" PRIX64, n, off,
           got, want);
}

static void test_xxh64_vectors(gpu_t *g) {
    uint8_t *buf = xmalloc(RF_REF_MAX_LEN);
    rf_sanity_fill(buf, RF_REF_MAX_LEN);
    for (size_t shift = 0; shift < 8; shift++) {
        DEV(rf_dev_memcpy(g->data + shift, buf, RF_REF_MAX_LEN));
        for (size_t i = 0; i < sizeof rf_xxh64_vectors / sizeof rf_xxh64_vectors[0]; i++) {
            DEV(rf_dgcu_xxh64(g->data + shift, rf_xxh64_vectors[i].len, rf_xxh64_vectors[i].seed, g->out, NULL));
            uint64_t got = read_u64(g->out);
            EXPECT(got == rf_xxh64_vectors[i].hash,
                   "device XXH64(%zu bytes at +%zu, seed %" PRIu64 ") = %016" PRIX64 ", published %016" PRIX64,
                   rf_xxh64_vectors[i].len, shift, rf_xxh64_vectors[i].seed, got, rf_xxh64_vectors[i].hash);
        }
        for (size_t i = 0; i < sizeof rf_ref_digests / sizeof rf_ref_digests[0]; i++) {
            uint64_t got = dev_digest(g, shift, rf_ref_digests[i].len);
            EXPECT(got == rf_ref_digests[i].digest,
                   "device digest of %zu sanity bytes at +%zu = %016" PRIX64 ", digest_ref.py %016" PRIX64,
                   rf_ref_digests[i].len, shift, got, rf_ref_digests[i].digest);
        }
    }
    free(buf);
    DEV(rf_dev_memcpy(g->data, g->host, DATA_BYTES)); /* back to the random data */
    printf("xxh64 vectors and reference digests at offsets 0..7: done\n");
}

static void test_lengths(gpu_t *g) {
    for (uint64_t n = 0; n <= 300; n++) check_same(g, n % 8, n);
    /* around chunk boundaries and the 16- and 32-stripe prefetch distances of a lane */
    const uint64_t around[] = {C, 2 * C, 3 * C, 16 * 32, 17 * 32, 32 * 32, 33 * 32 + 5, C / 2, 100 * C};
    for (size_t i = 0; i < sizeof around / sizeof around[0]; i++)
        for (int64_t d = -33; d <= 33; d += (d > -2 && d < 2) ? 1 : 16)
            for (size_t off = 0; off < 8; off += 3) check_same(g, off, around[i] + d);
    for (int i = 0; i < 200; i++) {
        uint64_t n = next_rand() % (8 * C), off = next_rand() % 64;
        check_same(g, off, n);
    }
    check_same(g, 0, DATA_BYTES);
    check_same(g, 5, DATA_BYTES - 5);
    printf("device == host over lengths 0..%zu at offsets 0..63: done (%d checks so far)\n", DATA_BYTES, cases);
}

/* rf_dgcu_leaves: the chunk hashes of a string, each equal to the host's
 * XXH64 of that chunk, and their top equal to the whole digest (what
 * --verify's rank 0 relies on: coord/verify_leaves.c). */
static void test_leaves(gpu_t *g) {
    const uint64_t lens[] = {1, 31, C - 1, C, C + 1, 5 * C + 77, (OUT_WORDS - 1) * C};
    uint64_t *h = xmalloc(OUT_WORDS * 8);
    for (size_t t = 0; t < sizeof lens / sizeof lens[0]; t++)
        for (size_t off = 0; off < 8; off += 5) {
            uint64_t n = lens[t], m = rf_digest_chunk_count(n);
            DEV(rf_dgcu_leaves(g->data + off, n, g->out, NULL));
            DEV(rf_dev_memcpy(h, g->out, m * 8));
            for (uint64_t i = 0; i < m; i++) {
                uint64_t len = n - i * C < C ? n - i * C : C;
                uint64_t want = rf_digest_leaf(g->host + off + i * C, len);
                EXPECT(h[i] == want, "leaf %" PRIu64 " of %" PRIu64 " bytes at +%zu: device %016" PRIX64
                       ", host %016" PRIX64, i, n, off, h[i], want);
            }
            uint64_t top = rf_digest_top(h, n), want = host_digest(g->host + off, n);
            EXPECT(top == want, "top of %" PRIu64 " device leaves at +%zu: %016" PRIX64 ", digest %016" PRIX64, n, off,
                   top, want);
        }
    free(h);
    printf("leaves == host chunk hashes, their top == the digest: done (%d checks so far)\n", cases);
}

/* One batch of `count` strings at random offsets; outputs in g->out. */
static void check_batch(gpu_t *g, size_t count, uint64_t max_len, int empty_every) {
    rf_dgcu_item_t *items = xmalloc(count * sizeof *items);
    for (size_t i = 0; i < count; i++) {
        uint64_t n = (empty_every && i % empty_every == 0) ? 0 : next_rand() % (max_len + 1);
        size_t off = next_rand() % (DATA_BYTES - n + 1);
        if (i % 17 == 5 && i) /* a repeat of an earlier string */
            items[i] = items[i - 1];
        else
            items[i] = (rf_dgcu_item_t){n ? g->data + off : NULL, n, NULL};
        items[i].out = g->out + i;
    }
    size_t need = 0;
    DEV(rf_dgcu_batch_workspace_bytes(items, count, &need));
    EXPECT(need <= g->ws_bytes, "batch workspace %zu bytes, more than the %zu allocated", need, g->ws_bytes);
    DEV(rf_dev_memset(g->out, 0xA5, count * 8));
    DEV(rf_dgcu_digest_batch(items, count, g->ws, g->ws_bytes, NULL));
    uint64_t *got = xmalloc(count * 8);
    DEV(rf_dev_memcpy(got, g->out, count * 8));
    for (size_t i = 0; i < count; i++) {
        const uint8_t *src = items[i].src ? g->host + ((const uint8_t *)items[i].src - g->data) : NULL;
        uint64_t want = host_digest(src, items[i].len);
        EXPECT(got[i] == want, "batch of %zu, item %zu (%" PRIu64 " bytes): device %016" PRIX64 ", host %016" PRIX64,
               count, i, items[i].len, got[i], want);
    }
    free(got);
    free(items);
}

static void test_batches(gpu_t *g) {
    check_batch(g, 1, 3 * C, 0);
    check_batch(g, 333, 3 * C, 7);             /* 3 launch pairs */
    check_batch(g, RF_DGCU_BATCH_MAX, 200, 3); /* small strings only */
    check_batch(g, 130, 40 * C, 0);
    check_batch(g, 50, 0, 0); /* all empty */
    printf("batches: done\n");
}

static void test_param_change_reuse(gpu_t *g) {
    uint64_t d = host_digest(g->host, 1000), s = host_digest(g->host + 5000, 77);
    uint64_t words[2] = {d, s};
    DEV(rf_dev_memcpy(g->out, words, sizeof words));
    DEV(rf_dgcu_param(g->out, g->out + 1, g->out + 2, NULL));
    EXPECT(read_u64(g->out + 2) == rf_digest_param(d, s), "device param digest differs from rf_digest_param");
    /* one byte changed on the device */
    uint64_t n = 5 * C + 3, before = dev_digest(g, 1, n);
    DEV(rf_dev_memset(g->data + 1 + 3 * C + 11, g->host[1 + 3 * C + 11] ^ 0x40, 1));
    uint64_t after = dev_digest(g, 1, n);
    EXPECT(after != before, "a changed byte did not change the device digest");
    DEV(rf_dev_memset(g->data + 1 + 3 * C + 11, g->host[1 + 3 * C + 11], 1));
    /* consecutive digests reusing one workspace on one stream, read at the end */
    const uint64_t lens[4] = {7 * C + 1, 3, 0, 2 * C};
    for (int i = 0; i < 4; i++) DEV(rf_dgcu_digest(g->data + 8 * i, lens[i], g->out + i, g->ws, g->ws_bytes, NULL));
    uint64_t got[4];
    DEV(rf_dev_memcpy(got, g->out, sizeof got));
    for (int i = 0; i < 4; i++) {
        EXPECT(got[i] == host_digest(g->host + 8 * i, lens[i]), "queued digest %d of 4 differs from the host", i);
    }
    printf("param combine, changed byte, queued digests: done\n");
}

static void expect_invalid(refit_status st, const char *what, const char *needle) {
    EXPECT(st == REFIT_ERR_INVALID_ARG && strstr(rf_err_msg(), needle),
           "%s: %s, \"%s\" (wanted invalid-arg with \"%s\")", what, refit_status_str(st), rf_err_msg(), needle);
    rf_err_clear();
}

static void test_errors(gpu_t *g) {
    rf_err_clear();
    DEV(rf_dev_memset(g->out, 0, 16));
    expect_invalid(rf_dgcu_digest(g->data, 1000, g->out, g->ws, 8, NULL), "small workspace", "needs 16 bytes");
    expect_invalid(rf_dgcu_digest(g->data, 1, g->out, (uint8_t *)g->ws + 4, 64, NULL), "misaligned workspace",
                   "8-byte aligned");
    expect_invalid(rf_dgcu_digest(NULL, 10, g->out, g->ws, g->ws_bytes, NULL), "NULL source", "item 0: NULL source");
    expect_invalid(rf_dgcu_digest(g->data, 10, (uint64_t *)((uint8_t *)g->out + 1), g->ws, g->ws_bytes, NULL),
                   "misaligned output", "item 0: output");
    rf_dgcu_item_t items[3] = {{g->data, 5, g->out}, {g->data, 5, g->out + 1}, {g->data, 5, NULL}};
    expect_invalid(rf_dgcu_digest_batch(items, 3, g->ws, g->ws_bytes, NULL), "NULL output in a batch", "item 2");
    expect_invalid(rf_dgcu_param(g->out, g->out + 1, NULL, NULL), "param without output", "param digest");
    expect_invalid(rf_dgcu_xxh64(NULL, 3, 0, g->out, NULL), "xxh64 NULL source", "xxh64");
    uint64_t after[2];
    DEV(rf_dev_memcpy(after, g->out, sizeof after));
    EXPECT(!after[0] && !after[1], "a rejected call wrote its output");
    EXPECT(rf_dgcu_digest_batch(NULL, 0, NULL, 0, NULL) == REFIT_OK, "an empty batch is not a no-op");
    printf("argument errors: done\n");
}

int main(void) {
    if (rf_dev_count() == 0) {
        printf("SKIP: no GPU (no usable CUDA device)\n");
        return 77;
    }
    char desc[256];
    DEV(rf_dev_desc(desc, sizeof desc));
    printf("test_digest_cuda on %s\n", desc);
    gpu_t g = {0};
    g.host = xmalloc(DATA_BYTES);
    for (size_t i = 0; i < DATA_BYTES; i += 8) {
        uint64_t r = next_rand();
        memcpy(g.host + i, &r, 8);
    }
    g.ws_bytes = rf_dgcu_workspace_bytes(DATA_BYTES) + 2 * RF_DGCU_BATCH_MAX * 8 * 41;
    DEV(rf_dev_malloc(DATA_BYTES, (void **)&g.data));
    DEV(rf_dev_malloc(g.ws_bytes, &g.ws));
    DEV(rf_dev_malloc(OUT_WORDS * 8, (void **)&g.out));
    DEV(rf_dev_memcpy(g.data, g.host, DATA_BYTES));
    test_xxh64_vectors(&g);
    test_lengths(&g);
    test_batches(&g);
    test_param_change_reuse(&g);
    test_leaves(&g);
    test_errors(&g);
    DEV(rf_dev_sync(NULL));
    rf_dev_free(g.data);
    rf_dev_free(g.ws);
    rf_dev_free(g.out);
    free(g.host);
    printf("test_digest_cuda: %d cases, %d failures\n", cases, failures);
    return failures != 0;
}
#endif
