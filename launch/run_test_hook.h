/* A test hook of `refit run` (tests/faults/stop_timeout.sh): with
 * RF_TEST_STOP_AT=RANK:POINT in the environment, that rank stops itself
 * (SIGSTOP) at POINT, one of create, between-loads, report, finish, after
 * printing the wall-clock time, so that a test can measure how long the
 * others take to end the job. Does nothing without the variable. */
#ifndef RF_RUN_TEST_HOOK_H
#define RF_RUN_TEST_HOOK_H

void rf_run_test_stop(const char *point);

#endif
