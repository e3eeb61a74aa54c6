/// \file
/// GRU: the gated recurrent unit with Keras semantics (docs/layers/gru.md derives it).
///
/// Gate blocks are stacked in rows in Keras's order z (update), r (reset), h (candidate):
/// ```text
///   kernel            W  (3H x I)   input weights,     rows [W_z; W_r; W_h]
///   recurrent_kernel  U  (3H x H)   recurrent weights, rows [U_z; U_r; U_h]
///   bias                            reset_after = true:  (3H x 2), column 0 b_x, column 1 b_h
///                                   reset_after = false: (3H x 1), one bias b
/// ```
/// reset_after = true (Keras's default, cuDNN-compatible, = torch.nn.GRU with gates reordered):
/// ```text
///   [xz; xr; xh] = W x_t + b_x          [hz; hr; hh] = U h_{t-1} + b_h
///   z = sigmoid(xz + hz)   r = sigmoid(xr + hr)   n = tanh(xh + r .* hh)
///   h_t = z .* h_{t-1} + (1 - z) .* n
/// ```
/// reset_after = false (the original GRU, Keras's reset_after=False):
/// ```text
///   z = sigmoid(W_z x + U_z h_{t-1} + b_z)   r = sigmoid(W_r x + U_r h_{t-1} + b_r)
///   n = tanh(W_h x + U_h (r .* h_{t-1}) + b_h)
///   h_t = z .* h_{t-1} + (1 - z) .* n
/// ```
///
/// Speed structure: the input projection of all steps is one GEMM before the time loop (for
/// token ids a gather of kernel columns, done column by column inside the loop); each step is one recurrent
/// product (two for reset_after = false, which needs r before U_h can be applied) on the recurrent kernel,
/// packed once per pass (math/gemm.hpp), followed by one fused xsimd pass over the gates.
/// Backward stores the pre-activation gradients of every step, does only the dh_{t-1}
/// product(s) (on the packed U^T) inside the loop, and the weight gradients as GEMMs after it.
/// Nothing is allocated inside the time loops. The sequences of a batch are independent inside
/// the time loops, which run on blocks of sequences in parallel when GEMM threads are enabled
/// (math/batch_blocks.hpp).
#pragma once

#include <utility>
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

struct GRUOptions {
  /// true: output every step's h (H x T*B); false: only the last step's h (H x B).
  bool return_sequences = false;
  /// true: reset gate applied after the recurrent matmul, two bias vectors (Keras default).
  bool reset_after = true;
};

template <class Scalar>
class GRU {
 public:
  using Options = GRUOptions;
  static constexpr const char* type_name = "GRU";
  static constexpr LayerTraits traits{/*reads_tokens=*/true, /*reads_features=*/true,
                                      /*needs_time_axis=*/true, /*columnwise=*/false};

  struct Config {
    Index input_size = 0, units = 0;
    Options options;
  };

  /// The state of a batch of independent sequences, owned by the caller: h (units x batch;
  /// c stays empty) and scratch space for step(). Made by make_state() (zeros). Also what a
  /// full-sequence forward can start from and what copy_final_state() writes.
  struct State : RecurrentState<Scalar> {
   private:
    friend class GRU;
    Matrix<Scalar> gates;      // 3H x B: W x + b_x, then the activated gates [z; r; n]
    Matrix<Scalar> recurrent;  // 3H x B: U h (rows of U_h only for reset_after = false)
    Matrix<Scalar> candidate;  // H x B: hh (reset_after) or r .* h (reset_after = false)
  };

  /// A GRU mapping `input_size` features (or a vocabulary of that size, for token ids) to
  /// `units` hidden units. Throws value_error when a size is not positive.
  GRU(Index input_size, Index units, Options options = {}) : GRU(Config{input_size, units, options}) {}
  explicit GRU(const Config& config)
      : input_size_(config.input_size), units_(config.units), options_(config.options) {
    detail::check_positive("GRU", "input size", input_size_);
    detail::check_positive("GRU", "units", units_);
    const Index bias_columns = options_.reset_after ? 2 : 1;
    kernel_ = Matrix<Scalar>::Zero(3 * units_, input_size_);
    recurrent_kernel_ = Matrix<Scalar>::Zero(3 * units_, units_);
    bias_ = Matrix<Scalar>::Zero(3 * units_, bias_columns);
    kernel_gradient_ = Matrix<Scalar>::Zero(3 * units_, input_size_);
    recurrent_kernel_gradient_ = Matrix<Scalar>::Zero(3 * units_, units_);
    bias_gradient_ = Matrix<Scalar>::Zero(3 * units_, bias_columns);
  }

