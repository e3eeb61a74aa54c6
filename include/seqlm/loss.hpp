/// \file
/// Softmax, log-softmax and the fused sparse softmax cross-entropy loss of a language model.
///
/// The output layer produces logits z (V x N): one column of V scores per position, N = T*B
/// time-major like every tensor in seqlm. With p = softmax(z[:, n]) and target id y_n:
///
/// ```text
///   p_v          = exp(z_v - m) / sum_u exp(z_u - m),     m = max_u z_u   (shift-invariant)
///   loss_n       = -log p_y = (m - z_y) + log sum_u exp(z_u - m)           (log-sum-exp)
///   loss         = sum_n w_n loss_n / sum_n w_n                 (weighted mean, w_n >= 0)
///   dloss/dz_n   = w_n / sum_k w_k * (p - onehot(y_n))
/// ```
///
/// Subtracting the column maximum makes every exponent <= 0, so nothing overflows and at
/// least one term of the sum is exactly 1: logits of +-1e4 give finite losses and gradients.
/// Softmax is never materialised separately: one pass per column finds m, a second computes
/// the exponentials (xsimd) straight into the gradient buffer, a third scales them. Losses are
/// accumulated in double even for float logits. A weight of 0 ignores a position (padding);
/// its target is never read, so any id (e.g. -1) may mark it. See docs/layers/dense.md.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>

#include "error.hpp"
#include "math/simd.hpp"
#include "tensor.hpp"

namespace seqlm {

/// What one evaluation of the loss reports.
struct CrossEntropyResult {
  double loss = 0.0;            ///< weighted mean of -log p(target) over the counted positions
  Index correct = 0;            ///< counted positions whose argmax (first maximum) is the target
  Index counted = 0;            ///< positions with a nonzero weight
  double counted_weight = 0.0;  ///< sum of the weights (= counted when there are no weights)

