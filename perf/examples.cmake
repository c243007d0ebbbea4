# The README's example program, built and run as a test so it cannot rot.
add_executable(example_readme ${CMAKE_CURRENT_LIST_DIR}/example_readme.c)
target_link_libraries(example_readme PRIVATE urt_static urt_flags)
if(URT_BUILD_TESTS)
  add_test(NAME example_readme COMMAND example_readme /etc/hostname)
  set_tests_properties(example_readme PROPERTIES LABELS "unit"
    PASS_REGULAR_EXPRESSION "task 2 done")
endif()
