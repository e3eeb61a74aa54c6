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
///
/// Over several processes (a ProcessGroup, e.g. MPI ranks) the same W = processes x threads
/// workers are spread out: process p runs workers [p T, (p + 1) T) on its T threads and needs
/// only their sequences of the batch. Every process then gathers every worker's (W_r, L_r, g_r)
/// and sums exactly as above, in the order r = 0, 1, ..., W - 1, with the same code: each
/// process ends with the same gradient, bit for bit, as one process with W threads. (A tree or
/// ring allreduce would add the g_r in an order that depends on the process count, and floating
/// point addition is not associative; gathering costs W gradients per step instead of about 2.)
#pragma once

#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "../data/batching.hpp"
#include "../loss.hpp"
#include "../model/sequential.hpp"
#include "../random.hpp"
#include "../tensor.hpp"
#include "process_group.hpp"
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

/// The data-parallel workers one process runs: workers [first, first + count) of `total`.
/// Worker r takes sequences [r B / total, (r + 1) B / total) of a batch of B sequences, so the
/// process needs only sequences [first_sequence(B), end_sequence(B)) of each batch.
struct WorkerShare {
  Index first = 0;
  Index count = 1;
  Index total = 1;

  Index first_sequence(Index B) const { return first * B / total; }
  Index end_sequence(Index B) const { return (first + count) * B / total; }
};

template <class Scalar>
class DataParallelTrainer {
 public:
  using State = typename Sequential<Scalar>::State;

  /// threads >= 1; the replicas are copies of `model` made now.
  DataParallelTrainer(Sequential<Scalar>& model, Index threads, std::uint64_t seed)
      : DataParallelTrainer(model, threads, seed, nullptr) {}

  /// Data-parallel over the processes of `group` too (null: this process alone): every process
  /// runs `threads` workers, process p workers [p threads, (p + 1) threads) of
  /// W = group->size() x threads. Every process must construct its trainer alike.
  DataParallelTrainer(Sequential<Scalar>& model, Index threads, std::uint64_t seed, ProcessGroup* group)
      : model_(model),
        parameters_(model.parameters()),
        share_(make_share(threads, group)),
        seed_(seed),
        group_(group) {
    const Index threads_ = share_.count;
    steps_.push_back(std::make_unique<TrainStep<Scalar>>(model_));
    if (threads_ > 1) {
      replicas_.reserve(static_cast<size_t>(threads_ - 1));  // no reallocation: the steps refer to them
      for (Index r = 1; r < threads_; ++r) replicas_.emplace_back(model);
      for (auto& replica : replicas_) {
        replica_parameters_.push_back(replica.parameters());
        steps_.push_back(std::make_unique<TrainStep<Scalar>>(replica));
      }
      try {
        pool_ = std::make_unique<detail::WorkerPool>(threads_);
      } catch (const value_error& e) {
        throw value_error(std::string("fit: threads = ") + std::to_string(threads_) + ": " + e.what());
      }
    }
    parts_.resize(static_cast<size_t>(threads_));
    results_.resize(static_cast<size_t>(share_.total));
    ran_.resize(static_cast<size_t>(share_.total));
    rngs_.resize(static_cast<size_t>(threads_));
    if (group_ != nullptr) {
      remote_.resize(static_cast<size_t>(share_.total));
      if (share_.first > 0) {  // the main model runs worker `first`; its gradient waits here
        for (const auto& p : parameters_)
          aside_.emplace_back(Matrix<Scalar>::Zero(p.gradient->rows(), p.gradient->cols()));
      }
    }
  }

  /// This process's workers (threads).
  Index threads() const { return share_.count; }
  /// The workers of this process and of the whole job.
  const WorkerShare& share() const { return share_; }
  /// Time steps of the last batch (the same on every process).
  Index batch_steps() const { return batch_steps_; }

  /// Stateful training (FitOptions::stateful): every worker keeps the recurrent state of its
  /// sequences (its fixed slice of every batch) from one batch to the next, so sequence b of
  /// a batch continues sequence b of the batch before. reset_states() goes back to zeros (at
  /// the start of an epoch). Off by default: every batch starts from the zero state.
  void set_stateful(bool stateful) {
    stateful_ = stateful;
    reset_states();
  }
  void reset_states() {
    states_.clear();
    states_.resize(static_cast<size_t>(share_.count));
  }

