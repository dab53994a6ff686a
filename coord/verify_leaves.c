/* --verify on a backend that hashes on its own memory (cuda): rank 0's
 * expected digests without hashing every byte on the host.
 *
 * Each bucket's bytes land on rank 0's GPU anyway (host-to-device, before
 * NCCL sends them). The digest tree (kernels/digest.h) has fixed 64 KiB
 * chunks per slice, so a bucket segment's WHOLE chunks are hashed on the
 * GPU where they lie (backend leaves(), one launch per segment, ordered
 * behind the bucket's copy), and only the chunks that a bucket boundary
 * cuts — at most two per segment, under 128 KiB — are gathered and hashed
 * on the host, from the packed host bucket, in stream order. After R3 the
 * leaves come back in one copy (8 bytes per 64 KiB: 2 MB for 16 GB) and
 * each slice's digest is its top hash over its leaves (rf_digest_top). The
 * values are the definition's, whoever hashed which chunk. */
#include <stdlib.h>
#include <string.h>

#include "ctx_internal.h"
#include "verify.h"

#define C RF_DIGEST_CHUNK

/* How a segment [off, off + len) of a slice of S bytes splits at chunk
 * boundaries: `head` bytes finishing a chunk an earlier segment began,
 * `whole` bytes of whole chunks (the slice's short last chunk counts as
 * whole when the segment reaches the end), `tail` bytes beginning a chunk
 * the next segment finishes. */
typedef struct {
    uint64_t head, whole, tail;
} split_t;

static split_t split(uint64_t off, uint64_t len, uint64_t S) {
    uint64_t end = off + len, head = 0;
    if (off % C) head = C - off % C < len ? C - off % C : len;
    uint64_t ws = off + head, we = end == S ? end : end - end % C;
    if (we < ws) we = ws;
    return (split_t){head, we - ws, end - we};
}

static size_t leaf_of(const rf_verify_t *v, int group, size_t param, uint64_t off) {
    return (size_t)v->leaf_off[(size_t)group * v->n + param] + (size_t)(off / C);
}

refit_status rf_verify_leaves_begin(refit_ctx *ctx) {
    rf_verify_t *v = ctx->verify;
    free(v->leaf_off);
    if (!(v->leaf_off = malloc((v->n * (size_t)v->tp + 1) * sizeof *v->leaf_off)))
        return rf_error(REFIT_ERR_NOMEM, "verify: leaf table for %zu params", v->n);
    uint64_t at = 0;
    for (int g = 0; g < v->tp; g++)
        for (size_t i = 0; i < v->n; i++) {
            v->leaf_off[(size_t)g * v->n + i] = at;
            at += rf_digest_chunk_count(rf_plan_param_bytes(&ctx->plan, g, i));
        }
    v->leaf_off[v->n * (size_t)v->tp] = at;
    v->n_leaves = (size_t)at;
    v->n_partial = 0;
    if (!v->carry && !(v->carry = calloc((size_t)v->tp, sizeof *v->carry)))
        return rf_error(REFIT_ERR_NOMEM, "verify: chunk buffers");
    for (int g = 0; g < v->tp; g++)
        if (!v->carry[g].buf && !(v->carry[g].buf = malloc(C)))
            return rf_error(REFIT_ERR_NOMEM, "verify: a %u-byte chunk buffer", C);
    return ctx->be->ops->leaves_begin(ctx->be, v->n_leaves);
}

static refit_status push_partial(rf_verify_t *v, size_t leaf, uint64_t hash) {
    if (v->n_partial == v->cap_partial) {
        size_t cap = v->cap_partial ? 2 * v->cap_partial : 1024;
        void *p = realloc(v->partial, cap * sizeof *v->partial);
        if (!p) return rf_error(REFIT_ERR_NOMEM, "verify: %zu partial chunks", cap);
        v->partial = p;
        v->cap_partial = cap;
    }
    v->partial[v->n_partial++] = (rf_leaf_t){leaf, hash};
    return REFIT_OK;
}

/* Bytes [off, off + n) of param i's slice (S bytes) into group g's open
 * chunk; a chunk complete at a boundary or at the slice's end is hashed. */