  double accuracy() const { return counted == 0 ? 0.0 : static_cast<double>(correct) / counted; }
};

namespace detail {

// sum_k exp(z[k] - shift) for k < n, in one vectorised pass; each term is also written to
// exps[k] unless exps is null. exps may be the same array as z (in place).
template <class S>
S sum_exp_shifted(const S* z, Index n, S shift, S* exps) {
  simd::Batch<S> batch_sum(S(0));
  S tail_sum = 0;
  simd::vectorized_loop<S>(n, [&](Index k, auto lane) {
    using V = decltype(lane);
    const V x = simd::load<V>(z + k) - V(shift);
    if constexpr (std::is_same_v<V, S>) {
      const S e = std::exp(x);
      tail_sum += e;
      if (exps != nullptr) *(exps + k) = e;
    } else {
      const V e = simd::exp(x);
      batch_sum += e;
      if (exps != nullptr) simd::store(exps + k, e);
    }
  });
  return simd::reduce_add(batch_sum) + tail_sum;
}

// True when z[target] is the FIRST maximum of z[0..n), i.e. argmax(z) == target as in
// torch.argmax. `max` is max(z). Cheap: only a tie with the maximum needs a scan.
template <class S>
bool is_first_maximum(const S* z, Index target, S max) {
  if (z[target] != max) return false;
  for (Index v = 0; v < target; ++v) {
    if (z[v] == max) return false;
  }
  return true;
}

inline void check_targets_and_weights(const char* where, Index vocabulary_size, Index positions,
                                      const TokenView& targets, const void* weights_data,
                                      Index weights_size) {
  if (vocabulary_size <= 0 || positions <= 0) {
    throw value_error(make_message(where, ": logits must have at least one row and one column, got ",
                                   vocabulary_size, "x", positions));
  }
  if (targets.size() != positions) {
    throw shape_error(make_message(where, ": targets has ", targets.size(), " ids, expected ", positions,
                                   " (one per logits column)"));
  }
  if (targets.ids == nullptr) throw value_error(make_message(where, ": target view has no data"));
  if (weights_data != nullptr && weights_size != positions) {
    throw shape_error(make_message(where, ": weights has ", weights_size, " values, expected ", positions,
                                   " (one per logits column)"));
  }
}

// Position k of a time-major (T*B) sequence, for messages: "position 7 (step 3, sequence 1)".
inline std::string describe_position(Index k, Index batch) {
  if (batch <= 0) return make_message("position ", k);
  return make_message("position ", k, " (step ", k / batch, ", sequence ", k % batch, ")");
}

// Checks what the loss reads -- shapes, weights finite and >= 0 and not all zero, the target
// of every counted position inside [0, V) -- and returns the sum of the weights. The messages
// name the position. weights may be null (all 1).
template <class S>
double checked_total_weight(const char* where, Index vocabulary_size, Index positions,
                            const TokenView& targets, const S* weights, Index weights_size) {
  check_targets_and_weights(where, vocabulary_size, positions, targets, weights, weights_size);
  double total_weight = 0.0;
  for (Index n = 0; n < positions; ++n) {
    const double w = weights == nullptr ? 1.0 : static_cast<double>(weights[n]);
    if (!(w >= 0.0) || !std::isfinite(w)) {
      throw value_error(make_message(where, ": weight ", w, " at ", describe_position(n, targets.batch),
                                     " is not a finite number >= 0"));
    }
    if (w == 0.0) continue;
    const TokenId id = targets.ids[n];
    if (id < 0 || id >= vocabulary_size) {
      throw value_error(make_message(where, ": target id ", id, " at ", describe_position(n, targets.batch),
                                     " is outside the vocabulary [0, ", vocabulary_size, ")"));
    }
    total_weight += w;
  }
  if (total_weight <= 0.0) {
    throw value_error(make_message(where, ": all ", positions, " weights are zero, nothing to average"));
  }
  return total_weight;
}

// The fused loss. weights may be null (all 1); d_logits may be null (loss only), otherwise
// it is resized to V x N when needed and receives dloss/dlogits. Validates everything before
// writing anything.
template <class S>
CrossEntropyResult softmax_cross_entropy(const char* where, ConstMatrixRef<S> logits,
                                         const TokenView& targets, const S* weights, Index weights_size,
                                         Matrix<S>* d_logits) {
  const Index vocabulary_size = logits.rows(), positions = logits.cols();
  const double total_weight =
      checked_total_weight(where, vocabulary_size, positions, targets, weights, weights_size);

  if (d_logits != nullptr) d_logits->resize(vocabulary_size, positions);  // no-op when the shape is unchanged
  CrossEntropyResult result;
  result.counted_weight = total_weight;
  double weighted_loss_sum = 0.0;
  for (Index n = 0; n < positions; ++n) {
    const double w = weights == nullptr ? 1.0 : static_cast<double>(weights[n]);
    S* gradient = d_logits == nullptr ? nullptr : d_logits->col(n).data();
    if (w == 0.0) {
      if (gradient != nullptr) d_logits->col(n).setZero();
      continue;
    }
    const S* z = logits.col(n).data();
    const Index target = targets.ids[n];
    const S max = logits.col(n).maxCoeff();
    const S target_logit = z[target];  // read before the gradient may overwrite z (in place)
    if (is_first_maximum(z, target, max)) ++result.correct;
    ++result.counted;

    // gradient <- exp(z - m); loss_n = (m - z_y) + log(sum).
    const S sum = sum_exp_shifted(z, vocabulary_size, max, gradient);
    const double loss_n =
        (static_cast<double>(max) - static_cast<double>(target_logit)) + std::log(static_cast<double>(sum));
    weighted_loss_sum += w * loss_n;

    // gradient <- (w / W) * (softmax - onehot).
    if (gradient != nullptr) {
      const S scale = static_cast<S>(w / total_weight);
      d_logits->col(n) *= scale / sum;
      gradient[target] -= scale;
    }
  }
  result.loss = weighted_loss_sum / total_weight;
  return result;
}

template <class S>
void check_same_shape(const char* where, ConstMatrixRef<S> logits, const MatrixRef<S>& out) {
  if (logits.rows() == 0 || logits.cols() == 0) {
    throw value_error(make_message(where, ": logits are empty (", logits.rows(), "x", logits.cols(), ")"));
  }
  check_shape(where, "output", out, logits.rows(), logits.cols());
}

}  // namespace detail

// ---- the loss --------------------------------------------------------------------------------

/// Fused sparse softmax cross-entropy (torch.nn.functional.cross_entropy, reduction 'mean').
/// ```text
///   logits   (V x N)  any Eigen float/double matrix expression
///   targets  N ids, time-major like the logits' columns: TokenView(ids, T, B)
///   d_logits (V x N)  receives dloss/dlogits = (softmax - onehot) / N; resized if needed
/// ```
/// Throws shape_error when targets do not have N ids, value_error for a target outside [0, V)
/// (naming the position).
template <class Derived>
CrossEntropyResult softmax_cross_entropy(const Eigen::MatrixBase<Derived>& logits, const TokenView& targets,
                                         Matrix<typename Derived::Scalar>& d_logits) {
  using S = typename Derived::Scalar;
  return detail::softmax_cross_entropy<S>("softmax_cross_entropy", logits.derived(), targets, nullptr, 0,
                                          &d_logits);
}

/// Weighted form: weights (N values >= 0; 0 ignores the position, e.g.\ padding). The loss is
/// sum_n w_n loss_n / sum_n w_n and d_logits[:, n] = w_n (softmax - onehot) / sum_k w_k.
/// All-zero, negative or non-finite weights throw value_error.
template <class Derived>
CrossEntropyResult softmax_cross_entropy(const Eigen::MatrixBase<Derived>& logits, const TokenView& targets,
                                         Eigen::Ref<const Vector<typename Derived::Scalar>> weights,
                                         Matrix<typename Derived::Scalar>& d_logits) {
  using S = typename Derived::Scalar;
  return detail::softmax_cross_entropy<S>("softmax_cross_entropy", logits.derived(), targets, weights.data(),
                                          weights.size(), &d_logits);
}

/// Loss and accuracy only, no gradient (evaluation). Same rules as softmax_cross_entropy.
template <class Derived>
CrossEntropyResult cross_entropy(const Eigen::MatrixBase<Derived>& logits, const TokenView& targets) {
  using S = typename Derived::Scalar;
  return detail::softmax_cross_entropy<S>("cross_entropy", logits.derived(), targets, nullptr, 0, nullptr);
}

template <class Derived>
CrossEntropyResult cross_entropy(const Eigen::MatrixBase<Derived>& logits, const TokenView& targets,
                                 Eigen::Ref<const Vector<typename Derived::Scalar>> weights) {
  using S = typename Derived::Scalar;
  return detail::softmax_cross_entropy<S>("cross_entropy", logits.derived(), targets, weights.data(),
                                          weights.size(), nullptr);
}

/// The same loss as an object that owns its gradient buffer, so a training loop reuses it:
/// ```cpp
///   SoftmaxCrossEntropy<float> loss;
///   auto result = loss.forward(dense.forward(h), TokenView(targets, T, B));
///   dense.backward(loss.logits_gradient());
/// ```
template <class Scalar>
class SoftmaxCrossEntropy {
 public:
  CrossEntropyResult forward(ConstMatrixRef<Scalar> logits, const TokenView& targets) {
    return detail::softmax_cross_entropy<Scalar>("SoftmaxCrossEntropy", logits, targets, nullptr, 0,
                                                 &d_logits_);
  }

