// Kernel benchmarks besides the recurrent layers: the fused LSTM gate kernels alone, the
// softmax cross-entropy loss, Conv1D and Dense. float, single thread.
//
// Rows:
//   activation/{sigmoid,tanh}/N:n            simd::sigmoid / simd::tanh on n floats (out of place)
//   lstm_gates/{forward,backward}/H:h/B:b    detail::lstm_cell_forward / _backward on B columns
//   softmax_cross_entropy/V:v/N:n            loss + dloss/dlogits (SoftmaxCrossEntropy::forward)
//   cross_entropy/V:v/N:n                    loss only (evaluation)
//   conv1d/{forward,forward_backward}/in:c/filters:f/k:k/T:t/B:b   causal, relu
//   dense/{forward,forward_backward}/in:i/units:u/N:n
//   dense/apply/in:i/units:u/N:1             one column: the matrix-vector product of generation
//
// FLOPs are counted for the matrix products only (multiply-add = 2):
//   Conv1D forward  2 * filters * in * B * sum_j (T - s_j),  s_j = (k-1-j) * dilation
//   Dense forward   2 * units * in * N
//   forward+backward = 3 x forward (dW and dX each cost one forward).
// The gate kernels and the loss are elementwise (exp, tanh): they report elements per second
// (items/s) instead of GFLOP/s.
#include <seqlm/layers/conv1d.hpp>
#include <seqlm/layers/dense.hpp>
#include <seqlm/layers/lstm.hpp>
#include <seqlm/loss.hpp>
#include <seqlm/math/simd.hpp>
#include <string>

#include "bench_common.hpp"