  Index input_size() const { return input_size_; }
  Index output_size() const { return units_; }
  Index units() const { return units_; }
  const Options& options() const { return options_; }
  Config config() const { return Config{input_size_, units_, options_}; }
  bool keeps_time_axis() const { return options_.return_sequences; }

  /// W (3H x I) + U (3H x H) + b (3H x 2 with reset_after, else 3H x 1).
  static Index parameter_count(const Config& config) {
    const Index bias_columns = config.options.reset_after ? 2 : 1;
    return 3 * config.units * (config.input_size + config.units + bias_columns);
  }
  Index parameter_count() const { return parameter_count(config()); }

  /// Keras's defaults: kernel glorot_uniform(fan_in = I, fan_out = 3H), recurrent kernel
  /// orthogonal, biases zero.
  void initialize(Rng& rng) {
    init::glorot_uniform(kernel_, input_size_, 3 * units_, rng);
    init::orthogonal(recurrent_kernel_, rng);
    bias_.setZero();
  }

  /// "kernel" (3H x I), "recurrent_kernel" (3H x H), "bias" (3H x 2 or 3H x 1), with gradients.
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
  const Matrix<Scalar>& kernel() const { return kernel_; }
  Matrix<Scalar>& recurrent_kernel() { return recurrent_kernel_; }
  const Matrix<Scalar>& recurrent_kernel() const { return recurrent_kernel_; }
  Matrix<Scalar>& bias() { return bias_; }
  const Matrix<Scalar>& bias() const { return bias_; }

  // ---- full-sequence pass -------------------------------------------------------------------

  /// The contract's form: token ids or features, from the zero state or from `initial`.
  const Matrix<Scalar>& forward(const LayerInput<Scalar>& input, const LayerContext& = {},
                                const State* initial = nullptr) {
    if (input.is_tokens()) return forward(input.tokens, initial);
    return forward(*input.features, input.batch, initial);
  }

  /// x: input_size x T*B, time-major (column t*B + b is step t of sequence b).
  /// initial: h_{-1} (units x batch), or nullptr for zeros.
  /// Returns h of every step (units x T*B) if return_sequences, else the last h (units x B).
  const Matrix<Scalar>& forward(ConstMatrixRef<Scalar> x, Index batch,
                                const RecurrentState<Scalar>* initial = nullptr) {
    detail::check_rows("GRU", "input", x.rows(), input_size_);
    const Index steps = detail::steps_of("GRU", x.cols(), batch);
    check_state("initial state", initial, batch);
    prepare_forward(steps, batch);
    inputs_are_ids_ = false;
    inputs_ = x;  // kept for the kernel gradient dW = dZx X^T
    for (Index k = 0; k < steps * batch; ++k) gates_.col(k) = input_bias();
    products::multiply(gates_, kernel_, inputs_,
                       products::Update::accumulate);  // W x + b_x for all steps at once
    run_forward(initial);
    return output_;
  }

  /// Token ids meaning one-hot vectors over input_size entries: the input projection of id k
  /// is column k of the kernel (a gather), no one-hot matrix is built.
  const Matrix<Scalar>& forward(const TokenView& ids, const RecurrentState<Scalar>* initial = nullptr) {
    detail::check_tokens("GRU", ids, input_size_);
    check_state("initial state", initial, ids.batch);
    prepare_forward(ids.steps, ids.batch);
    inputs_are_ids_ = true;
    token_ids_.assign(ids.ids, ids.ids + ids.size());
    run_forward(initial);  // gathers W x_t + b_x = W(:, id) + b_x column by column inside the loop
    return output_;
  }

  /// The output of the last forward().
  const Matrix<Scalar>& output() const { return output_; }
  /// h after the last step of the last forward() (units x batch); c is left empty.
  const RecurrentState<Scalar>& final_state() const { return final_state_; }
  /// Writes h_{T-1} of the last forward into `state` (e.g. the next chunk's initial state).
  void copy_final_state(State& state) const {
    if (steps_ == 0) throw value_error("GRU: copy_final_state() called before forward()");
    state.h = final_state_.h;
    size_workspace(state);
  }

  // ---- backpropagation through time ---------------------------------------------------------

