/* Sources (issues 11, 15): a checkpoint reloaded at tp = the MPI world (one
 * rank per GPU, each on local rank % visible GPUs) from each source, each
 * against its floor measured in the same run:
 *   dir       refit_load(ctx, dir): rank 0 preads into pinned buckets, host
 *             to device                  floor: source bytes / pinned H2D
 *   host-pageable, host-pinned  ROOT_MEMORY, tensors in rank 0's malloc'd /
 *             pinned host memory         floor: source bytes / pinned H2D
 *             (the pageable H2D rate is printed beside it)
 *   device    ROOT_MEMORY, tensors in rank 0's GPU memory, packed with
 *             device copies              floor at tp 1: (source bytes read
 *             + param bytes written) / device-copy rate; at tp > 1: bytes
 *             leaving rank 0 / NCCL send rate from rank 0
 *   rank-device  RANK_MEMORY, every rank holds the full tensors in its own
 *             GPU's memory (colocated)   floor: the slowest rank's (source
 *             bytes it reads + param bytes it writes) / its device-copy rate
 * At tp > 1 the first three are also bounded by rank 0's sends: their floor
 * is the larger of source bytes / pinned H2D and bytes leaving rank 0 / NCCL
 * send rate. Bytes leaving rank 0 are what the other ranks received in the
 * same load (refit_load_stats.bytes[REFIT_PHASE_TRANSFER], summed), source
 * bytes read by a rank likewise its own transfer bytes.
 * Each time is the slowest rank's refit_load_stats.total_seconds (stage +
 * commit), median of REPS loads; the H2D rates are rank 0's alone and the
 * device-copy rates every rank's at once, best of 5 copies of 1 GiB
 * (copy_rate.h); the NCCL send rate is floors.c's (nccl_floor.h).
 * Prints one table row per source; given KINDS (a comma list of the source
 * names above, run in the order above; default the first four, tp 1's
 * table as before) it ends with one line per source for
 * bench/multi_table.py:
 *   source_bw: source=NAME tp=T reps=R seconds=S floor_seconds=F floor_bytes=B floor_gbps=G floor_of=WHAT
 * Every rank makes the same collective calls in the same order; a failure
 * names the rank and aborts the job.
 * usage: [mpirun -np N] source_bw CHECKPOINT [REPS] [QUANT] [KINDS]   (cuda backend) */
#include <cuda_runtime.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu/local_gpu.h"
#include "checkpoint.h"
#include "copy_rate.h"
#define RF_FLOOR_PROG "source_bw"
#include "nccl_floor.h" /* CK: a CUDA call's failure, named by rank; the NCCL send floor */
#include "refit.h"

enum { K_DIR, K_PAGEABLE, K_PINNED, K_DEVICE, K_RANK_DEVICE, K_COUNT };
static const char *const KIND_NAME[K_COUNT] = {"dir", "host-pageable", "host-pinned", "device", "rank-device"};

static int rank, world;

static void fail(const char *what, const char *why) {
    fprintf(stderr, "source_bw: rank %d: %s: %s\n", rank, what, why);
    MPI_Abort(MPI_COMM_WORLD, 1); /* the other ranks may wait in a collective */
    exit(1);
}

static double world_max(double v) {
    MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    return v;
}
static double world_sum(double v) {
    MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    return v;
}

/* KINDS, a comma list of KIND_NAME: want[k] set for each; 0 on a name
 * that is none of them. Every rank parses the same argv: they agree. */
static int parse_kinds(const char *list, int want[K_COUNT]) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", list);
    int any = 0;
    for (char *save = NULL, *w = strtok_r(buf, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
        int k = 0;
        while (k < K_COUNT && strcmp(w, KIND_NAME[k])) k++;
        if (k == K_COUNT) {
            if (rank == 0) fprintf(stderr, "source_bw: unknown source '%s' in KINDS '%s'\n", w, list);
            return 0;
        }
        want[k] = any = 1;
    }
    return any;
}

/* The checkpoint's tensors in memory of kind `mem` (0 pageable, 1 pinned,
 * 2 device), as a trainer's state dict would be. */
