/* Small whole-file reads (config.json, the checkpoint index, snapshots). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"

/* Reads a whole small file into a malloc'd buffer. */
refit_status rf_read_small(const char *path, size_t limit, char **buf_out, size_t *len_out) {
    refit_status st = REFIT_OK;
    char *buf = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return rf_error(REFIT_ERR_IO, "%s: open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        st = rf_error(REFIT_ERR_IO, "%s: fstat: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(sb.st_mode)) {
        st = rf_error(REFIT_ERR_IO, "%s: not a regular file", path);
        goto out;
    }
    if ((uint64_t)sb.st_size > limit) {
        st = rf_error(REFIT_ERR_FORMAT, "%s: %lld bytes exceeds limit %zu", path,
                      (long long)sb.st_size, limit);
        goto out;
    }
    size_t size = (size_t)sb.st_size, got = 0;
    if (!(buf = malloc(size ? size : 1))) {
        st = rf_error(REFIT_ERR_NOMEM, "%s: out of memory", path);
        goto out;
    }
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            st = rf_error(REFIT_ERR_IO, "%s: read: %s", path, strerror(errno));
            goto out;
        }
        if (r == 0) break;
        got += (size_t)r;
    }
    *buf_out = buf;
    *len_out = got;
    buf = NULL;
out:
    free(buf);
    close(fd);
    return st;
}