  /// d_output: dL/d(output), shaped like forward()'s result. d_final: dL/d(final h), optional.
  /// truncate = k > 0 stops the gradient from flowing from step t into h_{t-1} whenever
  /// t % k == 0 (t > 0): the same gradients as training chunks of k steps one after the other
  /// with the carried state detached. Parameter gradients ACCUMULATE; input_gradient() and
  /// initial_state_gradient() are overwritten.
  /// The contract's form: context.truncate selects truncated BPTT.
  void backward(ConstMatrixRef<Scalar> d_output, const LayerContext& context) {
    backward(d_output, nullptr, context.truncate);
  }

  void backward(ConstMatrixRef<Scalar> d_output, const RecurrentState<Scalar>* d_final = nullptr,
                Index truncate = 0) {
    if (steps_ == 0) throw value_error("GRU: backward() called before forward()");
    const Index H = units_, B = batch_, T = steps_;
    detail::check_shape("GRU", "output gradient", d_output, H, options_.return_sequences ? T * B : B);
    check_state("final state gradient", d_final, B);
    if (truncate < 0) {
      throw value_error(
          detail::make_message("GRU: truncate must be >= 0 (0 = no truncation), got ", truncate));
    }
    prepare_backward();

    if (d_final != nullptr) {
      d_hidden_ = d_final->h;
    } else {
      d_hidden_.setZero();
    }
    pack_recurrent_kernel(gemm::Op::transpose);
    // Sequences [first, first + count) from the last step to the first. The two H x B buffers
    // take turns: `carried` holds dL/dh_t, `previous` receives dL/dh_{t-1}, then they swap.
    detail::for_each_batch_block(B, [&](Index first, Index count) {
      Matrix<Scalar>* carried = &d_hidden_;
      Matrix<Scalar>* previous = &d_hidden_previous_;
      for (Index t = T - 1; t >= 0; --t) {
        // dL/dh_t: from step t+1 (or d_final) plus the output at step t.
        auto d_h = carried->middleCols(first, count);
        if (options_.return_sequences) {
          d_h += d_output.middleCols(t * B + first, count);
        } else if (t == T - 1) {
          d_h += d_output.middleCols(first, count);
        }
        const bool cut_here = truncate > 0 && t > 0 && t % truncate == 0;
        if (options_.reset_after) {
          backward_step_reset_after(t, cut_here, first, count, *carried, *previous);
        } else {
          backward_step_reset_before(t, cut_here, first, count, *carried, *previous);
        }
        if (cut_here) previous->middleCols(first, count).setZero();  // the carried gradient stops here
        std::swap(carried, previous);
      }
    });
    // After T swaps dL/dh_{-1} is in d_hidden_ when T is even, else in d_hidden_previous_.
    initial_state_gradient_.h = T % 2 == 0 ? d_hidden_ : d_hidden_previous_;

    // Weight gradients over all steps at once.
    const auto previous_states = states_.leftCols(T * B);  // [h_{-1}, ..., h_{T-2}]
    // One pass over dZx: its row sums (db_x), and for token ids the scatter dW(:, id) += dZx(:, k).
    projection_gradient_sum_.setZero();
    for (Index k = 0; k < T * B; ++k) {
      projection_gradient_sum_ += d_projection_.col(k);
      if (inputs_are_ids_) kernel_gradient_.col(token_ids_[k]) += d_projection_.col(k);
    }
    bias_gradient_.col(0) += projection_gradient_sum_;  // db_x += rowsum(dZx)
    if (!inputs_are_ids_) {
      products::multiply_transposed_b(kernel_gradient_, d_projection_, inputs_, products::Update::accumulate);
      input_gradient_.resize(input_size_, T * B);
      products::multiply_transposed_a(input_gradient_, kernel_, d_projection_);
    }
    has_gradients_ = true;
    if (options_.reset_after) {
      // dZh = [dZx_z; dZx_r; dL/dhh]: its z and r rows are dZx's, only the candidate rows differ.
      products::multiply_transposed_b(recurrent_kernel_gradient_.topRows(2 * H), d_projection_.topRows(2 * H),
                                      previous_states, products::Update::accumulate);
      products::multiply_transposed_b(recurrent_kernel_gradient_.bottomRows(H), d_recurrent_candidate_,
                                      previous_states, products::Update::accumulate);
      bias_gradient_.col(1).head(2 * H) += projection_gradient_sum_.head(2 * H);  // db_h = rowsum(dZh)
      candidate_gradient_sum_.setZero();
      for (Index k = 0; k < T * B; ++k) candidate_gradient_sum_ += d_recurrent_candidate_.col(k);
      bias_gradient_.col(1).tail(H) += candidate_gradient_sum_;
    } else {
      // The pre-activations are x- plus h-projections, so dZh = dZx; U_h acts on r .* h_{t-1}.
      products::multiply_transposed_b(recurrent_kernel_gradient_.topRows(2 * H), d_projection_.topRows(2 * H),
                                      previous_states, products::Update::accumulate);
      products::multiply_transposed_b(recurrent_kernel_gradient_.bottomRows(H), d_projection_.bottomRows(H),
                                      reset_hidden_, products::Update::accumulate);
    }
  }

