// Where a training run stands, for callbacks and for bit-identical resume.
//
// fit() keeps a TrainingState up to date after every batch. A checkpoint is a copy of it
// taken together with the model's weights and Optimizer::export_state(); giving the copy back
// to fit() (with the restored model and optimizer) continues exactly where the run was:
//
//   epoch, batch     the next batch to train is `batch` of epoch `epoch`; batch 0 means the
//                    epoch has not begun (on_epoch_begin and the schedule run first)
//   rng              the generator handed to callbacks (TrainingContext::rng), e.g. for
//                    sampling text; an all-zero snapshot (the default) means "not started"
//                    and fit() seeds it from FitOptions::seed
//   schedule_state   LearningRateSchedule::state() (ReduceLROnPlateau's best, wait, cooldown)
//   epoch_totals     the epoch's running loss/accuracy sums up to `batch`, so the resumed
//                    epoch reports the same metrics as an uninterrupted one
//   history          the completed epochs
//
// The shuffling order and the dropout masks are pure functions of (seed, epoch, batch,
// thread), so they need no state here.
#pragma once

#include <map>
#include <string>

#include "../optim/optimizer.hpp"
#include "../parameter.hpp"
#include "../random.hpp"
#include "../tensor.hpp"
#include "history.hpp"
#include "metrics.hpp"

namespace seqlm {

template <class Scalar>
class Sequential;  // model/sequential.hpp

struct TrainingState {
  Index epoch = 0;
  Index batch = 0;
  Index global_step = 0;      // batches trained so far, over all epochs (skipped ones included)
  Index skipped_batches = 0;  // in the current epoch (NanPolicy::skip_batch)
  Index epoch_tokens = 0;     // input tokens of the current epoch so far
  Rng::Snapshot rng;
  std::map<std::string, double> schedule_state;
  MetricTotals epoch_totals;
  History history;

  bool rng_started() const {
    for (auto word : rng.words)
      if (word != 0) return true;
    return false;
  }
};

// What callbacks see and may change. `model` is null only when a callback is driven by hand
// (unit tests); `parameters` are the model's, in Sequential::parameters() order.
template <class Scalar>
struct TrainingContext {
  Sequential<Scalar>* model = nullptr;
  Optimizer<Scalar>* optimizer = nullptr;
  ParameterList<Scalar> parameters;
  TrainingState* state = nullptr;
  Rng* rng = nullptr;  // for callbacks that draw (sampling); its state is TrainingState::rng
  Index epochs = 0;
  Index batches_per_epoch = 0;
  // Set by a callback: in on_batch_end, fit() ends the epoch after this batch (validation and
  // on_epoch_end still run, as in Keras); in on_epoch_end, no further epoch starts.
  bool stop_training = false;
};

}  // namespace seqlm
