# Builds and runs the consumer project (tests/consumer) against seqlm one way (MODE):
#   find_package      the README's install-only recipe (a fresh configure with BUILD_TESTING=OFF
#                     and doctest hidden), installed into SCRATCH/a, the tree moved to SCRATCH/b,
#                     then find_package(seqlm) from b; checks LICENSE, seqlm.pc and the
#                     SEQLM_WARN_NO_SIMD note of a build without -march
#   pkg-config        the build tree installed into SCRATCH/a, moved to SCRATCH/b, then
#                     `pkg-config --cflags --libs seqlm` from b and a plain compiler call
#   add_subdirectory  the source tree vendored into the consumer
#   fetchcontent      FetchContent_Declare + FetchContent_MakeAvailable, offline
# Any failing step fails the test; a missing tool prints SEQLM_TEST_SKIPPED (the ctest's
# SKIP_REGULAR_EXPRESSION). Inputs: MODE, SCRATCH, SEQLM_SOURCE_DIR, SEQLM_BINARY_DIR,
# SEQLM_CONSUMER_SOURCE, CXX, and FORWARD (cache settings of the build under test, |-separated).
file(REMOVE_RECURSE ${SCRATCH})
file(MAKE_DIRECTORY ${SCRATCH})

function(run_step)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "step failed (${result}): ${ARGN}\n${out}")
  endif()
  set(step_output "${out}" PARENT_SCOPE)
endfunction()

set(forward_args "")
string(REPLACE "|" ";" FORWARD "${FORWARD}")
foreach(setting IN LISTS FORWARD)
  list(APPEND forward_args "-D${setting}")
endforeach()

# Installs into SCRATCH/a, moves the tree to SCRATCH/b: every installed path must be relative.
function(install_and_move build_dir)
  run_step(${CMAKE_COMMAND} --install ${build_dir} --prefix ${SCRATCH}/a)
  file(RENAME ${SCRATCH}/a ${SCRATCH}/b)
endfunction()

if(MODE STREQUAL "find_package")
  run_step(${CMAKE_COMMAND} -S ${SEQLM_SOURCE_DIR} -B ${SCRATCH}/seqlm-build -DCMAKE_BUILD_TYPE=Release
    -DCMAKE_CXX_COMPILER=${CXX} -DBUILD_TESTING=OFF -DCMAKE_DISABLE_FIND_PACKAGE_doctest=ON
    -DSEQLM_BUILD_EXAMPLES=OFF -DSEQLM_BUILD_BENCHMARKS=OFF ${forward_args})
  if(EXISTS ${SCRATCH}/seqlm-build/tests)
    message(FATAL_ERROR "BUILD_TESTING=OFF still configured the tests")
  endif()
  install_and_move(${SCRATCH}/seqlm-build)
  if(NOT EXISTS ${SCRATCH}/b/share/doc/seqlm/LICENSE)
    message(FATAL_ERROR "LICENSE was not installed to share/doc/seqlm")
  endif()
  file(READ ${SCRATCH}/b/share/pkgconfig/seqlm.pc pc)
  if(pc MATCHES "-std=" OR pc MATCHES "${SCRATCH}")
    message(FATAL_ERROR "seqlm.pc forces a -std= flag or names the install prefix:\n${pc}")
  endif()
  run_step(${CMAKE_COMMAND} -S ${SEQLM_CONSUMER_SOURCE} -B ${SCRATCH}/build -DCMAKE_BUILD_TYPE=Release
    -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_PREFIX_PATH=${SCRATCH}/b ${forward_args})
  run_step(${CMAKE_COMMAND} --build ${SCRATCH}/build)
  set(build_output "${step_output}")
  # An installed MPI component must be found and usable: find_package(seqlm COMPONENTS mpi).
  if(EXISTS ${SCRATCH}/b/share/cmake/seqlm/seqlmMpiTargets.cmake AND NOT EXISTS ${SCRATCH}/build/app_mpi)
    message(FATAL_ERROR "seqlm was installed with seqlm::mpi, but find_package(seqlm COMPONENTS mpi) "
                        "did not give the consumer seqlm::mpi")
  endif()
  set(step_output "${build_output}")
  # The consumer adds no -march: on x86-64 seqlm must say that it runs the slow path.
  # (-P scripts have no CMAKE_HOST_SYSTEM_PROCESSOR; ask the host.)
  cmake_host_system_information(RESULT host_arch QUERY OS_PLATFORM)
  if(host_arch MATCHES "x86_64|AMD64" AND NOT step_output MATCHES "compiled without AVX2\\+FMA")
    message(FATAL_ERROR "no SEQLM_WARN_NO_SIMD note in a build without -march:\n${step_output}")
  endif()