  /// Whether the last backward computed input_gradient(): false for token-id inputs.
  bool has_input_gradient() const { return has_gradients_ && !inputs_are_ids_; }

  /// dL/dx (input_size x T*B) of the last backward(). Throws for token-id inputs, which have none.
  const Matrix<Scalar>& input_gradient() const {
    return detail::checked_input_gradient("GRU", has_gradients_, inputs_are_ids_, input_gradient_);
  }
  /// dL/dh_{-1} (units x batch) of the last backward(); c is left empty.
  const RecurrentState<Scalar>& initial_state_gradient() const {
    if (!has_gradients_) throw value_error("GRU: initial_state_gradient() called before backward()");
    return initial_state_gradient_;
  }

  // ---- streaming ------------------------------------------------------------------------

  /// A state for `batch` sequences with h = 0.
  State make_state(Index batch) const {
    detail::check_positive("GRU", "batch size", batch);
    State state;
    state.h = Matrix<Scalar>::Zero(units_, batch);
    size_workspace(state);
    return state;
  }

  /// Advances every sequence of `state` by one step; x: input_size x batch.
  /// The contract's form: one step of token ids or features; out = h_t (H x B).
  void step(const LayerInput<Scalar>& input, State& state, Matrix<Scalar>& out) const {
    detail::recurrent_step("GRU", *this, input, state, out);
  }

  /// Sequence b of `from` (its h) becomes sequence to_b of `to`.
  void copy_sequence(const State& from, Index b, State& to, Index to_b) const {
    detail::copy_recurrent_sequence("GRU", from, b, to, to_b);
  }

  void step(ConstMatrixRef<Scalar> x, State& state) const {
    prepare_step_state(state);
    detail::check_shape("GRU", "step input", x, input_size_, state.h.cols());
    products::multiply(state.gates, kernel_, x);  // a matrix-vector product for one sequence
    state.gates.colwise() += input_bias();
    step_from_input_projection(state);
  }

  /// Same with token ids: ids[b] is the input of sequence b (state.h.cols() ids are read).
  void step(const TokenId* ids, State& state) const {
    prepare_step_state(state);
    if (ids == nullptr) throw value_error("GRU: step() got a null token id pointer");
    const Index batch = state.h.cols();
    for (Index b = 0; b < batch; ++b) {
      if (ids[b] < 0 || ids[b] >= input_size_) {
        throw value_error(detail::make_message("GRU: step token id ", ids[b], " of sequence ", b,
                                               " is outside the vocabulary [0, ", input_size_, ")"));
      }
      state.gates.col(b) = kernel_.col(ids[b]) + input_bias();
    }
    step_from_input_projection(state);
  }

 private:
  // b_x: the bias added to the input projection (the only bias when reset_after = false).
  auto input_bias() const { return bias_.col(0); }

  // Token ids: column k of gates_ = W x + b_x = W(:, id) + b_x (the one-hot product as a gather).
  void gather_input_projection(Index k) { gates_.col(k) = kernel_.col(token_ids_[k]) + input_bias(); }

  void check_state(const char* what, const RecurrentState<Scalar>* state, Index batch) const {
    if (state != nullptr) detail::check_shape("GRU", what, state->h, units_, batch);
  }

  // Checks h and sizes the scratch space for its batch (no-op when already right).
  void prepare_step_state(State& state) const {
    detail::check_rows("GRU", "step state h", state.h.rows(), units_);
    detail::check_positive("GRU", "step state batch size", state.h.cols());
    size_workspace(state);
  }

  void size_workspace(State& state) const {
    const Index B = state.h.cols();
    state.recurrent.resize(3 * units_, B);
    state.gates.resize(3 * units_, B);
    state.candidate.resize(units_, B);
  }

