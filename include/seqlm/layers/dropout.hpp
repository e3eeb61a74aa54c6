// Inverted dropout (Keras Dropout(rate)).
//
// Training:   m_k = [u_k >= rate] / (1 - rate),  u_k ~ U[0, 1) drawn from the caller's Rng
//             y = x .* m                          so E[y_k] = x_k: nothing to rescale later
// Inference:  y = x
// Backward:   dx = dy .* m   (dx = dy after an inference forward)
// Shapes are whatever the input is (typically features x T*B); draws go in column-major
// order, one per element, so a seed fixes the mask. See docs/layers/dropout.md.
#pragma once

#include "../error.hpp"
#include "../parameter.hpp"
#include "../random.hpp"
#include "../tensor.hpp"

namespace seqlm {

template <class Scalar>
class Dropout {
 public:
  // rate: probability of dropping an element, in [0, 1) (value_error otherwise).
  explicit Dropout(double rate) : rate_(rate) {
    if (!(rate >= 0.0 && rate < 1.0)) {
      throw value_error(detail::make_message("Dropout: rate must be in [0, 1), got ", rate));
    }
  }

  double rate() const { return rate_; }

  // No trainable parameters.
  ParameterList<Scalar> parameters() { return {}; }

  // y = x .* m when training (and rate > 0), else y = x. Draws x.size() uniforms from rng
  // only when a mask is made.
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

  // input_gradient() = d_output .* m (or d_output after an inference forward).
  // d_output must have the last forward's shape (shape_error).
  void backward(ConstMatrixRef<Scalar> d_output) {
    if (output_.size() == 0) throw value_error("Dropout: backward() called before forward()");
    detail::check_shape("Dropout", "d_output", d_output, output_.rows(), output_.cols());
    if (masked_) {
      d_input_.noalias() = d_output.cwiseProduct(mask_);
    } else {
      d_input_ = d_output;
    }
  }

  const Matrix<Scalar>& input_gradient() const { return d_input_; }

  // The mask m of the last training forward: 0 or 1/(1-rate) per element.
  const Matrix<Scalar>& mask() const { return mask_; }
  // Whether the last forward applied a mask (training with rate > 0).
  bool masked() const { return masked_; }

 private:
  double rate_;
  bool masked_ = false;
  Matrix<Scalar> mask_;     // m, same shape as x
  Matrix<Scalar> output_;   // y
  Matrix<Scalar> d_input_;  // dx
};

}  // namespace seqlm
