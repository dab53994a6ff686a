/* Logging: REFIT_LOG level and REFIT_LOG_SUBSYS filter (rf_settings.h), one
 * line per call, prefixed "refit rR/W host:pid subsys:" so interleaved rank
 * output sorts; info and debug lines start with the wall-clock time and say
 * INFO/DEBUG. REFIT_LOG_FILE sends the lines to a file instead of stderr
 * (%h host, %p pid: one file per process, as NCCL_DEBUG_FILE). The rank
 * prefix, the level and the file (read once) and the host name are
 * process-wide. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "rf_common.h"
#include "rf_settings.h"

static int log_rank = -1, log_world = 0;
static int log_level = -1; /* -1: not read from the environment yet */
static char log_host[64];
static FILE *log_out; /* stderr or REFIT_LOG_FILE */

void rf_log_set_rank(int rank, int world) {
    log_rank = rank;
    log_world = world;
}

int rf_log_rank(void) { return log_rank; }

/* REFIT_LOG_FILE with %h -> host name and %p -> process id; stderr when
 * unset or when the file cannot be opened (said once there). */
static FILE *open_log_file(void) {
    const char *pat = rf_setting_raw(RF_SET_LOG_FILE);
    if (!pat) return stderr;
    char path[4096];
    size_t o = 0;
    for (const char *p = pat; *p && o + 1 < sizeof path; p++) {
        if (p[0] == '%' && (p[1] == 'h' || p[1] == 'p')) {
            int n = p[1] == 'h' ? snprintf(path + o, sizeof path - o, "%s", log_host)
                                : snprintf(path + o, sizeof path - o, "%ld", (long)getpid());
            o = n < 0 ? o : o + (size_t)n < sizeof path ? o + (size_t)n : sizeof path - 1;
            p++;
        } else {
            path[o++] = *p;
        }
    }
    path[o] = '\0';
    FILE *f = fopen(path, "a");
    if (!f) {
        fprintf(stderr, "refit %s:%d: REFIT_LOG_FILE %s: cannot open: %m; logging to stderr\n", log_host,
                (int)getpid(), path);
        return stderr;
    }
    setvbuf(f, NULL, _IOLBF, 0); /* whole lines, in order, even if the process dies */
    return f;
}

static void log_init(void) {
    /* choices "error|warn|info|debug" in rf_log_level_t order; a malformed
     * value logs at the default (refit_create reports it as an error) */
    log_level = RF_LOG_ERROR + rf_setting_choice_or_default(RF_SET_LOG);
    if (gethostname(log_host, sizeof log_host) != 0) strcpy(log_host, "?");
    log_host[sizeof log_host - 1] = '\0';
    log_out = open_log_file();
}

static bool subsys_enabled(const char *subsys) {
    const char *list = rf_setting_raw(RF_SET_LOG_SUBSYS);
    if (!list) return true;
    size_t n = strlen(subsys);
    for (const char *p = list; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if ((len == n && !strncmp(p, subsys, n)) || (len == 3 && !strncmp(p, "all", 3))) return true;
        if (!end) break;
        p = end + 1;
    }
    return false;
}

bool rf_log_enabled(rf_log_level_t lvl, const char *subsys) {
    if (log_level < 0) log_init();
    if ((int)lvl > log_level) return false;
    return lvl <= RF_LOG_WARN || subsys_enabled(subsys);
}

/* "2026-12-02 13:04:09.123 " (local time) */
static int timestamp(char *buf, size_t cap) {
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    localtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(buf, cap, "%Y-%m-%d %H:%M:%S", &tm);
    return (int)n + snprintf(buf + n, cap - n, ".%03d ", (int)(tv.tv_usec / 1000));
}

void rf_log(rf_log_level_t lvl, const char *subsys, const char *fmt, ...) {
    if (!rf_log_enabled(lvl, subsys)) return;
    char line[1280];
    int off = lvl >= RF_LOG_INFO ? timestamp(line, sizeof line) : 0;
    const char *tag = lvl >= RF_LOG_INFO ? (lvl == RF_LOG_DEBUG ? " DEBUG" : " INFO") : "";
    if (log_rank >= 0)
        off += snprintf(line + off, sizeof line - (size_t)off, "refit r%d/%d %s:%d%s %s: ", log_rank, log_world,
                        log_host, (int)getpid(), tag, subsys);
    else
        off += snprintf(line + off, sizeof line - (size_t)off, "refit %s:%d%s %s: ", log_host, (int)getpid(), tag,
                        subsys);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + off, sizeof line - (size_t)off, fmt, ap);
    va_end(ap);
    fprintf(log_out, "%s\n", line); /* one write per line keeps ranks' lines whole */
}

double rf_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