  // Buffers are resized only when a shape changes (Eigen's resize keeps the memory when the
  // size is the same), so repeated calls with the same shapes allocate nothing.
  void prepare_forward(Index steps, Index batch) {
    const Index H = units_, N = steps * batch;
    steps_ = steps;
    batch_ = batch;
    has_gradients_ = false;
    states_.resize(H, N + batch);
    gates_.resize(3 * H, N);
    if (options_.reset_after) {
      recurrent_candidate_.resize(H, N);
    } else {
      reset_hidden_.resize(H, N);
    }
    step_recurrent_.resize(3 * H, batch);
    output_.resize(H, options_.return_sequences ? N : batch);
  }

  void prepare_backward() {
    const Index H = units_, B = batch_, N = steps_ * batch_;
    d_projection_.resize(3 * H, N);
    projection_gradient_sum_.resize(3 * H);
    if (options_.reset_after) {
      d_recurrent_candidate_.resize(H, N);
      candidate_gradient_sum_.resize(H);
      d_step_recurrent_.resize(3 * H, B);
    }
    d_hidden_.resize(H, B);
    d_hidden_previous_.resize(H, B);
    if (!options_.reset_after) d_reset_hidden_.resize(H, B);
  }

  // The time loop of forward(); gates_ holds W x + b_x for every step (for token ids each column
  // is gathered right before its gate pass, while it is in cache) and each step turns its
  // columns into the activated gates in place (they are read once, so no second 3H x N buffer).
  void run_forward(const RecurrentState<Scalar>* initial) {
    const Index H = units_, B = batch_, T = steps_;
    if (initial != nullptr) {
      states_.leftCols(B) = initial->h;
    } else {
      states_.leftCols(B).setZero();
    }
    pack_recurrent_kernel(gemm::Op::none);
    // Sequences [first, first + count) from the first step to the last.
    detail::for_each_batch_block(B, [&](Index first, Index count) {
      auto recurrent = step_recurrent_.middleCols(first, count);  // U h_{t-1} of these sequences
      for (Index t = 0; t < T; ++t) {
        const auto h_previous = states_.middleCols(t * B + first, count);
        if (options_.reset_after) {
          packed_recurrent_kernel_.multiply(h_previous, recurrent,
                                            gemm::Update::overwrite);  // U h: 3H x count
          for (Index b = first; b < first + count; ++b) {
            const Index k = t * B + b;
            if (inputs_are_ids_) gather_input_projection(k);
            gates_reset_after(H, &gates_(0, k), &step_recurrent_(0, b), &bias_(0, 1), &states_(0, k),
                              &recurrent_candidate_(0, k), &states_(0, k + B));
          }
        } else {
          packed_recurrent_kernel_.multiply(h_previous, recurrent.topRows(2 * H), gemm::Update::overwrite);
          for (Index b = first; b < first + count; ++b) {
            const Index k = t * B + b;
            if (inputs_are_ids_) gather_input_projection(k);
            update_reset_gates(H, &gates_(0, k), &step_recurrent_(0, b), &states_(0, k),
                               &reset_hidden_(0, k));
          }
          packed_candidate_kernel_.multiply(reset_hidden_.middleCols(t * B + first, count),
                                            recurrent.bottomRows(H), gemm::Update::overwrite);
          for (Index b = first; b < first + count; ++b) {
            const Index k = t * B + b;
            candidate_and_output(H, &gates_(0, k), &step_recurrent_(0, b), &states_(0, k),
                                 &states_(0, k + B));
          }
        }
      }
    });
    final_state_.h = states_.rightCols(B);
    if (options_.return_sequences) {
      output_ = states_.rightCols(T * B);
    } else {
      output_ = states_.rightCols(B);
    }
  }

  // One step of streaming; state.gates holds W x + b_x. h is updated in place
  // (each kernel reads h_{t-1}[j] before it writes h_t[j]).
  void step_from_input_projection(State& state) const {
    const Index H = units_, B = state.h.cols();
    if (options_.reset_after) {
      products::multiply(state.recurrent, recurrent_kernel_, state.h);
      for (Index b = 0; b < B; ++b) {
        gates_reset_after(H, &state.gates(0, b), &state.recurrent(0, b), &bias_(0, 1), &state.h(0, b),
                          &state.candidate(0, b), &state.h(0, b));
      }
    } else {
      products::multiply(state.recurrent.topRows(2 * H), recurrent_kernel_.topRows(2 * H), state.h);
      for (Index b = 0; b < B; ++b) {
        update_reset_gates(H, &state.gates(0, b), &state.recurrent(0, b), &state.h(0, b),
                           &state.candidate(0, b));
      }
      products::multiply(state.recurrent.bottomRows(H), recurrent_kernel_.bottomRows(H), state.candidate);
      for (Index b = 0; b < B; ++b) {
        candidate_and_output(H, &state.gates(0, b), &state.recurrent(0, b), &state.h(0, b), &state.h(0, b));
      }
    }
  }

