/// \file
/// Nadam: Adam with Nesterov momentum and Dozat's momentum schedule, as in Keras.
///
/// Per step t (scalars, in double):
/// ```text
///   u_t       = beta_1 * (1 - 0.5 * 0.96^(d * t))          momentum schedule
///   u_{t+1}   = beta_1 * (1 - 0.5 * 0.96^(d * (t + 1)))
///   P_t       = P_{t-1} * u_t,  P_0 = 1                    scalar state "u_product"
///   P_{t+1}   = P_t * u_{t+1}
/// ```
/// where d = 1 for the Keras 3 schedule and d = 0.004 for the legacy one (TF2 Keras
/// optimizer_v2 and PyTorch's NAdam with momentum_decay = 0.004). Per element:
/// ```text
///   m <- beta_1 * m + (1 - beta_1) * g                    (slot "momentum")
///   v <- beta_2 * v + (1 - beta_2) * g^2                  (slot "velocity")
///   m_hat = u_{t+1} * m / (1 - P_{t+1}) + (1 - u_t) * g / (1 - P_t)
///   v_hat = v / (1 - beta_2^t)
///   w <- w - lr * m_hat / (sqrt(v_hat) + epsilon)
/// ```
///
/// Keras defaults: learning_rate 0.001, beta_1 0.9, beta_2 0.999, epsilon 1e-7. The legacy
/// schedule equals PyTorch's NAdam (eps placement agrees here).
#pragma once

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "optimizer.hpp"

namespace seqlm {

enum class NadamSchedule {
  keras3,  ///< 0.96^t: Keras 3
  legacy,  ///< 0.96^(0.004 t): TF2 Keras optimizer_v2, PyTorch NAdam
};

struct NadamOptions {
  double learning_rate = 0.001;  ///< >= 0
  double beta_1 = 0.9;           ///< in [0, 1)
  double beta_2 = 0.999;         ///< in [0, 1)
  double epsilon = 1e-7;         ///< >= 0
  NadamSchedule schedule = NadamSchedule::keras3;
  ClipOptions clip;
};

template <class Scalar>
class Nadam final : public Optimizer<Scalar> {
 public:
  explicit Nadam(const NadamOptions& options = {})
      : Optimizer<Scalar>("Nadam", options.learning_rate, options.clip),
        beta_1_(options.beta_1),
        beta_2_(options.beta_2),
        epsilon_(options.epsilon),
        schedule_(options.schedule) {
    this->check_in_unit_interval("beta_1", beta_1_);
    this->check_in_unit_interval("beta_2", beta_2_);
    this->check_epsilon(epsilon_);
  }

  double beta_1() const { return beta_1_; }
  double beta_2() const { return beta_2_; }
  double epsilon() const { return epsilon_; }
  NadamSchedule schedule() const { return schedule_; }
  /// P_t = u_1 * ... * u_t after t steps (1 before the first).
  double u_product() const { return u_product_; }

 protected:
  std::vector<std::string> slot_names() const override { return {"momentum", "velocity"}; }

  void add_rule_hyperparameters(std::map<std::string, double>& values) const override {
    values["beta_1"] = beta_1_;
    values["beta_2"] = beta_2_;
    values["epsilon"] = epsilon_;
    values["legacy_schedule"] = schedule_ == NadamSchedule::legacy ? 1.0 : 0.0;
  }

  std::map<std::string, double> scalar_state() const override { return {{"u_product", u_product_}}; }
  void set_scalar_state(const std::map<std::string, double>& scalars) override {
    u_product_ = scalars.at("u_product");
  }

  void begin_step(std::int64_t t) override {
    const double step = static_cast<double>(t);
    const double decay_rate = schedule_ == NadamSchedule::legacy ? 0.004 : 1.0;
    const double u_t = beta_1_ * (1 - 0.5 * std::pow(0.96, decay_rate * step));
    const double u_next = beta_1_ * (1 - 0.5 * std::pow(0.96, decay_rate * (step + 1)));
    u_product_ *= u_t;  // P_t
    const double u_product_next = u_product_ * u_next;
    momentum_coefficient_ = u_next / (1 - u_product_next);
    gradient_coefficient_ = (1 - u_t) / (1 - u_product_);
    velocity_denominator_ = 1 - std::pow(beta_2_, step);
  }

  void update(Matrix<Scalar>& value, const Matrix<Scalar>& gradient,
              std::vector<Matrix<Scalar>>& slots) override {
    const Scalar lr = static_cast<Scalar>(this->learning_rate());
    const Scalar beta_1 = static_cast<Scalar>(beta_1_), one_minus_beta_1 = static_cast<Scalar>(1 - beta_1_);
    const Scalar beta_2 = static_cast<Scalar>(beta_2_), one_minus_beta_2 = static_cast<Scalar>(1 - beta_2_);
    const Scalar epsilon = static_cast<Scalar>(epsilon_);
    const Scalar momentum_coefficient = static_cast<Scalar>(momentum_coefficient_);
    const Scalar gradient_coefficient = static_cast<Scalar>(gradient_coefficient_);
    const Scalar velocity_denominator = static_cast<Scalar>(velocity_denominator_);
    auto w = value.array();
    const auto g = gradient.array();
    auto m = slots[0].array();
    auto v = slots[1].array();
    m = beta_1 * m + one_minus_beta_1 * g;
    v = beta_2 * v + one_minus_beta_2 * g.square();
    const auto m_hat = momentum_coefficient * m + gradient_coefficient * g;
    const auto v_hat = v / velocity_denominator;
    w -= lr * m_hat / (v_hat.sqrt() + epsilon);
  }

 private:
  double beta_1_;
  double beta_2_;
  double epsilon_;
  NadamSchedule schedule_;
  double u_product_ = 1;  // P_t, the product of the schedule's u_1 ... u_t
  // Per-step coefficients: m_hat = momentum_coefficient * m + gradient_coefficient * g,
  // v_hat = v / velocity_denominator.
  double momentum_coefficient_ = 0;
  double gradient_coefficient_ = 0;
  double velocity_denominator_ = 1;
};

}  // namespace seqlm
