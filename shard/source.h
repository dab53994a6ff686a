/* Where a param's bytes are in a source, and packing them: the packing
 * rank resolves every part of every param in the source's manifest
 * (manifest.h) to an open file and offset or a pointer (rf_sources_open),
 * then copies rank-local slices out of them into the buckets of the
 * transfer plan (rf_pack_slice, rf_pack_bucket), converting F16/F32 to
 * bf16 (SPEC §1) on the way. */
#ifndef RF_SOURCE_H
#define RF_SOURCE_H

#include "checkpoint.h"
#include "plan.h"

/* How a source tensor's elements become bf16 (SPEC §1): 0 = they are bf16
 * already (copied verbatim); F16 widens exactly, F32 rounds to nearest
 * even; a value not finite after the conversion is an error naming the
 * tensor and the file. */
typedef enum { RF_CONV_BF16 = 0, RF_CONV_F16, RF_CONV_F32 } rf_conv_t;

/* Where one source tensor's bytes are on the rank that packs it: at byte
 * `off` of the open file `fd` (the checkpoint's own descriptor, named
 * `file`), or in memory at `ptr` (an image parsed from memory, or a memory
 * source's tensor; NULL for a file). `device`: ptr is device memory of this
 * rank's GPU (cuda backend only: packed with device copies, never by the
 * CPU). `tensor` names it in errors (may be NULL). */
typedef struct {
    const uint8_t *ptr;
    int fd;
    uint64_t off;
    const char *file;
    const char *tensor;
    rf_conv_t conv;
    bool device;
} rf_src_t;

/* Bytes per source element of a conversion (2 for bf16 and f16, 4 for f32). */
static inline uint64_t rf_conv_size(rf_conv_t c) { return c == RF_CONV_F32 ? 4u : 2u; }

/* Every source slot (rf_param_source: every part, for expert params every
 * expert's) of params[0, n) in an open checkpoint; the descriptors are the
 * checkpoint's (valid until rf_ckpt_close). */
typedef struct {
    const rf_src_t **src; /* [n]: param i's slots, src[i][slot] */
    rf_src_t *slots;      /* all of them, param after param */
} rf_sources_t;

struct rf_manifest; /* manifest.h */

/* Resolves every slot of params[0, n) in a source's manifest (checked
 * against the snapshot first); the slots borrow the manifest's strings,
 * pointers and descriptors. REFIT_ERR_MISMATCH "WHERE: tensor NAME
 * missing" for a part the manifest lacks. On failure *out holds nothing
 * to close. */
refit_status rf_sources_open(const struct rf_manifest *m, const rf_param_t *params, size_t n, rf_sources_t *out);
/* Frees the table; a zeroed table is fine. */
void rf_sources_close(rf_sources_t *s);

/* Copies local bf16 elements [elem0, elem0 + n) of param `p` on tensor-
 * parallel rank `tp_rank` from its source slots `src` into dst (under --moe
 * ep only that rank's experts, under tp only its intermediate slices of
 * every expert, SPEC §3a); padding rows
 * become zeros. Runs that are contiguous in the source are copied at once.
 * use_pread: read with pread(2) from the files even where an image in memory
 * is at hand (a source without `ptr` is always read with pread, a source
 * without a file always from ptr). F16/F32 sources are converted (SPEC §1):
 * REFIT_ERR_NUMERIC naming tensor and file for a value not finite after
 * it. Host memory only (no src[].device).
 * REFIT_ERR_IO naming the file and offset when a read comes up short. */
refit_status rf_pack_slice(const rf_param_t *p, const rf_src_t *src, int tp, int tp_rank, uint64_t elem0, uint64_t n,
                           bool use_pread, uint8_t *dst);

/* Packs bytes [lo, hi) (2-byte aligned: whole bf16 elements) of bucket k
 * of slice group `group`'s stream into the same bytes of the bucket at dst:
 * each segment of the plan there from its param's sources. */
refit_status rf_pack_bucket(const rf_plan_t *plan, const rf_param_t *params, const rf_src_t *const *src, int group,
                            size_t k, uint64_t lo, uint64_t hi, bool use_pread, uint8_t *dst);

/* One run of a bucket: n elements from element src_elem of source tensor
 * src (NULL: n zeros, vocab padding) to bf16 byte dst_byte of the bucket. */
typedef refit_status (*rf_run_fn)(void *user, const rf_src_t *src, uint64_t src_elem, uint64_t n, uint64_t dst_byte);
/* The runs that make bytes [lo, hi) of bucket k of group `group`'s stream,
 * in order, each source-contiguous: what rf_pack_bucket copies, for a packer
 * that copies otherwise (the cuda backend's device copies of device memory). */
refit_status rf_bucket_runs(const rf_plan_t *plan, const rf_param_t *params, const rf_src_t *const *src, int group,
                            size_t k, uint64_t lo, uint64_t hi, rf_run_fn fn, void *user);

/* SPEC §1: n F16/F32 elements of src at `in` (host memory) to bf16 at dst;
 * in[0] is element `first` of the tensor (named in the error).
 * REFIT_ERR_NUMERIC "tensor T of file F: element E is inf after conversion
 * from F32 to BF16" for a value not finite after it. */
refit_status rf_convert_bf16(const rf_src_t *src, const void *in, uint64_t n, uint64_t first, void *dst);

#endif
