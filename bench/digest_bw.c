/* digest_bw: what "verify what landed" costs (issue 14 item 5, aim <= 10 %
 * of a reload on one H200). DESIGN: every benchmark reports achieved/floor.
 *
 *   digest_bw [-n ITERS] [-t MAX_THREADS]
 *
 * Host (always): rf_digest_host on one thread against xxHash's own XXH64
 * over the same 256 MiB (the tree's overhead), then T threads each digesting
 * their own 128 MiB, per-thread and total GB/s.
 *
 * GPU (exit 77 without one): median over ITERS of
 *   - copy:    cudaMemcpy device-to-device of 1 GiB, GB/s counting read +
 *              write (the floor's unit, as in bench/RESULTS.md);
 *   - digest:  one string of 1 GiB and one of the whole ~16 GB buffer, GB/s
 *              counting the bytes read; achieved/floor = digest GB/s / copy
 *              GB/s (a digest only reads, so at the floor it moves its bytes
 *              as fast as a copy moves its reads + writes);
 *   - Llama-3-8B at tp 1 as the reload lays it out: every param's received
 *     bf16 slice digested as it lands (one rf_dgcu_digest per param), the
 *     same as one batch, and every committed param (fp8 data + fp8-block
 *     scales for the 7 linear weights, bf16 for the rest) as data + scales
 *     + param combine; the sum against the reload's floor, 16.06 GB over
 *     pinned host-to-device (measured here).
 * Every device digest of the 1 GiB string is checked against the host. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "digest.h"
#include "digest_xxh.h"
#ifdef REFIT_HAVE_CUDA
#include <cuda_runtime.h>

#include "cuda_device.h"
#include "digest_cuda.h"
#include "quant_cuda.h"
#endif

#define GIB ((size_t)1 << 30)
#define MIB ((size_t)1 << 20)
#define MAX_ITERS 100

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "digest_bw: host out of memory (%zu bytes)\n", n);
        exit(1);
    }
    return p;
}

static void fill_random(uint8_t *b, size_t n, uint64_t seed) {
    uint64_t s = seed | 1;
    for (size_t i = 0; i + 8 <= n; i += 8) {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        uint64_t r = s * 0x2545F4914F6CDD1Dull;
        memcpy(b + i, &r, 8);
    }
}

/* ---- host ------------------------------------------------------------------ */

typedef struct {
    const uint8_t *p;
    size_t n;
    uint64_t digest;
} host_job_t;

static void *host_worker(void *arg) {
    host_job_t *j = arg;
    if (rf_digest_host(j->p, j->n, &j->digest) != REFIT_OK) {
        fprintf(stderr, "digest_bw: %s\n", rf_err_msg());
        exit(1);
    }
    return NULL;
}

/* Seconds for T threads to digest their own `each` bytes of buf, best of 3. */
static double host_threads(const uint8_t *buf, size_t each, int threads) {
    pthread_t tid[64];
    host_job_t jobs[64];
    double best = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = rf_now();
        for (int i = 0; i < threads; i++) {
            jobs[i] = (host_job_t){buf + (size_t)i * each, each, 0};
            if (pthread_create(&tid[i], NULL, host_worker, &jobs[i])) {
                fprintf(stderr, "digest_bw: pthread_create failed\n");
                exit(1);
            }
        }
        for (int i = 0; i < threads; i++) pthread_join(tid[i], NULL);
        double t = rf_now() - t0;
        if (t < best) best = t;
    }
    return best;
}

static void host_part(int max_threads) {
    const size_t one = 256 * MIB, each = 128 * MIB;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int tmax = (int)(ncpu < max_threads ? ncpu : max_threads);
    if (tmax < 1) tmax = 1;
    size_t bytes = (size_t)tmax * each > one ? (size_t)tmax * each : one;
    uint8_t *buf = xmalloc(bytes);
    fill_random(buf, bytes, 0x1234);
    double best_xxh = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = rf_now();
        volatile uint64_t h = XXH64(buf, one, 0);
        (void)h;
        double t = rf_now() - t0;
        if (t < best_xxh) best_xxh = t;
    }
    double t1 = host_threads(buf, one, 1);
    printf("host: 1 thread, 256 MiB: digest %.2f GB/s, XXH64 one-shot %.2f GB/s (digest/XXH64 speed %.2f)\n",
           one / t1 / 1e9, one / best_xxh / 1e9, best_xxh / t1);
    for (int t = 1;; t = t * 2 < tmax ? t * 2 : tmax) { /* powers of two, then tmax */
        double s = host_threads(buf, each, t);
        printf("host: %2d threads x 128 MiB: %.2f GB/s total, %.2f GB/s per thread\n", t, t * (double)each / s / 1e9,
               each / s / 1e9);
        if (t == tmax) break;
    }
    free(buf);
}

