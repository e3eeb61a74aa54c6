/// \file
/// Where a training run stands, for callbacks and for bit-identical resume.
///
/// fit() keeps a TrainingState up to date after every batch. A checkpoint is a copy of it
/// taken together with the model's weights and Optimizer::export_state(); giving the copy back
/// to fit() (with the restored model and optimizer) continues exactly where the run was:
///
/// ```text
///   epoch, batch     the next batch to train is `batch` of epoch `epoch`; batch 0 means the
///                    epoch has not begun (on_epoch_begin and the schedule run first)
///   rng              the generator handed to callbacks (TrainingContext::rng), e.g. for
///                    sampling text; an all-zero snapshot (the default) means "not started"
///                    and fit() seeds it from FitOptions::seed
///   schedule_state   LearningRateSchedule::state() (ReduceLROnPlateau's best, wait, cooldown)
///   epoch_totals     the epoch's running loss/accuracy sums up to `batch`, so the resumed
///                    epoch reports the same metrics as an uninterrupted one
///   history          the completed epochs
///   stop_training    a callback asked to stop (a resumed run stops where the original did)
///   batches_per_epoch  set by fit(); a resume with another batch count (other data or batch
///                    size) is refused
///   callback_states  the callbacks' own state (EarlyStopping's wait and best, ...) by the
///                    callback's state_name(): fit() gives it back to the callbacks when it
///                    starts and then clears it; export_callback_states(context.callbacks)
///                    (train/callbacks.hpp) fills a copy for a checkpoint, and fit() fills it
///                    again when it returns
/// ```
///
/// The shuffling order and the dropout masks are pure functions of (seed, epoch, batch,
/// thread), so they need no state here. train/checkpoint.hpp writes all of it to a file.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "../io/json.hpp"
#include "../optim/optimizer.hpp"
#include "../parameter.hpp"
#include "../random.hpp"
#include "../tensor.hpp"
#include "history.hpp"
#include "metrics.hpp"

namespace seqlm {

template <class Scalar>
class Sequential;  // model/sequential.hpp
template <class Scalar>
class Callback;  // train/callbacks.hpp

/// What a callback needs to continue after a resume: small values as a JSON object and,
/// optionally, whole matrices (EarlyStopping's best weights), stored as doubles (a float
/// converts exactly).
struct CallbackState {
  json::Value values = json::Value::object();
  std::vector<std::pair<std::string, Matrix<double>>> tensors;
};

namespace detail {

// A double as JSON without loss: finite values as numbers (JSON's shortest round-trip form,
// parsed back to the same bits, -0 included), the others as the strings "inf", "-inf" and
// "nan" (JSON has no literal for them; a NaN comes back as a quiet NaN, sign and payload
// dropped).
inline json::Value exact_json_number(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  return value;
}

// The inverse of exact_json_number; fail("<problem>") for anything else.
template <class Fail>
double exact_number_from_json(const json::Value& value, const Fail& fail) {
  if (value.is_number()) return value.as_double();
  if (value.is_string()) {
    const std::string& text = value.as_string();
    if (text == "inf") return std::numeric_limits<double>::infinity();
    if (text == "-inf") return -std::numeric_limits<double>::infinity();
    if (text == "nan") return std::numeric_limits<double>::quiet_NaN();
    fail("is the string \"" + text + "\", expected a number, \"inf\", \"-inf\" or \"nan\"");
  } else {
    fail(std::string("is ") + value.type_name() + ", expected a number");
  }
  return 0.0;  // not reached: fail throws
}

// The field `field` of `read`, written by exact_json_number (the reader's error otherwise).
inline double exact_number(json::ObjectReader& read, const std::string& field) {
  return exact_number_from_json(read.value(field),
                                [&](const std::string& problem) { read.fail(field, problem); });
}

// Element k of `read`, written by exact_json_number.
inline double exact_number(const json::ArrayReader& read, std::size_t k) {
  return exact_number_from_json(read.value(k), [&](const std::string& problem) { read.fail(k, problem); });
}

}  // namespace detail

struct TrainingState {
  Index epoch = 0;
  Index batch = 0;
  Index global_step = 0;      ///< batches trained so far, over all epochs (skipped ones included)
  Index skipped_batches = 0;  ///< in the current epoch (NanPolicy::skip_batch)
  Index epoch_tokens = 0;     ///< input tokens of the current epoch so far
  Rng::Snapshot rng;
  std::map<std::string, double> schedule_state;
  MetricTotals epoch_totals;
  History history;
  bool stop_training = false;
  Index batches_per_epoch = 0;  ///< 0: not known yet
  std::map<std::string, CallbackState> callback_states;

  bool rng_started() const {
    for (auto word : rng.words)
      if (word != 0) return true;
    return false;
  }
};

/// What callbacks see and may change. `model` is null only when a callback is driven by hand
/// (unit tests); `parameters` are the model's, in Sequential::parameters() order.
template <class Scalar>
struct TrainingContext {
  Sequential<Scalar>* model = nullptr;
  Optimizer<Scalar>* optimizer = nullptr;
  ParameterList<Scalar> parameters;
  TrainingState* state = nullptr;
  Rng* rng = nullptr;  ///< for callbacks that draw (sampling); its state is TrainingState::rng
  Index epochs = 0;
  Index batches_per_epoch = 0;
  /// fit()'s callbacks (FitOptions::callbacks) and the position of the one running now, for
  /// export_callback_states() and the checkpoint writer.
  std::vector<Callback<Scalar>*> callbacks;
  Index current_callback = -1;
  /// Set by a callback: in on_batch_end, fit() ends the epoch after this batch (validation and
  /// on_epoch_end still run, as in Keras); in on_epoch_end, no further epoch starts.
  bool stop_training = false;
  /// Whether this process writes files: false on every process of a distributed fit() but
  /// rank 0 (FitOptions::process_group). CsvLogger and checkpoint_writer then keep their state
  /// as everywhere else but write nothing, so every rank can run the same callbacks.
  bool writes_files = true;
};

}  // namespace seqlm
