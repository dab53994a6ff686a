/* The first difference between two snapshots' models, for the message of a
 * reload whose config.json no longer describes the recorded model. */
#ifndef RF_CONFIG_DIFF_H
#define RF_CONFIG_DIFF_H

#include <stddef.h>

#include "snapshot.h"

/* "hidden_size 256 vs snapshot 320" (config.json's field name, the new
 * checkpoint's value first); else the first param whose name, layout or
 * shape differs; never empty. */
void rf_snap_describe_diff(const rf_snap_t *cand, const rf_snap_t *snap, char *out, size_t cap);

#endif
