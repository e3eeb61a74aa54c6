/// \file
/// Callbacks: code that fit() runs at fixed points of training, in the order of
/// FitOptions::callbacks (Keras's callback semantics):
///
/// ```text
///   on_train_begin                        once, before anything (also when resuming)
///   on_epoch_begin(epoch)                 before the first batch of an epoch (not when resuming
///                                         in the middle of one)
///   on_batch_end(batch, logs)             after each optimizer step; logs: running "loss" and
///                                         "accuracy" of the epoch so far, "batch_loss",
///                                         "batch_accuracy", "lr"
///   on_epoch_end(epoch, logs)             after validation; logs: every epoch metric (see fit.hpp)
///   on_train_end(logs)                    once, with the last epoch's logs
/// ```
///
/// Every hook gets the TrainingContext: model, optimizer, parameters, TrainingState, the
/// callbacks' Rng, and the stop flag.
///
/// Resume: a callback whose behaviour depends on earlier epochs keeps that state itself, so it
/// exports it under a state_name() (export_state / import_state). export_callback_states()
/// collects them for a checkpoint (TrainingState::callback_states), and fit() gives them back
/// after on_train_begin when it resumes, so that a resumed run stops, saves and logs exactly
/// like the uninterrupted one. Provided here:
///
/// ```text
///   EarlyStopping      stop when a monitored metric stops improving; optionally restore the
///                      best weights
///   ModelCheckpoint    call a user save function when the monitored metric improves (or every
///                      epoch, or every N batches); the model-file code plugs in there
///   SamplingCallback   call a user function with the model every N batches (sample some text)
///   CsvLogger          one CSV row per epoch: atomic rewrite of the whole file, or append
///   LambdaCallback     user functions for any of the hooks
/// ```
#pragma once

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "../error.hpp"
#include "../io/atomic_file.hpp"
#include "../io/json.hpp"
#include "../tensor.hpp"
#include "metrics.hpp"
#include "monitor.hpp"
#include "state.hpp"

namespace seqlm {

template <class Scalar>
class Callback {
 public:
  virtual ~Callback() = default;

  /// Resumable state. A callback with state returns a name, unique among fit()'s callbacks
  /// ("" = no state to save, the default); import_state gets back what export_state gave
  /// (after on_train_begin) and throws value_error naming the field when it is not that.
  virtual std::string state_name() const { return ""; }
  virtual CallbackState export_state() const { return {}; }
  virtual void import_state(const CallbackState& state) { (void)state; }

  virtual void on_train_begin(TrainingContext<Scalar>& context) { (void)context; }
  virtual void on_epoch_begin(Index epoch, TrainingContext<Scalar>& context) {
    (void)epoch;
    (void)context;
  }
  virtual void on_batch_end(Index batch, const Logs& logs, TrainingContext<Scalar>& context) {
    (void)batch;
    (void)logs;
    (void)context;
  }
  virtual void on_epoch_end(Index epoch, const Logs& logs, TrainingContext<Scalar>& context) {
    (void)epoch;
    (void)logs;
    (void)context;
  }
  virtual void on_train_end(const Logs& logs, TrainingContext<Scalar>& context) {
    (void)logs;
    (void)context;
  }
};

// ---- early stopping ------------------------------------------------------------------------

struct EarlyStoppingOptions {
  std::string monitor = "val_loss";
  MonitorMode mode = MonitorMode::automatic;
  double min_delta = 0.0;               ///< smallest change that counts as an improvement (>= 0)
  Index patience = 0;                   ///< epochs without improvement before stopping (>= 0)
  bool restore_best = false;            ///< on stopping, put back the weights of the best epoch
  std::optional<double> baseline;       ///< improvements must also beat this to reset the wait
  std::string name = "early_stopping";  ///< state_name() in checkpoints
};

/// Keras's EarlyStopping, at the end of every epoch:
/// ```text
///   wait += 1
///   if improves(current, best): best = current, remember the weights (restore_best), and
///                               if there is no baseline or current beats it: wait = 0, done
///   if wait >= patience and epoch > 0: stop; restore the best weights (restore_best)
/// ```
/// Weights are restored only when it stops (as in Keras 2), not when the epochs run out.
/// Resumable: best, best_epoch, wait, stopped_epoch and (restore_best) the best weights.
template <class Scalar>
class EarlyStopping final : public Callback<Scalar> {
 public:
  explicit EarlyStopping(const EarlyStoppingOptions& options = {})
      : options_(options), monitor_(options.monitor, options.mode, options.min_delta) {
    if (options.patience < 0) {
      throw value_error(detail::make_message("EarlyStopping: patience must be >= 0, got ", options.patience));
    }
    reset();
  }

