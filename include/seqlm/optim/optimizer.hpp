/// \file
/// The optimizer interface every update rule (SGD, RMSprop, Adam, Nadam) implements, and
/// the serialisable optimizer state used for checkpoints and model files.
///
/// An optimizer updates the values of a ParameterList from its gradients:
///
/// ```cpp
///   layer.forward(...); layer.backward(...);   // gradients accumulated
///   optimizer.step(layer.parameters());        // clip (optional), then w <- w - update(g)
///   zero_gradients(layer.parameters());
/// ```
///
/// It holds per-parameter "slots" (moment estimates such as Adam's m and v), created as
/// zeros on the first step() with the shapes of that parameter list; every later step()
/// must get a list with the same count, names and shapes. The iteration counter t is 1 on
/// the first step, as in Keras. Equations: docs/optimizers.md.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "../error.hpp"
#include "../parameter.hpp"
#include "../tensor.hpp"
#include "clip.hpp"

namespace seqlm {

/// Everything needed to continue training bit-identically, in double for both scalar types
/// (float -> double -> float is exact).
///
/// ```text
///   name             "SGD", "RMSprop", "Adam" or "Nadam" (make_optimizer() re-creates it)
///   iterations       steps taken so far (t of the last step)
///   hyperparameters  learning_rate, the rule's constants (beta_1, ...; booleans as 0/1) and
///                    the clipping thresholds that are set (clip_value, clip_norm, global_clip_norm)
///   scalars          scalar state that evolves with t (Nadam's "u_product"); empty for the others
///   slots            per-parameter tensors, parameter-major, named "<index>/<parameter name>/<slot>",
///                    e.g. "0/kernel/momentum", "0/kernel/velocity", "1/bias/momentum", ...
/// ```
struct OptimizerState {
  std::string name;
  std::int64_t iterations = 0;
  std::map<std::string, double> hyperparameters;
  std::map<std::string, double> scalars;
  std::vector<std::pair<std::string, Matrix<double>>> slots;
};

template <class Scalar>
class Optimizer {
  static_assert(std::is_floating_point_v<Scalar>, "seqlm optimizers work on float or double");

 public:
  virtual ~Optimizer() = default;

  /// "SGD", "RMSprop", "Adam" or "Nadam".
  const std::string& name() const { return name_; }

  /// Number of steps taken; the next step() uses t = iterations() + 1.
  std::int64_t iterations() const { return iterations_; }

  double learning_rate() const { return learning_rate_; }
  /// For learning-rate schedules: takes effect from the next step. Throws value_error if
  /// negative or not finite.
  void set_learning_rate(double learning_rate) {
    check_learning_rate(learning_rate);
    learning_rate_ = learning_rate;
  }

  const ClipOptions& clip_options() const { return clip_; }
  /// Throws value_error unless at most one threshold is set, positive and finite.
  void set_clip_options(const ClipOptions& clip) {
    validate(clip, name_.c_str());
    clip_ = clip;
  }

  /// One update of every parameter from its gradient: clips the gradients in place (if
  /// clip options are set), then applies the rule with t = iterations() + 1. Throws
  /// value_error / shape_error when the list differs in count, names or shapes from the one
  /// the slots were made for, numeric_error for a NaN/inf gradient when clipping; neither the
  /// parameters, the gradients nor the optimizer are modified when it throws.
  void step(const ParameterList<Scalar>& parameters) {
    detail::check_parameter_list(name_.c_str(), parameters);
    if (knows_parameters_) check_same_parameters(parameters);
    clip_gradients(parameters, clip_);
    if (!knows_parameters_) create_slots(parameters);
    ++iterations_;
    begin_step(iterations_);
    for (size_t k = 0; k < parameters.size(); ++k) {
      update(*parameters[k].value, *parameters[k].gradient, slots_[k]);
    }
  }

  /// All hyperparameters as numbers (booleans 0/1): learning_rate, the rule's constants and
  /// the clipping thresholds that are set. make_optimizer(name(), hyperparameters()) builds
  /// an equal optimizer.
  std::map<std::string, double> hyperparameters() const {
    std::map<std::string, double> values{{"learning_rate", learning_rate_}};
    if (clip_.clip_value) values["clip_value"] = *clip_.clip_value;
    if (clip_.clip_norm) values["clip_norm"] = *clip_.clip_norm;
    if (clip_.global_clip_norm) values["global_clip_norm"] = *clip_.global_clip_norm;
    add_rule_hyperparameters(values);
    return values;
  }

