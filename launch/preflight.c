/* Writability checks of --report and --dump (preflight.h). */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "preflight.h"
#include "rf_fileio.h"

#define MSG 512

/* Creates, writes and removes one small file in dir: what the real write needs. */
static bool try_file(const char *dir, char *why) {
    char path[4096];
    snprintf(path, sizeof path, "%s/.refit-write-test-%ld", dir, (long)getpid());
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(why, MSG, "cannot create a file in %.300s: %s", dir, strerror(errno));
        return false;
    }
    bool ok = write(fd, "x", 1) == 1;
    if (!ok) snprintf(why, MSG, "cannot write a file in %.300s: %s", dir, strerror(errno));
    close(fd);
    unlink(path);
    return ok;
}

static bool make_dir(const char *dir, char *why) {
    rf_err_clear(); /* rf_error keeps the first message */
    if (rf_mkdir_p(dir, 0755) == REFIT_OK) return true;
    snprintf(why, MSG, "%s", rf_err_msg());
    rf_err_clear();
    return false;
}

static bool check_report(const char *path, char *why) {
    struct stat sb;
    if (stat(path, &sb) == 0) {
        if (S_ISDIR(sb.st_mode)) return snprintf(why, MSG, "%.300s is a directory", path), false;
        if (access(path, W_OK) != 0) return snprintf(why, MSG, "cannot write %.300s: %s", path, strerror(errno)), false;
        return true;
    }
    char copy[4096];
    snprintf(copy, sizeof copy, "%s", path);
    const char *dir = dirname(copy);
    if (stat(dir, &sb) != 0) return snprintf(why, MSG, "cannot write into %.300s: %s", dir, strerror(errno)), false;
    return try_file(dir, why);
}

/* Rank 0 prints each distinct failure once, with how many ranks had it. */
static void print_failures(const char *all, int world, const char *what, const char *path) {
    for (int r = 0; r < world; r++) {
        const char *m = all + (size_t)r * MSG;
        bool first = m[0] != '\0';
        for (int q = 0; q < r && first; q++) first = strcmp(all + (size_t)q * MSG, m) != 0;
        if (!first) continue;
        int n = 0;
        for (int q = r; q < world; q++) n += !strcmp(all + (size_t)q * MSG, m);
        if (n > 1) fprintf(stderr, "refit run: %s %s: %s (%d ranks, from rank %d)\n", what, path, m, n, r);
        else fprintf(stderr, "refit run: %s %s: %s (rank %d)\n", what, path, m, r);
    }
}

bool rf_preflight(const char *report, const char *report_who, const char *dump, const char *dump_who) {
    int rank, world;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    char why[MSG] = "";
    int bad = 0;
    if (rank == 0 && report && !check_report(report, why)) {
        fprintf(stderr, "refit run: %s %s: %s\n", report_who, report, why);
        bad = 1;
    }
    if (dump) {
        why[0] = '\0';
        if (make_dir(dump, why)) try_file(dump, why);
        char *all = rank == 0 ? calloc((size_t)world, MSG) : NULL;
        MPI_Gather(why, MSG, MPI_CHAR, all, MSG, MPI_CHAR, 0, MPI_COMM_WORLD);
        if (rank == 0 && all) print_failures(all, world, dump_who, dump);
        free(all);
        bad |= why[0] != '\0';
    }
    MPI_Allreduce(MPI_IN_PLACE, &bad, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    return !bad;
}
