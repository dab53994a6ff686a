/* Reloads under injected 'error' faults (REFIT_FAULT), at np 1, 2, 4: for
 * every phase, on the last rank and on rank 0, refit_load fails on every
 * rank with the cause naming the faulty rank and phase, no rank commits,
 * the generation and live weights stay, and a retry of the same reload
 * succeeds. Also: a fault in generation 0, an allocation failing part way
 * through R2 and its retry, in-place mode, and a malformed REFIT_FAULT
 * refusing refit_create on every rank. (crash and hang end the
 * process: tests/faults/fault_matrix.sh runs them under mpirun.) */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "ctx_internal.h"
#include "../rank_check.h"
#include "refit.h"
#include "synth.h"

static int world;

static char g0[512], g1[512];

static unsigned long live_crc(refit_ctx *ctx) {
    uLong crc = crc32(0L, Z_NULL, 0);
    for (size_t i = 0; ctx->ps && i < ctx->snap->n_params; i++) {
        crc = crc32(crc, ctx->ps[i].live, (uInt)ctx->ps[i].data_bytes);
        if (ctx->ps[i].scale_bytes) crc = crc32(crc, ctx->ps[i].live_scales, (uInt)ctx->ps[i].scale_bytes);
    }
    return crc;
}

static refit_ctx *create(const char *fault, refit_commit_mode mode) {
    setenv("REFIT_FAULT", fault, 1);
    refit_options opt;
    refit_options_default(&opt);
    opt.bucket_bytes = 8192; /* many buckets: a transfer fault lands mid-stream */
    opt.commit = mode;
    opt.timeout_s = 120;     /* a hang here is a bug: let the watchdog end it */
    refit_ctx *ctx = NULL;
    refit_status st = refit_create(&(MPI_Comm){MPI_COMM_WORLD}, &opt, &ctx);
    unsetenv("REFIT_FAULT");
    CHECK(st == REFIT_OK, "create with REFIT_FAULT=%s: %s", fault, rf_err_msg());
    return st == REFIT_OK ? ctx : NULL;
}

