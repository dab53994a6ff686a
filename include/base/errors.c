/* Status names, the per-thread "first cause" error message, and the
 * messages of the foreign-error checks of rf_check.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rf_common.h"

static _Thread_local char err_msg[1024];

const char *refit_status_str(refit_status st) {
    static const char *const names[REFIT_STATUS_COUNT] = {
        [REFIT_OK] = "ok",
        [REFIT_ERR_INVALID_ARG] = "invalid argument",
        [REFIT_ERR_IO] = "i/o error",
        [REFIT_ERR_FORMAT] = "format error",
        [REFIT_ERR_MISMATCH] = "checkpoint does not match snapshot",
        [REFIT_ERR_UNSUPPORTED] = "unsupported",
        [REFIT_ERR_NUMERIC] = "nan or inf in weights",
        [REFIT_ERR_NOMEM] = "out of memory",
        [REFIT_ERR_COMM] = "communication error",
        [REFIT_ERR_DEVICE] = "device error",
        [REFIT_ERR_REMOTE] = "failed on another rank",
        [REFIT_ERR_TIMEOUT] = "timed out",
        [REFIT_ERR_STATE] = "invalid state",
        [REFIT_ERR_INTERNAL] = "internal error",
    };
    if ((int)st < 0 || st >= REFIT_STATUS_COUNT) return "unknown status";
    return names[st];
}

static void format_msg(const char *fmt, va_list ap) {
    int rank = rf_log_rank();
    size_t off = 0;
    if (rank >= 0) off = (size_t)snprintf(err_msg, sizeof err_msg, "rank %d: ", rank);
    if (off >= sizeof err_msg) off = sizeof err_msg - 1;
    vsnprintf(err_msg + off, sizeof err_msg - off, fmt, ap);
}

refit_status rf_error(refit_status code, const char *fmt, ...) {
    if (err_msg[0] == '\0') {
        va_list ap;
        va_start(ap, fmt);
        format_msg(fmt, ap);
        va_end(ap);
    }
    return code;
}

refit_status rf_error_replace(refit_status code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err_msg, sizeof err_msg, fmt, ap); /* verbatim: it names its rank already */
    va_end(ap);
    return code;
}

const char *rf_err_msg(void) { return err_msg; }

void rf_err_clear(void) { err_msg[0] = '\0'; }

refit_status rf_pthread_fail(int rc, const char *what) {
    refit_status code = rc == EAGAIN || rc == ENOMEM ? REFIT_ERR_NOMEM : REFIT_ERR_INTERNAL;
    return rf_error(code, "%s failed: %s", what, strerror(rc));
}

void rf_pthread_must_fail(int rc, const char *what, const char *file, int line) {
    fprintf(stderr, "refit: %s failed at %s:%d: %s\n", what, file, line, strerror(rc));
    abort();
}
