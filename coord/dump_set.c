/* Dump sets: file names, digests of written files, the manifest and the
 * directory lock (dump_set.h). */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "digest.h"
#include "dump_set.h"

void rf_dump_file_init(rf_dump_file_t *f, const char *dir, const char *name, uint64_t job) {
    memset(f, 0, sizeof *f);
    snprintf(f->name, sizeof f->name, "%s", name);
    snprintf(f->final, sizeof f->final, "%s/%s", dir, name);
    snprintf(f->tmp, sizeof f->tmp, "%s/.%s.tmp.%016llx.%ld", dir, name, (unsigned long long)job, (long)getpid());
}

refit_status rf_dump_file_digest(const char *path, uint64_t *size, uint64_t *digest) {
    enum { PIECE = 1 << 20 };
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return rf_error(REFIT_ERR_IO, "%s: open: %s", path, strerror(errno));
    rf_digest_t *d = NULL;
    uint8_t *buf = malloc(PIECE);
    refit_status st = buf ? rf_digest_new(&d) : rf_error(REFIT_ERR_NOMEM, "%s: digest buffer", path);
    for (;;) {
        if (st != REFIT_OK) break;
        ssize_t got = read(fd, buf, PIECE);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) st = rf_error(REFIT_ERR_IO, "%s: read: %s", path, strerror(errno));
        if (got <= 0) break;
        st = rf_digest_update(d, buf, (uint64_t)got);
    }
    if (st == REFIT_OK) {
        *size = rf_digest_length(d);
        *digest = rf_digest_value(d);
    }
    rf_digest_free(d);
    free(buf);
    (void)close(fd); /* read-only: nothing to lose */
    return st;
}

static json_t *manifest_json(const rf_dump_manifest_t *m) {
    json_t *files = json_array(), *root = json_object();
    char hex[24];
    for (size_t i = 0; files && i < m->n; i++) {
        snprintf(hex, sizeof hex, "%016llx", (unsigned long long)m->files[i].digest);
        json_array_append_new(files, json_pack("{s:s, s:I, s:s}", "name", m->files[i].name, "size",
                                               (json_int_t)m->files[i].size, "digest", hex));
    }
    if (!root || !files) {
        json_decref(root);
        json_decref(files);
        return NULL;
    }
#ifdef REFIT_VERSION_STRING
    json_object_set_new(root, "refit_version", json_string(REFIT_VERSION_STRING));
#endif
    json_object_set_new(root, "format", json_string("refit-dump/1"));
    json_object_set_new(root, "generation", json_integer(m->generation));
    json_object_set_new(root, "world", json_integer(m->world));
    json_object_set_new(root, "tp", json_integer(m->tp));
    json_object_set_new(root, "scheme", json_string(m->scheme));
    json_object_set_new(root, "digest", json_string("xxh64-tree-64k"));
    json_object_set_new(root, "files", files);
    return root;
}

refit_status rf_dump_manifest_write(const char *dir, const rf_dump_manifest_t *m, uint64_t job) {
    rf_dump_file_t f;
    rf_dump_file_init(&f, dir, RF_DUMP_MANIFEST, job);
    json_t *root = manifest_json(m);
    if (!root) return rf_error(REFIT_ERR_NOMEM, "%s: out of memory", f.final);
    int rc = json_dump_file(root, f.tmp, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (rc != 0 || rename(f.tmp, f.final) != 0) {
        refit_status st = rf_error(REFIT_ERR_IO, "%s: cannot write the manifest: %s", f.final, strerror(errno));
        (void)unlink(f.tmp); /* what is left of it is garbage either way */
        return st;
    }
    return REFIT_OK;
}

refit_status rf_dump_lock(const char *dir, double wait_s, int *fd) {
    char path[4200];
    snprintf(path, sizeof path, "%s/.refit-dump.lock", dir);
    int d = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (d < 0) return rf_error(REFIT_ERR_IO, "%s: open: %s", path, strerror(errno));
    double end = rf_now() + wait_s;
    while (flock(d, LOCK_EX | LOCK_NB) != 0) {
        if ((errno != EWOULDBLOCK && errno != EINTR) || rf_now() >= end) {
            refit_status st = rf_error(REFIT_ERR_IO, "%s: another job is dumping into this directory (%s held "
                                       "for more than %.0f s)", dir, path, wait_s);
            (void)close(d); /* nothing was written through it */
            return st;
        }
        nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
    }
    *fd = d;
    return REFIT_OK;
}

void rf_dump_unlock(int fd) {
    if (fd >= 0) (void)close(fd); /* closing releases the flock; the lock file holds no data */
}
