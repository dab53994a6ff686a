/* Rank 0's bucket packing on several threads: one bucket of one slice
 * group's stream is cut into equal byte ranges, each thread copies its range
 * from the mapped checkpoint into the (pinned) bucket. Packing is rank 0's
 * hot loop on the GPU backend: one thread's memcpy (~10 GB/s) is well under
 * a host-to-device link (~55 GB/s). */
#ifndef RF_PACK_POOL_H
#define RF_PACK_POOL_H

#include "source.h"

typedef struct rf_pack_pool rf_pack_pool_t;

/* n_threads workers (>= 1; 1 packs on the calling thread); use_pread: read
 * the files (see rf_pack_slice) rather than copy from the mapping. */
refit_status rf_pack_pool_create(int n_threads, bool use_pread, rf_pack_pool_t **out);
void rf_pack_pool_destroy(rf_pack_pool_t *p);
int rf_pack_pool_threads(const rf_pack_pool_t *p);

/* Packs bucket k of slice group `group` into dst (rf_plan_bucket_bytes(plan, group, k) bytes).
 * The first failure of any thread is returned (the bucket is then incomplete). */
refit_status rf_pack_pool_run(rf_pack_pool_t *p, const rf_param_t *params, const rf_plan_t *plan,
                              const rf_src_t *const *src, int group, size_t k, uint8_t *dst);

#endif
