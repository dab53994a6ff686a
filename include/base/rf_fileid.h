/* A file's identity, to notice a file that changes while it is read (a
 * trainer saving into the checkpoint being reloaded): device, inode, size,
 * mtime and ctime with nanoseconds, recorded at open and compared after the
 * last byte was read. Also opening a path only when it is a regular file,
 * so a FIFO, device or socket is refused by name and never blocks. */
#ifndef RF_FILEID_H
#define RF_FILEID_H

#include <stdint.h>

#include "rf_common.h"

typedef struct rf_file_id {
    uint64_t dev, ino, size;
    int64_t mtime_s, mtime_ns, ctime_s, ctime_ns;
} rf_file_id_t;

/* Opens `path` read-only. Refuses anything but a regular file with
 * REFIT_ERR_IO "PATH: not a regular file (fifo)" (the type named: fifo,
 * socket, character device, block device, directory), without blocking:
 * the type is checked before the open and again on the descriptor, and the
 * open itself is non-blocking. *fd and *id are set only on success. */
refit_status rf_open_regular(const char *path, int *fd, rf_file_id_t *id);

/* REFIT_ERR_IO "PATH changed while it was read (what changed)" when the
 * file at `path` (by name: a rename over it counts) or, when fd >= 0, the
 * open file itself (a truncation or an overwrite in place) no longer has
 * identity *id; replaces any earlier error message (rf_err_clear), since a change
 * explains whatever went wrong while reading (a short read). */
refit_status rf_file_id_check(const char *path, int fd, const rf_file_id_t *id);

#endif
