/* Sizes as people read them: decimal units (1 KB = 1000 bytes), as
 * nccl-tests and most HPC tools print them. */
#ifndef RF_UNITS_H
#define RF_UNITS_H

#include <stddef.h>
#include <stdint.h>

/* "512 B", "12.3 KB", "320.0 MB", "16.06 GB"; returns buf. */
const char *rf_human_bytes(uint64_t bytes, char *buf, size_t cap);

#endif
