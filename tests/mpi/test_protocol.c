/* The library API under MPI (np 1, 2, 4): generation 0 loads, a reload that
 * fails on rank 0's check commits nowhere and leaves every rank's live
 * weights untouched, a retry succeeds, quantization runs once per param and
 * generation, in-place mode marks the model invalid on failure. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "ctx_internal.h"
#include "../rank_check.h"
#include "refit.h"
#include "synth.h"


static unsigned long live_crc(refit_ctx *ctx) {
    uLong crc = crc32(0L, Z_NULL, 0);
    for (size_t i = 0; i < ctx->snap->n_params; i++) {
        crc = crc32(crc, ctx->ps[i].live, (uInt)ctx->ps[i].data_bytes);
        if (ctx->ps[i].scale_bytes) crc = crc32(crc, ctx->ps[i].live_scales, (uInt)ctx->ps[i].scale_bytes);
    }
    return crc;
}

static int quantize_calls;
static refit_status (*real_process)(rf_backend_t *, size_t, rf_qscheme_t, const void *, int64_t, int64_t, void *,
                                    void *);
static refit_status counting_process(rf_backend_t *b, size_t param, rf_qscheme_t s, const void *x, int64_t rows,
                                     int64_t cols, void *out, void *scales) {
    quantize_calls += s != RF_Q_NONE;
    return real_process(b, param, s, x, rows, cols, out, scales);
}

static size_t quantized_params(refit_ctx *ctx) {
    size_t n = 0;
    for (size_t i = 0; i < ctx->snap->n_params; i++) n += rf_snap_param_quantized(ctx->snap, &ctx->snap->params[i]);
    return n;
}

/* Rank 0 writes gen0, gen1 and a checkpoint of a different model (an extra layer). */
static void make_checkpoints(const char *root) {
    rf_model_config_t cfg, other;
    int files;
    if (rf_synth_preset("tiny", &cfg, &files) != REFIT_OK) abort();
    other = cfg;
    other.n_layers += 1;
    char dir[512];
    snprintf(dir, sizeof dir, "%s/gen0", root);
    CHECK(rf_synth_write(dir, &cfg, files, 1, NULL, NULL) == REFIT_OK, "synth gen0: %s", rf_err_msg());
    snprintf(dir, sizeof dir, "%s/gen1", root);
    CHECK(rf_synth_write(dir, &cfg, files, 2, NULL, NULL) == REFIT_OK, "synth gen1: %s", rf_err_msg());
    snprintf(dir, sizeof dir, "%s/other", root);
    CHECK(rf_synth_write(dir, &other, files, 3, NULL, NULL) == REFIT_OK, "synth other: %s", rf_err_msg());
}

