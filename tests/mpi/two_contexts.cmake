# (after mpi_tests.cmake, whose launcher settings it uses: the files are included in name order)
# Two contexts in one process on disjoint communicators (host backend),
# each checked against the SPEC reference, at np 1 and 2.
add_executable(test_two_contexts ${RF_TEST_DIR}/mpi/test_two_contexts.c)
target_link_libraries(test_two_contexts PRIVATE refit) # the public API only
foreach(np 1 2)
  add_test(NAME mpi_two_contexts_np${np}
           COMMAND bash ${RF_TEST_DIR}/mpi/check_two_contexts.sh $<TARGET_FILE:test_two_contexts> ${np})
  set_tests_properties(mpi_two_contexts_np${np} PROPERTIES LABELS mpi TIMEOUT 600
                       ENVIRONMENT "${RF_MPI_ENV};RF_MPIEXEC=${RF_MPIEXEC};PYTHON=${Python3_EXECUTABLE}")
endforeach()
