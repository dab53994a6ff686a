/* Two contexts in one process (host backend), each on its own
 * communicator: A over a duplicate of MPI_COMM_WORLD (tp = world), B over
 * MPI_COMM_SELF (tp 1, every rank its own rank 0). Their loads interleave
 * (A gen 0, B gen 0, A gen 1, B gen 1) with different models and schemes;
 * B is destroyed before A dumps, so nothing A holds may be B's. Each dump
 * is then checked against the SPEC reference by check_two_contexts.sh.
 * usage: test_two_contexts A0 A1 QUANT_A B0 B1 QUANT_B DUMP_A DUMP_B_ROOT
 * (B's dump goes to DUMP_B_ROOT/rRANK). */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "refit.h"

static int rank, failures;

static void fail(const char *what, const refit_ctx *ctx) {
    failures++;
    fprintf(stderr, "rank %d FAIL: %s: %s\n", rank, what, ctx ? refit_last_error(ctx) : "no context");
}

static refit_ctx *create(MPI_Comm comm, const char *quant) {
    refit_options opt;
    refit_options_default(&opt);
    opt.backend = REFIT_BACKEND_HOST;
    opt.quant = quant;
    opt.bucket_bytes = 1 << 20; /* several buckets per load */
    refit_ctx *ctx = NULL;
    if (refit_create(&comm, &opt, &ctx) != REFIT_OK) fail("create", NULL);
    return ctx;
}

static void load(refit_ctx *ctx, const char *dir, int64_t gen, const char *what) {
    if (refit_load(ctx, dir) != REFIT_OK || refit_generation(ctx) != gen) fail(what, ctx);
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int world = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    if (argc != 9) {
        if (rank == 0) fprintf(stderr, "usage: test_two_contexts A0 A1 QUANT_A B0 B1 QUANT_B DUMP_A DUMP_B_ROOT\n");
        MPI_Finalize();
        return 2;
    }
    MPI_Comm dup;
    MPI_Comm_dup(MPI_COMM_WORLD, &dup);
    refit_ctx *a = create(dup, argv[3]), *b = create(MPI_COMM_SELF, argv[6]);
    if (a && b) {
        const char *a0 = rank == 0 ? argv[1] : NULL, *a1 = rank == 0 ? argv[2] : NULL;
        load(a, a0, 0, "A generation 0");
        load(b, argv[4], 0, "B generation 0"); /* B: every rank is rank 0 of MPI_COMM_SELF */
        load(a, a1, 1, "A generation 1");
        load(b, argv[5], 1, "B generation 1");
        char dir[600];
        snprintf(dir, sizeof dir, "%s/r%d", argv[8], rank);
        if (refit_dump(b, dir) != REFIT_OK) fail("B dump", b);
        refit_destroy(b);
        b = NULL;
        if (refit_dump(a, argv[7]) != REFIT_OK) fail("A dump", a);
        if (strcmp(refit_backend_name(a), "host") != 0) fail("A's backend is not host", a);
    }
    refit_destroy(b);
    refit_destroy(a);
    MPI_Comm_free(&dup);
    int total = failures;
    MPI_Allreduce(MPI_IN_PLACE, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0) printf("test_two_contexts np %d: %s (%d failures)\n", world, total ? "FAILED" : "ok", total);
    MPI_Finalize();
    return total ? 1 : 0;
}
