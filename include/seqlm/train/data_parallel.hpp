/// \file
/// Data-parallel gradient of one batch over several threads, deterministically.
///
/// A batch of B sequences is split into `threads` contiguous sub-batches (a fixed split:
/// sub-batch r holds sequences [r*B/threads, (r+1)*B/threads)). Sub-batch 0 runs on the main
/// model, sub-batch r > 0 on replica r (a Sequential copy made once). Each TrainStep returns
/// the mean loss L_r over its own counted targets (summed weight W_r) and its gradient g_r, so
/// the gradient of the whole batch's mean loss L = sum_r W_r L_r / W is
///
/// ```text
///   g = sum_r (W_r / W) g_r,        W = sum_r W_r,
/// ```
///
/// summed into the main model's gradients in the fixed order r = 0, 1, 2, ...: the result
/// depends only on the batch and the thread count, never on thread timing. Replicas get the
/// main model's weights before every batch (so weights changed between batches, by the
/// optimizer or a callback restoring the best weights, always reach them). Dropout draws from
/// a generator that is a pure function of (seed, epoch, batch, sub-batch).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "../data/batching.hpp"
#include "../loss.hpp"
#include "../model/sequential.hpp"
#include "../random.hpp"
#include "../tensor.hpp"
#include "step.hpp"
#include "worker_pool.hpp"

namespace seqlm {

namespace detail {

// splitmix64's finaliser: a well-mixed 64-bit hash of x.
inline std::uint64_t mix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

}  // namespace detail

/// The dropout generator of sub-batch `part` of batch `batch` in epoch `epoch`.
inline Rng batch_rng(std::uint64_t seed, Index epoch, Index batch, Index part) {
  std::uint64_t x = detail::mix64(seed ^ 0x7261696E5F726E67ULL);
  x = detail::mix64(x ^ static_cast<std::uint64_t>(epoch));
  x = detail::mix64(x ^ static_cast<std::uint64_t>(batch));
  x = detail::mix64(x ^ static_cast<std::uint64_t>(part));
  return Rng(x);
}

/// Copies sequences [first, first + count) of a time-major batch into `part` (reusing its memory).
inline void slice_batch(const Batch& batch, Index first, Index count, Batch& part) {
  const Index B = batch.batch;
  part.reshape(batch.steps, count, batch.target_steps);
  for (Index t = 0; t < batch.steps; ++t) {
    for (Index b = 0; b < count; ++b) {
      part.inputs[static_cast<size_t>(t * count + b)] = batch.inputs[static_cast<size_t>(t * B + first + b)];
    }
  }
  for (Index t = 0; t < batch.target_steps; ++t) {
    for (Index b = 0; b < count; ++b) {
      const size_t from = static_cast<size_t>(t * B + first + b), to = static_cast<size_t>(t * count + b);
      part.targets[to] = batch.targets[from];
      part.weights[to] = batch.weights[from];
    }
  }
}

template <class Scalar>
class DataParallelTrainer {
 public:
  /// threads >= 1; the replicas are copies of `model` made now.
  DataParallelTrainer(Sequential<Scalar>& model, Index threads, std::uint64_t seed)
      : model_(model), parameters_(model.parameters()), threads_(threads), seed_(seed) {
    detail::check_positive("fit", "threads", threads);
    steps_.push_back(std::make_unique<TrainStep<Scalar>>(model_));
    if (threads_ > 1) {
      replicas_.reserve(static_cast<size_t>(threads_ - 1));  // no reallocation: the steps refer to them
      for (Index r = 1; r < threads_; ++r) replicas_.emplace_back(model);
      for (auto& replica : replicas_) {
        replica_parameters_.push_back(replica.parameters());
        steps_.push_back(std::make_unique<TrainStep<Scalar>>(replica));
      }
      parts_.resize(static_cast<size_t>(threads_));
      results_.resize(static_cast<size_t>(threads_));
      ran_.resize(static_cast<size_t>(threads_));
      try {
        pool_ = std::make_unique<detail::WorkerPool>(threads_);
      } catch (const value_error& e) {
        throw value_error(std::string("fit: threads = ") + std::to_string(threads_) + ": " + e.what());
      }
    }
    rngs_.resize(static_cast<size_t>(threads_));
  }

