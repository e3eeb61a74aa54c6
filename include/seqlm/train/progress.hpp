/// \file
/// Training progress on an output stream, Keras-like.
///
/// On a terminal: one line per epoch, rewritten in place (``'\r'``) at most 10 times a second,
///
/// ```text
///   Epoch 3/20
///    57/120 [=============>................] - ETA: 4s - 8.1k tok/s - loss: 1.2345 - accuracy: 0.6123
/// ```
///
/// and finished with the epoch's time and metrics (validation included). Not on a terminal
/// (a log file, a pipe, a test's std::ostringstream): plain lines, one every 10% of the epoch
/// or every 30 seconds, whichever comes first, then a summary line per epoch:
///
/// ```text
///   epoch 3/20 - batch 12/120 (10%) - ETA 40s - 8.1k tok/s - loss: 1.2345 - accuracy: 0.6123
///   epoch 3/20 - 120 batches - 45s - 8.1k tok/s - loss: 1.1000 - accuracy: 0.6500 - val_loss: ...
/// ```
///
/// Verbosity::automatic picks the bar when the stream is std::cout and stdout is a terminal
/// (isatty), lines otherwise; progress_bar and lines force a style; silent prints nothing.
/// The formatting functions are pure, so tests check them without a clock.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <limits>
#include <ostream>
#include <sstream>
#include <string>

#include "../error.hpp"
#include "../io/posix_file.hpp"
#include "../tensor.hpp"
#include "metrics.hpp"

namespace seqlm {

enum class Verbosity { silent, automatic, progress_bar, lines };

struct ProgressOptions {
  Verbosity verbosity = Verbosity::automatic;
  std::ostream* output = nullptr;       ///< null: std::cout
  double bar_interval_seconds = 0.1;    ///< bar: at most one redraw per interval
  double line_interval_seconds = 30.0;  ///< lines: at most this long between two lines
  Index line_percent = 10;              ///< lines: one line each time this share of the epoch is done
  int bar_width = 30;                   ///< characters between [ and ]
};

/// FitOptions::epochs for a run that trains until a callback stops it (a time budget, early
/// stopping): the progress then names the epoch without a total ("epoch 3").
inline constexpr Index until_stopped = std::numeric_limits<Index>::max();

/// Where an epoch stands: `batch` of `batches` done after `elapsed_seconds`, with the running
/// (epoch-so-far) loss and accuracy.
struct ProgressSnapshot {
  Index epoch = 0;   ///< 0-based; printed 1-based
  Index epochs = 1;  ///< until_stopped: no total
  Index batch = 0;   ///< batches completed in this epoch
  Index batches = 1;
  double elapsed_seconds = 0.0;  ///< since this run of the epoch started
  Index tokens = 0;              ///< input tokens processed since then
  Index batches_timed = 0;       ///< batches completed since then (fewer than `batch` after a resume)
  double loss = 0.0;             ///< NaN while no batch of the epoch has counted (not shown)
  double accuracy = 0.0;
};

namespace detail {

inline std::string fixed(double value, int decimals) {
  std::ostringstream out;
  out.setf(std::ios::fixed);
  out.precision(decimals);
  out << value;
  return out.str();
}

}  // namespace detail

/// 7 -> "7s", 187 -> "3:07", 3723 -> "1:02:03" (rounded to whole seconds); "?" when unknown.
inline std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const long long total = std::llround(seconds);
  const long long hours = total / 3600, minutes = (total / 60) % 60, secs = total % 60;
  char text[64];
  if (hours > 0) {
    std::snprintf(text, sizeof text, "%lld:%02lld:%02lld", hours, minutes, secs);
  } else if (minutes > 0) {
    std::snprintf(text, sizeof text, "%lld:%02lld", minutes, secs);
  } else {
    std::snprintf(text, sizeof text, "%llds", secs);
  }
  return text;
}