  void on_train_begin(TrainingContext<Scalar>&) override { reset(); }

  void on_epoch_end(Index epoch, const Logs& logs, TrainingContext<Scalar>& context) override {
    const double current = monitor_.value("EarlyStopping", logs);
    if (options_.restore_best && best_weights_.empty()) save_weights(context.parameters);
    ++wait_;
    if (monitor_.improves(current, best_)) {
      best_ = current;
      best_epoch_ = epoch;
      if (options_.restore_best) save_weights(context.parameters);
      if (!options_.baseline || monitor_.improves(current, *options_.baseline)) {
        wait_ = 0;
        return;  // an improvement never stops training
      }
    }
    if (wait_ >= options_.patience && epoch > 0) {
      stopped_epoch_ = epoch;
      context.stop_training = true;
      if (options_.restore_best && !best_weights_.empty()) restore_weights(context.parameters);
    }
  }

  double best() const { return best_; }
  Index best_epoch() const { return best_epoch_; }
  Index wait() const { return wait_; }
  /// The epoch at which training was stopped, or -1.
  Index stopped_epoch() const { return stopped_epoch_; }

  std::string state_name() const override { return options_.name; }

  /// values {"best", "best_epoch", "wait", "stopped_epoch"}; tensors "best_weights/<parameter>"
  /// (only with restore_best, once an epoch has ended).
  CallbackState export_state() const override {
    CallbackState state;
    state.values.set("best", detail::exact_json_number(best_))
        .set("best_epoch", best_epoch_)
        .set("wait", wait_)
        .set("stopped_epoch", stopped_epoch_);
    for (size_t k = 0; k < best_weights_.size(); ++k) {
      state.tensors.emplace_back("best_weights/" + best_names_[k], best_weights_[k].template cast<double>());
    }
    return state;
  }

  void import_state(const CallbackState& state) override {
    const std::string where = "EarlyStopping '" + options_.name + "': import_state";
    json::ObjectReader read(state.values, where, &json::throw_as<value_error>);
    const double best = detail::exact_number(read, "best");
    const Index best_epoch = read.integer("best_epoch", -1);  // -1 before it happens
    const Index wait = read.count("wait");
    const Index stopped_epoch = read.integer("stopped_epoch", -1);
    read.finish();
    std::vector<std::string> names;
    std::vector<Matrix<Scalar>> weights;
    for (const auto& [name, values] : state.tensors) {
      const std::string prefix = "best_weights/";
      if (name.compare(0, prefix.size(), prefix) != 0) {
        read.fail_here("unexpected tensor \"" + name + "\" (expected \"best_weights/<parameter>\")");
      }
      if (!options_.restore_best) read.fail_here("the state has best weights but restore_best is off");
      names.push_back(name.substr(prefix.size()));
      weights.push_back(values.template cast<Scalar>());
    }
    // Nothing changes unless the whole state is valid.
    best_names_ = std::move(names);
    best_weights_ = std::move(weights);
    best_ = best;
    best_epoch_ = best_epoch;
    wait_ = wait;
    stopped_epoch_ = stopped_epoch;
  }

 private:
  void reset() {
    wait_ = 0;
    best_ = monitor_.initial_best();
    best_epoch_ = -1;
    stopped_epoch_ = -1;
    best_weights_.clear();
    best_names_.clear();
  }

  void save_weights(const ParameterList<Scalar>& parameters) {
    best_weights_.resize(parameters.size());
    best_names_.resize(parameters.size());
    for (size_t k = 0; k < parameters.size(); ++k) {
      best_weights_[k] = *parameters[k].value;
      best_names_[k] = parameters[k].name;
    }
  }

  void restore_weights(const ParameterList<Scalar>& parameters) const {
    if (parameters.size() != best_weights_.size()) {
      throw value_error(detail::make_message("EarlyStopping: the model has ", parameters.size(),
                                             " parameters, the saved best weights ", best_weights_.size()));
    }
    for (size_t k = 0; k < parameters.size(); ++k) {
      if (parameters[k].name != best_names_[k]) {
        throw value_error("EarlyStopping: parameter " + std::to_string(k) + " is '" + parameters[k].name +
                          "', the saved best weights have '" + best_names_[k] + "' there");
      }
      detail::check_shape("EarlyStopping", parameters[k].name.c_str(), *parameters[k].value,
                          best_weights_[k].rows(), best_weights_[k].cols());
      *parameters[k].value = best_weights_[k];
    }
  }

