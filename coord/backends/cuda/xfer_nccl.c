/* NCCL data plane (R3 on the cuda backend).
 *
 * Rank 0 walks the items (bucket k, slice group g) of the plan in order:
 * packs the item from the mapped checkpoint into a pinned bucket (several
 * threads), copies it to a device bucket (s_h2d), sends it with grouped
 * ncclSend to the ranks of group g, the replicas of tp rank g (s_nccl) — or,
 * with --transfer bcast, ncclBroadcast to every rank, which keeps only its
 * own group's items — and
 * when g == 0 unpacks it into its own params (s_comp). A receiver posts
 * ncclRecv for the items of its own group only, so each rank receives just
 * its slices. Events chain the three streams; a ring of RF_CUDA_RING
 * buckets keeps packing, the host-to-device copy, NCCL and quantization of
 * consecutive items overlapping. The only host waits are rank 0 reusing a
 * pinned bucket and the final collect.
 *
 * Bytes: rank 0 counts each item once, as it crosses host to device (what
 * its transfer moves, whatever the number of receivers; np 1 included), a
 * receiver each item it keeps. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend_cuda.h"
#include "pack_device.h"
#include "rf_settings.h"

/* REFIT_PACK_THREADS, or 0: one per online CPU, at most 32. */
static refit_status pack_threads(int *out) {
    long n = 0;
    RF_CHECK(rf_setting_int(RF_SET_PACK_THREADS, &n));
    if (n == 0) {
        n = sysconf(_SC_NPROCESSORS_ONLN);
        n = n > 32 ? 32 : (n < 1 ? 1 : n);
    }
    *out = (int)n;
    return REFIT_OK;
}

refit_status rf_nccl_init(rf_cuda_t *c) {
    ncclUniqueId id;
    int rank = rf_comm_rank(c->comm), world = rf_comm_world(c->comm);
    if (rank == 0) NCCL_CHECK(ncclGetUniqueId(&id), "ncclGetUniqueId");
    RF_CHECK(rf_comm_bcast(c->comm, &id, sizeof id));
    NCCL_CHECK(ncclCommInitRank(&c->nccl, world, id, rank), "ncclCommInitRank");
    for (int i = 0; i < RF_CUDA_RING; i++) {
        CUDA_CHECK(cudaEventCreateWithFlags(&c->ev_h2d[i], cudaEventDisableTiming), "event");
        CUDA_CHECK(cudaEventCreateWithFlags(&c->ev_sent[i], cudaEventDisableTiming), "event");
        CUDA_CHECK(cudaEventCreateWithFlags(&c->ev_free[i], cudaEventDisableTiming), "event");
    }
    int threads = 1;
    if (rank == 0) RF_CHECK(pack_threads(&threads));
    if (rank == 0) RF_CHECK(rf_pack_pool_create(threads, true, &c->pool));
    return REFIT_OK;
}

/* Teardown calls: an error is an earlier kernel's (already reported, or
 * moot once the memory is gone); cleared so the next call starts clean. */
static void quiet(cudaError_t e) {
    if (e != cudaSuccess) (void)cudaGetLastError();
}

static void free_ring(rf_cuda_t *c) {
    for (int i = 0; i < RF_CUDA_RING; i++) {
        if (c->pinned[i]) quiet(cudaFreeHost(c->pinned[i]));
        if (c->dbuf[i]) quiet(cudaFree(c->dbuf[i]));
        c->pinned[i] = c->dbuf[i] = NULL;
    }
    c->ring_bytes = 0;
}

void rf_nccl_fini(rf_cuda_t *c) {
    free_ring(c);
    for (int i = 0; i < RF_CUDA_RING; i++) {
        if (c->ev_h2d[i]) quiet(cudaEventDestroy(c->ev_h2d[i]));
        if (c->ev_sent[i]) quiet(cudaEventDestroy(c->ev_sent[i]));
        if (c->ev_free[i]) quiet(cudaEventDestroy(c->ev_free[i]));
    }
    if (c->nccl && ncclCommDestroy(c->nccl) != ncclSuccess) RF_WARN("comm", "ncclCommDestroy failed");
    c->nccl = NULL;
    rf_pack_pool_destroy(c->pool);
    c->pool = NULL;
}

