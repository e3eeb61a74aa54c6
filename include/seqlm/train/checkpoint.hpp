// Training checkpoints in a file: everything fit() needs to continue a run exactly.
//
// Write one from inside fit() with ModelCheckpoint and training_checkpoint_writer, as the
// LAST callback (the checkpoint must see every other callback's work for the batch):
//
//   CheckpointOptions every_50;
//   every_50.every_batches = 50;           // and at every epoch end, improved or not:
//   every_50.save_best_only = false;
//   ModelCheckpoint<float> checkpoint(training_checkpoint_writer<float>("run.checkpoint"), every_50);
//   options.callbacks = {&early_stopping, &csv_logger, &checkpoint};
//   fit(model, optimizer, train, options, &validation);
//
// and, after a crash, in a new process with fresh objects built like the first time:
//
//   LoadedTrainingCheckpoint<float> saved = load_training_checkpoint<float>("run.checkpoint");
//   auto optimizer = restore_optimizer<float>(saved.optimizer);    // make_optimizer + import_state
//   ReduceLROnPlateau plateau(plateau_options);                     // state comes from saved.state
//   EarlyStopping<float> early_stopping(stopping_options);          // likewise
//   ...same FitOptions, datasets, seed and thread counts...
//   fit(saved.model.model, *optimizer, train, options, &validation, &saved.state);
//
// The resumed run gives the same weights, optimizer state, history (timings aside) and
// early-stopping epoch as the uninterrupted one, bit for bit.
//
// The file is a seqlm checkpoint (io/model_file.hpp: model, optimizer state, and the training
// position with epoch, batch, global step and the callbacks' RNG); the rest of the
// TrainingState goes into the position's `extra` JSON and tensors (docs/file-format.md):
//
//   extra = {"format": "seqlm.training_state", "version": 1,
//            "skipped_batches", "epoch_tokens", "batches_per_epoch": integers >= 0,
//            "stop_training": bool,
//            "schedule_state": {"best": x, "wait": x, ...},
//            "epoch_totals": {"weighted_loss": x, "weight": x, "correct": n, "counted": n, "batches": n},
//            "history": {"epochs": [0, 1, ...], "metrics": {"loss": [x, ...], ...}},
//            "callbacks": {"<state name>": {"values": {...}, "tensors": ["best_weights/lstm/kernel", ...]}}}
//   tensors "callbacks/<state name>/<tensor>" (F64 in the file: "training/callbacks/...")
//
// Doubles are exact: JSON's shortest round-trip form, and the strings "inf", "-inf", "nan"
// for the values JSON cannot write (a plateau's initial best is +inf, a history holds NaN
// for a metric missing in some epoch). Loading validates every field and reports the first
// problem as a file_error naming the file and the field.
#pragma once

#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "../error.hpp"
#include "../io/json.hpp"
#include "../io/model_file.hpp"
#include "../model/sequential.hpp"
#include "../optim/make_optimizer.hpp"
#include "../optim/optimizer.hpp"
#include "../tensor.hpp"
#include "callbacks.hpp"
#include "state.hpp"

