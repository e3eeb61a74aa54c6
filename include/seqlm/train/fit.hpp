/// \file
/// fit() and evaluate(): the training loop of a Sequential language model.
///
/// ```cpp
///   Adam<float> optimizer({.learning_rate = 0.01});
///   FitOptions<float> options;
///   options.epochs = 20;
///   options.batch_size = 64;
///   options.callbacks = {&early_stopping, &csv_logger};
///   History history = fit(model, optimizer, train_windows, options, &validation_windows);
/// ```
///
/// One epoch (see docs/training.md):
///
/// ```text
///   lr <- schedule.on_epoch_begin(epoch, lr);  callbacks.on_epoch_begin(epoch)
///   (stateful: every sequence's recurrent state back to zeros)
///   for k in batches of BatchSchedule(train.size(), batch_size, {shuffle, seed}) epoch `epoch`:
///     lr <- schedule.on_batch_begin(global step, lr)
///     train.fill(indices_k, batch)
///     gradient of the batch's mean loss (data-parallel over `threads`, data_parallel.hpp)
///     NaN/inf in the loss or a gradient -> numeric_error (NanPolicy::stop) or skip the batch
///     optimizer.step(parameters)                     (clipping: the optimizer's ClipOptions)
///     progress; callbacks.on_batch_end(k, logs)
///   logs = training metrics + evaluate(model, validation) as val_* + lr, seconds, tokens_per_second
///   lr <- schedule.on_epoch_end(epoch, logs, lr);  history.record(epoch, logs)
///   progress summary; callbacks.on_epoch_end(epoch, logs); stop if a callback asked to
/// ```
///
/// Epoch logs: loss, accuracy, perplexity, bits_per_token (each also val_* with validation
/// data), lr (the rate used in the epoch), seconds, tokens_per_second (input tokens), and
/// skipped_batches with NanPolicy::skip_batch.
///
/// Any dataset works that has `Index size() const` and `void fill(IndexSpan, Batch&) const`
/// (WindowDataset, PrefixSequences, LineSequences, ...). Validation data is either a second
/// dataset or, with FitOptions::validation_split, the last part of the training one.
///
/// With FitOptions::process_group (MPI ranks: <seqlm/distributed/mpi.hpp>, docs/distributed.md)
/// every process runs this same loop on its own copy of the model: it fills only its share of
/// each batch, the gradients are gathered and summed in one fixed order, and every process
/// takes the same optimizer step; validation batches are spread over the processes too.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <ostream>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "../data/batching.hpp"
#include "../data/split.hpp"
#include "../error.hpp"
#include "../math/simd.hpp"
#include "../model/sequential.hpp"
#include "../optim/optimizer.hpp"
#include "../parallel.hpp"
#include "callbacks.hpp"
#include "data_parallel.hpp"
#include "history.hpp"
#include "metrics.hpp"
#include "process_group.hpp"
#include "progress.hpp"
#include "schedules.hpp"
#include "state.hpp"
#include "step.hpp"