/* The ring stays allocated between loads (same bucket every load); the
 * pinned side only on a rank that packs from host memory or files. */
static refit_status ensure_ring(rf_backend_t *b, rf_cuda_t *c, uint64_t bucket, bool pinned) {
    if (c->ring_bytes == bucket && (!pinned || c->pinned[0])) return REFIT_OK;
    if (c->ring_bytes) rf_backend_account(b, RF_CUDA_RING * c->ring_bytes, false);
    free_ring(c);
    for (int i = 0; i < RF_CUDA_RING; i++) {
        CUDA_CHECK(cudaMalloc(&c->dbuf[i], bucket), "device bucket");
        if (pinned) CUDA_CHECK(cudaHostAlloc(&c->pinned[i], bucket, cudaHostAllocDefault), "pinned bucket");
    }
    c->ring_bytes = bucket;
    rf_backend_account(b, RF_CUDA_RING * bucket, true);
    return REFIT_OK;
}

typedef struct {
    rf_backend_t *b;
    rf_cuda_t *c;
    const rf_xfer_t *x;
    refit_status failed; /* first completion-callback failure */
} run_t;

/* Copies bucket k of group `group`'s segments into their params on s_comp;
 * a param whose last bytes land is handed to the coordinator (quantize,
 * stream-ordered). */
static refit_status unpack(run_t *r, int group, size_t k, const uint8_t *dbuf) {
    const rf_xfer_t *x = r->x;
    rf_plan_iter_t it;
    rf_seg_t g;
    for (rf_plan_iter_init(x->plan, group, k, 0, UINT64_MAX, &it); rf_plan_iter_next(x->plan, &it, &g);) {
        uint8_t *dst = x->dest(x->user, g.param);
        if (!dst) return rf_error(REFIT_ERR_INTERNAL, "no destination for %s", x->params[g.param].name);
        CUDA_CHECK(cudaMemcpyAsync(dst + g.param_off, dbuf + g.bucket_off, g.len, cudaMemcpyDeviceToDevice,
                                      r->c->s_comp), "unpack");
        bool last = g.param_off + g.len == rf_plan_param_bytes(x->plan, group, g.param);
        if (last && r->failed == REFIT_OK) r->failed = x->complete(x->user, g.param);
    }
    return REFIT_OK;
}

/* Bucket k of group g into device slot s on s_h2d, ev_h2d[s] recorded
 * after it: from files or host memory packed into the pinned bucket and
 * copied up, or (x->device_src) with device copies straight into the slot.
 * A packing failure is kept in r->failed and the slot still goes on: no
 * peer may wait forever for it. */
static refit_status fill_slot(run_t *r, size_t k, int g, int s, bool reused) {
    rf_cuda_t *c = r->c;
    const rf_xfer_t *x = r->x;
    uint64_t bytes = rf_plan_bucket_bytes(x->plan, g, k);
    /* the slot's last use: sent (rank 0) and unpacked */
    CUDA_CHECK(cudaStreamWaitEvent(c->s_h2d, c->ev_sent[s], 0), "wait");
    CUDA_CHECK(cudaStreamWaitEvent(c->s_h2d, c->ev_free[s], 0), "wait");
    refit_status pst;
    double t0 = rf_now();
    if (x->device_src) {
        pst = rf_pack_device(x, g, k, c->dbuf[s], c->s_h2d);
    } else {
        if (reused) {
            CUDA_CHECK(cudaEventSynchronize(c->ev_h2d[s]), "pinned bucket reuse");
            c->wait_seconds += rf_now() - t0;
            t0 = rf_now();
        }
        pst = rf_pack_pool_run(c->pool, x->params, x->plan, x->src, g, k, c->pinned[s]);
        if (pst == REFIT_OK && x->packed) x->packed(x->user, g, k, c->pinned[s]);
        CUDA_CHECK(cudaMemcpyAsync(c->dbuf[s], c->pinned[s], bytes, cudaMemcpyHostToDevice, c->s_h2d),
                   "host to device");
    }
    c->pack_seconds += rf_now() - t0;
    if (pst != REFIT_OK && r->failed == REFIT_OK) r->failed = pst;
    CUDA_CHECK(cudaEventRecord(c->ev_h2d[s], c->s_h2d), "event");
    return REFIT_OK;
}

