/// \file
/// Training checkpoints: everything fit() needs to continue a run exactly, in one file. The
/// API is one pair of functions and one struct:
///
/// ```text
///   save_checkpoint(path, model, optimizer, state, contents = {});   // atomic
///   LoadedCheckpoint<Scalar> load_checkpoint<Scalar>(path, options = {});
///     .model      LoadedModel<Scalar>: .model is the Sequential; also tokenizer, config, metadata
///     .optimizer  OptimizerState: restore_optimizer<Scalar>(.optimizer) rebuilds the optimizer
///     .state      TrainingState: hand it to fit() to continue
/// ```
///
/// Write one from inside fit() with ModelCheckpoint and checkpoint_writer, as the LAST callback
/// (the checkpoint must see every other callback's work for the batch):
///
/// ```cpp
///   CheckpointOptions every_50;
///   every_50.every_batches = 50;           // and at every epoch end, improved or not:
///   every_50.save_best_only = false;
///   ModelCheckpoint<float> checkpoint(checkpoint_writer<float>("run.checkpoint"), every_50);
///   options.callbacks = {&early_stopping, &csv_logger, &checkpoint};
///   fit(model, optimizer, train, options, &validation);
/// ```
///
/// and, after a crash, in a new process with fresh objects built like the first time:
///
/// ```cpp
///   LoadedCheckpoint<float> saved = load_checkpoint<float>("run.checkpoint");
///   auto optimizer = restore_optimizer<float>(saved.optimizer);    // make_optimizer + import_state
///   ReduceLROnPlateau plateau(plateau_options);                     // state comes from saved.state
///   EarlyStopping<float> early_stopping(stopping_options);          // likewise
///   ...same FitOptions, datasets, seed and thread counts...
///   fit(saved.model.model, *optimizer, train, options, &validation, &saved.state);
/// ```
///
/// The resumed run gives the same weights, optimizer state, history (timings aside) and
/// early-stopping epoch as the uninterrupted one, bit for bit.
///
/// The file is a seqlm checkpoint (files/checkpoint_file.hpp: a model file with the optimizer
/// state and the training position: epoch, batch, global step and the callbacks' RNG); the
/// rest of the TrainingState goes into the position's `extra` JSON and tensors
/// (docs/file-format.md):
///
/// ```text
///   extra = {"format": "seqlm.training_state", "version": 1,
///            "skipped_batches", "epoch_tokens", "batches_per_epoch": integers >= 0,
///            "stop_training": bool,
///            "schedule_state": {"best": x, "wait": x, ...},
///            "epoch_totals": {"weighted_loss": x, "weight": x, "correct": n, "counted": n, "batches": n},
///            "history": {"epochs": [0, 1, ...], "metrics": {"loss": [x, ...], ...}},
///            "callbacks": {"<state name>": {"values": {...}, "tensors": ["best_weights/lstm/kernel", ...]}}}
///   tensors "callbacks/<state name>/<tensor>" (F64 in the file: "training/callbacks/...")
/// ```
///
/// Doubles are exact: JSON's shortest round-trip form, and the strings "inf", "-inf", "nan"
/// for the values JSON cannot write (a plateau's initial best is +inf, a history holds NaN
/// for a metric missing in some epoch). Loading validates every field and reports the first
/// problem as a file_error naming the file, the path and the field.
#pragma once

#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "../error.hpp"
#include "../files/checkpoint_file.hpp"
#include "../files/model_file.hpp"
#include "../io/json.hpp"
#include "../model/sequential.hpp"
#include "../optim/make_optimizer.hpp"
#include "../optim/optimizer.hpp"
#include "../tensor.hpp"
#include "callbacks.hpp"
#include "state.hpp"

