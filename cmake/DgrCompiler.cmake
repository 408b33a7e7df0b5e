# Compiler launcher, warnings and sanitizers shared by every dgr target.

find_program(CCACHE_PROGRAM ccache)
if(CCACHE_PROGRAM AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  # Precompiled headers need these sloppiness settings to be cacheable.
  set(_dgr_ccache ${CMAKE_COMMAND} -E env
      "CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime"
      ${CCACHE_PROGRAM})
  set(CMAKE_C_COMPILER_LAUNCHER ${_dgr_ccache})
  set(CMAKE_CXX_COMPILER_LAUNCHER ${_dgr_ccache})
  message(STATUS "ccache: ${CCACHE_PROGRAM}")
endif()

add_library(dgr_warnings INTERFACE)
target_compile_options(dgr_warnings INTERFACE -Wall -Wextra -Wno-unused-parameter)

if(DGR_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

if(DGR_FUZZ)
  # Coverage feedback for libFuzzer in every target (only tests/fuzz links the fuzzer's main),
  # and the sanitizers that turn silent memory errors and UB into findings.
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "DGR_FUZZ needs clang (libFuzzer): use the fuzz preset")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

# dgr_add_library(NAME SOURCES... [TORCH]) — one static library per folder; TORCH targets reuse
# the precompiled torch header built once for dgr_model.
function(dgr_add_library name)
  cmake_parse_arguments(ARG "TORCH" "" "SOURCES" ${ARGN})
  set(sources ${ARG_SOURCES} ${ARG_UNPARSED_ARGUMENTS})
  if(NOT sources)
    # A folder whose first sources are still to come: keep the target so dependants link.
    set(sources ${CMAKE_CURRENT_BINARY_DIR}/${name}_empty.cpp)
    file(WRITE ${sources} "// ${name} has no sources yet\n")
  endif()
  add_library(${name} STATIC ${sources})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PRIVATE dgr_warnings)
endfunction()
