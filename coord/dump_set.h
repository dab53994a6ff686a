/* A dump directory as one set (issue 14, atomic dump sets): the files of a
 * dump have unique temporary names per job and rank until every rank wrote
 * its own, are renamed into place only after all ranks agreed, and rank 0
 * writes the manifest refit-dump.json last (generation, world, tp, scheme,
 * each file's name, size and content digest, kernels/digest.h over its
 * bytes). A directory whose manifest is missing or disagrees with its files
 * is not a complete set (rf_dump_verify, refit_tool.h). */
#ifndef RF_DUMP_SET_H
#define RF_DUMP_SET_H

#include <stdint.h>

#include "rf_common.h"

#define RF_DUMP_MANIFEST "refit-dump.json"
#define RF_DUMP_SNAPSHOT "snapshot.refit"

/* One file of a dump: where it is written first and where it goes. */
typedef struct {
    char name[64];      /* "rank-00001-of-00002.safetensors" */
    char final[4200];   /* DIR/name */
    char tmp[4300];     /* DIR/.name.tmp.JOB.PID: no other job or rank uses it */
    uint64_t size, digest;
} rf_dump_file_t;

/* Fills the names of `name` in dir for job token `job`. */
void rf_dump_file_init(rf_dump_file_t *f, const char *dir, const char *name, uint64_t job);

/* Size and digest (kernels/digest.h) of the whole file at path. */
refit_status rf_dump_file_digest(const char *path, uint64_t *size, uint64_t *digest);

/* What the manifest records about the set. */
typedef struct {
    int64_t generation;
    int world, tp;
    const char *scheme;
    const rf_dump_file_t *files; /* [n]: every rank's file, then the snapshot */
    size_t n;
} rf_dump_manifest_t;

/* Writes DIR/refit-dump.json through a unique temporary name and a rename. */
refit_status rf_dump_manifest_write(const char *dir, const rf_dump_manifest_t *m, uint64_t job);

/* Rank 0's hold on the directory for the length of a dump: an exclusive
 * flock on DIR/.refit-dump.lock, waited for at most `wait_s` seconds, so the
 * renames and manifests of two jobs dumping into one directory never
 * interleave. REFIT_ERR_IO naming the directory when another job holds it. */
refit_status rf_dump_lock(const char *dir, double wait_s, int *fd);
void rf_dump_unlock(int fd);

#endif
