/* Test hook of `refit run` (run_test_hook.h). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "rf_common.h"
#include "run_test_hook.h"

void rf_run_test_stop(const char *point) {
    const char *want = getenv("RF_TEST_STOP_AT");
    if (!want) return;
    char me[96];
    snprintf(me, sizeof me, "%d:%s", rf_log_rank(), point);
    if (strcmp(want, me) != 0) return;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    fprintf(stderr, "refit: rank %d: RF_TEST_STOP_AT: stopping at %s, at %ld.%06ld\n", rf_log_rank(), point,
            (long)tv.tv_sec, (long)tv.tv_usec);
    fflush(stderr);
    raise(SIGSTOP); /* until mpirun's SIGCONT at the end of the job */
}
