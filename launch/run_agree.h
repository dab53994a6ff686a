/* `refit run`'s agreement on its loads: rank 0's count and checkpoint list
 * reach every rank over MPI_COMM_WORLD, and a rank given different ones
 * fails naming the first difference ("rank 1 has 3 loads, rank 0 has 2")
 * instead of surfacing as a timeout in phase snapshot. Collective. */
#ifndef RF_RUN_AGREE_H
#define RF_RUN_AGREE_H

#include <stdbool.h>

#include "rf_common.h"

/* `dirs`: the n loads' directories (only read when `explicit_list`: the
 * embedded default's are known to rank 0 alone). */
refit_status rf_run_agree_loads(int rank, int n, const char *const *dirs, bool explicit_list);

#endif
