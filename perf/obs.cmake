# perf/obs.cmake: observability overhead (stall detector on vs off).
#   bench_obs   yield ping-pong and socketpair ping-pong, JSON lines
add_executable(bench_obs ${CMAKE_CURRENT_SOURCE_DIR}/bench_obs.c)
target_link_libraries(bench_obs PRIVATE urt_static urt_flags)
