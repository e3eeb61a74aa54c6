/// \file
/// Threads inside the big matrix products (GEMMs).
///
/// seqlm's layers do their heavy work in a few large products per batch: the input projection
/// of all steps (W * X over T*B columns), the weight gradients (dZ * X^T) and the output layer
/// (a Dense over every position). math/products.hpp splits such a product over OpenMP threads
/// when seqlm is compiled with OpenMP (the CMake option SEQLM_OPENMP, on by default when the
/// compiler has it): thread k computes a fixed block of the result's columns (or rows), and the
/// recurrent time loops run on blocks of sequences (math/batch_blocks.hpp). Each element of a
/// result is the same sum in the same order whatever the split, so
///
///   the results have the same bits on one thread or several, and never depend on timing.
///
/// At one thread the code path is exactly the one of a build without OpenMP.
///
/// ```cpp
///   seqlm::set_gemm_threads(2);          // every later product may use 2 threads
///   int n = seqlm::gemm_threads();       // 2 (always 1 without OpenMP)
///   { ScopedGemmThreads two(2); ... }    // 2 inside the block, the old value after it
/// ```
///
/// The setting is Eigen's (Eigen::setNbThreads): one value for the whole program, shared by
/// every thread. A program that includes this header starts with 1 GEMM thread, whatever
/// OMP_NUM_THREADS says. Products that are small (fewer than 50,000 multiply-adds per thread) and
/// matrix-vector products (streaming generation with one sequence) always run on one thread.
/// fit() sets FitOptions::gemm_threads for the duration of a run (train/fit.hpp).
#pragma once

#include <Eigen/Core>

#include "error.hpp"

namespace seqlm {

/// True when this build can run GEMMs on several threads (compiled with OpenMP).
#if defined(EIGEN_HAS_OPENMP)
inline constexpr bool gemm_threads_supported = true;
#else
inline constexpr bool gemm_threads_supported = false;
#endif

/// Sets the number of threads every following matrix product may use (>= 1, value_error
/// otherwise). Without OpenMP it checks the argument and does nothing else.
inline void set_gemm_threads(int threads) {
  if (threads < 1)
    throw value_error(detail::make_message("set_gemm_threads: threads must be >= 1, got ", threads));
  if constexpr (gemm_threads_supported) Eigen::setNbThreads(threads);
}

/// The number of threads a large matrix product may use now (1 without OpenMP).
inline int gemm_threads() { return gemm_threads_supported ? Eigen::nbThreads() : 1; }

/// Sets the GEMM thread count for the lifetime of the object and puts the previous value back
/// when it ends (also when an exception leaves the scope).
class ScopedGemmThreads {
 public:
  explicit ScopedGemmThreads(int threads) : previous_(gemm_threads()) { set_gemm_threads(threads); }
  ~ScopedGemmThreads() { set_gemm_threads(previous_); }
  ScopedGemmThreads(const ScopedGemmThreads&) = delete;
  ScopedGemmThreads& operator=(const ScopedGemmThreads&) = delete;

 private:
  int previous_;
};

namespace detail {

// One GEMM thread from the start of the program (Eigen's own default would be OpenMP's, i.e.
// every core). Initialised before main() in every program that includes this header.
inline int start_with_one_gemm_thread() {
  set_gemm_threads(1);
  return 1;
}
inline const int initial_gemm_threads = start_with_one_gemm_thread();

}  // namespace detail
}  // namespace seqlm
