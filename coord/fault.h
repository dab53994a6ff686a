/* Fault injection for tests, off unless REFIT_FAULT is set:
 *   REFIT_FAULT=RANK:PHASE:KIND[:GEN]
 * PHASE: open, snapshot, restore, transfer, quantize, commit; KIND: error
 * (the step returns an error), crash (the process aborts), hang (the
 * process stops responding), nomem (restore only: an allocation of R2
 * fails, part way through the params), pause (the rank waits at the point
 * until the file REFIT_FAULT_RESUME names exists, then goes on: a test
 * changes the world at a known moment, e.g. rewrites a checkpoint while
 * rank 0 is between two buckets), corrupt (transfer only: one byte of the
 * first slice the rank receives is flipped before --verify digests it; host
 * backend); GEN: the generation whose load it
 * hits (default 1). The coordinator calls rf_fault_point() where each phase
 * starts on every rank (transfer and quantize: where the first param's
 * slice lands / is quantized, so a fault hits mid-transfer) and
 * rf_fault_alloc_point() at R2's allocation of its middle param.
 * Backend-neutral: the points sit in coord/, whichever backend moves the
 * bytes. */
#ifndef RF_FAULT_H
#define RF_FAULT_H

#include "rf_common.h"

typedef enum {
    RF_FAULT_NONE = 0, RF_FAULT_ERROR, RF_FAULT_CRASH, RF_FAULT_HANG, RF_FAULT_NOMEM,
    RF_FAULT_PAUSE, RF_FAULT_CORRUPT /* the last kind: the parser counts up to it */
} rf_fault_kind_t;

typedef struct {
    rf_fault_kind_t kind; /* NONE: no fault configured */
    int rank;
    refit_phase phase;
    int64_t generation;
    bool fired;           /* an error fires once: a retry of the same load then succeeds */
    char spec[64];        /* as given, for messages */
    char resume[1024];    /* pause: the file whose existence lets the rank go on (REFIT_FAULT_RESUME) */
} rf_fault_t;

/* Parses a spec; NULL or "" is no fault. REFIT_ERR_INVALID_ARG with the
 * expected syntax on anything else that is malformed. */
refit_status rf_fault_parse(const char *spec, rf_fault_t *out);
/* REFIT_FAULT from the environment, checked against the world size. */
refit_status rf_fault_from_env(int world, rf_fault_t *out);
const char *rf_fault_kind_name(rf_fault_kind_t k);

/* Called by rank `rank` as phase `ph` of generation `gen` starts. When the
 * fault matches: error -> returns REFIT_ERR_INTERNAL "injected fault: ..."
 * naming the phase and `what` (param or file, may be NULL), once; crash ->
 * abort(); hang -> never returns; pause -> returns REFIT_OK once the resume
 * file exists (the watchdog still bounds the wait). Otherwise REFIT_OK. */
refit_status rf_fault_point(rf_fault_t *f, int rank, refit_phase ph, int64_t gen, const char *what);
/* Called by rank `rank` at an allocation of R2 in generation `gen`: when a
 * nomem fault matches, returns REFIT_ERR_NOMEM "injected fault: nomem ..."
 * naming `what`, once. Otherwise REFIT_OK. */
refit_status rf_fault_alloc_point(rf_fault_t *f, int rank, int64_t gen, const char *what);
/* Called by rank `rank` as a slice of generation `gen` lands: true, once,
 * when a corrupt fault matches (the caller flips a byte). */
bool rf_fault_corrupt_point(rf_fault_t *f, int rank, int64_t gen, const char *what);

#endif
