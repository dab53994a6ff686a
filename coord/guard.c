/* The guard's state, the fault points of each phase and the live lock
 * (guard.h). */
#include <stdlib.h>

#include "guard_internal.h"

static refit_status init_vote_locks(rf_guard_t *g) {
    PTHREAD_CHECK(pthread_mutex_init(&g->vmu, NULL));
    int rc = pthread_cond_init(&g->vcv, NULL);
    if (rc != 0) {
        PTHREAD_MUST(pthread_mutex_destroy(&g->vmu));
        return rf_pthread_fail(rc, "guard: pthread_cond_init");
    }
    return REFIT_OK;
}

static refit_status init_locks(rf_guard_t *g) {
    RF_CHECK(init_vote_locks(g));
    int rc = pthread_mutex_init(&g->live, NULL);
    if (rc == 0 && (rc = pthread_mutex_init(&g->dmu, NULL)) != 0) PTHREAD_MUST(pthread_mutex_destroy(&g->live));
    if (rc == 0 && (rc = pthread_cond_init(&g->dcv, NULL)) != 0) {
        PTHREAD_MUST(pthread_mutex_destroy(&g->dmu));
        PTHREAD_MUST(pthread_mutex_destroy(&g->live));
    }
    if (rc != 0) {
        PTHREAD_MUST(pthread_cond_destroy(&g->vcv));
        PTHREAD_MUST(pthread_mutex_destroy(&g->vmu));
        return rf_pthread_fail(rc, "guard: pthread_mutex_init/pthread_cond_init");
    }
    return REFIT_OK;
}

refit_status rf_guard_create(const rf_guard_config_t *cfg, const rf_guard_hooks_t *hooks, rf_guard_t **out) {
    rf_guard_t *g = calloc(1, sizeof *g);
    if (!g) return rf_error(REFIT_ERR_NOMEM, "guard");
    refit_status st = init_locks(g);
    if (st != REFIT_OK) {
        free(g);
        return st;
    }
    g->cfg = *cfg;
    g->hooks = *hooks;
    atomic_flag_clear(&g->reported);
    g->timeout = cfg->timeout_s == 0 ? RF_DEFAULT_TIMEOUT_S : cfg->timeout_s;
    atomic_store(&g->generation_pub, cfg->generation);
    st = rf_fault_from_env(cfg->world, &g->fault);
    if (st == REFIT_OK && g->timeout > 0) st = rf_watchdog_create(rf_guard_on_timeout, g, &g->wd);
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
    PTHREAD_MUST(pthread_mutex_lock(&g->dmu));
    bool running = g->dump_state == DUMP_RUNNING;
    PTHREAD_MUST(pthread_mutex_unlock(&g->dmu));
    if (running) return; /* an emergency dump still uses it: the process is dying anyway */
    PTHREAD_MUST(pthread_cond_destroy(&g->dcv));
    PTHREAD_MUST(pthread_mutex_destroy(&g->dmu));
    PTHREAD_MUST(pthread_mutex_destroy(&g->live));
    PTHREAD_MUST(pthread_cond_destroy(&g->vcv));
    PTHREAD_MUST(pthread_mutex_destroy(&g->vmu));
    free(g->dump_dir);
    free(g);
}

void rf_guard_phase(rf_guard_t *g, refit_phase ph) { atomic_store(&g->phase, ph); }

refit_status rf_guard_fault(rf_guard_t *g, refit_phase ph, int64_t gen, const char *what) {
    rf_guard_phase(g, ph);
    return rf_fault_point(&g->fault, g->cfg.rank, ph, gen, what);
}

refit_status rf_guard_alloc_fault(rf_guard_t *g, int64_t gen, const char *what) {
    return rf_fault_alloc_point(&g->fault, g->cfg.rank, gen, what);
}

bool rf_guard_corrupt_fault(rf_guard_t *g, int64_t gen, const char *what) {
    return rf_fault_corrupt_point(&g->fault, g->cfg.rank, gen, what);
}

void rf_guard_live_lock(rf_guard_t *g) { PTHREAD_MUST(pthread_mutex_lock(&g->live)); }

void rf_guard_live_unlock(rf_guard_t *g, int64_t generation) {
    atomic_store(&g->in_load_pub, g->in_load);
    atomic_store(&g->generation_pub, generation);
    PTHREAD_MUST(pthread_mutex_unlock(&g->live));
}