elseif(MODE STREQUAL "pkg-config")
  find_program(PKG_CONFIG_EXECUTABLE NAMES pkg-config pkgconf)
  if(NOT PKG_CONFIG_EXECUTABLE)
    message("SEQLM_TEST_SKIPPED: pkg-config not found (Debian: pkg-config)")
    return()
  endif()
  install_and_move(${SEQLM_BINARY_DIR})
  set(ENV{PKG_CONFIG_PATH} "${SCRATCH}/b/share/pkgconfig")
  run_step(${PKG_CONFIG_EXECUTABLE} --cflags --libs seqlm)
  string(STRIP "${step_output}" flags_text)
  message(STATUS "pkg-config --cflags --libs seqlm: ${flags_text}")
  separate_arguments(flags UNIX_COMMAND "${flags_text}")
  # The first -I is seqlm's own include directory: it must resolve into the moved tree.
  set(include_flags ${flags})
  list(FILTER include_flags INCLUDE REGEX "^-I")
  list(GET include_flags 0 include_flag)
  string(SUBSTRING "${include_flag}" 2 -1 include_dir)
  get_filename_component(include_dir "${include_dir}" REALPATH)
  get_filename_component(expected "${SCRATCH}/b/include" REALPATH)
  if(NOT include_dir STREQUAL expected)
    message(FATAL_ERROR "pkg-config's include directory ${include_dir} is not the moved prefix's ${expected}")
  endif()
  # No -march here either: -DSEQLM_WARN_NO_SIMD=0 with -Werror checks that the opt-out works.
  run_step(${CXX} -std=c++17 -O1 -Werror -DSEQLM_WARN_NO_SIMD=0 ${SEQLM_CONSUMER_SOURCE}/main_light.cpp
    ${flags} -o ${SCRATCH}/app)
  run_step(${SCRATCH}/app)
  message(STATUS "${step_output}")
  return()
elseif(MODE STREQUAL "add_subdirectory")
  run_step(${CMAKE_COMMAND} -S ${SEQLM_CONSUMER_SOURCE} -B ${SCRATCH}/build -DCMAKE_BUILD_TYPE=Release
    -DCMAKE_CXX_COMPILER=${CXX} -DSEQLM_CONSUME=add_subdirectory -DSEQLM_SOURCE_DIR=${SEQLM_SOURCE_DIR}
    ${forward_args})
  run_step(${CMAKE_COMMAND} --build ${SCRATCH}/build)
elseif(MODE STREQUAL "fetchcontent")
  run_step(${CMAKE_COMMAND} -S ${SEQLM_CONSUMER_SOURCE} -B ${SCRATCH}/build -DCMAKE_BUILD_TYPE=Release
    -DCMAKE_CXX_COMPILER=${CXX} -DSEQLM_CONSUME=fetchcontent -DFETCHCONTENT_SOURCE_DIR_SEQLM=${SEQLM_SOURCE_DIR}
    -DFETCHCONTENT_FULLY_DISCONNECTED=ON ${forward_args})
  run_step(${CMAKE_COMMAND} --build ${SCRATCH}/build)
else()
  message(FATAL_ERROR "unknown MODE '${MODE}'")
endif()
run_step(${SCRATCH}/build/app)
message(STATUS "${step_output}")
