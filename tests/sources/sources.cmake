# Sources (issue 11), host backend, label mpi: fp16/fp32 checkpoints against
# tests/ref (check_dtypes.sh), and every source kind against the rank-0
# directory source and tests/ref (test_sources.c via check_sources.sh).
add_executable(test_sources ${RF_TEST_DIR}/sources/test_sources.c)
target_link_libraries(test_sources PRIVATE rf_coord) # refit.h + the shard reader for the memory tensors
target_include_directories(test_sources PRIVATE ${RF_TEST_DIR})

function(rf_sources_test name script np tp)
  add_test(NAME sources_${name}_np${np}_tp${tp}
           COMMAND bash ${RF_TEST_DIR}/sources/${script} ${ARGN} ${np} ${tp})
  set_tests_properties(sources_${name}_np${np}_tp${tp} PROPERTIES LABELS mpi TIMEOUT 600
                       ENVIRONMENT "${RF_MPI_ENV};RF_MPIEXEC=${RF_MPIEXEC};PYTHON=${Python3_EXECUTABLE}")
endfunction()

foreach(cell 1_1 2_1 2_2 4_4 4_2) # world_tp
  string(REPLACE "_" ";" nt ${cell})
  list(GET nt 0 np)
  list(GET nt 1 tp)
  rf_sources_test(dtypes check_dtypes.sh ${np} ${tp} ${RF_REFIT_EXE})
  rf_sources_test(kinds check_sources.sh ${np} ${tp} $<TARGET_FILE:test_sources>)
endforeach()
