# Reliability under faults (docs/faults.md): the library under injected
# 'error' faults at np 1, 2, 4, and the fault matrix of `refit run` (every
# phase x error/crash/hang at np 4), with a short --timeout so that it
# takes a couple of minutes on 2 cores.
add_executable(test_faults ${RF_TEST_DIR}/faults/test_faults.c)
target_link_libraries(test_faults PRIVATE rf_coord refit_tools)
target_include_directories(test_faults PRIVATE ${RF_SRC}/coord) # white-box: the live weights
foreach(np 1 2 4)
  add_test(NAME mpi_faults_np${np}
           COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} ${np} ${MPIEXEC_PREFLAGS}
                   $<TARGET_FILE:test_faults> ${MPIEXEC_POSTFLAGS})
  set_tests_properties(mpi_faults_np${np} PROPERTIES LABELS mpi ENVIRONMENT "${RF_MPI_ENV}" TIMEOUT 300)
endforeach()

add_test(NAME mpi_fault_matrix_np4
         COMMAND bash ${RF_TEST_DIR}/faults/fault_matrix.sh ${RF_REFIT_EXE} 4 6
                 ${CMAKE_CURRENT_BINARY_DIR}/fault_matrix.md)
set_tests_properties(mpi_fault_matrix_np4 PROPERTIES LABELS mpi TIMEOUT 900
                     ENVIRONMENT "${RF_MPI_ENV};RF_MPIEXEC=${RF_MPIEXEC};PYTHON=${Python3_EXECUTABLE}")

# The library under injected errors without a leak or a bad access, under
# valgrind (one rank, MPI singleton); MPI's own allocations are suppressed.
find_program(RF_VALGRIND valgrind)
if(RF_VALGRIND AND NOT REFIT_SANITIZE)
  add_test(NAME valgrind_faults_np1
           COMMAND ${RF_VALGRIND} -q --leak-check=full --show-leak-kinds=definite,indirect
                   --errors-for-leak-kinds=definite,indirect --error-exitcode=9
                   --suppressions=${RF_TEST_DIR}/valgrind-mpi.supp $<TARGET_FILE:test_faults>)
  set_tests_properties(valgrind_faults_np1 PROPERTIES LABELS mpi ENVIRONMENT "${RF_MPI_ENV}" TIMEOUT 600)
endif()

# A SIGTERM to one rank at different moments of a reload (issue 14, finding
# 1): the two-phase commit keeps every rank's dump on one generation and
# names the signalled rank as the cause of a failed vote.
add_test(NAME mpi_faults_signal_vote
         COMMAND bash ${RF_TEST_DIR}/faults/signal_vote.sh ${RF_REFIT_EXE} 4)
set_tests_properties(mpi_faults_signal_vote PROPERTIES LABELS mpi TIMEOUT 600
                     ENVIRONMENT "${RF_MPI_ENV};RF_MPIEXEC=${RF_MPIEXEC};PYTHON=${Python3_EXECUTABLE}")

# A rank stopped outside a load (in refit_create, between loads, in the
# report's gather, in the final dump) ends the job with 124 within the
# timeout + 1 s (issue 14, finding 3).
add_test(NAME mpi_faults_stop_timeout COMMAND bash ${RF_TEST_DIR}/faults/stop_timeout.sh ${RF_REFIT_EXE} 4)
# RUN_SERIAL: mpirun's own teardown (its part of the timeout is 1 s) slows
# down when other jobs load the 2 cores.
set_tests_properties(mpi_faults_stop_timeout PROPERTIES LABELS mpi TIMEOUT 200 RUN_SERIAL ON
                     ENVIRONMENT "${RF_MPI_ENV};RF_MPIEXEC=${RF_MPIEXEC};PYTHON=${Python3_EXECUTABLE}")

# Disagreeing ranks and checkpoints fail at once, the difference named
# (issue 14, findings 3, 4, 6).
add_test(NAME mpi_faults_messages COMMAND bash ${RF_TEST_DIR}/faults/messages.sh ${RF_REFIT_EXE})
set_tests_properties(mpi_faults_messages PROPERTIES LABELS mpi TIMEOUT 400
                     ENVIRONMENT "${RF_MPI_ENV};RF_MPIEXEC=${RF_MPIEXEC};PYTHON=${Python3_EXECUTABLE}")
