/* coord's TOOL header: the few calls past the public API (refit.h) that
 * the refit command (launch/run_guard.c) makes, about a rank that is about
 * to die. Not for embedding applications yet: the embedding API will offer
 * its own. */
#ifndef RF_REFIT_TOOL_H
#define RF_REFIT_TOOL_H

#include <stdio.h>

#include "refit.h"

/* Where a dying rank writes its emergency dump (the --dump directory); NULL: none. */
void rf_ctx_set_emergency_dump(refit_ctx *ctx, const char *dir);
/* Reports on stderr why this rank is about to die ("timed out after 9.0 s",
 * "terminated by signal 15") with the phase and generations, and, when a
 * dump directory was set and a load was running (shadow commit mode),
 * writes this rank's dump file of the last committed generation, waiting
 * at most `max_seconds` for it. Local: no MPI. Safe from any thread; the
 * second caller waits for the first one's dump. */
void rf_ctx_emergency(refit_ctx *ctx, const char *why, double max_seconds);
/* Starts that dump without waiting (nothing is printed): for the first sign
 * that the job is being torn down, e.g. the SIGCONT with which mpirun
 * begins, a second before its SIGTERM and SIGKILL. A later
 * rf_ctx_emergency() waits for it rather than dumping again. */
void rf_ctx_emergency_dump_start(refit_ctx *ctx);
/* A terminating signal (SIGTERM, SIGINT) reached this rank: before its vote
 * at B the vote becomes no ("terminated by signal 15 (SIGTERM) before its
 * vote"); the call then waits for the vote's outcome (bounded by the load's
 * deadline) and reports and dumps what the rank holds, as
 * rf_ctx_emergency. Returns; the caller ends the process. */
void rf_ctx_signal(refit_ctx *ctx, int sig, double max_dump_seconds);

/* How a timeout of `timeout_s` seconds is split (docs/faults.md "Timeline
 * of a timeout"): the watchdog reports after *fire_s, the job is aborted at
 * *abort_s, mpirun's teardown fits in the rest. */
void rf_tool_timeout_split(double timeout_s, double *fire_s, double *abort_s);

/* A dump directory (refit_dump) against its manifest refit-dump.json: each
 * listed file present with the recorded size and digest, each rank file of
 * the recorded generation. Prints one line per file and then "DIR:
 * complete", "DIR: incomplete" (a file or the manifest missing) or "DIR:
 * mixed" (generations or digests disagree) to `out`. Returns 0 when
 * complete, 1 otherwise. Local, no MPI (refit inspect). */
int rf_dump_verify(const char *dir, FILE *out);

#endif
