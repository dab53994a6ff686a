/* Host backend: model memory is RAM, quantization is the C reference
 * (kernels/quant_ref.c), the data plane is MPI (xfer_host.c). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "host.h"

/* Each block carries its size in front so release() can keep the account. */
static refit_status host_alloc(rf_backend_t *b, size_t bytes, void **out) {
    uint64_t *p = calloc(1, bytes + 16);
    if (!p) return rf_error(REFIT_ERR_NOMEM, "host allocation of %zu bytes", bytes);
    p[0] = bytes;
    rf_backend_account(b, bytes, true);
    *out = p + 2;
    return REFIT_OK;
}

static void host_release(rf_backend_t *b, void *ptr) {
    if (!ptr) return;
    uint64_t *p = (uint64_t *)ptr - 2;
    rf_backend_account(b, p[0], false);
    free(p);
}

static refit_status host_copy(rf_backend_t *b, void *dst, const void *src, size_t bytes) {
    (void)b;
    memcpy(dst, src, bytes);
    return REFIT_OK;
}

/* The first NaN/Inf seen in this load (params complete in index order). */
typedef struct {
    size_t bad_param;
    int64_t bad_elem;
    uint16_t bad_bits;
    uint64_t *dig; /* digest() result slots */
    size_t n_dig;
    uint64_t *leaves; /* leaves() slots: rank 0's chunk hashes of its buckets (--verify) */
    size_t n_leaves;
} host_state_t;

/* Records the first NaN/Inf of param's n elements; true when there is one
 * (reported by collect(); the load will not commit). */
static bool host_scan(host_state_t *h, size_t param, const void *x, uint64_t n) {
    int64_t bad = rf_q_find_nonfinite(x, (size_t)n);
    if (bad < 0) return false;
    if (param < h->bad_param) {
        h->bad_param = param;
        h->bad_elem = bad;
        h->bad_bits = ((const uint16_t *)x)[bad];
    }
    return true;
}

static refit_status host_process(rf_backend_t *b, size_t param, rf_qscheme_t s, const void *x, int64_t rows,
                                 int64_t cols, void *out, void *scales) {
    if (host_scan(b->impl, param, x, (uint64_t)rows * (uint64_t)cols) || s == RF_Q_NONE) return REFIT_OK;
    return rf_q_quantize_ref(s, x, rows, cols, "host quantize", out, scales);
}

static refit_status host_process_experts(rf_backend_t *b, size_t param, rf_qscheme_t s, const rf_q_moe_t *m,
                                         const void *x, void *out, void *scales) {
    if (host_scan(b->impl, param, x, rf_q_moe_in_count(m))) return REFIT_OK;
    return rf_q_moe_quantize_ref(s, m, x, "host quantize", out, scales);
}

static refit_status host_collect(rf_backend_t *b, size_t *bad_param, int64_t *bad_elem, uint16_t *bad_bits) {
    host_state_t *h = b->impl;
    *bad_param = h->bad_param;
    *bad_elem = h->bad_elem;
    *bad_bits = h->bad_bits;
    h->bad_param = SIZE_MAX;
    return REFIT_OK;
}

static refit_status host_transfer(rf_backend_t *b, const rf_xfer_t *x, uint64_t *bytes_moved) {
    uint64_t buckets = 2 * x->plan->bucket; /* the data plane's double buffer */
    rf_backend_account(b, buckets, true);
    refit_status st = rf_xfer_host_run(x, bytes_moved);
    rf_backend_account(b, buckets, false);
    return st;
}

static refit_status host_sync(rf_backend_t *b) {
    (void)b;
    return REFIT_OK;
}

static double host_quant_seconds(rf_backend_t *b) {
    (void)b;
    return NAN;
}

