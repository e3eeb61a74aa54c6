/// \file
/// Language-model metrics and the running totals that produce them.
///
/// Every metric derives from the mean cross-entropy L (nats per predicted token) over the
/// counted target positions (weight != 0) of an epoch or data set:
///
/// ```text
///   loss            L = sum_batches W_b * L_b / sum_batches W_b     (W_b = the batch's summed weights)
///   accuracy        correct / counted                                (argmax == target)
///   perplexity      exp(L)
///   bits_per_token  L / ln 2                                         (bits per character for a char model)
/// ```
///
/// Weighting each batch's mean loss by its weight makes the epoch loss the mean over all
/// predicted tokens, independent of how the data were cut into batches (a last, smaller batch
/// counts less). Sums are kept in double for both scalar types.
#pragma once

#include <cmath>
#include <map>
#include <string>

#include "../loss.hpp"
#include "../tensor.hpp"

namespace seqlm {

/// Metrics of one epoch or one evaluation, by name ("loss", "val_loss", "lr", ...). Used for
/// callback logs and History.
using Logs = std::map<std::string, double>;

inline double perplexity_of(double loss) { return std::exp(loss); }
inline double bits_per_token_of(double loss) { return loss / std::log(2.0); }

/// What evaluate() returns.
struct EvaluationResult {
  double loss = 0.0;            ///< mean cross-entropy in nats per counted target
  double accuracy = 0.0;        ///< fraction of counted targets predicted by the argmax
  double perplexity = 1.0;      ///< exp(loss)
  double bits_per_token = 0.0;  ///< loss / ln 2
  Index tokens = 0;             ///< counted targets
  Index batches = 0;

  /// {"loss", "accuracy", "perplexity", "bits_per_token"}, each name prefixed by `prefix`
  /// (e.g.\ "val_").
  Logs to_logs(const std::string& prefix = "") const {
    return {{prefix + "loss", loss},
            {prefix + "accuracy", accuracy},
            {prefix + "perplexity", perplexity},
            {prefix + "bits_per_token", bits_per_token}};
  }
};

/// Running totals over batches: add() each batch's CrossEntropyResult, read the means.
struct MetricTotals {
  double weighted_loss = 0.0;  ///< sum of L_b * W_b
  double weight = 0.0;         ///< sum of W_b
  Index correct = 0;
  Index counted = 0;
  Index batches = 0;

  void add(const CrossEntropyResult& batch) {
    weighted_loss += batch.loss * batch.counted_weight;
    weight += batch.counted_weight;
    correct += batch.correct;
    counted += batch.counted;
    ++batches;
  }

  /// NaN while nothing was counted (e.g. every batch of an epoch skipped for a NaN).
  double loss() const { return weight > 0.0 ? weighted_loss / weight : std::nan(""); }
  double accuracy() const { return counted > 0 ? static_cast<double>(correct) / counted : std::nan(""); }

  EvaluationResult result() const {
    EvaluationResult r;
    r.loss = loss();
    r.accuracy = accuracy();
    r.perplexity = perplexity_of(r.loss);
    r.bits_per_token = bits_per_token_of(r.loss);
    r.tokens = counted;
    r.batches = batches;
    return r;
  }
};

}  // namespace seqlm
