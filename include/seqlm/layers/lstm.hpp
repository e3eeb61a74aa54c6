/// \file
/// LSTM: long short-term memory recurrent layer with Keras's semantics.
///
/// Shapes (I inputs, H units, T steps, B sequences; time-major, column t*B + b):
/// ```text
///   x    I x T*B        (or token ids, which mean one-hot vectors over I inputs)
///   W    4H x I         "kernel"             row blocks i, f, c(g), o  (Keras's order)
///   U    4H x H         "recurrent_kernel"
///   b    4H x 1         "bias"
///   h, c H x B          per step
/// ```
///
/// Equations, for every step t (h_{-1}, c_{-1} = the initial state, zeros by default):
/// ```text
///   z_t = W x_t + U h_{t-1} + b                       4H x B
///   i = sigmoid(z_i)  f = sigmoid(z_f)  g = tanh(z_c)  o = sigmoid(z_o)
///   c_t = f * c_{t-1} + i * g
///   h_t = o * tanh(c_t)
/// ```
/// The output is h_t for every step (return_sequences) or only h_{T-1}.
///
/// How it is computed (docs/layers/lstm.md derives the backward pass):
/// ```text
///   forward:  Z = W X + b for all steps at once (one GEMM; for token ids a gather of W's
///             columns, done step by step inside the loop); U is packed once (math/gemm.hpp), then per step
///             one product Z_t += U h_{t-1} on the packed U and one fused SIMD pass that applies the gates
///             and updates c and h.
///   backward: U^T is packed once; BPTT with one fused SIMD pass per step giving dZ_t and one
///             product dh_{t-1} = U^T dZ_t; then the weight gradients over all steps:
///             dW += dZ X^T, dU += dZ Hprev^T (two big products), db += rowsum(dZ).
/// ```
/// Nothing is allocated inside the time loops: the packed weights live in the layer. The
/// sequences of a batch are independent inside the time loops, which run on blocks of
/// sequences in parallel when GEMM threads are enabled (math/batch_blocks.hpp).
#pragma once

#include <vector>

#include "../error.hpp"
#include "../init.hpp"
#include "../math/batch_blocks.hpp"
#include "../math/gemm.hpp"
#include "../math/products.hpp"
#include "../math/simd.hpp"
#include "../parameter.hpp"
#include "../random.hpp"
#include "../tensor.hpp"
#include "contract.hpp"
#include "recurrent_state.hpp"

