/* `refit run`'s collectives outside a load (refit_create, the agreement on
 * the loads, the report's gather after each load, the final dump and
 * finish) under the same --timeout as the loads: a thread that, when a step
 * outlives it, reports "rank R: timed out after X s (timeout T s) in STEP",
 * writes the emergency dump of the attached context and ends the job with
 * MPI_Abort(124), split as a load's watchdog is (docs/faults.md), so that a
 * rank stopped there cannot keep the others waiting past the timeout. */
#ifndef RF_RUN_DEADLINE_H
#define RF_RUN_DEADLINE_H

#include "refit.h"

#define RF_RUN_EXIT_TIMEOUT 124

void rf_run_deadline_start(double timeout_s);
/* Arms the deadline for the step named `what` (a string literal); `ctx`:
 * whose emergency dump to write (NULL: none yet). */
void rf_run_deadline_arm(refit_ctx *ctx, const char *what);
void rf_run_deadline_disarm(void);
void rf_run_deadline_stop(void);

#endif
