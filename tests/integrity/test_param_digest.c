/* refit_param_digest through the public API: load CKPT, dump it to DUMP,
 * and write every param's committed digest of this rank to OUT.rRANK as
 * "NAME HEX" lines, for tests/integrity/param_digest_check.py to recompute
 * from the dump's tensor bytes with the Python reference. Also checks the
 * calls' errors: before a commit, an unknown name, an index past the end,
 * and that lookup by name gives what lookup by index gave.
 * usage: mpirun -n N test_param_digest CKPT DUMP OUT */
#include <mpi.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "refit.h"

static int failures;
#define CHECK(c)                                                          \
    do {                                                                  \
        if (!(c)) {                                                       \
            fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); \
            failures++;                                                   \
        }                                                                 \
    } while (0)

/* Every param by index into fp; returns how many. */
static size_t write_digests(refit_ctx *ctx, FILE *fp) {
    size_t i = 0;
    for (;; i++) {
        const char *name = NULL;
        uint64_t d = 0, again = 0;
        refit_status st = refit_param_digest(ctx, i, NULL, &name, &d);
        if (st == REFIT_ERR_INVALID_ARG) break;
        CHECK(st == REFIT_OK && name);
        if (st != REFIT_OK || !name) break;
        CHECK(refit_param_digest(ctx, 0, name, NULL, &again) == REFIT_OK && again == d);
        fprintf(fp, "%s %016" PRIx64 "\n", name, d);
    }
    return i;
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    if (argc != 4) {
        fprintf(stderr, "usage: test_param_digest CKPT DUMP OUT\n");
        MPI_Finalize();
        return 2;
    }
    refit_options opt;
    refit_options_default(&opt);
    opt.backend = REFIT_BACKEND_HOST;
    MPI_Comm comm = MPI_COMM_WORLD;
    refit_ctx *ctx = NULL;
    CHECK(refit_create(&comm, &opt, &ctx) == REFIT_OK);
    uint64_t d = 0;
    if (ctx) {
        CHECK(refit_param_digest(ctx, 0, NULL, NULL, &d) == REFIT_ERR_STATE); /* nothing committed yet */
        CHECK(refit_load(ctx, argv[1]) == REFIT_OK);
        CHECK(refit_dump(ctx, argv[2]) == REFIT_OK);
        CHECK(refit_param_digest(ctx, 0, "no.such.weight", NULL, &d) == REFIT_ERR_INVALID_ARG);
        char path[4096];
        snprintf(path, sizeof path, "%s.r%d", argv[3], rank);
        FILE *fp = fopen(path, "w");
        CHECK(fp != NULL);
        if (fp) {
            size_t n = write_digests(ctx, fp);
            CHECK(n > 0);
            CHECK(fclose(fp) == 0);
        }
        refit_destroy(ctx);
    }
    MPI_Finalize();
    if (failures) fprintf(stderr, "rank %d: %d checks failed\n", rank, failures);
    return failures ? 1 : 0;
}
