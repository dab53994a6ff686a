# The layering is enforced (docs/architecture.md):
#  - arch_probe_*: a source compiled with exactly one layer's include path
#    (an OBJECT target linking that layer, outside `all`) that includes a
#    header of a layer above must fail to build, for the missing header;
#    the same probe with a header the layer may use must build (so a
#    failure means the include path, not a broken probe).
#  - arch_include_graph: tests/arch/include_graph.py finds no wrong-way
#    edge, no unnamed tool header in launch/, no include cycle; and it
#    does report each of those when they are put into a copy of the tree.
set(RF_ARCH_PROBES
    "comm_includes_coord|rf_comm|snapshot.h|FAIL"
    "shard_includes_kernels|rf_shard|quant.h|FAIL"
    "kernels_includes_comm|rf_kernels|comm.h|FAIL"
    "backend_includes_coord|rf_backend_host|ctx_internal.h|FAIL"
    "comm_includes_base|rf_comm|rf_settings.h|OK")
foreach(probe ${RF_ARCH_PROBES})
  string(REPLACE "|" ";" p "${probe}")
  list(GET p 0 name)
  list(GET p 1 layer)
  list(GET p 2 header)
  list(GET p 3 want)
  add_library(rf_arch_probe_${name} OBJECT EXCLUDE_FROM_ALL ${RF_TEST_DIR}/arch/probe_wrong_way.c)
  target_link_libraries(rf_arch_probe_${name} PRIVATE ${layer})
  target_compile_definitions(rf_arch_probe_${name} PRIVATE RF_PROBE_HEADER="${header}")
  add_test(NAME arch_probe_${name}
           COMMAND ${CMAKE_COMMAND} --build ${PROJECT_BINARY_DIR} --target rf_arch_probe_${name})
  # one build at a time in this build tree; no test builds the library meanwhile
  set_tests_properties(arch_probe_${name} PROPERTIES LABELS "unit;arch" RESOURCE_LOCK build_tree TIMEOUT 300)
  if(want STREQUAL "FAIL")
    # fails, and for the header: gcc "x.h: No such file", clang "'x.h' file not found"
    string(REPLACE "." "\\." header_re "${header}")
    set_tests_properties(arch_probe_${name} PROPERTIES
                         PASS_REGULAR_EXPRESSION "${header_re}('? file not found|: No such file)"
                         FAIL_REGULAR_EXPRESSION "Built target rf_arch_probe")
  endif()
endforeach()

add_test(NAME arch_include_graph COMMAND bash ${RF_TEST_DIR}/arch/check_include_graph.sh ${Python3_EXECUTABLE})
set_tests_properties(arch_include_graph PROPERTIES LABELS "unit;arch" TIMEOUT 300)
