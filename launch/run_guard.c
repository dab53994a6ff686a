/* The signal thread of `refit run` (run_guard.h). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "refit_tool.h"
#include "rf_common.h"
#include "run_guard.h"

#define SIGNAL_DUMP_SECONDS 2.0 /* mpirun's SIGKILL usually comes sooner (odls_base_sigkill_timeout) */

static struct {
    pthread_t thread;
    bool started;
    atomic_bool stop;
    pthread_mutex_t mu; /* held while a signal is handled: attach waits for it */
    refit_ctx *ctx;
} guard = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void signals(sigset_t *set) {
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGCONT);
}

/* Open MPI's mpirun ends a job whose rank died with SIGCONT, then a second
 * later (odls_base_sigkill_timeout) SIGTERM and, milliseconds after it,
 * SIGKILL: a dump started only at SIGTERM would rarely finish. So the dump
 * starts at SIGCONT, if a load is running; the rank goes on until SIGTERM.
 * (A SIGCONT of job control then only rewrites the last committed
 * generation's dump, which the run's own final dump overwrites.) */
static void on_cont(void) {
    PTHREAD_MUST(pthread_mutex_lock(&guard.mu));
    if (guard.ctx) rf_ctx_emergency_dump_start(guard.ctx);
    PTHREAD_MUST(pthread_mutex_unlock(&guard.mu));
}

static void handle(int sig) {
    PTHREAD_MUST(pthread_mutex_lock(&guard.mu));
    if (guard.ctx) /* before its vote: votes no; after: waits for the outcome; then reports and dumps */
        rf_ctx_signal(guard.ctx, sig, SIGNAL_DUMP_SECONDS);
    else
        fprintf(stderr, "refit: rank %d: terminated by signal %d (%s)\n", rf_log_rank(), sig, strsignal(sig));
    fflush(NULL);
    _exit(128 + sig); /* not exit(): the main thread may be inside MPI */
}

static void *wait_signals(void *arg) {
    (void)arg;
    sigset_t set;
    signals(&set);
    /* sigtimedwait so that stop is seen without sending a signal */
    const struct timespec tick = {.tv_sec = 0, .tv_nsec = 100 * 1000 * 1000};
    while (!atomic_load(&guard.stop)) {
        int sig = sigtimedwait(&set, NULL, &tick);
        if (sig == SIGCONT) on_cont();
        else if (sig > 0) handle(sig);
    }
    return NULL;
}

void rf_run_guard_start(void) {
    sigset_t set;
    signals(&set);
    PTHREAD_MUST(pthread_sigmask(SIG_BLOCK, &set, NULL));
    atomic_store(&guard.stop, false);
    int rc = pthread_create(&guard.thread, NULL, wait_signals, NULL);
    guard.started = rc == 0;
    if (!guard.started)
        RF_WARN("launch", "no signal thread (%s): a rank killed by mpirun writes no emergency dump", strerror(rc));
}

void rf_run_guard_attach(refit_ctx *ctx, const char *dump_dir) {
    PTHREAD_MUST(pthread_mutex_lock(&guard.mu));
    if (ctx) rf_ctx_set_emergency_dump(ctx, dump_dir);
    guard.ctx = ctx;
    PTHREAD_MUST(pthread_mutex_unlock(&guard.mu));
}

void rf_run_guard_stop(void) {
    if (!guard.started) return;
    atomic_store(&guard.stop, true);
    PTHREAD_MUST(pthread_join(guard.thread, NULL));
    guard.started = false;
    sigset_t set;
    signals(&set);
    PTHREAD_MUST(pthread_sigmask(SIG_UNBLOCK, &set, NULL));
}
