/* The embedding API on one GPU (issue 9, item 9): an engine binds device
 * buffers of its own to every param, captures a CUDA graph that reads all of
 * them (a checksum kernel, tests/gpu/embed_checksum.cu) BEFORE any reload,
 * and replays it: after generation 0, while generation 1 is staged (live
 * untouched), and after refit_commit on the engine's stream (generation 1).
 * The expected checksums come from a second context on the host backend
 * (the C reference quantization) that loads the same checkpoints, so the
 * device bytes are checked against an independent path. Also: binding host
 * memory on cuda is refused with its exact error. Self-contained (writes
 * two tiny synthetic checkpoints under $TMPDIR); run as a single process.
 * Exit 0 pass, 1 fail, 77 skip (no GPU). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef REFIT_HAVE_CUDA
int main(void) {
    printf("SKIP: no GPU (built without the CUDA backend)\n");
    return 77;
}
#else
#include <cuda_runtime.h>
#include <mpi.h>

#include "embed_checksum.h"
#include "refit.h"
#include "synth.h"

static int failures;
#define CHECK(cond, ...)                      \
    do {                                      \
        if (!(cond)) {                        \
            failures++;                       \
            printf("FAIL line %d: ", __LINE__); \
            printf(__VA_ARGS__);              \
            printf("\n");                     \
            fflush(stdout);                   \
        }                                     \
    } while (0)
#define CU(call)                                                                                   \
    do {                                                                                           \
        cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess) {                                                                   \
            printf("FAIL %s:%d: %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e_));     \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

static refit_ctx *create(refit_backend be) {
    refit_options opt;
    refit_options_default(&opt);
    opt.backend = be;
    opt.quant = "fp8-block";
    refit_ctx *ctx = NULL;
    refit_status st = refit_create(&(MPI_Comm){MPI_COMM_SELF}, &opt, &ctx);
    CHECK(st == REFIT_OK, "refit_create(%s): %s", be == REFIT_BACKEND_CUDA ? "cuda" : "host", refit_status_str(st));
    return st == REFIT_OK ? ctx : NULL;
}

static void synth(const char *dir, uint64_t seed) {
    rf_model_config_t cfg;
    int files = 1;
    if (rf_synth_preset("tiny", &cfg, &files) != REFIT_OK || rf_synth_write(dir, &cfg, files, seed, NULL, NULL) != REFIT_OK) {
        printf("FAIL: cannot write a synthetic checkpoint to %s\n", dir);
        exit(1);
    }
}

/* The host context's checksum of its live weights (host pointers). */
static uint64_t host_sum(refit_ctx *h) {
    uint64_t sum = 0;
    for (size_t i = 0; i < refit_param_count(h); i++) {
        refit_param_info pi;
        refit_param_info_get(h, i, &pi);
        sum += rf_test_checksum_host(pi.data, pi.data_bytes, 2 * i + 1);
        if (pi.scale_bytes) sum += rf_test_checksum_host(pi.scales, pi.scale_bytes, 2 * i + 2);
    }
    return sum;
}

typedef struct {
    size_t n;
    void **data, **scales;
    uint64_t *d_sum;
    cudaStream_t stream;
    cudaGraphExec_t graph;
} engine_t;

static void bind_device(refit_ctx *ctx, engine_t *e) {
    e->n = refit_param_count(ctx);
    e->data = calloc(e->n, sizeof *e->data);
    e->scales = calloc(e->n, sizeof *e->scales);
    for (size_t i = 0; i < e->n; i++) {
        refit_param_info pi;
        refit_param_info_get(ctx, i, &pi);
        CU(cudaMalloc(&e->data[i], pi.data_bytes));
        if (pi.scale_bytes) CU(cudaMalloc(&e->scales[i], pi.scale_bytes));
        refit_status st = refit_bind(ctx, i, e->data[i], pi.data_bytes, e->scales[i], pi.scale_bytes);
        CHECK(st == REFIT_OK, "bind %s: %s", pi.name, refit_last_error(ctx));
    }
}

/* Host memory is not a param's storage on cuda: the exact refusal. */
static void bind_host_refused(refit_ctx *ctx) {
    refit_param_info pi;
    refit_param_info_get(ctx, 0, &pi);
    void *h = aligned_alloc(256, (pi.data_bytes + 255) / 256 * 256);
    int dev = -1;
    CU(cudaGetDevice(&dev));
    char want[512];
    snprintf(want, sizeof want, "rank 0: bind %s: data at %p is host memory, the cuda backend needs device memory of GPU %d",
             pi.name, h, dev);
    refit_status st = refit_bind(ctx, 0, h, pi.data_bytes, NULL, 0);
    CHECK(st == REFIT_ERR_INVALID_ARG && !strcmp(refit_last_error(ctx), want), "bind host memory: %s: '%s'",
          refit_status_str(st), refit_last_error(ctx));
    free(h);
}

/* The engine's graph, captured once before any reload: zero the counter,
 * checksum every param's data and scales. */