  // ---- fused forward kernels, one sequence (one column) of one step ----------------------
  // Every pointer addresses one column: 3H-long for gates / recurrent, H-long otherwise. `gates`
  // is in/out: it arrives holding W x + b_x and leaves holding the activated gates (each element
  // is read before it is written).

  // reset_after = true. gates: in W x + b_x, out [z; r; n]. recurrent = U h_{t-1},
  // recurrent_bias = b_h. Also writes candidate = hh = U_h h_{t-1} + b_hh (backward needs it), h_next.
  static void gates_reset_after(Index H, Scalar* gates, const Scalar* recurrent, const Scalar* recurrent_bias,
                                const Scalar* h_previous, Scalar* candidate, Scalar* h_next) {
    simd::vectorized_loop<Scalar>(H, [&](Index j, auto lane) {
      using V = decltype(lane);
      const V z = simd::sigmoid(simd::load<V>(gates + j) + simd::load<V>(recurrent + j) +
                                simd::load<V>(recurrent_bias + j));
      const V r = simd::sigmoid(simd::load<V>(gates + H + j) + simd::load<V>(recurrent + H + j) +
                                simd::load<V>(recurrent_bias + H + j));
      const V hh = simd::load<V>(recurrent + 2 * H + j) + simd::load<V>(recurrent_bias + 2 * H + j);
      const V n = simd::tanh(simd::load<V>(gates + 2 * H + j) + r * hh);
      const V h = simd::load<V>(h_previous + j);
      simd::store(gates + j, z);
      simd::store(gates + H + j, r);
      simd::store(gates + 2 * H + j, n);
      simd::store(candidate + j, hh);
      simd::store(h_next + j, n + z * (h - n));  // z h + (1 - z) n
    });
  }

  // reset_after = false, first half. gates: in W x + b, out z, r in the first 2H rows (the last H
  // rows keep W_h x + b_h for the second half). recurrent (first 2H) = U_zr h_{t-1}.
  // Also writes reset_hidden = r .* h_{t-1}, the input of U_h.
  static void update_reset_gates(Index H, Scalar* gates, const Scalar* recurrent, const Scalar* h_previous,
                                 Scalar* reset_hidden) {
    simd::vectorized_loop<Scalar>(H, [&](Index j, auto lane) {
      using V = decltype(lane);
      const V z = simd::sigmoid(simd::load<V>(gates + j) + simd::load<V>(recurrent + j));
      const V r = simd::sigmoid(simd::load<V>(gates + H + j) + simd::load<V>(recurrent + H + j));
      simd::store(gates + j, z);
      simd::store(gates + H + j, r);
      simd::store(reset_hidden + j, r * simd::load<V>(h_previous + j));
    });
  }

  // reset_after = false, second half. gates: in [z; r; W_h x + b_h], out [z; r; n].
  // recurrent (last H) = U_h (r .* h_{t-1}). Also writes h_next.
  static void candidate_and_output(Index H, Scalar* gates, const Scalar* recurrent, const Scalar* h_previous,
                                   Scalar* h_next) {
    simd::vectorized_loop<Scalar>(H, [&](Index j, auto lane) {
      using V = decltype(lane);
      const V z = simd::load<V>(gates + j);
      const V n = simd::tanh(simd::load<V>(gates + 2 * H + j) + simd::load<V>(recurrent + 2 * H + j));
      const V h = simd::load<V>(h_previous + j);
      simd::store(gates + 2 * H + j, n);
      simd::store(h_next + j, n + z * (h - n));
    });
  }