namespace seqlm {

/// Construction options of an LSTM (Keras's defaults).
struct LSTMOptions {
  bool return_sequences = false;  ///< output h_t for every step (H x T*B) instead of the last (H x B)
  bool unit_forget_bias = true;   ///< initialize() sets the forget-gate bias to 1
};

namespace detail {

// One LSTM cell for one sequence, vectorised over the H units.
//   in:  z = [z_i; z_f; z_c; z_o] pre-activations (4H), c_prev (H)
//   out: z overwritten by the activated gates [i; f; g; o], c = f*c_prev + i*g,
//        tanh_c = tanh(c), h = o*tanh_c.  c may be the same memory as c_prev.
template <class Scalar>
void lstm_cell_forward(Index H, Scalar* z, const Scalar* c_prev, Scalar* c, Scalar* tanh_c, Scalar* h) {
  simd::vectorized_loop<Scalar>(H, [&](Index k, auto lane) {
    using V = decltype(lane);
    const V i = simd::sigmoid(simd::load<V>(z + k));
    const V f = simd::sigmoid(simd::load<V>(z + H + k));
    const V g = simd::tanh(simd::load<V>(z + 2 * H + k));
    const V o = simd::sigmoid(simd::load<V>(z + 3 * H + k));
    const V c_new = f * simd::load<V>(c_prev + k) + i * g;
    const V tanh_c_new = simd::tanh(c_new);
    simd::store(z + k, i);
    simd::store(z + H + k, f);
    simd::store(z + 2 * H + k, g);
    simd::store(z + 3 * H + k, o);
    simd::store(c + k, c_new);
    simd::store(tanh_c + k, tanh_c_new);
    simd::store(h + k, o * tanh_c_new);
  });
}

// Backward of one LSTM cell for one sequence, vectorised over the H units.
//   in:  gates [i; f; g; o] (4H), c_prev, tanh_c = tanh(c_t), dh = dL/dh_t (total),
//        dc = dL/dc_t arriving from step t+1
//   out: dz = dL/dz_t (4H); dc overwritten by dL/dc_{t-1} = (dc + dh*o*(1 - tanh_c^2)) * f.
template <class Scalar>
void lstm_cell_backward(Index H, const Scalar* gates, const Scalar* c_prev, const Scalar* tanh_c,
                        const Scalar* dh, Scalar* dc, Scalar* dz) {
  simd::vectorized_loop<Scalar>(H, [&](Index k, auto lane) {
    using V = decltype(lane);
    const V one(Scalar(1));
    const V i = simd::load<V>(gates + k);
    const V f = simd::load<V>(gates + H + k);
    const V g = simd::load<V>(gates + 2 * H + k);
    const V o = simd::load<V>(gates + 3 * H + k);
    const V tc = simd::load<V>(tanh_c + k);
    const V dh_t = simd::load<V>(dh + k);
    // dL/dc_t: from the next step plus through h_t = o * tanh(c_t).
    const V dc_t = simd::load<V>(dc + k) + dh_t * o * (one - tc * tc);
    simd::store(dz + k, dc_t * g * i * (one - i));                              // dz_i
    simd::store(dz + H + k, dc_t * simd::load<V>(c_prev + k) * f * (one - f));  // dz_f
    simd::store(dz + 2 * H + k, dc_t * i * (one - g * g));                      // dz_c
    simd::store(dz + 3 * H + k, dh_t * tc * o * (one - o));                     // dz_o
    simd::store(dc + k, dc_t * f);                                              // dL/dc_{t-1}
  });
}

}  // namespace detail

template <class Scalar>
class LSTM {
 public:
  using Options = LSTMOptions;
  static constexpr const char* type_name = "LSTM";
  static constexpr LayerTraits traits{/*reads_tokens=*/true, /*reads_features=*/true,
                                      /*needs_time_axis=*/true, /*columnwise=*/false};

  struct Config {
    Index input_size = 0, units = 0;
    Options options;
  };

  /// The state of B sequences: h and c (H x B), plus the step's private workspace. Made by
  /// make_state() (zeros); after step() the new output h_t is in h. Also what a full-sequence
  /// forward can start from and what copy_final_state() writes.
  struct State : RecurrentState<Scalar> {
   private:
    friend class LSTM;
    Matrix<Scalar> gates_;      // 4H x B
    Matrix<Scalar> tanh_cell_;  // H x B
  };

  /// An LSTM(units) on input_size inputs (the vocabulary size for token-id inputs).
  /// Weights start at zero; call initialize() for Keras's initialisers.
  LSTM(Index input_size, Index units, Options options = {}) : LSTM(Config{input_size, units, options}) {}
  explicit LSTM(const Config& config)
      : input_size_(config.input_size), units_(config.units), options_(config.options) {
    detail::check_positive("LSTM", "input size", input_size_);
    detail::check_positive("LSTM", "units", units_);
    const Index units = units_, input_size = input_size_;
    kernel_ = Matrix<Scalar>::Zero(4 * units, input_size);
    recurrent_kernel_ = Matrix<Scalar>::Zero(4 * units, units);
    bias_ = Matrix<Scalar>::Zero(4 * units, 1);
    kernel_gradient_ = Matrix<Scalar>::Zero(4 * units, input_size);
    recurrent_kernel_gradient_ = Matrix<Scalar>::Zero(4 * units, units);
    bias_gradient_ = Matrix<Scalar>::Zero(4 * units, 1);
  }

  Index input_size() const { return input_size_; }
  Index output_size() const { return units_; }
  Index units() const { return units_; }
  const Options& options() const { return options_; }
  Config config() const { return Config{input_size_, units_, options_}; }
  bool keeps_time_axis() const { return options_.return_sequences; }

  /// W (4H x I) + U (4H x H) + b (4H): 4H (I + H + 1).
  static Index parameter_count(const Config& config) {
    return 4 * config.units * (config.input_size + config.units + 1);
  }
  Index parameter_count() const { return parameter_count(config()); }