  EarlyStoppingOptions options_;
  Monitor monitor_;
  double best_ = 0.0;
  Index best_epoch_ = -1;
  Index wait_ = 0;
  Index stopped_epoch_ = -1;
  std::vector<Matrix<Scalar>> best_weights_;
  std::vector<std::string> best_names_;  // the parameter names of best_weights_
};

// ---- checkpoints ---------------------------------------------------------------------------

struct CheckpointOptions {
  std::string monitor = "val_loss";
  MonitorMode mode = MonitorMode::automatic;
  bool save_best_only = true;             ///< false: save after every epoch
  Index every_batches = 0;                ///< `> 0`: also save after every N-th batch of the run (for resume)
  std::string name = "model_checkpoint";  ///< state_name() in checkpoints
};

/// Calls save(context, epoch, logs) when the monitored metric improves (Keras's ModelCheckpoint
/// with save_best_only: improves <=> strictly better than every earlier epoch), or after every
/// epoch, and optionally every N batches (logs are then the batch logs). The save function
/// writes the model file or checkpoint; context.state is the position to resume from.
/// checkpoint_writer(path) (train/checkpoint.hpp) is a save function that writes a
/// complete resume checkpoint. Resumable: best and the number of epoch-end saves.
template <class Scalar>
class ModelCheckpoint final : public Callback<Scalar> {
 public:
  using SaveFunction = std::function<void(TrainingContext<Scalar>& context, Index epoch, const Logs& logs)>;

  explicit ModelCheckpoint(SaveFunction save, const CheckpointOptions& options = {})
      : save_(std::move(save)), options_(options), monitor_(options.monitor, options.mode) {
    if (!save_) throw value_error("ModelCheckpoint: empty save function");
    if (options.every_batches < 0) {
      throw value_error(
          detail::make_message("ModelCheckpoint: every_batches must be >= 0, got ", options.every_batches));
    }
    best_ = monitor_.initial_best();
  }

  void on_train_begin(TrainingContext<Scalar>&) override { best_ = monitor_.initial_best(); }

  void on_batch_end(Index, const Logs& logs, TrainingContext<Scalar>& context) override {
    if (options_.every_batches <= 0 || context.state == nullptr) return;
    if (context.state->global_step % options_.every_batches == 0) save_(context, context.state->epoch, logs);
  }

  void on_epoch_end(Index epoch, const Logs& logs, TrainingContext<Scalar>& context) override {
    if (!options_.save_best_only) {
      save_(context, epoch, logs);
      ++saves_;
      return;
    }
    const double current = monitor_.value("ModelCheckpoint", logs);
    if (monitor_.improves(current, best_)) {
      best_ = current;
      save_(context, epoch, logs);
      ++saves_;
    }
  }

  double best() const { return best_; }
  /// Epoch-end saves so far.
  Index saves() const { return saves_; }

  std::string state_name() const override { return options_.name; }
  CallbackState export_state() const override {
    CallbackState state;
    state.values.set("best", detail::exact_json_number(best_)).set("saves", saves_);
    return state;
  }
  void import_state(const CallbackState& state) override {
    json::ObjectReader read(state.values, "ModelCheckpoint '" + options_.name + "': import_state",
                            &json::throw_as<value_error>);
    best_ = detail::exact_number(read, "best");
    saves_ = read.count("saves");
    read.finish();
  }

 private:
  SaveFunction save_;
  CheckpointOptions options_;
  Monitor monitor_;
  double best_ = 0.0;
  Index saves_ = 0;
};

// ---- sampling --------------------------------------------------------------------------------

/// Calls sample(model, context) after every N-th batch of the run (counted over epochs), and
/// after every epoch when at_epoch_end is set: the place to print generated text while a model
/// learns. context.rng is a generator whose state is part of TrainingState (resumable).
template <class Scalar>
class SamplingCallback final : public Callback<Scalar> {
 public:
  using SampleFunction = std::function<void(Sequential<Scalar>& model, TrainingContext<Scalar>& context)>;

  SamplingCallback(Index every_batches, SampleFunction sample, bool at_epoch_end = false)
      : every_batches_(every_batches), sample_(std::move(sample)), at_epoch_end_(at_epoch_end) {
    if (every_batches < 0) {
      throw value_error(
          detail::make_message("SamplingCallback: every_batches must be >= 0, got ", every_batches));
    }
    if (!sample_) throw value_error("SamplingCallback: empty sample function");
  }

