/* The floor each report figure is held against (DESIGN: measure against the
 * floor): bytes over the bandwidth of the tightest link, measured in the
 * same run, once at start. Host backend: the data plane is MPI_Bcast
 * inside slice groups, so the link is one bucket broadcast from rank 0 over
 * one slice group (rank 0 + the dp ranks of one tp rank; a group of one
 * has no link: its transfer is held against memcpy); the local
 * passes (quantize reads each bf16 byte once, commit copies the shadow)
 * are held against one thread's memcpy. The CUDA backend's links
 * (host-to-device, NCCL, HBM) are its own to measure: here they stay
 * "unmeasured" rather than borrow a host number. */
#ifndef RF_FLOOR_H
#define RF_FLOOR_H

#include <stdbool.h>
#include <stdint.h>

#include "refit.h"

typedef struct {
    uint64_t probe_bytes;   /* one bucket, as the data plane moves it */
    int group_size;         /* ranks of the slice group the broadcast was timed over */
    double bcast_gbps;      /* best of 5 MPI_Bcast of probe_bytes over it (algbw, 1e9) */
    double memcpy_gbps;     /* best of 5 single-thread memcpy of probe_bytes */
    bool measured;
    /* per phase: what the floor is (a label) and its bandwidth (0: none) */
    const char *kind[REFIT_PHASE_COUNT];
    double gbps[REFIT_PHASE_COUNT];
} rf_floor_t;

/* Collective on MPI_COMM_WORLD (tp as the context has it). Measures when rank 0's `want` is set and
 * the backend is "host"; otherwise every phase's kind is "unmeasured" (or
 * "none" for phases that move no bytes over a link). */
refit_status rf_floor_measure(bool want, const char *backend, uint64_t bucket_bytes, int tp, rf_floor_t *out);

#endif
