# The embedding API (refit.h "Embedding") on the host backend, label mpi:
# bind the engine's buffers, stage while reading, commit (np 1, 2, 4 with
# tp = np, and np 4 tp 2); bad binds and misuse (exact errors); a hung peer
# under on_timeout=return.
add_executable(test_embed ${RF_TEST_DIR}/embed/test_embed.c)
target_link_libraries(test_embed PRIVATE refit Threads::Threads) # the public API only
if(REFIT_HAVE_CUDA) # hang's cuda backend: the engine's buffers in device memory
  target_link_libraries(test_embed PRIVATE CUDA::cudart)
  target_include_directories(test_embed PRIVATE ${RF_TEST_DIR}) # gpu/local_gpu.h
endif()
foreach(wt "1 1" "2 2" "4 4" "4 2")
  separate_arguments(wt_list UNIX_COMMAND "${wt}")
  list(GET wt_list 0 np)
  list(GET wt_list 1 tp)
  add_test(NAME embed_serve_np${np}_tp${tp}
           COMMAND bash ${RF_TEST_DIR}/embed/check_embed.sh $<TARGET_FILE:test_embed> ${np} ${tp})
  set_tests_properties(embed_serve_np${np}_tp${tp} PROPERTIES LABELS mpi TIMEOUT 600
                       ENVIRONMENT "${RF_MPI_ENV};RF_MPIEXEC=${RF_MPIEXEC};PYTHON=${Python3_EXECUTABLE}")
endforeach()
foreach(np 1 2)
  add_test(NAME embed_badbind_np${np}
           COMMAND bash ${RF_TEST_DIR}/embed/check_badbind.sh $<TARGET_FILE:test_embed> ${np})
  set_tests_properties(embed_badbind_np${np} PROPERTIES LABELS mpi TIMEOUT 300
                       ENVIRONMENT "${RF_MPI_ENV};RF_MPIEXEC=${RF_MPIEXEC};PYTHON=${Python3_EXECUTABLE}")
endforeach()
foreach(np 2 4)
  add_test(NAME embed_hang_np${np} COMMAND bash ${RF_TEST_DIR}/embed/check_hang.sh $<TARGET_FILE:test_embed> ${np})
  set_tests_properties(embed_hang_np${np} PROPERTIES LABELS mpi TIMEOUT 300
                       ENVIRONMENT "${RF_MPI_ENV};RF_MPIEXEC=${RF_MPIEXEC};PYTHON=${Python3_EXECUTABLE}")
endforeach()

# The GPU embedding test (tests/gpu/test_embed_cuda.c, registered by the GPU
# loop with label gpu): also the whole protocol, the synthetic checkpoints
# and, in CUDA builds, its checksum kernel.
if(TARGET test_embed_cuda)
  target_link_libraries(test_embed_cuda PRIVATE rf_coord refit_tools)
  if(REFIT_HAVE_CUDA)
    target_sources(test_embed_cuda PRIVATE ${RF_TEST_DIR}/gpu/embed_checksum.cu)
  endif()
endif()
