/* Nodes and the two-level slice groups of the host data plane. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "node_groups.h"

#define NODE_NAME_MAX 64

refit_status rf_mpi_fail(int rc, const char *what) {
    char msg[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    return rf_error(REFIT_ERR_COMM, "%s failed: %s", what, msg);
}

/* REFIT_NODE_ID, else the host name: what makes two ranks one node. */
static void node_name(char out[NODE_NAME_MAX]) {
    const char *id = getenv("REFIT_NODE_ID");
    memset(out, 0, NODE_NAME_MAX);
    if (id && *id) snprintf(out, NODE_NAME_MAX, "id:%s", id);
    else if (gethostname(out, NODE_NAME_MAX - 1) != 0) snprintf(out, NODE_NAME_MAX, "?");
}

static bool flat_wanted(void) {
    const char *v = getenv("REFIT_XFER_TOPO");
    if (v && *v && strcmp(v, "flat") && strcmp(v, "node"))
        RF_WARN("comm", "REFIT_XFER_TOPO='%s' is neither node nor flat: using node", v);
    return v && !strcmp(v, "flat");
}

/* Node index of every rank: the index, in order of first appearance, of
 * its name among all ranks' names (so rank 0's node is 0). */
static refit_status find_nodes(MPI_Comm world, rf_node_groups_t *ng) {
    int size;
    MPI_Comm_size(world, &size);
    char mine[NODE_NAME_MAX];
    node_name(mine);
    char *all = malloc((size_t)size * NODE_NAME_MAX);
    int *first = malloc(sizeof(int) * (size_t)size); /* lowest rank with rank r's name */
    if (!all || !first) {
        free(all);
        free(first);
        return rf_error(REFIT_ERR_NOMEM, "node table of %d ranks", size);
    }
    int rc = MPI_Allgather(mine, NODE_NAME_MAX, MPI_CHAR, all, NODE_NAME_MAX, MPI_CHAR, world);
    refit_status st = rc == MPI_SUCCESS ? REFIT_OK : rf_mpi_fail(rc, "MPI_Allgather(node names)");
    /* O(ranks x nodes) compares, once per context: 10^5 for 1,024 ranks on 128 nodes. */
    for (int r = 0; st == REFIT_OK && r < size; r++) {
        first[r] = r;
        for (int q = 0; q < r; q++)
            if (first[q] == q && !memcmp(all + (size_t)q * NODE_NAME_MAX, all + (size_t)r * NODE_NAME_MAX,
                                         NODE_NAME_MAX)) {
                first[r] = q;
                break;
            }
        if (first[r] == r) ng->n_nodes++;
    }
    for (int r = 0; st == REFIT_OK && r < size; r++) {
        if (first[r] == r && r < first[ng->rank]) ng->node++;
        if (first[r] == first[ng->rank]) {
            ng->local_rank += r < ng->rank;
            ng->local_size++;
        }
    }
    free(all);
    free(first);
    return st;
}

static refit_status split(MPI_Comm world, int color, int key, MPI_Comm *out, const char *what) {
    int rc = MPI_Comm_split(world, color, key, out);
    if (rc != MPI_SUCCESS) return rf_mpi_fail(rc, what);
    if (*out == MPI_COMM_NULL) return REFIT_OK;
    MPI_Comm_set_errhandler(*out, MPI_ERRORS_RETURN);
    int n;
    MPI_Comm_size(*out, &n);
    if (n == 1) MPI_Comm_free(out); /* a broadcast to oneself moves nothing */
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
    if (grp->intra != MPI_COMM_NULL) MPI_Comm_rank(grp->intra, &local);
    grp->leader = grp->member && local == 0;
    return split(world, grp->leader ? 0 : MPI_UNDEFINED, rank, &grp->inter, "MPI_Comm_split(leaders)");
}

refit_status rf_node_groups_create(MPI_Comm world, int tp, rf_node_groups_t *out) {
    rf_node_groups_t ng = {.tp = tp};
    MPI_Comm_rank(world, &ng.rank);
    /* Rank 0's setting holds everywhere: groups split two ways would never meet. */
    int flat = ng.rank == 0 && flat_wanted();
    int rc = MPI_Bcast(&flat, 1, MPI_INT, 0, world);
    if (rc != MPI_SUCCESS) return rf_mpi_fail(rc, "MPI_Bcast(REFIT_XFER_TOPO)");
    ng.flat = flat;
    RF_CHECK(find_nodes(world, &ng));
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
    for (int g = 0; ng->groups && g < ng->tp; g++) {
        if (ng->groups[g].intra != MPI_COMM_NULL) MPI_Comm_free(&ng->groups[g].intra);
        if (ng->groups[g].inter != MPI_COMM_NULL) MPI_Comm_free(&ng->groups[g].inter);
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