/* The failed load's outcome on this rank. */
static void check_failed(refit_ctx *ctx, refit_status st, int bad, const char *phase, int64_t gen,
                         unsigned long crc) {
    char want[128];
    snprintf(want, sizeof want, "rank %d: injected fault: error in phase %s of generation %lld", bad, phase,
             (long long)gen + 1);
    CHECK(st == (rank == bad ? REFIT_ERR_INTERNAL : REFIT_ERR_REMOTE), "%s on rank %d: status %s", phase, bad,
          refit_status_str(st));
    CHECK(strstr(refit_last_error(ctx), want), "%s on rank %d: cause '%s'", phase, bad, refit_last_error(ctx));
    CHECK(refit_generation(ctx) == gen, "%s on rank %d: generation %lld after the failure", phase, bad,
          (long long)refit_generation(ctx));
    if (gen >= 0) /* before a first commit there are no live weights to keep */
        CHECK(live_crc(ctx) == crc, "%s on rank %d: the failed reload changed the live weights", phase, bad);
    refit_load_stats s;
    refit_last_stats(ctx, &s);
    CHECK(s.status == st && s.generation == gen + 1, "%s on rank %d: stats", phase, bad);
    int committed = refit_generation(ctx) != gen, any = committed;
    MPI_Allreduce(MPI_IN_PLACE, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    CHECK(!any, "%s on rank %d: some rank committed", phase, bad);
}

/* Generation 0 loads, generation 1 fails at `phase` on rank `bad`, the retry commits it. */
static void reload_fault(int bad, const char *phase) {
    char spec[64];
    snprintf(spec, sizeof spec, "%d:%s:error", bad, phase);
    refit_ctx *ctx = create(spec, REFIT_COMMIT_SHADOW);
    if (!ctx) return;
    CHECK(refit_load(ctx, rank == 0 ? g0 : NULL) == REFIT_OK, "%s gen0: %s", spec, refit_last_error(ctx));
    unsigned long crc0 = live_crc(ctx);
    refit_status st = refit_load(ctx, rank == 0 ? g1 : NULL);
    check_failed(ctx, st, bad, phase, 0, crc0);
    CHECK(refit_model_valid(ctx), "%s: shadow model invalid after a failure", spec);
    st = refit_load(ctx, rank == 0 ? g1 : NULL);
    CHECK(st == REFIT_OK && refit_generation(ctx) == 1, "%s: retry: %s", spec, refit_last_error(ctx));
    CHECK(live_crc(ctx) != crc0, "%s: retry kept generation 0's weights", spec);
    refit_destroy(ctx);
}

/* The very first load fails: nothing committed (-1), the retry loads generation 0. */
static void first_load_fault(int bad, const char *phase) {
    char spec[64];
    snprintf(spec, sizeof spec, "%d:%s:error:0", bad, phase);
    refit_ctx *ctx = create(spec, REFIT_COMMIT_SHADOW);
    if (!ctx) return;
    refit_status st = refit_load(ctx, rank == 0 ? g0 : NULL);
    check_failed(ctx, st, bad, phase, -1, 0);
    st = refit_load(ctx, rank == 0 ? g0 : NULL);
    CHECK(st == REFIT_OK && refit_generation(ctx) == 0, "%s: retry: %s", spec, refit_last_error(ctx));
    CHECK(refit_load(ctx, rank == 0 ? g1 : NULL) == REFIT_OK && refit_generation(ctx) == 1, "%s: then gen 1: %s",
          spec, refit_last_error(ctx));
    refit_destroy(ctx);
}

/* A clean context's generation 0 on this rank: what a retry must reach. */
static unsigned long clean_crc0(void) {
    refit_ctx *ctx = create("", REFIT_COMMIT_SHADOW);
    if (!ctx) return 0;
    CHECK(refit_load(ctx, rank == 0 ? g0 : NULL) == REFIT_OK, "clean gen0: %s", refit_last_error(ctx));
    unsigned long crc = live_crc(ctx);
    refit_destroy(ctx);
    return crc;
}

/* R2 fails part way on rank `bad` (an allocation of the middle param,
 * REFIT_FAULT kind nomem) in the very first load: nothing is committed, the
 * failing rank keeps no model memory, and the retry allocates everything
 * anew and loads generation 0 with a clean load's weights (before the fix,
 * the retry skipped the allocation and wrote through NULL buffers). */
static void restore_nomem_fault(int bad, unsigned long crc0) {
    char spec[64], want[128];
    snprintf(spec, sizeof spec, "%d:restore:nomem:0", bad);
    snprintf(want, sizeof want, "rank %d: injected fault: nomem in phase restore of generation 0 at model.", bad);
    refit_ctx *ctx = create(spec, REFIT_COMMIT_SHADOW);
    if (!ctx) return;
    refit_status st = refit_load(ctx, rank == 0 ? g0 : NULL);
    CHECK(st == (rank == bad ? REFIT_ERR_NOMEM : REFIT_ERR_REMOTE), "%s: status %s", spec, refit_status_str(st));
    CHECK(strstr(refit_last_error(ctx), want), "%s: cause '%s'", spec, refit_last_error(ctx));
    CHECK(refit_generation(ctx) == -1, "%s: generation %lld", spec, (long long)refit_generation(ctx));
    if (rank == bad)
        CHECK(!ctx->allocated && ctx->staging == NULL && ctx->be->mem_now == 0, /* the table (binds) stays */
              "%s: the failed restore kept %llu bytes", spec, (unsigned long long)ctx->be->mem_now);
    st = refit_load(ctx, rank == 0 ? g0 : NULL);
    CHECK(st == REFIT_OK && refit_generation(ctx) == 0, "%s: retry: %s", spec, refit_last_error(ctx));
    CHECK(live_crc(ctx) == crc0, "%s: the retry's weights differ from a clean load's", spec);
    CHECK(refit_load(ctx, rank == 0 ? g1 : NULL) == REFIT_OK && refit_generation(ctx) == 1, "%s: then gen 1: %s",
          spec, refit_last_error(ctx));
    refit_destroy(ctx);
}

/* In place: a fault before any weight is touched keeps the model valid;
 * one in R3 leaves it invalid until a retry commits. */
static void inplace_fault(int bad) {
    static const struct { const char *phase; bool valid_after; } cases[] = {{"open", true}, {"transfer", false}};
    for (size_t c = 0; c < 2; c++) {
        char spec[64];
        snprintf(spec, sizeof spec, "%d:%s:error", bad, cases[c].phase);
        refit_ctx *ctx = create(spec, REFIT_COMMIT_INPLACE);
        if (!ctx) return;
        CHECK(refit_load(ctx, rank == 0 ? g0 : NULL) == REFIT_OK, "inplace gen0: %s", refit_last_error(ctx));
        CHECK(refit_load(ctx, rank == 0 ? g1 : NULL) != REFIT_OK, "inplace %s: reload succeeded", spec);
        CHECK(refit_generation(ctx) == 0, "inplace %s: generation moved", spec);
        CHECK(!!refit_model_valid(ctx) == cases[c].valid_after, "inplace %s: valid %d", spec, refit_model_valid(ctx));
        CHECK(refit_load(ctx, rank == 0 ? g1 : NULL) == REFIT_OK && refit_model_valid(ctx) &&
                  refit_generation(ctx) == 1,
              "inplace %s: retry: %s", spec, refit_last_error(ctx));
        refit_destroy(ctx);
    }
}

static void bad_specs(void) {
    char out_of_range[32];
    snprintf(out_of_range, sizeof out_of_range, "%d:open:error", world);
    const char *bad[] = {"1:open", "x:open:error", "0:opn:error", "0:open:boom", "0:open:error:-1", out_of_range};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv("REFIT_FAULT", bad[i], 1);
        refit_options opt;
        refit_options_default(&opt);
        refit_ctx *ctx = NULL;
        rf_err_clear();
        refit_status st = refit_create(&(MPI_Comm){MPI_COMM_WORLD}, &opt, &ctx);
        CHECK(st != REFIT_OK && ctx == NULL, "REFIT_FAULT=%s accepted", bad[i]);
        CHECK(strstr(rf_err_msg(), "REFIT_FAULT='") != NULL, "REFIT_FAULT=%s: message '%s'", bad[i], rf_err_msg());
        if (ctx) refit_destroy(ctx);
    }
    unsetenv("REFIT_FAULT");
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    rf_log_set_rank(rank, world);
    char root[256] = "";
    if (rank == 0) {
        const char *tmp = getenv("TMPDIR");
        snprintf(root, sizeof root, "%s/refit-faults-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(root)) abort();
        rf_model_config_t cfg;
        int files;
        if (rf_synth_preset("tiny", &cfg, &files) != REFIT_OK) abort();
        snprintf(g0, sizeof g0, "%s/gen0", root);
        snprintf(g1, sizeof g1, "%s/gen1", root);
        CHECK(rf_synth_write(g0, &cfg, files, 1, NULL, NULL) == REFIT_OK, "synth gen0: %s", rf_err_msg());
        CHECK(rf_synth_write(g1, &cfg, files, 2, NULL, NULL) == REFIT_OK, "synth gen1: %s", rf_err_msg());
    }
    MPI_Bcast(root, sizeof root, MPI_CHAR, 0, MPI_COMM_WORLD);
    setenv("REFIT_LOG", "error", 1); /* the "fault injection armed" warnings, once per context */
    static const char *const phases[] = {"open", "snapshot", "restore", "transfer", "quantize", "commit"};
    int bads[2] = {world - 1, 0};
    for (int b = 0; b < (world > 1 ? 2 : 1); b++)
        for (int p = 0; p < 6; p++) reload_fault(bads[b], phases[p]);
    for (int p = 0; p < 6; p++) first_load_fault(world - 1, phases[p]);
    unsigned long crc0 = clean_crc0();
    for (int b = 0; b < (world > 1 ? 2 : 1); b++) restore_nomem_fault(bads[b], crc0);
    inplace_fault(world - 1);
    bad_specs();
    if (rank == 0) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", root);
    }
    int total = failures;
    MPI_Allreduce(MPI_IN_PLACE, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0) printf("test_faults np %d: %s (%d failures)\n", world, total ? "FAILED" : "ok", total);
    MPI_Finalize();
    return total ? 1 : 0;
}
