/* refit_create's agreement of options before any split (options_agree.c). */
#ifndef RF_OPTIONS_AGREE_H
#define RF_OPTIONS_AGREE_H

#include "refit.h"

/* Collective over the caller's communicator (`mpi_comm`, as refit_create):
 * every rank must hold rank 0's tp, quant, backend, commit, transfer,
 * bucket and timeout; the first difference fails it on every rank with
 * "rank 1 has --quant none, rank 0 has fp8-tensor". `local`: this rank's
 * own verdict on its options (a bad one fails every rank, its cause named). */
refit_status rf_options_agree(const void *mpi_comm, const refit_options *opt, refit_status local);

#endif
