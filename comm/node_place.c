/* Nodes and local ranks (node_place.h). */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "node_place.h"
#include "rf_settings.h"

#define NODE_NAME_MAX 64

/* REFIT_NODE_ID, else the host name: what makes two ranks one node. */
static void node_name(char out[NODE_NAME_MAX]) {
    const char *id = "";
    memset(out, 0, NODE_NAME_MAX);
    (void)rf_setting_str(RF_SET_NODE_ID, &id); /* a string setting: any value is well formed */
    if (*id) snprintf(out, NODE_NAME_MAX, "id:%s", id);
    else if (gethostname(out, NODE_NAME_MAX - 1) != 0) snprintf(out, NODE_NAME_MAX, "?");
}

/* From every rank's name: the index, in order of first appearance, of this
 * rank's name among all names (so rank 0's node is 0), the node count, and
 * this rank's place among the ranks with its name. */
static void count_nodes(const char *all, int size, int rank, int *first, rf_node_place_t *p) {
    /* O(ranks x nodes) compares, once per call: 10^5 for 1,024 ranks on 128 nodes. */
    for (int r = 0; r < size; r++) {
        first[r] = r; /* lowest rank with rank r's name */
        for (int q = 0; q < r; q++)
            if (first[q] == q && !memcmp(all + (size_t)q * NODE_NAME_MAX, all + (size_t)r * NODE_NAME_MAX,
                                         NODE_NAME_MAX)) {
                first[r] = q;
                break;
            }
        if (first[r] == r) p->n_nodes++;
    }
    for (int r = 0; r < size; r++) {
        if (first[r] == r && r < first[rank]) p->node++;
        if (first[r] == first[rank]) {
            p->local_rank += r < rank;
            p->local_size++;
        }
    }
}

refit_status rf_node_place(const void *mpi_comm, rf_node_place_t *out) {
    MPI_Comm comm = *(const MPI_Comm *)mpi_comm;
    int size = 0, rank = 0;
    MPI_CHECK(MPI_Comm_size(comm, &size));
    MPI_CHECK(MPI_Comm_rank(comm, &rank));
    char mine[NODE_NAME_MAX];
    node_name(mine);
    char *all = malloc((size_t)size * NODE_NAME_MAX);
    int *first = malloc(sizeof(int) * (size_t)size);
    /* every rank joins the gather, even one without memory for it */
    int ok = all && first, all_ok = 0;
    refit_status st = REFIT_OK;
    int rc = MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, comm);
    if (rc != MPI_SUCCESS) st = rf_mpi_fail(rc, "MPI_Allreduce(node table)");
    else if (!all_ok) st = rf_error(ok ? REFIT_ERR_REMOTE : REFIT_ERR_NOMEM, "node table of %d ranks", size);
    if (st == REFIT_OK) {
        rc = MPI_Allgather(mine, NODE_NAME_MAX, MPI_CHAR, all, NODE_NAME_MAX, MPI_CHAR, comm);
        if (rc != MPI_SUCCESS) st = rf_mpi_fail(rc, "MPI_Allgather(node names)");
    }
    if (st == REFIT_OK) {
        rf_node_place_t p = {0};
        count_nodes(all, size, rank, first, &p);
        *out = p;
    }
    free(all);
    free(first);
    return st;
}
