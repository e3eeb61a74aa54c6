/// \file
/// History: the per-epoch metrics of a training run, by name, as Keras's History.history.
///
/// ```cpp
///   History history = fit(model, optimizer, train, options, &validation);
///   history["val_loss"]      // one value per completed epoch
///   history.epochs           // the epoch numbers (0-based) the values belong to
/// ```
///
/// Every metric vector has one entry per recorded epoch: a metric that is missing in some
/// epoch holds NaN there, so that all vectors stay aligned with `epochs`.
#pragma once

#include <cstddef>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "../error.hpp"
#include "../tensor.hpp"
#include "metrics.hpp"

namespace seqlm {

struct History {
  std::vector<Index> epochs;
  std::map<std::string, std::vector<double>> metrics;

  /// Number of recorded epochs.
  Index size() const { return static_cast<Index>(epochs.size()); }
  bool empty() const { return epochs.empty(); }

  bool has(const std::string& name) const { return metrics.count(name) != 0; }

  /// All values of one metric; value_error naming the known metrics when it was never recorded.
  const std::vector<double>& operator[](const std::string& name) const {
    const auto it = metrics.find(name);
    if (it == metrics.end()) {
      std::string known;
      for (const auto& entry : metrics) known += (known.empty() ? "" : ", ") + entry.first;
      throw value_error("History: no metric '" + name + "' (recorded: " + (known.empty() ? "none" : known) +
                        ")");
    }
    return it->second;
  }

  /// The last value of a metric.
  double last(const std::string& name) const {
    const std::vector<double>& values = (*this)[name];
    if (values.empty()) throw value_error("History: metric '" + name + "' has no values");
    return values.back();
  }

  /// Appends one epoch's logs; metrics new in this epoch get NaN for the earlier ones.
  void record(Index epoch, const Logs& logs) {
    const double missing = std::numeric_limits<double>::quiet_NaN();
    const size_t before = epochs.size();
    for (const auto& [name, value] : logs) {
      std::vector<double>& values = metrics[name];
      values.resize(before, missing);
      values.push_back(value);
    }
    epochs.push_back(epoch);
    for (auto& entry : metrics) entry.second.resize(epochs.size(), missing);
  }

  /// The logs of recorded epoch k (0 <= k < size()), without NaN entries.
  Logs epoch_logs(Index k) const {
    if (k < 0 || k >= size()) {
      throw value_error(detail::make_message("History: epoch index ", k, " is outside [0, ", size(), ")"));
    }
    Logs logs;
    for (const auto& [name, values] : metrics) {
      const double value = values[static_cast<size_t>(k)];
      if (value == value) logs[name] = value;
    }
    return logs;
  }
};

}  // namespace seqlm
