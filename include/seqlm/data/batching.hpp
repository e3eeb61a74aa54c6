/// \file
/// Batches of examples in the layers' time-major layout, deterministic shuffling, and the
/// schedule that cuts an epoch into batches of example indices.
///
/// A training loop looks like
///
/// ```cpp
///   BatchSchedule schedule(dataset.size(), /*batch_size=*/32, {/*shuffle=*/true, /*seed=*/7});
///   Batch batch;
///   for (Index epoch = 0; epoch < epochs; ++epoch) {
///     schedule.start_epoch(epoch);
///     for (Index k = 0; k < schedule.batch_count(); ++k) {
///       dataset.fill(schedule.batch(k), batch);     // reuses batch's memory
///       zero_gradients(model.parameters());
///       step.train(batch, {true, &rng});            // TrainStep, train/step.hpp
///     }
///   }
/// ```
#pragma once

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "../error.hpp"
#include "../random.hpp"
#include "../tensor.hpp"

namespace seqlm {

/// A read-only list of example indices (a batch's worth), pointing into memory owned by
/// someone else (a BatchSchedule or a std::vector). Holds no memory.
struct IndexSpan {
  const Index* data = nullptr;
  Index size = 0;

  IndexSpan() = default;
  IndexSpan(const Index* data_, Index size_) : data(data_), size(size_) {}
  IndexSpan(const std::vector<Index>& indices)
      : data(indices.data()), size(static_cast<Index>(indices.size())) {}

  Index operator[](Index k) const { return data[k]; }
  const Index* begin() const { return data; }
  const Index* end() const { return data + size; }
};

/// One batch, time-major like every tensor in seqlm:
/// ```text
///   inputs  (steps x batch)         inputs[t * batch + b]  = input token t of sequence b
///   targets (target_steps x batch)  targets[t * batch + b] = the token to predict
///   weights (target_steps x batch)  1 where the target counts in the loss, 0 on padding
///                                   (double: exact in a float or a double model)
/// ```
/// target_steps is `steps` when every position has a target (seq-to-seq, line sequences) and
/// 1 when only the token after the last input is predicted (Chollet's windows, prefix
/// sequences). The vectors are resized only when the shape changes; a vector's capacity is
/// never given back, so filling batches of a shape already seen allocates nothing.
struct Batch {
  std::vector<TokenId> inputs;
  std::vector<TokenId> targets;
  std::vector<double> weights;
  Index steps = 0;
  Index batch = 0;
  Index target_steps = 0;
  /// Working memory of the datasets (a window read contiguously before it is laid out
  /// time-major). Kept here so that filling a batch allocates nothing after the first time.
  std::vector<TokenId> staging;

  /// Sets the shape; keeps the memory when the total sizes fit in what is already there.
  void reshape(Index steps_, Index batch_, Index target_steps_) {
    steps = steps_;
    batch = batch_;
    target_steps = target_steps_;
    inputs.resize(static_cast<size_t>(steps * batch));
    targets.resize(static_cast<size_t>(target_steps * batch));
    weights.resize(static_cast<size_t>(target_steps * batch));
  }

  /// Views of the ids; shape_error when a vector does not hold exactly its shape's ids.
  TokenView input_view() const {
    check_shape("Batch::input_view");
    return TokenView(inputs.data(), steps, batch);
  }
  TokenView target_view() const {
    check_shape("Batch::target_view");
    return TokenView(targets.data(), target_steps, batch);
  }

  /// shape_error naming `where` unless inputs hold steps x batch ids and targets and weights
  /// target_steps x batch (with positive steps, batch and target_steps).
  void check_shape(const char* where) const {
    if (steps <= 0 || batch <= 0 || target_steps <= 0) {
      throw shape_error(detail::make_message(where, ": the batch has shape steps ", steps, " x batch ", batch,
                                             ", target_steps ", target_steps, " (each must be positive)"));
    }
    const auto expect = [&](const char* name, size_t actual, Index rows) {
      if (actual != static_cast<size_t>(rows * batch)) {
        throw shape_error(detail::make_message(where, ": the batch's ", name, " hold ", actual,
                                               " values, expected ", rows * batch, " (", rows, " x ", batch,
                                               ")"));
      }
    };
    expect("inputs", inputs.size(), steps);
    expect("targets", targets.size(), target_steps);
    expect("weights", weights.size(), target_steps);
  }

