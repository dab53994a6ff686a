/* Control-plane scaling: how the snapshot, its broadcast, the transfer plan
 * and the communicator set-up grow with tensors and ranks. No checkpoint is
 * read: the snapshot is built from a config (the many-10k preset's shapes
 * with L layers: 9L + 3 checkpoint tensors, 6L + 3 params).
 *
 *   mpirun -np N ctrl_scale [--layers 10,100,1111,5000] [--tp T] [--reps R]
 *
 * Prints one line per layer count (rank 0): snapshot bytes; build, encode,
 * decode and digest times on rank 0; the whole-snapshot broadcast and the
 * 16-byte digest broadcast (slowest rank, median of R); the plan build
 * (slowest rank); and once, rf_comm_create (node discovery + 2 x tp splits). */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm.h"
#include "plan.h"
#include "snapshot.h"
#include "synth.h"

static int rank, world;

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median over reps of the slowest rank's time of fn(arg). */
static double timed(int reps, void (*fn)(void *), void *arg) {
    double t[64];
    if (reps > 64) reps = 64;
    for (int i = 0; i < reps; i++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = rf_now();
        fn(arg);
        t[i] = rf_now() - t0;
        MPI_Allreduce(MPI_IN_PLACE, &t[i], 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    }
    qsort(t, (size_t)reps, sizeof t[0], cmp_double);
    return t[reps / 2];
}

typedef struct {
    rf_comm_t *comm;
    uint8_t *blob;
    size_t len;
    const rf_snap_t *snap;
} job_t;

static void bcast_blob(void *arg) {
    job_t *j = arg;
    uint8_t *buf = rank == 0 ? j->blob : NULL;
    size_t len = j->len;
    if (rf_comm_bcast_blob(j->comm, &buf, &len) != REFIT_OK) MPI_Abort(MPI_COMM_WORLD, 1);
    if (rank != 0) free(buf);
}

static void bcast_digest(void *arg) {
    job_t *j = arg;
    uint64_t d[2] = {rank == 0 ? rf_snap_digest(j->blob, j->len) : 0, RF_SNAP_VERSION};
    if (rf_comm_bcast(j->comm, d, sizeof d) != REFIT_OK) MPI_Abort(MPI_COMM_WORLD, 1);
}

static void build_plan(void *arg) {
    job_t *j = arg;
    rf_plan_t plan;
    if (rf_plan_build(j->snap->params, j->snap->n_params, j->snap->tp, 64u << 20, &plan) != REFIT_OK)
        MPI_Abort(MPI_COMM_WORLD, 1);
    rf_plan_free(&plan);
}

/* Rank 0's local step, timed on rank 0 alone (median of reps). */
static double local_ms(int reps, void (*fn)(void *), void *arg) {
    double t[64];
    if (reps > 64) reps = 64;
    for (int i = 0; i < reps; i++) {
        double t0 = rf_now();
        fn(arg);
        t[i] = rf_now() - t0;
    }
    qsort(t, (size_t)reps, sizeof t[0], cmp_double);
    return t[reps / 2] * 1e3;
}

typedef struct {
    const rf_model_config_t *cfg;
    int tp;
    rf_snap_t *snap;
    uint8_t *blob;
    size_t len;
} snap_job_t;

static void do_build(void *arg) {
    snap_job_t *j = arg;
    rf_snap_t *s;
    if (rf_snap_build(j->cfg, j->tp, RF_MOE_TP, RF_Q_FP8_TENSOR, &s) != REFIT_OK) abort();
    rf_snap_free(s);
}
static void do_encode(void *arg) {
    snap_job_t *j = arg;
    uint8_t *b;
    size_t n;
    if (rf_snap_encode(j->snap, &b, &n) != REFIT_OK) abort();
    free(b);
}
static void do_decode(void *arg) {
    snap_job_t *j = arg;
    rf_snap_t *s;
    if (rf_snap_decode(j->blob, j->len, "bench", &s) != REFIT_OK) abort();
    rf_snap_free(s);
}
static void do_digest(void *arg) {
    snap_job_t *j = arg;
    volatile uint64_t d = rf_snap_digest(j->blob, j->len);
    (void)d;
}

static void one_size(rf_comm_t *comm, int tp, int layers, int reps) {
    rf_model_config_t cfg;
    if (rf_synth_preset("many-10k", &cfg, NULL) != REFIT_OK) abort();
    cfg.n_layers = layers;
    snap_job_t sj = {.cfg = &cfg, .tp = tp};
    if (rf_snap_build(&cfg, tp, RF_MOE_TP, RF_Q_FP8_TENSOR, &sj.snap) != REFIT_OK ||
        rf_snap_encode(sj.snap, &sj.blob, &sj.len) != REFIT_OK) {
        fprintf(stderr, "ctrl_scale: %s\n", rf_err_msg());
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    double build = 0, enc = 0, dec = 0, dig = 0;
    if (rank == 0) {
        build = local_ms(reps, do_build, &sj);
        enc = local_ms(reps, do_encode, &sj);
        dec = local_ms(reps, do_decode, &sj);
        dig = local_ms(reps, do_digest, &sj);
    }
    job_t j = {.comm = comm, .blob = sj.blob, .len = sj.len, .snap = sj.snap};
    double blob = timed(reps, bcast_blob, &j), digest = timed(reps, bcast_digest, &j);
    double plan = timed(reps, build_plan, &j);
    if (rank == 0)
        printf("%5d %3d %6d %7d %6zu %10zu %9.2f %9.2f %9.2f %9.2f %9.2f %9.1f %8.3f\n", world, tp, layers,
               9 * layers + 3, sj.snap->n_params, sj.len, build, enc, dec, dig * 1e3, blob * 1e3, digest * 1e6,
               plan * 1e3);
    free(sj.blob);
    rf_snap_free(sj.snap);
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    rf_log_set_rank(rank, world);
    char layers[256] = "10,100,1111,5000";
    int tp = world < 8 ? world : 8, reps = 5;
    for (int a = 1; a + 1 < argc; a += 2) {
        if (!strcmp(argv[a], "--layers")) snprintf(layers, sizeof layers, "%s", argv[a + 1]);
        else if (!strcmp(argv[a], "--tp")) tp = atoi(argv[a + 1]);
        else if (!strcmp(argv[a], "--reps")) reps = atoi(argv[a + 1]);
    }
    if (tp < 1 || world % tp || reps < 1) {
        if (rank == 0) fprintf(stderr, "ctrl_scale: tp %d must divide world %d; reps >= 1\n", tp, world);
        MPI_Finalize();
        return 2;
    }
    rf_comm_t *comm = NULL;
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = rf_now();
    if (rf_comm_create(&(MPI_Comm){MPI_COMM_WORLD}, tp, &comm) != REFIT_OK) {
        fprintf(stderr, "ctrl_scale: %s\n", rf_err_msg());
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    double create = rf_now() - t0;
    MPI_Allreduce(MPI_IN_PLACE, &create, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    if (rank == 0) {
        printf("ctrl_scale: %d ranks, tp %d, %d node(s); rf_comm_create %.2f ms; median of %d\n", world, tp,
               rf_comm_nodes(comm), create * 1e3, reps);
        printf("%5s %3s %6s %7s %6s %10s %9s %9s %9s %9s %9s %9s %8s\n", "ranks", "tp", "layers", "tensors",
               "params", "snap_bytes", "build_ms", "encode_ms", "decode_ms", "digest_us", "bcast_ms", "dgst_b_us",
               "plan_ms");
    }
    for (char *tok = strtok(layers, ","); tok; tok = strtok(NULL, ",")) one_size(comm, tp, atoi(tok), reps);
    rf_comm_destroy(comm);
    MPI_Finalize();
    return 0;
}