  // ---- backward steps ---------------------------------------------------------------------
  // For the sequences [first, first + count) of step t. In: d_hidden = dL/dh_t. Out: the
  // pre-activation gradients of step t in d_projection_ (and d_recurrent_candidate_), and
  // d_hidden_previous = dL/dh_{t-1} (without the recurrent product when cut_here).
  //   dn = dh (1 - z)            da_n = dn (1 - n^2)
  //   dz = dh (h_{t-1} - n)      da_z = dz z (1 - z)
  //   dh_{t-1} = dh z + (recurrent terms)

  // reset_after = true: dr = da_n hh, da_r = dr r (1 - r), d(hh) = da_n r;
  //   dZx = [da_z; da_r; da_n]  dZh = [da_z; da_r; da_n r]  dh_{t-1} = dh z + U^T dZh.
  void backward_step_reset_after(Index t, bool cut_here, Index first, Index count,
                                 const Matrix<Scalar>& d_hidden, Matrix<Scalar>& d_hidden_previous) {
    const Index H = units_, B = batch_;
    for (Index b = first; b < first + count; ++b) {
      const Index k = t * B + b;
      const Scalar* d_h = &d_hidden(0, b);
      const Scalar* gates = &gates_(0, k);
      const Scalar* candidate = &recurrent_candidate_(0, k);
      const Scalar* h_previous = &states_(0, k);
      Scalar* d_x = &d_projection_(0, k);
      Scalar* d_rec = &d_step_recurrent_(0, b);      // dZh of this step, for U^T dZh
      Scalar* d_hh = &d_recurrent_candidate_(0, k);  // its candidate rows, kept for dU_h
      Scalar* d_h_previous = &d_hidden_previous(0, b);
      simd::vectorized_loop<Scalar>(H, [&](Index j, auto lane) {
        using V = decltype(lane);
        const V one(Scalar(1));
        const V dh = simd::load<V>(d_h + j);
        const V z = simd::load<V>(gates + j);
        const V r = simd::load<V>(gates + H + j);
        const V n = simd::load<V>(gates + 2 * H + j);
        const V hh = simd::load<V>(candidate + j);
        const V hp = simd::load<V>(h_previous + j);
        const V da_n = dh * (one - z) * (one - n * n);
        const V da_z = dh * (hp - n) * z * (one - z);
        const V da_r = da_n * hh * r * (one - r);
        simd::store(d_x + j, da_z);
        simd::store(d_x + H + j, da_r);
        simd::store(d_x + 2 * H + j, da_n);
        const V d_candidate = da_n * r;
        simd::store(d_rec + j, da_z);
        simd::store(d_rec + H + j, da_r);
        simd::store(d_rec + 2 * H + j, d_candidate);
        simd::store(d_hh + j, d_candidate);
        simd::store(d_h_previous + j, dh * z);
      });
    }
    if (!cut_here) {  // dh_{t-1} += U^T dZh_t
      packed_recurrent_kernel_.multiply(d_step_recurrent_.middleCols(first, count),
                                        d_hidden_previous.middleCols(first, count), gemm::Update::accumulate);
    }
  }

  // reset_after = false: the pre-activations are W x + U (.) + b, so dZh = dZx = [da_z; da_r; da_n].
  //   d(r h) = U_h^T da_n (GEMM)   dr = d(r h) h_{t-1}   da_r = dr r (1 - r)
  //   dh_{t-1} = dh z + d(r h) r + U_zr^T [da_z; da_r] (GEMM).
  void backward_step_reset_before(Index t, bool cut_here, Index first, Index count,
                                  const Matrix<Scalar>& d_hidden, Matrix<Scalar>& d_hidden_previous) {
    const Index H = units_, B = batch_;
    for (Index b = first; b < first + count; ++b) {
      const Index k = t * B + b;
      const Scalar* d_h = &d_hidden(0, b);
      const Scalar* gates = &gates_(0, k);
      const Scalar* h_previous = &states_(0, k);
      Scalar* d_x = &d_projection_(0, k);
      Scalar* d_h_previous = &d_hidden_previous(0, b);
      simd::vectorized_loop<Scalar>(H, [&](Index j, auto lane) {
        using V = decltype(lane);
        const V one(Scalar(1));
        const V dh = simd::load<V>(d_h + j);
        const V z = simd::load<V>(gates + j);
        const V n = simd::load<V>(gates + 2 * H + j);
        const V hp = simd::load<V>(h_previous + j);
        simd::store(d_x + j, dh * (hp - n) * z * (one - z));
        simd::store(d_x + 2 * H + j, dh * (one - z) * (one - n * n));
        simd::store(d_h_previous + j, dh * z);
      });
    }
    packed_candidate_kernel_.multiply(d_projection_.block(2 * H, t * B + first, H, count),
                                      d_reset_hidden_.middleCols(first, count),
                                      gemm::Update::overwrite);  // d(r h) = U_h^T da_n
    for (Index b = first; b < first + count; ++b) {
      const Index k = t * B + b;
      const Scalar* d_reset_hidden = &d_reset_hidden_(0, b);
      const Scalar* gates = &gates_(0, k);
      const Scalar* h_previous = &states_(0, k);
      Scalar* d_x = &d_projection_(0, k);
      Scalar* d_h_previous = &d_hidden_previous(0, b);
      simd::vectorized_loop<Scalar>(H, [&](Index j, auto lane) {
        using V = decltype(lane);
        const V one(Scalar(1));
        const V d_rh = simd::load<V>(d_reset_hidden + j);
        const V r = simd::load<V>(gates + H + j);
        const V hp = simd::load<V>(h_previous + j);
        simd::store(d_x + H + j, d_rh * hp * r * (one - r));
        simd::store(d_h_previous + j, simd::load<V>(d_h_previous + j) + d_rh * r);
      });
    }
    if (!cut_here) {  // dh_{t-1} += U_zr^T [da_z; da_r]
      packed_recurrent_kernel_.multiply(d_projection_.block(0, t * B + first, 2 * H, count),
                                        d_hidden_previous.middleCols(first, count), gemm::Update::accumulate);
    }
  }

