/// \file
/// Creating an optimizer from its name and hyperparameters at run time, e.g.\ when loading a
/// model file or resuming from a checkpoint:
///
/// ```cpp
///   auto adam = make_optimizer<float>("Adam", {{"learning_rate", 0.01}, {"amsgrad", 1}});
///   auto resumed = restore_optimizer<float>(saved_state);   // make_optimizer + import_state
/// ```
///
/// Names are Keras's class names, matched case-insensitively: "SGD", "RMSprop", "Adam",
/// "Nadam". Keys are those of Optimizer::hyperparameters() (docs/optimizers.md); a missing
/// key takes Keras's default, booleans are 0 or 1, the clipping keys are "clip_value",
/// "clip_norm" and "global_clip_norm".
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "../io/ascii.hpp"
#include "adam.hpp"
#include "nadam.hpp"
#include "optimizer.hpp"
#include "rmsprop.hpp"
#include "sgd.hpp"

namespace seqlm {

namespace detail {

// Reads hyperparameters from a name -> number map, remembering which keys were used so
// that a misspelt key is reported instead of silently ignored.
class HyperparameterReader {
 public:
  HyperparameterReader(const std::string& optimizer, const std::map<std::string, double>& values)
      : optimizer_(optimizer), values_(values) {}

  double number(const std::string& key, double default_value) {
    used_.insert(key);
    const auto it = values_.find(key);
    return it == values_.end() ? default_value : it->second;
  }

  bool boolean(const std::string& key, bool default_value) {
    const double value = number(key, default_value ? 1.0 : 0.0);
    if (value != 0 && value != 1) {
      throw value_error(make_message("make_optimizer: ", optimizer_, " hyperparameter '", key,
                                     "' must be 0 or 1, got ", value));
    }
    return value == 1;
  }

  ClipOptions clip() {
    ClipOptions options;
    options.clip_value = optional_number("clip_value");
    options.clip_norm = optional_number("clip_norm");
    options.global_clip_norm = optional_number("global_clip_norm");
    return options;
  }

  // Throws value_error naming the first key that no number()/boolean()/clip() call read.
  void check_all_used() const {
    for (const auto& entry : values_) {
      if (used_.count(entry.first) == 0) {
        throw value_error(
            make_message("make_optimizer: ", optimizer_, " has no hyperparameter '", entry.first, "'"));
      }
    }
  }

 private:
  std::optional<double> optional_number(const std::string& key) {
    used_.insert(key);
    const auto it = values_.find(key);
    if (it == values_.end()) return std::nullopt;
    return it->second;
  }

  std::string optimizer_;
  const std::map<std::string, double>& values_;
  std::set<std::string> used_;
};

}  // namespace detail

/// A new optimizer (no slots, iterations 0). Throws value_error for an unknown name, an
/// unknown key, or a value out of range.
template <class Scalar>
std::unique_ptr<Optimizer<Scalar>> make_optimizer(const std::string& name,
                                                  const std::map<std::string, double>& hyperparameters = {}) {
  const std::string kind = ascii_lower(name);
  std::unique_ptr<Optimizer<Scalar>> optimizer;
  if (kind == "sgd") {
    detail::HyperparameterReader read("SGD", hyperparameters);
    SgdOptions options;
    options.learning_rate = read.number("learning_rate", options.learning_rate);
    options.momentum = read.number("momentum", options.momentum);
    options.nesterov = read.boolean("nesterov", options.nesterov);
    options.clip = read.clip();
    read.check_all_used();
    optimizer = std::make_unique<SGD<Scalar>>(options);
  } else if (kind == "rmsprop") {
    detail::HyperparameterReader read("RMSprop", hyperparameters);
    RmspropOptions options;
    options.learning_rate = read.number("learning_rate", options.learning_rate);
    options.rho = read.number("rho", options.rho);
    options.momentum = read.number("momentum", options.momentum);
    options.epsilon = read.number("epsilon", options.epsilon);
    options.centered = read.boolean("centered", options.centered);
    options.clip = read.clip();
    read.check_all_used();
    optimizer = std::make_unique<RMSprop<Scalar>>(options);
  } else if (kind == "adam") {
    detail::HyperparameterReader read("Adam", hyperparameters);
    AdamOptions options;
    options.learning_rate = read.number("learning_rate", options.learning_rate);
    options.beta_1 = read.number("beta_1", options.beta_1);
    options.beta_2 = read.number("beta_2", options.beta_2);
    options.epsilon = read.number("epsilon", options.epsilon);
    options.amsgrad = read.boolean("amsgrad", options.amsgrad);
    options.clip = read.clip();
    read.check_all_used();
    optimizer = std::make_unique<Adam<Scalar>>(options);
  } else if (kind == "nadam") {
    detail::HyperparameterReader read("Nadam", hyperparameters);
    NadamOptions options;
    options.learning_rate = read.number("learning_rate", options.learning_rate);
    options.beta_1 = read.number("beta_1", options.beta_1);
    options.beta_2 = read.number("beta_2", options.beta_2);
    options.epsilon = read.number("epsilon", options.epsilon);
    options.schedule = read.boolean("legacy_schedule", false) ? NadamSchedule::legacy : NadamSchedule::keras3;
    options.clip = read.clip();
    read.check_all_used();
    optimizer = std::make_unique<Nadam<Scalar>>(options);
  } else {
    throw value_error("make_optimizer: unknown optimizer '" + name +
                      "', expected SGD, RMSprop, Adam or Nadam");
  }
  return optimizer;
}

/// make_optimizer(state.name, state.hyperparameters) followed by import_state(state): the
/// optimizer continues exactly where the one that exported `state` stopped. Throws
/// file_error when the state is inconsistent (unknown name or bad hyperparameter included).
template <class Scalar>
std::unique_ptr<Optimizer<Scalar>> restore_optimizer(const OptimizerState& state) {
  std::unique_ptr<Optimizer<Scalar>> optimizer;
  try {
    optimizer = make_optimizer<Scalar>(state.name, state.hyperparameters);
  } catch (const value_error& e) {
    throw file_error(std::string("restore_optimizer: invalid optimizer state: ") + e.what());
  }
  optimizer->import_state(state);
  return optimizer;
}

/// The same, and first compares the state's slots with the model's `parameters` (the ones the
/// optimizer will update): file_error when their count or names differ, shape_error when a
/// slot's shape is not its parameter's (Optimizer::import_state(state, parameters)).
template <class Scalar>
std::unique_ptr<Optimizer<Scalar>> restore_optimizer(const OptimizerState& state,
                                                     const ParameterList<Scalar>& parameters) {
  std::unique_ptr<Optimizer<Scalar>> optimizer;
  try {
    optimizer = make_optimizer<Scalar>(state.name, state.hyperparameters);
  } catch (const value_error& e) {
    throw file_error(std::string("restore_optimizer: invalid optimizer state: ") + e.what());
  }
  optimizer->import_state(state, parameters);
  return optimizer;
}

}  // namespace seqlm
