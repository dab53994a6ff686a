/* The two-phase commit of one load, seen from this rank (guard.h,
 * docs/faults.md "States of a load"). The main thread moves the state at
 * the vote, at the agreement's outcome and after the commit's copy; a
 * signal thread (refit run) reads it to decide what the signal does:
 * before the vote it turns the vote into a no, after a yes it waits for the
 * outcome (a commit takes milliseconds), so that the rank reports and dumps
 * the generation it really holds. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "guard_internal.h"

#define RF_SIGNAL_WAIT_NO_WATCHDOG_S 30.0 /* bound of the wait when no watchdog runs */

/* "SIGTERM" for 15 (glibc names it "TERM") */
static void sig_name(int sig, char *out, size_t cap) {
    const char *abbrev = sigabbrev_np(sig);
    snprintf(out, cap, "SIG%s", abbrev ? abbrev : "?");
}

const char *rf_vote_state_name(rf_vote_state_t s) {
    static const char *const names[] = {"idle", "voting", "voting (doomed by a signal)", "voted-ok",
                                        "committing", "committed", "aborted"};
    return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "unknown";
}

static void set_state(rf_guard_t *g, rf_vote_state_t s) {
    PTHREAD_MUST(pthread_mutex_lock(&g->vmu));
    g->vote = s;
    PTHREAD_MUST(pthread_cond_broadcast(&g->vcv));
    PTHREAD_MUST(pthread_mutex_unlock(&g->vmu));
}

void rf_guard_vote_begin(rf_guard_t *g) { set_state(g, RF_VOTE_VOTING); }
void rf_guard_vote_end(rf_guard_t *g) { set_state(g, RF_VOTE_IDLE); }

rf_vote_state_t rf_guard_vote_state(rf_guard_t *g) {
    PTHREAD_MUST(pthread_mutex_lock(&g->vmu));
    rf_vote_state_t s = g->vote;
    PTHREAD_MUST(pthread_mutex_unlock(&g->vmu));
    return s;
}

rf_vote_state_t rf_guard_vote_doom(rf_guard_t *g, refit_status status, const char *cause) {
    PTHREAD_MUST(pthread_mutex_lock(&g->vmu));
    rf_vote_state_t at = g->vote;
    if (at == RF_VOTE_VOTING) {
        g->vote = RF_VOTE_DOOMED;
        g->doom_status = status;
        snprintf(g->doom, sizeof g->doom, "%.*s", (int)sizeof g->doom - 1, cause); /* a longer cause is cut */
    }
    PTHREAD_MUST(pthread_mutex_unlock(&g->vmu));
    return at;
}

refit_status rf_guard_vote(rf_guard_t *g, refit_status st) {
    PTHREAD_MUST(pthread_mutex_lock(&g->vmu));
    if (g->vote == RF_VOTE_DOOMED) {
        char doom[sizeof g->doom];
        snprintf(doom, sizeof doom, "%s", g->doom);
        refit_status code = g->doom_status;
        PTHREAD_MUST(pthread_mutex_unlock(&g->vmu));
        /* replaces any other cause: this is why the rank ends */
        return rf_error_replace(code, "rank %d: %s before its vote", g->cfg.rank, doom);
    }
    if (st == REFIT_OK) g->vote = RF_VOTE_VOTED_OK;
    PTHREAD_MUST(pthread_mutex_unlock(&g->vmu));
    return st;
}

void rf_guard_vote_result(rf_guard_t *g, refit_status agreed) {
    PTHREAD_MUST(pthread_mutex_lock(&g->vmu));
    /* the agreed cause (this thread's error) for a signal's report: the
     * rank may be killed before the command prints it */
    snprintf(g->vote_cause, sizeof g->vote_cause, "%s", agreed == REFIT_OK ? "" : rf_err_msg());
    g->vote = agreed == REFIT_OK ? RF_VOTE_COMMITTING : RF_VOTE_ABORTED;
    PTHREAD_MUST(pthread_cond_broadcast(&g->vcv));
    PTHREAD_MUST(pthread_mutex_unlock(&g->vmu));
}