  // Packs the recurrent kernel for the time loop: op(U) (reset_after), or op(U_zr) and op(U_h)
  // (reset_after = false, whose two products per step use the two row blocks separately).
  void pack_recurrent_kernel(gemm::Op op) {
    const Index H = units_;
    if (options_.reset_after) {
      packed_recurrent_kernel_.pack(recurrent_kernel_, op);
    } else {
      packed_recurrent_kernel_.pack(recurrent_kernel_.topRows(2 * H), op);
      packed_candidate_kernel_.pack(recurrent_kernel_.bottomRows(H), op);
    }
  }

  Index input_size_, units_;
  Options options_;

  // Parameters and their accumulated gradients.
  Matrix<Scalar> kernel_, recurrent_kernel_, bias_;
  Matrix<Scalar> kernel_gradient_, recurrent_kernel_gradient_, bias_gradient_;

  // Cached by forward() for backward(). N = T*B.
  Index steps_ = 0, batch_ = 0;
  bool inputs_are_ids_ = false;
  bool has_gradients_ = false;
  Matrix<Scalar> inputs_;               // I x N, dense inputs
  std::vector<TokenId> token_ids_;      // N, token inputs
  Matrix<Scalar> states_;               // H x (T+1)B: [h_{-1}, h_0, ..., h_{T-1}]
  Matrix<Scalar> gates_;                // 3H x N: W x + b_x, then the activated gates [z; r; n]
  Matrix<Scalar> recurrent_candidate_;  // H x N: hh = U_h h_{t-1} + b_hh   (reset_after)
  Matrix<Scalar> reset_hidden_;         // H x N: r .* h_{t-1}              (reset_after = false)
  Matrix<Scalar> step_recurrent_;       // 3H x B: U h_{t-1} of the current step
  Matrix<Scalar> output_;
  RecurrentState<Scalar> final_state_;

  // The recurrent products' matrices: U (or U_zr) and U_h packed by forward, their transposes
  // by backward (math/gemm.hpp).
  gemm::PackedMatrix<Scalar> packed_recurrent_kernel_, packed_candidate_kernel_;

  // backward() work and results.
  Matrix<Scalar> d_projection_;             // 3H x N: dL/d(W x + b_x), "dZx"
  Matrix<Scalar> d_recurrent_candidate_;    // H x N: dL/d(hh), the candidate rows of dZh (reset_after)
  Matrix<Scalar> d_step_recurrent_;         // 3H x B: dZh = dL/d(U h + b_h) of the current step (reset_after)
  Vector<Scalar> projection_gradient_sum_;  // 3H: rowsum(dZx)
  Vector<Scalar> candidate_gradient_sum_;   // H: rowsum(dL/dhh) (reset_after)
  Matrix<Scalar> d_hidden_, d_hidden_previous_, d_reset_hidden_;  // H x B
  Matrix<Scalar> input_gradient_;
  RecurrentState<Scalar> initial_state_gradient_;
};

}  // namespace seqlm
