# perf/offload.cmake: offload benchmarks against libuv (libuv1-dev).
#   bench_offload  to_thread round trip and throughput vs uv_queue_work,
#                  cross-thread submit vs uv_async_send ping-pong,
#                  loop-to-loop MSG_RING vs eventfd; --pin: all on one CPU
find_package(PkgConfig QUIET)
pkg_check_modules(PERF_LIBUV QUIET IMPORTED_TARGET libuv)
if(PERF_LIBUV_FOUND)
  add_executable(bench_offload ${CMAKE_CURRENT_SOURCE_DIR}/bench_offload.c)
  target_link_libraries(bench_offload PRIVATE urt_static urt_flags PkgConfig::PERF_LIBUV)
  message(STATUS "perf: libuv ${PERF_LIBUV_VERSION} found: bench_offload has its peer")
else()
  message(STATUS "perf: libuv not found (libuv1-dev): bench_offload skipped")
endif()