  /// Forward + loss + backward of `batch` (batch `batch_index` of `epoch`): leaves the gradient of
  /// the batch's mean loss in the main model's parameters and returns the batch's loss/accuracy.
  CrossEntropyResult compute_gradients(const Batch& batch, Index epoch, Index batch_index, Index truncate) {
    return compute_gradients(batch, batch.batch, epoch, batch_index, truncate);
  }

  /// The same for a batch of `batch_size` sequences of which `part` holds this process's share,
  /// sequences [share().first_sequence(batch_size), share().end_sequence(batch_size)) (nothing
  /// is read from `part` when the share is empty). Collective over the process group.
  CrossEntropyResult compute_gradients(const Batch& part, Index batch_size, Index epoch, Index batch_index,
                                       Index truncate) {
    epoch_ = epoch;
    batch_index_ = batch_index;
    truncate_ = truncate;
    const Index B = batch_size;
    const Index base = share_.first_sequence(B);
    const bool have_part = share_.end_sequence(B) > base;
    batch_steps_ = part.steps;
    if (share_.total == 1) {
      rngs_[0] = batch_rng(seed_, epoch, batch_index, 0);
      zero_gradients(parameters_);
      return steps_[0]->train(part, LayerContext{true, &rngs_[0], truncate}, carried_state(0, part.batch));
    }

    for (size_t r = 0; r < replicas_.size(); ++r) {
      for (size_t k = 0; k < parameters_.size(); ++k)
        *replica_parameters_[r][k].value = *parameters_[k].value;
    }
    const Index W = share_.total;
    for (Index j = 0; j < share_.count; ++j) {
      const Index r = share_.first + j;
      const Index first = r * B / W, end = (r + 1) * B / W;
      const size_t slot = static_cast<size_t>(j);
      ran_[static_cast<size_t>(r)] = false;
      if (end > first) slice_batch(part, first - base, end - first, parts_[slot]);
      ran_[static_cast<size_t>(r)] = end > first && parts_[slot].weighted_count() > 0;
    }
    if (pool_ != nullptr) {
      pool_->run(task_);
    } else {
      run_part(0);
    }
    if (group_ != nullptr && group_->size() > 1) exchange(have_part ? part.steps : -1);

    // Combine in the fixed order r = 0, 1, ..., W - 1.
    CrossEntropyResult total;
    for (Index r = 0; r < W; ++r) {
      if (!ran_[static_cast<size_t>(r)]) continue;
      const CrossEntropyResult& result = results_[static_cast<size_t>(r)];
      total.counted_weight += result.counted_weight;
      total.correct += result.correct;
      total.counted += result.counted;
    }
    if (total.counted_weight <= 0.0) {
      throw value_error(detail::make_message("fit: batch ", batch_index, " of epoch ", epoch,
                                             " has no counted targets (all weights are zero)"));
    }
    // Worker `first`'s gradient is in the main model; on a process without worker 0 it steps
    // aside so that the sum can start there from worker 0's gradient.
    if (share_.first > 0) {
      for (size_t k = 0; k < parameters_.size(); ++k) aside_[k].swap(*parameters_[k].gradient);
    }
    double loss = 0.0;
    for (Index r = 0; r < W; ++r) {
      const bool ran = ran_[static_cast<size_t>(r)];
      const CrossEntropyResult& result = results_[static_cast<size_t>(r)];
      const Scalar share =
          ran ? static_cast<Scalar>(result.counted_weight / total.counted_weight) : Scalar(0);
      if (ran) loss += result.loss * result.counted_weight;
      for (size_t k = 0; k < parameters_.size(); ++k) {
        Matrix<Scalar>& gradient = *parameters_[k].gradient;
        if (r == 0) {
          if (ran) {
            if (share_.first > 0) gradient = remote_[0][k];
            gradient *= share;
          } else {
            gradient.setZero();  // sub-batch 0 counted nothing: its stale gradient must not leak in
          }
        } else if (ran) {
          gradient += share * worker_gradient(r, k);
        }
      }
    }
    total.loss = loss / total.counted_weight;
    return total;
  }

