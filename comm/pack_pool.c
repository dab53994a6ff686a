/* A fixed pool of packing threads, woken per bucket with a generation
 * counter, joined with a done counter (no per-bucket thread creation). */
#include <pthread.h>
#include <stdlib.h>

#include "pack_pool.h"

typedef struct {
    const rf_snap_t *snap;
    const rf_plan_t *plan;
    const rf_src_t (*src)[RF_MAX_PARTS];
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
    int done;
    bool quit;
    pack_job_t job;
};

typedef struct {
    rf_pack_pool_t *pool;
    int index;
} worker_arg_t;

/* Packs bytes [lo, hi) of the job's bucket (2-byte aligned: whole bf16 elements). */
static refit_status pack_range(const pack_job_t *j, bool use_pread, uint64_t lo, uint64_t hi) {
    rf_plan_iter_t it;
    rf_seg_t seg;
    for (rf_plan_iter_init(j->plan, j->bucket, lo, hi, &it); rf_plan_iter_next(j->plan, &it, &seg);)
        RF_CHECK(rf_pack_slice(&j->snap->params[seg.param], j->src[seg.param], j->snap->tp, j->group,
                               seg.param_off / 2, seg.len / 2, use_pread, j->dst + seg.bucket_off));
    return REFIT_OK;
}

static refit_status run_share(rf_pack_pool_t *p, const pack_job_t *j, int index) {
    uint64_t bytes = rf_plan_bucket_bytes(j->plan, j->bucket);
    uint64_t per = (bytes / 2 + (uint64_t)p->n - 1) / (uint64_t)p->n * 2; /* whole elements */
    uint64_t lo = per * (uint64_t)index, hi = lo + per < bytes ? lo + per : bytes;
    return lo < hi ? pack_range(j, p->use_pread, lo, hi) : REFIT_OK;
}

static void *worker(void *argp) {
    worker_arg_t *arg = argp;
    rf_pack_pool_t *p = arg->pool;
    uint64_t seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->quit && p->job_gen == seen) pthread_cond_wait(&p->wake, &p->mu);
        if (p->quit) break;
        seen = p->job_gen;
        pack_job_t job = p->job;
        pthread_mutex_unlock(&p->mu);
        refit_status st = run_share(p, &job, arg->index);
        pthread_mutex_lock(&p->mu);
        if (st != REFIT_OK && p->failed == REFIT_OK) p->failed = st;
        if (++p->done == p->n - 1) pthread_cond_signal(&p->done_cv);
    }
    pthread_mutex_unlock(&p->mu);
    free(arg);
    return NULL;
}

refit_status rf_pack_pool_create(int n_threads, bool use_pread, rf_pack_pool_t **out) {
    rf_pack_pool_t *p = calloc(1, sizeof *p);
    if (!p) return rf_error(REFIT_ERR_NOMEM, "pack pool");
    p->use_pread = use_pread;
    p->n = n_threads < 1 ? 1 : n_threads;
    p->threads = calloc((size_t)p->n, sizeof *p->threads);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done_cv, NULL);
    if (!p->threads) {
        rf_pack_pool_destroy(p);
        return rf_error(REFIT_ERR_NOMEM, "pack pool threads");
    }
    /* worker i packs share i; the caller packs share 0 */
    for (int i = 1; i < p->n; i++) {
        worker_arg_t *arg = malloc(sizeof *arg);
        if (!arg || pthread_create(&p->threads[i], NULL, worker, arg ? (*arg = (worker_arg_t){p, i}, arg) : NULL) != 0) {
            free(arg);
            p->n = i; /* run with the threads we have */
            RF_WARN("comm", "pack pool: started only %d of %d threads", i, n_threads);
            break;
        }
    }
    *out = p;
    return REFIT_OK;
}

void rf_pack_pool_destroy(rf_pack_pool_t *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->quit = true;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n && p->threads; i++) pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done_cv);
    free(p->threads);
    free(p);
}

int rf_pack_pool_threads(const rf_pack_pool_t *p) { return p->n; }

refit_status rf_pack_pool_run(rf_pack_pool_t *p, const rf_snap_t *s, const rf_plan_t *plan,
                              const rf_src_t (*src)[RF_MAX_PARTS], int group, size_t k, uint8_t *dst) {
    pack_job_t job = {.snap = s, .plan = plan, .src = src, .group = group, .bucket = k, .dst = dst};
    if (p->n == 1) return run_share(p, &job, 0);
    pthread_mutex_lock(&p->mu);
    p->job = job;
    p->done = 0;
    p->failed = REFIT_OK;
    p->job_gen++;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    refit_status st = run_share(p, &job, 0);
    pthread_mutex_lock(&p->mu);
    while (p->done < p->n - 1) pthread_cond_wait(&p->done_cv, &p->mu);
    if (st == REFIT_OK) st = p->failed;
    pthread_mutex_unlock(&p->mu);
    return st;
}