namespace seqlm {

/// A training checkpoint as load_checkpoint() returns it.
template <class Scalar>
struct LoadedCheckpoint {
  LoadedModel<Scalar> model;  ///< .model is the Sequential; also its tokenizer, config, metadata
  OptimizerState optimizer;   ///< restore_optimizer<Scalar>(optimizer) rebuilds the optimizer
  TrainingState state;        ///< hand it to fit() to continue
};

namespace detail {

// The "format" and "version" of the training state in a checkpoint's `extra`.
inline constexpr const char* training_state_format = "seqlm.training_state";
inline constexpr int training_state_version = 1;
inline constexpr const char* callback_tensor_prefix = "callbacks/";

inline json::Value exact_json_numbers(const std::vector<double>& values) {
  json::Value array = json::Value::array();
  for (const double value : values) array.push_back(exact_json_number(value));
  return array;
}

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
      throw value_error("save_checkpoint: the state of callback '" + name + "' is " +
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

inline MetricTotals metric_totals_from_json(json::ObjectReader& extra) {
  json::ObjectReader read = extra.object("epoch_totals");
  MetricTotals totals;
  totals.weighted_loss = exact_number(read, "weighted_loss");
  totals.weight = exact_number(read, "weight");
  totals.correct = read.count("correct");
  totals.counted = read.count("counted");
  totals.batches = read.count("batches");
  read.finish();
  if (!(totals.weight >= 0.0)) read.fail("weight", make_message("is ", totals.weight, ", expected >= 0"));
  if (totals.correct > totals.counted) {
    read.fail("correct",
              make_message("is ", totals.correct, ", larger than \"counted\" (", totals.counted, ")"));
  }
  return totals;
}

inline History history_from_json(json::ObjectReader& extra, Index epoch) {
  json::ObjectReader read = extra.object("history");
  History history;
  const json::ArrayReader epochs = read.array("epochs");
  for (std::size_t k = 0; k < epochs.size(); ++k) {
    const Index recorded = static_cast<Index>(epochs.count(k));
    if (!history.epochs.empty() && recorded <= history.epochs.back()) {
      epochs.fail(
          k, make_message("is ", recorded, ", not after the epoch before it (", history.epochs.back(), ")"));
    }
    if (recorded >= epoch)
      epochs.fail(k, make_message("is ", recorded, ", but the run is only at epoch ", epoch));
    history.epochs.push_back(recorded);
  }
  json::ObjectReader metrics = read.object("metrics");
  for (const auto& member : metrics.members()) {
    const json::ArrayReader values = metrics.array(member.first);
    if (values.size() != history.epochs.size()) {
      values.fail(make_message("has ", values.size(), " values for ", history.epochs.size(), " epochs"));
    }
    std::vector<double>& numbers = history.metrics[member.first];
    for (std::size_t k = 0; k < values.size(); ++k) numbers.push_back(exact_number(values, k));
  }
  read.finish();
  return history;
}

// The callbacks' states; each listed tensor is taken from `tensors` (and marked used).
inline std::map<std::string, CallbackState> callback_states_from_json(
    json::ObjectReader& extra, const std::vector<std::pair<std::string, Matrix<double>>>& tensors,
    std::set<std::string>& used_tensors) {
  std::map<std::string, CallbackState> states;
  json::ObjectReader callbacks = extra.object("callbacks");
  for (const auto& member : callbacks.members()) {
    const std::string& name = member.first;
    if (name.empty()) callbacks.fail_here("a callback has an empty name");
    json::ObjectReader entry = callbacks.object(name);
    CallbackState state;
    state.values = json::Value(entry.object("values").members());
    const json::ArrayReader names = entry.array("tensors");
    for (std::size_t k = 0; k < names.size(); ++k) {
      const std::string& tensor_name = names.text(k);
      const std::string stored = callback_tensor_prefix + name + "/" + tensor_name;
      bool found = false;
      for (const auto& [tensor, value] : tensors) {
        if (tensor != stored) continue;
        if (!used_tensors.insert(stored).second) names.fail(k, "lists tensor \"" + stored + "\" twice");
        state.tensors.emplace_back(tensor_name, value);
        found = true;
        break;
      }
      if (!found) {
        names.fail("lists \"" + tensor_name + "\", but the checkpoint has no tensor \"" + stored + "\"");
      }
    }
    entry.finish();
    states.emplace(name, std::move(state));
  }
  return states;
}

// The inverse of training_position(), validating every field: value_error naming the path
// and the first field that is missing, has the wrong type or an impossible value (a negative
// counter, a batch beyond the end of the epoch, running totals that do not add up to the
// batch, history arrays of the wrong length, ...): "training state/epoch_totals: field
// \"correct\" is a string, expected an integer".
inline TrainingState training_state_from(const TrainingPosition& position) {
  if (position.extra.is_null()) {
    throw value_error(
        "no training state (the checkpoint's \"training\" metadata has a null \"extra\"; it holds only a "
        "bare training position)");
  }
  json::ObjectReader extra(position.extra, "training state", &json::throw_as<value_error>);
  const std::string& format = extra.text("format");
  if (format != training_state_format) {
    extra.fail("format", "is \"" + format + "\", expected \"" + training_state_format + "\"");
  }
  const std::int64_t version = extra.integer("version", 1);
  if (version > training_state_version) {
    extra.fail("version", detail::make_message("is ", version, ", newer than this seqlm reads (",
                                               training_state_version, "); upgrade seqlm"));
  }
  if (position.epoch < 0 || position.batch < 0 || position.global_step < 0) {
    extra.fail_here("the position has a negative epoch, batch or global step");
  }

  TrainingState state;
  state.epoch = position.epoch;
  state.batch = position.batch;
  state.global_step = position.global_step;
  state.rng = position.rng;
  state.skipped_batches = extra.count("skipped_batches");
  state.epoch_tokens = extra.count("epoch_tokens");
  state.batches_per_epoch = extra.count("batches_per_epoch");
  state.stop_training = extra.flag("stop_training");
  json::ObjectReader schedule = extra.object("schedule_state");
  for (const auto& member : schedule.members()) {
    state.schedule_state[member.first] = detail::exact_number(schedule, member.first);
  }
  state.epoch_totals = detail::metric_totals_from_json(extra);
  state.history = detail::history_from_json(extra, state.epoch);
  std::set<std::string> used_tensors;
  state.callback_states = detail::callback_states_from_json(extra, position.tensors, used_tensors);
  extra.finish();

  if (state.batches_per_epoch > 0 && state.batch > state.batches_per_epoch) {
    extra.fail_here(detail::make_message("\"batch\" is ", state.batch, ", beyond the end of an epoch of ",
                                         state.batches_per_epoch, " batches"));
  }
  if (state.epoch_totals.batches + state.skipped_batches != state.batch) {
    extra.fail_here(detail::make_message("\"epoch_totals/batches\" (", state.epoch_totals.batches,
                                         ") + \"skipped_batches\" (", state.skipped_batches,
                                         ") must equal \"batch\" (", state.batch,
                                         "), the batches run so far in this epoch"));
  }
  if (state.global_step < state.batch) {
    extra.fail_here(detail::make_message("\"global_step\" (", state.global_step, ") is less than \"batch\" (",
                                         state.batch, ")"));
  }
  for (const auto& entry : position.tensors) {
    if (used_tensors.count(entry.first) == 0) {
      extra.fail_here("tensor \"" + entry.first + "\" belongs to no callback state");
    }
  }
  return state;
}

}  // namespace detail

/// Saves a training checkpoint atomically (on any failure an existing file at `path` is
/// unchanged): the model with `contents` as in a model file, the optimizer's state and the
/// whole TrainingState, callback states included as they are in `state`. value_error when a
/// weight, the optimizer state or a callback's tensor holds a NaN or infinity (load_checkpoint
/// would refuse the file; JSON cannot store them) or a callback state is not a JSON object;
/// file_error for I/O.
template <class Scalar>
void save_checkpoint(const std::string& path, const Sequential<Scalar>& model,
                     const OptimizerState& optimizer, const TrainingState& state,
                     const ModelFileContents& contents = {}) {
  detail::write_checkpoint_file(path, model, optimizer, detail::training_position(state), contents);
}

/// The same, exporting the optimizer's state (Optimizer::export_state()).
template <class Scalar>
void save_checkpoint(const std::string& path, const Sequential<Scalar>& model,
                     const Optimizer<Scalar>& optimizer, const TrainingState& state,
                     const ModelFileContents& contents = {}) {
  save_checkpoint(path, model, optimizer.export_state(), state, contents);
}

/// Loads a checkpoint written by save_checkpoint (or checkpoint_writer): model, optimizer state
/// and TrainingState, exactly as saved; the weights are converted when the file has the other
/// precision. file_error naming the file, the path and the field on anything invalid
/// ("checkpoint \"run.checkpoint\": training state/epoch_totals: field \"correct\" is missing").
template <class Scalar>
LoadedCheckpoint<Scalar> load_checkpoint(const std::string& path, const ModelLoadOptions& options = {}) {
  detail::CheckpointFile<Scalar> file = detail::read_checkpoint_file<Scalar>(path, options);
  TrainingState state;
  try {
    state = detail::training_state_from(file.position);
  } catch (const value_error& e) {
    throw file_error("checkpoint \"" + path + "\": " + e.what());
  }
  return LoadedCheckpoint<Scalar>{std::move(file.model), std::move(file.optimizer), std::move(state)};
}

/// A ModelCheckpoint save function that writes a complete training checkpoint to `path`
/// (atomically: a crash while writing leaves the previous file). "{epoch}" and "{step}" in the
/// path are replaced by the epoch ModelCheckpoint passes (0-based: the current one after a
/// batch, the finished one at an epoch end) and the global step (e.g. "run-{step}.checkpoint"
/// keeps one file per save). The ModelCheckpoint must be the last of FitOptions::callbacks, so that the
/// file holds every callback's work for the batch or epoch (value_error otherwise). In a
/// distributed fit() only rank 0 writes (TrainingContext::writes_files).
template <class Scalar>
typename ModelCheckpoint<Scalar>::SaveFunction checkpoint_writer(std::string path,
                                                                 ModelFileContents contents = {}) {
  if (path.empty()) throw file_error("checkpoint_writer: empty path");
  return [path = std::move(path), contents = std::move(contents)](TrainingContext<Scalar>& context,
                                                                  Index epoch, const Logs&) {
    if (context.model == nullptr || context.optimizer == nullptr || context.state == nullptr) {
      throw value_error("checkpoint_writer: the training context has no model, optimizer or state");
    }
    if (context.current_callback >= 0 &&
        context.current_callback + 1 != static_cast<Index>(context.callbacks.size())) {
      throw value_error(detail::make_message(
          "checkpoint_writer: its ModelCheckpoint is callback ", context.current_callback + 1, " of ",
          context.callbacks.size(),
          "; make it the last of FitOptions::callbacks, or the callbacks after it would miss this "
          "batch or epoch after a resume"));
    }
    if (!context.writes_files) return;  // a distributed run's other ranks: rank 0 writes the file
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
    save_checkpoint(file, *context.model, *context.optimizer, state, contents);
  };
}

}  // namespace seqlm