 private:
  static WorkerShare make_share(Index threads, const ProcessGroup* group) {
    detail::check_positive("fit", "threads", threads);
    if (group == nullptr) return WorkerShare{0, threads, threads};
    const Index processes = group->size(), rank = group->rank();
    if (processes < 1 || rank < 0 || rank >= processes) {
      throw value_error(detail::make_message("fit: the process group has rank ", rank, " of ", processes,
                                             " processes (expected 0 <= rank < size, size >= 1)"));
    }
    return WorkerShare{rank * threads, threads, processes * threads};
  }

  // The gradient of worker r (r > 0) for parameter k: a local replica's, the one set aside,
  // or one received from another process.
  const Matrix<Scalar>& worker_gradient(Index r, size_t k) const {
    const Index j = r - share_.first;
    if (j < 0 || j >= share_.count) return remote_[static_cast<size_t>(r)][k];
    if (j == 0) return aside_[k];
    return *replica_parameters_[static_cast<size_t>(j - 1)][k].gradient;
  }

  // What local worker j does for the current batch.
  void run_part(Index j) {
    const size_t slot = static_cast<size_t>(j);
    if (!ran_[static_cast<size_t>(share_.first + j)]) return;
    rngs_[slot] = batch_rng(seed_, epoch_, batch_index_, share_.first + j);
    const LayerContext context{true, &rngs_[slot], truncate_};
    zero_gradients(j == 0 ? parameters_ : replica_parameters_[slot - 1]);
    results_[static_cast<size_t>(share_.first + j)] =
        steps_[slot]->train(parts_[slot], context, carried_state(slot, parts_[slot].batch));
  }

  // Local worker `slot`'s carried state for its `sequences` (null when not stateful); zeros
  // when it is new or the slice changed size.
  State* carried_state(size_t slot, Index sequences) {
    if (!stateful_) return nullptr;
    State& state = states_[slot];
    if (state.batch != sequences) state = steps_[slot]->model().make_state(sequences);
    return &state;
  }

  // One worker's block in the exchange: a header of doubles, then its gradients in parameter order.
  enum Header {
    ran_flag,
    loss_sum,
    weight_sum,
    correct_count,
    counted_count,
    steps_count,
    epoch_at,
    batch_at,
    header_size
  };