namespace seqlm {

/// What to do when a batch's loss or gradient is NaN or infinite.
enum class NanPolicy {
  stop,        ///< throw numeric_error naming the epoch and batch (nothing is updated)
  skip_batch,  ///< leave the weights and optimizer untouched, count it in "skipped_batches"
};

template <class Scalar>
struct FitOptions {
  Index epochs = 1;        ///< train until TrainingState::epoch reaches this
  Index batch_size = 32;   ///< sequences per batch (the last one may be smaller)
  bool shuffle = true;     ///< a new order every epoch, a function of (seed, epoch)
  std::uint64_t seed = 0;  ///< shuffling, dropout and the callbacks' generator
  Index threads = 1;       ///< data-parallel workers (>= 1)
  /// Threads inside each large matrix product (>= 1; parallel.hpp), set for the run and put
  /// back afterwards. Every worker's products use them: up to threads * gemm_threads busy
  /// threads, which must not exceed the machine's hardware threads when gemm_threads > 1
  /// (value_error) unless allow_oversubscription is set. No effect without OpenMP.
  int gemm_threads = 1;
  bool allow_oversubscription = false;
  Index truncate = 0;  ///< truncated BPTT: gradients flow back this many steps (0: all)
  /// Stateful training (Keras's stateful=True, char-rnn's truncated BPTT): sequence b of every
  /// batch continues sequence b of the batch before, so the recurrent state after a batch is
  /// where the next one starts; it goes back to zeros at the start of every epoch. Needs
  /// batches in order (shuffle = false) and all of batch_size sequences (the training set's
  /// size a multiple of batch_size); a StreamDataset (data/streams.hpp) with
  /// streams == batch_size is the dataset made for it. Validation data is read the same way,
  /// in order with the state carried (validation_batch_size sequences, its size a multiple of
  /// it), on every process. A run resumes only at an epoch boundary (the carried state is not
  /// in TrainingState).
  bool stateful = false;
  NanPolicy on_nan = NanPolicy::stop;
  Verbosity verbosity = Verbosity::automatic;
  std::ostream* output = nullptr;   ///< progress output; null: std::cout
  Index validation_batch_size = 0;  ///< 0: batch_size
  /// Keras's validation_split, in [0, 1): the LAST fraction of the training sequences,
  /// [floor(n (1 - validation_split)), n), is held out before any shuffling and evaluated as the
  /// validation data after every epoch (views of `train`, nothing is copied; data/split.hpp).
  /// 0: no split. Giving it together with a validation dataset is a value_error.
  double validation_split = 0.0;
  LearningRateSchedule* schedule = nullptr;
  std::vector<Callback<Scalar>*> callbacks;  ///< run in this order
  /// Data-parallel over processes as well (null: this process alone; see process_group.hpp).
  /// Every process calls fit() with the same model, data, options and state; each runs
  /// `threads` workers and fills only its share of every batch, and the weights after training
  /// are bit-identical to one process with threads = size x threads. Only rank 0 prints
  /// progress; callbacks run on every process (so that early stopping and schedules agree),
  /// with TrainingContext::writes_files true on rank 0 alone (CsvLogger and checkpoint_writer
  /// write only there).
  ProcessGroup* process_group = nullptr;
};

/// The "no validation data" dataset type, the default of fit()'s ValidSet.
struct NoValidation {
  Index size() const { return 0; }
  void fill(IndexSpan, Batch&) const {}
};

/// Loss, accuracy, perplexity and bits per token of `model` on every example of `data`, in
/// order, batch_size examples at a time (inference: no dropout). stateful: sequence b of every
/// batch continues sequence b of the batch before (the recurrent state is carried, from zeros;
/// data.size() must be a multiple of batch_size), as FitOptions::stateful trains.
template <class Scalar, class Dataset>
EvaluationResult evaluate(Sequential<Scalar>& model, const Dataset& data, Index batch_size,
                          bool stateful = false) {
  detail::check_positive("evaluate", "batch size", batch_size);
  if (data.size() <= 0) throw value_error("evaluate: the data set is empty");
  if (stateful && data.size() % batch_size != 0) {
    throw value_error(detail::make_message("evaluate: stateful evaluation needs whole batches, but the ",
                                           data.size(), " sequences are not a multiple of the batch size ",
                                           batch_size));
  }
  const BatchSchedule schedule(data.size(), batch_size, BatchOptions{false, 0, false});
  Batch batch;
  MetricTotals totals;
  TrainStep<Scalar> step(model);
  typename Sequential<Scalar>::State state;
  if (stateful) state = model.make_state(batch_size);
  for (Index k = 0; k < schedule.batch_count(); ++k) {
    data.fill(schedule.batch(k), batch);
    totals.add(step.evaluate(batch, stateful ? &state : nullptr));
  }
  return totals.result();
}

/// evaluate() over the processes of `group`: process p evaluates validation batches
/// [p V / size, (p + 1) V / size) of the V batches, and the per-batch results are summed in
/// batch order on every process, so the result equals evaluate() on one process exactly.
/// Collective: every process calls it with the same data and batch_size.
template <class Scalar, class Dataset>
EvaluationResult evaluate(Sequential<Scalar>& model, const Dataset& data, Index batch_size,
                          ProcessGroup& group) {
  detail::check_positive("evaluate", "batch size", batch_size);
  if (data.size() <= 0) throw value_error("evaluate: the data set is empty");
  const BatchSchedule schedule(data.size(), batch_size, BatchOptions{false, 0, false});
  const Index batches = schedule.batch_count(), processes = group.size(), rank = group.rank();
  // One record of four doubles per batch: loss, counted weight, correct, counted.
  constexpr size_t record = 4 * sizeof(double);
  std::vector<size_t> offsets(static_cast<size_t>(processes) + 1);
  for (Index q = 0; q <= processes; ++q)
    offsets[static_cast<size_t>(q)] = static_cast<size_t>(q * batches / processes) * record;
  std::vector<unsigned char> records(static_cast<size_t>(batches) * record);
  Batch batch;
  TrainStep<Scalar> step(model);
  for (Index k = rank * batches / processes; k < (rank + 1) * batches / processes; ++k) {
    data.fill(schedule.batch(k), batch);
    const CrossEntropyResult r = step.evaluate(batch);
    const double values[4] = {r.loss, r.counted_weight, static_cast<double>(r.correct),
                              static_cast<double>(r.counted)};
    std::memcpy(records.data() + static_cast<size_t>(k) * record, values, record);
  }
  group.allgather(records, offsets, "the validation results");
  MetricTotals totals;
  for (Index k = 0; k < batches; ++k) {
    double values[4];
    std::memcpy(values, records.data() + static_cast<size_t>(k) * record, record);
    CrossEntropyResult r;
    r.loss = values[0];
    r.counted_weight = values[1];
    r.correct = static_cast<Index>(values[2]);
    r.counted = static_cast<Index>(values[3]);
    totals.add(r);
  }
  return totals.result();
}

namespace detail {

// Whether a dataset pads a batch to its longest sequence and can say how long an example is
// (LineSequences): then every process pads its share to the longest sequence of the whole batch.
template <class Dataset, class = void>
struct has_steps_of : std::false_type {};
template <class Dataset>
struct has_steps_of<Dataset, std::void_t<decltype(std::declval<const Dataset&>().steps_of(Index{})),
                                         decltype(std::declval<const Dataset&>().fill(
                                             IndexSpan{}, std::declval<Batch&>(), Index{}))>>
    : std::true_type {};

// Fills sequences [first, end) of the batch `indices` into `part`, shaped as the whole batch
// would be (the same number of steps).
template <class Dataset>
void fill_share(const Dataset& data, IndexSpan indices, Index first, Index end, Batch& part) {
  const IndexSpan share(indices.data + first, end - first);
  if constexpr (has_steps_of<Dataset>::value) {
    Index steps = 0;
    for (const Index example : indices) steps = std::max(steps, data.steps_of(example));
    data.fill(share, part, steps);
  } else {
    data.fill(share, part);
  }
}

// Every process of `group` must run the same job: the values (named by `names`) are compared
// with rank 0's and a distributed_error names the first that differs.
inline void check_same_everywhere(ProcessGroup& group, const std::vector<const char*>& names,
                                  const std::vector<double>& values) {
  const size_t bytes = values.size() * sizeof(double);
  std::vector<unsigned char> all(bytes * static_cast<size_t>(group.size()));
  std::memcpy(all.data() + bytes * static_cast<size_t>(group.rank()), values.data(), bytes);
  group.allgather(all, equal_offsets(group.size(), bytes), "fit()'s start-up check");
  for (Index p = 1; p < group.size(); ++p) {
    for (size_t k = 0; k < values.size(); ++k) {
      double mine = 0.0, theirs = 0.0;
      std::memcpy(&mine, all.data() + k * sizeof(double), sizeof(double));
      std::memcpy(&theirs, all.data() + bytes * static_cast<size_t>(p) + k * sizeof(double), sizeof(double));
      if (mine != theirs) {
        throw distributed_error(make_message("fit: ", names[k], " is ", mine, " on process 0 but ", theirs,
                                             " on process ", p, "; every process must run the same job"));
      }
    }
  }
}

inline double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// "" when every gradient is finite, otherwise the name of the first parameter that is not.
template <class Scalar>
std::string first_non_finite_gradient(const ParameterList<Scalar>& parameters) {
  for (const auto& p : parameters) {
    if (!simd::all_finite(p.gradient->data(), p.gradient->size())) return p.name;
  }
  return "";
}

inline void check_fit_options(Index epochs, Index batch_size, Index threads, Index truncate,
                              Index validation_batch_size) {
  if (epochs < 0) throw value_error(make_message("fit: epochs must be >= 0, got ", epochs));
  check_positive("fit", "batch_size", batch_size);
  check_positive("fit", "threads", threads);
  if (truncate < 0) throw value_error(make_message("fit: truncate must be >= 0, got ", truncate));
  if (validation_batch_size < 0) {
    throw value_error(make_message("fit: validation_batch_size must be >= 0, got ", validation_batch_size));
  }
}

// The GEMM threads rule of FitOptions (see gemm_threads there). `hardware` is
// std::thread::hardware_concurrency() (0 when unknown: not checked).
inline void check_gemm_threads(Index threads, int gemm_threads, bool allow_oversubscription,
                               unsigned hardware) {
  if (gemm_threads < 1) throw value_error(make_message("fit: gemm_threads must be >= 1, got ", gemm_threads));
  if (gemm_threads == 1 || allow_oversubscription || hardware == 0 || !gemm_threads_supported) return;
  if (threads * gemm_threads > static_cast<Index>(hardware)) {
    throw value_error(make_message("fit: threads (", threads, ") x gemm_threads (", gemm_threads,
                                   ") = ", threads * gemm_threads, " busy threads, but this machine has ",
                                   hardware, "; lower one of them, or set allow_oversubscription"));
  }
}

// The requirements of FitOptions::stateful (see there).
inline void check_stateful_options(bool shuffle, Index train_size, Index batch_size, Index validation_size,
                                   Index validation_batch_size) {
  if (shuffle) {
    throw value_error("fit: stateful training reads the batches in order; set FitOptions::shuffle = false");
  }
  if (train_size % batch_size != 0) {
    throw value_error(make_message("fit: stateful training needs whole batches, but the ", train_size,
                                   " training sequences are not a multiple of batch_size ", batch_size,
                                   " (a StreamDataset with streams == batch_size is)"));
  }
  if (validation_size % validation_batch_size != 0) {
    throw value_error(make_message("fit: stateful validation needs whole batches, but the ", validation_size,
                                   " validation sequences are not a multiple of the validation batch size ",
                                   validation_batch_size));
  }
}

// FitOptions::validation_split applied to `train` (n sequences): checked, then cut at
// floor(n (1 - fraction)) into two views. `has_validation`: a validation dataset was given too.
template <class TrainSet>
DatasetSplit<TrainSet> split_for_validation(const TrainSet& train, double fraction, bool has_validation) {
  if (!(fraction >= 0.0 && fraction < 1.0)) {
    throw value_error(make_message("fit: FitOptions::validation_split must be in [0, 1), got ", fraction));
  }
  if (has_validation) {
    throw value_error(make_message("fit: FitOptions::validation_split is ", fraction,
                                   " and a validation dataset was given too; use one of them"));
  }
  const Index count = train.size();
  if (count <= 0) throw value_error("fit: the training set is empty");
  DatasetSplit<TrainSet> parts = split_sequences(train, fraction);
  if (parts.train.size() == 0) {
    throw value_error(make_message("fit: FitOptions::validation_split = ", fraction, " holds out all ", count,
                                   " training sequences (floor(", count, " x (1 - ", fraction,
                                   ")) = 0 are left for training); lower it"));
  }
  if (parts.validation.size() == 0) {
    throw value_error(make_message("fit: FitOptions::validation_split = ", fraction,
                                   " holds out none of the ", count,
                                   " training sequences; raise it, or set it to 0 for no validation"));
  }
  return parts;
}

// fit() on `train` and `validation` as given (FitOptions::validation_split already applied).
template <class Scalar, class TrainSet, class ValidSet>
History fit_epochs(Sequential<Scalar>& model, Optimizer<Scalar>& optimizer, const TrainSet& train,
                   const FitOptions<Scalar>& options, const ValidSet* validation, TrainingState* state) {
  detail::check_fit_options(options.epochs, options.batch_size, options.threads, options.truncate,
                            options.validation_batch_size);
  if (train.size() <= 0) throw value_error("fit: the training set is empty");
  if (validation != nullptr && validation->size() <= 0) throw value_error("fit: the validation set is empty");
  const Index validation_batch_size =
      options.validation_batch_size > 0 ? options.validation_batch_size : options.batch_size;
  if (options.stateful) {
    detail::check_stateful_options(options.shuffle, train.size(), options.batch_size,
                                   validation != nullptr ? validation->size() : 0, validation_batch_size);
    if (state != nullptr && state->batch != 0) {
      throw value_error(
          detail::make_message("fit: a stateful run resumes only at the start of an epoch, "
                               "but the training state is at batch ",
                               state->batch, " of epoch ", state->epoch,
                               " (the carried recurrent state is not part of a checkpoint)"));
    }
  }
  for (const Callback<Scalar>* callback : options.callbacks) {
    if (callback == nullptr) throw value_error("fit: null callback in FitOptions::callbacks");
  }
  detail::check_gemm_threads(options.threads, options.gemm_threads, options.allow_oversubscription,
                             std::thread::hardware_concurrency());

  const BatchOptions batch_options{options.shuffle, options.seed, false};
  BatchSchedule schedule(train.size(), options.batch_size, batch_options);
  const Index batch_count = schedule.batch_count();

  TrainingState fresh;
  TrainingState& st = state != nullptr ? *state : fresh;
  if (st.epoch < 0 || st.batch < 0 || st.batch > batch_count) {
    throw value_error(detail::make_message("fit: cannot resume at epoch ", st.epoch, ", batch ", st.batch,
                                           " (an epoch has ", batch_count, " batches)"));
  }
  if (st.batches_per_epoch != 0 && st.batches_per_epoch != batch_count) {
    throw value_error(detail::make_message("fit: the training state comes from a run with ",
                                           st.batches_per_epoch, " batches per epoch, this one has ",
                                           batch_count, " (a different training set or batch_size)"));
  }
  st.batches_per_epoch = batch_count;
  if (!st.rng_started()) st.rng = Rng(detail::mix64(options.seed ^ 0x63616C6C6261636BULL)).snapshot();
  Rng callback_rng;
  callback_rng.restore(st.rng);
  const bool fresh_run = st.epoch == 0 && st.batch == 0 && st.global_step == 0 && st.history.empty();
  if (options.schedule != nullptr) {
    if (fresh_run) options.schedule->reset();
    if (!st.schedule_state.empty()) options.schedule->restore_state(st.schedule_state);
    st.schedule_state = options.schedule->state();
  }

  ProcessGroup* const group = options.process_group;
  if (group != nullptr) {
    Index parameter_count = 0;
    for (const auto& p : model.parameters()) parameter_count += p.value->size();
    check_same_everywhere(
        *group,
        {"the parameter count", "threads", "the training set size", "the validation set size", "batch_size",
         "epochs", "seed", "the state's epoch", "the state's batch", "the state's global step", "stateful"},
        {static_cast<double>(parameter_count), static_cast<double>(options.threads),
         static_cast<double>(train.size()),
         static_cast<double>(validation != nullptr ? validation->size() : 0),
         static_cast<double>(options.batch_size), static_cast<double>(options.epochs),
         static_cast<double>(options.seed), static_cast<double>(st.epoch), static_cast<double>(st.batch),
         static_cast<double>(st.global_step), options.stateful ? 1.0 : 0.0});
  }

  const ScopedGemmThreads gemm_scope(options.gemm_threads);  // restored when fit() returns or throws
  DataParallelTrainer<Scalar> trainer(model, options.threads, options.seed, group);
  ProgressOptions progress_options;
  progress_options.verbosity = group != nullptr && group->rank() != 0 ? Verbosity::silent : options.verbosity;
  progress_options.output = options.output;
  ProgressReporter progress(progress_options);
  trainer.set_stateful(options.stateful);

  TrainingContext<Scalar> context;
  context.model = &model;
  context.optimizer = &optimizer;
  context.parameters = model.parameters();
  context.state = &st;
  context.rng = &callback_rng;
  context.epochs = options.epochs;
  context.batches_per_epoch = batch_count;
  context.callbacks = options.callbacks;
  context.stop_training = st.stop_training;
  context.writes_files = group == nullptr || group->rank() == 0;
  const auto for_each_callback = [&](const auto& call) {
    for (size_t k = 0; k < options.callbacks.size(); ++k) {
      context.current_callback = static_cast<Index>(k);
      call(*options.callbacks[k]);
      st.rng = callback_rng.snapshot();
      st.stop_training = context.stop_training;
    }
    context.current_callback = -1;
  };

  for_each_callback([&](Callback<Scalar>& c) { c.on_train_begin(context); });
  import_callback_states(options.callbacks, st.callback_states);
  st.callback_states.clear();
  Logs last_logs;
  Batch batch;
  // A stop requested in the middle of an epoch still finishes that epoch (validation,
  // on_epoch_end), also when a run resumes from a checkpoint taken after the request.
  while (st.epoch < options.epochs && (!context.stop_training || st.batch > 0)) {
    const Index epoch = st.epoch;
    schedule.start_epoch(epoch);
    if (st.batch == 0) {
      trainer.reset_states();
      st.epoch_totals = MetricTotals{};
      st.epoch_tokens = 0;
      st.skipped_batches = 0;
      if (options.schedule != nullptr) {
        optimizer.set_learning_rate(options.schedule->on_epoch_begin(epoch, optimizer.learning_rate()));
        st.schedule_state = options.schedule->state();
      }
      for_each_callback([&](Callback<Scalar>& c) { c.on_epoch_begin(epoch, context); });
    }

    // Timing covers this run of the epoch (after a resume, only the batches run here).
    const auto epoch_start = std::chrono::steady_clock::now();
    ProgressSnapshot snapshot;
    snapshot.epoch = epoch;
    snapshot.epochs = options.epochs;
    snapshot.batches = batch_count;
    snapshot.batch = st.batch;
    snapshot.loss = st.epoch_totals.loss();
    snapshot.accuracy = st.epoch_totals.accuracy();
    progress.begin_epoch(snapshot);

    for (Index k = st.batch; k < batch_count && !context.stop_training; ++k) {
      const IndexSpan indices = schedule.batch(k);
      const Index batch_size = indices.size;
      if (options.schedule != nullptr) {
        optimizer.set_learning_rate(
            options.schedule->on_batch_begin(st.global_step, optimizer.learning_rate()));
      }
      if (group == nullptr) {
        train.fill(indices, batch);
      } else {  // only this process's share of the batch
        const Index first = trainer.share().first_sequence(batch_size),
                    end = trainer.share().end_sequence(batch_size);
        if (end > first) fill_share(train, indices, first, end, batch);
      }
      const CrossEntropyResult result =
          trainer.compute_gradients(batch, batch_size, epoch, k, options.truncate);

      std::string bad_parameter;
      const bool finite_loss = std::isfinite(result.loss);
      if (finite_loss) bad_parameter = detail::first_non_finite_gradient(context.parameters);
      if (!finite_loss || !bad_parameter.empty()) {
        const std::string what = !finite_loss ? std::string("the loss is ") + (std::isnan(result.loss) ? "NaN"
                                                                               : result.loss > 0 ? "+inf"
                                                                                                 : "-inf")
                                              : "the gradient of '" + bad_parameter + "' is not finite";
        if (options.on_nan == NanPolicy::stop) {
          throw numeric_error(detail::make_message("fit: ", what, " in epoch ", epoch, ", batch ", k, " of ",
                                                   batch_count,
                                                   " (0-based); lower the learning rate, clip "
                                                   "gradients, or set on_nan = NanPolicy::skip_batch"));
        }
        ++st.skipped_batches;
      } else {
        optimizer.step(context.parameters);
        st.epoch_totals.add(result);
      }
      const Index tokens = trainer.batch_steps() * batch_size;
      st.epoch_tokens += tokens;
      st.batch = k + 1;
      ++st.global_step;

      snapshot.batch = k + 1;
      snapshot.elapsed_seconds = detail::seconds_since(epoch_start);
      snapshot.tokens += tokens;
      ++snapshot.batches_timed;
      snapshot.loss = st.epoch_totals.loss();
      snapshot.accuracy = st.epoch_totals.accuracy();
      progress.update(snapshot);

      const Logs batch_logs{{"loss", snapshot.loss},
                            {"accuracy", snapshot.accuracy},
                            {"batch_loss", result.loss},
                            {"batch_accuracy", result.accuracy()},
                            {"lr", optimizer.learning_rate()}};
      for_each_callback([&](Callback<Scalar>& c) { c.on_batch_end(k, batch_logs, context); });
    }

    // ---- end of the epoch ----
    snapshot.elapsed_seconds = detail::seconds_since(epoch_start);
    Logs logs = st.epoch_totals.result().to_logs();
    if (validation != nullptr) {
      if constexpr (!std::is_same_v<ValidSet, NoValidation>) {
        // Stateful validation reads every batch in order with the state carried: each process
        // evaluates all of it (the same numbers everywhere).
        const EvaluationResult result =
            group == nullptr || options.stateful
                ? evaluate(model, *validation, validation_batch_size, options.stateful)
                : evaluate(model, *validation, validation_batch_size, *group);
        const Logs val = result.to_logs("val_");
        logs.insert(val.begin(), val.end());
      }
    }
    logs["lr"] = optimizer.learning_rate();
    logs["seconds"] = snapshot.elapsed_seconds;
    logs["tokens_per_second"] = tokens_per_second(snapshot.tokens, snapshot.elapsed_seconds);
    if (options.on_nan == NanPolicy::skip_batch)
      logs["skipped_batches"] = static_cast<double>(st.skipped_batches);

    if (options.schedule != nullptr) {
      optimizer.set_learning_rate(options.schedule->on_epoch_end(epoch, logs, optimizer.learning_rate()));
    }
    st.history.record(epoch, logs);
    st.epoch = epoch + 1;
    st.batch = 0;
    st.epoch_totals = MetricTotals{};
    st.epoch_tokens = 0;
    st.skipped_batches = 0;
    if (options.schedule != nullptr) st.schedule_state = options.schedule->state();
    progress.end_epoch(snapshot, logs);
    for_each_callback([&](Callback<Scalar>& c) { c.on_epoch_end(epoch, logs, context); });
    last_logs = logs;
  }
  for_each_callback([&](Callback<Scalar>& c) { c.on_train_end(last_logs, context); });
  st.callback_states = export_callback_states(options.callbacks);
  return st.history;
}

}  // namespace detail

/// Trains `model` with `optimizer` on `train` (see the top of this file) and returns the
/// history of all completed epochs (those in `state` included).
///
/// state: null for a fresh run. Otherwise fit() starts from *state (epoch, next batch, callback
/// generator, schedule state, running epoch totals, history) and keeps it current after every
/// batch, so a copy taken in a callback, together with a copy of the model and
/// optimizer.export_state(), resumes bit-identically (a default TrainingState is a fresh run).
/// The callbacks' own state (TrainingState::callback_states, see callbacks.hpp) is given back
/// to them after on_train_begin and cleared; when fit() returns it holds their final state.
/// train/checkpoint.hpp saves and loads all of it as a file.
///
/// validation: null for none, or a dataset evaluated after every epoch (val_* metrics). With
/// FitOptions::validation_split > 0 it must be null: fit() then trains on the first part of
/// `train` and validates on the rest (a resumed run must use the same split).
template <class Scalar, class TrainSet, class ValidSet = NoValidation>
History fit(Sequential<Scalar>& model, Optimizer<Scalar>& optimizer, const TrainSet& train,
            const FitOptions<Scalar>& options, const ValidSet* validation = nullptr,
            TrainingState* state = nullptr) {
  if (options.validation_split == 0.0) {
    return detail::fit_epochs(model, optimizer, train, options, validation, state);
  }
  if (options.stateful) {
    throw value_error(
        "fit: FitOptions::validation_split holds out the last sequences, which in stateful training are "
        "the last chunks of every stream; hold out the end of the text instead (a second StreamDataset "
        "over the tail: TokenStream::slice) and pass it as the validation data");
  }
  const DatasetSplit<TrainSet> parts =
      detail::split_for_validation(train, options.validation_split, validation != nullptr);
  return detail::fit_epochs(model, optimizer, parts.train, options, &parts.validation, state);
}

}  // namespace seqlm
