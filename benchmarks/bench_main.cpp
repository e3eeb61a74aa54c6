// The benchmark executable's main() and the FP32 FMA peak microbenchmarks.
//
// Peak: a core retires at most P fused multiply-adds per cycle on W-float registers, each FMA
// being 2 FLOPs, but every FMA has a latency of L cycles (4-5). A single chain
// acc = acc * a + b waits L cycles per FMA, so the kernel runs kChains independent chains: with
// kChains >= P * L the FMA units never wait and the measured rate is the throughput peak,
// 2 * W * P * frequency FLOP/s. Two widths are measured, whatever -march this program was built
// with (the kernels use intrinsics under a target attribute): 256-bit (AVX2, W = 8) and, on a CPU
// with AVX-512F, 512-bit (W = 16). Zen 5 executes 512-bit FMAs at full width, so there the
// 512-bit peak is twice the 256-bit one; Zen 4 splits them in two halves and gains nothing.
//
// Every benchmark's %peak counter is relative to the machine's peak: the 512-bit one where the
// CPU has AVX-512F, else the 256-bit one, measured once at startup (single thread) unless the
// environment variable SEQLM_PEAK_GFLOPS gives it. A program built for AVX2 on an AVX-512 machine
// therefore shows at most ~50%: what it leaves unused.
// GCC 12 reports its own AVX-512 headers' deliberately uninitialised temporaries (__Y = __Y in
// _mm512_undefined_ps, reached through _mm512_reduce_add_ps) as -Wuninitialized once inlined;
// the warning is switched off for those header lines only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <seqlm/math/simd.hpp>
#include <string>
#include <thread>

#include "bench_common.hpp"
#include "machine_info.hpp"

namespace seqlm::bench {
namespace {

constexpr int kChains = 12;  // >= 2 FMA units x 5 cycles latency; fits in 16 ymm registers

// rounds x kChains x 8 (or 16) FMAs in kChains independent dependency chains starting at
// `start`. Returns a value that depends on every chain so the compiler cannot drop any of them.
// acc <- acc * 0.999999 + 1e-6 has the fixed point 1, so values stay normal (no denormals).
__attribute__((target("avx2,fma"))) float fma_chains_256(long rounds, float start) {
  __m256 acc[kChains];
  for (int k = 0; k < kChains; ++k) acc[k] = _mm256_set1_ps(start + 0.001f * static_cast<float>(k));
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-6f);
  for (long r = 0; r < rounds; ++r) {
    for (int k = 0; k < kChains; ++k) acc[k] = _mm256_fmadd_ps(acc[k], a, b);
  }
  for (int k = 1; k < kChains; ++k) acc[0] = _mm256_add_ps(acc[0], acc[k]);
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, acc[0]);
  float sum = 0.0f;
  for (float lane : lanes) sum += lane;
  return sum;
}

__attribute__((target("avx512f"))) float fma_chains_512(long rounds, float start) {
  __m512 acc[kChains];
  for (int k = 0; k < kChains; ++k) acc[k] = _mm512_set1_ps(start + 0.001f * static_cast<float>(k));
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-6f);
  for (long r = 0; r < rounds; ++r) {
    for (int k = 0; k < kChains; ++k) acc[k] = _mm512_fmadd_ps(acc[k], a, b);
  }
  for (int k = 1; k < kChains; ++k) acc[0] = _mm512_add_ps(acc[0], acc[k]);
  return _mm512_reduce_add_ps(acc[0]);
}

// One of the two kernels, by register width in bits.
struct FmaKernel {
  int bits;
  float (*chains)(long rounds, float start);
  double flops(long rounds) const { return 2.0 * static_cast<double>(rounds) * kChains * (bits / 32); }
};
const FmaKernel kFma256{256, fma_chains_256};
const FmaKernel kFma512{512, fma_chains_512};

bool cpu_has_avx512f() { return __builtin_cpu_supports("avx512f"); }