  // Every process sends its workers' (header, gradient) blocks and receives everybody's.
  void exchange(Index local_steps) {
    size_t scalars = 0;
    for (const auto& p : parameters_) scalars += static_cast<size_t>(p.gradient->size());
    const size_t block = header_size * sizeof(double) + scalars * sizeof(Scalar);
    const size_t W = static_cast<size_t>(share_.total);
    buffer_.resize(W * block);
    if (offsets_.empty())
      offsets_ = detail::equal_offsets(group_->size(), static_cast<size_t>(share_.count) * block);
    for (Index j = 0; j < share_.count; ++j) {
      const size_t r = static_cast<size_t>(share_.first + j);
      const CrossEntropyResult& result = results_[r];
      const bool ran = ran_[r];
      const double header[header_size] = {ran ? 1.0 : 0.0,
                                          ran ? result.loss : 0.0,
                                          ran ? result.counted_weight : 0.0,
                                          ran ? static_cast<double>(result.correct) : 0.0,
                                          ran ? static_cast<double>(result.counted) : 0.0,
                                          static_cast<double>(local_steps),
                                          static_cast<double>(epoch_),
                                          static_cast<double>(batch_index_)};
      unsigned char* out = buffer_.data() + r * block;
      std::memcpy(out, header, sizeof header);
      out += sizeof header;
      if (!ran) continue;
      const ParameterList<Scalar>& list =
          j == 0 ? parameters_ : replica_parameters_[static_cast<size_t>(j - 1)];
      for (const auto& p : list) {
        const size_t bytes = static_cast<size_t>(p.gradient->size()) * sizeof(Scalar);
        std::memcpy(out, p.gradient->data(), bytes);
        out += bytes;
      }
    }
    group_->allgather(buffer_, offsets_,
                      detail::make_message("the gradients of epoch ", epoch_, ", batch ", batch_index_));

    batch_steps_ = local_steps;
    Index steps_from = share_.first;
    for (size_t r = 0; r < W; ++r) {
      const unsigned char* in = buffer_.data() + r * block;
      double header[header_size];
      std::memcpy(header, in, sizeof header);
      in += sizeof header;
      const Index process = static_cast<Index>(r) / share_.count;
      if (header[epoch_at] != static_cast<double>(epoch_) ||
          header[batch_at] != static_cast<double>(batch_index_)) {
        throw distributed_error(detail::make_message(
            "fit: process ", group_->rank(), " is at epoch ", epoch_, ", batch ", batch_index_,
            " but process ", process, " sent epoch ", header[epoch_at], ", batch ", header[batch_at],
            " (the processes must run the same data, options and training state)"));
      }
      const auto steps = static_cast<Index>(header[steps_count]);
      if (steps >= 0 && batch_steps_ >= 0 && steps != batch_steps_) {
        throw distributed_error(detail::make_message(
            "fit: batch ", batch_index_, " of epoch ", epoch_, " has ", batch_steps_, " steps on worker ",
            steps_from, " but ", steps, " on worker ", r,
            "; a dataset whose batches are padded to their longest sequence "
            "needs steps_of(example) and fill(indices, batch, min_steps) for distributed training"));
      }
      if (steps >= 0 && batch_steps_ < 0) {
        batch_steps_ = steps;
        steps_from = static_cast<Index>(r);
      }
      const Index j = static_cast<Index>(r) - share_.first;
      if (j >= 0 && j < share_.count) continue;  // our own worker
      ran_[r] = header[ran_flag] != 0.0;
      if (!ran_[r]) continue;
      CrossEntropyResult& result = results_[r];
      result.loss = header[loss_sum];
      result.counted_weight = header[weight_sum];
      result.correct = static_cast<Index>(header[correct_count]);
      result.counted = static_cast<Index>(header[counted_count]);
      std::vector<Matrix<Scalar>>& gradients = remote_[r];
      gradients.resize(parameters_.size());
      for (size_t k = 0; k < parameters_.size(); ++k) {
        const Matrix<Scalar>& shape = *parameters_[k].gradient;
        gradients[k].resize(shape.rows(), shape.cols());
        const size_t bytes = static_cast<size_t>(shape.size()) * sizeof(Scalar);
        std::memcpy(gradients[k].data(), in, bytes);
        in += bytes;
      }
    }
  }

  Sequential<Scalar>& model_;
  ParameterList<Scalar> parameters_;
  WorkerShare share_;
  std::uint64_t seed_;
  ProcessGroup* group_;
  std::vector<Sequential<Scalar>> replicas_;
  std::vector<ParameterList<Scalar>> replica_parameters_;
  std::vector<std::unique_ptr<TrainStep<Scalar>>> steps_;  // [0]: the main model, [j]: replica j
  std::vector<Batch> parts_;                               // [j]: local worker j's sequences
  std::vector<CrossEntropyResult> results_;                // [r]: worker r of all W
  std::vector<char> ran_;                                  // [r]: worker r counted something
  std::vector<Rng> rngs_;
  std::vector<std::vector<Matrix<Scalar>>> remote_;  // [r][k]: gradients received from other processes
  std::vector<Matrix<Scalar>> aside_;                // worker `first`'s gradients during the sum
  std::vector<unsigned char> buffer_;
  std::vector<size_t> offsets_;
  std::unique_ptr<detail::WorkerPool> pool_;
  std::function<void(Index)> task_ = [this](Index j) { run_part(j); };
  bool stateful_ = false;
  std::vector<State> states_;  // [j]: local worker j's carried state (stateful training)
  Index epoch_ = 0, batch_index_ = 0, truncate_ = 0, batch_steps_ = 0;
};

}  // namespace seqlm