  void on_batch_end(Index, const Logs&, TrainingContext<Scalar>& context) override {
    if (every_batches_ <= 0 || context.state == nullptr) return;
    if (context.state->global_step % every_batches_ == 0) call(context);
  }

  void on_epoch_end(Index, const Logs&, TrainingContext<Scalar>& context) override {
    if (at_epoch_end_) call(context);
  }

  Index calls() const { return calls_; }

 private:
  void call(TrainingContext<Scalar>& context) {
    if (context.model == nullptr) throw value_error("SamplingCallback: the training context has no model");
    sample_(*context.model, context);
    ++calls_;
  }

  Index every_batches_;
  SampleFunction sample_;
  bool at_epoch_end_;
  Index calls_ = 0;
};

// ---- CSV history -------------------------------------------------------------------------------

enum class CsvMode {
  rewrite,  ///< after every epoch, write the whole file atomically (always a complete CSV)
  append,   ///< append one line per epoch; the header is written when the file is new or empty,
            ///< and an existing file must start with the same header (file_error otherwise)
};

/// One row per epoch: "epoch,<metric>,<metric>,..." with the metrics in name order (as Keras's
/// CSVLogger) and numbers with 10 significant digits. The columns are those of the first epoch
/// logged (a later metric not among them is a value_error; a missing one is written "NA").
/// Write failures are file_error naming the path. Resumable: the columns and, in rewrite mode,
/// the rows so far (a resumed run rewrites the same file). In a distributed fit() only rank 0
/// writes (TrainingContext::writes_files); the other ranks keep the same state.
template <class Scalar>
class CsvLogger final : public Callback<Scalar> {
 public:
  explicit CsvLogger(std::string path, CsvMode mode = CsvMode::rewrite, std::string name = "csv_logger")
      : path_(std::move(path)), mode_(mode), name_(std::move(name)) {
    if (path_.empty()) throw file_error("CsvLogger: empty path");
  }

  std::string state_name() const override { return name_; }
  CallbackState export_state() const override {
    json::Value columns = json::Value::array(), rows = json::Value::array();
    for (const std::string& column : columns_) columns.push_back(column);
    for (const std::string& row : rows_) rows.push_back(row);
    CallbackState state;
    state.values.set("columns", std::move(columns)).set("rows", std::move(rows));
    return state;
  }
  void import_state(const CallbackState& state) override {
    std::vector<std::string> columns, rows;
    try {
      for (const json::Value& column : state.values.get_array("columns"))
        columns.push_back(column.as_string());
      for (const json::Value& row : state.values.get_array("rows")) rows.push_back(row.as_string());
    } catch (const value_error& e) {
      throw value_error("CsvLogger '" + name_ + "': import_state: " + e.what());
    }
    columns_ = std::move(columns);
    rows_ = std::move(rows);
    header_checked_ = false;
  }

  void on_train_begin(TrainingContext<Scalar>&) override {
    columns_.clear();
    rows_.clear();
    header_checked_ = false;
  }

  void on_epoch_end(Index epoch, const Logs& logs, TrainingContext<Scalar>& context) override {
    if (columns_.empty()) {
      for (const auto& entry : logs) columns_.push_back(entry.first);
    }
    for (const auto& entry : logs) {
      if (std::find(columns_.begin(), columns_.end(), entry.first) == columns_.end()) {
        throw value_error("CsvLogger: metric '" + entry.first + "' is not among the columns of \"" + path_ +
                          "\" (" + header() + ")");
      }
    }
    std::string row = std::to_string(epoch);
    for (const std::string& column : columns_) {
      const auto it = logs.find(column);
      row += "," + (it == logs.end() ? std::string("NA") : format_number(it->second));
    }
    if (!context.writes_files) {  // a distributed run's other ranks: rank 0 writes the file
      if (mode_ == CsvMode::rewrite) rows_.push_back(std::move(row));
      return;
    }
    if (mode_ == CsvMode::append) {
      if (!header_checked_) {
        const std::optional<std::string> existing = first_line();
        if (!existing || existing->empty()) {
          append_line(path_, header());
        } else if (*existing != header()) {
          throw file_error("CsvLogger: \"" + path_ + "\" starts with the header '" + *existing +
                           "', expected '" + header() + "'");
        }
        header_checked_ = true;
      }
      append_line(path_, row);
    } else {
      rows_.push_back(std::move(row));
      std::string text = header() + "\n";
      for (const std::string& line : rows_) text += line + "\n";
      write_file_atomically(path_, text);
    }
  }