  /// Keras's defaults: W glorot_uniform(fan_in = I, fan_out = 4H), U orthogonal, b zeros
  /// (forget block = 1 when unit_forget_bias).
  void initialize(Rng& rng) {
    init::glorot_uniform(kernel_, input_size_, 4 * units_, rng);
    init::orthogonal(recurrent_kernel_, rng);
    bias_.setZero();
    if (options_.unit_forget_bias) bias_.middleRows(units_, units_).setOnes();
  }

  /// kernel (4H x I), recurrent_kernel (4H x H), bias (4H x 1), in that order.
  ParameterList<Scalar> parameters() {
    return {{"kernel", &kernel_, &kernel_gradient_},
            {"recurrent_kernel", &recurrent_kernel_, &recurrent_kernel_gradient_},
            {"bias", &bias_, &bias_gradient_}};
  }
  ConstParameterList<Scalar> parameters() const {
    return {{"kernel", &kernel_, &kernel_gradient_},
            {"recurrent_kernel", &recurrent_kernel_, &recurrent_kernel_gradient_},
            {"bias", &bias_, &bias_gradient_}};
  }

  Matrix<Scalar>& kernel() { return kernel_; }
  Matrix<Scalar>& recurrent_kernel() { return recurrent_kernel_; }
  Matrix<Scalar>& bias() { return bias_; }
  const Matrix<Scalar>& kernel() const { return kernel_; }
  const Matrix<Scalar>& recurrent_kernel() const { return recurrent_kernel_; }
  const Matrix<Scalar>& bias() const { return bias_; }

  // ---- full-sequence forward ----------------------------------------------------------------

  /// The contract's form: token ids or features, from the zero state or from `initial`.
  const Matrix<Scalar>& forward(const LayerInput<Scalar>& input, const LayerContext& = {},
                                const State* initial = nullptr) {
    if (input.is_tokens()) return forward(input.tokens, initial);
    return forward(*input.features, input.batch, initial);
  }

  /// Dense inputs x (I x T*B) of `batch` sequences. initial = (h_{-1}, c_{-1}), each H x B, or
  /// null for zeros. Returns h for every step (H x T*B) if return_sequences, else h_{T-1} (H x B).
  /// x is copied (backward needs it), so the caller need not keep it alive.
  const Matrix<Scalar>& forward(ConstMatrixRef<Scalar> x, Index batch,
                                const RecurrentState<Scalar>* initial = nullptr) {
    detail::check_rows("LSTM", "input", x.rows(), input_size_);
    const Index steps = detail::steps_of("LSTM", x.cols(), batch);
    check_initial_state(initial, batch);

    prepare_forward(steps, batch, initial, InputKind::dense);
    inputs_ = x;
    for (Index k = 0; k < steps * batch; ++k) gates_.col(k) = bias_.col(0);
    products::multiply(gates_, kernel_, inputs_,
                       products::Update::accumulate);  // Z = W X + b, all steps at once
    run_recurrence();
    return output_;
  }

  /// Token ids (ids[t*B + b] in [0, I)) meaning one-hot inputs: W x_t is the column W(:, id).
  const Matrix<Scalar>& forward(const TokenView& ids, const RecurrentState<Scalar>* initial = nullptr) {
    detail::check_tokens("LSTM", ids, input_size_);
    check_initial_state(initial, ids.batch);

    prepare_forward(ids.steps, ids.batch, initial, InputKind::ids);
    token_ids_.assign(ids.ids, ids.ids + ids.size());
    run_recurrence();  // gathers W x_t + b = W(:, id) + b step by step, right before the step's product
    return output_;
  }

  /// The last forward's output and final state (h_{T-1}, c_{T-1}), each H x B.
  const Matrix<Scalar>& output() const { return output_; }
  const RecurrentState<Scalar>& final_state() const { return final_state_; }
  /// Writes (h_{T-1}, c_{T-1}) of the last forward into `state` (e.g. the next chunk's initial).
  void copy_final_state(State& state) const {
    if (input_kind_ == InputKind::none) throw value_error("LSTM: copy_final_state() called before forward()");
    state.h = final_state_.h;
    state.c = final_state_.c;
    size_workspace(state);
  }
  Index steps() const { return steps_; }
  Index batch() const { return batch_; }

  // ---- backward ------------------------------------------------------------------------------

