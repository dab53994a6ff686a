/* Reliability of one context (coord/ctx.c calls these): the fault points
 * (coord/fault.h), the watchdog armed around each load (coord/watchdog.h)
 * and what happens when a load outlives its timeout, and the emergency dump
 * a dying rank writes of its last committed generation.
 *
 * Why a load that times out ends the job instead of returning: a rank that
 * stopped responding, or died, leaves its peers inside an MPI collective
 * that cannot be cancelled, and without ULFM an MPI job cannot go on
 * without one of its ranks. What the watchdog guarantees is that this end
 * comes within the timeout, on every rank, with the cause on stderr and,
 * when a dump directory was given, each surviving rank's last committed
 * generation saved. A failed load that returns (any error on any rank)
 * never ends the job: the context keeps the previous generation and can
 * retry. */
#ifndef RF_GUARD_H
#define RF_GUARD_H

#include "fault.h"
#include "refit.h"

typedef struct rf_guard rf_guard_t;

#define RF_DEFAULT_TIMEOUT_S 60.0
#define RF_EXIT_TIMEOUT 124 /* exit code of a job ended by the watchdog (as coreutils timeout) */

/* Reads REFIT_FAULT (bad syntax: REFIT_ERR_INVALID_ARG) and starts the watchdog
 * thread. `ctx` must have its comm; the backend may come later. */
refit_status rf_guard_create(refit_ctx *ctx, rf_guard_t **out);
void rf_guard_destroy(rf_guard_t *g);

/* Around refit_load: arms / disarms the watchdog with the context's timeout. */
void rf_guard_load_begin(rf_guard_t *g);
void rf_guard_load_end(rf_guard_t *g);
/* rf_now() time at which the running load's watchdog fires (0: no watchdog). */
double rf_guard_deadline(const rf_guard_t *g);
/* Progress marker: the phase the watchdog names if the load times out. */
void rf_guard_phase(rf_guard_t *g, refit_phase ph);
/* Marker + fault point of phase `ph` (`what`: the param or file at hand, or NULL). */
refit_status rf_guard_fault(rf_guard_t *g, refit_phase ph, const char *what);
/* Held while the live weights change (commit), so that an emergency dump
 * never reads half-copied weights. */
void rf_guard_live_lock(rf_guard_t *g);
void rf_guard_live_unlock(rf_guard_t *g);

/* ---- for the launcher and embedding applications --------------------- */
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

#endif
