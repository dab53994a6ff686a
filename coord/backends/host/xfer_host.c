/* Host data plane (R3 on the host backend): for each slice group, rank 0
 * packs the group's stream bucket by bucket and broadcasts it inside the
 * group over MPI; two buckets alternate so packing / unpacking overlap the
 * broadcast of the previous one. Only tp ranks equal to the group keep the
 * bytes; rank 0 of a group g != 0 is only the sender. Over several nodes a
 * bucket crosses the network once per node and fans out inside it
 * (comm/node_groups.h): while a node's leader forwards bucket k-1 to its
 * neighbours in rf_comm_wait, bucket k is already on the wire. */
#include <stdlib.h>
#include <string.h>

#include "host.h"

typedef struct {
    const rf_xfer_t *x;
    int group;
    bool keep;            /* this rank keeps the group's bytes */
    refit_status failed;  /* first local failure of a completion callback */
    uint64_t done, total; /* this rank's bytes, for x->progress */
} xfer_state_t;

static void unpack_bucket(xfer_state_t *s, size_t k, const uint8_t *buf) {
    const rf_xfer_t *x = s->x;
    rf_plan_iter_t it;
    rf_seg_t g;
    for (rf_plan_iter_init(x->plan, s->group, k, 0, UINT64_MAX, &it); rf_plan_iter_next(x->plan, &it, &g);) {
        uint8_t *dst = x->dest(x->user, g.param);
        memcpy(dst + g.param_off, buf + g.bucket_off, g.len);
        bool last = g.param_off + g.len == rf_plan_param_bytes(x->plan, s->group, g.param);
        if (last && s->failed == REFIT_OK) s->failed = x->complete(x->user, g.param);
    }
}

static refit_status run_group(xfer_state_t *s, uint8_t *bufs[2], uint64_t *moved) {
    const rf_plan_t *plan = s->x->plan;
    bool root = rf_comm_rank(s->x->comm) == 0;
    rf_comm_req_t *req[2] = {NULL, NULL};
    refit_status st = REFIT_OK;
    size_t n_buckets = rf_plan_buckets(plan, s->group); /* groups differ under --moe ep */
    for (size_t k = 0; k <= n_buckets && st == REFIT_OK; k++) {
        if (k < n_buckets) {
            uint8_t *b = bufs[k % 2];
            /* a failed read leaves the bucket short; it still goes out so no
             * rank waits forever, and the agreement fails the load */
            if (root && st == REFIT_OK) {
                refit_status pst = rf_pack_bucket(plan, s->x->params, s->x->src, s->group, k, 0,
                                                  rf_plan_bucket_bytes(plan, s->group, k), false, b);
                if (pst != REFIT_OK && s->failed == REFIT_OK) s->failed = pst;
                if (pst == REFIT_OK && s->x->packed) s->x->packed(s->x->user, s->group, k, b);
            }
            st = rf_comm_group_ibcast(s->x->comm, s->group, b, rf_plan_bucket_bytes(plan, s->group, k), &req[k % 2]);
            if (st != REFIT_OK) break;
            *moved += rf_plan_bucket_bytes(plan, s->group, k);
        }
        if (k > 0) { /* finish and unpack the previous bucket while bucket k flies */
            rf_comm_req_t *prev = req[(k - 1) % 2];
            req[(k - 1) % 2] = NULL;
            st = rf_comm_wait(prev);
            if (st == REFIT_OK && s->keep) unpack_bucket(s, k - 1, bufs[(k - 1) % 2]);
            s->done += rf_plan_bucket_bytes(plan, s->group, k - 1);
            if (st == REFIT_OK && s->x->progress) s->x->progress(s->x->user, s->done, s->total);
        }
    }
    for (int i = 0; i < 2; i++)
        if (req[i]) (void)rf_comm_wait(req[i]); /* after a failure (already reported): do not leak requests */
    return st;
}

/* A local source (x->local): this rank packs its own group's buckets and
 * unpacks them itself; no broadcast, so a failure of one rank is met at
 * the agreement after the transfer. */
static refit_status run_local(xfer_state_t *s, uint8_t *buf) {
    const rf_plan_t *plan = s->x->plan;
    for (size_t k = 0; k < rf_plan_buckets(plan, s->group) && s->failed == REFIT_OK; k++) {
        uint64_t bytes = rf_plan_bucket_bytes(plan, s->group, k);
        s->failed = rf_pack_bucket(plan, s->x->params, s->x->src, s->group, k, 0, bytes, false, buf);
        if (s->failed == REFIT_OK) unpack_bucket(s, k, buf);
        s->done += bytes;
        if (s->x->progress) s->x->progress(s->x->user, s->done, s->total);
    }
    return s->failed;
}

refit_status rf_xfer_host_run(const rf_xfer_t *x, uint64_t *bytes_moved) {
    if (x->local) {
        xfer_state_t s = {.x = x, .failed = REFIT_OK, .group = rf_comm_tp_rank(x->comm), .keep = true};
        s.total = rf_plan_total(x->plan, s.group);
        uint8_t *buf = malloc(x->plan->bucket);
        refit_status st = buf ? run_local(&s, buf)
                              : rf_error(REFIT_ERR_NOMEM, "a staging bucket of %llu bytes",
                                         (unsigned long long)x->plan->bucket);
        free(buf);
        *bytes_moved = s.done; /* read from the source by this rank; none sent */
        return st;
    }
    xfer_state_t s = {.x = x, .failed = REFIT_OK};
    uint8_t *bufs[2] = {malloc(x->plan->bucket), malloc(x->plan->bucket)};
    refit_status st = REFIT_OK;
    if (!bufs[0] || !bufs[1])
        st = rf_error(REFIT_ERR_NOMEM, "two staging buckets of %llu bytes",
                      (unsigned long long)x->plan->bucket);
    /* A rank that cannot allocate its buckets fails before the first
     * broadcast; the others would wait for it in the group broadcast, so the
     * allocation is agreed on first. */
    st = rf_comm_agree(x->comm, st);
    uint64_t moved = 0;
    for (int g = 0; g < x->tp; g++) s.total += rf_comm_in_group(x->comm, g) ? rf_plan_total(x->plan, g) : 0;
    for (int g = 0; g < x->tp && st == REFIT_OK; g++) {
        if (!rf_comm_in_group(x->comm, g)) continue;
        s.group = g;
        s.keep = rf_comm_tp_rank(x->comm) == g;
        st = run_group(&s, bufs, &moved);
    }
    if (!rf_comm_timed_out(x->comm)) {
        free(bufs[0]);
        free(bufs[1]);
    } /* else leaked on purpose: a broadcast left pending by the timeout may still read or write them */
    *bytes_moved = moved;
    return st != REFIT_OK ? st : s.failed;
}
