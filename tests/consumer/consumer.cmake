# The library as others link it (issue 9): librefit.so exports refit_* only
# (lib_symbols), and an external program builds against the INSTALLED
# package alone, with find_package(refit), pkg-config and the static
# library, and runs at np 2 (consumer_install). A sanitized build's consumer
# is built with the same sanitizer flags: librefit.so then needs their runtime.
add_test(NAME lib_symbols COMMAND bash ${RF_TEST_DIR}/consumer/check_symbols.sh $<TARGET_FILE:refit_shared>
                                  ${RF_SRC}/include/refit.h ${PROJECT_VERSION_MAJOR})
set_tests_properties(lib_symbols PROPERTIES LABELS unit TIMEOUT 60)

set(RF_CONSUMER_FLAGS "")
if(REFIT_SANITIZE)
  set(RF_CONSUMER_FLAGS "-fsanitize=address,undefined -fno-omit-frame-pointer")
endif()
add_test(NAME consumer_install
         COMMAND bash ${RF_TEST_DIR}/consumer/check_consumer.sh ${PROJECT_BINARY_DIR} ${RF_SRC} ${PROJECT_VERSION}
                 "${RF_CONSUMER_FLAGS}")
set_tests_properties(consumer_install PROPERTIES LABELS mpi TIMEOUT 600
                     ENVIRONMENT "${RF_MPI_ENV};RF_MPIEXEC=${RF_MPIEXEC};CC=${CMAKE_C_COMPILER};PYTHON=${Python3_EXECUTABLE}")

# refit_options.device and the caller's current CUDA device kept by every
# call (CUDA builds; exits 77 without a GPU).
if(REFIT_HAVE_CUDA)
  add_executable(test_device ${RF_TEST_DIR}/consumer/test_device.c)
  target_link_libraries(test_device PRIVATE refit CUDA::cudart) # the public API only
  add_test(NAME gpu_device_option COMMAND bash ${RF_TEST_DIR}/consumer/check_device.sh ${RF_REFIT_EXE}
                                          $<TARGET_FILE:test_device>)
  set_tests_properties(gpu_device_option PROPERTIES LABELS gpu SKIP_RETURN_CODE 77 RESOURCE_LOCK gpu TIMEOUT 300
                       ENVIRONMENT "${RF_MPI_ENV};RF_MPIEXEC=${RF_MPIEXEC}")
endif()
