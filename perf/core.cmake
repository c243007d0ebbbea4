# perf/core.cmake: the foundation's benchmarks and example programs.
#   urt-echo      echo server on urt (perf/urt_echo.c)
#   urt-load      load client on urt: echo or HTTP, closed or open loop,
#                 coordinated-omission-corrected histograms (urt_load.c + load.c)
#   bench_switch  task switch and spawn+join vs Boost.Context / pthread
#   bench_echo    driver: urt-echo vs uring-echo / epoll-echo (peers.cmake)
#   perf_hist     ctest for the histogram (perf/test_hist.c)
#   perf_load     ctest for the load client (perf/test_load.c)
# perf/run discovers every build/<dir>/perf/bench_* program.

# Shared by the servers, the client and the tests: histogram + server plumbing.
add_library(urt_perf_common STATIC
  ${CMAKE_CURRENT_SOURCE_DIR}/hist.c ${CMAKE_CURRENT_SOURCE_DIR}/srv_common.c)
target_include_directories(urt_perf_common PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(urt_perf_common PUBLIC urt_flags Threads::Threads)

# The load engine: urt-load's main and the load tests share it.
add_library(urt_perf_load STATIC ${CMAKE_CURRENT_SOURCE_DIR}/load.c)
target_link_libraries(urt_perf_load PUBLIC urt_static urt_perf_common urt_flags)

add_executable(urt-echo ${CMAKE_CURRENT_SOURCE_DIR}/urt_echo.c ${CMAKE_CURRENT_SOURCE_DIR}/srv_urt.c)
add_executable(urt-load ${CMAKE_CURRENT_SOURCE_DIR}/urt_load.c)
target_link_libraries(urt-load PRIVATE urt_perf_load)
add_executable(bench_switch ${CMAKE_CURRENT_SOURCE_DIR}/bench_switch.c)
foreach(t urt-echo urt-load bench_switch)
  target_link_libraries(${t} PRIVATE urt_static urt_perf_common urt_flags)
endforeach()

# The driver only starts processes; it does not link urt.
add_executable(bench_echo ${CMAKE_CURRENT_SOURCE_DIR}/bench_echo.c)
target_link_libraries(bench_echo PRIVATE urt_flags)
# It runs the servers from its own directory: make sure they are built.
add_dependencies(bench_echo urt-echo urt-load)

if(URT_BUILD_TESTS)
  find_library(URT_PERF_CRITERION criterion)
  if(URT_PERF_CRITERION)
    add_executable(perf_test_hist ${CMAKE_CURRENT_SOURCE_DIR}/test_hist.c)
    target_link_libraries(perf_test_hist PRIVATE urt_perf_common ${URT_PERF_CRITERION})
    add_test(NAME perf_hist COMMAND perf_test_hist --jobs=1 -q)
    set_tests_properties(perf_hist PROPERTIES TIMEOUT 60 LABELS unit)
    add_executable(perf_test_load ${CMAKE_CURRENT_SOURCE_DIR}/test_load.c)
    target_link_libraries(perf_test_load PRIVATE urt_perf_load ${URT_PERF_CRITERION})
    add_test(NAME perf_load COMMAND perf_test_load --jobs=1 -q)
    set_tests_properties(perf_load PROPERTIES TIMEOUT 60 LABELS unit)
  endif()
endif()
