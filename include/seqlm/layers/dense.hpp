/// \file
/// Dense: a fully connected linear layer applied to every column (Keras Dense(units), linear).
///
/// ```text
///   x  (in x N)       input; N = T*B for a time-major sequence (time-distributed for free)
///   W  (units x in)   parameter "kernel" (Keras's kernel transposed), glorot_uniform
///   b  (units x 1)    parameter "bias", zeros
///   y  (units x N)    y = W x + b 1^T                      one GEMM + a bias broadcast
/// ```
///
/// Backward, given dy = dL/dy (units x N):
/// ```text
///   dW += dy x^T     (units x in)   one GEMM over all N columns
///   db += dy 1       (units x 1)    row sums
///   dx  = W^T dy     (in x N)       input_gradient()
/// ```
///
/// A language model's softmax is not part of this layer: it is fused into the loss
/// (include/seqlm/loss.hpp). See docs/layers/dense.md.
#pragma once

#include <functional>

#include "../error.hpp"
#include "../init.hpp"
#include "../math/products.hpp"
#include "../parameter.hpp"
#include "../random.hpp"
#include "../tensor.hpp"
#include "contract.hpp"

namespace seqlm {

template <class Scalar>
class Dense {
 public:
  static constexpr const char* type_name = "Dense";
  static constexpr LayerTraits traits{/*reads_tokens=*/false, /*reads_features=*/true,
                                      /*needs_time_axis=*/false, /*columnwise=*/true};
  using State = StatelessState;

  struct Config {
    Index input_size = 0, units = 0;
  };

  /// input_size: rows of x; units: rows of y. Both must be positive (value_error).
  Dense(Index input_size, Index units) : Dense(Config{input_size, units}) {}
  explicit Dense(const Config& config) : input_size_(config.input_size), units_(config.units) {
    detail::check_positive("Dense", "input size", input_size_);
    detail::check_positive("Dense", "units", units_);
    kernel_ = Matrix<Scalar>::Zero(units_, input_size_);
    bias_ = Matrix<Scalar>::Zero(units_, 1);
    kernel_gradient_ = Matrix<Scalar>::Zero(units_, input_size_);
    bias_gradient_ = Matrix<Scalar>::Zero(units_, 1);
  }

  Index input_size() const { return input_size_; }
  Index output_size() const { return units_; }
  Index units() const { return units_; }
  Config config() const { return Config{input_size_, units_}; }
  bool keeps_time_axis() const { return true; }

  /// W (units x in) + b (units): units (in + 1).
  static Index parameter_count(const Config& config) { return config.units * (config.input_size + 1); }
  Index parameter_count() const { return parameter_count(config()); }

  /// Keras defaults: kernel ~ glorot_uniform(fan_in = input_size, fan_out = units), bias = 0.
  void initialize(Rng& rng) {
    init::glorot_uniform(kernel_, input_size_, units_, rng);
    bias_.setZero();
  }

  /// {"kernel", "bias"}: values (units x in), (units x 1) and their accumulated gradients.
  /// units * in + units numbers in all, e.g. Dense(57) on 128 inputs has 7,353.
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

  /// The contract's form: features only; Dense has no state.
  const Matrix<Scalar>& forward(const LayerInput<Scalar>& input, const LayerContext& = {},
                                const State* = nullptr) {
    return forward(detail::features_of("Dense", input));
  }
  void copy_final_state(State&) const {}

  /// y = W x + b for every column of x (in x N, N >= 1); returns y (units x N). Caches a copy
  /// of x for backward(), so the caller's buffer may change in between. Buffers are resized
  /// only when N changes. Throws shape_error when x does not have input_size rows.
  const Matrix<Scalar>& forward(ConstMatrixRef<Scalar> x) {
    check_input("Dense", x);
    input_ = x;  // no allocation when the shape is unchanged
    output_.resize(units_, x.cols());
    products::multiply(output_, kernel_, x);
    output_.colwise() += bias_.col(0);
    return output_;
  }

