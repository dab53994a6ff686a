/* Small file helpers: bounded whole-file reads (a hostile file cannot
 * exhaust memory) and mkdir -p. */
#ifndef RF_FILEIO_H
#define RF_FILEIO_H

#include <stddef.h>

#include "rf_common.h"

/* Reads all of the regular file `path` (at most `limit` bytes, else
 * REFIT_ERR_FORMAT) into a malloc'd buffer; the caller frees *buf_out.
 * Errors name the path and the cause. */
refit_status rf_read_small(const char *path, size_t limit, char **buf_out, size_t *len_out);
/* The same, also giving the identity of the file read (rf_fileid.h). */
struct rf_file_id;
refit_status rf_read_small_id(const char *path, size_t limit, char **buf_out, size_t *len_out,
                              struct rf_file_id *id);

/* mkdir -p: creates each missing component of `dir` with `mode`; an
 * existing directory is fine. REFIT_ERR_IO naming the component otherwise. */
refit_status rf_mkdir_p(const char *dir, unsigned mode);

#endif
