# perf/harness.cmake: the harness example (perf/harness_example.c) drives
# urt-http as a subprocess: spawn with an access log, wait for its port,
# check keep-alive GETs, SIGTERM, then check the log's request ids.
add_executable(harness_example ${CMAKE_CURRENT_LIST_DIR}/harness_example.c)
target_link_libraries(harness_example PRIVATE urt_static urt_flags)

# urt-http comes from net.cmake, included after this fragment: look for it
# once every fragment of this directory has been read.
function(urt_harness_example_test)
  if(NOT TARGET urt-http)
    message(STATUS "perf: urt-http not built: no harness_example test")
    return()
  endif()
  add_dependencies(harness_example urt-http)
  if(URT_BUILD_TESTS)
    add_test(NAME harness_example COMMAND harness_example --quick $<TARGET_FILE:urt-http>)
    set_tests_properties(harness_example PROPERTIES LABELS "unit" TIMEOUT 60
      PASS_REGULAR_EXPRESSION "harness_example: ok")
  endif()
endfunction()
cmake_language(DEFER CALL urt_harness_example_test)
