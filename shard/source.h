/* Where a param's bf16 bytes are in a checkpoint, and packing them: rank 0
 * resolves every part of every param to an open file and offset
 * (rf_sources_open), then copies rank-local slices out of them into the
 * buckets of the transfer plan (rf_pack_slice, rf_pack_bucket). */
#ifndef RF_SOURCE_H
#define RF_SOURCE_H

#include "checkpoint.h"
#include "plan.h"

/* Where one source tensor's bf16 bytes are on rank 0: at byte `off` of
 * the open file `fd` (the checkpoint's own descriptor, named `file`), or in
 * memory at `ptr` (an image parsed from memory; NULL for a file). */
typedef struct {
    const uint8_t *ptr;
    int fd;
    uint64_t off;
    const char *file;
} rf_src_t;

/* Every source slot (rf_param_source: every part, for expert params every
 * expert's) of params[0, n) in an open checkpoint; the descriptors are the
 * checkpoint's (valid until rf_ckpt_close). */
typedef struct {
    const rf_src_t **src; /* [n]: param i's slots, src[i][slot] */
    rf_src_t *slots;      /* all of them, param after param */
} rf_sources_t;

/* REFIT_ERR_MISMATCH for a part the checkpoint lacks, REFIT_ERR_IO naming
 * the file it cannot open. On failure *out holds nothing to close. */
refit_status rf_sources_open(const rf_ckpt_t *c, const rf_param_t *params, size_t n, rf_sources_t *out);
/* Frees the table; a zeroed table is fine. */
void rf_sources_close(rf_sources_t *s);

/* Copies local bf16 elements [elem0, elem0 + n) of param `p` on tensor-
 * parallel rank `tp_rank` from its source slots `src` into dst (under --moe
 * ep only that rank's experts, under tp only its intermediate slices of
 * every expert, SPEC §3a); padding rows
 * become zeros. Runs that are contiguous in the source are copied at once.
 * use_pread: read with pread(2) from the files even where an image in memory
 * is at hand (a source without `ptr` is always read with pread).
 * REFIT_ERR_IO naming the file and offset when a read comes up short. */
refit_status rf_pack_slice(const rf_param_t *p, const rf_src_t *src, int tp, int tp_rank, uint64_t elem0, uint64_t n,
                           bool use_pread, uint8_t *dst);

/* Packs bytes [lo, hi) (2-byte aligned: whole bf16 elements) of bucket k
 * of slice group `group`'s stream into the same bytes of the bucket at dst:
 * each segment of the plan there from its param's sources. */
refit_status rf_pack_bucket(const rf_plan_t *plan, const rf_param_t *params, const rf_src_t *const *src, int group,
                            size_t k, uint64_t lo, uint64_t hi, bool use_pread, uint8_t *dst);

#endif
