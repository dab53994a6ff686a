/* The NCCL communicator as a thing that never blocks a host thread (issue 9,
 * "errors without killing the host").
 *
 * The communicator is created non-blocking (ncclConfig_t.blocking = 0): an
 * NCCL call returns at once, ncclInProgress while NCCL still works on it,
 * and ncclCommGetAsyncError says when it is done or failed. Every host wait
 * of the data plane (a pinned bucket to reuse, the ring's last items) is a
 * poll loop over cudaEventQuery/cudaStreamQuery that also asks the
 * communicator for an asynchronous error and gives up at the deadline of
 * the context's communicator (rf_comm_deadline: set in return mode), where
 * it aborts the communicator (ncclCommAbort frees the kernels that wait for
 * a hung or dead peer) and returns REFIT_ERR_TIMEOUT: the process lives on,
 * the context is then destroy-only.
 *
 * NCCL forbids concurrent calls on one communicator, and the watchdog
 * thread may abort it (abort mode, or a wait it must free) while the main
 * thread polls: every use of c->nccl holds c->nccl_mu, and after an abort
 * c->nccl is NULL for good. */
#include <sched.h>
#include <time.h>

#include "backend_cuda.h"

#define MU_LOCK(c) PTHREAD_MUST(pthread_mutex_lock(&(c)->nccl_mu))
#define MU_UNLOCK(c) PTHREAD_MUST(pthread_mutex_unlock(&(c)->nccl_mu))

static void pause_briefly(void) { /* 20 us: a poll costs little, and a bucket takes ~0.5 ms */
    struct timespec ts = {0, 20000};
    nanosleep(&ts, NULL);
}

static refit_status gone(const rf_cuda_t *c, const char *what) {
    return rf_error(REFIT_ERR_TIMEOUT, "rank %d: nccl %s: the communicator was aborted (a load outlived its timeout)",
                    rf_comm_rank(c->comm), what);
}

static refit_status timed_out(rf_cuda_t *c, const char *what) {
    rf_nccl_abort(c);
    return rf_error(REFIT_ERR_TIMEOUT,
                    "rank %d: nccl %s: not done by the deadline (a peer is hung or gone); communicator aborted",
                    rf_comm_rank(c->comm), what);
}

/* The communicator's state: ncclSuccess, ncclInProgress or its error. */
static ncclResult_t async_state(rf_cuda_t *c, bool *aborted) {
    ncclResult_t a = ncclSuccess;
    MU_LOCK(c);
    *aborted = c->nccl == NULL;
    if (!*aborted && ncclCommGetAsyncError(c->nccl, &a) != ncclSuccess) a = ncclInternalError;
    MU_UNLOCK(c);
    return a;
}

static bool past(double deadline) { return deadline > 0 && rf_now() > deadline; }

refit_status rf_nccl_settle(rf_cuda_t *c, ncclResult_t r, const char *what) {
    if (r == ncclSuccess) return REFIT_OK;
    if (r != ncclInProgress) return rf_nccl_fail(r, what);
    double deadline = rf_comm_deadline(c->comm);
    for (;;) {
        bool aborted;
        ncclResult_t a = async_state(c, &aborted);
        if (aborted) return gone(c, what);
        if (a == ncclSuccess) return REFIT_OK;
        if (a != ncclInProgress) return rf_nccl_fail(a, what);
        if (past(deadline)) return timed_out(c, what);
        sched_yield();
    }
}

/* query: cudaEventQuery or cudaStreamQuery of the thing waited for. */
static refit_status poll_until(rf_cuda_t *c, cudaError_t (*query)(void *), void *on, const char *what) {
    double deadline = rf_comm_deadline(c->comm);
    for (;;) {
        cudaError_t e = query(on);
        if (e == cudaSuccess) return REFIT_OK;
        if (e != cudaErrorNotReady) return rf_cuda_fail(e, what);
        bool aborted;
        ncclResult_t a = async_state(c, &aborted);
        if (aborted) return gone(c, what);
        if (a != ncclSuccess && a != ncclInProgress) return rf_nccl_fail(a, what);
        if (past(deadline)) return timed_out(c, what);
        pause_briefly();
    }
}

