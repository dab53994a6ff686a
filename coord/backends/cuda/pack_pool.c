/* A fixed pool of packing threads, woken per bucket with a generation
 * counter, joined with a done counter (no per-bucket thread creation). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pack_pool.h"

typedef struct {
    const rf_param_t *params;
    const rf_plan_t *plan;
    const rf_src_t *const *src;
    int group;
    size_t bucket;
    uint8_t *dst;
} pack_job_t;

struct rf_pack_pool {
    int n;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t wake, done_cv;
    uint64_t job_gen; /* bumped per job; workers run each generation once */
    bool use_pread;
    refit_status failed; /* first failure of any share of the current job */
    char why[1024];      /* its message: errors are per thread (rf_common.h) */
    int done;
    bool quit;
    pack_job_t job;
};

typedef struct {
    rf_pack_pool_t *pool;
    int index;
} worker_arg_t;

static refit_status run_share(rf_pack_pool_t *p, const pack_job_t *j, int index) {
    uint64_t bytes = rf_plan_bucket_bytes(j->plan, j->group, j->bucket);
    uint64_t per = (bytes / 2 + (uint64_t)p->n - 1) / (uint64_t)p->n * 2; /* whole elements */
    uint64_t lo = per * (uint64_t)index, hi = lo + per < bytes ? lo + per : bytes;
    return lo < hi ? rf_pack_bucket(j->plan, j->params, j->src, j->group, j->bucket, lo, hi, p->use_pread, j->dst)
                   : REFIT_OK;
}

static void *worker(void *argp) {
    worker_arg_t *arg = argp;
    rf_pack_pool_t *p = arg->pool;
    uint64_t seen = 0;
    PTHREAD_MUST(pthread_mutex_lock(&p->mu));
    for (;;) {
        while (!p->quit && p->job_gen == seen) PTHREAD_MUST(pthread_cond_wait(&p->wake, &p->mu));
        if (p->quit) break;
        seen = p->job_gen;
        pack_job_t job = p->job;
        PTHREAD_MUST(pthread_mutex_unlock(&p->mu));
        rf_err_clear(); /* this job's first cause, not an earlier job's */
        refit_status st = run_share(p, &job, arg->index);
        PTHREAD_MUST(pthread_mutex_lock(&p->mu));
        if (st != REFIT_OK && p->failed == REFIT_OK) {
            p->failed = st;
            snprintf(p->why, sizeof p->why, "%s", rf_err_msg());
        }
        if (++p->done == p->n - 1) PTHREAD_MUST(pthread_cond_signal(&p->done_cv));
    }
    PTHREAD_MUST(pthread_mutex_unlock(&p->mu));
    free(arg);
    return NULL;
}

static refit_status init_sync(rf_pack_pool_t *p) {
    PTHREAD_CHECK(pthread_mutex_init(&p->mu, NULL));
    int rc = pthread_cond_init(&p->wake, NULL);
    if (rc == 0 && (rc = pthread_cond_init(&p->done_cv, NULL)) != 0) PTHREAD_MUST(pthread_cond_destroy(&p->wake));
    if (rc != 0) {
        PTHREAD_MUST(pthread_mutex_destroy(&p->mu));
        return rf_pthread_fail(rc, "pthread_cond_init");
    }
    return REFIT_OK;
}

refit_status rf_pack_pool_create(int n_threads, bool use_pread, rf_pack_pool_t **out) {
    rf_pack_pool_t *p = calloc(1, sizeof *p);
    if (!p) return rf_error(REFIT_ERR_NOMEM, "pack pool");
    p->use_pread = use_pread;
    p->n = n_threads < 1 ? 1 : n_threads;
    p->threads = calloc((size_t)p->n, sizeof *p->threads);
    refit_status st = p->threads ? init_sync(p) : rf_error(REFIT_ERR_NOMEM, "pack pool threads");
    if (st != REFIT_OK) {
        free(p->threads);
        free(p);
        return st;
    }
    /* worker i packs share i; the caller packs share 0 */
    for (int i = 1; i < p->n; i++) {
        worker_arg_t *arg = malloc(sizeof *arg);
        int rc = arg ? pthread_create(&p->threads[i], NULL, worker, (*arg = (worker_arg_t){p, i}, arg)) : ENOMEM;
        if (rc != 0) {
            free(arg);
            p->n = i; /* run with the threads we have */
            RF_WARN("comm", "pack pool: started only %d of %d threads: %s", i, n_threads, strerror(rc));
            break;
        }
    }
    *out = p;
    return REFIT_OK;
}

void rf_pack_pool_destroy(rf_pack_pool_t *p) {
    if (!p) return;
    PTHREAD_MUST(pthread_mutex_lock(&p->mu));
    p->quit = true;
    PTHREAD_MUST(pthread_cond_broadcast(&p->wake));
    PTHREAD_MUST(pthread_mutex_unlock(&p->mu));
    for (int i = 1; i < p->n; i++) PTHREAD_MUST(pthread_join(p->threads[i], NULL));
    PTHREAD_MUST(pthread_mutex_destroy(&p->mu));
    PTHREAD_MUST(pthread_cond_destroy(&p->wake));
    PTHREAD_MUST(pthread_cond_destroy(&p->done_cv));
    free(p->threads);
    free(p);
}

int rf_pack_pool_threads(const rf_pack_pool_t *p) { return p->n; }

refit_status rf_pack_pool_run(rf_pack_pool_t *p, const rf_param_t *params, const rf_plan_t *plan,
                              const rf_src_t *const *src, int group, size_t k, uint8_t *dst) {
    pack_job_t job = {.params = params, .plan = plan, .src = src, .group = group, .bucket = k, .dst = dst};
    if (p->n == 1) return run_share(p, &job, 0);
    PTHREAD_MUST(pthread_mutex_lock(&p->mu));
    p->job = job;
    p->done = 0;
    p->failed = REFIT_OK;
    p->job_gen++;
    PTHREAD_MUST(pthread_cond_broadcast(&p->wake));
    PTHREAD_MUST(pthread_mutex_unlock(&p->mu));
    refit_status st = run_share(p, &job, 0);
    PTHREAD_MUST(pthread_mutex_lock(&p->mu));
    while (p->done < p->n - 1) PTHREAD_MUST(pthread_cond_wait(&p->done_cv, &p->mu));
    if (st == REFIT_OK && p->failed != REFIT_OK) /* a worker's cause, on the caller's thread */
        st = rf_error_replace(p->failed, "%s", p->why);
    PTHREAD_MUST(pthread_mutex_unlock(&p->mu));
    return st;
}
