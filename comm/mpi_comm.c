/* MPI control plane and host data plane. Every MPI call runs with
 * MPI_ERRORS_RETURN on a private duplicate, and a failure becomes
 * REFIT_ERR_COMM naming the call and MPI's error string. Every collective
 * is non-blocking and finished by finish(): MPI_Wait without a deadline, an
 * MPI_Test loop that gives up at the deadline otherwise (on_timeout=return). */
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <time.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "comm.h"
#include "node_groups.h"

struct rf_comm {
    MPI_Comm world;          /* duplicate of the caller's communicator */
    rf_node_groups_t groups; /* slice groups, split per node (node_groups.h) */
    int rank, size, tp;
    double deadline; /* rf_now() time waits give up at; 0: wait forever */
    bool timed_out;  /* a wait gave up: requests are pending for good */
};

struct rf_comm_req {
    rf_node_bcast_t b;
    rf_comm_t *c;
};

refit_status rf_mpi_fail(int rc, const char *what) {
    char msg[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS) snprintf(msg, sizeof msg, "MPI error %d", rc);
    return rf_error(REFIT_ERR_COMM, "%s failed: %s", what, msg);
}

refit_status rf_comm_create(const void *mpi_comm, int tp, rf_comm_t **out) {
    const MPI_Comm *parent = mpi_comm;
    int size, rank;
    MPI_CHECK(MPI_Comm_size(*parent, &size));
    MPI_CHECK(MPI_Comm_rank(*parent, &rank));
    if (tp < 1 || size % tp != 0)
        return rf_error(REFIT_ERR_INVALID_ARG, "world size %d is not a multiple of tp %d", size, tp);
    rf_comm_t *c = calloc(1, sizeof *c);
    if (!c) return rf_error(REFIT_ERR_NOMEM, "communicator");
    c->rank = rank;
    c->size = size;
    c->tp = tp;
    int rc = MPI_Comm_dup(*parent, &c->world);
    if (rc != MPI_SUCCESS) {
        free(c);
        return rf_mpi_fail(rc, "MPI_Comm_dup");
    }
    rc = MPI_Comm_set_errhandler(c->world, MPI_ERRORS_RETURN);
    refit_status st = rc == MPI_SUCCESS ? REFIT_OK : rf_mpi_fail(rc, "MPI_Comm_set_errhandler");
    if (st == REFIT_OK) st = rf_node_groups_create(c->world, tp, &c->groups);
    if (st != REFIT_OK) {
        rf_comm_destroy(c);
        return st;
    }
    *out = c;
    return REFIT_OK;
}

void rf_comm_destroy(rf_comm_t *c) {
    if (!c) return;
    if (c->timed_out) {
        /* Collectives that a peer never joined are still pending on these
         * communicators and MPI cannot cancel them: freeing the
         * communicators could wait for them. Leaked on purpose; the process
         * goes on (and MPI_Finalize ends it). */
        free(c->groups.groups);
        free(c);
        return;
    }
    rf_node_groups_free(&c->groups);
    if (c->world != MPI_COMM_NULL && MPI_Comm_free(&c->world) != MPI_SUCCESS)
        RF_WARN("comm", "MPI_Comm_free of the context's communicator failed");
    free(c);
}

int rf_comm_rank(const rf_comm_t *c) { return c->rank; }
bool rf_comm_timed_out(const rf_comm_t *c) { return c->timed_out; }
void rf_comm_set_deadline(rf_comm_t *c, double deadline) { c->deadline = deadline; }
double rf_comm_deadline(const rf_comm_t *c) { return c->deadline; }

bool rf_comm_thread_multiple(void) {
    int level = MPI_THREAD_SINGLE;
    return MPI_Query_thread(&level) == MPI_SUCCESS && level == MPI_THREAD_MULTIPLE;
}

static refit_status gave_up(rf_comm_t *c, const char *what, const char *how) {
    c->timed_out = true;
    return rf_error(REFIT_ERR_TIMEOUT, "rank %d: %s %s: a peer did not join within the timeout", c->rank, what, how);
}

/* Before starting a collective: none after a timeout (the peers are gone
 * from this context's protocol), none past the deadline. */
static refit_status may_start(rf_comm_t *c, const char *what) {
    if (c->timed_out)
        return rf_error(REFIT_ERR_TIMEOUT, "rank %d: %s not started: an earlier wait of this context timed out",
                        c->rank, what);
    if (c->deadline > 0 && rf_now() >= c->deadline) return gave_up(c, what, "not started, past the deadline");
    return REFIT_OK;
}

/* Finishes one request. With a deadline: MPI_Test, yielding the core for
 * the first 2 ms (a collective's peers are usually there already), then
 * sleeping 50 us between tests; at the deadline the request is left pending
 * (MPI cannot cancel a collective) and the communicator is marked. */
