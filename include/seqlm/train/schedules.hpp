/// \file
/// Learning-rate schedules, applied by fit() once per epoch (Keras semantics).
///
/// ```text
///   fit():  before the first batch of epoch e:  lr <- schedule.on_epoch_begin(e, lr)
///           after epoch e's metrics are known:  lr <- schedule.on_epoch_end(e, logs, lr)
/// ```
///
/// and the new rate goes to Optimizer::set_learning_rate. Epochs are 0-based, like Keras's
/// LearningRateScheduler. The schedules:
///
/// ```text
///   ConstantSchedule(lr)                         lr_e = lr
///   StepDecay(lr0, factor, step_epochs)          lr_e = lr0 * factor^floor(e / step_epochs)
///   ExponentialDecay(lr0, rate, decay_epochs)    lr_e = lr0 * rate^(e / decay_epochs)
///                                                (staircase: floor(e / decay_epochs))
///   ReduceLROnPlateau(options)                   lr <- max(lr * factor, min_lr) after `patience`
///                                                epochs without improvement of the monitor,
///                                                then `cooldown` epochs of rest
///   LambdaSchedule(f)                            lr_e = f(e, lr_{e-1})
/// ```
///
/// A schedule with state (ReduceLROnPlateau) exports it with state() and takes it back with
/// restore_state(), so that a resumed run continues exactly (TrainingState::schedule_state);
/// reset() (called by fit() at the start of a fresh run) forgets it.
#pragma once

#include <cmath>
#include <functional>
#include <map>
#include <string>

#include "../error.hpp"
#include "../tensor.hpp"
#include "metrics.hpp"
#include "monitor.hpp"

namespace seqlm {

class LearningRateSchedule {
 public:
  virtual ~LearningRateSchedule() = default;

  /// The rate for epoch `epoch`, given the current one. Default: unchanged.
  virtual double on_epoch_begin(Index epoch, double current) {
    (void)epoch;
    return current;
  }
  /// The rate after epoch `epoch` with metrics `logs`. Default: unchanged.
  virtual double on_epoch_end(Index epoch, const Logs& logs, double current) {
    (void)epoch;
    (void)logs;
    return current;
  }

  /// Forgets what earlier runs taught a stateful schedule; fit() calls it when a fresh run
  /// starts (not when it resumes from a TrainingState), as Keras's callbacks do on_train_begin.
  virtual void reset() {}

  /// Mutable state for checkpoints (empty for the stateless schedules).
  virtual std::map<std::string, double> state() const { return {}; }
  /// Restores state(); value_error when a key is missing or unknown.
  virtual void restore_state(const std::map<std::string, double>& state) {
    if (!state.empty()) throw value_error("LearningRateSchedule: this schedule has no state to restore");
  }
};

namespace detail {

inline void check_rate(const char* where, const char* what, double value) {
  if (!(value >= 0.0) || !std::isfinite(value)) {
    throw value_error(make_message(where, ": ", what, " must be >= 0 and finite, got ", value));
  }
}

}  // namespace detail

/// lr_e = learning_rate for every epoch.
class ConstantSchedule final : public LearningRateSchedule {
 public:
  explicit ConstantSchedule(double learning_rate) : learning_rate_(learning_rate) {
    detail::check_rate("ConstantSchedule", "learning_rate", learning_rate);
  }
  double on_epoch_begin(Index, double) override { return learning_rate_; }

 private:
  double learning_rate_;
};

/// lr_e = initial * factor^floor(e / step_epochs): e.g. halve every 10 epochs.
class StepDecay final : public LearningRateSchedule {
 public:
  StepDecay(double initial, double factor, Index step_epochs)
      : initial_(initial), factor_(factor), step_epochs_(step_epochs) {
    detail::check_rate("StepDecay", "initial learning rate", initial);
    detail::check_rate("StepDecay", "factor", factor);
    detail::check_positive("StepDecay", "step_epochs", step_epochs);
  }
  double on_epoch_begin(Index epoch, double) override {
    return initial_ * std::pow(factor_, static_cast<double>(epoch / step_epochs_));
  }

 private:
  double initial_, factor_;
  Index step_epochs_;
};

/// lr_e = initial * rate^(e / decay_epochs), or rate^floor(e / decay_epochs) with staircase.
class ExponentialDecay final : public LearningRateSchedule {
 public:
  ExponentialDecay(double initial, double decay_rate, double decay_epochs = 1.0, bool staircase = false)
      : initial_(initial), decay_rate_(decay_rate), decay_epochs_(decay_epochs), staircase_(staircase) {
    detail::check_rate("ExponentialDecay", "initial learning rate", initial);
    detail::check_rate("ExponentialDecay", "decay_rate", decay_rate);
    if (!(decay_epochs > 0.0) || !std::isfinite(decay_epochs)) {
      throw value_error(
          detail::make_message("ExponentialDecay: decay_epochs must be positive, got ", decay_epochs));
    }
  }
  double on_epoch_begin(Index epoch, double) override {
    double exponent = static_cast<double>(epoch) / decay_epochs_;
    if (staircase_) exponent = std::floor(exponent);
    return initial_ * std::pow(decay_rate_, exponent);
  }

