/* Floor bandwidths, measured once at the start of a run. */
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#include "floor.h"
#include "rf_common.h"

#define FLOOR_REPS 5
#define FLOOR_MAX_PROBE (64ull << 20)

/* MPI calls on MPI_COMM_WORLD here keep MPI's default error handler,
 * MPI_ERRORS_ARE_FATAL: a failure ends the job with MPI's own message, so
 * their return codes are not checked again. (The library duplicates its
 * communicators with MPI_ERRORS_RETURN and checks every call, MPI_CHECK.) */
/* Seconds of one broadcast over `group` (MPI_COMM_NULL: not a member) as
 * its slowest member saw it. Collective over the world. */
static double time_bcast(MPI_Comm group, void *buf, int bytes) {
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = rf_now(), t = 0;
    if (group != MPI_COMM_NULL) {
        MPI_Bcast(buf, bytes, MPI_BYTE, 0, group);
        t = rf_now() - t0;
    }
    MPI_Allreduce(MPI_IN_PLACE, &t, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    return t;
}

/* One slice group as the data plane broadcasts it: rank 0 plus the ranks
 * of tp rank 1 (tp rank 0's group holds rank 0 itself; with tp 1 it is
 * the only group). Every group has dp receivers. */
static MPI_Comm slice_group(int tp, int *size) {
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    int g = tp > 1 ? 1 : 0;
    MPI_Comm c;
    MPI_Comm_split(MPI_COMM_WORLD, rank == 0 || rank % tp == g ? 0 : MPI_UNDEFINED, rank, &c);
    *size = 1;
    if (c != MPI_COMM_NULL) MPI_Comm_size(c, size);
    MPI_Bcast(size, 1, MPI_INT, 0, MPI_COMM_WORLD);
    return c;
}

static void measure(uint8_t *a, uint8_t *b, uint64_t n, int tp, rf_floor_t *f) {
    double best_b = 1e30, best_m = 1e30;
    memset(a, 1, n); /* touch every page first: the data plane's buckets are warm too */
    memset(b, 2, n);
    MPI_Comm group = slice_group(tp, &f->group_size);
    time_bcast(group, a, (int)n); /* warm-up: connections, registration */
    for (int i = 0; i < FLOOR_REPS; i++) {
        double t = time_bcast(group, a, (int)n);
        if (t < best_b) best_b = t;
        t = rf_now();
        memcpy(b, a, n);
        t = rf_now() - t;
        if (t < best_m) best_m = t;
    }
    if (group != MPI_COMM_NULL) MPI_Comm_free(&group);
    f->bcast_gbps = (double)n / best_b / 1e9;
    f->memcpy_gbps = (double)n / (best_m > 0 ? best_m : 1e-9) / 1e9;
    f->measured = true;
}

static void label_host(rf_floor_t *f) {
    /* A group of one has no link: its "transfer" is packing and unpacking in memory. */
    bool link = f->group_size > 1;
    f->kind[REFIT_PHASE_SNAPSHOT] = f->kind[REFIT_PHASE_TRANSFER] = link ? "mpi_bcast" : "memcpy";
    f->gbps[REFIT_PHASE_SNAPSHOT] = f->gbps[REFIT_PHASE_TRANSFER] = link ? f->bcast_gbps : f->memcpy_gbps;
    f->kind[REFIT_PHASE_QUANTIZE] = f->kind[REFIT_PHASE_COMMIT] = "memcpy";
    f->gbps[REFIT_PHASE_QUANTIZE] = f->gbps[REFIT_PHASE_COMMIT] = f->memcpy_gbps;
}

/* Rank 0's transfer runs host->device and NCCL in a pipeline: the slower bounds it. */
static void label_cuda(rf_floor_t *f) {
    bool nccl = f->nccl_gbps > 0 && f->nccl_gbps < f->h2d_gbps;
    f->kind[REFIT_PHASE_SNAPSHOT] = "unmeasured"; /* the snapshot goes over MPI, not timed here */
    f->kind[REFIT_PHASE_TRANSFER] = nccl ? "nccl_bcast" : "pinned_h2d";
    f->gbps[REFIT_PHASE_TRANSFER] = nccl ? f->nccl_gbps : f->h2d_gbps;
    f->kind[REFIT_PHASE_QUANTIZE] = f->kind[REFIT_PHASE_COMMIT] = "device_copy";
    f->gbps[REFIT_PHASE_QUANTIZE] = f->gbps[REFIT_PHASE_COMMIT] = f->d2d_gbps;
}

static void label(rf_floor_t *f, bool cuda) {
    for (int p = 0; p < REFIT_PHASE_COUNT; p++) f->kind[p] = f->measured ? "none" : "unmeasured";
    f->kind[REFIT_PHASE_OPEN] = f->kind[REFIT_PHASE_RESTORE] = "none"; /* no bytes over a link */
    if (!f->measured) return;
    if (cuda) label_cuda(f);
    else label_host(f);
}

refit_status rf_floor_measure(bool want, const char *backend, uint64_t bucket_bytes, int tp, rf_floor_t *out) {
    rf_floor_t f;
    memset(&f, 0, sizeof f);
    bool cuda = !strcmp(backend, "cuda");
    int go = want;
    MPI_Bcast(&go, 1, MPI_INT, 0, MPI_COMM_WORLD); /* rank 0 decides: all or none measure */
    f.probe_bytes = bucket_bytes < FLOOR_MAX_PROBE ? bucket_bytes : FLOOR_MAX_PROBE;
    refit_status st = REFIT_OK;
    if (go && cuda) {
        st = rf_floor_measure_cuda(f.probe_bytes, &f);
    } else if (go) {
        uint8_t *a = malloc(f.probe_bytes), *b = malloc(f.probe_bytes);
        int ok = a && b;
        MPI_Allreduce(MPI_IN_PLACE, &ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
        if (ok) measure(a, b, f.probe_bytes, tp, &f);
        else st = rf_error(REFIT_ERR_NOMEM, "floor probe of 2 x %llu bytes", (unsigned long long)f.probe_bytes);
        free(a);
        free(b);
    }
    label(&f, cuda);
    *out = f;
    return st;
}

#ifndef REFIT_HAVE_CUDA
refit_status rf_floor_measure_cuda(uint64_t bytes, rf_floor_t *f) {
    (void)bytes;
    (void)f;
    return rf_error(REFIT_ERR_DEVICE, "this refit was built without CUDA: no cuda floors");
}
#endif
