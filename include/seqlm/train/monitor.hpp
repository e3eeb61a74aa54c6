/// \file
/// A monitored metric ("val_loss", "accuracy", ...) and what counts as an improvement, shared
/// by EarlyStopping, ModelCheckpoint and ReduceLROnPlateau (Keras semantics):
///
/// ```text
///   mode min:   improved  <=>  current < best - min_delta
///   mode max:   improved  <=>  current > best + min_delta
///   mode automatic: max when the name contains "acc" (accuracy), otherwise min
///                   (loss, perplexity, bits_per_token are all "lower is better").
/// ```
///
/// The first value always improves on the initial best (+inf for min, -inf for max). A metric
/// that is not in the logs is a value_error naming the metrics that are (Keras only warns;
/// a misspelt monitor or a missing validation set should not go unnoticed).
#pragma once

#include <cmath>
#include <limits>
#include <string>

#include "../error.hpp"
#include "metrics.hpp"

namespace seqlm {

enum class MonitorMode { automatic, min, max };

class Monitor {
 public:
  /// min_delta >= 0: the smallest change that counts as an improvement.
  explicit Monitor(std::string metric = "val_loss", MonitorMode mode = MonitorMode::automatic,
                   double min_delta = 0.0)
      : metric_(std::move(metric)), min_delta_(min_delta) {
    if (metric_.empty()) throw value_error("Monitor: empty metric name");
    if (!(min_delta >= 0.0) || !std::isfinite(min_delta)) {
      throw value_error(detail::make_message("Monitor: min_delta must be >= 0 and finite, got ", min_delta));
    }
    if (mode == MonitorMode::automatic) {
      mode = metric_.find("acc") != std::string::npos ? MonitorMode::max : MonitorMode::min;
    }
    mode_ = mode;
  }

  const std::string& metric() const { return metric_; }
  MonitorMode mode() const { return mode_; }  ///< min or max, never automatic
  double min_delta() const { return min_delta_; }

  /// +inf for min, -inf for max: every finite value improves on it.
  double initial_best() const {
    const double infinity = std::numeric_limits<double>::infinity();
    return mode_ == MonitorMode::min ? infinity : -infinity;
  }

  bool improves(double current, double best) const {
    return mode_ == MonitorMode::min ? current < best - min_delta_ : current > best + min_delta_;
  }

  /// The monitored value in `logs`; value_error from `where` when it is missing.
  double value(const char* where, const Logs& logs) const {
    const auto it = logs.find(metric_);
    if (it == logs.end()) {
      std::string known;
      for (const auto& entry : logs) known += (known.empty() ? "" : ", ") + entry.first;
      throw value_error(std::string(where) + ": monitored metric '" + metric_ +
                        "' is not in the logs (available: " + (known.empty() ? "none" : known) +
                        "); pass validation data for val_* metrics");
    }
    return it->second;
  }

 private:
  std::string metric_;
  MonitorMode mode_ = MonitorMode::min;
  double min_delta_ = 0.0;
};

}  // namespace seqlm
