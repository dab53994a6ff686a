/* Small whole-file reads (config.json, the checkpoint index, snapshots) and
 * mkdir -p (dumps, synthetic checkpoints). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rf_fileid.h"
#include "rf_fileio.h"

/* Reads a whole small file into a malloc'd buffer. */
refit_status rf_read_small(const char *path, size_t limit, char **buf_out, size_t *len_out) {
    rf_file_id_t id;
    return rf_read_small_id(path, limit, buf_out, len_out, &id);
}

refit_status rf_read_small_id(const char *path, size_t limit, char **buf_out, size_t *len_out, rf_file_id_t *id) {
    refit_status st = REFIT_OK;
    char *buf = NULL;
    size_t got = 0;
    int fd = -1;
    RF_CHECK(rf_open_regular(path, &fd, id)); /* a FIFO is refused by name, never read */
    if (id->size > limit) {
        st = rf_error(REFIT_ERR_FORMAT, "%s: %llu bytes exceeds limit %zu", path, (unsigned long long)id->size,
                      limit);
        goto out;
    }
    size_t size = (size_t)id->size;
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
out:
    if (close(fd) != 0 && st == REFIT_OK) st = rf_error(REFIT_ERR_IO, "%s: close: %s", path, strerror(errno));
    if (st != REFIT_OK) {
        free(buf);
        return st;
    }
    *buf_out = buf;
    *len_out = got;
    return REFIT_OK;
}

refit_status rf_mkdir_p(const char *dir, unsigned mode) {
    char path[4096];
    size_t len = strlen(dir);
    if (len == 0 || len >= sizeof path) return rf_error(REFIT_ERR_INVALID_ARG, "bad directory name '%s'", dir);
    memcpy(path, dir, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (path[i] != '/' && path[i] != '\0') continue;
        char saved = path[i];
        path[i] = '\0';
        if (mkdir(path, (mode_t)mode) != 0) {
            int err = errno;
            struct stat sb;
            if (err != EEXIST) return rf_error(REFIT_ERR_IO, "%s: cannot create directory: %s", path, strerror(err));
            if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode))
                return rf_error(REFIT_ERR_IO, "%s: exists and is not a directory", path);
        }
        path[i] = saved;
    }
    return REFIT_OK;
}
