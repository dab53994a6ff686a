/* Nodes and local ranks: THE place where refit decides which ranks share a
 * machine. A node is the set of ranks with the same REFIT_NODE_ID or, when
 * that is unset, the same host name; nodes are numbered in order of their
 * lowest rank (rank 0's node is 0), and a rank's local rank is its place
 * among its node's ranks in communicator order. The host data plane's
 * two-level broadcast (node_groups.h), the cuda backend's GPU choice and the
 * launcher's CPU binding all use this one answer. */
#ifndef RF_NODE_PLACE_H
#define RF_NODE_PLACE_H

#include "rf_common.h"

typedef struct {
    int node, n_nodes;          /* this rank's node index, node count */
    int local_rank, local_size; /* place among its node's ranks, and their number */
} rf_node_place_t;

/* Collective over `mpi_comm` (an MPI_Comm*). */
refit_status rf_node_place(const void *mpi_comm, rf_node_place_t *out);

#endif