  /// Snapshot of the whole state (see OptimizerState). Before the first step the slot list
  /// is empty.
  OptimizerState export_state() const {
    OptimizerState state;
    state.name = name_;
    state.iterations = iterations_;
    state.hyperparameters = hyperparameters();
    state.scalars = scalar_state();
    const std::vector<std::string> names = slot_names();
    for (size_t k = 0; k < slots_.size(); ++k) {
      for (size_t s = 0; s < names.size(); ++s) {
        state.slots.emplace_back(slot_key(k, parameter_names_[k], names[s]),
                                 slots_[k][s].template cast<double>());
      }
    }
    return state;
  }

  /// A slot dimension above this is refused as corrupt (no layer has a parameter with more
  /// rows or columns). A tensor with zero elements costs no bytes in a file, so without a bound
  /// a slot could claim e.g. 0 x 2^62.
  static constexpr Index max_slot_dimension = (Index(1) << 31) - 1;

  /// Restores a state exported by an optimizer of the same kind and hyperparameters (except
  /// learning_rate, which is restored because schedules change it). The next step() continues
  /// exactly where the exporting optimizer stopped. Throws file_error when the name, a
  /// hyperparameter, a scalar or a slot name does not match or a slot holds NaN/inf, shape_error
  /// when the slots of one parameter differ in shape or a dimension exceeds max_slot_dimension;
  /// the optimizer is unchanged when it throws. All names and shapes are checked before any
  /// slot value is read, and the work is proportional to the number of slot elements.
  void import_state(const OptimizerState& state) { import_checked(state, nullptr); }

  /// The same, and first compares the state's slots with the `parameters` it will update
  /// (the model being resumed): file_error when their count or a name differs, shape_error
  /// when a slot's shape is not its parameter's. Without this check a mismatch is found by
  /// the next step().
  void import_state(const OptimizerState& state, const ParameterList<Scalar>& parameters) {
    import_checked(state, &parameters);
  }

 protected:
  Optimizer(std::string name, double learning_rate, const ClipOptions& clip) : name_(std::move(name)) {
    set_learning_rate(learning_rate);
    set_clip_options(clip);
  }
  Optimizer(const Optimizer&) = default;
  Optimizer& operator=(const Optimizer&) = default;

  // ---- what each update rule provides ----------------------------------------------------
  /// Names of the per-parameter tensors, e.g. {"momentum", "velocity"}; may be empty.
  virtual std::vector<std::string> slot_names() const = 0;
  /// Adds the rule's own hyperparameters (not learning_rate or clipping) to `values`.
  virtual void add_rule_hyperparameters(std::map<std::string, double>& values) const = 0;
  /// Called once per step with the new t (1 on the first step), before the updates: the
  /// place to compute per-step scalars (bias corrections) and advance scalar state.
  virtual void begin_step(std::int64_t t) = 0;
  /// Updates one parameter `value` from its `gradient` and its slots (in slot_names() order).
  virtual void update(Matrix<Scalar>& value, const Matrix<Scalar>& gradient,
                      std::vector<Matrix<Scalar>>& slots) = 0;
  /// Scalar state for OptimizerState::scalars; set_scalar_state gets a map whose keys were
  /// already checked against scalar_state()'s.
  virtual std::map<std::string, double> scalar_state() const { return {}; }
  virtual void set_scalar_state(const std::map<std::string, double>&) {}

  /// Shared argument checks for the constructors.
  void check_in_unit_interval(const char* what, double value, bool one_allowed = false) const {
    const bool ok = value >= 0 && (one_allowed ? value <= 1 : value < 1);
    if (!ok) {
      throw value_error(detail::make_message(name_, ": ", what, " must be in [0, 1", one_allowed ? "]" : ")",
                                             ", got ", value));
    }
  }
  void check_epsilon(double epsilon) const {
    if (!(epsilon >= 0) || !std::isfinite(epsilon)) {
      throw value_error(detail::make_message(name_, ": epsilon must be >= 0 and finite, got ", epsilon));
    }
  }

