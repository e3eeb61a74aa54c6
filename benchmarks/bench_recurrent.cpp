// Recurrent layer benchmarks: LSTM and GRU (reset_after true and false), float, single thread
// unless the name ends in /threads:N.
//
// Rows (names are what --benchmark_filter matches; pytorch_side_by_side.py builds the same names):
//   <cell>/forward/I:i/H:h/B:b/T:t            forward(x, B) with return_sequences = true
//   <cell>/forward_backward/I:i/H:h/B:b/T:t   forward, then backward(d_output) (full BPTT)
//   <cell>/step/I:i/H:h/B:b                   one streaming step(x, state) of B sequences
//   <cell>/{forward,forward_backward}/I:i/H:h/B:b/T:t/threads:2
//                                             the same on 2 GEMM threads (set_gemm_threads: the time
//                                             loops on 2 blocks of sequences, the large products on
//                                             2 threads); %peak relative to 2 x the single-core peak
//   <cell>_ids/{forward,forward_backward}/V:v/H:h/B:b/T:t   token-id (one-hot) inputs
//   <cell>_ids/step/V:v/H:h/B:b
// with <cell> one of lstm, gru_reset_after, gru_reset_before.
//
// FLOPs counted (matrix products only; a multiply-add is 2 FLOPs; G gate blocks, G = 4 for the
// LSTM, 3 for the GRU, whose reset_after = false variant splits U into U_zr and U_h but does
// the same number of multiply-adds):
//   forward            2 * G*H * (I + H) * B * T       (W x_t and U h_{t-1} for every step)
//   forward+backward   3 x forward                     (backward: U^T dZ, W^T dZ, dZ Hprev^T, dZ X^T)
//   step               2 * G*H * (I + H) * B
// For token ids the input projection is a gather of kernel columns, not a product, so I is
// taken as 0 (only the recurrent products count): forward = 2 * G*H * H * B * T.
// The gate nonlinearities (exp, tanh) are not counted: %peak is the share of the FMA peak
// that the counted products would need, a lower bound on how busy the core is.
#include <seqlm/layers/gru.hpp>
#include <seqlm/layers/lstm.hpp>
#include <seqlm/parallel.hpp>
#include <string>

#include "bench_common.hpp"

