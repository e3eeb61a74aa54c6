/// \file
/// Causal 1-D convolution over time (Keras Conv1D(filters, kernel_size, padding="causal",
/// dilation_rate, activation)).
///
/// ```text
///   X        (in x T*B)            input, time-major: column t*B + b is step t of sequence b
///   W_j      (filters x in)        tap j = 0 .. k-1, column block j of "kernel" (filters x k*in)
///   b        (filters x 1)         "bias"
///   s_j      = (k-1-j) * d         how many steps back tap j looks (d = dilation)
///   pre[t]   = b + sum_j W_j x[t - s_j]      with x[t] = 0 for t < 0 (left padding (k-1)*d)
///   y[t]     = act(pre[t])         act = identity or relu;  Y (filters x T*B)
/// ```
///
/// Time-major shift trick: delaying every sequence by s steps is an offset of s*B columns,
/// so tap j over all steps and sequences is ONE GEMM on column blocks:
/// ```text
///   Y[:, s_j*B :] += W_j * X[:, : (T-s_j)*B]          (taps with s_j >= T see only padding)
/// ```
/// Backward, with dPre = dY .* act'(pre):
/// ```text
///   dW_j += dPre[:, s_j*B :] * X[:, : (T-s_j)*B]^T
///   db   += sum over columns of dPre
///   dX[:, : (T-s_j)*B] += W_j^T * dPre[:, s_j*B :]
/// ```
/// Streaming keeps the last (k-1)*d inputs of each sequence in a ring buffer (State). A forward
/// given an initial State reads those inputs instead of the zero padding (X_ext = [history, X],
/// L = (k-1)*d steps of history; every tap then covers all T*B columns, tap j reading X_ext from
/// column (L - s_j)*B); its input gradient covers X only: the history is a constant.
/// See docs/layers/conv1d.md.
#pragma once

#include <algorithm>

#include "../error.hpp"
#include "../init.hpp"
#include "../math/products.hpp"
#include "../math/simd.hpp"
#include "../parameter.hpp"
#include "../random.hpp"
#include "../tensor.hpp"
#include "contract.hpp"

namespace seqlm {

/// The activation applied after the convolution.
enum class Activation { none, relu };

/// Conv1D options. (Declared outside the class so that `Options{}` can be a default argument.)
struct Conv1DOptions {
  Index dilation = 1;                        ///< d: spacing between taps, in steps
  Activation activation = Activation::none;  ///< applied to b + sum_j W_j x[t - s_j]
};

namespace detail {

// relu'(pre) * dy computed from the relu output y: dy where y > 0, else 0 (relu'(0) = 0).
template <class S>
S relu_backward(S y, S dy) {
  return y > S(0) ? dy : S(0);
}
template <class S, class A>
xsimd::batch<S, A> relu_backward(const xsimd::batch<S, A>& y, const xsimd::batch<S, A>& dy) {
  const xsimd::batch<S, A> zero(S(0));
  return xsimd::select(y > zero, dy, zero);
}

}  // namespace detail

template <class Scalar>
class Conv1D {
 public:
  using Options = Conv1DOptions;
  static constexpr const char* type_name = "Conv1D";
  static constexpr LayerTraits traits{/*reads_tokens=*/false, /*reads_features=*/true,
                                      /*needs_time_axis=*/true, /*columnwise=*/false};

  struct Config {
    Index input_size = 0, filters = 0, kernel_size = 0;
    Options options;
  };

  /// The state of a batch of sequences: the last (k-1)*d inputs of each, as a ring of
  /// (k-1)*d slots of B columns (slot = step mod (k-1)*d, column slot*B + b is sequence b).
  /// Starts at zero, which is exactly the causal left padding. Made by make_state().
  struct State {
    Matrix<Scalar> history;  ///< (in x (k-1)*d*B); empty when (k-1)*d == 0
    Index batch = 0;         ///< B
    Index position = 0;      ///< slot of the next step: steps taken mod (k-1)*d (0 when k = 1)
  };

  /// in_channels -> filters channels with a kernel of kernel_size taps. All sizes and the
  /// dilation must be positive (value_error).
  Conv1D(Index in_channels, Index filters, Index kernel_size, Options options = Options())
      : Conv1D(Config{in_channels, filters, kernel_size, options}) {}
  explicit Conv1D(const Config& config)
      : input_size_(config.input_size),
        filters_(config.filters),
        kernel_size_(config.kernel_size),
        options_(config.options) {
    detail::check_positive("Conv1D", "input channels", input_size_);
    detail::check_positive("Conv1D", "filters", filters_);
    detail::check_positive("Conv1D", "kernel size", kernel_size_);
    detail::check_positive("Conv1D", "dilation", options_.dilation);
    kernel_ = Matrix<Scalar>::Zero(filters_, kernel_size_ * input_size_);
    kernel_gradient_ = Matrix<Scalar>::Zero(filters_, kernel_size_ * input_size_);
    bias_ = Matrix<Scalar>::Zero(filters_, 1);
    bias_gradient_ = Matrix<Scalar>::Zero(filters_, 1);
  }

