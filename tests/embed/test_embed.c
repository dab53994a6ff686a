/* An engine embedding refit (the public API only): it owns the weights.
 * Host backend, except hang with BACKEND cuda (a CUDA build: the engine's
 * buffers are then device memory on local rank % visible GPUs). Modes:
 *   serve G0 GX G1 TP DUMP
 *     refit_open on G0, lists every param and checks its info, binds every
 *     param to its own 64-byte aligned malloc'd buffers, loads generation 0,
 *     stages GX and abandons it (live unchanged), then stages G1 while a
 *     reader thread checksums its own buffers over and over (they must never
 *     change before the commit), commits, dumps to DUMP and writes its own
 *     buffers, in dump order, to DUMP/own-rank-RRRRR.bin (check_embed.sh
 *     compares them with the dump and the dump with the SPEC reference).
 *   badbind G0
 *     every misuse of bind/stage/commit/abandon: exact status and message.
 *   hang G0 G1 TIMEOUT STALLED_RANK [host|cuda]
 *     on_timeout=return: generation 0 loads, generation 1 times out (the
 *     REFIT_FAULT stall of STALLED_RANK): REFIT_ERR_TIMEOUT within TIMEOUT +
 *     1 s on every other rank,
 *     live bytes still generation 0, only refit_destroy allowed.
 * Rank 0 alone reads checkpoints (the others pass NULL). Exit 0: all good. */
#include <mpi.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef REFIT_HAVE_CUDA
#include <cuda_runtime_api.h>

#include "gpu/local_gpu.h"
#endif

#include "../rank_check.h"
#include "refit.h"

static int world;
/* hang's BACKEND: where the context and the engine's buffers live */
static refit_backend backend = REFIT_BACKEND_HOST;
static int device = -1; /* cuda: this rank's GPU (the context's and the buffers') */


static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* The engine's storage: one data and one scales buffer per param. */
typedef struct {
    size_t n;
    void **data, **scales;
    size_t *data_bytes, *scale_bytes;
} engine_t;

static refit_ctx *create(int tp, refit_commit_mode mode, double timeout_s) {
    refit_options opt;
    refit_options_default(&opt);
    opt.backend = backend;
    opt.device = device;
    opt.tp = tp;
    opt.quant = "fp8-block";
    opt.bucket_bytes = 16384; /* many buckets: the stage takes a while */
    opt.commit = mode;
    opt.timeout_s = timeout_s;
    refit_ctx *ctx = NULL;
    refit_status st = refit_create(&(MPI_Comm){MPI_COMM_WORLD}, &opt, &ctx);
    CHECK(st == REFIT_OK, "refit_create: %s", refit_status_str(st));
    return st == REFIT_OK ? ctx : NULL;
}

static const char *dir_of(const char *dir) { return rank == 0 ? dir : NULL; }

/* Every param's info agrees with itself: sizes from shapes, names, lookup. */
static void check_infos(refit_ctx *ctx) {
    size_t n = refit_param_count(ctx);
    CHECK(n > 0, "no params after refit_open");
    for (size_t i = 0; i < n; i++) {
        refit_param_info pi;
        CHECK(refit_param_info_get(ctx, i, &pi) == REFIT_OK, "info %zu: %s", i, refit_last_error(ctx));
        size_t found = SIZE_MAX;
        CHECK(refit_param_find(ctx, pi.name, &found) == REFIT_OK && found == i, "find %s", pi.name);
        uint64_t elems = 1;
        for (int d = 0; d < pi.ndim; d++) elems *= (uint64_t)pi.shape[d];
        bool q = pi.dtype == REFIT_DTYPE_F8_E4M3;
        CHECK(pi.ndim >= 1 && pi.ndim <= 3 && pi.data_bytes == elems * (q ? 1 : 2), "%s: shape vs bytes", pi.name);
        CHECK(q || pi.dtype == REFIT_DTYPE_BF16, "%s: dtype %d", pi.name, (int)pi.dtype);
        CHECK(pi.layout && pi.layout[0], "%s: no layout", pi.name);
        CHECK(!pi.data && !pi.bound && pi.generation == -1, "%s: storage before the first load", pi.name);
        if (q) {
            uint64_t se = 1;
            for (int d = 0; d < pi.scale_ndim; d++) se *= (uint64_t)pi.scale_shape[d];
            CHECK(pi.scale_name && strstr(pi.scale_name, "weight_scale") && pi.scale_dtype == REFIT_DTYPE_F32 &&
                      pi.scale_bytes == se * 4,
                  "%s: scale info", pi.name);
        } else {
            CHECK(!pi.scale_name && !pi.scale_bytes && !pi.scale_ndim, "%s: bf16 with scale info", pi.name);
        }
    }
    size_t none;
    CHECK(refit_param_find(ctx, "no.such.param", &none) == REFIT_ERR_INVALID_ARG, "find of an unknown name");
}