#ifndef REFIT_HAVE_CUDA
int main(int argc, char **argv) {
    (void)argc;
    (void)argv;
    host_part(64);
    printf("SKIP: no GPU (built without the CUDA backend)\n");
    return 77;
}
#else

#define DEV(call)                                                                                                      \
    do {                                                                                                               \
        refit_status st_ = (call);                                                                                     \
        if (st_ != REFIT_OK) {                                                                                         \
            fprintf(stderr, "digest_bw: %s: %s (%s)\n", #call, refit_status_str(st_), rf_err_msg());                   \
            exit(1);                                                                                                   \
        }                                                                                                              \
    } while (0)

#define CK(call)                                                                                                       \
    do {                                                                                                               \
        cudaError_t e_ = (call);                                                                                       \
        if (e_ != cudaSuccess) {                                                                                       \
            fprintf(stderr, "digest_bw: %s: %s\n", #call, cudaGetErrorString(e_));                                     \
            exit(1);                                                                                                   \
        }                                                                                                              \
    } while (0)

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

typedef void (*run_fn)(void *ctx);

/* Median ms over iters runs of whatever run() enqueues on the default stream. */
static float time_ms(rf_dev_timer_t *timer, int iters, run_fn run, void *ctx) {
    float t[MAX_ITERS];
    run(ctx); /* warm-up */
    for (int i = 0; i < iters; i++) {
        DEV(rf_dev_timer_start(timer, NULL));
        run(ctx);
        DEV(rf_dev_timer_stop(timer, NULL, &t[i]));
    }
    qsort(t, (size_t)iters, sizeof *t, cmp_float);
    return iters % 2 ? t[iters / 2] : (t[iters / 2 - 1] + t[iters / 2]) / 2;
}

typedef struct {
    uint8_t *src, *dst;
    size_t n;
    uint64_t *out;
    void *ws;
    size_t ws_bytes;
    rf_dgcu_item_t *items; /* batches */
    size_t count;
    int per_item;  /* items one call each (as params land), else one batch */
    int committed; /* items are (data, scales) pairs combined per param */
} gjob_t;

static void run_copy(void *ctx) {
    gjob_t *j = ctx;
    DEV(rf_dev_memcpy_async(j->dst, j->src, j->n, NULL));
}

static void run_digest(void *ctx) {
    gjob_t *j = ctx;
    DEV(rf_dgcu_digest(j->src, j->n, j->out, j->ws, j->ws_bytes, NULL));
}

static void run_items(void *ctx) {
    gjob_t *j = ctx;
    if (!j->per_item) {
        DEV(rf_dgcu_digest_batch(j->items, j->count, j->ws, j->ws_bytes, NULL));
        return;
    }
    size_t step = j->committed ? 2 : 1;
    for (size_t i = 0; i < j->count; i += step) {
        DEV(rf_dgcu_digest_batch(j->items + i, step, j->ws, j->ws_bytes, NULL));
        if (j->committed) DEV(rf_dgcu_param(j->items[i].out, j->items[i + 1].out, j->items[i].out, NULL));
    }
}

/* ---- Llama-3-8B at tp 1 ---------------------------------------------------
 * Shapes [rows, cols]; linear weights are quantized (fp8 + fp8-block scales),
 * embeddings, lm_head and norms stay bf16 (SPEC §4). */
typedef struct {
    uint64_t rows, cols;
    int linear;
} shape_t;

static const shape_t kLayer[] = {
    {4096, 4096, 1},  {1024, 4096, 1},  {1024, 4096, 1},  {4096, 4096, 1}, /* q k v o */
    {14336, 4096, 1}, {14336, 4096, 1}, {4096, 14336, 1},                  /* gate up down */
    {1, 4096, 0},     {1, 4096, 0},                                        /* the two norms */
};
#define LAYERS 32
#define VOCAB 128256
#define MAX_PARAMS (LAYERS * 9 + 3)

static size_t llama_shapes(shape_t *s) {
    size_t n = 0;
    s[n++] = (shape_t){VOCAB, 4096, 0};
    for (int l = 0; l < LAYERS; l++)
        for (size_t k = 0; k < sizeof kLayer / sizeof kLayer[0]; k++) s[n++] = kLayer[k];
    s[n++] = (shape_t){1, 4096, 0};
    s[n++] = (shape_t){VOCAB, 4096, 0};
    return n;
}

/* The strings of one reload laid out back to back, each param starting on a
 * 256-byte boundary: received bf16 (one string per param) or committed
 * (data, scales) pairs. Offsets and lengths into off/len; returns the count,
 * *total the bytes spanned. */
static size_t llama_layout(int committed, uint64_t *off, uint64_t *len, uint64_t *total) {
    shape_t s[MAX_PARAMS];
    size_t np = llama_shapes(s), n = 0;
    uint64_t at = 0;
    for (size_t i = 0; i < np; i++) {
        uint64_t elems = s[i].rows * s[i].cols;
        int fp8 = committed && s[i].linear;
        off[n] = at;
        len[n] = fp8 ? elems : 2 * elems;
        at += len[n++];
        if (committed) {
            off[n] = at;
            len[n] = fp8 ? 4 * ((s[i].rows + 127) / 128) * ((s[i].cols + 127) / 128) : 0;
            at += len[n++];
        }
        at = (at + 255) / 256 * 256;
    }
    *total = at;
    return n;
}

static size_t llama_items(uint8_t *buf, uint64_t *outs, int committed, rf_dgcu_item_t *items, uint64_t *total) {
    uint64_t off[2 * MAX_PARAMS], len[2 * MAX_PARAMS];
    size_t n = llama_layout(committed, off, len, total);
    for (size_t i = 0; i < n; i++) items[i] = (rf_dgcu_item_t){len[i] ? buf + off[i] : NULL, len[i], outs + i};
    return n;
}

static double g_copy_gbps;

static void report(const char *what, uint64_t bytes, float ms) {
    double gbps = bytes / (ms * 1e-3) / 1e9;
    printf("gpu: %-44s %9.3f ms %8.1f GB/s  achieved/floor %.2f\n", what, ms, gbps, gbps / g_copy_gbps);
}

static void check_1gib(uint8_t *d, uint64_t *out, void *ws, size_t ws_bytes) {
    uint8_t *h = xmalloc(GIB);
    DEV(rf_dev_memcpy(h, d, GIB));
    uint64_t want, got;
    DEV(rf_digest_host(h, GIB, &want));
    DEV(rf_dgcu_digest(d + 3, GIB - 3, out, ws, ws_bytes, NULL));
    DEV(rf_dev_memcpy(&got, out, 8));
    uint64_t want3;
    DEV(rf_digest_host(h + 3, GIB - 3, &want3));
    DEV(rf_dgcu_digest(d, GIB, out, ws, ws_bytes, NULL));
    uint64_t got0;
    DEV(rf_dev_memcpy(&got0, out, 8));
    free(h);
    if (got0 != want || got != want3) {
        fprintf(stderr,
                "digest_bw: device digests of 1 GiB differ from the host's: aligned %016" PRIX64 " vs %016" PRIX64
                ", at +3 %016" PRIX64 " vs %016" PRIX64 "\n",
                got0, want, got, want3);
        exit(1);
    }
    printf("gpu: 1 GiB digest (aligned and at +3) equals the host's\n");
}

static double pinned_h2d_gbps(uint8_t *d, int iters, rf_dev_timer_t *timer) {
    void *h;
    CK(cudaMallocHost(&h, GIB));
    memset(h, 1, GIB);
    gjob_t j = {.src = h, .dst = d, .n = GIB};
    float ms = time_ms(timer, iters < 5 ? iters : 5, run_copy, &j);
    CK(cudaFreeHost(h));
    return GIB / (ms * 1e-3) / 1e9;
}

static void llama_part(uint8_t *buf, uint64_t *outs, void *ws, size_t ws_bytes, int iters, rf_dev_timer_t *timer,
                       double h2d_gbps) {
    static rf_dgcu_item_t recv[2 * MAX_PARAMS], comm[2 * MAX_PARAMS];
    uint64_t recv_bytes, comm_bytes;
    size_t nr = llama_items(buf, outs, 0, recv, &recv_bytes);
    size_t nc = llama_items(buf, outs + 2 * MAX_PARAMS, 1, comm, &comm_bytes);
    size_t need_r, need_c;
    DEV(rf_dgcu_batch_workspace_bytes(recv, nr, &need_r));
    DEV(rf_dgcu_batch_workspace_bytes(comm, nc, &need_c));
    if (need_r > ws_bytes || need_c > ws_bytes) {
        fprintf(stderr, "digest_bw: workspace %zu bytes < %zu\n", ws_bytes, need_r > need_c ? need_r : need_c);
        exit(1);
    }
    gjob_t j = {.ws = ws, .ws_bytes = ws_bytes, .items = recv, .count = nr, .per_item = 1};
    int it = iters < 5 ? iters : 5;
    float per = time_ms(timer, it, run_items, &j);
    report("llama3-8b received bf16, one call per param", recv_bytes, per);
    uint64_t a[2 * MAX_PARAMS], b[2 * MAX_PARAMS];
    DEV(rf_dev_memcpy(a, outs, nr * 8));
    j.per_item = 0;
    float batch = time_ms(timer, it, run_items, &j);
    report("llama3-8b received bf16, one batch", recv_bytes, batch);
    DEV(rf_dev_memcpy(b, outs, nr * 8));
    if (memcmp(a, b, nr * 8)) {
        fprintf(stderr, "digest_bw: batched digests differ from one-call digests\n");
        exit(1);
    }
    j = (gjob_t){.ws = ws, .ws_bytes = ws_bytes, .items = comm, .count = nc, .per_item = 1, .committed = 1};
    float com = time_ms(timer, it, run_items, &j);
    report("llama3-8b committed fp8+scales, per param", comm_bytes, com);
    double floor_s = 16.06e9 / (h2d_gbps * 1e9), cost_ms = per + com;
    printf("llama3-8b tp 1 verify cost: received %.2f ms + committed %.2f ms = %.2f ms = %.1f %% of the reload "
           "floor (16.06 GB / %.1f GB/s pinned H2D = %.3f s)\n",
           per, com, cost_ms, 100 * cost_ms * 1e-3 / floor_s, h2d_gbps, floor_s);
}

int main(int argc, char **argv) {
    int iters = 20, max_threads = 64;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-n") && i + 1 < argc)
            iters = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-t") && i + 1 < argc)
            max_threads = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: digest_bw [-n ITERS] [-t MAX_THREADS]\n");
            return 2;
        }
    }
    if (iters < 1 || iters > MAX_ITERS || max_threads < 1 || max_threads > 64) {
        fprintf(stderr, "digest_bw: -n takes 1..%d, -t 1..64\n", MAX_ITERS);
        return 2;
    }
    host_part(max_threads);
    if (rf_dev_count() == 0) {
        printf("SKIP: no GPU (no usable CUDA device)\n");
        return 77;
    }
    char desc[256];
    DEV(rf_dev_desc(desc, sizeof desc));
    printf("gpu: %s\n", desc);
    uint64_t big, off[2 * MAX_PARAMS], len[2 * MAX_PARAMS];
    llama_layout(0, off, len, &big); /* the received bf16 layout is the largest */
    uint8_t *buf;
    void *ws;
    uint64_t *outs;
    size_t ws_bytes = rf_dgcu_workspace_bytes(big) + 2 * RF_DGCU_BATCH_MAX * 8 * 2;
    DEV(rf_dev_malloc(big, (void **)&buf));
    DEV(rf_dev_malloc(ws_bytes, &ws));
    DEV(rf_dev_malloc(4 * MAX_PARAMS * 8, (void **)&outs));
    DEV(rf_dev_memset(buf, 0x5A, big));
    {
        uint8_t *h = xmalloc(GIB);
        fill_random(h, GIB, 0x9876);
        DEV(rf_dev_memcpy(buf, h, GIB));
        free(h);
    }
    rf_dev_timer_t *timer;
    DEV(rf_dev_timer_create(&timer));
    check_1gib(buf, outs, ws, ws_bytes);

    gjob_t c = {.src = buf, .dst = buf + GIB, .n = GIB};
    float copy_ms = time_ms(timer, iters, run_copy, &c);
    g_copy_gbps = 2.0 * GIB / (copy_ms * 1e-3) / 1e9;
    printf("gpu: %-44s %9.3f ms %8.1f GB/s  (read + write: the floor)\n", "copy 1 GiB device-to-device", copy_ms,
           g_copy_gbps);
    gjob_t d = {.src = buf, .n = GIB, .out = outs, .ws = ws, .ws_bytes = ws_bytes};
    report("digest 1 GiB", GIB, time_ms(timer, iters, run_digest, &d));
    d.src = buf + 1;
    d.n = GIB - 1;
    report("digest 1 GiB - 1 at +1 (unaligned)", GIB - 1, time_ms(timer, iters, run_digest, &d));
    d.src = buf;
    d.n = big;
    char what[64];
    snprintf(what, sizeof what, "digest %.2f GB (one string)", big / 1e9);
    report(what, big, time_ms(timer, iters < 5 ? iters : 5, run_digest, &d));
    double h2d = pinned_h2d_gbps(buf, iters, timer);
    printf("gpu: pinned host-to-device %.1f GB/s\n", h2d);
    llama_part(buf, outs, ws, ws_bytes, iters, timer, h2d);
    rf_dev_timer_destroy(timer);
    rf_dev_free(buf);
    rf_dev_free(ws);
    rf_dev_free(outs);
    return 0;
}
#endif