  Index input_size() const { return input_size_; }
  Index output_size() const { return filters_; }
  Index filters() const { return filters_; }
  Index kernel_size() const { return kernel_size_; }
  const Options& options() const { return options_; }
  Config config() const { return Config{input_size_, filters_, kernel_size_, options_}; }
  bool keeps_time_axis() const { return true; }

  /// W (filters x k*in) + b (filters).
  static Index parameter_count(const Config& config) {
    return config.filters * (config.kernel_size * config.input_size + 1);
  }
  Index parameter_count() const { return parameter_count(config()); }
  /// How many past steps an output sees besides the current one: (k-1)*d.
  Index receptive_history() const { return (kernel_size_ - 1) * options_.dilation; }

  /// Keras defaults: kernel glorot_uniform with fan_in = k*in, fan_out = k*filters; bias zero.
  void initialize(Rng& rng) {
    init::glorot_uniform(kernel_, kernel_size_ * input_size_, kernel_size_ * filters_, rng);
    bias_.setZero();
  }

  /// {"kernel" (filters x k*in), "bias" (filters x 1)}: values and accumulated gradients.
  ParameterList<Scalar> parameters() {
    return {{"kernel", &kernel_, &kernel_gradient_}, {"bias", &bias_, &bias_gradient_}};
  }
  ConstParameterList<Scalar> parameters() const {
    return {{"kernel", &kernel_, &kernel_gradient_}, {"bias", &bias_, &bias_gradient_}};
  }

  Matrix<Scalar>& kernel() { return kernel_; }
  Matrix<Scalar>& bias() { return bias_; }
  const Matrix<Scalar>& kernel() const { return kernel_; }
  const Matrix<Scalar>& bias() const { return bias_; }

  /// The contract's form: features only.
  const Matrix<Scalar>& forward(const LayerInput<Scalar>& input, const LayerContext& = {},
                                const State* initial = nullptr) {
    return forward(detail::features_of("Conv1D", input), input.batch, initial);
  }

  /// Y (filters x T*B) for X (in x T*B) holding `batch` sequences. X is copied for backward().
  /// initial: the inputs before X (a State, e.g. the previous chunk's copy_final_state), or
  /// null for the zero padding.
  const Matrix<Scalar>& forward(ConstMatrixRef<Scalar> x, Index batch, const State* initial = nullptr) {
    detail::check_rows("Conv1D", "input", x.rows(), input_size_);
    const Index steps = detail::steps_of("Conv1D", x.cols(), batch);
    if (initial != nullptr) check_state("Conv1D", *initial, batch);
    const Index lead = initial != nullptr ? receptive_history() : 0;  // L steps of history
    batch_ = batch;
    steps_ = steps;
    lead_ = lead;
    input_.resize(input_size_, (lead + steps) * batch);  // X_ext = [history, X]
    if (lead > 0) {
      // The ring's oldest slot is `position` (the next one to be overwritten).
      for (Index q = 0; q < lead; ++q) {
        const Index slot = (initial->position + q) % lead;
        input_.middleCols(q * batch, batch) = initial->history.middleCols(slot * batch, batch);
      }
    }
    input_.rightCols(steps * batch) = x;  // no allocation when the shape is unchanged
    if (output_.cols() != x.cols()) output_.resize(filters_, x.cols());

    // Tap k-1 has shift 0 and covers every column: it initialises Y.
    products::multiply(output_, tap(kernel_size_ - 1), input_.rightCols(steps * batch));
    for (Index j = 0; j + 1 < kernel_size_; ++j) {
      const Index shift = shift_of(j);
      if (lead > 0) {  // x_ext[L + t - s]: every step reads real history
        products::multiply(output_, tap(j), input_.middleCols((lead - shift) * batch, steps * batch),
                           products::Update::accumulate);
        continue;
      }
      if (shift >= steps) continue;  // this tap only ever sees the zero padding
      const Index width = (steps - shift) * batch;
      products::multiply(output_.middleCols(shift * batch, width), tap(j), input_.leftCols(width),
                         products::Update::accumulate);
    }
    for (Index c = 0; c < output_.cols(); ++c) add_bias_and_activate(output_.col(c).data());
    return output_;
  }