  /// Accumulates dW += dy x^T and db += row sums of dy for the x of the last forward(), and
  /// computes dx = W^T dy (input_gradient()). d_output must be (units x N) like that forward's
  /// output (shape_error); calling it before any forward() is a value_error.
  void backward(ConstMatrixRef<Scalar> d_output, const LayerContext& = {}) {
    if (input_.size() == 0) throw value_error("Dense: backward() called before forward()");
    detail::check_shape("Dense", "d_output", d_output, units_, input_.cols());
    products::multiply_transposed_b(kernel_gradient_, d_output, input_, products::Update::accumulate);
    bias_gradient_.col(0).noalias() += d_output.rowwise().sum();
    input_gradient_.resize(input_size_, input_.cols());
    products::multiply_transposed_a(input_gradient_, kernel_, d_output);
  }

  bool has_input_gradient() const { return input_gradient_.size() > 0; }
  /// dL/dx (in x N) of the last backward().
  const Matrix<Scalar>& input_gradient() const {
    if (!has_input_gradient()) throw value_error("Dense: input_gradient() called before backward()");
    return input_gradient_;
  }

  // ---- streaming ---------------------------------------------------------------------------

  State make_state(Index batch) const { return detail::make_stateless_state("Dense", batch); }

  /// The contract's form: out (units x B) = W x + b for one step of B sequences.
  void step(const LayerInput<Scalar>& input, State& state, Matrix<Scalar>& out) const {
    detail::check_step_batch("Dense", input.batch, state.batch);
    detail::size_output(out, units_, state.batch);
    step(detail::features_of("Dense step", input), out);
  }

  /// Nothing to copy (no memory); the indices are checked.
  void copy_sequence(const State& from, Index b, State& to, Index to_b) const {
    detail::copy_stateless_sequence("Dense", from, b, to, to_b);
  }

  /// Inference: out = W x + b without caching anything (const, so one trained layer can serve
  /// many streams). x is (in x N) and out (units x N) (shape_error); out must lie outside the
  /// memory span of x (value_error). N = 1 (one step of one stream) is a matrix-vector product.
  void step(ConstMatrixRef<Scalar> x, MatrixRef<Scalar> out) const {
    check_input("Dense step", x);
    detail::check_shape("Dense step", "output", out, units_, x.cols());
    if (overlaps(x, out)) throw value_error("Dense step: output overlaps the input");
    products::multiply(out, kernel_, x);  // a matrix-vector product when N = 1
    out.colwise() += bias_.col(0);
  }

 private:
  void check_input(const char* where, const ConstMatrixRef<Scalar>& x) const {
    detail::check_rows(where, "input", x.rows(), input_size_);
    if (x.cols() == 0) throw value_error(detail::make_message(where, ": input has no columns"));
  }

  // Whether the memory spanned by a and b intersects (std::less orders unrelated pointers).
  static bool overlaps(const ConstMatrixRef<Scalar>& a, const MatrixRef<Scalar>& b) {
    const Scalar* a_begin = a.data();
    const Scalar* a_end = a.data() + a.outerStride() * (a.cols() - 1) + a.rows();
    const Scalar* b_begin = b.data();
    const Scalar* b_end = b.data() + b.outerStride() * (b.cols() - 1) + b.rows();
    const std::less<const Scalar*> before;
    return before(a_begin, b_end) && before(b_begin, a_end);
  }

  Index input_size_;
  Index units_;
  Matrix<Scalar> kernel_;           // W  (units x in)
  Matrix<Scalar> bias_;             // b  (units x 1)
  Matrix<Scalar> kernel_gradient_;  // dW (units x in), accumulated
  Matrix<Scalar> bias_gradient_;    // db (units x 1), accumulated
  Matrix<Scalar> input_;            // x of the last forward (in x N)
  Matrix<Scalar> output_;           // y  (units x N)
  Matrix<Scalar> input_gradient_;   // dx (in x N)
};

}  // namespace seqlm