static void capture(engine_t *e, refit_ctx *ctx) {
    CU(cudaStreamCreateWithFlags(&e->stream, cudaStreamNonBlocking));
    CU(cudaMalloc((void **)&e->d_sum, sizeof *e->d_sum));
    cudaGraph_t g;
    CU(cudaStreamBeginCapture(e->stream, cudaStreamCaptureModeThreadLocal));
    CU(cudaMemsetAsync(e->d_sum, 0, sizeof *e->d_sum, e->stream));
    for (size_t i = 0; i < e->n; i++) {
        refit_param_info pi;
        refit_param_info_get(ctx, i, &pi);
        CU((cudaError_t)rf_test_checksum(e->data[i], pi.data_bytes, 2 * i + 1, e->d_sum, e->stream));
        if (pi.scale_bytes)
            CU((cudaError_t)rf_test_checksum(e->scales[i], pi.scale_bytes, 2 * i + 2, e->d_sum, e->stream));
    }
    CU(cudaStreamEndCapture(e->stream, &g));
    CU(cudaGraphInstantiate(&e->graph, g, 0));
    CU(cudaGraphDestroy(g));
}

static uint64_t replay(engine_t *e) {
    uint64_t sum = 0;
    CU(cudaGraphLaunch(e->graph, e->stream));
    CU(cudaMemcpyAsync(&sum, e->d_sum, sizeof sum, cudaMemcpyDeviceToHost, e->stream));
    CU(cudaStreamSynchronize(e->stream));
    return sum;
}

static void run(const char *g0, const char *g1) {
    refit_ctx *h = create(REFIT_BACKEND_HOST), *c = create(REFIT_BACKEND_CUDA);
    if (!h || !c) return;
    CHECK(refit_load(h, g0) == REFIT_OK, "host load 0: %s", refit_last_error(h));
    uint64_t want0 = host_sum(h);
    CHECK(refit_load(h, g1) == REFIT_OK, "host load 1: %s", refit_last_error(h));
    uint64_t want1 = host_sum(h);
    CHECK(want0 != want1, "the two generations have the same checksum");

    CHECK(refit_open(c, g0) == REFIT_OK, "open: %s", refit_last_error(c));
    bind_host_refused(c);
    engine_t e = {0};
    bind_device(c, &e);
    capture(&e, c);
    CHECK(refit_load(c, g0) == REFIT_OK, "load 0: %s", refit_last_error(c));
    uint64_t got0 = replay(&e);
    CHECK(got0 == want0, "generation 0: graph checksum %016llx, host reference %016llx", (unsigned long long)got0,
          (unsigned long long)want0);
    CHECK(refit_stage(c, g1) == REFIT_OK, "stage 1: %s", refit_last_error(c));
    uint64_t staged = replay(&e);
    CHECK(staged == want0, "while staged: graph checksum %016llx, want generation 0's %016llx",
          (unsigned long long)staged, (unsigned long long)want0);
    CHECK(refit_commit(c, e.stream) == REFIT_OK && refit_generation(c) == 1, "commit: %s", refit_last_error(c));
    uint64_t got1 = replay(&e);
    CHECK(got1 == want1, "generation 1: graph checksum %016llx, host reference %016llx", (unsigned long long)got1,
          (unsigned long long)want1);
    for (size_t i = 0; i < e.n; i++) {
        refit_param_info pi;
        refit_param_info_get(c, i, &pi);
        CHECK(pi.data == e.data[i] && pi.scales == e.scales[i] && pi.bound, "%s: live storage is not the engine's",
              pi.name);
    }
    refit_load_stats s;
    refit_last_stats(c, &s);
    printf("generation 1: stage %.3f ms, pause %.3f ms, %zu params bound, graph replay = host reference\n",
           s.stage_seconds * 1e3, s.pause_seconds * 1e3, e.n);
    refit_destroy(c);
    refit_destroy(h);
    CU(cudaGraphExecDestroy(e.graph));
    for (size_t i = 0; i < e.n; i++) {
        CU(cudaFree(e.data[i]));
        if (e.scales[i]) CU(cudaFree(e.scales[i]));
    }
    CU(cudaFree(e.d_sum));
    CU(cudaStreamDestroy(e.stream));
    free(e.data);
    free(e.scales);
}

int main(int argc, char **argv) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
        printf("SKIP: no GPU\n");
        return 77;
    }
    int provided = 0;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    char root[] = "/tmp/refit-embed-cuda-XXXXXX", g0[64], g1[64];
    if (!mkdtemp(root)) {
        printf("FAIL: mkdtemp\n");
        return 1;
    }
    snprintf(g0, sizeof g0, "%s/g0", root);
    snprintf(g1, sizeof g1, "%s/g1", root);
    synth(g0, 1);
    synth(g1, 2);
    run(g0, g1);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0) printf("note: could not remove %s\n", root);
    MPI_Finalize();
    printf("%s\n", failures ? "test_embed_cuda: FAILED" : "test_embed_cuda: all checks passed");
    return failures ? 1 : 0;
}
#endif