  /// Writes the last (k-1)*d inputs of the last forward (zeros before its first step, unless
  /// it started from a state) into `state`, as a ring starting at slot 0.
  void copy_final_state(State& state) const {
    if (steps_ == 0) throw value_error("Conv1D: copy_final_state() called before forward()");
    const Index history = receptive_history(), B = batch_;
    const Index extended_steps = lead_ + steps_;
    state.batch = B;
    state.position = 0;
    state.history.resize(input_size_, history * B);
    for (Index q = 0; q < history; ++q) {
      const Index t = extended_steps - history + q;  // step of X_ext held by slot q
      if (t >= 0) {
        state.history.middleCols(q * B, B) = input_.middleCols(t * B, B);
      } else {
        state.history.middleCols(q * B, B).setZero();
      }
    }
  }

  /// Accumulates the kernel and bias gradients for the last forward() and computes
  /// input_gradient(). d_output must have that forward's output shape (shape_error).
  void backward(ConstMatrixRef<Scalar> d_output, const LayerContext& = {}) {
    if (steps_ == 0) throw value_error("Conv1D: backward() called before forward()");
    detail::check_shape("Conv1D", "d_output", d_output, filters_, output_.cols());
    if (options_.activation == Activation::relu) {
      // dPre = dY .* relu'(pre); relu'(pre) = [y > 0], so the output doubles as the mask.
      if (d_pre_.cols() != d_output.cols()) d_pre_.resize(filters_, d_output.cols());
      for (Index c = 0; c < d_output.cols(); ++c) {
        const Scalar* y = output_.col(c).data();
        const Scalar* dy = d_output.col(c).data();
        Scalar* d_pre = d_pre_.col(c).data();
        simd::vectorized_loop<Scalar>(filters_, [&](Index r, auto lane) {
          using V = decltype(lane);
          simd::store(d_pre + r, detail::relu_backward(simd::load<V>(y + r), simd::load<V>(dy + r)));
        });
      }
      backward_from_pre_activation(d_pre_);
    } else {
      backward_from_pre_activation(d_output);  // identity: dPre = dY
    }
  }

  bool has_input_gradient() const { return input_gradient_.size() > 0; }
  /// dL/dX (in x T*B) from the last backward().
  const Matrix<Scalar>& input_gradient() const {
    if (!has_input_gradient()) throw value_error("Conv1D: input_gradient() called before backward()");
    return input_gradient_;
  }

  /// A fresh streaming state for `batch` sequences (all history zero = causal padding).
  State make_state(Index batch) const {
    detail::check_positive("Conv1D step", "batch size", batch);
    State state;
    state.history = Matrix<Scalar>::Zero(input_size_, receptive_history() * batch);
    state.batch = batch;
    return state;
  }

  /// The contract's form: out (filters x B) = y[t] for one step of B sequences.
  void step(const LayerInput<Scalar>& input, State& state, Matrix<Scalar>& out) const {
    const Matrix<Scalar>& x = detail::features_of("Conv1D step", input);
    detail::check_step_batch("Conv1D", input.batch, state.batch);
    detail::size_output(out, filters_, state.batch);
    step(x, state, out);
  }

  /// Sequence b of `from` (its last (k-1)*d inputs) becomes sequence to_b of `to`. The two rings
  /// may be at different positions: x[t - 1 - j] is read from slot (position - 1 - j) mod (k-1)*d
  /// of each.
  void copy_sequence(const State& from, Index b, State& to, Index to_b) const {
    check_state("Conv1D copy_sequence", from, from.batch);
    check_state("Conv1D copy_sequence", to, to.batch);
    detail::check_sequence_index("Conv1D", "source", b, from.batch);
    detail::check_sequence_index("Conv1D", "target", to_b, to.batch);
    const Index history = receptive_history();
    for (Index j = 0; j < history; ++j) {
      const Index from_slot = (from.position - 1 - j + 2 * history) % history;
      const Index to_slot = (to.position - 1 - j + 2 * history) % history;
      to.history.col(to_slot * to.batch + to_b) = from.history.col(from_slot * from.batch + b);
    }
  }

  /// Streaming: out (filters x B) = y[t] for the next input x (in x B) of every sequence;
  /// remembers x in the state. Running T steps reproduces forward() on the T steps.
  /// Allocates nothing. For B = 1 the products are matrix-vector products.
  void step(ConstMatrixRef<Scalar> x, State& state, MatrixRef<Scalar> out) const {
    const Index batch = state.batch;
    const Index history = receptive_history();
    check_state("Conv1D step", state, batch);
    detail::check_shape("Conv1D step", "input", x, input_size_, batch);
    detail::check_shape("Conv1D step", "output", out, filters_, batch);

    products::multiply(out, tap(kernel_size_ - 1), x);  // shift 0: the current input
    if (history > 0) {
      for (Index j = 0; j + 1 < kernel_size_; ++j) {
        // x[t - s] lives in slot (t - s) mod history; before step s that slot is still zero.
        const Index slot = (state.position - shift_of(j) + history) % history;
        products::multiply(out, tap(j), state.history.middleCols(slot * batch, batch),
                           products::Update::accumulate);
      }
      state.history.middleCols(state.position * batch, batch) = x;  // overwrites x[t - history]
      state.position = (state.position + 1) % history;
    }
    for (Index b = 0; b < batch; ++b) add_bias_and_activate(out.col(b).data());
  }

