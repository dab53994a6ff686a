/* Drawing the progress line. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "progress.h"
#include "units.h"

/* Open MPI 4 hands every rank a pseudo-terminal as stdout whatever mpirun's
 * own output is, so isatty() in the rank says nothing about the user's
 * screen. mpirun's pid is in the session directory's name
 * (OMPI_FILE_LOCATION=.../pid.N/...); when that process is an mpirun on
 * this host, its stdout decides. Returns -1 when not known. */
static int ompi_launcher_tty(void) {
    const char *loc = getenv("OMPI_FILE_LOCATION");
    const char *pid = loc ? strstr(loc, "/pid.") : NULL;
    if (!pid) return -1;
    char path[64], comm[32] = "";
    snprintf(path, sizeof path, "/proc/%ld/comm", atol(pid + 5));
    FILE *f = fopen(path, "r");
    if (!f) return -1; /* mpirun runs on another host */
    bool launcher = fgets(comm, sizeof comm, f) &&
                    (!strncmp(comm, "mpirun", 6) || !strncmp(comm, "mpiexec", 7) || !strncmp(comm, "orterun", 7));
    fclose(f);
    if (!launcher) return -1;
    snprintf(path, sizeof path, "/proc/%ld/fd/1", atol(pid + 5));
    struct stat sb;
    if (stat(path, &sb) != 0) return -1;
    char target[64] = "";
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n > 0) target[n] = '\0';
    return S_ISCHR(sb.st_mode) && (!strncmp(target, "/dev/pts/", 9) || !strncmp(target, "/dev/tty", 8));
}

bool rf_progress_wanted(int rank, const char *mode) {
    if (rank != 0 || !strcmp(mode, "off")) return false;
    if (!strcmp(mode, "on")) return true;
    if (!isatty(STDOUT_FILENO)) return false;
    int launcher = ompi_launcher_tty();
    return launcher != 0 && (launcher == 1 || !getenv("OMPI_COMM_WORLD_RANK")); /* unknown under Open MPI: quiet */
}

void rf_progress_draw(const refit_progress *p, void *user) {
    rf_progress_line_t *l = user;
    char done[24], total[24], eta[32] = "";
    double gbps = p->seconds > 0 ? (double)p->bytes_done / p->seconds / 1e9 : 0;
    double pct = p->bytes_total ? 100.0 * (double)p->bytes_done / (double)p->bytes_total : 100.0;
    if (p->bytes_done < p->bytes_total && p->bytes_done > 0)
        snprintf(eta, sizeof eta, "  ETA %.1f s",
                 p->seconds * (double)(p->bytes_total - p->bytes_done) / (double)p->bytes_done);
    int n = fprintf(l->out, "\rrefit: generation %lld %s %s / %s (%.0f%%)  %.2f GB/s%s", (long long)p->generation,
                    refit_phase_name(p->phase), rf_human_bytes(p->bytes_done, done, sizeof done),
                    rf_human_bytes(p->bytes_total, total, sizeof total), pct, gbps, eta);
    if (n > 0 && n - 1 < l->width) fprintf(l->out, "%*s", l->width - (n - 1), ""); /* cover a longer line */
    if (n > 0 && n - 1 > l->width) l->width = n - 1;
    fflush(l->out);
}

void rf_progress_clear(rf_progress_line_t *l) {
    if (!l->width) return;
    fprintf(l->out, "\r%*s\r", l->width, "");
    fflush(l->out);
    l->width = 0;
}
