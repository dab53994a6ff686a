# The chaos test (issue 14, finding 7; tests/chaos/chaos.py): reloads of a
# tiny model at np 2 and 4 while random ranks get SIGTERM, SIGINT, SIGKILL
# or SIGSTOP; after each run every surviving rank's dump must hold one
# generation with that generation's bytes, and rank 0's last word must
# agree. Bounded: 100 s of runs (under 3 minutes with set-up, on 2 cores).
# The shard writer (--writer) waits for torn-read detection (pread + file
# identity) and is off here.
add_test(NAME chaos_signals
         COMMAND ${Python3_EXECUTABLE} ${RF_TEST_DIR}/chaos/chaos.py --refit ${RF_REFIT_EXE} --budget 100 --timeout 3)
set_tests_properties(chaos_signals PROPERTIES LABELS chaos TIMEOUT 240 ENVIRONMENT "${RF_MPI_ENV};RF_MPIEXEC=${RF_MPIEXEC}"
                     PASS_REGULAR_EXPRESSION "chaos: [0-9]+ runs, [1-9][0-9]* faults, 0 violations")