  /// The contract's form: context.truncate selects truncated BPTT.
  void backward(ConstMatrixRef<Scalar> d_output, const LayerContext& context) {
    backward(d_output, nullptr, context.truncate);
  }

  /// d_output = dL/d(output), the shape of output(). d_final (optional) = dL/d(h_{T-1}, c_{T-1})
  /// for a loss that also reads final_state(). Accumulates into the parameter gradients and
  /// computes input_gradient() (dense inputs) and initial_state_gradient().
  /// truncate = k > 0: truncated BPTT; the gradient carried from step t back to step t-1 is
  /// dropped at every t > 0 with t % k == 0, exactly as if the chunks [0,k), [k,2k), ... were
  /// run one after another with the state carried forward but detached. 0 = full BPTT.
  void backward(ConstMatrixRef<Scalar> d_output, const RecurrentState<Scalar>* d_final = nullptr,
                Index truncate = 0) {
    if (input_kind_ == InputKind::none) throw value_error("LSTM: backward() called before forward()");
    const Index H = units_, B = batch_, T = steps_;
    detail::check_shape("LSTM", "d_output", d_output, H, options_.return_sequences ? T * B : B);
    if (d_final != nullptr) {
      detail::check_shape("LSTM", "d_final.h", d_final->h, H, B);
      detail::check_shape("LSTM", "d_final.c", d_final->c, H, B);
    }
    if (truncate < 0) {
      throw value_error(detail::make_message("LSTM: truncate must be >= 0, got ", truncate));
    }

    // dh, dc = dL/dh_t, dL/dc_t arriving from later steps; at t = T-1 from d_final.
    if (d_final != nullptr) {
      dh_ = d_final->h;
      dc_ = d_final->c;
    } else {
      dh_.setZero();
      dc_.setZero();
    }
    if (!options_.return_sequences) dh_ += d_output;

    packed_recurrent_kernel_.pack(recurrent_kernel_, gemm::Op::transpose);  // U^T, for every step
    // Sequences [first, first + count) from the last step to the first.
    detail::for_each_batch_block(B, [&](Index first, Index count) {
      auto dh = dh_.middleCols(first, count);
      auto dc = dc_.middleCols(first, count);
      for (Index t = T - 1; t >= 0; --t) {
        if (options_.return_sequences) dh += d_output.middleCols(t * B + first, count);
        for (Index b = first; b < first + count; ++b) {
          const Index col = t * B + b;
          detail::lstm_cell_backward(H, gates_.col(col).data(), cell_.col(col).data(),
                                     tanh_cell_.col(col).data(), dh_.col(b).data(), dc_.col(b).data(),
                                     d_gates_.col(col).data());
        }
        const bool cut_here = truncate > 0 && t > 0 && t % truncate == 0;
        if (cut_here) {
          dh.setZero();
          dc.setZero();
        } else {  // dh_{t-1} = U^T dZ_t
          packed_recurrent_kernel_.multiply(d_gates_.middleCols(t * B + first, count), dh,
                                            gemm::Update::overwrite);
        }
      }
    });
    initial_state_gradient_.h = dh_;
    initial_state_gradient_.c = dc_;

    // Weight gradients over all steps at once. Hprev = [h_{-1}, h_0, ..., h_{T-2}].
    products::multiply_transposed_b(recurrent_kernel_gradient_, d_gates_, hidden_.leftCols(T * B),
                                    products::Update::accumulate);
    // One pass over dZ: db += rowsum(dZ) and, for token ids, dW(:, id) += dZ(:, k), the
    // scatter-add that matches the gather in forward.
    const bool ids = input_kind_ == InputKind::ids;
    for (Index k = 0; k < T * B; ++k) {
      bias_gradient_.col(0) += d_gates_.col(k);
      if (ids) kernel_gradient_.col(token_ids_[k]) += d_gates_.col(k);
    }
    if (!ids) {
      products::multiply_transposed_b(kernel_gradient_, d_gates_, inputs_, products::Update::accumulate);
      input_gradient_.resize(input_size_, T * B);
      products::multiply_transposed_a(input_gradient_, kernel_, d_gates_);
    }
    has_gradients_ = true;
  }

  /// Whether the last backward computed input_gradient(): false for token-id inputs.
  bool has_input_gradient() const { return has_gradients_ && input_kind_ == InputKind::dense; }

