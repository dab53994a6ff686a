/* refit_set_progress (refit.h): during a load the callback runs on the
 * thread that called refit_load, bytes_done never decreases, calls come at
 * most ~10 a second plus the last, the last has bytes_done == bytes_total,
 * and that total is the load's transfer bytes in refit_load_stats. A NULL
 * callback stops the calls.
 * usage: mpirun -np N test_progress CHECKPOINT_DIR */
#include <mpi.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "refit.h"

typedef struct {
    pthread_t loader;
    int calls, failures;
    uint64_t last_done, last_total;
    double first_s, last_s;
} seen_t;

static void check(seen_t *s, int ok, const char *what, const refit_progress *p) {
    if (ok) return;
    s->failures++;
    fprintf(stderr, "test_progress: %s (done %llu, total %llu, %.3f s)\n", what, (unsigned long long)p->bytes_done,
            (unsigned long long)p->bytes_total, p->seconds);
}

static void on_progress(const refit_progress *p, void *user) {
    seen_t *s = user;
    check(s, pthread_equal(pthread_self(), s->loader), "called from another thread", p);
    check(s, p->phase == REFIT_PHASE_TRANSFER, "phase is not transfer", p);
    check(s, p->bytes_done >= s->last_done, "bytes_done went down", p);
    check(s, p->bytes_done <= p->bytes_total, "bytes_done beyond bytes_total", p);
    check(s, s->calls == 0 || p->bytes_done == p->bytes_total || p->seconds - s->last_s >= 0.099,
          "two calls within 0.1 s", p);
    if (s->calls++ == 0) s->first_s = p->seconds;
    s->last_done = p->bytes_done;
    s->last_total = p->bytes_total;
    s->last_s = p->seconds;
}

static int one_load(refit_ctx *ctx, const char *dir, seen_t *s) {
    memset(s, 0, sizeof *s);
    s->loader = pthread_self();
    refit_status st = refit_load(ctx, dir);
    refit_load_stats stats;
    refit_last_stats(ctx, &stats);
    int bad = st != REFIT_OK || s->failures;
    if (s->calls == 0 || s->last_done != s->last_total || s->last_total != stats.bytes[REFIT_PHASE_TRANSFER]) {
        fprintf(stderr, "test_progress: %d calls, last %llu of %llu, stats %llu transfer bytes\n", s->calls,
                (unsigned long long)s->last_done, (unsigned long long)s->last_total,
                (unsigned long long)stats.bytes[REFIT_PHASE_TRANSFER]);
        bad = 1;
    }
    if (s->calls > 2 + (int)(stats.seconds[REFIT_PHASE_TRANSFER] / 0.1)) {
        fprintf(stderr, "test_progress: %d calls in %.3f s: not throttled\n", s->calls,
                stats.seconds[REFIT_PHASE_TRANSFER]);
        bad = 1;
    }
    return bad;
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, bad = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    refit_options opt;
    refit_options_default(&opt);
    opt.backend = REFIT_BACKEND_HOST;
    opt.bucket_bytes = 64 << 10; /* many buckets: many chances to call */
    refit_ctx *ctx = NULL;
    if (argc != 2 || refit_create(&(MPI_Comm){MPI_COMM_WORLD}, &opt, &ctx) != REFIT_OK) {
        fprintf(stderr, "usage: test_progress CHECKPOINT_DIR (under mpirun)\n");
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    seen_t s;
    refit_set_progress(ctx, on_progress, &s);
    for (int i = 0; i < 2; i++) bad |= one_load(ctx, argv[1], &s);
    refit_set_progress(ctx, NULL, NULL);
    memset(&s, 0, sizeof s);
    if (refit_load(ctx, argv[1]) != REFIT_OK || s.calls != 0) {
        fprintf(stderr, "test_progress: rank %d: %d calls after refit_set_progress(NULL)\n", rank, s.calls);
        bad = 1;
    }
    refit_destroy(ctx);
    MPI_Allreduce(MPI_IN_PLACE, &bad, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (rank == 0) printf(bad ? "test_progress: FAILED\n" : "test_progress: ok\n");
    MPI_Finalize();
    return bad;
}
