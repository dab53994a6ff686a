/* The engine's pause (issue 9; at tp > 1 issue 15): every param bound to
 * device buffers the "engine" owns, tp = the MPI world (one rank per GPU,
 * each on local rank % visible GPUs); generation 0 is loaded, then each of
 * REPS reloads is refit_stage (the engine would keep serving) +
 * refit_commit on the engine's stream (the pause). Prints stage and pause
 * times (the slowest rank's: an engine resumes when its last rank does),
 * and the pause against its floor: the largest rank's live bytes / device
 * copy bandwidth, the copy bandwidth measured in the same run on every rank
 * (best of 5 cudaMemcpyAsync device->device of 1 GiB, bytes copied / time;
 * the slowest rank's). REFIT_READERS=all makes every rank read its own
 * slices (refit_options.readers), as `refit run --readers all`.
 * usage: [mpirun -np N] embed_pause CHECKPOINT [REPS] [QUANT] */
#include <cuda_runtime.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gpu/local_gpu.h"
#include "copy_rate.h"
#include "refit.h"

#define CU(call)                                                                               \
    do {                                                                                       \
        cudaError_t e_ = (call);                                                               \
        if (e_ != cudaSuccess) {                                                               \
            fprintf(stderr, "embed_pause: %s: %s\n", #call, cudaGetErrorString(e_));           \
            exit(1);                                                                           \
        }                                                                                      \
    } while (0)

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int rank, world;

static void fail(refit_ctx *ctx, const char *what) {
    fprintf(stderr, "embed_pause: rank %d: %s: %s\n", rank, what, ctx ? refit_last_error(ctx) : "no context");
    MPI_Abort(MPI_COMM_WORLD, 1); /* the other ranks may wait in a collective */
    exit(1);
}

/* The slowest rank's value (max), or the smallest (min) over the world. */
static double world_max(double v) {
    MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    return v;
}
static double world_min(double v) { return -world_max(-v); }

/* REFIT_READERS (root, all): who reads the checkpoint, as refit run's
 * --readers. Anything else is an error, named. */
static int readers_from_env(void) {
    const char *v = getenv("REFIT_READERS");
    if (!v || !*v || !strcmp(v, "root")) return REFIT_READERS_ROOT;
    if (!strcmp(v, "all")) return REFIT_READERS_ALL;
    fprintf(stderr, "embed_pause: REFIT_READERS=%s: expected root or all\n", v);
    exit(2);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: embed_pause CHECKPOINT [REPS] [QUANT]\n");
        return 2;
    }
    const char *ckpt = argv[1];
    int reps = argc > 2 ? atoi(argv[2]) : 5;
    int provided = 0;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    refit_options opt;
    refit_options_default(&opt);
    opt.backend = REFIT_BACKEND_CUDA;
    opt.tp = world;
    opt.device = rf_local_gpu(); /* the engine's buffers below go there too */
    if (opt.device < 0) {
        fprintf(stderr, "embed_pause: rank %d: no visible GPU\n", rank);
        MPI_Abort(MPI_COMM_WORLD, 77);
    }
    opt.readers = readers_from_env();
    if (argc > 3) opt.quant = argv[3];
    opt.timeout_s = 300;
    refit_ctx *ctx = NULL;
    if (refit_create(&(MPI_Comm){MPI_COMM_WORLD}, &opt, &ctx) != REFIT_OK) fail(NULL, "refit_create");
    if (refit_open(ctx, ckpt) != REFIT_OK) fail(ctx, "refit_open");
    size_t n = refit_param_count(ctx);
    void **bufs = calloc(2 * n, sizeof *bufs);
    uint64_t live = 0;
    for (size_t i = 0; i < n; i++) { /* the engine's own weights */
        refit_param_info pi;
        refit_param_info_get(ctx, i, &pi);
        CU(cudaMalloc(&bufs[2 * i], pi.data_bytes));
        if (pi.scale_bytes) CU(cudaMalloc(&bufs[2 * i + 1], pi.scale_bytes));
        if (refit_bind(ctx, i, bufs[2 * i], pi.data_bytes, bufs[2 * i + 1], pi.scale_bytes) != REFIT_OK)
            fail(ctx, "refit_bind");
        live += pi.data_bytes + pi.scale_bytes;
    }
    cudaStream_t s;
    CU(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    double bw = world_min(rf_copy_rate(RF_COPY_D2D, s)); /* bytes copied per second */
    double live_max = world_max((double)live);
    double floor_ms = live_max / bw * 1e3;
    double t = now();
    if (refit_load(ctx, ckpt) != REFIT_OK) fail(ctx, "generation 0");
    double gen0 = world_max(now() - t);
    if (rank == 0)
        printf("embed_pause: %s, tp %d, readers %s, %zu params, %.2f GB live on the largest rank (%s), generation 0 "
               "in %.3f s; device copy %.1f GB/s -> pause floor %.3f ms\n",
               ckpt, world, opt.readers == REFIT_READERS_ALL ? "all" : "root", n, live_max / 1e9,
               opt.quant ? opt.quant : "fp8-tensor", gen0, bw / 1e9, floor_ms);
    double best_pause = 1e30, sum_stage = 0;
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        if (refit_stage(ctx, ckpt) != REFIT_OK) fail(ctx, "refit_stage");
        double t1 = now();
        if (refit_commit(ctx, s) != REFIT_OK) fail(ctx, "refit_commit");
        CU(cudaStreamSynchronize(s)); /* the engine's next work may start: the pause is over */
        double t2 = now();
        refit_load_stats st;
        refit_last_stats(ctx, &st);
        double stage_s = world_max(t1 - t0), pause_ms = world_max((t2 - t1) * 1e3);
        double own_ms = world_max(st.pause_seconds * 1e3);
        if (rank == 0)
            printf("generation %lld: stage %.3f s, pause %.3f ms (refit's own figure %.3f ms), achieved/floor %.2f\n",
                   (long long)refit_generation(ctx), stage_s, pause_ms, own_ms, floor_ms / pause_ms);
        if (pause_ms < best_pause) best_pause = pause_ms;
        sum_stage += stage_s;
    }
    /* bench/multi_table.py reads this line: keep its wording */
    if (rank == 0)
        printf("summary: tp %d, readers %s, live %.2f GB, stage mean %.3f s, best pause %.3f ms, floor %.3f ms "
               "(copy %.1f GB/s), achieved/floor %.2f\n",
               world, opt.readers == REFIT_READERS_ALL ? "all" : "root", live_max / 1e9, sum_stage / reps, best_pause,
               floor_ms, bw / 1e9, floor_ms / best_pause);
    refit_destroy(ctx);
    for (size_t i = 0; i < 2 * n; i++)
        if (bufs[i]) CU(cudaFree(bufs[i]));
    free(bufs);
    CU(cudaStreamDestroy(s));
    MPI_Finalize();
    return 0;
}
