/* The guard's state, shared by its three files only: guard.c (state, fault
 * points, live lock), timeout.c (the watchdog's policy), emergency.c (the
 * emergency dump). */
#ifndef RF_GUARD_INTERNAL_H
#define RF_GUARD_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "guard.h"
#include "watchdog.h"

typedef enum { DUMP_IDLE = 0, DUMP_RUNNING, DUMP_DONE } rf_dump_state_t;

struct rf_guard {
    rf_guard_config_t cfg;
    rf_guard_hooks_t hooks;
    rf_fault_t fault;
    rf_watchdog_t *wd;
    double timeout;        /* seconds; <= 0: no watchdog */
    double deadline;       /* rf_now() time the running load's watchdog fires; 0: none */
    atomic_int phase;      /* refit_phase the load is in */
    pthread_mutex_t live;  /* live weights, generation, in_load */
    bool in_load;
    /* copies for messages from other threads, published as the lock is released */
    atomic_bool in_load_pub;
    atomic_llong generation_pub;
    atomic_llong loading_pub;
    atomic_flag reported;  /* the first cause of this rank's end is reported, later ones only wait */
    char *dump_dir;
    /* emergency dump: one at a time, on its own thread so that waits for it
     * stay bounded; done again only if the committed generation changed */
    pthread_mutex_t dmu;
    pthread_cond_t dcv;
    rf_dump_state_t dump_state;
    long long dumped_gen;  /* generation the DONE dump holds */
    char dump_msg[1200];
    /* the two-phase commit of the running load (vote.c), under vmu; vcv
     * wakes the signal thread waiting for the vote's outcome */
    pthread_mutex_t vmu;
    pthread_cond_t vcv;
    rf_vote_state_t vote;
    char doom[200];        /* why the vote will be no (RF_VOTE_DOOMED): a signal, the watchdog */
    refit_status doom_status;
    char vote_cause[400];  /* why the agreement failed (ABORTED), for the signal's report */
};

/* vote.c: VOTING at the start of a load, IDLE at its end. */
void rf_guard_vote_begin(rf_guard_t *g);
void rf_guard_vote_end(rf_guard_t *g);
/* vote.c: VOTING -> DOOMED (the vote will be no, because of `cause`);
 * returns the state found. */
rf_vote_state_t rf_guard_vote_doom(rf_guard_t *g, refit_status status, const char *cause);
/* timeout.c: the watchdog's function (the load outlived its timeout). */
void rf_guard_on_timeout(void *user, double armed);
/* timeout.c: the watchdog's limit for a load, out of the whole timeout. */
double rf_guard_watchdog_limit(double timeout);

#endif
