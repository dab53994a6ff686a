/* --verify (issue 14, item 5): what landed is what rank 0 sent. Rank 0
 * digests every param's slice for every tp rank from the buckets it
 * sends (verify_leaves.c: whole 64 KiB chunks hashed by the backend where
 * each bucket lands, the chunks a bucket boundary cuts on the host, in
 * stream order), every rank digests the bf16
 * slice it received as it lands (the backend's digest(): libxxhash on the
 * host, the XXH64-tree kernels on the GPU, same definition: digest.h), and
 * after R3 rank 0 broadcasts the expected digests; a mismatch fails the
 * reload before the vote, naming the param and the rank. */
#ifndef RF_VERIFY_H
#define RF_VERIFY_H

#include "digest.h"
#include "rf_common.h"

typedef struct refit_ctx refit_ctx;

typedef struct rf_verify {
    size_t n;           /* params */
    int tp;
    uint64_t *expected; /* [tp * n]: rank 0's digest of param i's slice for tp rank g at [g * n + i] */
    uint64_t *got;      /* [n]: this rank's digest of what it received */
    refit_status failed;
    double seconds;     /* this load's verify time on this rank (digests and the comparison) */
    /* rank 0 (verify_leaves.c): whole chunks hashed by the backend's
     * leaves(), cut chunks on the host */
    uint64_t *leaf_off;  /* [tp * n + 1]: first leaf slot of (group g, param i) at [g * n + i] */
    size_t n_leaves;
    uint64_t *leaves;    /* [n_leaves] at finish */
    struct rf_carry {    /* per group: the chunk a bucket boundary cut, gathered */
        uint8_t *buf;    /* RF_DIGEST_CHUNK bytes */
        uint64_t start, fill;
        size_t param;
    } *carry;
    struct rf_leaf {
        size_t leaf;
        uint64_t hash;
    } *partial;          /* the cut chunks' hashes, host side */
    size_t n_partial, cap_partial;
} rf_verify_t;
typedef struct rf_leaf rf_leaf_t;

/* Before R3 of a load with --verify: fresh tables for the snapshot's params. */
refit_status rf_verify_begin(refit_ctx *ctx);
/* rf_xfer_t.packed: rank 0 gathers the cut chunks of packed bucket k of `group`. */
void rf_verify_packed(void *user, int group, size_t k, const uint8_t *bucket);
/* After R3 on every rank (a collective: rank 0's broadcast of the expected
 * digests): compares; REFIT_ERR_MISMATCH naming the first param whose
 * received slice differs. */
refit_status rf_verify_finish(refit_ctx *ctx);
void rf_verify_free(rf_verify_t *v);
/* verify_leaves.c: rank 0's side. */
refit_status rf_verify_leaves_begin(refit_ctx *ctx);
void rf_verify_leaves_packed(refit_ctx *ctx, int group, size_t k, const uint8_t *bucket);
/* rf_xfer_t.landed */
void rf_verify_landed(void *user, int group, size_t k, const void *dev_bucket);
refit_status rf_verify_leaves_finish(refit_ctx *ctx);
void rf_verify_leaves_free(rf_verify_t *v);
/* At create, collective: REFIT_ERR_INVALID_ARG when ranks differ in --verify. */
refit_status rf_verify_agree(refit_ctx *ctx);

#endif
