# The Python package (python/refit) and its reference engine, labels python
# plus unit or mpi: the ctypes layouts against the compiler's, the API from
# numpy at np 1 and 2, and the engine's logits against transformers at np 1,
# 2 and 4 (tp 1, 2, 4 and 2 x tp 2), every family and scheme (torch and
# transformers: launch/install-deps.sh --with-python; without them the
# engine tests exit 77 saying so).
add_executable(layout_probe ${RF_TEST_DIR}/python/layout_probe.c)
target_link_libraries(layout_probe PRIVATE refit_shared) # refit.h and refit_version.h only
set(RF_PY_ENV "${RF_MPI_ENV};RF_MPIEXEC=${RF_MPIEXEC};PYTHON=${Python3_EXECUTABLE}")
add_test(NAME python_layout COMMAND bash ${RF_TEST_DIR}/python/check_layout.sh
         $<TARGET_FILE:refit_shared> $<TARGET_FILE:layout_probe>)
set_tests_properties(python_layout PROPERTIES LABELS "python;unit" TIMEOUT 120 ENVIRONMENT "${RF_PY_ENV}")
foreach(np 1 2)
  add_test(NAME python_api_np${np} COMMAND bash ${RF_TEST_DIR}/python/check_api.sh $<TARGET_FILE:refit_shared> ${np})
  set_tests_properties(python_api_np${np} PROPERTIES LABELS "python;mpi" TIMEOUT 300 ENVIRONMENT "${RF_PY_ENV}")
endforeach()
foreach(case "1 1" "2 2" "4 4,2")
  separate_arguments(args UNIX_COMMAND "${case}")
  list(GET args 0 np)
  list(GET args 1 tps)
  add_test(NAME python_engine_np${np} COMMAND bash ${RF_TEST_DIR}/python/check_engine.sh
           $<TARGET_FILE:refit_shared> ${np} ${tps})
  set_tests_properties(python_engine_np${np} PROPERTIES LABELS "python;mpi" TIMEOUT 600 SKIP_RETURN_CODE 77
                       ENVIRONMENT "${RF_PY_ENV}")
endforeach()
add_test(NAME python_mpi4py_np4 COMMAND bash ${RF_TEST_DIR}/python/check_comm.sh $<TARGET_FILE:refit_shared>)
set_tests_properties(python_mpi4py_np4 PROPERTIES LABELS "python;mpi" TIMEOUT 300 SKIP_RETURN_CODE 77
                     ENVIRONMENT "${RF_PY_ENV}")