 private:
  // import_state with or without the parameter list.
  void import_checked(const OptimizerState& state, const ParameterList<Scalar>* parameters) {
    const std::string where = name_ + ": import_state";
    if (state.name != name_) {
      throw file_error(
          detail::make_message(where, ": state is for optimizer '", state.name, "', expected '", name_, "'"));
    }
    if (state.iterations < 0) {
      throw file_error(detail::make_message(where, ": negative iteration count ", state.iterations));
    }
    const auto learning_rate = state.hyperparameters.find("learning_rate");
    if (learning_rate == state.hyperparameters.end()) {
      throw file_error(where + ": hyperparameter 'learning_rate' missing");
    }
    if (!(learning_rate->second >= 0) || !std::isfinite(learning_rate->second)) {
      throw file_error(detail::make_message(where, ": learning_rate ", learning_rate->second, " is invalid"));
    }
    check_hyperparameters_match(where, state.hyperparameters);
    check_scalars(where, state.scalars);

    // Slots: parameter-major, each parameter with exactly slot_names() in order. First every
    // name and shape (cheap), then the values.
    const std::vector<std::string> names = slot_names();
    std::vector<std::string> parameter_names;
    std::vector<std::pair<Index, Index>> shapes;
    if (!names.empty()) {
      if (state.slots.size() % names.size() != 0) {
        throw file_error(detail::make_message(where, ": ", state.slots.size(),
                                              " slots is not a multiple of the ", names.size(),
                                              " slots per parameter"));
      }
      const size_t parameter_count = state.slots.size() / names.size();
      if (parameters != nullptr && parameters->size() != parameter_count) {
        throw file_error(detail::make_message(where, ": the state has slots for ", parameter_count,
                                              " parameters, the model has ", parameters->size()));
      }
      for (size_t k = 0; k < parameter_count; ++k) {
        const std::string& first_key = state.slots[k * names.size()].first;
        std::string parameter_name = parse_parameter_name(where, first_key, k);
        const Matrix<double>& first = state.slots[k * names.size()].second;
        check_slot_dimensions(where, first_key, first);
        if (parameters != nullptr)
          check_slot_matches(where, first_key, first, parameter_name, (*parameters)[k], k);
        for (size_t s = 0; s < names.size(); ++s) {
          const auto& [key, tensor] = state.slots[k * names.size() + s];
          const std::string expected = slot_key(k, parameter_name, names[s]);
          if (key != expected) {
            throw file_error(detail::make_message(where, ": slot ", k * names.size() + s, " is named '", key,
                                                  "', expected '", expected, "'"));
          }
          detail::check_shape(where.c_str(), key.c_str(), tensor, first.rows(), first.cols());
        }
        parameter_names.push_back(std::move(parameter_name));
        shapes.emplace_back(first.rows(), first.cols());
      }
    } else if (!state.slots.empty()) {
      throw file_error(
          detail::make_message(where, ": ", state.slots.size(), " slots given, this ", name_, " has none"));
    }
    std::vector<std::vector<Matrix<Scalar>>> slots(shapes.size());
    for (size_t k = 0; k < shapes.size(); ++k) {
      for (size_t s = 0; s < names.size(); ++s) {
        const auto& [key, tensor] = state.slots[k * names.size() + s];
        // Flat over the elements: Eigen's allFinite() and cast() loop over the columns even
        // when there are no rows.
        const Eigen::Map<const Eigen::ArrayXd> values(tensor.data(), tensor.size());
        if (!values.allFinite()) throw file_error(where + ": slot '" + key + "' holds NaN or infinity");
        Matrix<Scalar> slot(tensor.rows(), tensor.cols());
        Eigen::Map<Eigen::Array<Scalar, Eigen::Dynamic, 1>>(slot.data(), slot.size()) =
            values.template cast<Scalar>();
        slots[k].push_back(std::move(slot));
      }
    }

    // Everything validated: commit.
    learning_rate_ = learning_rate->second;
    iterations_ = state.iterations;
    set_scalar_state(state.scalars);
    parameter_names_ = std::move(parameter_names);
    shapes_ = std::move(shapes);
    slots_ = std::move(slots);
    // A state without slots (taken before the first step, or of a rule without slots) does
    // not describe the parameters: the next step() adopts its list.
    knows_parameters_ = !slots_.empty();
  }

  static void check_slot_dimensions(const std::string& where, const std::string& key,
                                    const Matrix<double>& slot) {
    if (slot.rows() > max_slot_dimension || slot.cols() > max_slot_dimension) {
      throw shape_error(detail::make_message(where, ": slot '", key, "' has shape ", slot.rows(), "x",
                                             slot.cols(), ", a dimension above the limit ",
                                             max_slot_dimension, " (corrupt state?)"));
    }
  }

  static void check_slot_matches(const std::string& where, const std::string& key, const Matrix<double>& slot,
                                 const std::string& parameter_name, const Parameter<Scalar>& parameter,
                                 size_t k) {
    if (parameter.name != parameter_name) {
      throw file_error(detail::make_message(where, ": parameter ", k, " is named '", parameter.name,
                                            "', the state's slots are for '", parameter_name, "'"));
    }
    if (parameter.value == nullptr) {
      throw value_error(
          detail::make_message(where, ": parameter ", k, " '", parameter.name, "' has no value tensor"));
    }
    if (slot.rows() != parameter.value->rows() || slot.cols() != parameter.value->cols()) {
      throw shape_error(detail::make_message(
          where, ": slot '", key, "' has shape ", slot.rows(), "x", slot.cols(), ", parameter ", k, " '",
          parameter.name, "' has shape ", parameter.value->rows(), "x", parameter.value->cols()));
    }
  }