static refit_status finish(rf_comm_t *c, MPI_Request *r, const char *what) {
    int rc;
    if (c->deadline <= 0) {
        rc = MPI_Wait(r, MPI_STATUS_IGNORE);
        return rc == MPI_SUCCESS ? REFIT_OK : rf_mpi_fail(rc, what);
    }
    double spin_until = rf_now() + 0.002;
    for (;;) {
        int done = 0;
        rc = MPI_Test(r, &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) return rf_mpi_fail(rc, what);
        if (done) return REFIT_OK;
        double t = rf_now();
        if (t >= c->deadline) return gave_up(c, what, "gave up at the deadline");
        if (t < spin_until) {
            sched_yield();
        } else {
            struct timespec ts = {0, 50000};
            nanosleep(&ts, NULL);
        }
    }
}

static refit_status node_wait(void *user, MPI_Request *r, const char *what) { return finish(user, r, what); }
int rf_comm_world(const rf_comm_t *c) { return c->size; }
int rf_comm_tp(const rf_comm_t *c) { return c->tp; }
int rf_comm_tp_rank(const rf_comm_t *c) { return c->rank % c->tp; }
int rf_comm_nodes(const rf_comm_t *c) { return c->groups.n_nodes; }
int rf_comm_local_rank(const rf_comm_t *c) { return c->groups.local_rank; }
int rf_comm_local_size(const rf_comm_t *c) { return c->groups.local_size; }

/* MPI counts are int: large buffers go in INT_MAX-sized pieces. */
/* Control-plane collectives work in a heap copy of the caller's buffer: a
 * request left pending by a timeout may still write it after the caller's
 * frame is gone, so the copy is then leaked with the request. */
static void *scratch(const void *buf, size_t bytes) {
    void *p = malloc(bytes ? bytes : 1);
    if (p) memcpy(p, buf, bytes);
    return p;
}

static refit_status done_with(rf_comm_t *c, refit_status st, void *buf, void *tmp, size_t bytes) {
    if (st == REFIT_OK) memcpy(buf, tmp, bytes);
    if (!c->timed_out) free(tmp);
    return st;
}

static refit_status bcast_root(rf_comm_t *c, void *buf, int count, MPI_Datatype type, int root, const char *what) {
    RF_CHECK(may_start(c, what));
    int tsize = 1;
    MPI_CHECK(MPI_Type_size(type, &tsize));
    size_t bytes = (size_t)count * (size_t)tsize;
    void *tmp = scratch(buf, bytes);
    if (!tmp) return rf_error(REFIT_ERR_NOMEM, "rank %d: %s: %zu bytes", c->rank, what, bytes);
    MPI_Request r;
    int rc = MPI_Ibcast(tmp, count, type, root, c->world, &r);
    refit_status st = rc == MPI_SUCCESS ? finish(c, &r, what) : rf_mpi_fail(rc, what);
    return done_with(c, st, buf, tmp, bytes);
}

static refit_status bcast_chunked(rf_comm_t *c, void *buf, size_t bytes) {
    uint8_t *p = buf;
    while (bytes > 0) {
        int n = bytes > INT_MAX ? INT_MAX : (int)bytes;
        RF_CHECK(bcast_root(c, p, n, MPI_BYTE, 0, "MPI_Ibcast"));
        p += n;
        bytes -= (size_t)n;
    }
    return REFIT_OK;
}

refit_status rf_comm_bcast(rf_comm_t *c, void *buf, size_t bytes) {
    return bcast_chunked(c, buf, bytes);
}

refit_status rf_comm_bcast_blob(rf_comm_t *c, uint8_t **buf, size_t *len) {
    uint64_t n = c->rank == 0 ? *len : 0;
    RF_CHECK(bcast_root(c, &n, 1, MPI_UINT64_T, 0, "MPI_Ibcast(blob length)"));
    if (c->rank == 0) return bcast_chunked(c, *buf, (size_t)n);
    uint8_t *p = malloc(n ? n : 1);
    /* Every rank must join the broadcast even when its malloc failed. */
    uint8_t sink[4096];
    refit_status st = REFIT_OK;
    if (p) {
        st = bcast_chunked(c, p, (size_t)n);
    } else {
        for (uint64_t off = 0; off < n && st == REFIT_OK; off += sizeof sink) {
            size_t k = n - off < sizeof sink ? (size_t)(n - off) : sizeof sink;
            st = bcast_chunked(c, sink, k);
        }
        if (st == REFIT_OK) st = rf_error(REFIT_ERR_NOMEM, "snapshot buffer of %llu bytes",
                                          (unsigned long long)n);
    }
    if (st != REFIT_OK) {
        free(p);
        return st;
    }
    *buf = p;
    *len = (size_t)n;
    return REFIT_OK;
}

