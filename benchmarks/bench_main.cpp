// The benchmark executable's main() and the FP32 FMA peak microbenchmark.
//
// Peak: a core with AVX2 + FMA retires at most P fused multiply-adds per cycle on 8-float
// registers (P = 2 on Zen 2-4 and Skylake), each FMA being 2 FLOPs, but every FMA has a
// latency of L cycles (4-5). A single chain acc = acc * a + b waits L cycles per FMA, so the
// kernel runs kChains independent chains: with kChains >= P * L the FMA units never wait and
// the measured rate is the throughput peak, 2 * 8 * P * frequency FLOP/s.
// Every benchmark's %peak counter is relative to this number, measured once at startup
// (single thread) unless the environment variable SEQLM_PEAK_GFLOPS gives it.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <seqlm/math/simd.hpp>
#include <string>

#include "bench_common.hpp"

namespace seqlm::bench {
namespace {

constexpr int kChains = 12;  // >= 2 FMA units x 5 cycles latency, and fits in 16 ymm registers

// rounds x kChains x (SIMD width) FMAs in kChains independent dependency chains starting at
// `start`. Returns a value that depends on every chain so the compiler cannot drop any of them.
// acc <- acc * 0.999999 + 1e-6 has the fixed point 1, so values stay normal (no denormals).
float fma_chains(long rounds, float start) {
  using V = simd::Batch<float>;
  V acc[kChains];
  for (int k = 0; k < kChains; ++k) acc[k] = V(start + 0.001f * static_cast<float>(k));
  const V a(0.999999f), b(1e-6f);
  for (long r = 0; r < rounds; ++r) {
    for (int k = 0; k < kChains; ++k) acc[k] = xsimd::fma(acc[k], a, b);
  }
  V sum(0.0f);
  for (int k = 0; k < kChains; ++k) sum += acc[k];
  return xsimd::hadd(sum);
}

double fma_flops(long rounds) { return 2.0 * static_cast<double>(rounds) * kChains * simd::width<float>; }

// One timed call of fma_chains, in GFLOP/s. DoNotOptimize(start) makes the start value opaque,
// so the compiler can neither fold the chains into a constant nor move them out of the timing.
double fma_gflops_once(long rounds) {
  float start = 1.0f;
  benchmark::DoNotOptimize(start);
  const auto begin = std::chrono::steady_clock::now();
  float result = fma_chains(rounds, start);
  benchmark::DoNotOptimize(result);
  const std::chrono::duration<double> seconds = std::chrono::steady_clock::now() - begin;
  return fma_flops(rounds) / seconds.count() * 1e-9;
}

// The best of 50 short runs (1e6 rounds = 192 MFLOP, ~2 ms at 100 GFLOP/s): on a shared machine
// the best run is the one that the scheduler did not interrupt.
double measure_peak_gflops() {
  const long rounds = 1'000'000;
  fma_gflops_once(rounds);  // warm up (clock ramp-up)
  double best = 0.0;
  for (int trial = 0; trial < 50; ++trial) best = std::max(best, fma_gflops_once(rounds));
  return best;
}

// The same kernel as a benchmark row, so the peak appears (and can be re-measured) in the
// output next to the kernels: %peak here is ~100 by construction.
void BM_fma_peak(benchmark::State& state) {
  const long rounds = 1 << 16;
  float start = 1.0f;
  const LoopClock clock;
  for (auto _ : state) {
    benchmark::DoNotOptimize(start);  // opaque input: every iteration must run the chains
    benchmark::DoNotOptimize(fma_chains(rounds, start));
  }
  report_flops(state, fma_flops(rounds), clock);
}

}  // namespace

void register_peak_benchmarks() { benchmark::RegisterBenchmark("fma_peak", BM_fma_peak)->UseRealTime(); }

}  // namespace seqlm::bench

int main(int argc, char** argv) {
  using namespace seqlm::bench;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;

  // The peak that %peak is relative to: SEQLM_PEAK_GFLOPS if set (e.g. measured once on a quiet
  // machine and reused), else measured now.
  std::string source = "measured (single thread, " + std::to_string(kChains) + " FMA chains)";
  const char* from_env = std::getenv("SEQLM_PEAK_GFLOPS");
  if (from_env != nullptr && std::atof(from_env) > 0.0) {
    peak_gflops() = std::atof(from_env);
    source = "SEQLM_PEAK_GFLOPS";
  } else {
    peak_gflops() = measure_peak_gflops();
  }
  benchmark::AddCustomContext("seqlm_peak_gflops", std::to_string(peak_gflops()));
  benchmark::AddCustomContext("seqlm_peak_source", source);
  benchmark::AddCustomContext("seqlm_simd", std::string(seqlm::simd::Batch<float>::arch_type::name()) + ", " +
                                                std::to_string(seqlm::simd::width<float>) + " floats");
  benchmark::AddCustomContext("seqlm_threads",
                              "kernel rows: 1, or the threads:N in the name (GEMM threads); train_step and "
                              "headline_epoch rows: the threads:N in the name (data-parallel)");

  register_peak_benchmarks();
  register_recurrent_benchmarks();
  register_kernel_benchmarks();
  register_model_benchmarks();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
