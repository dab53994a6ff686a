/* The watchdog thread (see watchdog.h): sleeps on a condition variable of
 * CLOCK_MONOTONIC until disarmed, re-armed, stopped or past its deadline. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>

#include "watchdog.h"

struct rf_watchdog {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop, armed;
    double deadline, seconds; /* rf_now() clock */
    rf_watchdog_fn fn;
    void *user;
};

static struct timespec to_timespec(double t) {
    struct timespec ts = {.tv_sec = (time_t)t};
    ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
    if (ts.tv_nsec >= 1000000000L) ts.tv_nsec = 999999999L;
    return ts;
}

static void *watch(void *arg) {
    rf_watchdog_t *w = arg;
    sigset_t all; /* signals are for the application's threads, not this one */
    sigfillset(&all);
    PTHREAD_MUST(pthread_sigmask(SIG_BLOCK, &all, NULL));
    PTHREAD_MUST(pthread_mutex_lock(&w->mu));
    while (!w->stop) {
        if (!w->armed) {
            PTHREAD_MUST(pthread_cond_wait(&w->cv, &w->mu));
            continue;
        }
        if (rf_now() < w->deadline) {
            struct timespec ts = to_timespec(w->deadline);
            int rc = pthread_cond_timedwait(&w->cv, &w->mu, &ts);
            if (rc != 0 && rc != ETIMEDOUT) rf_pthread_must_fail(rc, "pthread_cond_timedwait", __FILE__, __LINE__);
            continue;
        }
        w->armed = false;
        double s = w->seconds;
        PTHREAD_MUST(pthread_mutex_unlock(&w->mu));
        w->fn(w->user, s);
        PTHREAD_MUST(pthread_mutex_lock(&w->mu));
    }
    PTHREAD_MUST(pthread_mutex_unlock(&w->mu));
    return NULL;
}

/* The condition variable waits on CLOCK_MONOTONIC, rf_now()'s clock:
 * immune to date changes. */
static refit_status init_sync(rf_watchdog_t *w) {
    pthread_condattr_t ca;
    PTHREAD_CHECK(pthread_condattr_init(&ca));
    int rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (rc == 0) rc = pthread_cond_init(&w->cv, &ca);
    PTHREAD_MUST(pthread_condattr_destroy(&ca));
    if (rc != 0) return rf_pthread_fail(rc, "watchdog: pthread_cond_init");
    rc = pthread_mutex_init(&w->mu, NULL);
    if (rc != 0) {
        PTHREAD_MUST(pthread_cond_destroy(&w->cv));
        return rf_pthread_fail(rc, "watchdog: pthread_mutex_init");
    }
    return REFIT_OK;
}

refit_status rf_watchdog_create(rf_watchdog_fn fn, void *user, rf_watchdog_t **out) {
    rf_watchdog_t *w = calloc(1, sizeof *w);
    if (!w) return rf_error(REFIT_ERR_NOMEM, "watchdog");
    w->fn = fn;
    w->user = user;
    refit_status st = init_sync(w);
    if (st != REFIT_OK) {
        free(w);
        return st;
    }
    int rc = pthread_create(&w->thread, NULL, watch, w);
    if (rc != 0) {
        PTHREAD_MUST(pthread_cond_destroy(&w->cv));
        PTHREAD_MUST(pthread_mutex_destroy(&w->mu));
        free(w);
        return rf_pthread_fail(rc, "watchdog thread: pthread_create");
    }
    *out = w;
    return REFIT_OK;
}

void rf_watchdog_destroy(rf_watchdog_t *w) {
    if (!w) return;
    PTHREAD_MUST(pthread_mutex_lock(&w->mu));
    w->stop = true;
    PTHREAD_MUST(pthread_cond_signal(&w->cv));
    PTHREAD_MUST(pthread_mutex_unlock(&w->mu));
    PTHREAD_MUST(pthread_join(w->thread, NULL));
    PTHREAD_MUST(pthread_cond_destroy(&w->cv));
    PTHREAD_MUST(pthread_mutex_destroy(&w->mu));
    free(w);
}

void rf_watchdog_arm(rf_watchdog_t *w, double seconds) {
    PTHREAD_MUST(pthread_mutex_lock(&w->mu));
    w->armed = seconds > 0;
    w->seconds = seconds;
    w->deadline = rf_now() + seconds;
    PTHREAD_MUST(pthread_cond_signal(&w->cv));
    PTHREAD_MUST(pthread_mutex_unlock(&w->mu));
}

void rf_watchdog_disarm(rf_watchdog_t *w) {
    PTHREAD_MUST(pthread_mutex_lock(&w->mu));
    w->armed = false;
    PTHREAD_MUST(pthread_cond_signal(&w->cv));
    PTHREAD_MUST(pthread_mutex_unlock(&w->mu));
}
