/* Agreement on the caller's own communicator, before refit_create
 * duplicates or splits it (comm.h): what every rank must have the same of
 * (options, the tensor-parallel size) is checked here, so that ranks
 * started differently fail with the difference named instead of hanging in
 * MPI_Comm_split. */
#include <mpi.h>
#include <stdio.h>
#include <string.h>

#include "comm.h"

refit_status rf_comm_raw_rank(const void *mpi_comm, int *rank) {
    MPI_CHECK(MPI_Comm_rank(*(const MPI_Comm *)mpi_comm, rank));
    return REFIT_OK;
}

refit_status rf_comm_raw_bcast(const void *mpi_comm, void *buf, size_t bytes) {
    if (bytes > INT32_MAX) return rf_error(REFIT_ERR_INVALID_ARG, "broadcast of %zu bytes", bytes);
    MPI_CHECK(MPI_Bcast(buf, (int)bytes, MPI_BYTE, 0, *(const MPI_Comm *)mpi_comm));
    return REFIT_OK;
}

refit_status rf_comm_raw_agree(const void *mpi_comm, refit_status local) {
    MPI_Comm comm = *(const MPI_Comm *)mpi_comm;
    int rank;
    MPI_CHECK(MPI_Comm_rank(comm, &rank));
    /* the lowest failing rank, or INT32_MAX when every rank is fine */
    int first = local == REFIT_OK ? INT32_MAX : rank;
    MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &first, 1, MPI_INT, MPI_MIN, comm));
    if (first == INT32_MAX) return REFIT_OK;
    char msg[1000] = "";
    if (rank == first) snprintf(msg, sizeof msg, "%s", rf_err_msg());
    MPI_CHECK(MPI_Bcast(msg, (int)sizeof msg, MPI_CHAR, first, comm));
    if (rank == first) return local;
    return rf_error_replace(REFIT_ERR_REMOTE, "%s", msg[0] ? msg : "another rank failed");
}