  void check_learning_rate(double learning_rate) const {
    if (!(learning_rate >= 0) || !std::isfinite(learning_rate)) {
      throw value_error(
          detail::make_message(name_, ": learning_rate must be >= 0 and finite, got ", learning_rate));
    }
  }

  static std::string slot_key(size_t index, const std::string& parameter, const std::string& slot) {
    return std::to_string(index) + "/" + parameter + "/" + slot;
  }

  // "<k>/<name>/<slot>" -> name (which may itself contain '/').
  static std::string parse_parameter_name(const std::string& where, const std::string& key, size_t k) {
    const std::string prefix = std::to_string(k) + "/";
    const size_t last = key.rfind('/');
    if (key.compare(0, prefix.size(), prefix) != 0 || last == std::string::npos || last < prefix.size()) {
      throw file_error(detail::make_message(where, ": slot name '", key, "' is not '", prefix,
                                            "<parameter name>/<slot>'"));
    }
    return key.substr(prefix.size(), last - prefix.size());
  }

  void check_hyperparameters_match(const std::string& where,
                                   const std::map<std::string, double>& saved) const {
    std::map<std::string, double> own = hyperparameters();
    own.erase("learning_rate");
    for (const auto& [key, value] : saved) {
      if (key == "learning_rate") continue;
      const auto it = own.find(key);
      if (it == own.end()) {
        throw file_error(detail::make_message(where, ": state has hyperparameter '", key, "' = ", value,
                                              " that this optimizer does not have"));
      }
      if (it->second != value) {
        throw file_error(detail::make_message(where, ": state has ", key, " = ", value,
                                              ", this optimizer has ", it->second));
      }
    }
    for (const auto& [key, value] : own) {
      if (saved.count(key) == 0) {
        throw file_error(detail::make_message(where, ": state lacks hyperparameter '", key,
                                              "' (this optimizer has ", value, ")"));
      }
    }
  }

  void check_scalars(const std::string& where, const std::map<std::string, double>& saved) const {
    const std::map<std::string, double> own = scalar_state();
    for (const auto& [key, value] : saved) {
      if (own.count(key) == 0) throw file_error(where + ": unknown scalar state '" + key + "'");
      if (!std::isfinite(value)) {
        throw file_error(detail::make_message(where, ": scalar state ", key, " = ", value, " is not finite"));
      }
    }
    for (const auto& entry : own) {
      if (saved.count(entry.first) == 0)
        throw file_error(where + ": scalar state '" + entry.first + "' missing");
    }
  }

  // On the first step (or after importing a state without slots): zero slots shaped like
  // the parameters.
  void create_slots(const ParameterList<Scalar>& parameters) {
    const size_t slot_count = slot_names().size();
    slots_.assign(parameters.size(), {});
    parameter_names_.clear();
    shapes_.clear();
    for (size_t k = 0; k < parameters.size(); ++k) {
      const Matrix<Scalar>& value = *parameters[k].value;
      slots_[k].assign(slot_count, Matrix<Scalar>::Zero(value.rows(), value.cols()));
      parameter_names_.push_back(parameters[k].name);
      shapes_.emplace_back(value.rows(), value.cols());
    }
    knows_parameters_ = true;
  }

  // Later steps: the list must match the one the slots were made for.
  void check_same_parameters(const ParameterList<Scalar>& parameters) const {
    if (parameters.size() != parameter_names_.size()) {
      throw value_error(detail::make_message(name_, ": step got ", parameters.size(),
                                             " parameters, the optimizer state is for ",
                                             parameter_names_.size()));
    }
    for (size_t k = 0; k < parameters.size(); ++k) {
      const Parameter<Scalar>& p = parameters[k];
      if (p.name != parameter_names_[k]) {
        throw value_error(detail::make_message(name_, ": parameter ", k, " is named '", p.name,
                                               "', the optimizer state is for '", parameter_names_[k], "'"));
      }
      const auto [rows, cols] = shapes_[k];
      if (p.value->rows() != rows || p.value->cols() != cols) {
        throw shape_error(detail::make_message(name_, ": parameter ", k, " '", p.name, "' has shape ",
                                               p.value->rows(), "x", p.value->cols(),
                                               ", the optimizer state is for ", rows, "x", cols));
      }
    }
  }

  std::string name_;
  double learning_rate_ = 0;
  ClipOptions clip_;
  std::int64_t iterations_ = 0;
  bool knows_parameters_ = false;                   // the three vectors below describe a list
  std::vector<std::string> parameter_names_;        // [parameter]
  std::vector<std::pair<Index, Index>> shapes_;     // [parameter]
  std::vector<std::vector<Matrix<Scalar>>> slots_;  // [parameter][slot]
};

}  // namespace seqlm
