/* Logging: REFIT_LOG level and REFIT_LOG_SUBSYS filter, one line per call,
 * prefixed "refit rR/W host:pid subsys:" so interleaved rank output sorts;
 * info and debug lines start with the wall-clock time. REFIT_LOG_FILE sends
 * the lines to a file (%h host, %p pid: one file per rank, as NCCL_DEBUG_FILE). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "rf_common.h"

static int log_rank = -1, log_world = 0;
static int log_level = -1; /* -1: not read from the environment yet */
static char log_host[64];
static FILE *log_out;      /* stderr or REFIT_LOG_FILE */

static const char *const level_names[] = {"error", "warn", "info", "debug"};
static const char *const subsystems[] = {"snap", "io", "comm", "kern", "launch", "fault"};
#define N_SUBSYS (sizeof subsystems / sizeof subsystems[0])

void rf_log_set_rank(int rank, int world) {
    log_rank = rank;
    log_world = world;
}

int rf_log_rank(void) { return log_rank; }

/* -1 when REFIT_LOG holds no level name. */
static int parse_level(const char *lv) {
    if (!lv || !*lv) return RF_LOG_WARN;
    for (int i = 0; i < 4; i++)
        if (!strcmp(lv, level_names[i])) return i;
    return -1;
}

/* The first word of REFIT_LOG_SUBSYS that names no subsystem, or NULL. */
static const char *bad_subsys(char *word, size_t cap) {
    const char *list = getenv("REFIT_LOG_SUBSYS");
    for (const char *p = list ? list : ""; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        bool known = len == 3 && !strncmp(p, "all", 3);
        for (size_t i = 0; i < N_SUBSYS && !known; i++) known = strlen(subsystems[i]) == len && !strncmp(p, subsystems[i], len);
        if (!known) {
            snprintf(word, cap, "%.*s", (int)len, p);
            return word;
        }
        if (!end) break;
        p = end + 1;
    }
    return NULL;
}

refit_status rf_log_check(void) {
    const char *lv = getenv("REFIT_LOG");
    if (parse_level(lv) < 0)
        return rf_error(REFIT_ERR_INVALID_ARG, "REFIT_LOG: '%s' is not one of error, warn, info, debug", lv);
    char word[64];
    if (bad_subsys(word, sizeof word))
        return rf_error(REFIT_ERR_INVALID_ARG,
                        "REFIT_LOG_SUBSYS: '%s' is not one of all, snap, io, comm, kern, launch, fault", word);
    return REFIT_OK;
}

/* REFIT_LOG_FILE with %h -> host name and %p -> process id. */
static void open_log_file(void) {
    const char *pat = getenv("REFIT_LOG_FILE");
    if (!pat || !*pat) return;
    char path[4096];
    size_t o = 0;
    for (const char *p = pat; *p && o + 1 < sizeof path; p++) {
        if (p[0] == '%' && (p[1] == 'h' || p[1] == 'p')) {
            int n = p[1] == 'h' ? snprintf(path + o, sizeof path - o, "%s", log_host)
                                : snprintf(path + o, sizeof path - o, "%ld", (long)getpid());
            o += n > 0 ? (size_t)n : 0;
            if (o >= sizeof path) o = sizeof path - 1;
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
        return;
    }
    setvbuf(f, NULL, _IOLBF, 0); /* whole lines, in order, even if the process dies */
    log_out = f;
}

static void log_init(void) {
    const char *lv = getenv("REFIT_LOG");
    log_level = parse_level(lv);
    if (gethostname(log_host, sizeof log_host) != 0) strcpy(log_host, "?");
    log_host[sizeof log_host - 1] = '\0';
    log_out = stderr;
    open_log_file();
    if (log_level < 0) { /* the command refuses it (rf_log_check); a library user is told once */
        log_level = RF_LOG_WARN;
        fprintf(log_out, "refit %s:%d: REFIT_LOG='%s' is not one of error, warn, info, debug: using warn\n",
                log_host, (int)getpid(), lv);
    }
}

static bool subsys_enabled(const char *subsys) {
    const char *list = getenv("REFIT_LOG_SUBSYS");
    if (!list || !*list) return true;
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

/* "2025-01-31 12:34:56.789 " (local time) */
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
