# libFuzzer harnesses: fuzz/<name>.c -> fuzz_<name>, seeds in
# fuzz/corpus/<name>/, run by fuzz/run. libFuzzer needs clang, so this
# builds only when the C compiler is clang and URT_FUZZ is ON; the library
# is then compiled with -fsanitize=fuzzer-no-link so coverage reaches it.
option(URT_FUZZ "Build the libFuzzer harnesses (clang only)" OFF)
if(URT_FUZZ AND CMAKE_C_COMPILER_ID STREQUAL "Clang")
  target_compile_options(urt_flags INTERFACE -fsanitize=fuzzer-no-link)
  file(GLOB URT_FUZZERS CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/*.c)
  foreach(src ${URT_FUZZERS})
    get_filename_component(name ${src} NAME_WE)
    set(extra "")
    if(EXISTS ${CMAKE_SOURCE_DIR}/perf/${name}.c) # e.g. perf/http_parse.c
      set(extra ${CMAKE_SOURCE_DIR}/perf/${name}.c)
    endif()
    add_executable(fuzz_${name} ${src} ${extra})
    target_link_libraries(fuzz_${name} PRIVATE urt_static urt_flags)
    target_link_options(fuzz_${name} PRIVATE -fsanitize=fuzzer)
  endforeach()
elseif(URT_FUZZ)
  message(STATUS "urt: fuzzers need clang (CC=clang); not built")
endif()
