# BLAS and seqlm. The library never calls a BLAS: its recurrent layers multiply with their
# own packed GEMM (include/seqlm/math/gemm.hpp) and everything else with Eigen's product;
# docs/performance.md ("GEMM strategy") gives the measurements behind that decision.
#
# A CBLAS is only used by the benchmarks, to compare against: when SEQLM_BENCH_BLAS is ON
# and a CBLAS header and library are found (Debian: libopenblas-dev), bench_gemm.cpp adds
# gemm/blas/... rows that call cblas_sgemm (OpenBLAS is set to one thread).
option(SEQLM_BENCH_BLAS "Compare seqlm's GEMM with a CBLAS (e.g. OpenBLAS) in the benchmarks when one is found" ON)

# Adds bench_gemm.cpp to the benchmark executable `target`, with the CBLAS rows when possible.
function(seqlm_add_gemm_benchmark target)
  target_sources(${target} PRIVATE ${PROJECT_SOURCE_DIR}/benchmarks/bench_gemm.cpp)
  if(NOT SEQLM_BENCH_BLAS)
    return()
  endif()
  # Debian keeps OpenBLAS's cblas.h in a per-variant directory.
  find_path(SEQLM_CBLAS_INCLUDE_DIR cblas.h
    PATH_SUFFIXES openblas openblas-pthread openblas-openmp openblas-serial
    HINTS /usr/include/${CMAKE_LIBRARY_ARCHITECTURE})
  find_library(SEQLM_CBLAS_LIBRARY NAMES openblas blis cblas)
  if(NOT SEQLM_CBLAS_INCLUDE_DIR OR NOT SEQLM_CBLAS_LIBRARY)
    message(STATUS "seqlm: no CBLAS found, the GEMM benchmark compares seqlm with Eigen only "
                   "(install libopenblas-dev for the BLAS rows)")
    return()
  endif()
  message(STATUS "seqlm: GEMM benchmark compares with ${SEQLM_CBLAS_LIBRARY}")
  target_include_directories(${target} PRIVATE ${SEQLM_CBLAS_INCLUDE_DIR})
  target_link_libraries(${target} PRIVATE ${SEQLM_CBLAS_LIBRARY})
  target_compile_definitions(${target} PRIVATE SEQLM_BENCH_CBLAS)
  if(SEQLM_CBLAS_LIBRARY MATCHES "openblas")
    target_compile_definitions(${target} PRIVATE SEQLM_BENCH_OPENBLAS)
  endif()
endfunction()
