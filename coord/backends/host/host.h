/* The host backend's data plane (xfer_host.c), for backend_host.c. */
#ifndef RF_HOST_H
#define RF_HOST_H

#include "backend.h"

/* R3 over MPI: rank 0 packs each slice group's stream bucket by bucket and
 * broadcasts it inside the group; members unpack into x->dest. */
refit_status rf_xfer_host_run(const rf_xfer_t *x, uint64_t *bytes_moved);

#endif
