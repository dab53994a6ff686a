/* Fault points, the per-load watchdog and the emergency dump (guard.h). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctx_internal.h"
#include "watchdog.h"

typedef enum { DUMP_IDLE = 0, DUMP_RUNNING, DUMP_DONE } dump_state_t;

struct rf_guard {
    refit_ctx *ctx;
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
    char *dump_dir;
    /* emergency dump: one at a time, on its own thread so that waits for it
     * stay bounded; done again only if the committed generation changed */
    pthread_mutex_t dmu;
    pthread_cond_t dcv;
    dump_state_t dump_state;
    long long dumped_gen;  /* generation the DONE dump holds */
    char dump_msg[1200];
};

/* The timeout is split so that the job has ended by the time it runs out:
 * the watchdog fires first, leaves every rank a window for its emergency
 * dump, then aborts, and mpirun's teardown (up to a second: SIGCONT, then
 * SIGTERM a second later when it goes the slow way) ends within the rest. */
static double teardown_s(double timeout) { return timeout * 0.25 < 1.2 ? timeout * 0.25 : 1.2; }
static double dump_window_s(double timeout) { return timeout * 0.15 < 1.0 ? timeout * 0.15 : 1.0; }

static void sleep_until(double t) {
    for (double left = t - rf_now(); left > 0; left = t - rf_now()) {
        struct timespec ts = {.tv_sec = (time_t)left, .tv_nsec = (long)((left - (double)(time_t)left) * 1e9)};
        nanosleep(&ts, NULL);
    }
}

/* The watchdog's action: report, dump, end the job. Every rank's watchdog
 * fires at about the same time (loads start together), but MPI_Abort kills
 * the other ranks within milliseconds (SIGCONT, SIGTERM, SIGKILL): so each
 * rank waits out the dump window before aborting, which leaves the others
 * time for their own dumps. */
static void on_timeout(void *user, double armed) {
    rf_guard_t *g = user;
    refit_ctx *ctx = g->ctx;
    double abort_at = g->deadline + dump_window_s(g->timeout);
    char why[160];
    snprintf(why, sizeof why, "timed out after %.1f s (timeout %.1f s)", armed, g->timeout);
    /* First unblock what the backend can unblock (cuda: ncclCommAbort), so
     * the dump's device copies are not queued behind a stuck kernel. */
    if (ctx->be && ctx->be->abort) ctx->be->abort(ctx->be);
    rf_ctx_emergency(ctx, why, abort_at - rf_now());
    sleep_until(abort_at);
    fflush(NULL);
    rf_comm_abort(ctx->comm, RF_EXIT_TIMEOUT);
}

refit_status rf_guard_create(refit_ctx *ctx, rf_guard_t **out) {
    rf_guard_t *g = calloc(1, sizeof *g);
    if (!g) return rf_error(REFIT_ERR_NOMEM, "guard");
    g->ctx = ctx;
    pthread_mutex_init(&g->live, NULL);
    pthread_mutex_init(&g->dmu, NULL);
    pthread_cond_init(&g->dcv, NULL);
    g->timeout = ctx->opt.timeout_s == 0 ? RF_DEFAULT_TIMEOUT_S : ctx->opt.timeout_s;
    atomic_store(&g->generation_pub, ctx->generation);
    refit_status st = rf_fault_from_env(rf_comm_world(ctx->comm), &g->fault);
    if (st == REFIT_OK && g->timeout > 0) st = rf_watchdog_create(on_timeout, g, &g->wd);
    if (st != REFIT_OK) {
        rf_guard_destroy(g);
        return st;
    }
    *out = g;
    return REFIT_OK;
}

void rf_guard_destroy(rf_guard_t *g) {
    if (!g) return;
    rf_watchdog_destroy(g->wd);
    pthread_mutex_lock(&g->dmu);
    bool running = g->dump_state == DUMP_RUNNING;
    pthread_mutex_unlock(&g->dmu);
    if (running) return; /* an emergency dump still uses it: the process is dying anyway */
    pthread_cond_destroy(&g->dcv);
    pthread_mutex_destroy(&g->dmu);
    pthread_mutex_destroy(&g->live);
    free(g->dump_dir);
    free(g);
}

void rf_guard_load_begin(rf_guard_t *g) {
    pthread_mutex_lock(&g->live);
    g->in_load = true;
    rf_guard_live_unlock(g);
    atomic_store(&g->phase, REFIT_PHASE_OPEN);
    atomic_store(&g->loading_pub, g->ctx->loading);
    if (!g->wd) return;
    double limit = g->timeout - teardown_s(g->timeout) - dump_window_s(g->timeout);
    g->deadline = rf_now() + limit;
    rf_watchdog_arm(g->wd, limit);
}

double rf_guard_deadline(const rf_guard_t *g) { return g->wd ? g->deadline : 0; }

void rf_guard_load_end(rf_guard_t *g) {
    if (g->wd) rf_watchdog_disarm(g->wd);
    pthread_mutex_lock(&g->live);
    g->in_load = false;
    rf_guard_live_unlock(g);
}

void rf_guard_phase(rf_guard_t *g, refit_phase ph) { atomic_store(&g->phase, ph); }

refit_status rf_guard_fault(rf_guard_t *g, refit_phase ph, const char *what) {
    rf_guard_phase(g, ph);
    return rf_fault_point(&g->fault, rf_comm_rank(g->ctx->comm), ph, g->ctx->loading, what);
}

void rf_guard_live_lock(rf_guard_t *g) { pthread_mutex_lock(&g->live); }
void rf_guard_live_unlock(rf_guard_t *g) {
    atomic_store(&g->in_load_pub, g->in_load);
    atomic_store(&g->generation_pub, g->ctx->generation);
    pthread_mutex_unlock(&g->live);
}