/* A local source (x->local): this rank's own bucket k through slot s, then
 * unpacked; nothing crosses NCCL. */
static refit_status local_item(run_t *r, size_t k, int g, int s, bool reused, uint64_t *moved) {
    rf_cuda_t *c = r->c;
    RF_CHECK(fill_slot(r, k, g, s, reused));
    CUDA_CHECK(cudaStreamWaitEvent(c->s_comp, c->ev_h2d[s], 0), "wait");
    RF_CHECK(unpack(r, g, k, c->dbuf[s]));
    CUDA_CHECK(cudaEventRecord(c->ev_free[s], c->s_comp), "event");
    *moved += rf_plan_bucket_bytes(r->x->plan, g, k);
    return REFIT_OK;
}

/* Rank 0: one item (bucket k of group g) through slot s. */
static refit_status root_item(run_t *r, size_t k, int g, int s, bool reused, uint64_t *moved) {
    rf_cuda_t *c = r->c;
    const rf_xfer_t *x = r->x;
    uint64_t bytes = rf_plan_bucket_bytes(x->plan, g, k);
    RF_CHECK(fill_slot(r, k, g, s, reused));
    int world = rf_comm_world(x->comm), tp = x->tp;
    if (world > 1 && x->bcast) { /* every rank gets every item; members keep theirs */
        CUDA_CHECK(cudaStreamWaitEvent(c->s_nccl, c->ev_h2d[s], 0), "wait");
        NCCL_CHECK(ncclBroadcast(c->dbuf[s], c->dbuf[s], bytes, ncclUint8, 0, c->nccl, c->s_nccl), "broadcast");
        CUDA_CHECK(cudaEventRecord(c->ev_sent[s], c->s_nccl), "event");
    } else if (world > 1 && (g != 0 || world > tp)) {
        CUDA_CHECK(cudaStreamWaitEvent(c->s_nccl, c->ev_h2d[s], 0), "wait");
        NCCL_CHECK(ncclGroupStart(), "group start");
        for (int peer = g; peer < world; peer += tp)
            if (peer != 0) NCCL_CHECK(ncclSend(c->dbuf[s], bytes, ncclUint8, peer, c->nccl, c->s_nccl), "send");
        NCCL_CHECK(ncclGroupEnd(), "group end");
        CUDA_CHECK(cudaEventRecord(c->ev_sent[s], c->s_nccl), "event");
    }
    *moved += bytes; /* host to device, once */
    if (g == 0) {
        CUDA_CHECK(cudaStreamWaitEvent(c->s_comp, c->ev_h2d[s], 0), "wait");
        RF_CHECK(unpack(r, 0, k, c->dbuf[s]));
        CUDA_CHECK(cudaEventRecord(c->ev_free[s], c->s_comp), "event");
    }
    return REFIT_OK;
}

/* A receiver: bucket k of group g through slot s. With send/recv only its
 * own group's items come here; with broadcast every item does, and only
 * its own group's are unpacked. */
