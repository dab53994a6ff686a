/* The assertion macro of the MPI tests (check.h's, with the rank): CHECK(cond,
 * "fmt", args...) counts a failure and prints "rank R FAIL line L: why".
 * The test sets `rank` after MPI_Comm_rank and returns `failures != 0`.
 * Only libc: tests/embed/test_embed.c is also built against the installed
 * package alone (tests/consumer). */
#ifndef RF_TEST_RANK_CHECK_H
#define RF_TEST_RANK_CHECK_H

#include <stdio.h>

static int failures;
static int rank;

#define CHECK(cond, ...)                                               \
    do {                                                               \
        if (!(cond)) {                                                 \
            failures++;                                                \
            fprintf(stderr, "rank %d FAIL line %d: ", rank, __LINE__); \
            fprintf(stderr, __VA_ARGS__);                              \
            fputc('\n', stderr);                                       \
        }                                                              \
    } while (0)

#endif