static void *aligned(size_t bytes) {
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes ? bytes : 1) != 0) return NULL;
    memset(p, 0xA5, bytes); /* the engine's garbage: refit must overwrite all of it */
    return p;
}

/* ---- the engine's memory: host, or device memory on the cuda backend ---- */
#ifdef REFIT_HAVE_CUDA
static bool on_device(void) { return backend == REFIT_BACKEND_CUDA; }

static void *engine_alloc(size_t bytes) {
    if (!on_device()) return aligned(bytes);
    void *p = NULL;
    if (cudaMalloc(&p, bytes ? bytes : 1) != cudaSuccess) return NULL;
    CHECK(cudaMemset(p, 0xA5, bytes) == cudaSuccess, "cudaMemset of %zu bytes", bytes);
    return p;
}

static void engine_release(void *p) {
    if (on_device()) cudaFree(p);
    else free(p);
}

/* The bytes of one engine buffer where the CPU can read them. */
static const uint8_t *engine_bytes(const void *p, size_t n, uint8_t **tmp) {
    if (!on_device() || !p) return p;
    *tmp = realloc(*tmp, n ? n : 1);
    CHECK(cudaMemcpy(*tmp, p, n, cudaMemcpyDeviceToHost) == cudaSuccess, "cudaMemcpy of %zu bytes", n);
    return *tmp;
}
#else
static int rf_local_gpu(void) { return -1; }
static void *engine_alloc(size_t bytes) { return aligned(bytes); }
static void engine_release(void *p) { free(p); }
static const uint8_t *engine_bytes(const void *p, size_t n, uint8_t **tmp) {
    (void)n;
    (void)tmp;
    return p;
}
#endif

static void bind_all(refit_ctx *ctx, engine_t *e) {
    e->n = refit_param_count(ctx);
    e->data = calloc(e->n, sizeof *e->data);
    e->scales = calloc(e->n, sizeof *e->scales);
    e->data_bytes = calloc(e->n, sizeof *e->data_bytes);
    e->scale_bytes = calloc(e->n, sizeof *e->scale_bytes);
    for (size_t i = 0; i < e->n; i++) {
        refit_param_info pi;
        refit_param_info_get(ctx, i, &pi);
        e->data_bytes[i] = pi.data_bytes;
        e->scale_bytes[i] = pi.scale_bytes;
        e->data[i] = engine_alloc(pi.data_bytes);
        e->scales[i] = pi.scale_bytes ? engine_alloc(pi.scale_bytes) : NULL;
        refit_status st = i % 2 ? refit_bind(ctx, i, e->data[i], pi.data_bytes, e->scales[i], pi.scale_bytes)
                                : refit_bind_name(ctx, pi.name, e->data[i], pi.data_bytes, e->scales[i],
                                                  pi.scale_bytes);
        CHECK(st == REFIT_OK, "bind %s: %s", pi.name, refit_last_error(ctx));
    }
}

static void engine_free(engine_t *e) {
    for (size_t i = 0; i < e->n; i++) {
        engine_release(e->data[i]);
        if (e->scales[i]) engine_release(e->scales[i]);
    }
    free(e->data);
    free(e->scales);
    free(e->data_bytes);
    free(e->scale_bytes);
}

/* FNV-1a over every byte the engine holds (device buffers copied out). */
static uint64_t engine_sum(const engine_t *e) {
    uint64_t h = 1469598103934665603ull;
    uint8_t *tmp = NULL;
    for (size_t i = 0; i < e->n; i++) {
        const void *bufs[2] = {e->data[i], e->scales[i]};
        size_t lens[2] = {e->data_bytes[i], e->scale_bytes[i]};
        for (int k = 0; k < 2; k++) {
            const uint8_t *b = engine_bytes(bufs[k], lens[k], &tmp);
            for (size_t j = 0; j < lens[k]; j++) h = (h ^ b[j]) * 1099511628211ull;
        }
    }
    free(tmp);
    return h;
}