 private:
  double initial_, decay_rate_, decay_epochs_;
  bool staircase_;
};

/// lr_e = f(e, current): anything else (Keras's LearningRateScheduler with a function).
class LambdaSchedule final : public LearningRateSchedule {
 public:
  explicit LambdaSchedule(std::function<double(Index epoch, double current)> function)
      : function_(std::move(function)) {
    if (!function_) throw value_error("LambdaSchedule: empty function");
  }
  double on_epoch_begin(Index epoch, double current) override {
    const double rate = function_(epoch, current);
    detail::check_rate("LambdaSchedule", "the returned learning rate", rate);
    return rate;
  }

 private:
  std::function<double(Index, double)> function_;
};

struct PlateauOptions {
  std::string monitor = "val_loss";
  MonitorMode mode = MonitorMode::automatic;
  double factor = 0.1;      ///< in [0, 1): new_lr = lr * factor
  Index patience = 10;      ///< epochs without improvement before reducing (>= 0)
  double min_delta = 1e-4;  ///< smallest change that counts as an improvement
  Index cooldown = 0;       ///< epochs after a reduction during which no improvement is awaited
  double min_lr = 0.0;      ///< the rate never goes below this
};

/// Keras's ReduceLROnPlateau, epoch by epoch:
/// ```text
///   if in cooldown: cooldown_counter -= 1, wait = 0
///   if improves(current, best): best = current, wait = 0
///   else if not in cooldown: wait += 1; if wait >= patience and lr > min_lr:
///       lr = max(lr * factor, min_lr), cooldown_counter = cooldown, wait = 0
/// ```
class ReduceLROnPlateau final : public LearningRateSchedule {
 public:
  explicit ReduceLROnPlateau(const PlateauOptions& options = {})
      : options_(options), monitor_(options.monitor, options.mode, options.min_delta) {
    if (!(options.factor >= 0.0 && options.factor < 1.0)) {
      throw value_error(
          detail::make_message("ReduceLROnPlateau: factor must be in [0, 1), got ", options.factor));
    }
    if (options.patience < 0 || options.cooldown < 0) {
      throw value_error(detail::make_message("ReduceLROnPlateau: patience (", options.patience,
                                             ") and cooldown (", options.cooldown, ") must be >= 0"));
    }
    detail::check_rate("ReduceLROnPlateau", "min_lr", options.min_lr);
    best_ = monitor_.initial_best();
  }

  double on_epoch_end(Index, const Logs& logs, double current_lr) override {
    const double current = monitor_.value("ReduceLROnPlateau", logs);
    const bool in_cooldown = cooldown_counter_ > 0;
    if (in_cooldown) {
      --cooldown_counter_;
      wait_ = 0;
    }
    if (monitor_.improves(current, best_)) {
      best_ = current;
      wait_ = 0;
    } else if (!in_cooldown) {
      ++wait_;
      if (wait_ >= options_.patience && current_lr > options_.min_lr) {
        current_lr = std::max(current_lr * options_.factor, options_.min_lr);
        cooldown_counter_ = options_.cooldown;
        wait_ = 0;
      }
    }
    return current_lr;
  }

  void reset() override {
    best_ = monitor_.initial_best();
    wait_ = 0;
    cooldown_counter_ = 0;
  }

  std::map<std::string, double> state() const override {
    return {{"best", best_},
            {"wait", static_cast<double>(wait_)},
            {"cooldown_counter", static_cast<double>(cooldown_counter_)}};
  }
  void restore_state(const std::map<std::string, double>& state) override {
    for (const char* key : {"best", "wait", "cooldown_counter"}) {
      if (state.count(key) == 0) {
        throw value_error(std::string("ReduceLROnPlateau: restore_state: '") + key + "' missing");
      }
    }
    if (state.size() != 3) throw value_error("ReduceLROnPlateau: restore_state: unknown keys in the state");
    best_ = state.at("best");
    wait_ = static_cast<Index>(state.at("wait"));
    cooldown_counter_ = static_cast<Index>(state.at("cooldown_counter"));
  }

  double best() const { return best_; }
  Index wait() const { return wait_; }

 private:
  PlateauOptions options_;
  Monitor monitor_;
  double best_;
  Index wait_ = 0;
  Index cooldown_counter_ = 0;
};

}  // namespace seqlm
