// Matrix products at the recurrent layers' shapes: Eigen's product, seqlm's GEMM
// (include/seqlm/math/gemm.hpp) and, when the build found one, a CBLAS (OpenBLAS), side by
// side on the same operands. docs/performance.md ("GEMM strategy") reports the results.
//
// Rows: gemm/<implementation>/<product>/H:h/B:b, float, one thread, C accumulated (C += ...):
//   step_Uh     Z_t += U h_{t-1}       (4H x H) (H x B)       forward, every step
//   step_UtdZ   dh   = U^T dZ_t        (H x 4H) (4H x B)      backward, every step
//   input_WX    Z    = W X             (4H x I) (I x T*B)     forward, once (I = H, T = 60)
//   grad_dU     dU  += dZ Hprev^T      (4H x T*B) (T*B x H)   backward, once
//   grad_dX     dX   = W^T dZ          (I x 4H) (4H x T*B)    backward, once
// <implementation>: eigen (C.noalias() += A * B), seqlm (gemm::Multiplier, packs both
// operands), seqlm_packed (gemm::PackedMatrix: A packed beforehand, as the layers do for U;
// per-step products only), blas (cblas_sgemm; only when built with SEQLM_BENCH_CBLAS). FLOPs = 2 m n k.
//
// These rows register themselves when the program starts (before main() registers the
// others), so they come first in the output. Select them with --benchmark_filter='^gemm/'.
#include <seqlm/math/gemm.hpp>
#include <string>

#include "bench_common.hpp"

#if defined(SEQLM_BENCH_CBLAS)
#include <cblas.h>
#if defined(SEQLM_BENCH_OPENBLAS)
extern "C" void openblas_set_num_threads(int);
#endif
#endif

namespace seqlm::bench {
namespace {

enum class Implementation { eigen, seqlm, seqlm_packed, blas };

// C (m x n) += op(A) op(B).
struct Product {
  const char* name;
  Index m, n, k;
  gemm::Op op_a, op_b;
};

void gemm_row(benchmark::State& state, Implementation implementation, Product product) {
  const auto [name, m, n, k, op_a, op_b] = product;
  const bool ta = op_a == gemm::Op::transpose, tb = op_b == gemm::Op::transpose;
  Rng rng(42);
  const Matrix<float> a = ta ? random_matrix(k, m, rng) : random_matrix(m, k, rng);
  const Matrix<float> b = tb ? random_matrix(n, k, rng) : random_matrix(k, n, rng);
  Matrix<float> c = random_matrix(m, n, rng);
  gemm::Multiplier<float> multiplier;
  gemm::PackedMatrix<float> packed;
  packed.pack(a, op_a);

  auto multiply = [&] {
    switch (implementation) {
      case Implementation::eigen:
        if (ta) {
          c.noalias() += a.transpose() * b;
        } else if (tb) {
          c.noalias() += a * b.transpose();
        } else {
          c.noalias() += a * b;
        }
        break;
      case Implementation::seqlm: multiplier.multiply(a, op_a, b, op_b, c, gemm::Update::accumulate); break;
      case Implementation::seqlm_packed: packed.multiply(b, c, gemm::Update::accumulate); break;
      case Implementation::blas:
#if defined(SEQLM_BENCH_CBLAS)
        cblas_sgemm(CblasColMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                    static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), 1.0f, a.data(),
                    static_cast<int>(a.rows()), b.data(), static_cast<int>(b.rows()), 1.0f, c.data(),
                    static_cast<int>(c.rows()));
#endif
        break;
    }
  };
  multiply();  // warm-up: sizes the buffers, loads the operands into the caches
  const LoopClock clock;
  for (auto _ : state) {
    multiply();
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  report_flops(state, 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k), clock);
}

void register_gemm_benchmarks() {
#if defined(SEQLM_BENCH_OPENBLAS)
  openblas_set_num_threads(1);  // the comparison is single-threaded on both sides
#endif
  struct Named {
    const char* name;
    Implementation implementation;
  };
  std::vector<Named> implementations = {{"eigen", Implementation::eigen},
                                        {"seqlm", Implementation::seqlm},
                                        {"seqlm_packed", Implementation::seqlm_packed}};
#if defined(SEQLM_BENCH_CBLAS)
  implementations.push_back({"blas", Implementation::blas});
#endif
  constexpr Index kSteps = 60;
  for (const Index H : {128, 256, 512}) {
    for (const Index B : {32, 128}) {
      const std::string sizes = "/H:" + std::to_string(H) + "/B:" + std::to_string(B);
      const Index G = 4 * H, TB = kSteps * B;
      const Product products[] = {
          {"step_Uh", G, B, H, gemm::Op::none, gemm::Op::none},
          {"step_UtdZ", H, B, G, gemm::Op::transpose, gemm::Op::none},
          {"input_WX", G, TB, H, gemm::Op::none, gemm::Op::none},
          {"grad_dU", G, H, TB, gemm::Op::none, gemm::Op::transpose},
          {"grad_dX", H, TB, G, gemm::Op::transpose, gemm::Op::none},
      };
      for (const Product& product : products) {
        const bool per_step = std::string(product.name).rfind("step_", 0) == 0;
        for (const Named& implementation : implementations) {
          if (implementation.implementation == Implementation::seqlm_packed && !per_step) continue;
          const std::string row = std::string("gemm/") + implementation.name + "/" + product.name + sizes;
          benchmark::RegisterBenchmark(row.c_str(), gemm_row, implementation.implementation, product)
              ->UseRealTime()
              ->Unit(benchmark::kMicrosecond);
        }
      }
    }
  }
}

// Registers the rows before main() runs (bench_main.cpp registers the other files' rows).
const bool registered = (register_gemm_benchmarks(), true);

}  // namespace
}  // namespace seqlm::bench
