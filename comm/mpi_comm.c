/* MPI control plane and host data plane. Every MPI call runs with
 * MPI_ERRORS_RETURN on a private duplicate, and a failure becomes
 * REFIT_ERR_COMM naming the call and MPI's error string. */
#include <limits.h>
#include <stdio.h>
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
};

struct rf_comm_req {
    rf_node_bcast_t b;
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
    rf_node_groups_free(&c->groups);
    if (c->world != MPI_COMM_NULL && MPI_Comm_free(&c->world) != MPI_SUCCESS)
        RF_WARN("comm", "MPI_Comm_free of the context's communicator failed");
    free(c);
}

int rf_comm_rank(const rf_comm_t *c) { return c->rank; }
int rf_comm_world(const rf_comm_t *c) { return c->size; }
int rf_comm_tp(const rf_comm_t *c) { return c->tp; }
int rf_comm_tp_rank(const rf_comm_t *c) { return c->rank % c->tp; }
int rf_comm_nodes(const rf_comm_t *c) { return c->groups.n_nodes; }
int rf_comm_local_rank(const rf_comm_t *c) { return c->groups.local_rank; }
int rf_comm_local_size(const rf_comm_t *c) { return c->groups.local_size; }

/* MPI counts are int: large buffers go in INT_MAX-sized pieces. */
static refit_status bcast_chunked(MPI_Comm comm, void *buf, size_t bytes) {
    uint8_t *p = buf;
    while (bytes > 0) {
        int n = bytes > INT_MAX ? INT_MAX : (int)bytes;
        MPI_CHECK(MPI_Bcast(p, n, MPI_BYTE, 0, comm));
        p += n;
        bytes -= (size_t)n;
    }
    return REFIT_OK;
}

refit_status rf_comm_bcast(rf_comm_t *c, void *buf, size_t bytes) {
    return bcast_chunked(c->world, buf, bytes);
}

refit_status rf_comm_bcast_blob(rf_comm_t *c, uint8_t **buf, size_t *len) {
    uint64_t n = c->rank == 0 ? *len : 0;
    MPI_CHECK(MPI_Bcast(&n, 1, MPI_UINT64_T, 0, c->world));
    if (c->rank == 0) return bcast_chunked(c->world, *buf, (size_t)n);
    uint8_t *p = malloc(n ? n : 1);
    /* Every rank must join the broadcast even when its malloc failed. */
    uint8_t sink[4096];
    refit_status st = REFIT_OK;
    if (p) {
        st = bcast_chunked(c->world, p, (size_t)n);
    } else {
        for (uint64_t off = 0; off < n && st == REFIT_OK; off += sizeof sink) {
            size_t k = n - off < sizeof sink ? (size_t)(n - off) : sizeof sink;
            st = bcast_chunked(c->world, sink, k);
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

refit_status rf_comm_allreduce_min_u64(rf_comm_t *c, uint64_t *val) {
    MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, val, 1, MPI_UINT64_T, MPI_MIN, c->world));
    return REFIT_OK;
}

refit_status rf_comm_gather(rf_comm_t *c, const void *mine, size_t bytes, void *all) {
    if (bytes > INT_MAX) return rf_error(REFIT_ERR_INVALID_ARG, "gather of %zu bytes per rank", bytes);
    MPI_CHECK(MPI_Gather(mine, (int)bytes, MPI_BYTE, all, (int)bytes, MPI_BYTE, 0, c->world));
    return REFIT_OK;
}

refit_status rf_comm_barrier(rf_comm_t *c) {
    MPI_CHECK(MPI_Barrier(c->world));
    return REFIT_OK;
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
    MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &key, 1, MPI_INT, MPI_MIN, c->world));
    if (key == INT_MAX) return REFIT_OK;
    int first = key < c->size ? key : key - c->size;
    /* The lowest failing rank tells everyone its status and first cause. */
    struct {
        int status;
        char msg[1000];
    } cause = {.status = local};
    if (c->rank == first) snprintf(cause.msg, sizeof cause.msg, "%s", rf_err_msg());
    MPI_CHECK(MPI_Bcast(&cause, (int)sizeof cause, MPI_BYTE, first, c->world));
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
    rf_comm_req_t *r = malloc(sizeof *r);
    if (!r) return rf_error(REFIT_ERR_NOMEM, "request");
    refit_status st = rf_node_bcast_start(&c->groups, group, buf, (int)bytes, &r->b);
    if (st != REFIT_OK) {
        free(r);
        return st;
    }
    *req = r;
    return REFIT_OK;
}

refit_status rf_comm_wait(rf_comm_req_t *req) {
    refit_status st = rf_node_bcast_wait(&req->b);
    free(req);
    return st;
}