void rf_guard_vote_committed(rf_guard_t *g, bool ok) {
    set_state(g, ok ? RF_VOTE_COMMITTED : RF_VOTE_ABORTED);
    /* An emergency dump started earlier (mpirun's SIGCONT) holds g-1: the
     * rank holds g now, so its dump must too. */
    PTHREAD_MUST(pthread_mutex_lock(&g->dmu));
    bool asked = g->dump_state != DUMP_IDLE;
    PTHREAD_MUST(pthread_mutex_unlock(&g->dmu));
    if (ok && asked) rf_guard_emergency_dump_start(g);
}

static bool settled(rf_vote_state_t s) {
    return s == RF_VOTE_IDLE || s == RF_VOTE_COMMITTED || s == RF_VOTE_ABORTED;
}

/* Under vmu: waits until the vote's outcome is known on this rank or `end`
 * (rf_now() time) passes. */
static void wait_settled(rf_guard_t *g, double end) {
    while (!settled(g->vote)) {
        double left = end - rf_now();
        if (left <= 0) return;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts); /* the condition variable's default clock */
        double at = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9 + left;
        ts.tv_sec = (time_t)at;
        ts.tv_nsec = (long)((at - (double)ts.tv_sec) * 1e9);
        int rc = pthread_cond_timedwait(&g->vcv, &g->vmu, &ts);
        if (rc != 0 && rc != ETIMEDOUT) return;
    }
}

/* How long a signalled rank may wait for its vote and its dump: as long as
 * the load may last (the watchdog ends it then anyway). When the signal is
 * mpirun's teardown, its SIGKILL comes first; when it is a direct kill (a
 * scheduler's, a user's), the others are still waiting for this rank. */
static double wait_end(rf_guard_t *g) {
    double deadline = rf_guard_deadline(g);
    return deadline > rf_now() ? deadline : rf_now() + RF_SIGNAL_WAIT_NO_WATCHDOG_S;
}

void rf_guard_signal(rf_guard_t *g, int sig, double max_dump_seconds) {
    char why[400], name[32];
    sig_name(sig, name, sizeof name);
    snprintf(why, sizeof why, "terminated by signal %d (%s)", sig, name);
    rf_vote_state_t at = rf_guard_vote_doom(g, REFIT_ERR_STATE, why);
    bool doomed = at == RF_VOTE_VOTING || at == RF_VOTE_DOOMED;
    if (doomed) {
        /* Certain now: this rank votes no, nobody commits g, it keeps g-1.
         * Say so and dump at once (mpirun's SIGKILL may follow in
         * milliseconds), then give the main thread until the deadline to
         * cast the no, so that every rank learns the cause. */
        snprintf(why, sizeof why, "terminated by signal %d (%s) before its vote (it votes no)", sig, name);
        double left = wait_end(g) - rf_now();
        rf_guard_emergency(g, why, left > max_dump_seconds ? left : max_dump_seconds);
    }
    PTHREAD_MUST(pthread_mutex_lock(&g->vmu));
    wait_settled(g, wait_end(g));
    rf_vote_state_t now = g->vote;
    char cause[sizeof g->vote_cause];
    snprintf(cause, sizeof cause, "%s", g->vote_cause);
    PTHREAD_MUST(pthread_mutex_unlock(&g->vmu));
    if (doomed) return;

    if (at == RF_VOTE_IDLE && cause[0]) /* between loads, the last one failed: say why, the command may not have */
        snprintf(why, sizeof why, "terminated by signal %d (%s) after its last vote (aborted: %.200s)", sig, name, cause);
    else if (at == RF_VOTE_IDLE)
        snprintf(why, sizeof why, "terminated by signal %d (%s)", sig, name);
    else if (now == RF_VOTE_ABORTED && cause[0])
        snprintf(why, sizeof why, "terminated by signal %d (%s) after its vote (aborted: %.200s)", sig, name, cause);
    else
        snprintf(why, sizeof why, "terminated by signal %d (%s) after its vote (%s)", sig, name,
                 rf_vote_state_name(now));
    if (!settled(now)) { /* voted yes, outcome unknown: claim nothing */
        if (!atomic_flag_test_and_set(&g->reported))
            fprintf(stderr,
                    "refit: rank %d: %s: the outcome of generation %lld's vote is unknown on this rank; "
                    "no emergency dump\n",
                    g->cfg.rank, why, (long long)atomic_load(&g->loading_pub));
        fflush(stderr);
        return;
    }
    rf_guard_emergency(g, why, max_dump_seconds);
}