/* Bound storage is what refit reports as live, and nothing moved. */
static void check_addresses(refit_ctx *ctx, const engine_t *e, int64_t gen) {
    for (size_t i = 0; i < e->n; i++) {
        refit_param_info pi;
        refit_param_info_get(ctx, i, &pi);
        CHECK(pi.data == e->data[i] && pi.scales == e->scales[i] && pi.bound && pi.generation == gen,
              "%s: live storage is not the engine's (generation %lld)", pi.name, (long long)gen);
    }
}

/* The reader thread: the engine serving while refit stages. Every pass
 * checksums all live bytes; passes that began once the stage had started
 * are counted (`since_stage`). Whether one overlaps the stage is up to the
 * scheduler (a tiny stage takes a few ms), so the test also waits for a
 * pass that began after the stage returned (`after_stage`): a stage that
 * wrote live bytes leaves them changed, and that pass sees it. */
typedef struct {
    const engine_t *e;
    uint64_t want;
    atomic_int stop, staging, since_stage, during_stage, after_stage, changed;
} reader_t;

static void *reader(void *arg) {
    reader_t *r = arg;
    while (!atomic_load(&r->stop)) {
        int began_in_stage = atomic_load(&r->staging);
        if (engine_sum(r->e) != r->want) atomic_fetch_add(&r->changed, 1);
        if (began_in_stage) atomic_fetch_add(&r->since_stage, 1);
        if (began_in_stage == 2) atomic_fetch_add(&r->after_stage, 1);
        if (began_in_stage == 1 && atomic_load(&r->staging) == 1) atomic_fetch_add(&r->during_stage, 1);
    }
    return NULL;
}

static void stage_while_reading(refit_ctx *ctx, const engine_t *e, const char *g1) {
    reader_t r = {.e = e, .want = engine_sum(e)};
    pthread_t th;
    pthread_create(&th, NULL, reader, &r);
    atomic_store(&r.staging, 1);
    double t0 = now();
    refit_status st = refit_stage(ctx, dir_of(g1));
    double dt = now() - t0;
    atomic_store(&r.staging, 2); /* staged, not committed: live must still be generation 0 */
    while (atomic_load(&r.after_stage) < 1 && now() - t0 < 30) sched_yield();
    atomic_store(&r.stop, 1);
    pthread_join(th, NULL);
    CHECK(st == REFIT_OK, "stage generation 1: %s", refit_last_error(ctx));
    CHECK(atomic_load(&r.changed) == 0 && engine_sum(e) == r.want, "live bytes changed before the commit (%d reads saw it)",
          atomic_load(&r.changed));
    CHECK(atomic_load(&r.after_stage) >= 1, "the reader did not read the staged state");
    printf("rank %d: staged in %.3f s; %d full reads of the live bytes since the stage began (%d within it), none saw "
           "a change\n", rank, dt, atomic_load(&r.since_stage), atomic_load(&r.during_stage));
}

/* The engine's buffers in the dump's order: each param, then its scales. */
static void write_own(const engine_t *e, const char *dump) {
    char path[1024];
    snprintf(path, sizeof path, "%s/own-rank-%05d.bin", dump, rank);
    FILE *f = fopen(path, "wb");
    CHECK(f, "cannot write %s", path);
    if (!f) return;
    for (size_t i = 0; i < e->n; i++) {
        fwrite(e->data[i], 1, e->data_bytes[i], f);
        if (e->scale_bytes[i]) fwrite(e->scales[i], 1, e->scale_bytes[i], f);
    }
    CHECK(fclose(f) == 0, "writing %s", path);
}