  /// dL/dx (I x T*B) from the last backward. Throws for token-id inputs, which have none.
  const Matrix<Scalar>& input_gradient() const {
    return detail::checked_input_gradient("LSTM", has_gradients_, input_kind_ == InputKind::ids,
                                          input_gradient_);
  }

  /// dL/d(h_{-1}, c_{-1}), each H x B, from the last backward.
  const RecurrentState<Scalar>& initial_state_gradient() const {
    if (!has_gradients_) throw value_error("LSTM: initial_state_gradient() called before backward()");
    return initial_state_gradient_;
  }

  // ---- streaming ---------------------------------------------------------------------------

  /// Zero state for `batch` independent streams, workspace included.
  State make_state(Index batch) const {
    detail::check_positive("LSTM", "batch size", batch);
    State state;
    state.h = Matrix<Scalar>::Zero(units_, batch);
    state.c = Matrix<Scalar>::Zero(units_, batch);
    size_workspace(state);
    return state;
  }

  /// The contract's form: one step of token ids or features; out = h_t (H x B).
  void step(const LayerInput<Scalar>& input, State& state, Matrix<Scalar>& out) const {
    detail::recurrent_step("LSTM", *this, input, state, out);
  }

  /// Sequence b of `from` (its h and c) becomes sequence to_b of `to`.
  void copy_sequence(const State& from, Index b, State& to, Index to_b) const {
    detail::copy_recurrent_sequence("LSTM", from, b, to, to_b);
  }

  /// One step of B streams with dense inputs x (I x B). Updates state.h, state.c in place.
  /// Batch 1 uses matrix-vector products; nothing is allocated.
  void step(ConstMatrixRef<Scalar> x, State& state) const {
    const Index B = check_step_state(state);
    detail::check_shape("LSTM step", "input", x, input_size_, B);
    products::multiply(state.gates_, kernel_, x);  // matrix-vector products when B = 1
    products::multiply(state.gates_, recurrent_kernel_, state.h, products::Update::accumulate);
    state.gates_.colwise() += bias_.col(0);
    finish_step(state);
  }

  /// One step of B streams with token ids ids[0..B) in [0, I).
  void step(const TokenId* ids, State& state) const {
    const Index B = check_step_state(state);
    if (ids == nullptr) throw value_error("LSTM step: ids is null");
    for (Index b = 0; b < B; ++b) {
      if (ids[b] < 0 || ids[b] >= input_size_) {
        throw value_error(detail::make_message("LSTM step: token id ", ids[b], " of sequence ", b,
                                               " is outside the vocabulary [0, ", input_size_, ")"));
      }
    }
    for (Index b = 0; b < B; ++b) state.gates_.col(b) = kernel_.col(ids[b]) + bias_.col(0);
    products::multiply(state.gates_, recurrent_kernel_, state.h, products::Update::accumulate);
    finish_step(state);
  }

 private:
  enum class InputKind { none, dense, ids };

  void check_initial_state(const RecurrentState<Scalar>* initial, Index batch) const {
    if (initial == nullptr) return;
    detail::check_shape("LSTM", "initial state h", initial->h, units_, batch);
    detail::check_shape("LSTM", "initial state c", initial->c, units_, batch);
  }

  // Sizes the buffers (a no-op when the shapes are unchanged) and writes h_{-1}, c_{-1}.
  void prepare_forward(Index steps, Index batch, const RecurrentState<Scalar>* initial, InputKind kind) {
    const Index H = units_, TB = steps * batch;
    steps_ = steps;
    batch_ = batch;
    input_kind_ = kind;
    has_gradients_ = false;
    gates_.resize(4 * H, TB);
    d_gates_.resize(4 * H, TB);
    hidden_.resize(H, TB + batch);  // [h_{-1}, h_0, ..., h_{T-1}]
    cell_.resize(H, TB + batch);    // [c_{-1}, c_0, ..., c_{T-1}]
    tanh_cell_.resize(H, TB);
    dh_.resize(H, batch);
    dc_.resize(H, batch);
    if (initial != nullptr) {
      hidden_.leftCols(batch) = initial->h;
      cell_.leftCols(batch) = initial->c;
    } else {
      hidden_.leftCols(batch).setZero();
      cell_.leftCols(batch).setZero();
    }
  }

