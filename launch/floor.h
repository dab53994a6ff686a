/* The floor each report figure is held against (DESIGN: measure against the
 * floor): bytes over the bandwidth of the tightest link, measured in the
 * same run, once at start, when --report is given.
 *
 * host backend: the data plane is MPI_Bcast inside slice groups, so the
 * link is one bucket broadcast from rank 0 over one slice group (rank 0 +
 * the dp ranks of one tp rank; a group of one has no link: its transfer is
 * held against memcpy); the local passes (quantize reads each bf16 byte
 * once, commit copies the shadow) are held against one thread's memcpy.
 *
 * cuda backend (launch/floor_cuda.c, as bench/floors.c measures them): a
 * pinned host-to-device copy of one bucket on rank 0 alone, an NCCL
 * broadcast of one bucket from rank 0 to every rank (world > 1), and a
 * device-to-device copy (read + write counted). Rank 0's transfer is held
 * against the slower of host-to-device and NCCL; quantize and commit
 * against the device copy. */
#ifndef RF_FLOOR_H
#define RF_FLOOR_H

#include <stdbool.h>
#include <stdint.h>

#include "refit.h"

typedef struct {
    uint64_t probe_bytes;   /* one bucket, as the data plane moves it */
    int group_size;         /* host: ranks of the slice group the broadcast was timed over */
    bool measured;
    /* host: best of 5 MPI_Bcast over the group (algbw, 1e9) and single-thread memcpy */
    double bcast_gbps, memcpy_gbps;
    /* cuda: median of 5 pinned host->device on rank 0, NCCL broadcast algbw, device copy */
    double h2d_gbps, nccl_gbps, d2d_gbps;
    /* per phase: what the floor is (a label) and its bandwidth (0: none) */
    const char *kind[REFIT_PHASE_COUNT];
    double gbps[REFIT_PHASE_COUNT];
} rf_floor_t;

/* Collective on MPI_COMM_WORLD (tp as the context has it). Measures when
 * rank 0's `want` is set; otherwise every phase's kind is "unmeasured" (or
 * "none" for phases that move no bytes over a link). */
refit_status rf_floor_measure(bool want, const char *backend, uint64_t bucket_bytes, int tp, rf_floor_t *out);
/* The cuda backend's floors (floor_cuda.c): fills h2d/nccl/d2d_gbps.
 * Collective; REFIT_ERR_DEVICE in a build without CUDA. */
refit_status rf_floor_measure_cuda(uint64_t bytes, rf_floor_t *f);

#endif
