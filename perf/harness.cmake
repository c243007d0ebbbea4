# perf/harness.cmake: the harness example (perf/harness_example.c) drives
# urt-echo as a subprocess: spawn, wait for its port, check echoes, SIGTERM.
add_executable(harness_example ${CMAKE_CURRENT_LIST_DIR}/harness_example.c)
target_link_libraries(harness_example PRIVATE urt_static urt_flags)
if(TARGET urt-echo)
  add_dependencies(harness_example urt-echo)
  if(URT_BUILD_TESTS)
    add_test(NAME harness_example COMMAND harness_example --quick)
    set_tests_properties(harness_example PROPERTIES LABELS "unit" TIMEOUT 60
      PASS_REGULAR_EXPRESSION "harness_example: ok")
  endif()
endif()