namespace seqlm::bench {
namespace {

constexpr Index kSteps = 60;  // T: the tutorials' sequence length

// The shape of one row. input_size is I for dense inputs, the vocabulary size for ids.
struct RecurrentShape {
  Index input_size, units, batch, steps;
  int threads = 1;  // GEMM threads
};

// Matrix-product FLOPs of one forward pass over `steps` steps (see the top of the file).
double forward_flops(Index gates, Index input_rows_multiplied, Index units, Index batch, Index steps) {
  return 2.0 * static_cast<double>(gates * units) * static_cast<double>(input_rows_multiplied + units) *
         static_cast<double>(batch * steps);
}

// How to build each cell: a layer with return_sequences = true (what a language model uses)
// and Keras's initialisers, from a fixed seed.
struct LSTMCell {
  static constexpr Index gates = 4;
  static LSTM<float> make(Index input_size, Index units, Rng& rng) {
    LSTMOptions options;
    options.return_sequences = true;
    LSTM<float> layer(input_size, units, options);
    layer.initialize(rng);
    return layer;
  }
};

template <bool reset_after>
struct GRUCell {
  static constexpr Index gates = 3;
  static GRU<float> make(Index input_size, Index units, Rng& rng) {
    GRUOptions options;
    options.return_sequences = true;
    options.reset_after = reset_after;
    GRU<float> layer(input_size, units, options);
    layer.initialize(rng);
    return layer;
  }
};

// ---- dense inputs ------------------------------------------------------------------------------

template <class Cell>
void forward_dense(benchmark::State& state, RecurrentShape shape) {
  const auto [I, H, B, T, threads] = shape;
  const ScopedGemmThreads gemm_threads(threads);
  Rng rng(42);
  auto layer = Cell::make(I, H, rng);
  const Matrix<float> x = random_matrix(I, T * B, rng);  // I x T*B, time-major
  layer.forward(x, B);                                   // sizes the layer's buffers outside the timing
  const LoopClock clock;
  for (auto _ : state) {
    const Matrix<float>& y = layer.forward(x, B);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  report_flops(state, forward_flops(Cell::gates, I, H, B, T), clock, threads);
  state.SetItemsProcessed(state.iterations() * T * B);  // tokens
}

// One training step's layer work: forward, then backward with a fixed d_output (H x T*B).
// The parameter gradients accumulate over the iterations (as torch's .grad does without
// zero_grad); the input gradient dX is computed, as for a layer stacked on another.
template <class Cell>
void forward_backward_dense(benchmark::State& state, RecurrentShape shape) {
  const auto [I, H, B, T, threads] = shape;
  const ScopedGemmThreads gemm_threads(threads);
  Rng rng(42);
  auto layer = Cell::make(I, H, rng);
  const Matrix<float> x = random_matrix(I, T * B, rng);
  const Matrix<float> d_output = random_matrix(H, T * B, rng, 1e-3);
  layer.forward(x, B);
  layer.backward(d_output);
  const LoopClock clock;
  for (auto _ : state) {
    layer.forward(x, B);
    layer.backward(d_output);
    benchmark::DoNotOptimize(layer.input_gradient().data());
    benchmark::ClobberMemory();
  }
  report_flops(state, 3.0 * forward_flops(Cell::gates, I, H, B, T), clock, threads);
  state.SetItemsProcessed(state.iterations() * T * B);
}

// One streaming step of B sequences (B = 1 is text generation: matrix-vector products).
template <class Cell>
void step_dense(benchmark::State& state, RecurrentShape shape) {
  const Index I = shape.input_size, H = shape.units, B = shape.batch;
  Rng rng(42);
  const auto layer = Cell::make(I, H, rng);
  const Matrix<float> x = random_matrix(I, B, rng);
  auto stream = layer.make_state(B);
  const LoopClock clock;
  for (auto _ : state) {
    layer.step(x, stream);
    benchmark::DoNotOptimize(stream.h.data());
    benchmark::ClobberMemory();
  }
  report_flops(state, forward_flops(Cell::gates, I, H, B, 1), clock);
  state.SetItemsProcessed(state.iterations() * B);
}

// ---- token-id inputs ---------------------------------------------------------------------------

template <class Cell>
void forward_ids(benchmark::State& state, RecurrentShape shape) {
  const Index V = shape.input_size, H = shape.units, B = shape.batch, T = shape.steps;
  Rng rng(42);
  auto layer = Cell::make(V, H, rng);
  const std::vector<TokenId> ids = random_ids(T * B, V, rng);
  const TokenView tokens(ids, T, B);
  layer.forward(tokens);
  const LoopClock clock;
  for (auto _ : state) {
    const Matrix<float>& y = layer.forward(tokens);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  report_flops(state, forward_flops(Cell::gates, 0, H, B, T), clock);
  state.SetItemsProcessed(state.iterations() * T * B);
}

template <class Cell>
void forward_backward_ids(benchmark::State& state, RecurrentShape shape) {
  const Index V = shape.input_size, H = shape.units, B = shape.batch, T = shape.steps;
  Rng rng(42);
  auto layer = Cell::make(V, H, rng);
  const std::vector<TokenId> ids = random_ids(T * B, V, rng);
  const TokenView tokens(ids, T, B);
  const Matrix<float> d_output = random_matrix(H, T * B, rng, 1e-3);
  layer.forward(tokens);
  layer.backward(d_output);
  const LoopClock clock;
  for (auto _ : state) {
    layer.forward(tokens);
    layer.backward(d_output);
    benchmark::DoNotOptimize(layer.initial_state_gradient().h.data());
    benchmark::ClobberMemory();
  }
  report_flops(state, 3.0 * forward_flops(Cell::gates, 0, H, B, T), clock);
  state.SetItemsProcessed(state.iterations() * T * B);
}

template <class Cell>
void step_ids(benchmark::State& state, RecurrentShape shape) {
  const Index V = shape.input_size, H = shape.units, B = shape.batch;
  Rng rng(42);
  const auto layer = Cell::make(V, H, rng);
  const std::vector<TokenId> ids = random_ids(B, V, rng);
  auto stream = layer.make_state(B);
  const LoopClock clock;
  for (auto _ : state) {
    layer.step(ids.data(), stream);
    benchmark::DoNotOptimize(stream.h.data());
    benchmark::ClobberMemory();
  }
  report_flops(state, forward_flops(Cell::gates, 0, H, B, 1), clock);
  state.SetItemsProcessed(state.iterations() * B);
}

// ---- registration --------------------------------------------------------------------------------

std::string sizes(const char* input_label, RecurrentShape s, bool with_steps) {
  std::string name = std::string("/") + input_label + ":" + std::to_string(s.input_size) +
                     "/H:" + std::to_string(s.units) + "/B:" + std::to_string(s.batch);
  if (with_steps) name += "/T:" + std::to_string(s.steps);
  if (s.threads > 1) name += "/threads:" + std::to_string(s.threads);
  return name;
}

// One row, timed in real time and reported in microseconds.
template <class Function>
void add_row(const std::string& name, Function function, RecurrentShape shape) {
  benchmark::RegisterBenchmark(name.c_str(), function, shape)->UseRealTime()->Unit(benchmark::kMicrosecond);
}

// The forward and forward+backward rows of one dense-input shape.
template <class Cell>
void add_training_rows(const std::string& cell, RecurrentShape shape) {
  add_row(cell + "/forward" + sizes("I", shape, true), forward_dense<Cell>, shape);
  add_row(cell + "/forward_backward" + sizes("I", shape, true), forward_backward_dense<Cell>, shape);
}

template <class Cell>
void register_cell(const std::string& cell) {
  for (const Index H : {128, 256, 512}) {
    for (const Index B : {1, 32, 128}) {
      const RecurrentShape shape{H, H, B, kSteps};  // I = H
      add_training_rows<Cell>(cell, shape);
      add_row(cell + "/step" + sizes("I", shape, false), step_dense<Cell>, shape);
    }
  }
  // The training rows on 2 GEMM threads, for the batches that have a block of sequences per thread.
  if constexpr (gemm_threads_supported) {
    for (const Index H : {128, 256, 512}) {
      for (const Index B : {32, 128}) add_training_rows<Cell>(cell, RecurrentShape{H, H, B, kSteps, 2});
    }
  }
  // The Nietzsche character model: 57 character ids, H = 128, B = 128, T = 60; its streaming
  // step generates text one character at a time (B = 1).
  const RecurrentShape nietzsche{57, 128, 128, kSteps};
  const RecurrentShape generation{57, 128, 1, 1};
  add_row(cell + "_ids/forward" + sizes("V", nietzsche, true), forward_ids<Cell>, nietzsche);
  add_row(cell + "_ids/forward_backward" + sizes("V", nietzsche, true), forward_backward_ids<Cell>,
          nietzsche);
  add_row(cell + "_ids/step" + sizes("V", generation, false), step_ids<Cell>, generation);
}

}  // namespace

void register_recurrent_benchmarks() {
  register_cell<LSTMCell>("lstm");
  register_cell<GRUCell<true>>("gru_reset_after");
  register_cell<GRUCell<false>>("gru_reset_before");
}

}  // namespace seqlm::bench
