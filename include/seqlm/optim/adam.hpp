/// \file
/// Adam (and AMSGrad), Keras's "epsilon hat" formulation: the bias corrections are folded
/// into the step size and epsilon is added to sqrt(v) unscaled.
///
/// ```text
///   lr_t = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)                 (per step, in double)
///   m <- beta_1 * m + (1 - beta_1) * g                              (slot "momentum")
///   v <- beta_2 * v + (1 - beta_2) * g^2                            (slot "velocity")
///   amsgrad:  v_max <- max(v_max, v), used instead of v             (slot "velocity_hat")
///   w <- w - lr_t * m / (sqrt(v) + epsilon)
/// ```
///
/// Keras defaults: learning_rate 0.001, beta_1 0.9, beta_2 0.999, epsilon 1e-7, amsgrad false.
/// PyTorch's Adam divides by sqrt(v / (1 - beta_2^t)) + eps instead, i.e. its eps is
/// Keras's epsilon * sqrt(1 - beta_2^t): the two agree only with epsilon = 0.
#pragma once

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "../math/simd.hpp"
#include "optimizer.hpp"

namespace seqlm {

struct AdamOptions {
  double learning_rate = 0.001;  ///< >= 0
  double beta_1 = 0.9;           ///< in [0, 1)
  double beta_2 = 0.999;         ///< in [0, 1)
  double epsilon = 1e-7;         ///< >= 0
  bool amsgrad = false;
  ClipOptions clip;
};

template <class Scalar>
class Adam final : public Optimizer<Scalar> {
 public:
  explicit Adam(const AdamOptions& options = {})
      : Optimizer<Scalar>("Adam", options.learning_rate, options.clip),
        beta_1_(options.beta_1),
        beta_2_(options.beta_2),
        epsilon_(options.epsilon),
        amsgrad_(options.amsgrad) {
    this->check_in_unit_interval("beta_1", beta_1_);
    this->check_in_unit_interval("beta_2", beta_2_);
    this->check_epsilon(epsilon_);
  }

  double beta_1() const { return beta_1_; }
  double beta_2() const { return beta_2_; }
  double epsilon() const { return epsilon_; }
  bool amsgrad() const { return amsgrad_; }

 protected:
  std::vector<std::string> slot_names() const override {
    if (amsgrad_) return {"momentum", "velocity", "velocity_hat"};
    return {"momentum", "velocity"};
  }

  void add_rule_hyperparameters(std::map<std::string, double>& values) const override {
    values["beta_1"] = beta_1_;
    values["beta_2"] = beta_2_;
    values["epsilon"] = epsilon_;
    values["amsgrad"] = amsgrad_ ? 1.0 : 0.0;
  }

  void begin_step(std::int64_t t) override {
    const double step = static_cast<double>(t);
    step_size_ =
        this->learning_rate() * std::sqrt(1 - std::pow(beta_2_, step)) / (1 - std::pow(beta_1_, step));
  }

  void update(Matrix<Scalar>& value, const Matrix<Scalar>& gradient,
              std::vector<Matrix<Scalar>>& slots) override {
    const Scalar lr_t = static_cast<Scalar>(step_size_);
    const Scalar beta_1 = static_cast<Scalar>(beta_1_), one_minus_beta_1 = static_cast<Scalar>(1 - beta_1_);
    const Scalar beta_2 = static_cast<Scalar>(beta_2_), one_minus_beta_2 = static_cast<Scalar>(1 - beta_2_);
    const Scalar epsilon = static_cast<Scalar>(epsilon_);
    // One pass over the four arrays (the step is memory-bound for large layers): per element
    //   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;  [v_hat = max(v_hat, v)];
    //   w -= lr_t m / (sqrt(v or v_hat) + eps)
    Scalar* w = value.data();
    const Scalar* g = gradient.data();
    Scalar* m = slots[0].data();
    Scalar* v = slots[1].data();
    Scalar* v_hat = amsgrad_ ? slots[2].data() : nullptr;
    simd::vectorized_loop<Scalar>(value.size(), [&](Index k, auto lane) {
      using V = decltype(lane);
      const V g_k = simd::load<V>(g + k);
      const V m_k = V(beta_1) * simd::load<V>(m + k) + V(one_minus_beta_1) * g_k;
      const V v_k = V(beta_2) * simd::load<V>(v + k) + V(one_minus_beta_2) * (g_k * g_k);
      simd::store(m + k, m_k);
      simd::store(v + k, v_k);
      V denominator = v_k;
      if (v_hat != nullptr) {
        denominator = simd::max(simd::load<V>(v_hat + k), v_k);
        simd::store(v_hat + k, denominator);
      }
      simd::store(w + k, simd::load<V>(w + k) - V(lr_t) * m_k / (simd::sqrt(denominator) + V(epsilon)));
    });
  }

 private:
  double beta_1_;
  double beta_2_;
  double epsilon_;
  bool amsgrad_;
  double step_size_ = 0;  // lr_t of the current step
};

}  // namespace seqlm