 private:
  // A state must be a ring of (k-1)*d slots of `batch` columns with a valid position.
  void check_state(const char* where, const State& state, Index batch) const {
    const Index history = receptive_history();
    const bool position_ok = state.position >= 0 && state.position < std::max<Index>(history, 1);
    if (state.batch != batch || batch <= 0 || !position_ok || state.history.rows() != input_size_ ||
        state.history.cols() != history * batch) {
      throw shape_error(detail::make_message(
          where, ": state has shape ", state.history.rows(), "x", state.history.cols(), ", batch ",
          state.batch, ", position ", state.position, "; expected ", input_size_, "x", history * batch,
          ", batch ", batch, " and position in [0, ", std::max<Index>(history, 1), ") (use make_state)"));
    }
  }

  // W_j (filters x in): column block j of the kernel.
  auto tap(Index j) const { return kernel_.middleCols(j * input_size_, input_size_); }
  // s_j = (k-1-j)*d: tap j reads the input s_j steps back.
  Index shift_of(Index j) const { return (kernel_size_ - 1 - j) * options_.dilation; }

  // column <- act(column + b) for one column of `filters_` values, in one SIMD pass.
  void add_bias_and_activate(Scalar* column) const {
    const Scalar* bias = bias_.data();
    const bool relu = options_.activation == Activation::relu;
    simd::vectorized_loop<Scalar>(filters_, [&](Index r, auto lane) {
      using V = decltype(lane);
      V value = simd::load<V>(column + r) + simd::load<V>(bias + r);
      if (relu) value = simd::relu(value);
      simd::store(column + r, value);
    });
  }

  // Weight, bias and input gradients from dPre (filters x T*B), as large GEMMs per tap.
  //   dW_j += dPre[:, s_j*B :] X[:, : (T-s_j)*B]^T     (from a state: dPre X_ext[:, (L-s_j)*B :]^T)
  //   dX[:, : (T-s_j)*B] += W_j^T dPre[:, s_j*B :]      (the history gets no gradient)
  void backward_from_pre_activation(const ConstMatrixRef<Scalar>& d_pre) {
    const Index batch = batch_, steps = steps_, lead = lead_;
    const Index in = input_size_;
    const auto x = input_.rightCols(steps * batch);
    bias_gradient_.noalias() += d_pre.rowwise().sum();
    if (input_gradient_.cols() != x.cols()) input_gradient_.resize(in, x.cols());
    // Tap k-1 (shift 0) covers every column, so it initialises dX.
    products::multiply_transposed_b(kernel_gradient_.middleCols((kernel_size_ - 1) * in, in), d_pre, x,
                                    products::Update::accumulate);
    products::multiply_transposed_a(input_gradient_, tap(kernel_size_ - 1), d_pre);
    for (Index j = 0; j + 1 < kernel_size_; ++j) {
      const Index shift = shift_of(j);
      if (lead > 0) {
        products::multiply_transposed_b(kernel_gradient_.middleCols(j * in, in), d_pre,
                                        input_.middleCols((lead - shift) * batch, steps * batch),
                                        products::Update::accumulate);
      }
      if (shift >= steps) continue;
      const Index width = (steps - shift) * batch;
      const auto d_pre_shifted = d_pre.middleCols(shift * batch, width);
      if (lead == 0) {
        products::multiply_transposed_b(kernel_gradient_.middleCols(j * in, in), d_pre_shifted,
                                        input_.leftCols(width), products::Update::accumulate);
      }
      products::multiply_transposed_a(input_gradient_.leftCols(width), tap(j), d_pre_shifted,
                                      products::Update::accumulate);
    }
  }

  Index input_size_, filters_, kernel_size_;
  Options options_;
  Matrix<Scalar> kernel_, kernel_gradient_;  // (filters x k*in)
  Matrix<Scalar> bias_, bias_gradient_;      // (filters x 1)

  // Cached by forward() for backward().
  Index batch_ = 0, steps_ = 0, lead_ = 0;  // lead_: L steps of history before X (0 without a state)
  Matrix<Scalar> input_;                    // X_ext = [history, X]  (in x (L+T)*B)
  Matrix<Scalar> output_;                   // Y  (filters x T*B); for relu also the mask [pre > 0]
  Matrix<Scalar> d_pre_;                    // dPre (filters x T*B), relu only
  Matrix<Scalar> input_gradient_;           // dX (in x T*B)
};

}  // namespace seqlm