static refit_status allreduce_min(rf_comm_t *c, void *val, MPI_Datatype type, const char *what) {
    RF_CHECK(may_start(c, what));
    size_t bytes = type == MPI_INT ? sizeof(int) : sizeof(uint64_t);
    void *tmp = scratch(val, bytes);
    if (!tmp) return rf_error(REFIT_ERR_NOMEM, "rank %d: %s", c->rank, what);
    MPI_Request r;
    int rc = MPI_Iallreduce(MPI_IN_PLACE, tmp, 1, type, MPI_MIN, c->world, &r);
    refit_status st = rc == MPI_SUCCESS ? finish(c, &r, what) : rf_mpi_fail(rc, what);
    return done_with(c, st, val, tmp, bytes);
}

refit_status rf_comm_allreduce_min_u64(rf_comm_t *c, uint64_t *val) {
    return allreduce_min(c, val, MPI_UINT64_T, "MPI_Iallreduce");
}

refit_status rf_comm_gather(rf_comm_t *c, const void *mine, size_t bytes, void *all) {
    if (bytes > INT_MAX) return rf_error(REFIT_ERR_INVALID_ARG, "gather of %zu bytes per rank", bytes);
    MPI_CHECK(MPI_Gather(mine, (int)bytes, MPI_BYTE, all, (int)bytes, MPI_BYTE, 0, c->world));
    return REFIT_OK;
}

refit_status rf_comm_barrier(rf_comm_t *c) {
    RF_CHECK(may_start(c, "MPI_Ibarrier"));
    MPI_Request r;
    MPI_CHECK(MPI_Ibarrier(c->world, &r));
    return finish(c, &r, "MPI_Ibarrier");
}

void rf_comm_abort(rf_comm_t *c, int code) {
    /* Called from the watchdog thread while the main thread may sit in a
     * collective: outside MPI_THREAD_SINGLE's letter, but the job is lost
     * anyway and Open MPI's abort reaches mpirun through PMIx's own thread,
     * which then ends every rank (tests/faults/fault_matrix.sh checks it). */
    MPI_Abort(c->world, code);
    _exit(code); /* MPI_Abort does not return; if it ever did, still end */
}

refit_status rf_comm_agree(rf_comm_t *c, refit_status local) {
    /* A rank whose failure is REMOTE only relays a cause agreed earlier: the
     * rank that holds it first-hand comes before every relay, so it keeps its
     * own status when a failure is agreed again (R0-R4, then B). */
    int key = local == REFIT_OK ? INT_MAX : local == REFIT_ERR_REMOTE ? c->size + c->rank : c->rank;
    refit_status st = allreduce_min(c, &key, MPI_INT, "agreement (MPI_Iallreduce)");
    if (st != REFIT_OK) return local == REFIT_ERR_TIMEOUT ? local : st; /* keep a timeout's own cause */
    if (key == INT_MAX) return REFIT_OK;
    int first = key < c->size ? key : key - c->size;
    /* The lowest failing rank tells everyone its status and first cause. */
    struct {
        int status;
        char msg[1000];
    } cause = {.status = local};
    if (c->rank == first) snprintf(cause.msg, sizeof cause.msg, "%s", rf_err_msg());
    st = bcast_root(c, &cause, (int)sizeof cause, MPI_BYTE, first, "agreement (MPI_Ibcast of the cause)");
    if (st != REFIT_OK) return local == REFIT_ERR_TIMEOUT ? local : st;
    if (c->rank == first) return local;
    return rf_error_replace(REFIT_ERR_REMOTE, "%s", cause.msg[0] ? cause.msg : "another rank failed");
}

bool rf_comm_in_group(const rf_comm_t *c, int group) {
    return group >= 0 && group < c->tp && c->groups.groups[group].member;
}

refit_status rf_comm_group_ibcast(rf_comm_t *c, int group, void *buf, size_t bytes,
                                  rf_comm_req_t **req) {
    if (!rf_comm_in_group(c, group))
        return rf_error(REFIT_ERR_INTERNAL, "rank %d is not in slice group %d", c->rank, group);
    if (bytes > INT_MAX) return rf_error(REFIT_ERR_INVALID_ARG, "bucket of %zu bytes", bytes);
    RF_CHECK(may_start(c, "MPI_Ibcast(bucket)"));
    rf_comm_req_t *r = malloc(sizeof *r);
    if (!r) return rf_error(REFIT_ERR_NOMEM, "request");
    r->c = c;
    refit_status st = rf_node_bcast_start(&c->groups, group, buf, (int)bytes, &r->b);
    if (st != REFIT_OK) {
        free(r);
        return st;
    }
    *req = r;
    return REFIT_OK;
}

refit_status rf_comm_wait(rf_comm_req_t *req) {
    refit_status st = req->c->timed_out ? rf_error(REFIT_ERR_TIMEOUT, "rank %d: bucket not awaited: an earlier wait "
                                                   "of this context timed out", req->c->rank)
                                        : rf_node_bcast_wait(&req->b, node_wait, req->c);
    free(req);
    return st;
}
