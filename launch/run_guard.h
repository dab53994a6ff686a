/* Signals during `refit run`. When one rank dies (a crash) or the watchdog
 * aborts the job, mpirun sends every other rank SIGCONT, a second later
 * SIGTERM, and SIGKILL right after. A signal thread starts the emergency
 * dump (the last committed generation, when --dump was given) at SIGCONT if
 * a load is running, and at SIGTERM/SIGINT reports the rank's phase, waits
 * briefly for the dump and exits 128 + the signal. */
#ifndef RF_RUN_GUARD_H
#define RF_RUN_GUARD_H

#include "refit.h"

/* Blocks SIGTERM, SIGINT and SIGCONT in the calling thread and starts the signal
 * thread. Call before MPI_Init, so that every thread created later (MPI's
 * and the watchdog) inherits the mask and the signal comes to this thread. */
void rf_run_guard_start(void);
/* The context whose state a signal reports and dumps (NULL: none) and its
 * --dump directory (NULL: no emergency dump). */
void rf_run_guard_attach(refit_ctx *ctx, const char *dump_dir);
/* Stops and joins the signal thread and unblocks the signals: their
 * default action applies again (a pending one ends the process now). */
void rf_run_guard_stop(void);

#endif