static int serve(const char *g0, const char *gx, const char *g1, int tp, const char *dump) {
    refit_ctx *ctx = create(tp, REFIT_COMMIT_SHADOW, 60);
    if (!ctx) return 1;
    CHECK(refit_param_count(ctx) == 0, "params before refit_open");
    CHECK(refit_open(ctx, dir_of(g0)) == REFIT_OK, "open: %s", refit_last_error(ctx));
    check_infos(ctx);
    engine_t e = {0};
    bind_all(ctx, &e);
    CHECK(refit_load(ctx, dir_of(g0)) == REFIT_OK && refit_generation(ctx) == 0, "load 0: %s",
          refit_last_error(ctx));
    check_addresses(ctx, &e, 0);
    uint64_t sum0 = engine_sum(&e);
    /* (d) a staged generation dropped leaves live alone; staging works again */
    CHECK(refit_stage(ctx, dir_of(gx)) == REFIT_OK, "stage X: %s", refit_last_error(ctx));
    CHECK(refit_abandon(ctx) == REFIT_OK, "abandon: %s", refit_last_error(ctx));
    CHECK(engine_sum(&e) == sum0 && refit_generation(ctx) == 0, "abandon changed live or the generation");
    stage_while_reading(ctx, &e, g1);
    CHECK(refit_generation(ctx) == 0, "staging moved the generation");
    CHECK(refit_commit(ctx, NULL) == REFIT_OK && refit_generation(ctx) == 1, "commit: %s", refit_last_error(ctx));
    CHECK(engine_sum(&e) != sum0, "commit did not change the engine's buffers");
    check_addresses(ctx, &e, 1);
    refit_load_stats s;
    refit_last_stats(ctx, &s);
    CHECK(s.status == REFIT_OK && s.stage_seconds > 0 && s.pause_seconds > 0 && s.generation == 1,
          "stats: stage %.6f s, pause %.6f s", s.stage_seconds, s.pause_seconds);
    printf("rank %d: stage %.3f ms, pause %.3f ms\n", rank, s.stage_seconds * 1e3, s.pause_seconds * 1e3);
    CHECK(refit_dump(ctx, dump) == REFIT_OK, "dump: %s", refit_last_error(ctx));
    write_own(&e, dump);
    refit_destroy(ctx);
    engine_free(&e); /* the engine frees its storage after refit_destroy */
    return 0;
}

/* ---- badbind -------------------------------------------------------------- */

static void expect(refit_ctx *ctx, refit_status got, refit_status want, const char *msg, const char *what) {
    CHECK(got == want, "%s: status %s, want %s", what, refit_status_str(got), refit_status_str(want));
    CHECK(!strcmp(refit_last_error(ctx), msg), "%s:\n  got  '%s'\n  want '%s'", what, refit_last_error(ctx), msg);
}

/* First param with (quantized) or without scales. */
static size_t pick(refit_ctx *ctx, bool quantized, refit_param_info *pi) {
    for (size_t i = 0; i < refit_param_count(ctx); i++) {
        refit_param_info_get(ctx, i, pi);
        if ((pi->scale_bytes > 0) == quantized) return i;
    }
    return SIZE_MAX;
}