  Index threads() const { return threads_; }

  /// Forward + loss + backward of `batch` (batch `batch_index` of `epoch`): leaves the gradient of
  /// the batch's mean loss in the main model's parameters and returns the batch's loss/accuracy.
  CrossEntropyResult compute_gradients(const Batch& batch, Index epoch, Index batch_index, Index truncate) {
    epoch_ = epoch;
    batch_index_ = batch_index;
    truncate_ = truncate;
    if (threads_ == 1) {
      rngs_[0] = batch_rng(seed_, epoch, batch_index, 0);
      zero_gradients(parameters_);
      return steps_[0]->train(batch, LayerContext{true, &rngs_[0], truncate});
    }

    for (size_t r = 0; r < replicas_.size(); ++r) {
      for (size_t k = 0; k < parameters_.size(); ++k)
        *replica_parameters_[r][k].value = *parameters_[k].value;
    }
    const Index B = batch.batch;
    for (Index r = 0; r < threads_; ++r) {
      const Index first = r * B / threads_, end = (r + 1) * B / threads_;
      ran_[static_cast<size_t>(r)] = false;
      if (end > first) slice_batch(batch, first, end - first, parts_[static_cast<size_t>(r)]);
      ran_[static_cast<size_t>(r)] = end > first && parts_[static_cast<size_t>(r)].weighted_count() > 0;
    }
    pool_->run(task_);

    // Combine in the fixed order r = 0, 1, ...
    CrossEntropyResult total;
    for (Index r = 0; r < threads_; ++r) {
      if (!ran_[static_cast<size_t>(r)]) continue;
      const CrossEntropyResult& part = results_[static_cast<size_t>(r)];
      total.counted_weight += part.counted_weight;
      total.correct += part.correct;
      total.counted += part.counted;
    }
    if (total.counted_weight <= 0.0) {
      throw value_error(detail::make_message("fit: batch ", batch_index, " of epoch ", epoch,
                                             " has no counted targets (all weights are zero)"));
    }
    double loss = 0.0;
    for (Index r = 0; r < threads_; ++r) {
      const bool ran = ran_[static_cast<size_t>(r)];
      const CrossEntropyResult& part = results_[static_cast<size_t>(r)];
      const Scalar share = ran ? static_cast<Scalar>(part.counted_weight / total.counted_weight) : Scalar(0);
      if (ran) loss += part.loss * part.counted_weight;
      for (size_t k = 0; k < parameters_.size(); ++k) {
        Matrix<Scalar>& gradient = *parameters_[k].gradient;
        if (r == 0) {
          if (ran) {
            gradient *= share;
          } else {
            gradient.setZero();  // sub-batch 0 counted nothing: its stale gradient must not leak in
          }
        } else if (ran) {
          gradient += share * *replica_parameters_[static_cast<size_t>(r - 1)][k].gradient;
        }
      }
    }
    total.loss = loss / total.counted_weight;
    return total;
  }

 private:
  // What worker r does for the current batch.
  void run_part(Index r) {
    const size_t slot = static_cast<size_t>(r);
    if (!ran_[slot]) return;
    rngs_[slot] = batch_rng(seed_, epoch_, batch_index_, r);
    const LayerContext context{true, &rngs_[slot], truncate_};
    zero_gradients(r == 0 ? parameters_ : replica_parameters_[slot - 1]);
    results_[slot] = steps_[slot]->train(parts_[slot], context);
  }

  Sequential<Scalar>& model_;
  ParameterList<Scalar> parameters_;
  Index threads_;
  std::uint64_t seed_;
  std::vector<Sequential<Scalar>> replicas_;
  std::vector<ParameterList<Scalar>> replica_parameters_;
  std::vector<std::unique_ptr<TrainStep<Scalar>>> steps_;  // [0]: the main model, [r]: replica r
  std::vector<Batch> parts_;
  std::vector<CrossEntropyResult> results_;
  std::vector<char> ran_;
  std::vector<Rng> rngs_;
  std::unique_ptr<detail::WorkerPool> pool_;
  std::function<void(Index)> task_ = [this](Index r) { run_part(r); };
  Index epoch_ = 0, batch_index_ = 0, truncate_ = 0;
};

}  // namespace seqlm
