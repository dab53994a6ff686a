/* File identity and regular-file opens (rf_fileid.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rf_fileid.h"

static const char *type_name(mode_t m) {
    if (S_ISFIFO(m)) return "fifo";
    if (S_ISSOCK(m)) return "socket";
    if (S_ISCHR(m)) return "character device";
    if (S_ISBLK(m)) return "block device";
    if (S_ISDIR(m)) return "directory";
    return "not a file";
}

static void id_of(const struct stat *sb, rf_file_id_t *id) {
    *id = (rf_file_id_t){.dev = (uint64_t)sb->st_dev, .ino = (uint64_t)sb->st_ino,
                         .size = (uint64_t)sb->st_size,
                         .mtime_s = (int64_t)sb->st_mtim.tv_sec, .mtime_ns = (int64_t)sb->st_mtim.tv_nsec,
                         .ctime_s = (int64_t)sb->st_ctim.tv_sec, .ctime_ns = (int64_t)sb->st_ctim.tv_nsec};
}

refit_status rf_open_regular(const char *path, int *fd, rf_file_id_t *id) {
    struct stat sb;
    /* stat first: opening a FIFO (even non-blocking, for a writer's end) or
     * a socket is not what we want to do at all */
    if (stat(path, &sb) != 0) return rf_error(REFIT_ERR_IO, "%s: open: %s", path, strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return rf_error(REFIT_ERR_IO, "%s: not a regular file (%s)", path, type_name(sb.st_mode));
    /* O_NONBLOCK: should the name become a FIFO between stat and open, the
     * open still returns at once (fstat then refuses it) */
    int d = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (d < 0) return rf_error(REFIT_ERR_IO, "%s: open: %s", path, strerror(errno));
    if (fstat(d, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        refit_status st = rf_error(REFIT_ERR_IO, "%s: not a regular file (%s)", path,
                                   errno ? strerror(errno) : type_name(sb.st_mode));
        (void)close(d); /* read-only, nothing read: nothing to lose */
        return st;
    }
    id_of(&sb, id);
    *fd = d;
    return REFIT_OK;
}

/* What differs between two identities, for the message; NULL when none. */
static const char *difference(const rf_file_id_t *was, const rf_file_id_t *now) {
    if (was->dev != now->dev || was->ino != now->ino) return "replaced: another inode";
    if (was->size != now->size) return "size changed";
    if (was->mtime_s != now->mtime_s || was->mtime_ns != now->mtime_ns) return "modified";
    if (was->ctime_s != now->ctime_s || was->ctime_ns != now->ctime_ns) return "status changed";
    return NULL;
}

refit_status rf_file_id_check(const char *path, int fd, const rf_file_id_t *id) {
    struct stat sb;
    rf_file_id_t now;
    const char *why = NULL;
    /* by name first: a rename over the file is "replaced", not the old
     * inode's ctime that the unlink touched */
    if (stat(path, &sb) != 0) {
        why = errno == ENOENT ? "removed" : strerror(errno);
    } else {
        id_of(&sb, &now);
        why = difference(id, &now);
    }
    if (!why && fd >= 0) {
        if (fstat(fd, &sb) != 0) return rf_error(REFIT_ERR_IO, "%s: fstat: %s", path, strerror(errno));
        id_of(&sb, &now);
        why = difference(id, &now);
    }
    if (!why) return REFIT_OK;
    rf_err_clear(); /* the change is the cause of whatever failed while reading */
    return rf_error(REFIT_ERR_IO, "%s changed while it was read (%s)", path, why);
}
