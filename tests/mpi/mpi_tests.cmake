# MPI tests at np 1, 2 and 4. Open MPI needs leave to run as root (CI is
# root) and to oversubscribe (CI has 2 cores).
set(RF_MPI_ENV "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OMPI_MCA_rmaps_base_oversubscribe=1")
set(RF_MPIEXEC "${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG}")
find_package(Python3 COMPONENTS Interpreter REQUIRED)

# The library API: load, failed reload keeps the previous generation, retry.
add_executable(test_protocol ${RF_TEST_DIR}/mpi/test_protocol.c)
target_link_libraries(test_protocol PRIVATE rf_coord refit_tools)
target_include_directories(test_protocol PRIVATE ${RF_SRC}/coord) # white-box: the live weights, the backend
foreach(np 1 2 4)
  add_test(NAME mpi_protocol_np${np}
           COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} ${np} ${MPIEXEC_PREFLAGS}
                   $<TARGET_FILE:test_protocol> ${MPIEXEC_POSTFLAGS})
  set_tests_properties(mpi_protocol_np${np} PROPERTIES LABELS mpi ENVIRONMENT "${RF_MPI_ENV}" TIMEOUT 300)
endforeach()

# `refit run` dumps vs the independent Python reference (tests/ref), every
# scheme and model family: W = T in {1,2,4} and W = 4 with T = 2.
foreach(wt "1 1" "2 2" "4 4" "4 2")
  separate_arguments(wt_list UNIX_COMMAND "${wt}")
  list(GET wt_list 0 np)
  list(GET wt_list 1 tp)
  add_test(NAME mpi_dumps_np${np}_tp${tp}
           COMMAND bash ${RF_TEST_DIR}/mpi/check_dumps.sh ${RF_REFIT_EXE} ${np} ${tp})
  set_tests_properties(mpi_dumps_np${np}_tp${tp} PROPERTIES LABELS mpi TIMEOUT 900
                       ENVIRONMENT "${RF_MPI_ENV};RF_MPIEXEC=${RF_MPIEXEC};PYTHON=${Python3_EXECUTABLE}")
endforeach()

# Bad generation-1 checkpoints: exact error, exit != 0, generation 0 kept.
foreach(np 1 2 4)
  add_test(NAME mpi_bad_input_np${np}
           COMMAND bash ${RF_TEST_DIR}/mpi/check_bad_input.sh ${RF_REFIT_EXE} ${np})
  set_tests_properties(mpi_bad_input_np${np} PROPERTIES LABELS mpi TIMEOUT 900
                       ENVIRONMENT "${RF_MPI_ENV};RF_MPIEXEC=${RF_MPIEXEC};PYTHON=${Python3_EXECUTABLE}")
endforeach()

# The CLI: help on every subcommand, synth/plan/inspect, the embedded default.
add_test(NAME cli_commands COMMAND bash ${RF_TEST_DIR}/mpi/check_cli.sh ${RF_REFIT_EXE})
set_tests_properties(cli_commands PROPERTIES LABELS mpi TIMEOUT 600
                     ENVIRONMENT "${RF_MPI_ENV};RF_MPIEXEC=${RF_MPIEXEC};PYTHON=${Python3_EXECUTABLE}")

# The reference itself against the SPEC's stated facts.
add_test(NAME ref_selftest COMMAND ${Python3_EXECUTABLE} ${RF_TEST_DIR}/ref/selftest.py)
set_tests_properties(ref_selftest PROPERTIES LABELS unit TIMEOUT 600)

# cuda backend vs host backend vs the SPEC reference (skips without a GPU).
add_test(NAME gpu_cuda_dumps COMMAND bash ${RF_TEST_DIR}/gpu/check_cuda_dumps.sh ${RF_REFIT_EXE})
set_tests_properties(gpu_cuda_dumps PROPERTIES LABELS gpu SKIP_RETURN_CODE 77 RESOURCE_LOCK gpu TIMEOUT 1800
                     ENVIRONMENT "${RF_MPI_ENV};RF_MPIEXEC=${RF_MPIEXEC};PYTHON=${Python3_EXECUTABLE}")

# Reliability under faults (tests/faults: library tests and the fault matrix).
include(${RF_TEST_DIR}/faults/faults.cmake)
include(${RF_TEST_DIR}/chaos/chaos.cmake)