  /// "epoch,accuracy,loss,..." (empty before the first epoch).
  std::string header() const {
    if (columns_.empty()) return "";
    std::string text = "epoch";
    for (const std::string& column : columns_) text += "," + column;
    return text;
  }

  static std::string format_number(double value) {
    if (value != value) return "nan";
    char text[64];
    std::snprintf(text, sizeof text, "%.10g", value);
    return text;
  }

 private:
  // The existing file's first line, or nothing when there is no file.
  std::optional<std::string> first_line() const {
    std::ifstream in(path_);
    if (!in) return std::nullopt;
    std::string line;
    std::getline(in, line);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return line;
  }

  std::string path_;
  CsvMode mode_;
  std::string name_;
  std::vector<std::string> columns_;
  std::vector<std::string> rows_;
  bool header_checked_ = false;
};

// ---- user functions --------------------------------------------------------------------------

/// Any of the hooks as std::function; unset ones do nothing.
template <class Scalar>
class LambdaCallback final : public Callback<Scalar> {
 public:
  std::function<void(TrainingContext<Scalar>&)> train_begin;
  std::function<void(Index epoch, TrainingContext<Scalar>&)> epoch_begin;
  std::function<void(Index batch, const Logs&, TrainingContext<Scalar>&)> batch_end;
  std::function<void(Index epoch, const Logs&, TrainingContext<Scalar>&)> epoch_end;
  std::function<void(const Logs&, TrainingContext<Scalar>&)> train_end;

  void on_train_begin(TrainingContext<Scalar>& c) override {
    if (train_begin) train_begin(c);
  }
  void on_epoch_begin(Index epoch, TrainingContext<Scalar>& c) override {
    if (epoch_begin) epoch_begin(epoch, c);
  }
  void on_batch_end(Index batch, const Logs& logs, TrainingContext<Scalar>& c) override {
    if (batch_end) batch_end(batch, logs, c);
  }
  void on_epoch_end(Index epoch, const Logs& logs, TrainingContext<Scalar>& c) override {
    if (epoch_end) epoch_end(epoch, logs, c);
  }
  void on_train_end(const Logs& logs, TrainingContext<Scalar>& c) override {
    if (train_end) train_end(logs, c);
  }
};

// ---- callback state for checkpoints --------------------------------------------------------

/// The state of every callback that has one (state_name() not empty), by name: what a
/// checkpoint stores in TrainingState::callback_states. value_error when two callbacks share a
/// name.
template <class Scalar>
std::map<std::string, CallbackState> export_callback_states(const std::vector<Callback<Scalar>*>& callbacks) {
  std::map<std::string, CallbackState> states;
  for (const Callback<Scalar>* callback : callbacks) {
    if (callback == nullptr) continue;
    const std::string name = callback->state_name();
    if (name.empty()) continue;
    if (states.count(name) != 0) {
      throw value_error("export_callback_states: two callbacks have the state name '" + name +
                        "'; give one of them another name (its options' `name`)");
    }
    states.emplace(name, callback->export_state());
  }
  return states;
}

/// Gives each callback its state from `states` (callbacks without an entry keep theirs).
/// value_error when two callbacks share a name or `states` has an entry no callback claims
/// (remove it from TrainingState::callback_states to resume without that callback).
template <class Scalar>
void import_callback_states(const std::vector<Callback<Scalar>*>& callbacks,
                            const std::map<std::string, CallbackState>& states) {
  std::set<std::string> names;
  for (Callback<Scalar>* callback : callbacks) {
    if (callback == nullptr) continue;
    const std::string name = callback->state_name();
    if (name.empty()) continue;
    if (!names.insert(name).second) {
      throw value_error("import_callback_states: two callbacks have the state name '" + name +
                        "'; give one of them another name (its options' `name`)");
    }
    const auto it = states.find(name);
    if (it != states.end()) callback->import_state(it->second);
  }
  for (const auto& entry : states) {
    if (names.count(entry.first) == 0) {
      throw value_error("import_callback_states: the training state has state for a callback named '" +
                        entry.first +
                        "', but no callback has that name (remove the entry from "
                        "TrainingState::callback_states to resume without it)");
    }
  }
}

}  // namespace seqlm
