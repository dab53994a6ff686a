/* quant_bw: achieved bandwidth of the CUDA fp8 quantization kernels against
 * the device-copy bandwidth measured in the same run (DESIGN: "every
 * benchmark reports achieved / floor").
 *
 *   quant_bw [ROWSxCOLS ...] [--moe] [E_RxHxI_R ...] [-n ITERS]
 *
 * For each shape and scheme: median over ITERS runs (CUDA event timing, L2
 * flushed before each run) of one rf_qcu_quantize call; algbw counts the
 * bytes a quantizer must move, 2 B/elem read (bf16) + 1 B/elem written (fp8),
 * in GB/s = 1e9 B/s as nccl-tests prints them. The copy baseline is
 * cudaMemcpyAsync device-to-device of the same bf16 tensor, read + write
 * counted. Every scheme's output is also compared once with the C reference.
 * --moe (or any E_RxHxI_R) times the grouped expert kernels (rf_qcu_moe_quantize, one
 * call per param over all E_r experts, SPEC §3a) on w13 [E_r, 2*I_r, H] and
 * w2 [E_r, H, I_r] of each E_RxHxI_R (default 128x2048x768: qwen3-30b-a3b at
 * tp 1), every scheme including none (scan + copy); written bytes are the
 * padded output's (fp8-block) or 2 B/elem (none).
 * Exit 0, 1 on a mismatch or CUDA error, 77 without a GPU. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant.h"
#ifdef REFIT_HAVE_CUDA
#include "cuda_device.h"
#include "quant_cuda.h"
#include "quant_moe_cuda.h"
#endif

#ifndef REFIT_HAVE_CUDA
int main(void) {
    printf("quant_bw: no GPU: skipped (built without the CUDA backend)\n");
    return 77;
}
#else

#define L2_FLUSH_BYTES (256u << 20) /* > any current L2 (H100: 50 MiB) */
#define MAX_ITERS 1000

