# perf/ctx.cmake: context-variable benchmarks (ctx/).
#   bench_ctx        get / set+reset vs a __thread variable, spawn+join with
#                    a context of 8 variables vs none (perf/bench_ctx.c)
#   ctx_callgrind    ctest: urt_ctxvar_get costs <= 10 instructions
#                    (callgrind; skipped when valgrind is missing)
add_executable(bench_ctx ${CMAKE_CURRENT_SOURCE_DIR}/bench_ctx.c)
target_include_directories(bench_ctx PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(bench_ctx PRIVATE urt_static urt_flags)
# the timed loops start on a 64-byte boundary: their cost must not move
# with unrelated code placed before them (a loop across a 32-byte fetch
# block cost ~0.6 ns per get here)
target_compile_options(bench_ctx PRIVATE -falign-loops=64)

find_program(URT_VALGRIND valgrind)
if(URT_BUILD_TESTS AND URT_VALGRIND AND NOT URT_SANITIZE)
  add_test(NAME ctx_callgrind COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/ctx_callgrind.sh
    ${URT_VALGRIND} $<TARGET_FILE:bench_ctx> 10)
  set_tests_properties(ctx_callgrind PROPERTIES TIMEOUT 120 LABELS perf)
elseif(NOT URT_VALGRIND)
  message(STATUS "ctx: valgrind not found, ctx_callgrind check skipped")
endif()
