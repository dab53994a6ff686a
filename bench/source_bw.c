/* Sources on one GPU (issue 11): a checkpoint reloaded at tp 1 from each
 * source, each against its floor measured in the same run:
 *   dir       refit_load(ctx, dir): rank 0 preads into pinned buckets, host
 *             to device                  floor: source bytes / pinned H2D
 *   host-pageable, host-pinned  ROOT_MEMORY, tensors in malloc'd / pinned
 *             host memory                floor: source bytes / pinned H2D
 *             (the pageable H2D rate is printed beside it)
 *   device    ROOT_MEMORY, tensors in this GPU's memory, packed with device
 *             copies                     floor: (source bytes read + param
 *             bytes written) / device-copy rate
 * Each time is the median of REPS loads (refit_load_stats.total_seconds:
 * stage + commit); the H2D and device-copy rates are the best of 5 copies
 * of 1 GiB (copy_rate.h). Prints one table row per source.
 * usage: source_bw CHECKPOINT [REPS] [QUANT]   (single process, cuda backend) */
#include <cuda_runtime.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "copy_rate.h"
#include "refit.h"

#define CU(call) rf_copy_check((call), #call)

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
        else if (mem == 1) CU(cudaHostAlloc(&data, n, cudaHostAllocDefault));
        else CU(cudaMalloc(&data, n));
        void *host = mem == 2 ? (bounce = realloc(bounce, n)) : data;
        if (!data || !host || rf_st_read(f, t, 0, n, host) != REFIT_OK) {
            fprintf(stderr, "source_bw: reading %s: %s\n", t->name, rf_err_msg());
            exit(1);
        }
        if (mem == 2) CU(cudaMemcpy(data, host, n, cudaMemcpyHostToDevice));
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
        else if (s->mem == 1) CU(cudaFreeHost(p));
        else CU(cudaFree(p));
    }
    free(s->t);
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median seconds of reps loads from src (NULL: the directory). */
static double timed_loads(refit_ctx *ctx, const char *dir, const refit_source *src, int reps) {
    double t[64];
    for (int i = 0; i < reps; i++) {
        refit_status st = src ? refit_load_source(ctx, src) : refit_load(ctx, dir);
        refit_load_stats ls;
        if (st != REFIT_OK || refit_last_stats(ctx, &ls) != REFIT_OK) {
            fprintf(stderr, "source_bw: load: %s\n", refit_last_error(ctx));
            exit(1);
        }
        t[i] = ls.total_seconds;
    }
    qsort(t, (size_t)reps, sizeof t[0], cmp_d);
    return t[reps / 2];
}

static void row(const char *name, double s, double floor_s, const char *floor_what) {
    printf("%-14s %9.1f ms   floor %8.1f ms (%s)   floor/achieved %.2f\n", name, 1e3 * s, 1e3 * floor_s, floor_what,
           floor_s / s);
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    if (argc < 2) {
        fprintf(stderr, "usage: source_bw CHECKPOINT [REPS] [QUANT]\n");
        MPI_Finalize();
        return 2;
    }
    const char *dir = argv[1];
    int reps = argc > 2 ? atoi(argv[2]) : 5;
    if (reps < 1 || reps > 64) reps = 5;
    int gpus = 0;
    if (cudaGetDeviceCount(&gpus) != cudaSuccess || gpus < 1) {
        fprintf(stderr, "source_bw: no GPU\n");
        MPI_Finalize();
        return 77;
    }
    double h2d = rf_copy_rate(RF_COPY_H2D_PINNED, 0), h2d_pageable = rf_copy_rate(RF_COPY_H2D_PAGEABLE, 0);
    double d2d = 2 * rf_copy_rate(RF_COPY_D2D, 0); /* bytes read + written per second */
    printf("floors measured now: pinned H2D %.1f GB/s, pageable H2D %.1f GB/s, device copy %.0f GB/s (read + write)\n",
           h2d / 1e9, h2d_pageable / 1e9, d2d / 1e9);

    refit_options opt;
    refit_options_default(&opt);
    opt.tp = 1;
    opt.backend = REFIT_BACKEND_CUDA;
    opt.quant = argc > 3 ? argv[3] : "fp8-tensor";
    refit_ctx *ctx = NULL;
    MPI_Comm comm = MPI_COMM_WORLD;
    if (refit_create(&comm, &opt, &ctx) != REFIT_OK || refit_load(ctx, dir) != REFIT_OK) {
        fprintf(stderr, "source_bw: %s\n", ctx ? refit_last_error(ctx) : refit_last_error(NULL));
        return 1;
    }
    uint64_t param_bytes = 0; /* what a load writes: every param's data and scales */
    for (size_t i = 0; i < refit_param_count(ctx); i++) {
        refit_param_info pi;
        if (refit_param_info_get(ctx, i, &pi) == REFIT_OK) param_bytes += pi.data_bytes + pi.scale_bytes;
    }
    rf_ckpt_t *c = NULL;
    if (rf_ckpt_open(dir, &c) != REFIT_OK) {
        fprintf(stderr, "source_bw: %s\n", rf_err_msg());
        return 1;
    }
    printf("%s: quant %s, %d loads each (median of stage + commit)\n", dir, opt.quant, reps);
    state_t s;
    state_read(c, 0, &s); /* first: its byte count is the source size of every row */
    double src_h2d = (double)s.bytes / h2d;
    row("dir", timed_loads(ctx, dir, NULL, reps), src_h2d, "pinned H2D");
    refit_source src;
    refit_source_default(&src);
    src.kind = REFIT_SOURCE_ROOT_MEMORY;
    for (int mem = 0; mem < 3; mem++) {
        if (mem > 0) state_read(c, mem, &s);
        src.tensors = s.t;
        src.n_tensors = s.n;
        double t = timed_loads(ctx, NULL, &src, reps);
        if (mem == 2) row("device", t, (double)(s.bytes + param_bytes) / d2d, "device copy, read + write");
        else row(mem ? "host-pinned" : "host-pageable", t, src_h2d, "pinned H2D");
        state_free(&s);
    }
    printf("source %.2f GB, params %.2f GB; pageable H2D floor %.1f ms\n", (double)s.bytes / 1e9,
           (double)param_bytes / 1e9, 1e3 * (double)s.bytes / h2d_pageable);
    rf_ckpt_close(c);
    refit_destroy(ctx);
    MPI_Finalize();
    return 0;
}