#define DEV(call)                                                                                  \
    do {                                                                                           \
        refit_status st_ = (call);                                                                 \
        if (st_ != REFIT_OK) {                                                                     \
            fprintf(stderr, "quant_bw: %s: %s (%s)\n", #call, refit_status_str(st_),               \
                    rf_err_msg());                                                                 \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

typedef struct {
    void *flush;
    rf_dev_timer_t *timer;
    int iters;
} bench_t;

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static float median(float *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_float);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Weights-like bf16: roughly normal (sum of uniforms), a few outliers. */
static void fill_weights(uint16_t *x, size_t n) {
    uint64_t s = 0x853C49E6748FEA9Bull;
    for (size_t i = 0; i < n; i++) {
        float acc = 0;
        for (int k = 0; k < 4; k++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            acc += (float)(s >> 40) / (float)(1u << 24) - 0.5f;
        }
        if ((s >> 20 & 0xFFF) == 0) acc *= 50;
        x[i] = rf_f32_to_bf16(acc * 0.02f);
    }
}

/* One timed run = whatever `what` enqueues on the default stream. */
typedef void (*run_fn)(void *ctx);

static float time_median_ms(bench_t *b, run_fn run, void *ctx) {
    float t[MAX_ITERS];
    for (int i = 0; i < 3; i++)
        run(ctx); /* warm-up */
    for (int i = 0; i < b->iters; i++) {
        DEV(rf_dev_memset(b->flush, i & 0xFF, L2_FLUSH_BYTES)); /* untimed: evict L2 */
        DEV(rf_dev_timer_start(b->timer, NULL));
        run(ctx);
        DEV(rf_dev_timer_stop(b->timer, NULL, &t[i]));
    }
    return median(t, b->iters);
}

/* One param to time: dense [rows, cols] (moe NULL) or an expert param. */
typedef struct {
    rf_qscheme_t s;
    const rf_q_moe_t *moe;
    const uint16_t *dx;
    int64_t rows, cols; /* dense shape; for moe one expert's [rows, cols] */
    size_t n;           /* input elements */
    uint8_t *dout;
    float *dsc;
    void *ws;
    size_t ws_bytes;
    void *dcopy;
} job_t;

static size_t out_bytes(const job_t *j) {
    return j->moe ? (size_t)rf_q_moe_out_bytes(j->s, j->moe) : j->n;
}

static size_t scale_count(const job_t *j) {
    return (size_t)(j->moe ? rf_q_moe_scale_count(j->s, j->moe)
                           : rf_q_scale_count(j->s, j->rows, j->cols));
}

/* Schemes timed: the fp8 ones; none too for expert params (scan + copy). */
static int n_schemes(const job_t *j) { return j->moe ? RF_Q_COUNT : RF_Q_NONE; }

static void run_copy(void *ctx) {
    job_t *j = ctx;
    DEV(rf_dev_memcpy_async(j->dcopy, j->dx, j->n * 2, NULL));
}

static void run_quant(void *ctx) {
    job_t *j = ctx;
    if (j->moe)
        DEV(rf_qcu_moe_quantize(j->s, j->moe, j->dx, j->dout, j->dsc, j->ws, j->ws_bytes, NULL));
    else
        DEV(rf_qcu_quantize(j->s, j->dx, j->rows, j->cols, j->dout, j->dsc, j->ws, j->ws_bytes,
                            NULL));
}

static refit_status reference(const job_t *j, const uint16_t *hx, uint8_t *out, float *sc) {
    if (j->moe) return rf_q_moe_quantize_ref(j->s, j->moe, hx, "bench", out, sc);
    return rf_q_quantize_ref(j->s, hx, j->rows, j->cols, "bench", out, sc);
}

/* Compares the GPU result of j (already run) with the C reference. */
static bool matches_reference(job_t *j, const uint16_t *hx) {
    size_t n = out_bytes(j), ns = scale_count(j);
    uint8_t *want = malloc(n), *got = malloc(n);
    float *wsc = malloc(ns * 4 + 4), *gsc = malloc(ns * 4 + 4);
    bool ok = want && got && wsc && gsc;
    if (ok) {
        if (j->moe)
            DEV(rf_qcu_moe_check(j->ws, j->moe, "bench", NULL, NULL));
        else
            DEV(rf_qcu_check(j->ws, j->cols, "bench", NULL, NULL));
        DEV(rf_dev_memcpy(got, j->dout, n));
        DEV(rf_dev_memcpy(gsc, j->dsc, ns * 4));
        ok = reference(j, hx, want, wsc) == REFIT_OK && memcmp(want, got, n) == 0 &&
             memcmp(wsc, gsc, ns * 4) == 0;
    }
    free(want);
    free(got);
    free(wsc);
    free(gsc);
    return ok;
}

/* Device buffers for every scheme of j (the largest output, scales and
 * workspace over the schemes), x filled with weights-like data. */
static uint16_t *job_alloc(job_t *j) {
    uint16_t *hx = malloc(j->n * 2);
    if (!hx) {
        fprintf(stderr, "quant_bw: host out of memory for %zu elements\n", j->n);
        exit(1);
    }
    fill_weights(hx, j->n);
    size_t nout = 1, ns = 1, nws = RF_QCU_WORKSPACE_BYTES;
    for (int s = 0; s < n_schemes(j); s++) {
        j->s = (rf_qscheme_t)s;
        size_t o = out_bytes(j), k = scale_count(j);
        size_t w = j->moe ? rf_qcu_moe_workspace_bytes(j->s, j->moe) : RF_QCU_WORKSPACE_BYTES;
        nout = o > nout ? o : nout;
        ns = k > ns ? k : ns;
        nws = w > nws ? w : nws;
    }
    j->ws_bytes = nws;
    DEV(rf_dev_malloc(j->n * 2, (void **)&j->dx));
    DEV(rf_dev_malloc(j->n * 2, &j->dcopy));
    DEV(rf_dev_malloc(nout, (void **)&j->dout));
    DEV(rf_dev_malloc(ns * 4, (void **)&j->dsc));
    DEV(rf_dev_malloc(nws, &j->ws));
    DEV(rf_dev_memcpy((void *)j->dx, hx, j->n * 2));
    return hx;
}

static void job_free(job_t *j, uint16_t *hx) {
    rf_dev_free((void *)j->dx);
    rf_dev_free(j->dcopy);
    rf_dev_free(j->dout);
    rf_dev_free(j->dsc);
    rf_dev_free(j->ws);
    free(hx);
}

/* Times the copy baseline and every scheme of j; `name` heads each line.
 * Returns false on a mismatch. */
static bool bench_job(bench_t *b, job_t *j, const char *name) {
    uint16_t *hx = job_alloc(j);
    float copy_ms = time_median_ms(b, run_copy, j);
    double copy_gbs = 2.0 * (double)j->n * 2 / (copy_ms * 1e-3) / 1e9;
    printf("%-13s %-10s %10.1f %12.1f %11s %6s  %s\n", name, "d2d copy", copy_ms * 1e3, copy_gbs,
           "", "", "(baseline: 2 B/elem read + 2 written)");
    bool all_ok = true;
    for (int s = 0; s < n_schemes(j); s++) {
        j->s = (rf_qscheme_t)s;
        float ms = time_median_ms(b, run_quant, j);
        double gbs = ((double)j->n * 2 + (double)out_bytes(j)) / (ms * 1e-3) / 1e9;
        bool ok = matches_reference(j, hx);
        all_ok &= ok;
        printf("%-13s %-10s %10.1f %12.1f %11.1f %6.2f  %s\n", name, rf_q_scheme_name(j->s),
               ms * 1e3, gbs, copy_gbs, gbs / copy_gbs,
               ok ? "matches reference" : "MISMATCH vs reference");
    }
    job_free(j, hx);
    return all_ok;
}

static bool bench_shape(bench_t *b, int64_t rows, int64_t cols) {
    job_t j = {.rows = rows, .cols = cols, .n = (size_t)(rows * cols)};
    char name[48];
    snprintf(name, sizeof name, "%6" PRId64 "x%-6" PRId64, rows, cols);
    return bench_job(b, &j, name);
}

/* Both expert params (w13, w2) of E_r experts, hidden h, expert size i. */
static bool bench_moe(bench_t *b, int64_t e, int64_t h, int64_t i) {
    bool ok = true;
    for (int kind = 0; kind < 2; kind++) {
        rf_q_moe_t p = {.kind = (rf_q_moe_kind_t)kind, .experts = e, .hidden = h, .inter = i};
        DEV(rf_q_moe_validate(&p, "quant_bw --moe"));
        job_t j = {.moe = &p, .n = (size_t)rf_q_moe_in_count(&p)};
        rf_q_moe_expert_dims(&p, &j.rows, &j.cols);
        char name[64];
        snprintf(name, sizeof name, "%s %" PRId64 "x%" PRId64 "x%" PRId64,
                 kind == RF_Q_MOE_W13 ? "w13" : "w2", e, j.rows, j.cols);
        ok &= bench_job(b, &j, name);
    }
    return ok;
}

static void usage(void) {
    fprintf(stderr,
            "usage: quant_bw [ROWSxCOLS ...] [--moe] [E_RxHxI_R ...] [-n ITERS (1..%d, default "
            "20)]\n",
            MAX_ITERS);
    exit(2);
}

#define MAX_SHAPES 32

typedef struct {
    int64_t dense[MAX_SHAPES][2], moe[MAX_SHAPES][3];
    int ndense, nmoe;
    bool moe_flag;
} args_t;

/* ROWSxCOLS is a dense shape, E_RxHxI_R an expert param (three numbers). */
static void parse_args(int argc, char **argv, args_t *a, bench_t *b) {
    for (int i = 1; i < argc; i++) {
        long long x = 0, y = 0, z = 0;
        int end = -1, k = sscanf(argv[i], "%lldx%lldx%lld%n", &x, &y, &z, &end);
        if (k == 2) sscanf(argv[i], "%lldx%lld%n", &x, &y, &end);
        if (end < 0 || argv[i][end] != '\0') k = 0; /* trailing text */
        if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
            b->iters = atoi(argv[++i]);
            if (b->iters < 1 || b->iters > MAX_ITERS) usage();
        } else if (strcmp(argv[i], "--moe") == 0) {
            a->moe_flag = true;
        } else if (k == 3 && x > 0 && y > 0 && z > 0 && a->nmoe < MAX_SHAPES) {
            int64_t *m = a->moe[a->nmoe++];
            m[0] = x;
            m[1] = y;
            m[2] = z;
        } else if (k == 2 && x > 0 && y > 0 && a->ndense < MAX_SHAPES) {
            a->dense[a->ndense][0] = x;
            a->dense[a->ndense++][1] = y;
        } else {
            usage();
        }
    }
    if (a->moe_flag && a->nmoe == 0) { /* qwen3-30b-a3b at tp 1 */
        a->moe[0][0] = 128;
        a->moe[0][1] = 2048;
        a->moe[0][2] = 768;
        a->nmoe = 1;
    }
    if (a->ndense == 0 && a->nmoe == 0) {
        /* Llama-70B-ish shards: tp=1 gate_up slice, tp=8 qkv and down, a square */
        const int64_t def[][2] = {{28672, 4096}, {4096, 4096}, {1280, 8192}, {8192, 3584}};
        for (int i = 0; i < 4; i++) {
            a->dense[i][0] = def[i][0];
            a->dense[i][1] = def[i][1];
        }
        a->ndense = 4;
    }
}

int main(int argc, char **argv) {
    args_t a = {0};
    bench_t b = {.iters = 20};
    parse_args(argc, argv, &a, &b);
    if (rf_dev_count() == 0) {
        printf("quant_bw: no GPU: skipped (rf_dev_count() == 0)\n");
        return 77;
    }
    char desc[256];
    DEV(rf_dev_desc(desc, sizeof desc));
    DEV(rf_dev_malloc(L2_FLUSH_BYTES, &b.flush));
    DEV(rf_dev_timer_create(&b.timer));
    printf("# quant_bw: %s\n", desc);
    printf("# median of %d runs, L2 flushed before each; algbw = (bytes read + written) / time:\n"
           "# 2 B/elem bf16 in, 1 B/elem fp8 out (expert params: the padded fp8-block output,\n"
           "# 2 B/elem for none)\n",
           b.iters);
    printf("# %-12s %-10s %10s %12s %11s %6s  %s\n", "shape", "scheme", "time(us)", "algbw(GB/s)",
           "copy(GB/s)", "ratio", "check");
    bool ok = true;
    for (int i = 0; i < a.ndense; i++)
        ok &= bench_shape(&b, a.dense[i][0], a.dense[i][1]);
    for (int i = 0; i < a.nmoe; i++)
        ok &= bench_moe(&b, a.moe[i][0], a.moe[i][1], a.moe[i][2]);
    printf("# ratio = algbw / copy bandwidth (target >= 0.80). fp8-tensor reads its input twice\n"
           "# (grid-wide amax, then quantize): 5 B/elem of traffic for 3 counted, so its ceiling\n"
           "# is about 0.60 when the tensor does not fit in L2 and the second read misses.\n");
    rf_dev_timer_destroy(b.timer);
    rf_dev_free(b.flush);
    if (!ok) printf("quant_bw: FAIL: some GPU output differs from the C reference\n");
    return ok ? 0 : 1;
}
#endif
