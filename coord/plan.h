/* The transfer plan: every rank derives it from the snapshot alone, so no
 * per-bucket control message is needed (the plan is the protocol).
 *
 * For each slice group (tp rank) the byte stream is the concatenation, in
 * snapshot order, of every param's rank-local bf16 slice (row-major, vocab
 * padding included). The stream is cut into buckets of `bucket` bytes; a
 * bucket is a list of segments (param, offset in the param, length). */
#ifndef RF_PLAN_H
#define RF_PLAN_H

#include "snapshot.h"

typedef struct {
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

/* `bucket` is rounded down to a multiple of 4 KiB (and at least 4 KiB). */
refit_status rf_plan_build(const rf_snap_t *s, uint64_t bucket, rf_plan_t *out);
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

/* Where one source tensor's bf16 bytes are on rank 0: mapped at `ptr`,
 * and at byte `off` of the open file `fd`. */
typedef struct {
    const uint8_t *ptr;
    int fd;
    uint64_t off;
} rf_src_t;

/* Copies local bf16 elements [elem0, elem0 + n) of param `p` on tensor-
 * parallel rank `tp_rank` from its source tensors into dst; padding rows
 * become zeros. Runs that are contiguous in the source are copied at once.
 * use_pread: read with pread(2) from the files instead of copying from the
 * mapping — no page faults and nothing to unmap for rank 0's hot path.
 * REFIT_ERR_IO naming the file offset when a read comes up short. */
refit_status rf_pack_slice(const rf_param_t *p, const rf_src_t src[RF_MAX_PARTS], int tp, int tp_rank,
                           uint64_t elem0, uint64_t n, bool use_pread, uint8_t *dst);

#endif
