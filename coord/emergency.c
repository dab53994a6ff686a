/* The emergency dump (guard.h): when this rank is about to die (the
 * watchdog, a signal), report why and write its dump of the last committed
 * generation on a thread of its own, so that every wait for it is bounded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "guard_internal.h"

void rf_guard_set_dump_dir(rf_guard_t *g, const char *dir) {
    char *copy = dir ? strdup(dir) : NULL;
    PTHREAD_MUST(pthread_mutex_lock(&g->dmu));
    free(g->dump_dir);
    g->dump_dir = copy;
    PTHREAD_MUST(pthread_mutex_unlock(&g->dmu));
}

/* The dump itself, under the live lock (commits and refit_dump take it
 * too); not while an in-place load overwrites the live weights. */
static bool dump_once(rf_guard_t *g);

/* Dumps until the dump holds the committed generation: a commit that
 * waited for the live lock while an older generation was being written
 * (the SIGCONT dump during a load) has that dump written again. */
static void *dump_thread(void *arg) {
    rf_guard_t *g = arg;
    while (dump_once(g)) continue;
    return NULL;
}

/* One dump; true when it must run again (written, but a commit has moved
 * the generation since). */
static bool dump_once(rf_guard_t *g) {
    char msg[sizeof g->dump_msg];
    double t0 = rf_now();
    PTHREAD_MUST(pthread_mutex_lock(&g->live));
    long long gen = atomic_load(&g->generation_pub); /* published under this lock */
    bool ok = false;
    if (g->in_load && !g->cfg.shadow)
        snprintf(msg, sizeof msg, "no emergency dump: an in-place load was overwriting the live weights");
    else if (gen < 0)
        snprintf(msg, sizeof msg, "no emergency dump: no generation committed");
    else if ((ok = g->hooks.dump_local(g->hooks.user, g->dump_dir) == REFIT_OK))
        snprintf(msg, sizeof msg, "emergency dump of generation %lld written to %s in %.2f s", gen, g->dump_dir,
                 rf_now() - t0);
    else
        snprintf(msg, sizeof msg, "emergency dump failed: %s", rf_err_msg());
    PTHREAD_MUST(pthread_mutex_unlock(&g->live));
    PTHREAD_MUST(pthread_mutex_lock(&g->dmu));
    snprintf(g->dump_msg, sizeof g->dump_msg, "%s", msg);
    g->dumped_gen = ok ? gen : -2; /* a dump that was not written is tried again */
    bool again = ok && gen != atomic_load(&g->generation_pub);
    if (!again) { /* DONE only with the committed generation on disk */
        g->dump_state = DUMP_DONE;
        PTHREAD_MUST(pthread_cond_broadcast(&g->dcv));
    }
    PTHREAD_MUST(pthread_mutex_unlock(&g->dmu));
    return again;
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
    int rc = pthread_attr_init(&a);
    if (rc == 0) {
        rc = pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
        if (rc == 0) rc = pthread_create(&t, &a, dump_thread, g);
        PTHREAD_MUST(pthread_attr_destroy(&a));
    }
    bool ok = rc == 0;
    g->dump_state = ok ? DUMP_RUNNING : DUMP_DONE;
    if (!ok) snprintf(g->dump_msg, sizeof g->dump_msg, "no emergency dump: no thread for it: %s", strerror(rc));
    return ok;
}

void rf_guard_emergency_dump_start(rf_guard_t *g) {
    PTHREAD_MUST(pthread_mutex_lock(&g->dmu));
    dump_start_locked(g);
    PTHREAD_MUST(pthread_mutex_unlock(&g->dmu));
}

/* Starts the dump if needed and waits for it at most max_seconds. */
static void emergency_dump(rf_guard_t *g, double max_seconds, char *msg, size_t cap) {
    PTHREAD_MUST(pthread_mutex_lock(&g->dmu));
    if (dump_start_locked(g)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts); /* the condition variable's default clock; cannot fail */
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
    PTHREAD_MUST(pthread_mutex_unlock(&g->dmu));
}

void rf_guard_emergency(rf_guard_t *g, const char *why, double max_seconds) {
    if (atomic_flag_test_and_set(&g->reported)) { /* a second cause (SIGTERM after the watchdog): wait, quietly */
        char ignore[1300];
        emergency_dump(g, max_seconds, ignore, sizeof ignore);
        return;
    }
    int rank = g->cfg.rank;
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
