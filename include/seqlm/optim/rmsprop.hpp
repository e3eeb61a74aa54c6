/// \file
/// RMSprop, Keras's formulation (epsilon inside the square root).
///
/// ```text
///   v <- rho * v + (1 - rho) * g^2                              (slot "velocity")
///   centered:   a <- rho * a + (1 - rho) * g                    (slot "average_gradient")
///               denominator = v - a^2 + epsilon
///   otherwise:  denominator = v + epsilon
///   increment = lr * g / sqrt(denominator)
///   momentum > 0:  m <- momentum * m + increment;  w <- w - m   (slot "momentum")
///   otherwise:     w <- w - increment
/// ```
///
/// Keras defaults: learning_rate 0.001, rho 0.9, momentum 0, epsilon 1e-7, centered false.
/// PyTorch's RMSprop adds epsilon OUTSIDE the square root (and defaults to rho 0.99,
/// eps 1e-8), so the two agree only with epsilon = 0.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "../math/simd.hpp"
#include "optimizer.hpp"

namespace seqlm {

struct RmspropOptions {
  double learning_rate = 0.001;  ///< >= 0
  double rho = 0.9;              ///< in [0, 1)
  double momentum = 0.0;         ///< in [0, 1)
  double epsilon = 1e-7;         ///< >= 0
  bool centered = false;
  ClipOptions clip;
};

template <class Scalar>
class RMSprop final : public Optimizer<Scalar> {
 public:
  explicit RMSprop(const RmspropOptions& options = {})
      : Optimizer<Scalar>("RMSprop", options.learning_rate, options.clip),
        rho_(options.rho),
        momentum_(options.momentum),
        epsilon_(options.epsilon),
        centered_(options.centered) {
    this->check_in_unit_interval("rho", rho_);
    this->check_in_unit_interval("momentum", momentum_);
    this->check_epsilon(epsilon_);
  }

  double rho() const { return rho_; }
  double momentum() const { return momentum_; }
  double epsilon() const { return epsilon_; }
  bool centered() const { return centered_; }

 protected:
  /// Slot order: velocity, then momentum (if momentum > 0), then average_gradient (if centered).
  std::vector<std::string> slot_names() const override {
    std::vector<std::string> names{"velocity"};
    if (momentum_ > 0) names.push_back("momentum");
    if (centered_) names.push_back("average_gradient");
    return names;
  }

  void add_rule_hyperparameters(std::map<std::string, double>& values) const override {
    values["rho"] = rho_;
    values["momentum"] = momentum_;
    values["epsilon"] = epsilon_;
    values["centered"] = centered_ ? 1.0 : 0.0;
  }

  void begin_step(std::int64_t) override {}

  void update(Matrix<Scalar>& value, const Matrix<Scalar>& gradient,
              std::vector<Matrix<Scalar>>& slots) override {
    const Scalar lr = static_cast<Scalar>(this->learning_rate());
    const Scalar rho = static_cast<Scalar>(rho_);
    const Scalar one_minus_rho = static_cast<Scalar>(1 - rho_);
    const Scalar epsilon = static_cast<Scalar>(epsilon_);
    if (!centered_ && momentum_ == 0) {
      // The usual case, in one pass: v = rho v + (1 - rho) g^2;  w -= lr g / sqrt(v + eps)
      Scalar* w = value.data();
      const Scalar* g = gradient.data();
      Scalar* v = slots[0].data();
      simd::vectorized_loop<Scalar>(value.size(), [&](Index k, auto lane) {
        using V = decltype(lane);
        const V g_k = simd::load<V>(g + k);
        const V v_k = V(rho) * simd::load<V>(v + k) + V(one_minus_rho) * (g_k * g_k);
        simd::store(v + k, v_k);
        simd::store(w + k, simd::load<V>(w + k) - V(lr) * g_k / simd::sqrt(v_k + V(epsilon)));
      });
      return;
    }
    auto w = value.array();
    const auto g = gradient.array();
    auto v = slots[0].array();
    v = rho * v + one_minus_rho * g.square();
    if (centered_) {
      auto a = slots[momentum_ > 0 ? 2 : 1].array();
      a = rho * a + one_minus_rho * g;
      apply_increment(w, slots, lr * g / (v - a.square() + epsilon).sqrt());
    } else {
      apply_increment(w, slots, lr * g / (v + epsilon).sqrt());
    }
  }

 private:
  // w <- w - increment, through the momentum slot when momentum > 0.
  template <class W, class Increment>
  void apply_increment(W& w, std::vector<Matrix<Scalar>>& slots, const Increment& increment) const {
    if (momentum_ > 0) {
      auto m = slots[1].array();
      m = static_cast<Scalar>(momentum_) * m + increment;
      w -= m;
    } else {
      w -= increment;
    }
  }

  double rho_;
  double momentum_;
  double epsilon_;
  bool centered_;
};

}  // namespace seqlm