typedef struct {
    refit_tensor *t;
    size_t n;
    uint64_t bytes;
    int mem;
} state_t;

static refit_dtype public_dtype(rf_dtype_t d) {
    return d == RF_DT_F16 ? REFIT_DTYPE_F16 : d == RF_DT_F32 ? REFIT_DTYPE_F32 : REFIT_DTYPE_BF16;
}

static uint64_t ckpt_bytes(rf_ckpt_t *c) {
    uint64_t n = 0;
    for (size_t i = 0; i < rf_ckpt_count(c); i++) {
        const rf_st_file_t *f;
        const rf_st_tensor_t *t;
        rf_ckpt_at(c, i, &f, &t);
        n += t->end - t->begin;
    }
    return n;
}

static void state_read(rf_ckpt_t *c, int mem, state_t *s) {
    s->n = rf_ckpt_count(c);
    s->t = calloc(s->n, sizeof *s->t);
    s->bytes = 0;
    s->mem = mem;
    void *bounce = NULL;
    for (size_t i = 0; i < s->n; i++) {
        const rf_st_file_t *f;
        const rf_st_tensor_t *t;
        rf_ckpt_at(c, i, &f, &t);
        uint64_t n = t->end - t->begin;
        void *data = NULL;
        if (mem == 0) data = malloc(n);
        else if (mem == 1) CK(cudaHostAlloc(&data, n, cudaHostAllocDefault));
        else CK(cudaMalloc(&data, n));
        void *host = mem == 2 ? (bounce = realloc(bounce, n)) : data;
        if (!data || !host) fail(t->name, "out of host memory");
        if (rf_st_read(f, t, 0, n, host) != REFIT_OK) fail(t->name, rf_err_msg());
        if (mem == 2) CK(cudaMemcpy(data, host, n, cudaMemcpyHostToDevice));
        s->t[i] = (refit_tensor){.name = t->name, .dtype = public_dtype(t->dtype), .ndim = t->ndim, .data = data,
                                 .where = mem == 2 ? REFIT_MEM_DEVICE : REFIT_MEM_HOST};
        for (int d = 0; d < t->ndim; d++) s->t[i].shape[d] = (int64_t)t->shape[d];
        s->bytes += n;
    }
    free(bounce);
}