namespace seqlm::bench {
namespace {

// ---- activations alone ------------------------------------------------------------------------------

// out = f(in) for n floats in (-3, 3), the vectorised activations every gate kernel calls. n =
// 16,384 (64 KB in, 64 KB out: L2-resident) measures the arithmetic, not the memory: the cost per
// element that a gate pass would have if its operands were all in cache.
template <bool use_sigmoid>
void activation(benchmark::State& state, Index n) {
  Rng rng(42);
  const Matrix<float> in = random_matrix(n, 1, rng, 3.0);
  Matrix<float> out(n, 1);
  for (auto _ : state) {
    const float* x = in.data();
    float* y = out.data();
    simd::vectorized_loop<float>(n, [&](Index k, auto lane) {
      using V = decltype(lane);
      const V value = simd::load<V>(x + k);
      simd::store(y + k, use_sigmoid ? simd::sigmoid(value) : simd::tanh(value));
    });
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * n);
}

// ---- fused LSTM gate kernels ---------------------------------------------------------------------

// lstm_cell_forward on each of B columns of H units. The kernel overwrites its input z with the
// activated gates, so every iteration first restores z from realistic pre-activations (a copy of
// 4H x B floats, part of the timing): xsimd's tanh takes a different path for |x| < 0.625, so
// running on already-activated values would time a different mix of code.
void lstm_gates_forward(benchmark::State& state, Index H, Index B) {
  Rng rng(42);
  const Matrix<float> pre_activations = random_matrix(4 * H, B, rng, 3.0);  // z in (-3, 3)
  const Matrix<float> c_prev = random_matrix(H, B, rng);
  Matrix<float> z(4 * H, B), c(H, B), tanh_c(H, B), h(H, B);
  for (auto _ : state) {
    z = pre_activations;
    for (Index b = 0; b < B; ++b) {
      detail::lstm_cell_forward(H, z.col(b).data(), c_prev.col(b).data(), c.col(b).data(),
                                tanh_c.col(b).data(), h.col(b).data());
    }
    benchmark::DoNotOptimize(h.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * H * B);  // units x sequences
}

// lstm_cell_backward on each of B columns. dc is overwritten with dc * f; it is restored every
// iteration (H x B copy, timed) so that it does not shrink into denormals over the iterations.
void lstm_gates_backward(benchmark::State& state, Index H, Index B) {
  Rng rng(42);
  Matrix<float> gates(4 * H, B), c(H, B), tanh_c(H, B), h(H, B);
  const Matrix<float> pre_activations = random_matrix(4 * H, B, rng, 3.0);
  const Matrix<float> c_prev = random_matrix(H, B, rng);
  gates = pre_activations;
  for (Index b = 0; b < B; ++b) {
    detail::lstm_cell_forward(H, gates.col(b).data(), c_prev.col(b).data(), c.col(b).data(),
                              tanh_c.col(b).data(), h.col(b).data());
  }
  const Matrix<float> dh = random_matrix(H, B, rng, 1e-2);
  const Matrix<float> dc_next = random_matrix(H, B, rng, 1e-2);
  Matrix<float> dc(H, B), dz(4 * H, B);
  for (auto _ : state) {
    dc = dc_next;
    for (Index b = 0; b < B; ++b) {
      detail::lstm_cell_backward(H, gates.col(b).data(), c_prev.col(b).data(), tanh_c.col(b).data(),
                                 dh.col(b).data(), dc.col(b).data(), dz.col(b).data());
    }
    benchmark::DoNotOptimize(dz.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * H * B);
}

// ---- softmax cross-entropy --------------------------------------------------------------------

// Logits (V x N) uniform in (-3, 3), random targets; N = T*B positions.
void softmax_cross_entropy_with_gradient(benchmark::State& state, Index V, Index T, Index B) {
  Rng rng(42);
  const Matrix<float> logits = random_matrix(V, T * B, rng, 3.0);
  const std::vector<TokenId> targets = random_ids(T * B, V, rng);
  SoftmaxCrossEntropy<float> loss;
  loss.forward(logits, TokenView(targets, T, B));  // sizes the gradient buffer
  for (auto _ : state) {
    const CrossEntropyResult result = loss.forward(logits, TokenView(targets, T, B));
    benchmark::DoNotOptimize(result.loss);
    benchmark::DoNotOptimize(loss.logits_gradient().data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * T * B);  // positions
}

void cross_entropy_loss_only(benchmark::State& state, Index V, Index T, Index B) {
  Rng rng(42);
  const Matrix<float> logits = random_matrix(V, T * B, rng, 3.0);
  const std::vector<TokenId> targets = random_ids(T * B, V, rng);
  for (auto _ : state) {
    const CrossEntropyResult result = cross_entropy(logits, TokenView(targets, T, B));
    benchmark::DoNotOptimize(result.loss);
  }
  state.SetItemsProcessed(state.iterations() * T * B);
}

// ---- Conv1D ------------------------------------------------------------------------------------------

struct ConvShape {
  Index in, filters, kernel_size, steps, batch;
};

// Multiply-adds x 2 of the causal forward: tap j (shift s_j) covers (T - s_j) * B columns.
double conv_forward_flops(ConvShape s) {
  double columns = 0.0;
  for (Index j = 0; j < s.kernel_size; ++j) {
    const Index shift = s.kernel_size - 1 - j;  // dilation 1
    if (shift < s.steps) columns += static_cast<double>((s.steps - shift) * s.batch);
  }
  return 2.0 * static_cast<double>(s.filters * s.in) * columns;
}

Conv1D<float> make_conv(ConvShape s, Rng& rng) {
  Conv1DOptions options;
  options.activation = Activation::relu;
  Conv1D<float> layer(s.in, s.filters, s.kernel_size, options);
  layer.initialize(rng);
  return layer;
}

void conv1d_forward(benchmark::State& state, ConvShape s) {
  Rng rng(42);
  auto layer = make_conv(s, rng);
  const Matrix<float> x = random_matrix(s.in, s.steps * s.batch, rng);
  layer.forward(x, s.batch);
  const LoopClock clock;
  for (auto _ : state) {
    const Matrix<float>& y = layer.forward(x, s.batch);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  report_flops(state, conv_forward_flops(s), clock);
  state.SetItemsProcessed(state.iterations() * s.steps * s.batch);
}

void conv1d_forward_backward(benchmark::State& state, ConvShape s) {
  Rng rng(42);
  auto layer = make_conv(s, rng);
  const Matrix<float> x = random_matrix(s.in, s.steps * s.batch, rng);
  const Matrix<float> d_output = random_matrix(s.filters, s.steps * s.batch, rng, 1e-3);
  layer.forward(x, s.batch);
  layer.backward(d_output);
  const LoopClock clock;
  for (auto _ : state) {
    layer.forward(x, s.batch);
    layer.backward(d_output);
    benchmark::DoNotOptimize(layer.input_gradient().data());
    benchmark::ClobberMemory();
  }
  report_flops(state, 3.0 * conv_forward_flops(s), clock);
  state.SetItemsProcessed(state.iterations() * s.steps * s.batch);
}

// ---- Dense ---------------------------------------------------------------------------------------------

struct DenseShape {
  Index in, units, columns;
};

double dense_forward_flops(DenseShape s) {
  return 2.0 * static_cast<double>(s.units * s.in) * static_cast<double>(s.columns);
}

void dense_forward(benchmark::State& state, DenseShape s) {
  Rng rng(42);
  Dense<float> layer(s.in, s.units);
  layer.initialize(rng);
  const Matrix<float> x = random_matrix(s.in, s.columns, rng);
  layer.forward(x);
  const LoopClock clock;
  for (auto _ : state) {
    const Matrix<float>& y = layer.forward(x);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  report_flops(state, dense_forward_flops(s), clock);
  state.SetItemsProcessed(state.iterations() * s.columns);
}

void dense_forward_backward(benchmark::State& state, DenseShape s) {
  Rng rng(42);
  Dense<float> layer(s.in, s.units);
  layer.initialize(rng);
  const Matrix<float> x = random_matrix(s.in, s.columns, rng);
  const Matrix<float> d_output = random_matrix(s.units, s.columns, rng, 1e-3);
  layer.forward(x);
  layer.backward(d_output);
  const LoopClock clock;
  for (auto _ : state) {
    layer.forward(x);
    layer.backward(d_output);
    benchmark::DoNotOptimize(layer.input_gradient().data());
    benchmark::ClobberMemory();
  }
  report_flops(state, 3.0 * dense_forward_flops(s), clock);
  state.SetItemsProcessed(state.iterations() * s.columns);
}

// apply() on the given columns (N = 1: the output layer of text generation, one step of one stream).
void dense_apply(benchmark::State& state, DenseShape s) {
  Rng rng(42);
  Dense<float> layer(s.in, s.units);
  layer.initialize(rng);
  const Matrix<float> x = random_matrix(s.in, s.columns, rng);
  Matrix<float> y(s.units, s.columns);
  const LoopClock clock;
  for (auto _ : state) {
    layer.step(x, y);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  report_flops(state, dense_forward_flops(s), clock);
  state.SetItemsProcessed(state.iterations() * s.columns);
}

// ---- registration ----------------------------------------------------------------------------------

std::string dense_name(const char* mode, DenseShape s) {
  return std::string("dense/") + mode + "/in:" + std::to_string(s.in) + "/units:" + std::to_string(s.units) +
         "/N:" + std::to_string(s.columns);
}

}  // namespace

void register_kernel_benchmarks() {
  const Index activation_size = 16384;
  const std::string activation_shape = "/N:" + std::to_string(activation_size);
  benchmark::RegisterBenchmark(("activation/sigmoid" + activation_shape).c_str(), activation<true>,
                               activation_size)
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark(("activation/tanh" + activation_shape).c_str(), activation<false>,
                               activation_size)
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond);

  for (const Index H : {128, 256, 512}) {
    for (const Index B : {1, 32, 128}) {
      const std::string shape = "/H:" + std::to_string(H) + "/B:" + std::to_string(B);
      benchmark::RegisterBenchmark(("lstm_gates/forward" + shape).c_str(), lstm_gates_forward, H, B)
          ->UseRealTime()
          ->Unit(benchmark::kMicrosecond);
      benchmark::RegisterBenchmark(("lstm_gates/backward" + shape).c_str(), lstm_gates_backward, H, B)
          ->UseRealTime()
          ->Unit(benchmark::kMicrosecond);
    }
  }

  // Vocabularies of the tutorials: 57 and 86 characters, 3582 words; N = T*B = 60 x 32 positions.
  const Index T = 60, B = 32;
  for (const Index V : {57, 86, 3582}) {
    const std::string shape = "/V:" + std::to_string(V) + "/N:" + std::to_string(T * B);
    benchmark::RegisterBenchmark(("softmax_cross_entropy" + shape).c_str(),
                                 softmax_cross_entropy_with_gradient, V, T, B)
        ->UseRealTime()
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(("cross_entropy" + shape).c_str(), cross_entropy_loss_only, V, T, B)
        ->UseRealTime()
        ->Unit(benchmark::kMicrosecond);
  }

  // The Machado model's convolution: 16 channels in, 32 filters, kernel 3, T = 128, B = 32.
  const ConvShape machado{16, 32, 3, 128, 32};
  const std::string conv_shape = "/in:16/filters:32/k:3/T:128/B:32";
  benchmark::RegisterBenchmark(("conv1d/forward" + conv_shape).c_str(), conv1d_forward, machado)
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark(("conv1d/forward_backward" + conv_shape).c_str(), conv1d_forward_backward,
                               machado)
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond);

  // Output layers H -> V over all T*B positions, and for one column (generation).
  for (const DenseShape s :
       {DenseShape{128, 57, 60 * 128}, DenseShape{128, 86, 60 * 128}, DenseShape{256, 3582, 60 * 32}}) {
    benchmark::RegisterBenchmark(dense_name("forward", s).c_str(), dense_forward, s)
        ->UseRealTime()
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(dense_name("forward_backward", s).c_str(), dense_forward_backward, s)
        ->UseRealTime()
        ->Unit(benchmark::kMicrosecond);
  }
  for (const DenseShape s : {DenseShape{128, 57, 1}, DenseShape{256, 3582, 1}}) {
    benchmark::RegisterBenchmark(dense_name("apply", s).c_str(), dense_apply, s)
        ->UseRealTime()
        ->Unit(benchmark::kMicrosecond);
  }
}

}  // namespace seqlm::bench
