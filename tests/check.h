/* The one assertion macro of the single-process tests: CHECK(cond) or
 * CHECK(cond, "fmt", args...) counts a failure and says where and why;
 * after 50 failures the test stops (one bug, not a flood). A test returns
 * `failures != 0`. */
#ifndef RF_TEST_CHECK_H
#define RF_TEST_CHECK_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static int failures;

__attribute__((format(printf, 4, 5))) static void rf_check_fail(const char *file, int line, const char *cond,
                                                                const char *fmt, ...) {
    failures++;
    fprintf(stderr, "%s:%d: check failed: %s:", file, line, cond);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    if (failures > 50) exit(1);
}

/* " " keeps the format non-empty when no message is given. */
#define CHECK(cond, ...)                                                           \
    do {                                                                           \
        if (!(cond)) rf_check_fail(__FILE__, __LINE__, #cond, " " __VA_ARGS__);    \
    } while (0)

#endif
