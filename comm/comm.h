/* Moving bytes between ranks over MPI, the only layer that calls MPI: the
 * control plane (broadcasts, agreement on a status), the slice groups'
 * bucket broadcasts the host backend's data plane is made of, nodes and
 * local ranks (node_place.h). Decides nothing about what is sent: its
 * callers give it buffers. Includes nothing above base. */
#ifndef RF_COMM_H
#define RF_COMM_H

#include <stddef.h>
#include <stdint.h>

#include "rf_common.h"

typedef struct rf_comm rf_comm_t;

/* Collective over `mpi_comm` (an MPI_Comm*, void* to keep MPI out of the
 * headers). The communicator is duplicated and set to MPI_ERRORS_RETURN.
 * world % tp must be 0. Builds one slice group per tp rank r: rank 0 plus
 * every rank with rank % tp == r. */
refit_status rf_comm_create(const void *mpi_comm, int tp, rf_comm_t **out);
void rf_comm_destroy(rf_comm_t *c);

int rf_comm_rank(const rf_comm_t *c);
int rf_comm_world(const rf_comm_t *c);
int rf_comm_tp(const rf_comm_t *c);
int rf_comm_tp_rank(const rf_comm_t *c);
/* Nodes and local ranks as node_place.h defines them. */
int rf_comm_nodes(const rf_comm_t *c);
int rf_comm_local_rank(const rf_comm_t *c);
int rf_comm_local_size(const rf_comm_t *c);

/* Broadcast `bytes` from rank 0 to all. */
refit_status rf_comm_bcast(rf_comm_t *c, void *buf, size_t bytes);
/* Rank 0 sends a blob of its length; others receive into a malloc'd buffer
 * (*buf, *len set on success; caller frees). */
refit_status rf_comm_bcast_blob(rf_comm_t *c, uint8_t **buf, size_t *len);
/* MIN of a value over all ranks (bucket size agreement). */
refit_status rf_comm_allreduce_min_u64(rf_comm_t *c, uint64_t *val);
refit_status rf_comm_barrier(rf_comm_t *c);
/* Rank 0 receives `bytes` from every rank into all[world * bytes], in rank
 * order (its own included); `all` is ignored on other ranks. */
refit_status rf_comm_gather(rf_comm_t *c, const void *mine, size_t bytes, void *all);
/* Whether a wait of this communicator gave up at its deadline
 * (rf_comm_set_deadline): its collectives are then unusable for good, and
 * every later call returns REFIT_ERR_TIMEOUT at once. */
bool rf_comm_timed_out(const rf_comm_t *c);
/* rf_now() time at which every wait of this communicator gives up with
 * REFIT_ERR_TIMEOUT (0: none, waits block as long as it takes). */
void rf_comm_set_deadline(rf_comm_t *c, double deadline);
/* The deadline set last (0: none): the cuda backend's NCCL waits give up there too. */
double rf_comm_deadline(const rf_comm_t *c);
/* Whether MPI runs at MPI_THREAD_MULTIPLE (MPI_Query_thread). */
bool rf_comm_thread_multiple(void);
/* Ends the whole job (MPI_Abort) with exit code `code`: the last resort of
 * the watchdog, from its own thread, when a load outlived its timeout. */
void rf_comm_abort(rf_comm_t *c, int code) __attribute__((noreturn));

/* Agreement (protocol step B): every rank brings its local status; returns
 * REFIT_OK on all ranks only if every rank is OK. Otherwise every rank gets
 * the status and message of the lowest failing rank (ranks failing with
 * REFIT_ERR_REMOTE, i.e. relaying an earlier agreement, count after all
 * others): its own (unchanged) on that rank, REFIT_ERR_REMOTE with that
 * message everywhere else. */
refit_status rf_comm_agree(rf_comm_t *c, refit_status local);

/* ---- on the caller's communicator, before any split (agree_raw.c) ------
 * `mpi_comm` as for rf_comm_create. For what every rank must hold the same
 * of before the communicator is split (options, the tp size). */
refit_status rf_comm_raw_rank(const void *mpi_comm, int *rank);
refit_status rf_comm_raw_bcast(const void *mpi_comm, void *buf, size_t bytes);
/* As rf_comm_agree. */
refit_status rf_comm_raw_agree(const void *mpi_comm, refit_status local);

/* ---- host data plane: double-buffered bucket broadcasts ---------------
 * Inside slice group g (rank 0 + ranks with tp_rank g) rank 0 broadcasts a
 * bucket; rf_comm_group_ibcast starts it, rf_comm_wait finishes it. Ranks
 * outside the group must not call it. Across nodes the bucket crosses the
 * network once per node, to the node's first member, which fans it out
 * inside its node during rf_comm_wait (node_groups.h; REFIT_XFER_TOPO=flat
 * gives the single-level broadcast). */
typedef struct rf_comm_req rf_comm_req_t;
bool rf_comm_in_group(const rf_comm_t *c, int group);
refit_status rf_comm_group_ibcast(rf_comm_t *c, int group, void *buf, size_t bytes,
                                  rf_comm_req_t **req);
refit_status rf_comm_wait(rf_comm_req_t *req);

#endif