static void bad_binds(refit_ctx *ctx, const char *g0) {
    char msg[512];
    refit_param_info q, b;
    size_t iq = pick(ctx, true, &q), ib = pick(ctx, false, &b);
    CHECK(iq != SIZE_MAX && ib != SIZE_MAX, "need a quantized and a bf16 param");
    uint8_t *buf = aligned(q.data_bytes + 64), *sbuf = aligned(q.scale_bytes + 64), *bbuf = aligned(b.data_bytes);

    snprintf(msg, sizeof msg, "rank %d: bind %s: data is %zu bytes, the param needs exactly %llu", rank, q.name,
             (size_t)q.data_bytes + 1, (unsigned long long)q.data_bytes);
    expect(ctx, refit_bind(ctx, iq, buf, q.data_bytes + 1, sbuf, q.scale_bytes), REFIT_ERR_INVALID_ARG, msg, "wrong size");
    snprintf(msg, sizeof msg, "rank %d: bind %s: scales is %zu bytes, the param needs exactly %llu", rank, q.name,
             (size_t)q.scale_bytes - 4, (unsigned long long)q.scale_bytes);
    expect(ctx, refit_bind(ctx, iq, buf, q.data_bytes, sbuf, q.scale_bytes - 4), REFIT_ERR_INVALID_ARG, msg,
           "wrong scale size");
    snprintf(msg, sizeof msg, "rank %d: bind %s: data is NULL", rank, q.name);
    expect(ctx, refit_bind(ctx, iq, NULL, q.data_bytes, sbuf, q.scale_bytes), REFIT_ERR_INVALID_ARG, msg, "NULL data");
    snprintf(msg, sizeof msg, "rank %d: bind %s: scales is NULL", rank, q.name);
    expect(ctx, refit_bind(ctx, iq, buf, q.data_bytes, NULL, q.scale_bytes), REFIT_ERR_INVALID_ARG, msg, "NULL scales");
    snprintf(msg, sizeof msg, "rank %d: bind %s: data at %p is not aligned to 16 bytes (host backend)", rank, q.name,
             (void *)(buf + 8));
    expect(ctx, refit_bind(ctx, iq, buf + 8, q.data_bytes, sbuf, q.scale_bytes), REFIT_ERR_INVALID_ARG, msg,
           "misaligned");
    snprintf(msg, sizeof msg, "rank %d: bind %s: a bf16 param has no scales (pass NULL, 0)", rank, b.name);
    expect(ctx, refit_bind(ctx, ib, bbuf, b.data_bytes, sbuf, 4), REFIT_ERR_INVALID_ARG, msg, "bf16 with scales");
    snprintf(msg, sizeof msg, "rank %d: unknown param model.layers.99.mlp.nope.weight", rank);
    expect(ctx, refit_bind_name(ctx, "model.layers.99.mlp.nope.weight", bbuf, b.data_bytes, NULL, 0),
           REFIT_ERR_INVALID_ARG, msg, "unknown name");
    snprintf(msg, sizeof msg, "rank %d: bind: param index %zu out of range (%zu params)", rank,
             refit_param_count(ctx), refit_param_count(ctx));
    expect(ctx, refit_bind(ctx, refit_param_count(ctx), bbuf, b.data_bytes, NULL, 0), REFIT_ERR_INVALID_ARG, msg,
           "index out of range");
    /* a good bind, then the same param again */
    CHECK(refit_bind(ctx, ib, bbuf, b.data_bytes, NULL, 0) == REFIT_OK, "good bind: %s", refit_last_error(ctx));
    snprintf(msg, sizeof msg, "rank %d: bind %s: already bound", rank, b.name);
    expect(ctx, refit_bind(ctx, ib, bbuf, b.data_bytes, NULL, 0), REFIT_ERR_STATE, msg, "bound twice");
    snprintf(msg, sizeof msg, "rank %d: refit_commit: nothing staged (call refit_stage first)", rank);
    expect(ctx, refit_commit(ctx, NULL), REFIT_ERR_STATE, msg, "commit with nothing staged");
    snprintf(msg, sizeof msg, "rank %d: refit_abandon: nothing staged", rank);
    expect(ctx, refit_abandon(ctx), REFIT_ERR_STATE, msg, "abandon with nothing staged");
    CHECK(refit_load(ctx, dir_of(g0)) == REFIT_OK, "load 0: %s", refit_last_error(ctx));
    snprintf(msg, sizeof msg, "rank %d: bind %s: already loaded (bind before the first stage or load)", rank, q.name);
    expect(ctx, refit_bind(ctx, iq, buf, q.data_bytes, sbuf, q.scale_bytes), REFIT_ERR_STATE, msg, "after load");
    CHECK(refit_stage(ctx, dir_of(g0)) == REFIT_OK, "stage: %s", refit_last_error(ctx));
    snprintf(msg, sizeof msg, "rank %d: refit_stage: a generation is already staged (commit or abandon it)", rank);
    expect(ctx, refit_stage(ctx, dir_of(g0)), REFIT_ERR_STATE, msg, "stage twice");
    snprintf(msg, sizeof msg, "rank %d: refit_open: already open (the param table exists)", rank);
    expect(ctx, refit_open(ctx, dir_of(g0)), REFIT_ERR_STATE, msg, "open twice");
    CHECK(refit_commit(ctx, NULL) == REFIT_OK && refit_generation(ctx) == 1, "commit: %s", refit_last_error(ctx));
    refit_destroy(ctx); /* the bound bf16 buffer is still ours: freed below, after destroy */
    free(buf);
    free(sbuf);
    free(bbuf);
}

static int badbind(const char *g0) {
    refit_ctx *ctx = create(0, REFIT_COMMIT_SHADOW, 60);
    if (!ctx) return 1;
    char msg[512];
    size_t i;
    snprintf(msg, sizeof msg, "rank %d: refit_param_find: no param table yet (call refit_open or refit_load first)",
             rank);
    expect(ctx, refit_param_find(ctx, "lm_head.weight", &i), REFIT_ERR_STATE, msg, "find before open");
    CHECK(refit_open(ctx, dir_of(g0)) == REFIT_OK, "open: %s", refit_last_error(ctx));
    bad_binds(ctx, g0);

    /* in-place mode: no shadow to stage into, no storage to bind */
    ctx = create(0, REFIT_COMMIT_INPLACE, 60);
    if (!ctx) return 1;
    CHECK(refit_open(ctx, dir_of(g0)) == REFIT_OK, "open in-place: %s", refit_last_error(ctx));
    refit_param_info b;
    size_t ib = pick(ctx, false, &b);
    void *bbuf = aligned(b.data_bytes);
    snprintf(msg, sizeof msg, "rank %d: bind %s: binding needs shadow commit mode (in-place loads write live storage "
             "refit must zero first)", rank, b.name);
    expect(ctx, refit_bind(ctx, ib, bbuf, b.data_bytes, NULL, 0), REFIT_ERR_STATE, msg, "bind in-place");
    snprintf(msg, sizeof msg, "rank %d: refit_stage: in-place commit mode has no shadow: staging would write live "
             "bytes (use refit_load, or shadow mode)", rank);
    expect(ctx, refit_stage(ctx, dir_of(g0)), REFIT_ERR_STATE, msg, "stage in-place");
    CHECK(refit_load(ctx, dir_of(g0)) == REFIT_OK && refit_generation(ctx) == 0, "in-place load: %s",
          refit_last_error(ctx));
    refit_destroy(ctx);
    free(bbuf);
    return 0;
}

