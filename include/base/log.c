/* Logging: REFIT_LOG level and REFIT_LOG_SUBSYS filter (rf_settings.h), one
 * line per call, prefixed "refit rR/W host:pid subsys:" so interleaved rank
 * output sorts. The rank prefix, the level (read once) and the host name are
 * process-wide: the log is the process's stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rf_common.h"
#include "rf_settings.h"

static int log_rank = -1, log_world = 0;
static int log_level = -1; /* -1: not read from the environment yet */
static char log_host[64];

void rf_log_set_rank(int rank, int world) {
    log_rank = rank;
    log_world = world;
}

int rf_log_rank(void) { return log_rank; }

static void log_init(void) {
    /* choices "error|warn|info|debug" in rf_log_level_t order; a malformed
     * value logs at the default (refit_create reports it as an error) */
    log_level = RF_LOG_ERROR + rf_setting_choice_or_default(RF_SET_LOG);
    if (gethostname(log_host, sizeof log_host) != 0) strcpy(log_host, "?");
    log_host[sizeof log_host - 1] = '\0';
}

static bool subsys_enabled(const char *subsys) {
    const char *list = rf_setting_raw(RF_SET_LOG_SUBSYS);
    if (!list) return true;
    size_t n = strlen(subsys);
    for (const char *p = list; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && !strncmp(p, subsys, n)) return true;
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

void rf_log(rf_log_level_t lvl, const char *subsys, const char *fmt, ...) {
    if (!rf_log_enabled(lvl, subsys)) return;
    char line[1280];
    int off;
    if (log_rank >= 0)
        off = snprintf(line, sizeof line, "refit r%d/%d %s:%d %s: ", log_rank, log_world,
                       log_host, (int)getpid(), subsys);
    else
        off = snprintf(line, sizeof line, "refit %s:%d %s: ", log_host, (int)getpid(), subsys);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + off, sizeof line - (size_t)off, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s\n", line); /* one write per line keeps ranks' lines whole */
}

double rf_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
