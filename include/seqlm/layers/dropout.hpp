/// \file
/// Inverted dropout (Keras Dropout(rate)).
///
/// ```text
/// Training:   m_k = [u_k >= rate] / (1 - rate),  u_k ~ U[0, 1) drawn from the caller's Rng
///             y = x .* m                          so E[y_k] = x_k: nothing to rescale later
/// Inference:  y = x
/// Backward:   dx = dy .* m   (dx = dy after an inference forward)
/// ```
/// Shapes are whatever the input is (typically features x T*B); draws go in column-major
/// order, one per element, so a seed fixes the mask. See docs/layers/dropout.md.
#pragma once

#include "../error.hpp"
#include "../parameter.hpp"
#include "../random.hpp"
#include "../tensor.hpp"
#include "contract.hpp"

namespace seqlm {

template <class Scalar>
class Dropout {
 public:
  static constexpr const char* type_name = "Dropout";
  static constexpr LayerTraits traits{/*reads_tokens=*/false, /*reads_features=*/true,
                                      /*needs_time_axis=*/false, /*columnwise=*/true,
                                      /*sized_by_input=*/true};
  using State = StatelessState;

  /// size: the features passing through; 0 until a model sets it (set_input_size).
  struct Config {
    double rate = 0.0;
    Index size = 0;
  };

  /// rate: probability of dropping an element, in [0, 1) (value_error otherwise).
  explicit Dropout(double rate, Index size = 0) : Dropout(Config{rate, size}) {}
  explicit Dropout(const Config& config) : rate_(config.rate), size_(config.size) {
    if (!(rate_ >= 0.0 && rate_ < 1.0)) {
      throw value_error(detail::make_message("Dropout: rate must be in [0, 1), got ", rate_));
    }
    if (size_ < 0) throw value_error(detail::make_message("Dropout: size must be >= 0, got ", size_));
  }

  double rate() const { return rate_; }
  Index input_size() const { return size_; }
  Index output_size() const { return size_; }
  Config config() const { return Config{rate_, size_}; }
  bool keeps_time_axis() const { return true; }
  /// Dropout has no size of its own: a model tells it the size of what flows through.
  void set_input_size(Index size) {
    detail::check_positive("Dropout", "input size", size);
    size_ = size;
  }

  /// No trainable parameters.
  static Index parameter_count(const Config&) { return 0; }
  Index parameter_count() const { return 0; }
  void initialize(Rng&) {}
  ParameterList<Scalar> parameters() { return {}; }
  ConstParameterList<Scalar> parameters() const { return {}; }

  /// The contract's form: masks are drawn from context.rng when context.training and rate > 0
  /// (value_error when the generator is missing then).
  const Matrix<Scalar>& forward(const LayerInput<Scalar>& input, const LayerContext& context = {},
                                const State* = nullptr) {
    const Matrix<Scalar>& x = detail::features_of("Dropout", input);
    const bool masks = context.training && rate_ > 0.0;
    if (masks && context.rng == nullptr) {
      throw value_error(
          "Dropout: training with rate > 0 needs a random generator (LayerContext::rng is null)");
    }
    Rng unused(0);
    return forward(x, masks, masks ? *context.rng : unused);
  }
  void copy_final_state(State&) const {}

  /// \details y = x .* m when training (and rate > 0), else y = x. Draws x.size() uniforms from rng
  /// only when a mask is made.
  const Matrix<Scalar>& forward(ConstMatrixRef<Scalar> x, bool training, Rng& rng) {
    if (x.size() == 0) throw value_error("Dropout: empty input (0 elements)");
    masked_ = training && rate_ > 0.0;
    if (masked_) {
      if (mask_.rows() != x.rows() || mask_.cols() != x.cols()) mask_.resize(x.rows(), x.cols());
      const Scalar keep_scale = static_cast<Scalar>(1.0 / (1.0 - rate_));
      for (Index k = 0; k < mask_.size(); ++k) {
        mask_.data()[k] = rng.uniform() >= rate_ ? keep_scale : Scalar(0);
      }
      output_.noalias() = x.cwiseProduct(mask_);
    } else {
      output_ = x;
    }
    return output_;
  }

  /// \details input_gradient() = d_output .* m (or d_output after an inference forward).
  /// d_output must have the last forward's shape (shape_error).
  void backward(ConstMatrixRef<Scalar> d_output, const LayerContext& = {}) {
    if (output_.size() == 0) throw value_error("Dropout: backward() called before forward()");
    detail::check_shape("Dropout", "d_output", d_output, output_.rows(), output_.cols());
    if (masked_) {
      input_gradient_.noalias() = d_output.cwiseProduct(mask_);
    } else {
      input_gradient_ = d_output;
    }
  }

  bool has_input_gradient() const { return input_gradient_.size() > 0; }
  const Matrix<Scalar>& input_gradient() const {
    if (!has_input_gradient()) throw value_error("Dropout: input_gradient() called before backward()");
    return input_gradient_;
  }

  // ---- streaming (inference: the identity) -------------------------------------------------

  State make_state(Index batch) const { return detail::make_stateless_state("Dropout", batch); }

  void step(const LayerInput<Scalar>& input, State& state, Matrix<Scalar>& out) const {
    detail::check_step_batch("Dropout", input.batch, state.batch);
    out = detail::features_of("Dropout step", input);
  }

  /// Nothing to copy (no memory); the indices are checked.
  void copy_sequence(const State& from, Index b, State& to, Index to_b) const {
    detail::copy_stateless_sequence("Dropout", from, b, to, to_b);
  }

  /// The mask m of the last training forward: 0 or 1/(1-rate) per element.
  const Matrix<Scalar>& mask() const { return mask_; }
  /// Whether the last forward applied a mask (training with rate > 0).
  bool masked() const { return masked_; }

 private:
  double rate_;
  Index size_;
  bool masked_ = false;
  Matrix<Scalar> mask_;            // m, same shape as x
  Matrix<Scalar> output_;          // y
  Matrix<Scalar> input_gradient_;  // dx
};

}  // namespace seqlm
