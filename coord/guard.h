/* Reliability of one context: the fault points (fault.h), the watchdog
 * armed around each load and what happens when a load outlives its timeout
 * (timeout.c, on watchdog.h's timer thread), and the emergency dump a dying
 * rank writes of its last committed generation (emergency.c). guard.c holds
 * the state they share and the fault points of each phase.
 *
 * The guard never sees the context (coord/ctx_internal.h): what it needs
 * from it comes in rf_guard_hooks_t and as arguments, so the dependency is
 * one way, ctx -> guard.
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

/* A rank's side of the two-phase commit at B (vote.c, docs/faults.md). */
typedef enum {
    RF_VOTE_IDLE = 0,    /* no load running */
    RF_VOTE_VOTING,      /* loading; the rank has not voted yet */
    RF_VOTE_DOOMED,      /* a signal or the watchdog came before the vote: the vote will be no */
    RF_VOTE_VOTED_OK,    /* voted yes; the outcome is not known yet */
    RF_VOTE_COMMITTING,  /* every rank voted yes: copying shadow to live */
    RF_VOTE_COMMITTED,   /* generation g is live */
    RF_VOTE_ABORTED      /* some rank voted no: generation g-1 stays */
} rf_vote_state_t;

#define RF_DEFAULT_TIMEOUT_S 60.0
#define RF_EXIT_TIMEOUT 124 /* exit code of a job ended by the watchdog (as coreutils timeout) */

/* What the guard calls back into its context. Each runs on the watchdog
 * thread or the emergency dump's thread. */
typedef struct {
    void *user;
    /* the load is past its deadline: make the backend's blocked calls return */
    void (*unblock)(void *user);
    /* this rank's part of the dump (no MPI), under the live lock */
    refit_status (*dump_local)(void *user, const char *dir);
    /* ends the whole job with `code` (MPI_Abort); does not return */
    void (*end_job)(void *user, int code);
} rf_guard_hooks_t;

typedef struct {
    int rank, world;
    double timeout_s;    /* 0: RF_DEFAULT_TIMEOUT_S; < 0: no watchdog */
    bool shadow;         /* shadow commit mode: live weights stay whole during a load */
    int64_t generation;  /* committed so far */
} rf_guard_config_t;

/* Reads REFIT_FAULT (bad syntax: REFIT_ERR_INVALID_ARG) and starts the
 * watchdog thread. */
refit_status rf_guard_create(const rf_guard_config_t *cfg, const rf_guard_hooks_t *hooks, rf_guard_t **out);
void rf_guard_destroy(rf_guard_t *g);

/* Around refit_load of generation `loading`: arms / disarms the watchdog. */
void rf_guard_load_begin(rf_guard_t *g, int64_t loading);
void rf_guard_load_end(rf_guard_t *g);
/* The split of a timeout: the watchdog fires after *fire_s, the job is
 * aborted after *abort_s (timeout.c). */
void rf_guard_timeout_split(double timeout, double *fire_s, double *abort_s);
/* rf_now() time at which the running load's watchdog fires (0: no watchdog). */
double rf_guard_deadline(const rf_guard_t *g);
/* Progress marker: the phase the watchdog names if the load times out. */
void rf_guard_phase(rf_guard_t *g, refit_phase ph);
/* Marker + fault point of phase `ph` of generation `gen` (`what`: the param
 * or file at hand, or NULL). */
refit_status rf_guard_fault(rf_guard_t *g, refit_phase ph, int64_t gen, const char *what);
/* Fault point of an allocation of R2 (REFIT_FAULT kind nomem). */
refit_status rf_guard_alloc_fault(rf_guard_t *g, int64_t gen, const char *what);
/* Corrupt fault point of R3 (as a slice lands): true once when the rank
 * should flip a byte of it (REFIT_FAULT=R:transfer:corrupt). */
bool rf_guard_corrupt_fault(rf_guard_t *g, int64_t gen, const char *what);
/* Held while the live weights change (commit) or are read (dumps), so that
 * an emergency dump never reads half-copied weights; unlock publishes the
 * committed generation for messages from other threads. */
void rf_guard_live_lock(rf_guard_t *g);
void rf_guard_live_unlock(rf_guard_t *g, int64_t generation);

/* ---- the two-phase commit (vote.c) ------------------------------------ */
/* This rank's vote at B: `st` unless a signal or the watchdog came first,
 * then "rank R: terminated by signal N (NAME) before its vote" (or "timed
 * out after ..."). Call right before the agreement. */
refit_status rf_guard_vote(rf_guard_t *g, refit_status st);
/* The agreement's outcome (REFIT_OK: unanimous, the rank commits now). */
void rf_guard_vote_result(rf_guard_t *g, refit_status agreed);
/* After the commit's copy: COMMITTED (ok) or ABORTED. Restarts an emergency
 * dump that was already asked for, so it holds the new generation. */
void rf_guard_vote_committed(rf_guard_t *g, bool ok);
rf_vote_state_t rf_guard_vote_state(rf_guard_t *g);
const char *rf_vote_state_name(rf_vote_state_t s);
/* A terminating signal (SIGTERM, SIGINT) on this rank: before the vote the
 * vote becomes no; the caller then waits (bounded by the load's deadline)
 * for the outcome, so that what it reports and dumps is what it holds:
 * g-1 after an abort, g after a commit. No dump when the outcome could not
 * be learnt (voted yes, never heard back): the rank's state is unknown. */
void rf_guard_signal(rf_guard_t *g, int sig, double max_dump_seconds);

/* ---- the emergency dump (emergency.c; see coord/refit_tool.h) --------- */
void rf_guard_set_dump_dir(rf_guard_t *g, const char *dir);
void rf_guard_emergency(rf_guard_t *g, const char *why, double max_seconds);
void rf_guard_emergency_dump_start(rf_guard_t *g);

#endif
