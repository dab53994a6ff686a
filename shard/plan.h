/* The transfer plan: every rank derives it from the params alone (the
 * snapshot's), so no per-bucket control message is needed (the plan is
 * the protocol).
 *
 * For each slice group (tp rank) the byte stream is the concatenation, in
 * snapshot order, of every param's rank-local bf16 slice (row-major, vocab
 * padding included). The stream is cut into buckets of `bucket` bytes; a
 * bucket is a list of segments (param, offset in the param, length). */
#ifndef RF_PLAN_H
#define RF_PLAN_H

#include "model.h"

typedef struct {
    int tp;         /* slice groups: one stream per tensor-parallel rank */
    size_t n_params;
    uint64_t *offs; /* [n_params + 1]: stream offset of each param's slice */
    uint64_t total; /* bytes of one group's stream */
    uint64_t bucket;
    size_t n_buckets;
} rf_plan_t;

typedef struct {
    size_t param;
    uint64_t param_off;  /* byte offset inside the param's local bf16 slice */
    uint64_t bucket_off; /* byte offset inside the bucket */
    uint64_t len;
} rf_seg_t;

/* The plan of params[0, n) (rank-local shapes at tensor-parallel size tp).
 * `bucket` is rounded down to a multiple of 4 KiB (and at least 4 KiB). */
refit_status rf_plan_build(const rf_param_t *params, size_t n, int tp, uint64_t bucket, rf_plan_t *out);
void rf_plan_free(rf_plan_t *p);
/* Bytes in bucket k (the last one may be short). */
uint64_t rf_plan_bucket_bytes(const rf_plan_t *p, size_t k);
/* Segments of bucket k, in order; returns how many were written to segs
 * (at most max; call with max = 0 to count). */
size_t rf_plan_segments(const rf_plan_t *p, size_t k, rf_seg_t *segs, size_t max);

/* Iterates the segments of bytes [lo, hi) of bucket k (clipped to it), in
 * order, without an array: for (rf_plan_iter_init(..); rf_plan_iter_next(..);) */
typedef struct {
    uint64_t at, end, begin; /* stream offsets */
} rf_plan_iter_t;
void rf_plan_iter_init(const rf_plan_t *p, size_t k, uint64_t lo, uint64_t hi, rf_plan_iter_t *it);
bool rf_plan_iter_next(const rf_plan_t *p, rf_plan_iter_t *it, rf_seg_t *seg);

#endif
