/* The transfer plan: every rank derives it from the params alone (the
 * snapshot's), so no per-bucket control message is needed (the plan is
 * the protocol).
 *
 * For each slice group (tp rank) the byte stream is the concatenation, in
 * snapshot order, of every param's rank-local bf16 slice (row-major, vocab
 * padding included). The stream is cut into buckets of `bucket` bytes; a
 * bucket is a list of segments (param, offset in the param, length).
 * Usually every group's stream has the same layout and one table serves
 * all; with expert params under --moe ep (SPEC §3a) the groups hold
 * different numbers of experts, so each group gets its own table. */
#ifndef RF_PLAN_H
#define RF_PLAN_H

#include "model.h"

typedef struct {
    int tp;            /* slice groups: one stream per tensor-parallel rank */
    size_t n_params;
    int n_streams;     /* 1 when all groups' streams are alike, else tp */
    uint64_t *offs;    /* [n_streams][n_params + 1]: stream offset of each param's slice */
    uint64_t *total;   /* [n_streams]: bytes of the stream */
    size_t *n_buckets; /* [n_streams] */
    size_t max_buckets; /* over all groups */
    uint64_t bucket;
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
/* Bytes of group g's stream, its buckets, and param i's slice in it. */
uint64_t rf_plan_total(const rf_plan_t *p, int g);
size_t rf_plan_buckets(const rf_plan_t *p, int g);
uint64_t rf_plan_param_bytes(const rf_plan_t *p, int g, size_t i);
/* Bytes in bucket k of group g (the last one may be short; 0 past the end). */
uint64_t rf_plan_bucket_bytes(const rf_plan_t *p, int g, size_t k);
/* Segments of bucket k of group g, in order; returns how many were written
 * to segs (at most max; call with max = 0 to count). */
size_t rf_plan_segments(const rf_plan_t *p, int g, size_t k, rf_seg_t *segs, size_t max);

/* Iterates the segments of bytes [lo, hi) of bucket k of group g (clipped
 * to it), in order, without an array:
 * for (rf_plan_iter_init(..); rf_plan_iter_next(..);) */
typedef struct {
    const uint64_t *offs;    /* the group's table */
    uint64_t at, end, begin; /* stream offsets */
} rf_plan_iter_t;
void rf_plan_iter_init(const rf_plan_t *p, int g, size_t k, uint64_t lo, uint64_t hi, rf_plan_iter_t *it);
bool rf_plan_iter_next(const rf_plan_t *p, rf_plan_iter_t *it, rf_seg_t *seg);

#endif