static void state_free(state_t *s) {
    for (size_t i = 0; i < s->n; i++) {
        void *p = (void *)s->t[i].data;
        if (s->mem == 0) free(p);
        else if (s->mem == 1) CK(cudaFreeHost(p));
        else CK(cudaFree(p));
    }
    free(s->t);
    *s = (state_t){0};
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* One source's loads: the median of the slowest rank's seconds, and of
 * the last load this rank's transfer bytes and the bytes the other ranks
 * received from rank 0 (every rank: the same collectives per load). */
typedef struct {
    double seconds;
    uint64_t own_bytes;
    double left_root;
} timed_t;

static timed_t timed_loads(refit_ctx *ctx, const char *name, const char *dir, const refit_source *src, int reps) {
    double t[64];
    timed_t r = {0};
    for (int i = 0; i < reps; i++) {
        refit_status st = src ? refit_load_source(ctx, src) : refit_load(ctx, dir);
        refit_load_stats ls;
        if (st != REFIT_OK || refit_last_stats(ctx, &ls) != REFIT_OK) fail(name, refit_last_error(ctx));
        t[i] = world_max(ls.total_seconds);
        r.own_bytes = ls.bytes[REFIT_PHASE_TRANSFER];
    }
    r.left_root = world_sum(rank == 0 ? 0.0 : (double)r.own_bytes);
    qsort(t, (size_t)reps, sizeof t[0], cmp_d);
    r.seconds = t[reps / 2];
    return r;
}

/* A source's figures: its time and its floor, how the floor was made. */
typedef struct {
    int kind;
    double seconds, floor_s, floor_bytes, floor_rate;
    const char *floor_of; /* machine-readable: pinned-h2d, nccl-send, device-copy */
} result_t;

static void row(const char *name, double s, double floor_s, const char *floor_what) {
    printf("%-14s %9.1f ms   floor %8.1f ms (%s)   floor/achieved %.2f\n", name, 1e3 * s, 1e3 * floor_s, floor_what,
           floor_s / s);
}

/* The measured rates the floors divide by (bytes per second). */
typedef struct {
    double h2d, h2d_pageable; /* rank 0 alone */
    double d2d;               /* this rank's device copy, read + write counted */
    double send;              /* NCCL sends from rank 0 (tp > 1) */
} rates_t;

static rates_t measure_rates(void) {
    rates_t r = {0};
    if (rank == 0) { /* rank 0 alone: at tp > 1 it is the only one copying from the host */
        r.h2d = rf_copy_rate(RF_COPY_H2D_PINNED, 0);
        r.h2d_pageable = rf_copy_rate(RF_COPY_H2D_PAGEABLE, 0);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    r.d2d = 2 * rf_copy_rate(RF_COPY_D2D, 0); /* every rank at once, as RANK_MEMORY loads */
    if (world > 1) r.send = 1e9 * rf_nccl_send_gbps_world();
    return r;
}

/* The floor of source k (every rank calls it: rank-device's is the slowest
 * rank's). src_bytes: the checkpoint's (rank 0); params: this rank's
 * param bytes; tm: the source's loads. */
static result_t source_floor(int k, const rates_t *rt, uint64_t src_bytes, uint64_t params, const timed_t *tm) {
    result_t r = {.kind = k, .seconds = tm->seconds};
    /* this rank's device-copy bound; the slowest rank's, with its bytes and rate, to every rank */
    struct {
        double s;
        int rank;
    } own = {(double)(tm->own_bytes + params) / rt->d2d, rank};
    MPI_Allreduce(MPI_IN_PLACE, &own, 1, MPI_DOUBLE_INT, MPI_MAXLOC, MPI_COMM_WORLD);
    double its[2] = {(double)(tm->own_bytes + params), rt->d2d};
    MPI_Bcast(its, 2, MPI_DOUBLE, own.rank, MPI_COMM_WORLD);
    if (k == K_RANK_DEVICE) {
        r.floor_bytes = its[0];
        r.floor_rate = its[1];
        r.floor_of = "device-copy";
    } else if (k == K_DEVICE && world == 1) {
        r.floor_bytes = (double)(src_bytes + params);
        r.floor_rate = rt->d2d;
        r.floor_of = "device-copy";
    } else if (k == K_DEVICE || (world > 1 && (double)src_bytes / rt->h2d < tm->left_root / rt->send)) {
        r.floor_bytes = tm->left_root; /* tp > 1 here */
        r.floor_rate = rt->send;
        r.floor_of = "nccl-send";
    } else {
        r.floor_bytes = (double)src_bytes;
        r.floor_rate = rt->h2d;
        r.floor_of = "pinned-h2d";
    }
    r.floor_s = r.floor_bytes / r.floor_rate;
    return r;
}

static const char *floor_words(const result_t *r) {
    if (!strcmp(r->floor_of, "pinned-h2d")) return "pinned H2D";
    if (!strcmp(r->floor_of, "nccl-send")) return "NCCL sends from rank 0";
    return r->kind == K_RANK_DEVICE ? "device copy, read + write, slowest rank" : "device copy, read + write";
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    int want[K_COUNT] = {1, 1, 1, 1, 0}; /* without KINDS: tp 1's table as before */
    if (argc > 4) memset(want, 0, sizeof want);
    if (argc < 2 || (argc > 4 && !parse_kinds(argv[4], want))) {
        if (rank == 0) fprintf(stderr, "usage: source_bw CHECKPOINT [REPS] [QUANT] [KINDS: dir,host-pageable,"
                                       "host-pinned,device,rank-device]\n");
        MPI_Finalize();
        return 2;
    }
    const char *dir = argv[1];
    int reps = argc > 2 ? atoi(argv[2]) : 5;
    if (reps < 1 || reps > 64) reps = 5;
    int device = rf_local_gpu(), everywhere = device >= 0; /* collective: every rank */
    MPI_Allreduce(MPI_IN_PLACE, &everywhere, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (!everywhere) {
        if (device < 0) fprintf(stderr, "source_bw: rank %d: no GPU\n", rank);
        MPI_Finalize();
        return 77;
    }
    rates_t rt = measure_rates();
    if (rank == 0)
        printf("floors measured now: pinned H2D %.1f GB/s, pageable H2D %.1f GB/s, device copy %.0f GB/s (read + write)\n",
               rt.h2d / 1e9, rt.h2d_pageable / 1e9, rt.d2d / 1e9);
    if (rank == 0 && world > 1)
        printf("tp %d: NCCL sends from rank 0 %.1f GB/s; host rates are rank 0's alone, device copy every rank's at "
               "once (the line above: rank 0's)\n", world, rt.send / 1e9);

    refit_options opt;
    refit_options_default(&opt);
    opt.tp = world;
    opt.device = device;
    opt.backend = REFIT_BACKEND_CUDA;
    opt.quant = argc > 3 ? argv[3] : "fp8-tensor";
    refit_ctx *ctx = NULL;
    MPI_Comm comm = MPI_COMM_WORLD;
    if (refit_create(&comm, &opt, &ctx) != REFIT_OK) fail("refit_create", refit_last_error(NULL));
    if (refit_load(ctx, dir) != REFIT_OK) fail("generation 0", refit_last_error(ctx));
    uint64_t param_bytes = 0; /* what a load writes on this rank: every param's data and scales */
    for (size_t i = 0; i < refit_param_count(ctx); i++) {
        refit_param_info pi;
        if (refit_param_info_get(ctx, i, &pi) == REFIT_OK) param_bytes += pi.data_bytes + pi.scale_bytes;
    }
    rf_ckpt_t *c = NULL; /* rank 0 holds ROOT_MEMORY's tensors; every rank RANK_MEMORY's */
    if ((rank == 0 || want[K_RANK_DEVICE]) && rf_ckpt_open(dir, &c) != REFIT_OK) fail(dir, rf_err_msg());
    uint64_t src_bytes = c ? ckpt_bytes(c) : 0;
    if (rank == 0)
        printf("%s: quant %s, %d loads each (median of stage + commit)%s\n", dir, opt.quant, reps,
               world > 1 ? ", the slowest rank's" : "");
    result_t res[K_COUNT];
    int n_res = 0;
    for (int k = 0; k < K_COUNT; k++) {
        if (!want[k]) continue;
        state_t s = {0};
        refit_source src;
        refit_source_default(&src);
        src.kind = k == K_RANK_DEVICE ? REFIT_SOURCE_RANK_MEMORY : REFIT_SOURCE_ROOT_MEMORY;
        if (k != K_DIR && (rank == 0 || k == K_RANK_DEVICE)) state_read(c, k == K_PINNED ? 1 : k == K_PAGEABLE ? 0 : 2, &s);
        src.tensors = s.t;
        src.n_tensors = s.n;
        timed_t tm = timed_loads(ctx, KIND_NAME[k], dir, k == K_DIR ? NULL : &src, reps);
        state_free(&s);
        res[n_res] = source_floor(k, &rt, src_bytes, param_bytes, &tm);
        if (rank == 0) row(KIND_NAME[k], tm.seconds, res[n_res].floor_s, floor_words(&res[n_res]));
        n_res++;
    }
    if (rank == 0)
        printf("source %.2f GB, params %.2f GB%s; pageable H2D floor %.1f ms\n", (double)src_bytes / 1e9,
               (double)param_bytes / 1e9, world > 1 ? " (rank 0's)" : "", 1e3 * (double)src_bytes / rt.h2d_pageable);
    /* bench/multi_table.py reads these lines: keep their wording */
    for (int i = 0; rank == 0 && argc > 4 && i < n_res; i++)
        printf("source_bw: source=%s tp=%d reps=%d seconds=%.6f floor_seconds=%.6f floor_bytes=%.0f floor_gbps=%.2f "
               "floor_of=%s\n", KIND_NAME[res[i].kind], world, reps, res[i].seconds, res[i].floor_s,
               res[i].floor_bytes, res[i].floor_rate / 1e9, res[i].floor_of);
    if (c) rf_ckpt_close(c);
    refit_destroy(ctx);
    MPI_Finalize();
    return 0;
}
