/* A timer thread: armed with a number of seconds, it calls its function on
 * its own thread if it is not disarmed in time. The coordinator arms one
 * per context around each refit_load, so that a load stuck anywhere (a
 * hung peer in an MPI collective, an NCCL kernel waiting forever, a hung
 * file system) ends within its timeout instead of hanging the job. */
#ifndef RF_WATCHDOG_H
#define RF_WATCHDOG_H

#include "rf_common.h"

typedef struct rf_watchdog rf_watchdog_t;

/* Runs on the watchdog thread (all signals blocked there), at most once per
 * arming; `seconds` is what the watchdog was armed with. It may not return
 * (the coordinator's ends the job). */
typedef void (*rf_watchdog_fn)(void *user, double seconds);

refit_status rf_watchdog_create(rf_watchdog_fn fn, void *user, rf_watchdog_t **out);
/* Stops and joins the thread. Not while `fn` runs. */
void rf_watchdog_destroy(rf_watchdog_t *w);
/* (Re)starts the countdown; seconds <= 0 leaves it disarmed. */
void rf_watchdog_arm(rf_watchdog_t *w, double seconds);
void rf_watchdog_disarm(rf_watchdog_t *w);

#endif
