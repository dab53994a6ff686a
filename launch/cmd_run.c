/* `refit run`: under mpirun, load generation 0 and reload each next
 * checkpoint, print progress and the closing table, optionally dump and
 * write a report. Exit 0 only if every load committed. */
#include <ftw.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bind.h"
#include "commands.h"
#include "options.h"
#include "preflight.h"
#include "progress.h"
#include "refit.h"
#include "report.h"
#include "run_agree.h"
#include "run_deadline.h"
#include "run_guard.h"
#include "run_test_hook.h"
#include "rf_common.h"
#include "rf_settings.h"
#include "synth.h"

/* MPI calls on MPI_COMM_WORLD here keep MPI's default error handler,
 * MPI_ERRORS_ARE_FATAL: a failure ends the job with MPI's own message, so
 * their return codes are not checked again. (The library duplicates its
 * communicators with MPI_ERRORS_RETURN and checks every call, MPI_CHECK.) */
#define DEFAULT_PRESET "tiny"

typedef struct {
    const char *dirs[RF_OPT_MAX_LIST + 1024];
    int n;
    char tmpdir[256]; /* the embedded default's checkpoints, removed at exit */
} ckpt_list_t;

static void run_help(FILE *out) {
    fprintf(out, "\nLoads generation 0 from the first checkpoint and reloads each next one (SPEC §2):\n"
                 "rank 0 reads, every rank receives its tensor-parallel slices, quantizes and commits\n"
                 "together or not at all. With no --checkpoint, runs the embedded default: a small\n"
                 "model (preset '" DEFAULT_PRESET "') synthesized on the fly, loaded and reloaded once.\n"
                 "On a terminal, rank 0 shows each load's progress on one line.\n");
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Rank 0 synthesizes two generations of the default model. */
static refit_status make_default(ckpt_list_t *l) {
    const char *tmp = getenv("TMPDIR");
    snprintf(l->tmpdir, sizeof l->tmpdir, "%s/refit-default-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(l->tmpdir)) return rf_error(REFIT_ERR_IO, "%s: cannot create: %m", l->tmpdir);
    rf_model_config_t cfg;
    int files;
    RF_CHECK(rf_synth_preset(DEFAULT_PRESET, &cfg, &files));
    static char dirs[2][300];
    for (int g = 0; g < 2; g++) {
        snprintf(dirs[g], sizeof dirs[g], "%s/gen%d", l->tmpdir, g);
        RF_CHECK(rf_synth_write(dirs[g], &cfg, files, (uint64_t)g + 1, NULL, NULL));
        l->dirs[l->n++] = dirs[g];
    }
    printf("refit: no --checkpoint given: embedded default model '%s' (%s, %lld layers) synthesized in %s\n",
           DEFAULT_PRESET, cfg.model_type, (long long)cfg.n_layers, l->tmpdir);
    return REFIT_OK;
}

static refit_status build_list(const rf_opts_t *o, int rank, ckpt_list_t *l) {
    long reloads;
    RF_CHECK(rf_opt_int(o, "reloads", 0, 1000, &reloads));
    for (int i = 0; i < o->n_list; i++) l->dirs[l->n++] = o->list[i];
    int have = o->n_list;
    /* Every rank must agree how many loads run; only rank 0 builds the default. */
    if (have == 0) {
        refit_status st = rank == 0 ? make_default(l) : REFIT_OK;
        int ok = st == REFIT_OK;
        MPI_Bcast(&ok, 1, MPI_INT, 0, MPI_COMM_WORLD);
        if (!ok) return st != REFIT_OK ? st : rf_error(REFIT_ERR_REMOTE, "rank 0 could not synthesize the default model");
        if (rank != 0) l->n = 2;
    }
    for (long k = 0; k < reloads; k++, l->n++) l->dirs[l->n] = l->dirs[l->n - 1];
    return rf_run_agree_loads(rank, l->n, l->dirs, have > 0);
}

static refit_status parse_ctx_options(const rf_opts_t *o, refit_options *opt) {
    refit_options_default(opt);
    /* the command is the job: a load past its timeout ends it (exit 124)
     * rather than leaving ranks that can only be destroyed */
    opt->on_timeout = REFIT_ON_TIMEOUT_ABORT;
    long v;
    if (rf_opt_str(o, "tp")) {
        RF_CHECK(rf_opt_int(o, "tp", 1, 1 << 20, &v));
        opt->tp = (int)v;
    }
    RF_CHECK(rf_opt_int(o, "bucket-mb", 1, 1 << 16, &v));
    opt->bucket_bytes = (uint64_t)v << 20;
    RF_CHECK(rf_opt_double(o, "timeout", 0.1, 1e6, &opt->timeout_s));
    opt->verify = rf_opt_flag(o, "verify");
    opt->quant = rf_opt_str(o, "quant");
    /* the parser has checked every value against the option's choices */
    const char *b = rf_opt_str(o, "backend");
    opt->backend = !strcmp(b, "host") ? REFIT_BACKEND_HOST : !strcmp(b, "cuda") ? REFIT_BACKEND_CUDA : REFIT_BACKEND_AUTO;
    opt->transfer = !strcmp(rf_opt_str(o, "transfer"), "bcast") ? REFIT_TRANSFER_BCAST : REFIT_TRANSFER_SCATTER;
    opt->readers = !strcmp(rf_opt_str(o, "readers"), "all") ? REFIT_READERS_ALL : REFIT_READERS_ROOT;
    opt->commit = !strcmp(rf_opt_str(o, "commit"), "inplace") ? REFIT_COMMIT_INPLACE : REFIT_COMMIT_SHADOW;
    opt->moe = !strcmp(rf_opt_str(o, "moe"), "ep") ? REFIT_MOE_EP : REFIT_MOE_TP;
    return REFIT_OK;
}

/* Printed before the figures are gathered (a peer that died after the
 * vote must not hold it back): the load's one total is in the table. */
static void print_outcome(refit_ctx *ctx, const refit_load_stats *s, int world, refit_status st) {
    if (st == REFIT_OK) {
        printf("refit: generation %lld committed on all %d ranks\n", (long long)s->generation, world);
        return;
    }
    fprintf(stderr, "refit: generation %lld NOT committed (%s): %s\n", (long long)s->generation,
            refit_status_str(st), refit_last_error(ctx));
    if (refit_generation(ctx) < 0)
        fprintf(stderr, "refit: nothing is loaded: no generation was ever committed\n");
    else
        fprintf(stderr, "refit: every rank keeps generation %lld\n", (long long)refit_generation(ctx));
}

/* Runs every load; returns the number that failed (stops at the first). */
static int run_loads(refit_ctx *ctx, const ckpt_list_t *l, rf_report_t *rep, int rank, const char *progress) {
    rf_progress_line_t line = {.out = stdout};
    if (rf_progress_wanted(rank, progress)) refit_set_progress(ctx, rf_progress_draw, &line);
    int failed = 0;
    for (int i = 0; i < l->n && !failed; i++) {
        const char *dir = rank == 0 ? l->dirs[i] : NULL;
        if (rank == 0) {
            printf("refit: generation %lld <- %s ...\n", (long long)refit_generation(ctx) + 1, l->dirs[i]);
            fflush(stdout);
        }
        if (i == 1) rf_run_test_stop("between-loads");
        refit_status st = refit_load(ctx, dir);
        rf_progress_clear(&line);
        refit_load_stats s;
        refit_last_stats(ctx, &s);
        if (rank == 0) {
            print_outcome(ctx, &s, rep->world, st);
            fflush(stdout);
        }
        /* after the outcome is printed: a peer that died after the vote
         * leaves this gather to the deadline */
        rf_run_test_stop("report");
        rf_run_deadline_arm(ctx, "the report's gather");
        rf_report_add(rep, rank == 0 ? l->dirs[i] : "", &s);
        rf_run_deadline_disarm();
        if (st != REFIT_OK) failed = 1;
    }
    refit_set_progress(ctx, NULL, NULL); /* `line` ends here */
    return failed;
}

static int finish(refit_ctx *ctx, const rf_opts_t *o, rf_report_t *rep, int rank, int failed) {
    const char *dump = rf_opt_str(o, "dump"), *report = rf_opt_str(o, "report");
    if (dump && refit_generation(ctx) >= 0) {
        refit_status st = refit_dump(ctx, dump);
        if (rank == 0) {
            if (st == REFIT_OK)
                printf("refit: dumped generation %lld to %s\n", (long long)refit_generation(ctx), dump);
            else
                fprintf(stderr, "refit: dump failed: %s\n", refit_last_error(ctx));
        }
        failed += st != REFIT_OK;
    } else if (dump && rank == 0) {
        fprintf(stderr, "refit: nothing is loaded: nothing dumped to %s\n", dump);
    }
    if (rank == 0) {
        rf_report_print_table(rep, stdout);
        if (report) {
            refit_status st = rf_report_write_json(rep, report);
            if (st != REFIT_OK) fprintf(stderr, "refit: %s\n", rf_err_msg());
            else printf("refit: report written to %s\n", report);
            failed += st != REFIT_OK;
        }
    }
    int any = failed;
    MPI_Allreduce(MPI_IN_PLACE, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    return any ? 1 : 0;
}

/* Options, the logging settings and the outputs, all before any load.
 * Returns -1 to go on, else the exit code. */
static int front(int argc, char **argv, int rank, rf_opts_t *o, refit_options *opt) {
    int rc = rf_opts_front(RF_CMD_RUN, argc, argv, o, rank != 0, run_help);
    if (rc >= 0) return rc;
    refit_status st = parse_ctx_options(o, opt);
    if (st == REFIT_OK) st = rf_settings_check(); /* the library's REFIT_LOG & co, before anything runs */
    if (st != REFIT_OK) {
        if (rank == 0) fprintf(stderr, "refit run: %s\n", rf_err_msg());
        return 2;
    }
    char rwho[32], dwho[32];
    rf_opt_origin(o, "report", rwho, sizeof rwho);
    rf_opt_origin(o, "dump", dwho, sizeof dwho);
    return rf_preflight(rf_opt_str(o, "report"), rwho, rf_opt_str(o, "dump"), dwho) ? -1 : 2;
}

static int run(const rf_opts_t *o, refit_options *opt, ckpt_list_t *list, int rank, int world) {
    refit_ctx *ctx = NULL;
    if (opt->timeout_s > 0) rf_run_deadline_start(opt->timeout_s); /* each rank's own value: */
    rf_run_deadline_arm(NULL, "refit_create");                   /* agreed in refit_create */
    refit_status st = rf_bind_for_run(rf_opt_str(o, "bind"));
    if (st == REFIT_OK) st = build_list(o, rank, list);
    if (st == REFIT_OK) rf_run_test_stop("create");
    if (st == REFIT_OK) st = refit_create(&(MPI_Comm){MPI_COMM_WORLD}, opt, &ctx);
    rf_run_deadline_disarm();
    if (st != REFIT_OK) {
        if (rank == 0) fprintf(stderr, "refit run: %s\n", rf_err_msg());
        return 2;
    }
    int tp = opt->tp ? opt->tp : world;
    if (rank == 0)
        printf("refit %s: %d ranks, tp %d, %d replicas, scheme %s, backend %s, %d loads\n", refit_version(), world,
               tp, world / tp, opt->quant, refit_backend_name(ctx), list->n);
    rf_run_guard_attach(ctx, rf_opt_str(o, "dump"));
    rf_report_t rep;
    rf_report_init(&rep, world, tp, opt->quant, refit_backend_name(ctx));
    if (rf_floor_measure(rf_opt_str(o, "report") != NULL, refit_backend_name(ctx), opt->bucket_bytes, tp,
                         &rep.floor) != REFIT_OK && rank == 0)
        fprintf(stderr, "refit run: no floor: %s\n", rf_err_msg());
    int failed = run_loads(ctx, list, &rep, rank, rf_opt_str(o, "progress"));
    rf_run_test_stop("finish");
    rf_run_deadline_arm(ctx, "the final dump and finish");
    int code = finish(ctx, o, &rep, rank, failed);
    rf_run_deadline_disarm();
    rf_report_free(&rep);
    rf_run_guard_attach(NULL, NULL);
    refit_destroy(ctx);
    return code;
}

int rf_cmd_run(int argc, char **argv) {
    rf_opts_t o;
    int rank = 0, world = 1;
    rf_run_guard_start(); /* before MPI_Init: its threads inherit the signal mask */
    int provided = MPI_THREAD_SINGLE; /* the watchdog thread's MPI_Abort (on_timeout=abort) */
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    static ckpt_list_t list;
    refit_options opt;
    /* messages of the front door name no rank: the same on every rank */
    int code = front(argc, argv, rank, &o, &opt);
    rf_log_set_rank(rank, world);
    if (code < 0) code = run(&o, &opt, &list, rank, world);
    if (rank == 0 && list.tmpdir[0]) nftw(list.tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    rf_run_guard_stop(); /* a SIGTERM from here on (mpirun ending the job) simply ends the rank */
    rf_run_deadline_arm(NULL, "MPI_Finalize");
    MPI_Finalize();
    rf_run_deadline_stop();
    return code;
}
