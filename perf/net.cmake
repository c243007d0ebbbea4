# perf/net.cmake: the networking part's servers, peers and benchmarks.
#   urt-http     HTTP/1.1 server on urt (perf/urt_http.c + http_parse.c)
#   libuv-echo   echo peer on libuv (skipped when libuv is missing)
#   bench_http   driver: urt-http vs nginx under wrk (skips what is missing)
#   bench_idle   RSS per idle connection on urt-http
# urt-echo (perf/urt_echo.c) is built by core.cmake; bench_echo, its driver,
# gains the libuv peer here.

add_executable(urt-http ${CMAKE_CURRENT_SOURCE_DIR}/urt_http.c ${CMAKE_CURRENT_SOURCE_DIR}/http_parse.c
  ${CMAKE_CURRENT_SOURCE_DIR}/srv_urt.c)
target_link_libraries(urt-http PRIVATE urt_static urt_perf_common urt_flags)

pkg_check_modules(LIBUV QUIET IMPORTED_TARGET libuv)
if(LIBUV_FOUND)
  add_executable(libuv-echo ${CMAKE_CURRENT_SOURCE_DIR}/libuv_echo.c)
  target_link_libraries(libuv-echo PRIVATE urt_perf_common urt_flags PkgConfig::LIBUV)
  if(TARGET bench_echo)
    add_dependencies(bench_echo libuv-echo)
  endif()
  message(STATUS "perf: libuv ${LIBUV_VERSION} found: libuv-echo peer")
else()
  message(STATUS "perf: libuv not found (libuv1-dev): bench_echo runs without the libuv peer")
endif()

add_executable(bench_http ${CMAKE_CURRENT_SOURCE_DIR}/bench_http.c)
target_link_libraries(bench_http PRIVATE urt_flags)
add_dependencies(bench_http urt-http)
find_program(URT_WRK wrk)
find_program(URT_NGINX nginx PATHS /usr/sbin /sbin)
if(NOT URT_WRK OR NOT URT_NGINX)
  message(STATUS "perf: wrk or nginx not found (apt-get install wrk nginx): bench_http skips the nginx comparisons")
endif()
