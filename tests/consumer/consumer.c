/* An external program built against the INSTALLED refit only (refit.h and
 * librefit.so through find_package(refit) or pkg-config): what an engine
 * embedding refit does first. Checks, on every rank:
 *   - the header's REFIT_VERSION equals refit_version() of the library it runs with;
 *   - a refit_create refused for bad options leaves its cause in
 *     refit_last_error(NULL) (no context exists to ask), on this thread only;
 *   - options of an older refit.h (struct_size of the first layout) are accepted;
 *   - create (host backend), load CHECKPOINT as generation 0, destroy.
 * Prints "refit VERSION generation G" on rank 0. Exit 0 only if all hold.
 * usage: consumer CHECKPOINT_DIR */
#include <mpi.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <refit.h>

static int rank, failures;

static void fail(const char *what, const char *why) {
    failures++;
    fprintf(stderr, "consumer rank %d FAIL: %s: %s\n", rank, what, why);
}

static void *other_thread_error(void *out) {
    *(const char **)out = refit_last_error(NULL);
    return NULL;
}

/* A create refused for its options: the cause without a context. */
static void check_create_error(void) {
    refit_options opt;
    refit_options_default(&opt);
    opt.struct_size = 0; /* as if the caller never called refit_options_default */
    refit_ctx *ctx = NULL;
    MPI_Comm comm = MPI_COMM_WORLD;
    refit_status st = refit_create(&comm, &opt, &ctx);
    const char *why = refit_last_error(NULL);
    /* every rank fails alike: the first failing rank (0) with its status, the others relay it */
    if (st != (rank == 0 ? REFIT_ERR_INVALID_ARG : REFIT_ERR_REMOTE) || ctx)
        fail("create with struct_size 0", refit_status_str(st));
    if (!strstr(why, "refit_options.struct_size is 0")) fail("refit_last_error(NULL) after a failed create", why);
    const char *other = NULL;
    pthread_t t;
    if (pthread_create(&t, NULL, other_thread_error, &other) != 0 || pthread_join(t, NULL) != 0)
        fail("thread", "pthread_create");
    else if (!other || other[0])
        fail("refit_last_error(NULL) is per thread", other ? other : "NULL");
}

static refit_ctx *create(size_t struct_size) {
    refit_options opt;
    refit_options_default(&opt);
    opt.struct_size = struct_size;
    opt.backend = REFIT_BACKEND_HOST;
    refit_ctx *ctx = NULL;
    MPI_Comm comm = MPI_COMM_WORLD;
    if (refit_create(&comm, &opt, &ctx) != REFIT_OK) fail("create", refit_last_error(NULL));
    else if (refit_last_error(NULL)[0]) fail("refit_last_error(NULL) after a create that worked", refit_last_error(NULL));
    return ctx;
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    if (argc != 2) {
        if (rank == 0) fprintf(stderr, "usage: consumer CHECKPOINT_DIR\n");
        MPI_Finalize();
        return 2;
    }
    if (strcmp(refit_version(), REFIT_VERSION) != 0) fail("refit_version() vs REFIT_VERSION", refit_version());
    check_create_error();
    /* the first layout of refit_options ended with timeout_s */
    refit_ctx *old = create(offsetof(refit_options, timeout_s) + sizeof(double));
    refit_destroy(old);
    refit_ctx *ctx = create(sizeof(refit_options));
    if (ctx) {
        if (refit_load(ctx, rank == 0 ? argv[1] : NULL) != REFIT_OK) fail("load", refit_last_error(ctx));
        else if (rank == 0)
            printf("refit %s (header %d.%d.%d) generation %lld\n", refit_version(), REFIT_VERSION_MAJOR,
                   REFIT_VERSION_MINOR, REFIT_VERSION_PATCH, (long long)refit_generation(ctx));
        refit_destroy(ctx);
    }
    int all = 0;
    MPI_Allreduce(&failures, &all, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    MPI_Finalize();
    return all == 0 ? 0 : 1;
}