  /// Number of targets that count in the loss (sum of the 0/1 weights).
  Index weighted_count() const {
    Index count = 0;
    for (double w : weights) count += (w != 0.0) ? 1 : 0;
    return count;
  }
};

// ---- shuffling -------------------------------------------------------------------------------

/// Fisher-Yates: for k = n-1 down to 1 swap element k with a uniform element of [0, k].
/// Every permutation is equally likely and the result depends only on the Rng's state.
template <class T>
void shuffle_in_place(std::vector<T>& items, Rng& rng) {
  for (size_t k = items.size(); k > 1; --k) {
    const size_t j = static_cast<size_t>(rng.below(k));
    std::swap(items[k - 1], items[j]);
  }
}

/// The generator that shuffles epoch `epoch` for `seed`: a pure function of both, so that
/// resuming at epoch 5 gives the same order as running epochs 0..5.
inline Rng epoch_rng(std::uint64_t seed, Index epoch) {
  Rng mixer(seed);
  return Rng(mixer.next() ^ (static_cast<std::uint64_t>(epoch) * 0x9E3779B97F4A7C15ULL));
}

/// The permutation of 0..count-1 that BatchSchedule uses in epoch `epoch` for `seed`.
inline std::vector<Index> epoch_permutation(Index count, std::uint64_t seed, Index epoch) {
  if (count < 0) throw value_error(detail::make_message("epoch_permutation: negative count ", count));
  std::vector<Index> order(static_cast<size_t>(count));
  for (Index k = 0; k < count; ++k) order[static_cast<size_t>(k)] = k;
  Rng rng = epoch_rng(seed, epoch);
  shuffle_in_place(order, rng);
  return order;
}

// ---- the schedule of an epoch ------------------------------------------------------------------

struct BatchOptions {
  bool shuffle = true;          ///< a fresh permutation every epoch; otherwise 0, 1, 2, ...
  std::uint64_t seed = 0;       ///< the permutations depend only on (seed, epoch)
  bool drop_remainder = false;  ///< drop a last batch smaller than batch_size
};

/// Cuts a list of examples (all of [0, example_count), or a subset such as the training
/// part of validation_split_indices) into batches of example indices, epoch by epoch.
/// Batch k covers positions [k * batch_size, min((k + 1) * batch_size, n)) of the epoch's
/// order; the last one is partial unless drop_remainder is set.
class BatchSchedule {
 public:
  /// Examples 0, 1, ..., example_count - 1.
  BatchSchedule(Index example_count, Index batch_size, BatchOptions options = {})
      : BatchSchedule(iota(example_count), batch_size, options) {}

  /// The given examples; a shuffled epoch permutes this list.
  BatchSchedule(std::vector<Index> examples, Index batch_size, BatchOptions options = {})
      : examples_(std::move(examples)), batch_size_(batch_size), options_(options) {
    detail::check_positive("BatchSchedule", "batch size", batch_size);
    start_epoch(0);
  }

  /// Computes the order of `epoch`: the example list itself, or its permutation by
  /// shuffle_in_place with epoch_rng(seed, epoch).
  void start_epoch(Index epoch) {
    epoch_ = epoch;
    order_ = examples_;
    if (options_.shuffle) {
      Rng rng = epoch_rng(options_.seed, epoch);
      shuffle_in_place(order_, rng);
    }
  }

  Index batch_count() const {
    const Index n = example_count();
    return options_.drop_remainder ? n / batch_size_ : (n + batch_size_ - 1) / batch_size_;
  }

  /// The example indices of batch k of the current epoch (valid until the next start_epoch).
  IndexSpan batch(Index k) const {
    if (k < 0 || k >= batch_count()) {
      throw value_error(
          detail::make_message("BatchSchedule: batch ", k, " is outside [0, ", batch_count(), ")"));
    }
    const Index begin = k * batch_size_;
    const Index end = std::min(begin + batch_size_, example_count());
    return IndexSpan(order_.data() + begin, end - begin);
  }

  const std::vector<Index>& order() const { return order_; }
  Index epoch() const { return epoch_; }
  Index example_count() const { return static_cast<Index>(examples_.size()); }
  Index batch_size() const { return batch_size_; }

 private:
  static std::vector<Index> iota(Index count) {
    if (count < 0) throw value_error(detail::make_message("BatchSchedule: negative example count ", count));
    std::vector<Index> all(static_cast<size_t>(count));
    for (Index k = 0; k < count; ++k) all[static_cast<size_t>(k)] = k;
    return all;
  }

  std::vector<Index> examples_;
  Index batch_size_;
  BatchOptions options_;
  Index epoch_ = 0;
  std::vector<Index> order_;
};

namespace detail {

// Shared by the datasets: every index of a batch request must name an example.
inline void check_example_indices(const char* where, IndexSpan indices, Index example_count) {
  if (indices.size <= 0) throw value_error(make_message(where, ": empty list of example indices"));
  for (Index k = 0; k < indices.size; ++k) {
    if (indices[k] < 0 || indices[k] >= example_count) {
      throw value_error(make_message(where, ": example index ", indices[k], " at position ", k,
                                     " is outside [0, ", example_count, ")"));
    }
  }
}

}  // namespace detail
}  // namespace seqlm