static cudaError_t query_event(void *ev) { return cudaEventQuery((cudaEvent_t)ev); }
static cudaError_t query_stream(void *s) { return cudaStreamQuery((cudaStream_t)s); }

refit_status rf_nccl_wait_event(rf_cuda_t *c, cudaEvent_t ev, const char *what) {
    return poll_until(c, query_event, (void *)ev, what);
}

refit_status rf_nccl_wait_stream(rf_cuda_t *c, cudaStream_t s, const char *what) {
    return poll_until(c, query_stream, (void *)s, what);
}

refit_status rf_nccl_comm_create(rf_cuda_t *c, int world, ncclUniqueId id, int rank) {
    PTHREAD_MUST(pthread_mutex_init(&c->nccl_mu, NULL));
    c->nccl_mu_ready = true;
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;
    ncclComm_t comm = NULL;
    ncclResult_t r = ncclCommInitRankConfig(&comm, world, id, rank, &config);
    if (r != ncclSuccess && r != ncclInProgress) return rf_nccl_fail(r, "ncclCommInitRankConfig");
    MU_LOCK(c);
    c->nccl = comm;
    MU_UNLOCK(c);
    return rf_nccl_settle(c, r, "ncclCommInitRankConfig");
}

/* ncclCommAbort returns once the communicator's resources are gone, also
 * on a non-blocking one; c->nccl stays NULL so that every later use says so. */
void rf_nccl_abort(rf_cuda_t *c) {
    if (!c->nccl_mu_ready) return;
    MU_LOCK(c);
    ncclComm_t comm = c->nccl;
    c->nccl = NULL;
    if (comm && ncclCommAbort(comm) != ncclSuccess) RF_WARN("comm", "ncclCommAbort failed");
    MU_UNLOCK(c);
}

/* finalize would wait for queued work (a hung peer: forever); after a load
 * that completed nothing is queued, and abort frees alike */
void rf_nccl_comm_destroy(rf_cuda_t *c) {
    if (!c->nccl_mu_ready) return;
    rf_nccl_abort(c);
    PTHREAD_MUST(pthread_mutex_destroy(&c->nccl_mu));
    c->nccl_mu_ready = false;
}

/* Enqueue helpers: the call under the lock, then settled. */
refit_status rf_nccl_send_group(rf_cuda_t *c, const void *buf, size_t bytes, int first, int stride, int world) {
    MU_LOCK(c);
    if (!c->nccl) {
        MU_UNLOCK(c);
        return gone(c, "send");
    }
    ncclResult_t r = ncclGroupStart();
    for (int peer = first; r == ncclSuccess && peer < world; peer += stride)
        if (peer != 0) r = ncclSend(buf, bytes, ncclUint8, peer, c->nccl, c->s_nccl);
    ncclResult_t e = ncclGroupEnd(); /* always closes the group it opened */
    MU_UNLOCK(c);
    return rf_nccl_settle(c, r != ncclSuccess && r != ncclInProgress ? r : e, "send");
}

refit_status rf_nccl_bcast(rf_cuda_t *c, void *buf, size_t bytes) {
    MU_LOCK(c);
    ncclResult_t r = c->nccl ? ncclBroadcast(buf, buf, bytes, ncclUint8, 0, c->nccl, c->s_nccl) : ncclInvalidUsage;
    bool aborted = c->nccl == NULL;
    MU_UNLOCK(c);
    return aborted ? gone(c, "broadcast") : rf_nccl_settle(c, r, "broadcast");
}

refit_status rf_nccl_recv(rf_cuda_t *c, void *buf, size_t bytes) {
    MU_LOCK(c);
    ncclResult_t r = c->nccl ? ncclRecv(buf, bytes, ncclUint8, 0, c->nccl, c->s_nccl) : ncclInvalidUsage;
    bool aborted = c->nccl == NULL;
    MU_UNLOCK(c);
    return aborted ? gone(c, "recv") : rf_nccl_settle(c, r, "recv");
}
