# The refit command as operators meet it: one test per row of the issue
# "The command as operators meet it" (tests/cli/check_rows.sh ROW), exact
# messages and exit codes. VERSION is CMake's project version: the header's
# REFIT_VERSION_* must print the same.
add_executable(test_progress ${RF_TEST_DIR}/cli/test_progress.c)
target_link_libraries(test_progress PRIVATE refit) # the public API alone: refit.h
foreach(row args version progress preflight first_load dtype inspect log synth table units sbatch docs)
  add_test(NAME cli_${row}
           COMMAND bash ${RF_TEST_DIR}/cli/check_rows.sh ${RF_REFIT_EXE} ${PROJECT_SOURCE_DIR} ${row})
  set_tests_properties(cli_${row} PROPERTIES LABELS "mpi;cli" TIMEOUT 600 SKIP_RETURN_CODE 77
    ENVIRONMENT "${RF_MPI_ENV};RF_MPIEXEC=${RF_MPIEXEC};PYTHON=${Python3_EXECUTABLE};VERSION=${PROJECT_VERSION};TEST_PROGRESS=$<TARGET_FILE:test_progress>")
endforeach()

# The cuda row (one GPU, --backend cuda): skips without a GPU.
add_test(NAME gpu_cli_cuda COMMAND bash ${RF_TEST_DIR}/cli/check_rows.sh ${RF_REFIT_EXE} ${PROJECT_SOURCE_DIR} cuda)
set_tests_properties(gpu_cli_cuda PROPERTIES LABELS gpu SKIP_RETURN_CODE 77 RESOURCE_LOCK gpu TIMEOUT 900
  ENVIRONMENT "${RF_MPI_ENV};RF_MPIEXEC=${RF_MPIEXEC};PYTHON=${Python3_EXECUTABLE}")