// One timed call of the kernel on `threads` threads at once (each its own chains), in GFLOP/s.
// DoNotOptimize(start) makes the start value opaque, so the compiler can neither fold the
// chains into a constant nor move them out of the timing.
double fma_gflops_once(const FmaKernel& kernel, long rounds, int threads) {
  float start = 1.0f;
  benchmark::DoNotOptimize(start);
  const auto begin = std::chrono::steady_clock::now();
  std::vector<std::thread> others;
  for (int t = 1; t < threads; ++t) {
    others.emplace_back([&] { benchmark::DoNotOptimize(kernel.chains(rounds, start)); });
  }
  float result = kernel.chains(rounds, start);
  for (auto& thread : others) thread.join();
  benchmark::DoNotOptimize(result);
  const std::chrono::duration<double> seconds = std::chrono::steady_clock::now() - begin;
  return threads * kernel.flops(rounds) / seconds.count() * 1e-9;
}

// The best of 50 short single-thread runs (1e6 rounds = 192 or 384 MFLOP, ~2 ms): on a shared
// machine the best run is the one that the scheduler did not interrupt.
double measure_peak_gflops(const FmaKernel& kernel) {
  const long rounds = 1'000'000;
  fma_gflops_once(kernel, rounds, 1);  // warm up (clock ramp-up)
  double best = 0.0;
  for (int trial = 0; trial < 50; ++trial) best = std::max(best, fma_gflops_once(kernel, rounds, 1));
  return best;
}

// The same kernels as benchmark rows, so the peaks appear (and can be re-measured) in the
// output next to the kernels, on 1 and 2 threads: %peak is ~100 for the machine's widest
// kernel on one thread, ~50 for the 256-bit one on a Zen 5.
void BM_fma_peak(benchmark::State& state, const FmaKernel& kernel, int threads) {
  const long rounds = 1 << 21;  // ~4 ms a call: starting a second thread (~50 us) stays noise
  const LoopClock clock;
  for (auto _ : state) benchmark::DoNotOptimize(fma_gflops_once(kernel, rounds, threads));
  report_flops(state, threads * kernel.flops(rounds), clock, threads);
}

}  // namespace

void register_peak_benchmarks() {
  for (const FmaKernel* kernel : {&kFma256, &kFma512}) {
    if (kernel->bits == 512 && !cpu_has_avx512f()) continue;
    for (int threads : {1, 2}) {
      const std::string name =
          "fma_peak_" + std::to_string(kernel->bits) + "/threads:" + std::to_string(threads);
      benchmark::RegisterBenchmark(name.c_str(), BM_fma_peak, *kernel, threads)->UseRealTime();
    }
  }
}

// The machine and the peaks, in every results file's "context".
void add_machine_context(double peak_256, double peak_512) {
  benchmark::AddCustomContext("cpu_model_name", cpuinfo_field("model name"));
  benchmark::AddCustomContext("cpu_family", cpuinfo_field("cpu family"));
  benchmark::AddCustomContext("cpu_model", cpuinfo_field("model"));
  benchmark::AddCustomContext("cpu_flags", cpuinfo_field("flags"));
  benchmark::AddCustomContext("seqlm_peak_gflops_256bit", std::to_string(peak_256));
  if (peak_512 > 0.0) benchmark::AddCustomContext("seqlm_peak_gflops_512bit", std::to_string(peak_512));
}

}  // namespace seqlm::bench

int main(int argc, char** argv) {
  using namespace seqlm::bench;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;

  // The peak that %peak is relative to: SEQLM_PEAK_GFLOPS if set (e.g. measured once on a quiet
  // machine and reused), else the machine's widest FMA peak measured now.
  const double peak_256 = measure_peak_gflops(kFma256);
  const double peak_512 = cpu_has_avx512f() ? measure_peak_gflops(kFma512) : 0.0;
  add_machine_context(peak_256, peak_512);
  std::string source = std::string("measured: ") + (peak_512 > 0.0 ? "512" : "256") +
                       "-bit FMAs, single thread, " + std::to_string(kChains) + " chains";
  peak_gflops() = std::max(peak_256, peak_512);
  const char* from_env = std::getenv("SEQLM_PEAK_GFLOPS");
  if (from_env != nullptr && std::atof(from_env) > 0.0) {
    peak_gflops() = std::atof(from_env);
    source = "SEQLM_PEAK_GFLOPS";
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