  // The time loop; gates_ holds W x_t + b for every step on entry.
  void run_recurrence() {
    const Index H = units_, B = batch_, T = steps_;
    packed_recurrent_kernel_.pack(recurrent_kernel_);  // U, for every step
    // Sequences [first, first + count) from the first step to the last.
    detail::for_each_batch_block(B, [&](Index first, Index count) {
      for (Index t = 0; t < T; ++t) {
        // Token ids: Z_t = W(:, id) + b for these columns, gathered here rather than for all steps
        // before the loop, so that the columns are still in cache for the product and the cell.
        if (input_kind_ == InputKind::ids) {
          for (Index b = first; b < first + count; ++b) {
            gates_.col(t * B + b) = kernel_.col(token_ids_[t * B + b]) + bias_.col(0);
          }
        }
        // Z_t += U h_{t-1}: one product on the contiguous columns of step t.
        packed_recurrent_kernel_.multiply(hidden_.middleCols(t * B + first, count),
                                          gates_.middleCols(t * B + first, count), gemm::Update::accumulate);
        for (Index b = first; b < first + count; ++b) {
          const Index col = t * B + b;
          detail::lstm_cell_forward(H, gates_.col(col).data(), cell_.col(col).data(),
                                    cell_.col(col + B).data(), tanh_cell_.col(col).data(),
                                    hidden_.col(col + B).data());
        }
      }
    });
    if (options_.return_sequences) {
      output_ = hidden_.rightCols(T * B);
    } else {
      output_ = hidden_.rightCols(B);
    }
    final_state_.h = hidden_.rightCols(B);
    final_state_.c = cell_.rightCols(B);
  }

  // Returns the batch size of a streaming state after checking its shapes.
  Index check_step_state(State& state) const {
    const Index B = state.h.cols();
    detail::check_positive("LSTM step", "batch size (state.h columns)", B);
    detail::check_shape("LSTM step", "state.h", state.h, units_, B);
    detail::check_shape("LSTM step", "state.c", state.c, units_, B);
    size_workspace(state);  // no-op unless the state was not made by make_state
    return B;
  }

  void size_workspace(State& state) const {
    state.gates_.resize(4 * units_, state.h.cols());
    state.tanh_cell_.resize(units_, state.h.cols());
  }

  // Applies the gates to state.gates_ (pre-activations) and updates c and h in place.
  void finish_step(State& state) const {
    for (Index b = 0; b < state.h.cols(); ++b) {
      detail::lstm_cell_forward(units_, state.gates_.col(b).data(), state.c.col(b).data(),
                                state.c.col(b).data(), state.tanh_cell_.col(b).data(), state.h.col(b).data());
    }
  }

  Index input_size_, units_;
  Options options_;

  Matrix<Scalar> kernel_, recurrent_kernel_, bias_;
  Matrix<Scalar> kernel_gradient_, recurrent_kernel_gradient_, bias_gradient_;

  // Cached by forward for backward.
  InputKind input_kind_ = InputKind::none;
  bool has_gradients_ = false;
  Index steps_ = 0, batch_ = 0;
  Matrix<Scalar> inputs_;           // I x T*B, dense inputs
  std::vector<TokenId> token_ids_;  // T*B, id inputs
  Matrix<Scalar> gates_;            // 4H x T*B: W x + b, then the activated gates [i; f; g; o]
  Matrix<Scalar> hidden_, cell_;    // H x (T+1)*B: state before step 0, then after each step
  Matrix<Scalar> tanh_cell_;        // H x T*B: tanh(c_t)
  Matrix<Scalar> output_;
  RecurrentState<Scalar> final_state_;

  // The recurrent products' matrix: U packed by forward, U^T by backward (math/gemm.hpp).
  gemm::PackedMatrix<Scalar> packed_recurrent_kernel_;

  // Backward buffers.
  Matrix<Scalar> d_gates_;  // 4H x T*B: dL/dz_t for every step
  Matrix<Scalar> dh_, dc_;  // H x B: running dL/dh_t, dL/dc_t
  Matrix<Scalar> input_gradient_;
  RecurrentState<Scalar> initial_state_gradient_;
};

}  // namespace seqlm
