/* The watchdog's policy (guard.h): how a load's timeout is split, and what
 * happens when a load outlives it: unblock the backend, report, dump, end
 * the job. */
#include <stdio.h>
#include <time.h>

#include "guard_internal.h"

/* The timeout is split so that the job has ended by the time it runs out:
 * the watchdog fires first, leaves every rank a window for its emergency
 * dump, then aborts, and mpirun's teardown (up to a second: SIGCONT, then
 * SIGTERM a second later when it goes the slow way) ends within the rest. */
static double teardown_s(double timeout) { return timeout * 0.25 < 1.2 ? timeout * 0.25 : 1.2; }
static double dump_window_s(double timeout) { return timeout * 0.15 < 1.0 ? timeout * 0.15 : 1.0; }

double rf_guard_watchdog_limit(double timeout) { return timeout - teardown_s(timeout) - dump_window_s(timeout); }

void rf_guard_timeout_split(double timeout, double *fire_s, double *abort_s) {
    *fire_s = rf_guard_watchdog_limit(timeout);
    *abort_s = *fire_s + dump_window_s(timeout);
}

static void sleep_until(double t) {
    for (double left = t - rf_now(); left > 0; left = t - rf_now()) {
        struct timespec ts = {.tv_sec = (time_t)left, .tv_nsec = (long)((left - (double)(time_t)left) * 1e9)};
        nanosleep(&ts, NULL); /* EINTR: the loop sleeps the rest */
    }
}

/* The watchdog's action: report, dump, end the job. Every rank's watchdog
 * fires at about the same time (loads start together), but MPI_Abort kills
 * the other ranks within milliseconds (SIGCONT, SIGTERM, SIGKILL): so each
 * rank waits out the dump window before aborting, which leaves the others
 * time for their own dumps. */
void rf_guard_on_timeout(void *user, double armed) {
    rf_guard_t *g = user;
    double abort_at = g->deadline + dump_window_s(g->timeout);
    char why[160];
    snprintf(why, sizeof why, "timed out after %.1f s (timeout %.1f s)", armed, g->timeout);
    /* First unblock what the backend can unblock (cuda: ncclCommAbort), so
     * the dump's device copies are not queued behind a stuck kernel. */
    if (g->hooks.unblock) g->hooks.unblock(g->hooks.user);
    /* Before its vote the rank now votes no: its main thread may still get
     * there (a rank stopped and continued) and must not commit what this
     * report says it keeps. After a yes, the dump follows a commit. */
    rf_guard_vote_doom(g, REFIT_ERR_TIMEOUT, why);
    rf_guard_emergency(g, why, abort_at - rf_now());
    sleep_until(abort_at);
    fflush(NULL);
    g->hooks.end_job(g->hooks.user, RF_EXIT_TIMEOUT);
}

void rf_guard_load_begin(rf_guard_t *g, int64_t loading) {
    PTHREAD_MUST(pthread_mutex_lock(&g->live));
    g->in_load = true;
    rf_guard_live_unlock(g, atomic_load(&g->generation_pub));
    atomic_store(&g->phase, REFIT_PHASE_OPEN);
    atomic_store(&g->loading_pub, loading);
    rf_guard_vote_begin(g);
    if (!g->wd) return;
    double limit = rf_guard_watchdog_limit(g->timeout);
    g->deadline = rf_now() + limit;
    rf_watchdog_arm(g->wd, limit);
}

double rf_guard_deadline(const rf_guard_t *g) { return g->wd ? g->deadline : 0; }

void rf_guard_load_end(rf_guard_t *g) {
    if (g->wd) rf_watchdog_disarm(g->wd);
    PTHREAD_MUST(pthread_mutex_lock(&g->live));
    g->in_load = false;
    rf_guard_live_unlock(g, atomic_load(&g->generation_pub));
    rf_guard_vote_end(g);
}
