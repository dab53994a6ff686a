/* The engine's pause (issue 9): one GPU, tp 1, every param bound to device
 * buffers the "engine" owns; generation 0 is loaded, then each of REPS
 * reloads is refit_stage (the engine would keep serving) + refit_commit on
 * the engine's stream (the pause). Prints stage and pause times, and the
 * pause against its floor: live bytes / device copy bandwidth, the copy
 * bandwidth measured in the same run (best of 5 cudaMemcpyAsync
 * device->device of 1 GiB, bytes copied / time).
 * usage: embed_pause CHECKPOINT [REPS] [QUANT]   (single process) */
#include <cuda_runtime.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

static void fail(refit_ctx *ctx, const char *what) {
    fprintf(stderr, "embed_pause: %s: %s\n", what, ctx ? refit_last_error(ctx) : "no context");
    exit(1);
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
    refit_options opt;
    refit_options_default(&opt);
    opt.backend = REFIT_BACKEND_CUDA;
    opt.tp = 1;
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
    double bw = rf_copy_rate(RF_COPY_D2D, s); /* bytes copied per second */
    double floor_ms = (double)live / bw * 1e3;
    double t = now();
    if (refit_load(ctx, ckpt) != REFIT_OK) fail(ctx, "generation 0");
    printf("embed_pause: %s, %zu params, %.2f GB live (%s), generation 0 in %.3f s; device copy %.1f GB/s -> "
           "pause floor %.3f ms\n", ckpt, n, (double)live / 1e9, opt.quant ? opt.quant : "fp8-tensor", now() - t,
           bw / 1e9, floor_ms);
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
        double pause_ms = (t2 - t1) * 1e3;
        printf("generation %lld: stage %.3f s, pause %.3f ms (refit's own figure %.3f ms), achieved/floor %.2f\n",
               (long long)refit_generation(ctx), t1 - t0, pause_ms, st.pause_seconds * 1e3, floor_ms / pause_ms);
        if (pause_ms < best_pause) best_pause = pause_ms;
        sum_stage += t1 - t0;
    }
    printf("summary: live %.2f GB, stage mean %.3f s, best pause %.3f ms, floor %.3f ms (copy %.1f GB/s), "
           "achieved/floor %.2f, aim pause <= 10 ms: %s\n", (double)live / 1e9, sum_stage / reps, best_pause, floor_ms,
           bw / 1e9, floor_ms / best_pause, best_pause <= 10.0 ? "met" : "missed");
    refit_destroy(ctx);
    for (size_t i = 0; i < 2 * n; i++)
        if (bufs[i]) CU(cudaFree(bufs[i]));
    free(bufs);
    CU(cudaStreamDestroy(s));
    MPI_Finalize();
    return 0;
}
