/* Slice groups laid over nodes: the host data plane's two-level broadcast.
 *
 * Slice group g is rank 0 plus every rank with rank % tp == g. A bucket of
 * group g must reach each of its members; across nodes it should cross the
 * network once per node, then fan out over the node's own memory. So each
 * group is split in two levels:
 *   - intra (per node): the group's members on one node; its rank 0 is the
 *     node's leader (rank 0 itself on rank 0's node, else the lowest rank);
 *   - inter: rank 0 plus the leader of every other node holding members.
 * A bucket goes rank 0 -> leaders (inter), then leader -> node (intra).
 * With one node (or REFIT_XFER_TOPO=flat, as rank 0 has it) there is no
 * inter level and the intra level is the whole group: the single-level
 * broadcast of before.
 *
 * Nodes are those of node_place.h. Internal to comm/. */
#ifndef RF_NODE_GROUPS_H
#define RF_NODE_GROUPS_H

#include <mpi.h>

#include "node_place.h"

typedef struct {
    MPI_Comm intra; /* MPI_COMM_NULL when not a member or alone on its node */
    MPI_Comm inter; /* MPI_COMM_NULL unless rank 0 or a leader, with >1 node */
    bool member;
    bool leader;    /* first to get the group's bytes on this node */
} rf_node_group_t;

typedef struct {
    int node, n_nodes;         /* this rank's node index (rank 0's node is 0), node count */
    int local_rank, local_size; /* place among the ranks of its node, in world order */
    bool flat;                 /* REFIT_XFER_TOPO=flat: one level, nodes ignored */
    int rank, tp;
    rf_node_group_t *groups;   /* [tp] */
} rf_node_groups_t;

/* Collective over `world` (which must return errors). */
refit_status rf_node_groups_create(MPI_Comm world, int tp, rf_node_groups_t *out);
void rf_node_groups_free(rf_node_groups_t *ng);

/* One bucket broadcast of group g from rank 0, in flight. */
typedef struct {
    MPI_Request req[2];
    int n;           /* requests in req */
    MPI_Comm fwd;    /* leader: re-broadcast over this once the bucket arrived */
    void *buf;
    int bytes;
} rf_node_bcast_t;

/* Starts the broadcast on a member of group g; rf_node_bcast_wait finishes
 * it (a leader forwards inside its node there, so while it waits for bucket
 * k-1's fan-out, bucket k already crosses the network). */
refit_status rf_node_bcast_start(const rf_node_groups_t *ng, int g, void *buf, int bytes,
                                 rf_node_bcast_t *b);
refit_status rf_node_bcast_wait(rf_node_bcast_t *b);


#endif
