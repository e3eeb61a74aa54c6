/// \file
/// Learning-rate schedules, applied by fit() once per epoch (Keras semantics) and, for the
/// schedules that change the rate during an epoch, before every batch.
///
/// ```text
///   fit():  before the first batch of epoch e:  lr <- schedule.on_epoch_begin(e, lr)
///           before every batch (optimizer step s, counted over the whole run from 0):
///                                               lr <- schedule.on_batch_begin(s, lr)
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
///   WarmupCosineDecay(options)                   per step: a linear warm-up to the peak rate,
///                                                then a half cosine down to min_rate
/// ```
///
/// A schedule with state (ReduceLROnPlateau) exports it with state() and takes it back with
/// restore_state(), so that a resumed run continues exactly (TrainingState::schedule_state);
/// reset() (called by fit() at the start of a fresh run) forgets it.
#pragma once

#include <algorithm>
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
  /// The rate for optimizer step `step` (0-based over the whole run: TrainingState::global_step),
  /// given the current one. Default: unchanged.
  virtual double on_batch_begin(Index step, double current) {
    (void)step;
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

struct WarmupCosineOptions {
  double peak_rate = 2e-3;   ///< the rate at the end of the warm-up
  double min_rate = 2e-5;    ///< the rate at the end of the decay (and after it), <= peak_rate
  Index warmup_steps = 100;  ///< steps of linear warm-up (>= 0)
  Index total_steps = 0;     ///< steps of the whole run (> warmup_steps), used by the default progress
  /// How far the run is, in [0, 1], at optimizer step s: the decay's clock. Empty: the steps,
  /// (s - warmup_steps) / (total_steps - warmup_steps). A time budget plugs in here: e.g.
  /// elapsed seconds / budget seconds, for a run that trains for a fixed wall time (then the
  /// rates depend on the machine's speed, and a resumed run does not repeat them exactly).
  std::function<double(Index step)> progress;
};

/// A linear warm-up followed by a cosine decay (Loshchilov & Hutter's SGDR without restarts,
/// the usual schedule of transformer and char-rnn training), step by step:
/// ```text
///   s < warmup_steps:  lr_s = peak (s + 1) / warmup_steps
///   otherwise:         p = clamp(progress(s), 0, 1)
///                      lr_s = min_rate + (peak - min_rate) (1 + cos(pi p)) / 2
/// ```
/// Stateless (a function of the step): a resumed run continues exactly with step-based progress.
class WarmupCosineDecay final : public LearningRateSchedule {
 public:
  explicit WarmupCosineDecay(const WarmupCosineOptions& options) : options_(options) {
    detail::check_rate("WarmupCosineDecay", "peak_rate", options.peak_rate);
    detail::check_rate("WarmupCosineDecay", "min_rate", options.min_rate);
    if (options.min_rate > options.peak_rate) {
      throw value_error(detail::make_message("WarmupCosineDecay: min_rate (", options.min_rate,
                                             ") must not exceed peak_rate (", options.peak_rate, ")"));
    }
    if (options.warmup_steps < 0) {
      throw value_error(
          detail::make_message("WarmupCosineDecay: warmup_steps must be >= 0, got ", options.warmup_steps));
    }
    if (!options_.progress && options.total_steps <= options.warmup_steps) {
      throw value_error(detail::make_message("WarmupCosineDecay: total_steps (", options.total_steps,
                                             ") must exceed warmup_steps (", options.warmup_steps,
                                             ") unless a progress function is given"));
    }
  }

  double rate_at(Index step) const {
    if (step < options_.warmup_steps) {
      return options_.peak_rate * static_cast<double>(step + 1) / static_cast<double>(options_.warmup_steps);
    }
    double p = options_.progress ? options_.progress(step)
                                 : static_cast<double>(step - options_.warmup_steps) /
                                       static_cast<double>(options_.total_steps - options_.warmup_steps);
    p = std::isfinite(p) ? std::min(std::max(p, 0.0), 1.0) : 1.0;
    const double pi = 3.14159265358979323846;
    return options_.min_rate + (options_.peak_rate - options_.min_rate) * 0.5 * (1.0 + std::cos(pi * p));
  }

  double on_batch_begin(Index step, double) override { return rate_at(step); }

 private:
  WarmupCosineOptions options_;
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
