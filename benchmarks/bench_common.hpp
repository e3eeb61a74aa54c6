// Helpers shared by the benchmark files: the machine's measured FP32 peak, the FLOP counters
// every kernel benchmark reports, and random inputs. See docs/performance.md for the method.
//
// Counters (per benchmark row):
//   GFLOP     useful FLOPs per iteration as a rate over the real (wall-clock) time: the console
//             shows "GFLOP=41.2/s", the JSON output the number of GFLOP/s
//   %peak     GFLOP/s as a percentage of this machine's single-core AVX2 FMA peak, from the
//             wall-clock time of the same timed loop (LoopClock)
//   items/s   tokens (T*B positions), columns or elements per second
#pragma once

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <ctime>
#include <seqlm/random.hpp>
#include <seqlm/tensor.hpp>
#include <vector>

namespace seqlm::bench {

// The single-core FP32 peak in GFLOP/s that %peak is relative to. Set once by main() before
// any benchmark runs: from the environment variable SEQLM_PEAK_GFLOPS when it is set, else
// measured with the FMA microbenchmark (bench_main.cpp).
inline double& peak_gflops() {
  static double value = 0.0;
  return value;
}

// The wall-clock time of a benchmark's timed loop: start it just before `for (auto _ : state)`.
// (Google Benchmark's own timer is not readable from the benchmark, and a rate counter would
// print %peak as "%/s".)
class LoopClock {
 public:
  LoopClock() : start_(std::chrono::steady_clock::now()) {}
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  std::chrono::steady_clock::time_point start_;
};

// The CPU time of the whole process (every thread) since construction: on a machine shared with
// other jobs, CPU time per iteration shows the work a row did, while its wall-clock time also
// counts the time it waited for a core.
class ProcessCpuClock {
 public:
  ProcessCpuClock() : start_(now()) {}
  double seconds() const { return now() - start_; }

 private:
  static double now() {
    timespec time{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time);
    return static_cast<double>(time.tv_sec) + 1e-9 * static_cast<double>(time.tv_nsec);
  }
  double start_;
};

// Adds the GFLOP and %peak counters for a benchmark that does `flops_per_iteration` floating-point
// operations (a multiply-add counts as 2) in each iteration of the loop timed by `clock`.
// Call it right after the loop.
// On `threads` threads, %peak is relative to threads x the single-core peak.
inline void report_flops(benchmark::State& state, double flops_per_iteration, const LoopClock& clock,
                         int threads = 1) {
  using benchmark::Counter;
  const double loop_seconds = clock.seconds();
  state.counters["GFLOP"] = Counter(flops_per_iteration * 1e-9, Counter::kIsIterationInvariantRate);
  if (peak_gflops() > 0.0 && loop_seconds > 0.0) {
    const double gflops = flops_per_iteration * static_cast<double>(state.iterations()) * 1e-9 / loop_seconds;
    state.counters["%peak"] = Counter(100.0 * gflops / (threads * peak_gflops()));
  }
}

// A rows x cols matrix of U(-scale, scale) entries from a fixed-seed generator.
inline Matrix<float> random_matrix(Index rows, Index cols, Rng& rng, double scale = 1.0) {
  Matrix<float> m(rows, cols);
  for (Index k = 0; k < m.size(); ++k) m.data()[k] = static_cast<float>(rng.uniform(-scale, scale));
  return m;
}

// `count` token ids uniform in [0, vocabulary_size).
inline std::vector<TokenId> random_ids(Index count, Index vocabulary_size, Rng& rng) {
  std::vector<TokenId> ids(static_cast<std::size_t>(count));
  for (auto& id : ids) id = static_cast<TokenId>(rng.below(static_cast<std::uint64_t>(vocabulary_size)));
  return ids;
}

// Each file registers its benchmarks from main() (explicit, so the order of the rows is fixed).
void register_peak_benchmarks();       // bench_main.cpp
void register_recurrent_benchmarks();  // bench_recurrent.cpp
void register_kernel_benchmarks();     // bench_kernels.cpp
void register_model_benchmarks();      // bench_models.cpp

}  // namespace seqlm::bench