/* ---- hang ----------------------------------------------------------------- */

static int hang(const char *g0, const char *g1, double timeout, int stalled) {
    refit_ctx *ctx = create(0, REFIT_COMMIT_SHADOW, timeout);
    if (!ctx) return 1;
    CHECK(refit_open(ctx, dir_of(g0)) == REFIT_OK, "open: %s", refit_last_error(ctx));
    engine_t e = {0};
    bind_all(ctx, &e);
    CHECK(refit_load(ctx, dir_of(g0)) == REFIT_OK, "load 0: %s", refit_last_error(ctx));
    uint64_t sum0 = engine_sum(&e);
    double t0 = now();
    refit_status st = refit_stage(ctx, dir_of(g1));
    if (st == REFIT_OK) st = refit_commit(ctx, NULL);
    double dt = now() - t0;
    printf("rank %d: generation 1 returned %s after %.2f s (timeout %.1f s): %s\n", rank, refit_status_str(st), dt,
           timeout, refit_last_error(ctx));
    CHECK(st == REFIT_ERR_TIMEOUT, "generation 1: %s, want timeout: %s", refit_status_str(st), refit_last_error(ctx));
    if (rank != stalled) /* the stalled rank itself comes back when its stall ends, and gives up at once */
        CHECK(dt < timeout + 1.0, "returned after %.2f s, timeout %.1f s", dt, timeout);
    CHECK(engine_sum(&e) == sum0 && refit_generation(ctx) == 0, "the live bytes changed");
    char msg[512];
    snprintf(msg, sizeof msg, "rank %d: refit_stage: the context timed out earlier: only refit_destroy is allowed",
             rank);
    expect(ctx, refit_stage(ctx, dir_of(g1)), REFIT_ERR_STATE, msg, "stage after a timeout");
    refit_destroy(ctx);
    engine_free(&e);
    return 0;
}

/* hang's BACKEND argument; cuda needs a CUDA build and a GPU on this rank. */
static bool set_backend(const char *name) {
    if (!strcmp(name, "host")) return true;
    if (strcmp(name, "cuda") != 0) {
        fprintf(stderr, "rank %d: test_embed: backend '%s': expected host or cuda\n", rank, name);
        return false;
    }
    device = rf_local_gpu();
    if (device < 0) {
        fprintf(stderr, "rank %d: test_embed: backend cuda: %s\n", rank,
#ifdef REFIT_HAVE_CUDA
                "no visible GPU");
#else
                "this build has no CUDA backend");
#endif
        return false;
    }
    backend = REFIT_BACKEND_CUDA;
    return true;
}

int main(int argc, char **argv) {
    int provided = 0;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    const char *mode = argc > 1 ? argv[1] : "";
    int rc = 2;
    if (!strcmp(mode, "serve") && argc == 7) rc = serve(argv[2], argv[3], argv[4], atoi(argv[5]), argv[6]);
    else if (!strcmp(mode, "badbind") && argc == 3) rc = badbind(argv[2]);
    else if (!strcmp(mode, "hang") && (argc == 6 || argc == 7) && set_backend(argc == 7 ? argv[6] : "host"))
        rc = hang(argv[2], argv[3], atof(argv[4]), atoi(argv[5]));
    else if (rank == 0)
        fprintf(stderr, "usage: test_embed serve G0 GX G1 TP DUMP | badbind G0 | hang G0 G1 TIMEOUT STALLED_RANK "
                        "[host|cuda]\n");
    int bad = failures > 0 || rc != 0, any = bad;
    MPI_Allreduce(MPI_IN_PLACE, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (rank == 0 && !any) printf("test_embed %s: all checks passed on %d ranks\n", mode, world);
    MPI_Finalize();
    return bad ? 1 : 0;
}
