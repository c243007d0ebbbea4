# perf/peers.cmake: baselines urt is measured against. A peer whose
# library is missing is skipped with a message, never a build failure.
#   epoll-echo   readiness-based echo server (plain epoll)
#   uring-echo   hand-written raw-liburing echo server
#   Boost.Context fcontext ping-pong, compiled into bench_switch

add_executable(epoll-echo ${CMAKE_CURRENT_SOURCE_DIR}/epoll_echo.c)
target_link_libraries(epoll-echo PRIVATE urt_perf_common urt_flags)

# liburing is required by urt itself, so this peer is always there.
add_executable(uring-echo ${CMAKE_CURRENT_SOURCE_DIR}/uring_echo.c)
target_link_libraries(uring-echo PRIVATE urt_perf_common urt_flags PkgConfig::LIBURING)

if(TARGET bench_echo)
  add_dependencies(bench_echo epoll-echo uring-echo)
endif()

# Boost.Context (libboost-context-dev): jump_fcontext/make_fcontext.
find_package(Boost QUIET COMPONENTS context)
if(Boost_FOUND AND TARGET Boost::context AND TARGET bench_switch)
  target_sources(bench_switch PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/switch_boost.cpp)
  target_compile_definitions(bench_switch PRIVATE PERF_HAVE_BOOST_CONTEXT)
  target_link_libraries(bench_switch PRIVATE Boost::context)
  message(STATUS "perf: Boost.Context ${Boost_VERSION} found: bench_switch has its fcontext peer")
else()
  message(STATUS "perf: Boost.Context not found (libboost-context-dev): switch_yield runs without a peer")
endif()