static void test_shadow(const char *root, int world) {
    char g0[512], g1[512], other[512], none[512];
    snprintf(g0, sizeof g0, "%s/gen0", root);
    snprintf(g1, sizeof g1, "%s/gen1", root);
    snprintf(other, sizeof other, "%s/other", root);
    snprintf(none, sizeof none, "%s/does-not-exist", root);
    refit_options opt;
    refit_options_default(&opt);
    opt.bucket_bytes = 8192; /* many buckets; params split across them */
    refit_ctx *ctx = NULL;
    CHECK(refit_create(&(MPI_Comm){MPI_COMM_WORLD}, &opt, &ctx) == REFIT_OK, "create: %s", rf_err_msg());
    if (!ctx) return;
    CHECK(refit_generation(ctx) == -1, "fresh context generation %lld", (long long)refit_generation(ctx));

    /* the backend's table is const and shared: count through a copy of it */
    static rf_backend_ops_t counting_ops;
    counting_ops = *ctx->be->ops;
    real_process = counting_ops.process;
    counting_ops.process = counting_process;
    ctx->be->ops = &counting_ops;
    CHECK(refit_load(ctx, g0) == REFIT_OK, "gen0: %s", refit_last_error(ctx));
    CHECK(refit_generation(ctx) == 0, "generation after first load");
    CHECK((size_t)quantize_calls == quantized_params(ctx), "quantized %d times for %zu params", quantize_calls,
          quantized_params(ctx));
    unsigned long crc0 = live_crc(ctx);
    const void *addr0 = ctx->ps[0].live;

    /* a different model: rank 0's R0 check (its config first) fails, nobody commits */
    quantize_calls = 0;
    refit_status st = refit_load(ctx, other);
    CHECK(st != REFIT_OK, "loading a different model succeeded");
    CHECK(st == (rank == 0 ? REFIT_ERR_MISMATCH : REFIT_ERR_REMOTE), "status %s", refit_status_str(st));
    CHECK(strstr(refit_last_error(ctx), "rank 0: ") &&
              strstr(refit_last_error(ctx), "/config.json: num_hidden_layers 3 vs snapshot 2 (a different model"),
          "error text: %s", refit_last_error(ctx));
    CHECK(refit_generation(ctx) == 0 && live_crc(ctx) == crc0, "failed reload changed the live weights");
    CHECK(quantize_calls == 0, "failed R0 still quantized %d params", quantize_calls);

    st = refit_load(ctx, none);
    CHECK(st != REFIT_OK && strstr(refit_last_error(ctx), "does-not-exist"), "missing dir: %s", refit_last_error(ctx));
    CHECK(refit_generation(ctx) == 0 && live_crc(ctx) == crc0, "missing dir changed the live weights");

    /* retry with a good checkpoint */
    CHECK(refit_load(ctx, g1) == REFIT_OK, "gen1: %s", refit_last_error(ctx));
    CHECK(refit_generation(ctx) == 1, "generation after retry: %lld", (long long)refit_generation(ctx));
    unsigned long crc1 = live_crc(ctx);
    CHECK(crc1 != crc0, "gen1 weights equal gen0's");
    CHECK(ctx->ps[0].live == addr0, "live address moved across generations");
    CHECK((size_t)quantize_calls == quantized_params(ctx), "gen1 quantized %d times", quantize_calls);
    for (size_t i = 0; i < ctx->snap->n_params; i++)
        if (rf_snap_param_quantized(ctx->snap, &ctx->snap->params[i]))
            CHECK(ctx->ps[i].quantized_gen == 1, "%s quantized_gen %lld", ctx->snap->params[i].name,
                  (long long)ctx->ps[i].quantized_gen);

    CHECK(refit_load(ctx, g1) == REFIT_OK, "gen2: %s", refit_last_error(ctx));
    CHECK(refit_generation(ctx) == 2 && live_crc(ctx) == crc1, "same checkpoint, different weights");
    refit_load_stats s;
    refit_last_stats(ctx, &s);
    CHECK(s.status == REFIT_OK && s.generation == 2 && s.bytes[REFIT_PHASE_TRANSFER] > 0, "stats");
    (void)world;
    refit_destroy(ctx);
}

static void test_inplace(const char *root) {
    char g0[512], other[512];
    snprintf(g0, sizeof g0, "%s/gen0", root);
    snprintf(other, sizeof other, "%s/other", root);
    refit_options opt;
    refit_options_default(&opt);
    opt.commit = REFIT_COMMIT_INPLACE;
    opt.quant = "fp8-block";
    refit_ctx *ctx = NULL;
    CHECK(refit_create(&(MPI_Comm){MPI_COMM_WORLD}, &opt, &ctx) == REFIT_OK, "create: %s", rf_err_msg());
    if (!ctx) return;
    CHECK(refit_load(ctx, g0) == REFIT_OK && refit_model_valid(ctx), "inplace gen0: %s", refit_last_error(ctx));
    CHECK(ctx->ps[0].shadow == NULL, "in-place mode allocated a shadow");
    CHECK(refit_load(ctx, other) != REFIT_OK, "inplace bad reload succeeded");
    /* R0 failed before any byte moved: still invalid by contract once a load starts? No:
     * the weights were never touched, so the model stays valid. */
    CHECK(refit_model_valid(ctx), "R0 failure marked untouched in-place weights invalid");
    CHECK(refit_load(ctx, g0) == REFIT_OK && refit_generation(ctx) == 1, "inplace retry: %s", refit_last_error(ctx));
    refit_destroy(ctx);
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int world;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    rf_log_set_rank(rank, world);
    char root[256] = "";
    if (rank == 0) {
        const char *tmp = getenv("TMPDIR");
        snprintf(root, sizeof root, "%s/refit-proto-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(root)) abort();
        make_checkpoints(root);
    }
    MPI_Bcast(root, sizeof root, MPI_CHAR, 0, MPI_COMM_WORLD);
    test_shadow(root, world);
    test_inplace(root);
    if (rank == 0) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", root);
    }
    int total = failures;
    MPI_Allreduce(MPI_IN_PLACE, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0) printf("test_protocol np %d: %s (%d failures)\n", world, total ? "FAILED" : "ok", total);
    MPI_Finalize();
    return total ? 1 : 0;
}