void rf_ctx_set_emergency_dump(refit_ctx *ctx, const char *dir) {
    rf_guard_t *g = ctx->guard;
    char *copy = dir ? strdup(dir) : NULL;
    pthread_mutex_lock(&g->dmu);
    free(g->dump_dir);
    g->dump_dir = copy;
    pthread_mutex_unlock(&g->dmu);
}

/* The dump itself, under the live lock (commits and refit_dump take it
 * too); not while an in-place load overwrites the live weights. */
static void *dump_thread(void *arg) {
    rf_guard_t *g = arg;
    refit_ctx *ctx = g->ctx;
    char msg[sizeof g->dump_msg];
    double t0 = rf_now();
    pthread_mutex_lock(&g->live);
    long long gen = ctx->generation;
    bool ok = false;
    if (g->in_load && ctx->opt.commit != REFIT_COMMIT_SHADOW)
        snprintf(msg, sizeof msg, "no emergency dump: an in-place load was overwriting the live weights");
    else if (gen < 0)
        snprintf(msg, sizeof msg, "no emergency dump: no generation committed");
    else if ((ok = rf_dump_local(ctx, g->dump_dir) == REFIT_OK))
        snprintf(msg, sizeof msg, "emergency dump of generation %lld written to %s in %.2f s", gen, g->dump_dir,
                 rf_now() - t0);
    else
        snprintf(msg, sizeof msg, "emergency dump failed: %s", rf_err_msg());
    pthread_mutex_unlock(&g->live);
    pthread_mutex_lock(&g->dmu);
    snprintf(g->dump_msg, sizeof g->dump_msg, "%s", msg);
    g->dumped_gen = ok ? gen : -2; /* a dump that was not written is tried again */
    g->dump_state = DUMP_DONE;
    pthread_cond_broadcast(&g->dcv);
    pthread_mutex_unlock(&g->dmu);
    return NULL;
}

/* Under dmu: starts a dump unless one runs or one of the committed
 * generation is done. false when there is nothing to wait for. */
static bool dump_start_locked(rf_guard_t *g) {
    if (!g->dump_dir) {
        snprintf(g->dump_msg, sizeof g->dump_msg, "no emergency dump: no dump directory");
        return false;
    }
    if (g->dump_state == DUMP_RUNNING) return true;
    if (g->dump_state == DUMP_DONE && g->dumped_gen == atomic_load(&g->generation_pub)) return true;
    pthread_t t;
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    bool ok = pthread_create(&t, &a, dump_thread, g) == 0;
    pthread_attr_destroy(&a);
    g->dump_state = ok ? DUMP_RUNNING : DUMP_DONE;
    if (!ok) snprintf(g->dump_msg, sizeof g->dump_msg, "no emergency dump: no thread for it");
    return ok;
}

void rf_ctx_emergency_dump_start(refit_ctx *ctx) {
    rf_guard_t *g = ctx->guard;
    pthread_mutex_lock(&g->dmu);
    dump_start_locked(g);
    pthread_mutex_unlock(&g->dmu);
}

/* Starts the dump if needed and waits for it at most max_seconds. */
static void emergency_dump(rf_guard_t *g, double max_seconds, char *msg, size_t cap) {
    pthread_mutex_lock(&g->dmu);
    if (dump_start_locked(g)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts); /* the condition variable's default clock */
        double end = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9 + max_seconds;
        ts.tv_sec = (time_t)end;
        ts.tv_nsec = (long)((end - (double)ts.tv_sec) * 1e9);
        while (g->dump_state == DUMP_RUNNING)
            if (pthread_cond_timedwait(&g->dcv, &g->dmu, &ts) != 0) break;
    }
    if (g->dump_state == DUMP_RUNNING)
        snprintf(msg, cap, "emergency dump to %s not finished after %.1f s: abandoned", g->dump_dir, max_seconds);
    else
        snprintf(msg, cap, "%s", g->dump_msg);
    pthread_mutex_unlock(&g->dmu);
}

void rf_ctx_emergency(refit_ctx *ctx, const char *why, double max_seconds) {
    rf_guard_t *g = ctx->guard;
    static atomic_flag reported = ATOMIC_FLAG_INIT;
    if (atomic_flag_test_and_set(&reported)) { /* a second cause (SIGTERM after the watchdog): wait, quietly */
        char ignore[1300];
        emergency_dump(g, max_seconds, ignore, sizeof ignore);
        return;
    }
    int rank = rf_comm_rank(ctx->comm);
    refit_phase ph = (refit_phase)atomic_load(&g->phase);
    /* The published copies, not the lock: a hung commit may hold it forever. */
    long long gen = atomic_load(&g->generation_pub);
    char held[64] = "nothing is loaded on this rank"; /* before the first commit */
    if (gen >= 0) snprintf(held, sizeof held, "this rank %s generation %lld", atomic_load(&g->in_load_pub) ? "keeps" : "holds", gen);
    if (atomic_load(&g->in_load_pub))
        fprintf(stderr, "refit: rank %d: %s in phase %s of generation %lld; %s\n", rank, why, refit_phase_name(ph),
                (long long)atomic_load(&g->loading_pub), held);
    else
        fprintf(stderr, "refit: rank %d: %s outside a load; %s\n", rank, why, held);
    fflush(stderr);
    char msg[1300];
    emergency_dump(g, max_seconds, msg, sizeof msg);
    fprintf(stderr, "refit: rank %d: %s\n", rank, msg);
    fflush(stderr);
}
