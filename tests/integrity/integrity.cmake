# Integrity under real faults (issue 14): torn reads of a checkpoint being
# rewritten, non-regular files, shared dump directories, --verify.
foreach(t torn_reads nonregular dump_sets)
  add_test(NAME faults_${t}_np2 COMMAND bash ${RF_TEST_DIR}/integrity/check_${t}.sh ${RF_REFIT_EXE} 2)
  set_tests_properties(faults_${t}_np2 PROPERTIES LABELS mpi TIMEOUT 600
                       ENVIRONMENT "${RF_MPI_ENV};RF_MPIEXEC=${RF_MPIEXEC};PYTHON=${Python3_EXECUTABLE}")
endforeach()

# --verify and refit_param_digest (against tests/ref/digest_ref.py).
add_executable(test_param_digest ${RF_TEST_DIR}/integrity/test_param_digest.c)
target_link_libraries(test_param_digest PRIVATE refit) # the public API only
add_test(NAME faults_verify_np2
         COMMAND bash ${RF_TEST_DIR}/integrity/check_verify.sh ${RF_REFIT_EXE} $<TARGET_FILE:test_param_digest> 2)
set_tests_properties(faults_verify_np2 PROPERTIES LABELS mpi TIMEOUT 600
                     ENVIRONMENT "${RF_MPI_ENV};RF_MPIEXEC=${RF_MPIEXEC};PYTHON=${Python3_EXECUTABLE}")