namespace seqlm {

// The "format" and "version" of the training state in a checkpoint's `extra`.
inline constexpr const char* training_state_format = "seqlm.training_state";
inline constexpr int training_state_version = 1;

template <class Scalar>
struct LoadedTrainingCheckpoint {
  LoadedModel<Scalar> model;  // .model is the Sequential; also its tokenizer, config, metadata
  OptimizerState optimizer;   // restore_optimizer<Scalar>(optimizer) rebuilds the optimizer
  TrainingState state;        // hand it to fit() to continue
};

namespace detail {

inline constexpr const char* callback_tensor_prefix = "callbacks/";

inline json::Value exact_json_numbers(const std::vector<double>& values) {
  json::Value array = json::Value::array();
  for (const double value : values) array.push_back(exact_json_number(value));
  return array;
}

}  // namespace detail

// The TrainingState as a checkpoint position: epoch, batch, global step and RNG as the
// position's own fields, the rest as `extra` JSON and tensors (see the top of this file).
// value_error for a callback state that is not a JSON object.
inline TrainingPosition training_position(const TrainingState& state) {
  TrainingPosition position;
  position.epoch = state.epoch;
  position.batch = state.batch;
  position.global_step = state.global_step;
  position.rng = state.rng;

  json::Value schedule = json::Value::object();
  for (const auto& [key, value] : state.schedule_state) schedule.set(key, detail::exact_json_number(value));
  const MetricTotals& totals = state.epoch_totals;
  json::Value epoch_totals = json::Value::object()
                                 .set("weighted_loss", detail::exact_json_number(totals.weighted_loss))
                                 .set("weight", detail::exact_json_number(totals.weight))
                                 .set("correct", totals.correct)
                                 .set("counted", totals.counted)
                                 .set("batches", totals.batches);
  json::Value epochs = json::Value::array();
  for (const Index epoch : state.history.epochs) epochs.push_back(epoch);
  json::Value metrics = json::Value::object();
  for (const auto& [name, values] : state.history.metrics)
    metrics.set(name, detail::exact_json_numbers(values));

  json::Value callbacks = json::Value::object();
  for (const auto& [name, callback] : state.callback_states) {
    if (!callback.values.is_object()) {
      throw value_error("training_position: the state of callback '" + name + "' is " +
                        callback.values.type_name() + ", expected a JSON object");
    }
    json::Value tensor_names = json::Value::array();
    for (const auto& [tensor_name, value] : callback.tensors) {
      tensor_names.push_back(tensor_name);
      position.tensors.emplace_back(detail::callback_tensor_prefix + name + "/" + tensor_name, value);
    }
    callbacks.set(
        name, json::Value::object().set("values", callback.values).set("tensors", std::move(tensor_names)));
  }

  position.extra =
      json::Value::object()
          .set("format", training_state_format)
          .set("version", training_state_version)
          .set("skipped_batches", state.skipped_batches)
          .set("epoch_tokens", state.epoch_tokens)
          .set("batches_per_epoch", state.batches_per_epoch)
          .set("stop_training", state.stop_training)
          .set("schedule_state", std::move(schedule))
          .set("epoch_totals", std::move(epoch_totals))
          .set("history",
               json::Value::object().set("epochs", std::move(epochs)).set("metrics", std::move(metrics)))
          .set("callbacks", std::move(callbacks));
  return position;
}

namespace detail {

// value_error when `object` has a member other than `known` ("<field>.<key>" is unknown).
inline void check_known_fields(const json::Value& object, const std::string& field,
                               const std::vector<std::string>& known) {
  for (const auto& member : object.as_object()) {
    bool found = false;
    for (const std::string& key : known) found = found || key == member.first;
    if (!found) throw value_error("unknown field \"" + field_name(field, member.first) + "\"");
  }
}

inline const json::Value& json_object_member(const json::Value& object, const std::string& parent,
                                             const char* key) {
  const json::Value& value = json_member(object, parent, key);
  if (!value.is_object()) {
    throw value_error("\"" + field_name(parent, key) + "\" is " + value.type_name() + ", expected an object");
  }
  return value;
}

inline const json::Value::Array& json_array_member(const json::Value& object, const std::string& parent,
                                                   const char* key) {
  const json::Value& value = json_member(object, parent, key);
  if (!value.is_array()) {
    throw value_error("\"" + field_name(parent, key) + "\" is " + value.type_name() + ", expected an array");
  }
  return value.as_array();
}

inline MetricTotals metric_totals_from_json(const json::Value& extra) {
  const std::string field = "epoch_totals";
  const json::Value& object = json_object_member(extra, "", "epoch_totals");
  check_known_fields(object, field, {"weighted_loss", "weight", "correct", "counted", "batches"});
  MetricTotals totals;
  totals.weighted_loss = json_exact_number(object, field, "weighted_loss");
  totals.weight = json_exact_number(object, field, "weight");
  totals.correct = json_count(object, field, "correct");
  totals.counted = json_count(object, field, "counted");
  totals.batches = json_count(object, field, "batches");
  if (!(totals.weight >= 0.0)) {
    throw value_error(make_message("\"epoch_totals.weight\" is ", totals.weight, ", expected >= 0"));
  }
  if (totals.correct > totals.counted) {
    throw value_error(make_message("\"epoch_totals.correct\" (", totals.correct, ") is larger than \"",
                                   "epoch_totals.counted\" (", totals.counted, ")"));
  }
  return totals;
}

inline History history_from_json(const json::Value& extra, Index epoch) {
  const json::Value& object = json_object_member(extra, "", "history");
  check_known_fields(object, "history", {"epochs", "metrics"});
  History history;
  const json::Value::Array& epochs = json_array_member(object, "history", "epochs");
  for (std::size_t k = 0; k < epochs.size(); ++k) {
    const std::string field = make_message("history.epochs[", k, "]");
    if (!epochs[k].is_integer() || epochs[k].as_int64() < 0) {
      throw value_error("\"" + field + "\" must be an integer >= 0");
    }
    const Index recorded = static_cast<Index>(epochs[k].as_int64());
    if (!history.epochs.empty() && recorded <= history.epochs.back()) {
      throw value_error(make_message("\"", field, "\" is ", recorded, ", not after the epoch before it (",
                                     history.epochs.back(), ")"));
    }
    if (recorded >= epoch) {
      throw value_error(
          make_message("\"", field, "\" is ", recorded, ", but the run is only at epoch ", epoch));
    }
    history.epochs.push_back(recorded);
  }
  const json::Value& metrics = json_object_member(object, "history", "metrics");
  for (const auto& [name, values] : metrics.as_object()) {
    const std::string field = "history.metrics." + name;
    if (!values.is_array())
      throw value_error("\"" + field + "\" is " + values.type_name() + ", expected an array");
    if (values.size() != history.epochs.size()) {
      throw value_error(make_message("\"", field, "\" has ", values.size(), " values for ",
                                     history.epochs.size(), " epochs"));
    }
    std::vector<double>& numbers = history.metrics[name];
    for (std::size_t k = 0; k < values.size(); ++k) {
      numbers.push_back(exact_number_from_json(values.at(k), make_message(field, "[", k, "]")));
    }
  }
  return history;
}

// The callbacks' states; each listed tensor is taken from `tensors` (and marked used).
inline std::map<std::string, CallbackState> callback_states_from_json(
    const json::Value& extra, const std::vector<std::pair<std::string, Matrix<double>>>& tensors,
    std::set<std::string>& used_tensors) {
  std::map<std::string, CallbackState> states;
  const json::Value& callbacks = json_object_member(extra, "", "callbacks");
  for (const auto& [name, entry] : callbacks.as_object()) {
    const std::string field = "callbacks." + name;
    if (name.empty()) throw value_error("\"callbacks\" has a callback with an empty name");
    if (!entry.is_object())
      throw value_error("\"" + field + "\" is " + entry.type_name() + ", expected an object");
    check_known_fields(entry, field, {"values", "tensors"});
    CallbackState state;
    state.values = json_object_member(entry, field, "values");
    for (const json::Value& tensor_name : json_array_member(entry, field, "tensors")) {
      if (!tensor_name.is_string()) {
        throw value_error("\"" + field + ".tensors\" holds " + tensor_name.type_name() +
                          ", expected strings");
      }
      const std::string stored = callback_tensor_prefix + name + "/" + tensor_name.as_string();
      bool found = false;
      for (const auto& [tensor, value] : tensors) {
        if (tensor != stored) continue;
        if (!used_tensors.insert(stored).second)
          throw value_error("tensor \"" + stored + "\" is listed twice");
        state.tensors.emplace_back(tensor_name.as_string(), value);
        found = true;
        break;
      }
      if (!found)
        throw value_error("\"" + field + ".tensors\" lists \"" + tensor_name.as_string() +
                          "\", but the checkpoint has no tensor \"" + stored + "\"");
    }
    states.emplace(name, std::move(state));
  }
  return states;
}

}  // namespace detail

// The inverse of training_position(), validating every field: value_error naming the first
// field that is missing, has the wrong type or an impossible value (a negative counter, a
// batch beyond the end of the epoch, running totals that do not add up to the batch, history
// arrays of the wrong length, ...).
inline TrainingState training_state_from(const TrainingPosition& position) {
  const json::Value& extra = position.extra;
  if (extra.is_null()) {
    throw value_error(
        "no training state (the checkpoint was written by save_checkpoint, not save_training_checkpoint)");
  }
  if (!extra.is_object())
    throw value_error(std::string("the training state is ") + extra.type_name() + ", expected an object");
  detail::check_known_fields(extra, "",
                             {"format", "version", "skipped_batches", "epoch_tokens", "batches_per_epoch",
                              "stop_training", "schedule_state", "epoch_totals", "history", "callbacks"});
  const json::Value& format = detail::json_member(extra, "", "format");
  if (!format.is_string() || format.as_string() != training_state_format) {
    throw value_error(std::string("\"format\" must be \"") + training_state_format + "\"");
  }
  const json::Value& version = detail::json_member(extra, "", "version");
  if (!version.is_integer() || version.as_int64() < 1)
    throw value_error("\"version\" must be a positive integer");
  if (version.as_int64() > training_state_version) {
    throw value_error(detail::make_message("training state version ", version.as_int64(),
                                           " is newer than this seqlm reads (", training_state_version,
                                           "); upgrade seqlm"));
  }
  if (position.epoch < 0 || position.batch < 0 || position.global_step < 0) {
    throw value_error("the position has a negative epoch, batch or global step");
  }

  TrainingState state;
  state.epoch = position.epoch;
  state.batch = position.batch;
  state.global_step = position.global_step;
  state.rng = position.rng;
  state.skipped_batches = detail::json_count(extra, "", "skipped_batches");
  state.epoch_tokens = detail::json_count(extra, "", "epoch_tokens");
  state.batches_per_epoch = detail::json_count(extra, "", "batches_per_epoch");
  const json::Value& stop = detail::json_member(extra, "", "stop_training");
  if (!stop.is_bool())
    throw value_error(std::string("\"stop_training\" is ") + stop.type_name() + ", expected a boolean");
  state.stop_training = stop.as_bool();
  for (const auto& [key, value] : detail::json_object_member(extra, "", "schedule_state").as_object()) {
    state.schedule_state[key] = detail::exact_number_from_json(value, "schedule_state." + key);
  }
  state.epoch_totals = detail::metric_totals_from_json(extra);
  state.history = detail::history_from_json(extra, state.epoch);

  if (state.batches_per_epoch > 0 && state.batch > state.batches_per_epoch) {
    throw value_error(detail::make_message("\"batch\" is ", state.batch, ", beyond the end of an epoch of ",
                                           state.batches_per_epoch, " batches"));
  }
  if (state.epoch_totals.batches + state.skipped_batches != state.batch) {
    throw value_error(detail::make_message("\"epoch_totals.batches\" (", state.epoch_totals.batches,
                                           ") + \"skipped_batches\" (", state.skipped_batches,
                                           ") must equal \"batch\" (", state.batch,
                                           "), the batches run so far in this epoch"));
  }
  if (state.global_step < state.batch) {
    throw value_error(detail::make_message("\"global_step\" (", state.global_step,
                                           ") is less than \"batch\" (", state.batch, ")"));
  }

  std::set<std::string> used_tensors;
  state.callback_states = detail::callback_states_from_json(extra, position.tensors, used_tensors);
  for (const auto& entry : position.tensors) {
    if (used_tensors.count(entry.first) == 0) {
      throw value_error("tensor \"" + entry.first + "\" belongs to no callback state");
    }
  }
  return state;
}

// Saves model, optimizer state and the whole TrainingState (callback states included, as they
// are in `state`) as a checkpoint, atomically. value_error / file_error as save_checkpoint.
template <class Scalar>
void save_training_checkpoint(const std::string& path, const Sequential<Scalar>& model,
                              const OptimizerState& optimizer, const TrainingState& state,
                              const ModelFileContents& contents = {}) {
  save_checkpoint(path, model, optimizer, training_position(state), contents);
}

template <class Scalar>
void save_training_checkpoint(const std::string& path, const Sequential<Scalar>& model,
                              const Optimizer<Scalar>& optimizer, const TrainingState& state,
                              const ModelFileContents& contents = {}) {
  save_training_checkpoint(path, model, optimizer.export_state(), state, contents);
}

// Loads a checkpoint written by save_training_checkpoint: model, optimizer state and the
// TrainingState, exactly as saved. file_error naming the file and the field on anything
// invalid ("checkpoint \"run.checkpoint\": training state: \"epoch_totals.correct\" is
// missing").
template <class Scalar>
LoadedTrainingCheckpoint<Scalar> load_training_checkpoint(const std::string& path,
                                                          const ModelLoadOptions& options = {}) {
  LoadedCheckpoint<Scalar> checkpoint = load_checkpoint<Scalar>(path, options);
  TrainingState state;
  try {
    state = training_state_from(checkpoint.position);
  } catch (const value_error& e) {
    throw file_error("checkpoint \"" + path + "\": training state: " + e.what());
  }
  return LoadedTrainingCheckpoint<Scalar>{std::move(checkpoint.model), std::move(checkpoint.optimizer),
                                          std::move(state)};
}

// A ModelCheckpoint save function that writes a complete training checkpoint to `path`
// (atomically: a crash while writing leaves the previous file). "{epoch}" and "{step}" in the
// path are replaced by the epoch ModelCheckpoint passes (0-based: the current one after a
// batch, the finished one at an epoch end) and the global step (e.g. "run-{step}.checkpoint"
// keeps one file per save). The ModelCheckpoint must be the last of FitOptions::callbacks, so that the
// file holds every callback's work for the batch or epoch (value_error otherwise).
template <class Scalar>
typename ModelCheckpoint<Scalar>::SaveFunction training_checkpoint_writer(std::string path,
                                                                          ModelFileContents contents = {}) {
  if (path.empty()) throw file_error("training_checkpoint_writer: empty path");
  return [path = std::move(path), contents = std::move(contents)](TrainingContext<Scalar>& context,
                                                                  Index epoch, const Logs&) {
    if (context.model == nullptr || context.optimizer == nullptr || context.state == nullptr) {
      throw value_error("training_checkpoint_writer: the training context has no model, optimizer or state");
    }
    if (context.current_callback >= 0 &&
        context.current_callback + 1 != static_cast<Index>(context.callbacks.size())) {
      throw value_error(detail::make_message(
          "training_checkpoint_writer: its ModelCheckpoint is callback ", context.current_callback + 1,
          " of ", context.callbacks.size(),
          "; make it the last of FitOptions::callbacks, or the callbacks after it would miss this "
          "batch or epoch after a resume"));
    }
    TrainingState state = *context.state;
    state.stop_training = context.stop_training;
    if (context.rng != nullptr) state.rng = context.rng->snapshot();
    state.callback_states = export_callback_states(context.callbacks);

    std::string file = path;
    const auto replace = [&file](const std::string& key, Index value) {
      for (std::size_t at = file.find(key); at != std::string::npos; at = file.find(key, at)) {
        const std::string text = std::to_string(value);
        file.replace(at, key.size(), text);
        at += text.size();
      }
    };
    replace("{epoch}", epoch);
    replace("{step}", state.global_step);
    save_training_checkpoint(file, *context.model, *context.optimizer, state, contents);
  };
}

}  // namespace seqlm