  CrossEntropyResult forward(ConstMatrixRef<Scalar> logits, const TokenView& targets,
                             Eigen::Ref<const Vector<Scalar>> weights) {
    return detail::softmax_cross_entropy<Scalar>("SoftmaxCrossEntropy", logits, targets, weights.data(),
                                                 weights.size(), &d_logits_);
  }

  /// dloss/dlogits (V x N) of the last forward().
  const Matrix<Scalar>& logits_gradient() const { return d_logits_; }

 private:
  Matrix<Scalar> d_logits_;
};

// ---- softmax for inference and sampling ----------------------------------------------------------

/// probs[:, n] = softmax(logits[:, n]) for every column. probs must have the logits' shape
/// (shape_error); it may be the logits matrix itself (in place).
template <class Derived>
void softmax(const Eigen::MatrixBase<Derived>& logits_in, MatrixRef<typename Derived::Scalar> probs) {
  using S = typename Derived::Scalar;
  const ConstMatrixRef<S> logits = logits_in.derived();
  detail::check_same_shape<S>("softmax", logits, probs);
  for (Index n = 0; n < logits.cols(); ++n) {
    const S max = logits.col(n).maxCoeff();
    const S sum = detail::sum_exp_shifted(logits.col(n).data(), logits.rows(), max, probs.col(n).data());
    probs.col(n) *= S(1) / sum;
  }
}

/// log_probs[:, n] = log softmax(logits[:, n]) = z - (m + log sum exp(z - m)), without ever
/// taking the log of a probability that underflowed. Same shape rules as softmax().
template <class Derived>
void log_softmax(const Eigen::MatrixBase<Derived>& logits_in, MatrixRef<typename Derived::Scalar> log_probs) {
  using S = typename Derived::Scalar;
  const ConstMatrixRef<S> logits = logits_in.derived();
  detail::check_same_shape<S>("log_softmax", logits, log_probs);
  for (Index n = 0; n < logits.cols(); ++n) {
    const S max = logits.col(n).maxCoeff();
    const S sum = detail::sum_exp_shifted<S>(logits.col(n).data(), logits.rows(), max, nullptr);
    const S log_sum_exp = static_cast<S>(static_cast<double>(max) + std::log(static_cast<double>(sum)));
    log_probs.col(n).array() = logits.col(n).array() - log_sum_exp;
  }
}

/// Sampling distribution at a temperature: probs = softmax(logits / T), computed as
/// ```text
///   probs_v = exp((z_v - m) / T) / sum_u exp((z_u - m) / T),
/// ```
/// which equals exp(log p_v / T) normalised. T = 1 is exactly softmax(); T -> 0 approaches the
/// argmax (ties share), large T approaches uniform. logits is one column of V values, probs has V
/// entries (shape_error). Throws value_error for T that is not a finite number > 0 and for a
/// non-finite largest logit. probs may be the logits column itself.
template <class Derived>
void temperature_probabilities(const Eigen::MatrixBase<Derived>& logits_in, double temperature,
                               Eigen::Ref<Vector<typename Derived::Scalar>> probs) {
  using S = typename Derived::Scalar;
  const ConstMatrixRef<S> logits = logits_in.derived();
  if (!(temperature > 0.0) || !std::isfinite(temperature)) {
    throw value_error(detail::make_message(
        "temperature_probabilities: temperature must be a finite number > 0, got ", temperature));
  }
  if (logits.cols() != 1 || logits.rows() == 0) {
    throw shape_error(detail::make_message("temperature_probabilities: logits has shape ", logits.rows(), "x",
                                           logits.cols(), ", expected one non-empty column"));
  }
  const Index vocabulary_size = logits.rows();
  detail::check_shape("temperature_probabilities", "probs", probs, vocabulary_size, 1);
  const S max = logits.col(0).maxCoeff();
  if (!std::isfinite(max)) {
    throw value_error(detail::make_message("temperature_probabilities: largest logit is ", max,
                                           ", expected a finite number"));
  }
  // T as a Scalar that is neither 0 nor inf even when the double is outside S's range, so that
  // (z - m) / T is 0 for the maximum and <= 0 (possibly -inf, whose exp is 0) elsewhere: never NaN.
  const S t =
      std::clamp(static_cast<S>(temperature), std::numeric_limits<S>::min(), std::numeric_limits<S>::max());
  const S* z = logits.data();
  S* out = probs.data();
  simd::Batch<S> batch_sum(S(0));
  S tail_sum = 0;
  simd::vectorized_loop<S>(vocabulary_size, [&](Index k, auto lane) {
    using V = decltype(lane);
    const V x = (simd::load<V>(z + k) - V(max)) / V(t);
    if constexpr (std::is_same_v<V, S>) {
      const S e = std::exp(x);
      tail_sum += e;
      *(out + k) = e;
    } else {
      const V e = simd::exp(x);
      batch_sum += e;
      simd::store(out + k, e);
    }
  });
  probs *= S(1) / (simd::reduce_add(batch_sum) + tail_sum);
}

}  // namespace seqlm