/// 950 -> "950", 8123 -> "8.1k", 2.5e6 -> "2.5M".
inline std::string format_count(double value) {
  if (!std::isfinite(value)) return "?";
  if (value >= 1e9) return detail::fixed(value / 1e9, 1) + "G";
  if (value >= 1e6) return detail::fixed(value / 1e6, 1) + "M";
  if (value >= 1e4) return detail::fixed(value / 1e3, 0) + "k";
  if (value >= 1e3) return detail::fixed(value / 1e3, 1) + "k";
  return detail::fixed(value, 0);
}

/// Seconds left in the epoch at the current pace; NaN before the first timed batch.
inline double eta_seconds(const ProgressSnapshot& s) {
  if (s.batches_timed <= 0 || s.elapsed_seconds <= 0) return std::nan("");
  return s.elapsed_seconds / static_cast<double>(s.batches_timed) * static_cast<double>(s.batches - s.batch);
}

inline double tokens_per_second(Index tokens, double seconds) {
  return seconds > 0 ? static_cast<double>(tokens) / seconds : 0.0;
}

/// "[=====>........]": `width` characters for the done fraction, '>' at the head.
inline std::string format_bar(Index done, Index total, int width) {
  const double fraction = total > 0 ? std::clamp(static_cast<double>(done) / total, 0.0, 1.0) : 1.0;
  const int filled = static_cast<int>(fraction * width);
  std::string bar = "[";
  for (int k = 0; k < width; ++k) {
    if (k < filled) {
      bar += '=';
    } else if (k == filled && done < total) {
      bar += '>';
    } else {
      bar += '.';
    }
  }
  return bar + "]";
}

/// The metrics a summary shows, in this order, when present.
inline std::string format_metrics(const Logs& logs) {
  std::string text;
  for (const char* name : {"loss", "accuracy", "val_loss", "val_accuracy"}) {
    const auto it = logs.find(name);
    if (it != logs.end()) text += std::string(" - ") + name + ": " + detail::fixed(it->second, 4);
  }
  const auto lr = logs.find("lr");
  if (lr != logs.end()) {
    std::ostringstream out;
    out.precision(3);
    out << lr->second;
    text += " - lr: " + out.str();
  }
  return text;
}

/// The running loss and accuracy of a bar or progress line, e.g.\ " - loss: 1.2345 - accuracy:
/// 0.6123". A metric is left out while it is unknown (NaN: no batch of the epoch has counted
/// yet, as in the frame drawn when an epoch begins), so a line never shows "nan".
inline std::string format_running_metrics(const ProgressSnapshot& s) {
  Logs known;
  if (std::isfinite(s.loss)) known["loss"] = s.loss;
  if (std::isfinite(s.accuracy)) known["accuracy"] = s.accuracy;
  return format_metrics(known);
}

/// \details
/// The in-place bar line, e.g. " 57/120 [=====>....] - ETA: 4s - 8.1k tok/s - loss: 1.2345 - accuracy:
/// 0.6123".
inline std::string format_bar_line(const ProgressSnapshot& s, int width) {
  const std::string total = std::to_string(s.batches);
  std::string done = std::to_string(s.batch);
  if (done.size() < total.size()) done.insert(0, total.size() - done.size(), ' ');
  return done + "/" + total + " " + format_bar(s.batch, s.batches, width) +
         " - ETA: " + format_duration(eta_seconds(s)) + " - " +
         format_count(tokens_per_second(s.tokens, s.elapsed_seconds)) + " tok/s" + format_running_metrics(s);
}

/// "3/20", or "3" when the run has no fixed number of epochs.
inline std::string epoch_of_epochs(const ProgressSnapshot& s) {
  return std::to_string(s.epoch + 1) + (s.epochs == until_stopped ? "" : "/" + std::to_string(s.epochs));
}

/// A plain progress line, e.g. "epoch 3/20 - batch 12/120 (10%) - ETA 40s - 8.1k tok/s - loss: ...".
inline std::string format_progress_line(const ProgressSnapshot& s) {
  const Index percent = s.batches > 0 ? s.batch * 100 / s.batches : 100;
  return "epoch " + epoch_of_epochs(s) + " - batch " + std::to_string(s.batch) + "/" +
         std::to_string(s.batches) + " (" + std::to_string(percent) + "%) - ETA " +
         format_duration(eta_seconds(s)) + " - " +
         format_count(tokens_per_second(s.tokens, s.elapsed_seconds)) + " tok/s" + format_running_metrics(s);
}