static refit_status carry(rf_verify_t *v, int g, size_t i, uint64_t S, uint64_t off, const uint8_t *p, uint64_t n) {
    struct rf_carry *c = &v->carry[g];
    if (off % C == 0) { /* a chunk begins here */
        c->param = i;
        c->start = off;
        c->fill = 0;
    } else if (c->param != i || c->start + c->fill != off) {
        return rf_error(REFIT_ERR_INTERNAL, "verify: group %d's stream continues param %zu at byte %llu, not the chunk"
                        " it began", g, i, (unsigned long long)off);
    }
    memcpy(c->buf + c->fill, p, (size_t)n);
    c->fill += n;
    if (c->fill == C || c->start + c->fill == S) return push_partial(v, leaf_of(v, g, i, c->start), rf_digest_leaf(c->buf, c->fill));
    return REFIT_OK;
}

void rf_verify_leaves_packed(refit_ctx *ctx, int group, size_t k, const uint8_t *bucket) {
    rf_verify_t *v = ctx->verify;
    rf_plan_iter_t it;
    rf_seg_t seg;
    for (rf_plan_iter_init(&ctx->plan, group, k, 0, UINT64_MAX, &it); rf_plan_iter_next(&ctx->plan, &it, &seg);) {
        uint64_t S = rf_plan_param_bytes(&ctx->plan, group, seg.param);
        split_t s = split(seg.param_off, seg.len, S);
        const uint8_t *p = bucket + seg.bucket_off;
        refit_status st = REFIT_OK;
        if (s.head) st = carry(v, group, seg.param, S, seg.param_off, p, s.head);
        if (st == REFIT_OK && s.tail)
            st = carry(v, group, seg.param, S, seg.param_off + seg.len - s.tail, p + seg.len - s.tail, s.tail);
        if (st != REFIT_OK && v->failed == REFIT_OK) v->failed = st;
    }
}

void rf_verify_landed(void *user, int group, size_t k, const void *dev_bucket) {
    refit_ctx *ctx = user;
    rf_verify_t *v = ctx->verify;
    double t0 = rf_now();
    rf_plan_iter_t it;
    rf_seg_t seg;
    for (rf_plan_iter_init(&ctx->plan, group, k, 0, UINT64_MAX, &it); rf_plan_iter_next(&ctx->plan, &it, &seg);) {
        split_t s = split(seg.param_off, seg.len, rf_plan_param_bytes(&ctx->plan, group, seg.param));
        if (!s.whole) continue;
        const uint8_t *p = (const uint8_t *)dev_bucket + seg.bucket_off + s.head;
        refit_status st = ctx->be->ops->leaves(ctx->be, p, s.whole, leaf_of(v, group, seg.param, seg.param_off + s.head));
        if (st != REFIT_OK && v->failed == REFIT_OK) v->failed = st;
    }
    v->seconds += rf_now() - t0;
}

refit_status rf_verify_leaves_finish(refit_ctx *ctx) {
    rf_verify_t *v = ctx->verify;
    void *p = realloc(v->leaves, (v->n_leaves + 1) * sizeof *v->leaves);
    if (!p) return rf_error(REFIT_ERR_NOMEM, "verify: %zu leaves", v->n_leaves);
    v->leaves = p;
    RF_CHECK(ctx->be->ops->leaves_collect(ctx->be, v->leaves, v->n_leaves));
    for (size_t j = 0; j < v->n_partial; j++) v->leaves[v->partial[j].leaf] = v->partial[j].hash;
    for (int g = 0; g < v->tp; g++)
        for (size_t i = 0; i < v->n; i++)
            v->expected[(size_t)g * v->n + i] =
                rf_digest_top(v->leaves + v->leaf_off[(size_t)g * v->n + i], rf_plan_param_bytes(&ctx->plan, g, i));
    return REFIT_OK;
}

void rf_verify_leaves_free(rf_verify_t *v) {
    for (int g = 0; v->carry && g < v->tp; g++) free(v->carry[g].buf);
    free(v->carry);
    free(v->leaf_off);
    free(v->leaves);
    free(v->partial);
}
