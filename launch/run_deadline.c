/* The deadline of `refit run`'s collectives outside a load (run_deadline.h). */
#include <mpi.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>

#include "refit_tool.h"
#include "rf_common.h"
#include "run_deadline.h"

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    bool started, stop;
    double timeout, fire_s, abort_s; /* seconds: the whole, the report, the abort */
    double armed_at;                 /* rf_now(); 0: disarmed */
    const char *what;
    refit_ctx *ctx;
} dl = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static struct timespec abs_time(double from_now) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts); /* the condition variable's default clock */
    double at = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9 + from_now;
    ts.tv_sec = (time_t)at;
    ts.tv_nsec = (long)((at - (double)ts.tv_sec) * 1e9);
    return ts;
}

/* The step outlived the timeout: the same end as a load's watchdog. */
static void expire(const char *what, refit_ctx *ctx, double armed) {
    char why[200];
    snprintf(why, sizeof why, "timed out after %.1f s (timeout %.1f s) in %s", rf_now() - armed, dl.timeout, what);
    double abort_at = armed + dl.abort_s;
    if (ctx) {
        rf_ctx_emergency(ctx, why, abort_at - rf_now());
    } else {
        fprintf(stderr, "refit: rank %d: %s\n", rf_log_rank(), why);
        fflush(stderr);
    }
    for (double left = abort_at - rf_now(); left > 0; left = abort_at - rf_now()) {
        struct timespec ts = {.tv_sec = (time_t)left, .tv_nsec = (long)((left - (double)(time_t)left) * 1e9)};
        nanosleep(&ts, NULL);
    }
    fflush(NULL);
    MPI_Abort(MPI_COMM_WORLD, RF_RUN_EXIT_TIMEOUT);
}

static void *watch(void *arg) {
    (void)arg;
    PTHREAD_MUST(pthread_mutex_lock(&dl.mu));
    while (!dl.stop) {
        if (dl.armed_at == 0) {
            PTHREAD_MUST(pthread_cond_wait(&dl.cv, &dl.mu));
            continue;
        }
        double left = dl.armed_at + dl.fire_s - rf_now();
        if (left > 0) {
            struct timespec ts = abs_time(left);
            pthread_cond_timedwait(&dl.cv, &dl.mu, &ts); /* ETIMEDOUT or a change: look again */
            continue;
        }
        const char *what = dl.what;
        refit_ctx *ctx = dl.ctx;
        double armed = dl.armed_at;
        PTHREAD_MUST(pthread_mutex_unlock(&dl.mu));
        expire(what, ctx, armed); /* does not return */
    }
    PTHREAD_MUST(pthread_mutex_unlock(&dl.mu));
    return NULL;
}

void rf_run_deadline_start(double timeout_s) {
    dl.timeout = timeout_s;
    rf_tool_timeout_split(timeout_s, &dl.fire_s, &dl.abort_s);
    dl.stop = false;
    int rc = pthread_create(&dl.thread, NULL, watch, NULL);
    dl.started = rc == 0;
    if (!dl.started) RF_WARN("launch", "no deadline thread: collectives outside a load are not watched");
}

void rf_run_deadline_arm(refit_ctx *ctx, const char *what) {
    PTHREAD_MUST(pthread_mutex_lock(&dl.mu));
    dl.armed_at = rf_now();
    dl.what = what;
    dl.ctx = ctx;
    PTHREAD_MUST(pthread_cond_signal(&dl.cv));
    PTHREAD_MUST(pthread_mutex_unlock(&dl.mu));
}

void rf_run_deadline_disarm(void) {
    PTHREAD_MUST(pthread_mutex_lock(&dl.mu));
    dl.armed_at = 0;
    PTHREAD_MUST(pthread_cond_signal(&dl.cv));
    PTHREAD_MUST(pthread_mutex_unlock(&dl.mu));
}

void rf_run_deadline_stop(void) {
    if (!dl.started) return;
    PTHREAD_MUST(pthread_mutex_lock(&dl.mu));
    dl.stop = true;
    PTHREAD_MUST(pthread_cond_signal(&dl.cv));
    PTHREAD_MUST(pthread_mutex_unlock(&dl.mu));
    PTHREAD_MUST(pthread_join(dl.thread, NULL));
    dl.started = false;
}
