/* The base layer's core, shared by every layer: error recording, logging,
 * checked size arithmetic, the clock. Not part of the public API (only
 * include/refit.h is). Check macros: rf_check.h (included here); settings
 * (REFIT_* variables): rf_settings.h; small files: rf_fileio.h.
 *
 * Process-wide state of the library, all of it (everything else lives in a
 * context or in an object its caller holds, so two contexts in one process
 * share nothing more):
 *  - the log: its rank prefix (set by the application, rf_log_set_rank),
 *    level (REFIT_LOG, read once) and host name (base/log.c); the log is
 *    the process's stderr;
 *  - per thread, not per context: the error message (base/errors.c), and
 *    the comparison context of two qsort calls (libc's qsort takes none:
 *    shard/safetensors_read.c, shard/checkpoint.c);
 *  - the CUDA kernels' record of the shared-memory carveout already set on
 *    each device (the attribute itself is the CUDA runtime's, per process:
 *    kernels/quant_cuda.cu). */
#ifndef RF_COMMON_H
#define RF_COMMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "refit.h"
#include "rf_check.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RF_NAME_MAX 256 /* longest tensor/param name we accept, incl. NUL */

/* ---- errors ------------------------------------------------------------
 * The first function that sees an error records a message with rf_error();
 * callers only propagate the status. The message is per thread and keeps the
 * FIRST cause until rf_err_clear(): later rf_error() calls do not overwrite
 * it (they still return their code). The message is prefixed "rank R: " once
 * rf_log_set_rank() has been called. */
refit_status rf_error(refit_status code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Overwrites any earlier message with the text as given, without a rank
 * prefix (used when a remote rank's cause, which names its rank, replaces
 * the local one). */
refit_status rf_error_replace(refit_status code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
const char *rf_err_msg(void); /* "" when none */
void rf_err_clear(void);

/* ---- logging -----------------------------------------------------------
 * REFIT_LOG=error|warn|info|debug (default warn), REFIT_LOG_SUBSYS=comma
 * list (default all), REFIT_LOG_FILE=path (%h host, %p pid; default
 * stderr), all from the settings table (rf_settings.h). Lines: "refit r3/8
 * host:pid subsys: message"; info and debug lines start with the time and
 * say INFO/DEBUG. */
typedef enum { RF_LOG_ERROR = 0, RF_LOG_WARN, RF_LOG_INFO, RF_LOG_DEBUG } rf_log_level_t;
void rf_log_set_rank(int rank, int world); /* rank -1 = not under MPI */
int rf_log_rank(void);
bool rf_log_enabled(rf_log_level_t lvl, const char *subsys);
void rf_log(rf_log_level_t lvl, const char *subsys, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define RF_WARN(sub, ...) rf_log(RF_LOG_WARN, sub, __VA_ARGS__)
#define RF_INFO(sub, ...) rf_log(RF_LOG_INFO, sub, __VA_ARGS__)
#define RF_DEBUG(sub, ...) rf_log(RF_LOG_DEBUG, sub, __VA_ARGS__)

/* ---- checked arithmetic (false on overflow; *out untouched then) ------- */
static inline bool rf_mul_u64(uint64_t a, uint64_t b, uint64_t *out) {
    uint64_t r;
    if (__builtin_mul_overflow(a, b, &r)) return false;
    *out = r;
    return true;
}
static inline bool rf_add_u64(uint64_t a, uint64_t b, uint64_t *out) {
    uint64_t r;
    if (__builtin_add_overflow(a, b, &r)) return false;
    *out = r;
    return true;
}

/* Monotonic wall clock in seconds. */
double rf_now(void);

#ifdef __cplusplus
}
#endif
#endif