/// The end-of-epoch summary after the bar or as a plain line: time, speed and `logs`.
inline std::string format_epoch_summary(const ProgressSnapshot& s, const Logs& logs) {
  return format_duration(s.elapsed_seconds) + " - " +
         format_count(tokens_per_second(s.tokens, s.elapsed_seconds)) + " tok/s" + format_metrics(logs);
}

/// Prints progress as described at the top of the file. fit() calls begin_epoch, update after
/// every batch (cheap: it returns at once unless a line is due) and end_epoch.
class ProgressReporter {
 public:
  explicit ProgressReporter(const ProgressOptions& options = {}) : options_(options) {
    if (options_.output == nullptr) options_.output = &std::cout;
    if (options_.bar_width < 1 || options_.line_percent < 1 || options_.line_percent > 100) {
      throw value_error(detail::make_message("ProgressReporter: bar_width (", options_.bar_width,
                                             ") must be >= 1 and line_percent (", options_.line_percent,
                                             ") in [1, 100]"));
    }
    style_ = options_.verbosity;
    if (style_ == Verbosity::automatic) {
      const bool terminal = options_.output == &std::cout && detail::stdout_is_terminal();
      style_ = terminal ? Verbosity::progress_bar : Verbosity::lines;
    }
  }

  /// progress_bar, lines or silent (automatic resolved).
  Verbosity style() const { return style_; }

  void begin_epoch(const ProgressSnapshot& s) {
    last_draw_ = -1e300;
    last_line_batch_ = s.batch;
    last_width_ = 0;
    if (style_ == Verbosity::progress_bar) {
      out() << "Epoch " << epoch_of_epochs(s) << "\n";
      draw(format_bar_line(s, options_.bar_width));
    }
  }

  void update(const ProgressSnapshot& s) {
    if (style_ == Verbosity::progress_bar) {
      if (s.elapsed_seconds - last_draw_ < options_.bar_interval_seconds && s.batch < s.batches) return;
      last_draw_ = s.elapsed_seconds;
      draw(format_bar_line(s, options_.bar_width));
    } else if (style_ == Verbosity::lines) {
      // A line each time the epoch crosses a multiple of line_percent, or when one is overdue.
      const Index step = options_.line_percent;
      const bool crossed = s.batch * 100 / (s.batches * step) > last_line_batch_ * 100 / (s.batches * step);
      const bool overdue = s.elapsed_seconds - std::max(last_draw_, 0.0) >= options_.line_interval_seconds;
      if ((!crossed && !overdue) || s.batch >= s.batches) return;  // the summary covers the last batch
      last_draw_ = s.elapsed_seconds;
      last_line_batch_ = s.batch;
      out() << format_progress_line(s) << "\n" << std::flush;
    }
  }

  void end_epoch(const ProgressSnapshot& s, const Logs& logs) {
    if (style_ == Verbosity::progress_bar) {
      // s.batch < s.batches when a callback stopped the epoch early.
      draw(std::to_string(s.batch) + "/" + std::to_string(s.batches) + " " +
           format_bar(s.batch, s.batches, options_.bar_width) + " - " + format_epoch_summary(s, logs));
      out() << "\n" << std::flush;
    } else if (style_ == Verbosity::lines) {
      out() << "epoch " << epoch_of_epochs(s) << " - " << s.batch << " batches - "
            << format_epoch_summary(s, logs) << "\n"
            << std::flush;
    }
  }

 private:
  std::ostream& out() { return *options_.output; }

  // Rewrites the current terminal line, blanking what a longer previous line left behind.
  void draw(const std::string& line) {
    std::string padded = line;
    if (padded.size() < last_width_) padded.append(last_width_ - padded.size(), ' ');
    last_width_ = line.size();
    out() << "\r" << padded << std::flush;
  }

  ProgressOptions options_;
  Verbosity style_ = Verbosity::lines;
  double last_draw_ = -1e300;
  Index last_line_batch_ = 0;
  size_t last_width_ = 0;
};

}  // namespace seqlm
