/* Nodes and the two-level slice groups of the host data plane. */
#include <stdlib.h>

#include "node_groups.h"
#include "rf_settings.h"

/* REFIT_XFER_TOPO on rank 0: 1 flat, 0 per node, -1 malformed (an error
 * recorded here; the others learn it from the broadcast). */
static int flat_wanted(void) {
    int c = 0;
    if (rf_setting_choice(RF_SET_XFER_TOPO, &c) != REFIT_OK) return -1;
    return c == 1; /* choices "node|flat" */
}

static refit_status split(MPI_Comm world, int color, int key, MPI_Comm *out, const char *what) {
    int rc = MPI_Comm_split(world, color, key, out);
    if (rc != MPI_SUCCESS) return rf_mpi_fail(rc, what);
    if (*out == MPI_COMM_NULL) return REFIT_OK;
    int n = 0;
    MPI_CHECK(MPI_Comm_set_errhandler(*out, MPI_ERRORS_RETURN));
    MPI_CHECK(MPI_Comm_size(*out, &n));
    if (n == 1) MPI_CHECK(MPI_Comm_free(out)); /* a broadcast to oneself moves nothing */
    return REFIT_OK;
}

/* Both levels of group g. Collective over world (every rank calls it for every g). */
static refit_status make_group(MPI_Comm world, int g, rf_node_groups_t *ng) {
    rf_node_group_t *grp = &ng->groups[g];
    int rank = ng->rank;
    grp->member = rank == 0 || rank % ng->tp == g;
    int node = ng->flat ? 0 : ng->node;
    /* Key = rank: rank 0 leads its node, elsewhere the lowest member does. */
    RF_CHECK(split(world, grp->member ? node : MPI_UNDEFINED, rank, &grp->intra, "MPI_Comm_split(node group)"));
    int local = 0;
    if (grp->intra != MPI_COMM_NULL) MPI_CHECK(MPI_Comm_rank(grp->intra, &local));
    grp->leader = grp->member && local == 0;
    return split(world, grp->leader ? 0 : MPI_UNDEFINED, rank, &grp->inter, "MPI_Comm_split(leaders)");
}

refit_status rf_node_groups_create(MPI_Comm world, int tp, rf_node_groups_t *out) {
    rf_node_groups_t ng = {.tp = tp};
    MPI_CHECK(MPI_Comm_rank(world, &ng.rank));
    /* Rank 0's setting holds everywhere: groups split two ways would never meet. */
    int flat = ng.rank == 0 ? flat_wanted() : 0;
    MPI_CHECK(MPI_Bcast(&flat, 1, MPI_INT, 0, world));
    if (flat < 0)
        return ng.rank == 0 ? REFIT_ERR_INVALID_ARG
                            : rf_error(REFIT_ERR_REMOTE, "rank 0: REFIT_XFER_TOPO is malformed there");
    ng.flat = flat;
    rf_node_place_t place;
    RF_CHECK(rf_node_place(&world, &place));
    ng.node = place.node;
    ng.n_nodes = place.n_nodes;
    ng.local_rank = place.local_rank;
    ng.local_size = place.local_size;
    ng.groups = calloc((size_t)tp, sizeof *ng.groups);
    if (!ng.groups) return rf_error(REFIT_ERR_NOMEM, "slice groups");
    for (int g = 0; g < tp; g++) ng.groups[g].intra = ng.groups[g].inter = MPI_COMM_NULL;
    refit_status st = REFIT_OK;
    for (int g = 0; g < tp && st == REFIT_OK; g++) st = make_group(world, g, &ng);
    if (st != REFIT_OK) {
        rf_node_groups_free(&ng);
        return st;
    }
    RF_INFO("comm", "node %d of %d (local rank %d of %d); slice groups %s", ng.node, ng.n_nodes,
            ng.local_rank, ng.local_size, ng.flat ? "flat (REFIT_XFER_TOPO=flat)" : "per node");
    *out = ng;
    return REFIT_OK;
}

void rf_node_groups_free(rf_node_groups_t *ng) {
    /* A failed free leaks one communicator handle and nothing else: noted, not fatal. */
    for (int g = 0; ng->groups && g < ng->tp; g++) {
        MPI_Comm *c[2] = {&ng->groups[g].intra, &ng->groups[g].inter};
        for (int k = 0; k < 2; k++)
            if (*c[k] != MPI_COMM_NULL && MPI_Comm_free(c[k]) != MPI_SUCCESS)
                RF_WARN("comm", "MPI_Comm_free of slice group %d failed", g);
    }
    free(ng->groups);
    ng->groups = NULL;
}

static refit_status ibcast(void *buf, int bytes, MPI_Comm comm, rf_node_bcast_t *b) {
    int rc = MPI_Ibcast(buf, bytes, MPI_BYTE, 0, comm, &b->req[b->n]);
    if (rc != MPI_SUCCESS) return rf_mpi_fail(rc, "MPI_Ibcast(bucket)");
    b->n++;
    return REFIT_OK;
}

refit_status rf_node_bcast_start(const rf_node_groups_t *ng, int g, void *buf, int bytes,
                                 rf_node_bcast_t *b) {
    const rf_node_group_t *grp = &ng->groups[g];
    *b = (rf_node_bcast_t){.fwd = MPI_COMM_NULL, .buf = buf, .bytes = bytes};
    if (grp->inter != MPI_COMM_NULL) RF_CHECK(ibcast(buf, bytes, grp->inter, b));
    if (grp->intra == MPI_COMM_NULL) return REFIT_OK;
    /* Rank 0 has the bytes already; another leader forwards them once they came. */
    if (ng->rank != 0 && grp->leader) b->fwd = grp->intra;
    else RF_CHECK(ibcast(buf, bytes, grp->intra, b));
    return REFIT_OK;
}

refit_status rf_node_bcast_wait(rf_node_bcast_t *b) {
    int rc = b->n ? MPI_Waitall(b->n, b->req, MPI_STATUSES_IGNORE) : MPI_SUCCESS;
    b->n = 0;
    if (rc != MPI_SUCCESS) return rf_mpi_fail(rc, "MPI_Waitall(bucket)");
    if (b->fwd == MPI_COMM_NULL) return REFIT_OK;
    MPI_Comm fwd = b->fwd;
    b->fwd = MPI_COMM_NULL;
    RF_CHECK(ibcast(b->buf, b->bytes, fwd, b));
    rc = MPI_Wait(&b->req[0], MPI_STATUS_IGNORE);
    b->n = 0;
    if (rc != MPI_SUCCESS) return rf_mpi_fail(rc, "MPI_Wait(node fan-out)");
    return REFIT_OK;
}
