/* Host digests (digest.h) with xxHash's own XXH64: one call per full chunk,
 * a streaming XXH64 state for a chunk that arrives in pieces, and another
 * for the top hash, so no chunk-hash array is ever held. */
#include "digest.h"

#include <inttypes.h>
#include <stdlib.h>

#include "digest_xxh.h"

struct rf_digest {
    XXH64_state_t top;   /* le64(H_0) .. le64(H_k) of the finished chunks */
    XXH64_state_t chunk; /* the bytes of the unfinished chunk: total % C of them */
    uint64_t total;      /* bytes appended */
};

static void put_le64(uint8_t b[8], uint64_t x) {
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(x >> (8 * i));
}

/* Appends le64(x) to a streaming XXH64. */
static void update_le64(XXH64_state_t *s, uint64_t x) {
    uint8_t b[8];
    put_le64(b, x);
    (void)XXH64_update(s, b, sizeof b);
}

uint64_t rf_digest_chunk_count(uint64_t n) { return n / RF_DIGEST_CHUNK + (n % RF_DIGEST_CHUNK != 0); }

void rf_digest_reset(rf_digest_t *d) {
    (void)XXH64_reset(&d->top, 0);
    (void)XXH64_reset(&d->chunk, 0);
    d->total = 0;
}

refit_status rf_digest_new(rf_digest_t **out) {
    rf_digest_t *d = malloc(sizeof *d);
    if (!d) return rf_error(REFIT_ERR_NOMEM, "digest: cannot allocate a digest state (%zu bytes)", sizeof *d);
    rf_digest_reset(d);
    *out = d;
    return REFIT_OK;
}

void rf_digest_free(rf_digest_t *d) { free(d); }

uint64_t rf_digest_length(const rf_digest_t *d) { return d->total; }

refit_status rf_digest_update(rf_digest_t *d, const void *p, uint64_t n) {
    uint64_t end;
    if (!p && n) return rf_error(REFIT_ERR_INVALID_ARG, "digest: NULL data with %" PRIu64 " bytes", n);
    if (!rf_add_u64(d->total, n, &end))
        return rf_error(REFIT_ERR_INVALID_ARG, "digest: %" PRIu64 " bytes after %" PRIu64 " pass 2^64 - 1", n,
                        d->total);
    const uint8_t *b = p;
    while (n) {
        uint64_t filled = d->total % RF_DIGEST_CHUNK, take = RF_DIGEST_CHUNK - filled;
        if (take > n) take = n;
        if (take == RF_DIGEST_CHUNK) { /* a whole chunk in this piece: one call */
            update_le64(&d->top, XXH64(b, RF_DIGEST_CHUNK, 0));
        } else {
            (void)XXH64_update(&d->chunk, b, (size_t)take);
            if (filled + take == RF_DIGEST_CHUNK) {
                update_le64(&d->top, XXH64_digest(&d->chunk));
                (void)XXH64_reset(&d->chunk, 0);
            }
        }
        d->total += take;
        b += take;
        n -= take;
    }
    return REFIT_OK;
}

uint64_t rf_digest_value(const rf_digest_t *d) {
    XXH64_state_t top;
    XXH64_copyState(&top, &d->top);
    if (d->total % RF_DIGEST_CHUNK) update_le64(&top, XXH64_digest(&d->chunk)); /* the short last chunk */
    update_le64(&top, d->total);
    return XXH64_digest(&top);
}

refit_status rf_digest_host(const void *p, uint64_t n, uint64_t *out) {
    if (!out) return rf_error(REFIT_ERR_INVALID_ARG, "digest: NULL output for %" PRIu64 " bytes", n);
    rf_digest_t d;
    rf_digest_reset(&d);
    RF_CHECK(rf_digest_update(&d, p, n));
    *out = rf_digest_value(&d);
    return REFIT_OK;
}

uint64_t rf_digest_top(const uint64_t *chunk_hashes, uint64_t n) {
    XXH64_state_t top;
    (void)XXH64_reset(&top, 0);
    for (uint64_t i = 0, m = rf_digest_chunk_count(n); i < m; i++) update_le64(&top, chunk_hashes[i]);
    update_le64(&top, n);
    return XXH64_digest(&top);
}

uint64_t rf_digest_leaf(const void *p, uint64_t n) { return XXH64(p, (size_t)n, 0); }

uint64_t rf_digest_param(uint64_t data_digest, uint64_t scale_digest) {
    uint8_t b[16];
    put_le64(b, data_digest);
    put_le64(b + 8, scale_digest);
    return XXH64(b, sizeof b, 0);
}
