/* Reporting of the single-process GPU tests (test_quant_cuda.c,
 * test_quant_moe_cuda.c): one stdout line per case, FAIL counted in
 * `failures`; a failing CUDA helper (DEV) ends the run, since the GPU is
 * unusable after it. Include only where REFIT_HAVE_CUDA is defined. */
#ifndef RF_TEST_GPU_CHECK_H
#define RF_TEST_GPU_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#include "rf_common.h"

static int failures, cases;

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        failures++;                                                                                \
        printf("FAIL ");                                                                           \
        printf(__VA_ARGS__);                                                                       \
        printf("\n");                                                                              \
        fflush(stdout);                                                                            \
    } while (0)

#define DEV(call)                                                                                  \
    do {                                                                                           \
        refit_status st_ = (call);                                                                 \
        if (st_ != REFIT_OK) {                                                                     \
            printf("FAIL %s:%d: %s: %s (%s)\n", __FILE__, __LINE__, #call, refit_status_str(st_),  \
                   rf_err_msg());                                                                  \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

#endif