static refit_status host_digest(rf_backend_t *b, size_t slot, const void *ptr, uint64_t bytes) {
    host_state_t *h = b->impl;
    if (slot >= h->n_dig) {
        size_t n = slot + 1 > 2 * h->n_dig ? slot + 1 : 2 * h->n_dig;
        uint64_t *grown = realloc(h->dig, n * sizeof *grown);
        if (!grown) return rf_error(REFIT_ERR_NOMEM, "%zu digest slots", n);
        memset(grown + h->n_dig, 0, (n - h->n_dig) * sizeof *grown);
        h->dig = grown;
        h->n_dig = n;
    }
    return rf_digest_host(ptr, bytes, &h->dig[slot]);
}

static refit_status host_digest_collect(rf_backend_t *b, uint64_t *out, size_t n) {
    host_state_t *h = b->impl;
    for (size_t i = 0; i < n; i++) out[i] = i < h->n_dig ? h->dig[i] : 0;
    if (h->dig) memset(h->dig, 0, h->n_dig * sizeof *h->dig);
    return REFIT_OK;
}

/* The same leaves the cuda backend hashes on its GPU, here in place in the
 * host bucket: --verify's rank-0 bookkeeping (coord/verify_leaves.c) is
 * then one code path, and the host tests check it. */
static refit_status host_leaves_begin(rf_backend_t *b, size_t n) {
    host_state_t *h = b->impl;
    if (n > h->n_leaves) {
        uint64_t *grown = realloc(h->leaves, n * sizeof *grown);
        if (!grown) return rf_error(REFIT_ERR_NOMEM, "%zu digest leaves", n);
        h->leaves = grown;
        h->n_leaves = n;
    }
    if (h->leaves) memset(h->leaves, 0, h->n_leaves * sizeof *h->leaves);
    return REFIT_OK;
}

static refit_status host_leaves(rf_backend_t *b, const void *ptr, uint64_t bytes, size_t first) {
    host_state_t *h = b->impl;
    uint64_t m = rf_digest_chunk_count(bytes);
    if (first + m > h->n_leaves)
        return rf_error(REFIT_ERR_INTERNAL, "digest leaves %zu..%zu past the %zu slots of this load", first,
                        first + (size_t)m, h->n_leaves);
    for (uint64_t i = 0; i < m; i++) {
        uint64_t off = i * RF_DIGEST_CHUNK, n = bytes - off < RF_DIGEST_CHUNK ? bytes - off : RF_DIGEST_CHUNK;
        h->leaves[first + i] = rf_digest_leaf((const uint8_t *)ptr + off, n);
    }
    return REFIT_OK;
}

static refit_status host_leaves_collect(rf_backend_t *b, uint64_t *out, size_t n) {
    host_state_t *h = b->impl;
    if (n > h->n_leaves) return rf_error(REFIT_ERR_INTERNAL, "digest leaves: %zu asked, %zu held", n, h->n_leaves);
    if (n) memcpy(out, h->leaves, n * sizeof *out);
    return REFIT_OK;
}

static void host_destroy(rf_backend_t *b) {
    if (b->impl) free(((host_state_t *)b->impl)->leaves);
    if (b->impl) free(((host_state_t *)b->impl)->dig);
    free(b->impl);
    free(b);
}

static const rf_backend_ops_t host_ops = {
    .name = "host", .alloc = host_alloc, .release = host_release, .copy = host_copy, .to_host = host_copy,
    .process = host_process, .process_experts = host_process_experts, .collect = host_collect, .transfer = host_transfer, .sync = host_sync,
    .quant_seconds = host_quant_seconds, .digest = host_digest, .digest_collect = host_digest_collect,
    .leaves_begin = host_leaves_begin, .leaves = host_leaves, .leaves_collect = host_leaves_collect,
    .destroy = host_destroy, .abort = NULL, .bind_align = 16, .check_ptr = NULL, .fence = NULL};

refit_status rf_backend_host_create(rf_backend_t **out) {
    rf_backend_t *b = calloc(1, sizeof *b);
    host_state_t *h = calloc(1, sizeof *h);
    if (!b || !h) {
        free(b);
        free(h);
        return rf_error(REFIT_ERR_NOMEM, "host backend");
    }
    h->bad_param = SIZE_MAX;
    *b = (rf_backend_t){.ops = &host_ops, .impl = h};
    *out = b;
    return REFIT_OK;
}
