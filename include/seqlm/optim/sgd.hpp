/// \file
/// Stochastic gradient descent with optional (Nesterov) momentum, Keras's SGD.
///
/// ```text
///   momentum = 0:   w <- w - lr * g
///   momentum > 0:   v <- momentum * v - lr * g                      (slot "momentum", starts at 0)
///                   w <- w + v                                      (classical)
///                   w <- w + momentum * v - lr * g                  (nesterov)
/// ```
///
/// Keras defaults: learning_rate 0.01, momentum 0, nesterov false. With a constant learning
/// rate this equals PyTorch's SGD (whose buffer holds -v / lr).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "optimizer.hpp"

namespace seqlm {

struct SgdOptions {
  double learning_rate = 0.01;  ///< >= 0
  double momentum = 0.0;        ///< in [0, 1]
  bool nesterov = false;
  ClipOptions clip;
};

template <class Scalar>
class SGD final : public Optimizer<Scalar> {
 public:
  explicit SGD(const SgdOptions& options = {})
      : Optimizer<Scalar>("SGD", options.learning_rate, options.clip),
        momentum_(options.momentum),
        nesterov_(options.nesterov) {
    this->check_in_unit_interval("momentum", momentum_, /*one_allowed=*/true);
  }

  double momentum() const { return momentum_; }
  bool nesterov() const { return nesterov_; }

 protected:
  std::vector<std::string> slot_names() const override {
    if (momentum_ == 0) return {};
    return {"momentum"};
  }

  void add_rule_hyperparameters(std::map<std::string, double>& values) const override {
    values["momentum"] = momentum_;
    values["nesterov"] = nesterov_ ? 1.0 : 0.0;
  }

  void begin_step(std::int64_t) override {}

  void update(Matrix<Scalar>& value, const Matrix<Scalar>& gradient,
              std::vector<Matrix<Scalar>>& slots) override {
    const Scalar lr = static_cast<Scalar>(this->learning_rate());
    auto w = value.array();
    const auto g = gradient.array();
    if (momentum_ == 0) {
      w -= lr * g;
      return;
    }
    const Scalar momentum = static_cast<Scalar>(momentum_);
    auto v = slots[0].array();
    v = momentum * v - lr * g;
    if (nesterov_) {
      w += momentum * v - lr * g;
    } else {
      w += v;
    }
  }

 private:
  double momentum_;
  bool nesterov_;
};

}  // namespace seqlm