static refit_status recv_item(run_t *r, size_t k, int g, bool keep, int s, uint64_t *moved) {
    rf_cuda_t *c = r->c;
    uint64_t bytes = rf_plan_bucket_bytes(r->x->plan, g, k);
    CUDA_CHECK(cudaStreamWaitEvent(c->s_nccl, c->ev_free[s], 0), "wait");
    if (r->x->bcast)
        NCCL_CHECK(ncclBroadcast(c->dbuf[s], c->dbuf[s], bytes, ncclUint8, 0, c->nccl, c->s_nccl), "broadcast");
    else
        NCCL_CHECK(ncclRecv(c->dbuf[s], bytes, ncclUint8, 0, c->nccl, c->s_nccl), "recv");
    if (!keep) { /* nothing to unpack: the slot is free once the broadcast is done */
        CUDA_CHECK(cudaEventRecord(c->ev_free[s], c->s_nccl), "event");
        return REFIT_OK;
    }
    CUDA_CHECK(cudaEventRecord(c->ev_sent[s], c->s_nccl), "event");
    CUDA_CHECK(cudaStreamWaitEvent(c->s_comp, c->ev_sent[s], 0), "wait");
    RF_CHECK(unpack(r, g, k, c->dbuf[s]));
    CUDA_CHECK(cudaEventRecord(c->ev_free[s], c->s_comp), "event");
    *moved += bytes;
    return REFIT_OK;
}

refit_status rf_xfer_cuda_run(rf_backend_t *b, const rf_xfer_t *x, uint64_t *bytes_moved) {
    rf_cuda_t *c = b->impl;
    bool root = rf_comm_rank(x->comm) == 0;
    int tp = x->tp, mine = rf_comm_tp_rank(x->comm);
    /* every rank must have its ring before rank 0 starts sending; a rank
     * that packs from files or host memory needs the pinned side and the
     * packing threads (rank 0's are made at set-up) */
    bool packs = (root || x->local) && !x->device_src;
    refit_status st = ensure_ring(b, c, x->plan->bucket, packs);
    if (st == REFIT_OK && packs && !c->pool) {
        int threads = 1;
        st = pack_threads(&threads);
        if (st == REFIT_OK) st = rf_pack_pool_create(threads, true, &c->pool);
    }
    st = rf_comm_agree(x->comm, st);
    run_t r = {.b = b, .c = c, .x = x, .failed = REFIT_OK};
    c->pack_seconds = c->wait_seconds = 0;
    double t0 = rf_now();
    uint64_t moved = 0, total = 0; /* rank 0: every stream once; a receiver: its own */
    for (int g = 0; g < tp; g++) total += (root && !x->local) || g == mine ? rf_plan_total(x->plan, g) : 0;
    size_t item = 0;
    for (size_t k = 0; k < x->plan->max_buckets && st == REFIT_OK; k++)
        for (int g = 0; g < tp && st == REFIT_OK; g++) {
            if (k >= rf_plan_buckets(x->plan, g)) continue; /* a shorter stream (fewer experts under --moe ep) */
            if (x->local && g != mine) continue;
            if (x->local) st = local_item(&r, k, g, (int)(item % RF_CUDA_RING), item >= RF_CUDA_RING, &moved);
            else if (root) st = root_item(&r, k, g, (int)(item % RF_CUDA_RING), item >= RF_CUDA_RING, &moved);
            else if (g == mine || x->bcast) st = recv_item(&r, k, g, g == mine, (int)(item % RF_CUDA_RING), &moved);
            else continue;
            item++;
            if (st == REFIT_OK && x->progress && (root || g == mine)) x->progress(x->user, moved, total);
        }
    if (st == REFIT_OK) { /* the ring's last items must land before anyone reads params */
        cudaError_t e = cudaStreamSynchronize(c->s_nccl);
        if (e == cudaSuccess) e = cudaStreamSynchronize(c->s_h2d);
        if (e != cudaSuccess) st = rf_cuda_fail(e, "data plane");
    }
    if (root && c->pool)
        RF_INFO("comm", "data plane: %.1f ms, of which packing %.1f ms (%d threads, pread) and waiting for "
                "pinned buckets %.1f ms; %zu items, bucket %llu bytes", 1e3 * (rf_now() - t0), 1e3 * c->pack_seconds,
                rf_pack_pool_threads(c->pool), 1e3 * c->wait_seconds, item, (unsigned long long)x->plan->bucket);
    *bytes_moved = moved;
    return st != REFIT_OK ? st : r.failed;
}
