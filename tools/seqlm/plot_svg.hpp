// Training histories as charts: the CSV that seqlm's CsvLogger writes, read and drawn as a
// hand-written SVG (no library). `seqlm plot` uses it, and `seqlm train` can redraw its chart
// after every epoch:
//
//   HistoryTable history = read_history_csv("history.csv");   // "epoch,accuracy,loss,val_loss,..."
//   (or history_table(fit_history), from a seqlm::History in memory)
//   PlotOptions options;
//   options.title = "history.csv";
//   write_file_atomically("loss.svg", history_svg(history, options));
//
// The chart has one panel per metric (by default "loss", and "accuracy" when the CSV has it),
// each drawing the metric and its "val_" twin against the epoch: axes with 1-2-5 tick steps,
// axis labels, a legend, lines with a marker on every point. A missing value ("nan", "NA" or
// an empty cell) leaves a gap in its line.
#pragma once

#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <seqlm/error.hpp>
#include <seqlm/io/utf8.hpp>
#include <seqlm/text/csv.hpp>
#include <seqlm/train/history.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace seqlm_tool {

// The epochs and metric columns of a history CSV; a missing value is NaN.
struct HistoryTable {
  std::vector<std::string> columns;         // the metric names, in the file's order ("epoch" excluded)
  std::vector<double> epochs;               // one per row
  std::vector<std::vector<double>> values;  // values[column][row]

  // The values of a column, or nullptr when the CSV has no such column.
  const std::vector<double>* find(const std::string& name) const {
    for (std::size_t c = 0; c < columns.size(); ++c)
      if (columns[c] == name) return &values[c];
    return nullptr;
  }
};

// The table of a History held in memory (fit()'s return value, TrainingState::history), for a
// program that draws its chart without writing the CSV first.
inline HistoryTable history_table(const seqlm::History& history) {
  HistoryTable table;
  for (const seqlm::Index epoch : history.epochs) table.epochs.push_back(static_cast<double>(epoch));
  for (const auto& [name, values] : history.metrics) {
    table.columns.push_back(name);
    table.values.push_back(values);
  }
  return table;
}

// A history CSV's rows can be this many at most (a million epochs): more is not a history.
inline constexpr std::size_t max_history_rows = 1000000;

namespace detail {

// A cell as a number: NaN for a missing value ("", "nan", "NA") and for an infinite one (a
// diverged run has no point to draw); `ok` is false for anything else that is not a number.
inline double parse_cell(std::string cell, bool& ok) {
  const std::size_t first = cell.find_first_not_of(" \t");
  cell = first == std::string::npos ? std::string()
                                    : cell.substr(first, cell.find_last_not_of(" \t") + 1 - first);
  ok = true;
  if (cell.empty() || cell == "nan" || cell == "NaN" || cell == "-nan" || cell == "NA" || cell == "inf" ||
      cell == "-inf") {
    return std::numeric_limits<double>::quiet_NaN();
  }
  char* end = nullptr;
  const double value = std::strtod(cell.c_str(), &end);
  ok = end != cell.c_str() && *end == '\0' && std::isfinite(value);
  return value;
}

}  // namespace detail

// Reads a history CSV: a header with an "epoch" column and any metric columns (CsvLogger:
// "epoch,accuracy,loss,val_accuracy,val_loss"), then one row per epoch, through seqlm's
// CsvReader (quotes, CRLF, blank lines and a byte order mark are handled there). Throws
// seqlm::file_error "\"<path>\": <what>" when the file cannot be read or is not a regular file,
// is empty, has no "epoch" column, an empty or repeated column name, a row with the wrong
// number of cells, an epoch that is missing, a cell that is not a number ("\"h.csv\" line 3,
// column 2 (loss): \"abc\" is not a number"), more than max_history_rows rows, or no rows.
inline HistoryTable read_history_csv(const std::string& path) {
  const std::string where = "\"" + seqlm::utf8::printable(path) + "\"";
  struct stat info {};
  if (::stat(path.c_str(), &info) == 0 && !S_ISREG(info.st_mode)) {
    throw seqlm::file_error(where + " is " + (S_ISDIR(info.st_mode) ? "a directory" : "not a regular file") +
                            ", not a history CSV");
  }
  seqlm::CsvReader reader(path);
  std::vector<std::string> cells;
  if (!reader.read_row(cells)) {
    throw seqlm::file_error(where + ": empty file, expected a header line \"epoch,loss,...\"");
  }
  const auto at_line = [&]() { return where + " line " + std::to_string(reader.row_line()); };

  HistoryTable table;
  std::size_t epoch_column = cells.size();
  std::string header;
  for (std::size_t c = 0; c < cells.size(); ++c) {
    header += (c > 0 ? "," : "") + cells[c];
    if (cells[c].empty()) {
      throw seqlm::file_error(at_line() + ": column " + std::to_string(c + 1) + " of the header has no name");
    }
    for (std::size_t d = 0; d < c; ++d) {
      if (cells[d] == cells[c]) {
        throw seqlm::file_error(at_line() + ": the header names column \"" +
                                seqlm::utf8::printable(cells[c]) + "\" twice");
      }
    }
    if (cells[c] == "epoch") {
      epoch_column = c;
    } else {
      table.columns.push_back(cells[c]);
    }
  }
  if (epoch_column == cells.size()) {
    throw seqlm::file_error(at_line() + ": the header \"" + seqlm::utf8::printable(header) +
                            "\" has no \"epoch\" column (expected a training history: epoch,loss,...)");
  }
  const std::size_t header_cells = cells.size();
  table.values.resize(table.columns.size());

  while (reader.read_row(cells)) {
    if (cells.size() != header_cells) {
      throw seqlm::file_error(at_line() + ": " + std::to_string(cells.size()) + " cells, the header has " +
                              std::to_string(header_cells));
    }
    if (table.epochs.size() == max_history_rows) {
      throw seqlm::file_error(where + ": more than " + std::to_string(max_history_rows) + " epochs");
    }
    std::size_t metric = 0;
    for (std::size_t c = 0; c < cells.size(); ++c) {
      bool ok = true;
      const double value = detail::parse_cell(cells[c], ok);
      if (!ok || (c == epoch_column && std::isnan(value))) {
        const std::string name = c == epoch_column ? std::string("epoch") : table.columns[metric];
        throw seqlm::file_error(at_line() + ", column " + std::to_string(c + 1) + " (" +
                                seqlm::utf8::printable(name) + "): \"" + seqlm::utf8::printable(cells[c]) +
                                "\" is not a number");
      }
      if (c == epoch_column) {
        table.epochs.push_back(value);
      } else {
        table.values[metric++].push_back(value);
      }
    }
  }
  if (table.epochs.empty()) throw seqlm::file_error(where + ": has a header but no epochs");
  return table;
}

// ---- axes ------------------------------------------------------------------------------------

// Tick positions covering [low, high] in steps of 1, 2 or 5 times a power of ten, about
// `target` of them; the axis runs from the first tick to the last.
struct Ticks {
  double step = 1;
  std::vector<double> values;
  int decimals = 0;  // digits after the point that tell the ticks apart
};

inline Ticks nice_ticks(double low, double high, int target = 5, double min_step = 0) {
  if (!(high > low)) {  // one value (or none): a range around it
    const double pad = low == 0 ? 1.0 : std::abs(low) * 0.1;
    low -= pad;
    high += pad;
  }
  const double rough = (high - low) / std::max(1, target);
  const double power = std::pow(10.0, std::floor(std::log10(rough)));
  double step = 10 * power;
  for (const double factor : {1.0, 2.0, 5.0}) {
    if (factor * power >= rough) {
      step = factor * power;
      break;
    }
  }
  step = std::max(step, min_step);
  Ticks ticks;
  ticks.step = step;
  const double first = std::floor(low / step + 1e-9);
  const double last = std::ceil(high / step - 1e-9);
  for (double k = first; k <= last; ++k) ticks.values.push_back(k * step == 0 ? 0.0 : k * step);
  ticks.decimals = std::max(0, static_cast<int>(-std::floor(std::log10(step) + 1e-9)));
  return ticks;
}

inline std::string format_fixed(double value, int decimals) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  return text;
}

// ---- SVG -------------------------------------------------------------------------------------

struct PlotOptions {
  std::string title;                 // above the chart ("" for none)
  std::vector<std::string> metrics;  // one panel each; empty: "loss", and "accuracy" when present
  int width = 800;                   // pixels
  int panel_height = 340;            // pixels per panel
};

namespace detail {

// Text for SVG content and attribute values.
inline std::string xml_escape(std::string_view text) {
  std::string out;
  for (const char c : seqlm::utf8::printable(text)) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  }
  return out;
}

inline std::string coordinate(double value) { return format_fixed(value, 2); }

}  // namespace detail

// The panels `options` asks for, checked against the table: value_error naming the columns
// when a requested metric (or its val_ twin) is not there.
inline std::vector<std::string> plotted_metrics(const HistoryTable& table, const PlotOptions& options) {
  std::vector<std::string> metrics = options.metrics;
  if (metrics.empty()) {
    for (const char* name : {"loss", "accuracy"}) {
      if (table.find(name) != nullptr || table.find(std::string("val_") + name) != nullptr)
        metrics.push_back(name);
    }
    if (metrics.empty() && !table.columns.empty()) metrics.push_back(table.columns.front());
  }
  std::string known;
  for (const std::string& column : table.columns) known += (known.empty() ? "" : ", ") + column;
  if (metrics.empty()) throw seqlm::value_error("the history has no metric columns, only epochs");
  for (const std::string& metric : metrics) {
    if (table.find(metric) == nullptr && table.find("val_" + metric) == nullptr) {
      throw seqlm::value_error("the history has no metric \"" + metric + "\" (its columns: " + known + ")");
    }
  }
  return metrics;
}

// The chart as a complete SVG document. Each series is a <g class="series"
// data-series="NAME"> holding its line (one <polyline> per unbroken run of points) and one
// <circle> per point, so that a program can read the chart back.
inline std::string history_svg(const HistoryTable& table, const PlotOptions& options) {
  const std::vector<std::string> metrics = plotted_metrics(table, options);
  const double width = options.width;
  const double title_height = options.title.empty() ? 10 : 40;
  const double panel_height = options.panel_height;
  const double height = title_height + panel_height * static_cast<double>(metrics.size());
  const double left = 80, right = 150, top = 20, bottom = 55;  // margins of each panel's plot area
  const double plot_width = width - left - right;
  const double plot_height = panel_height - top - bottom;

  std::string svg;
  svg += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  svg += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + detail::coordinate(width) + "\" height=\"" +
         detail::coordinate(height) + "\" viewBox=\"0 0 " + detail::coordinate(width) + " " +
         detail::coordinate(height) + "\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n";
  svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  if (!options.title.empty()) {
    svg += "<text class=\"title\" x=\"" + detail::coordinate(width / 2) +
           "\" y=\"26\" text-anchor=\"middle\" font-size=\"18\" font-weight=\"bold\">" +
           detail::xml_escape(options.title) + "</text>\n";
  }

  // Smaller markers when there are many points, so that the line stays visible.
  const std::string marker = table.epochs.size() > 40 ? "2" : "3.5";
  // The x axis is shared: whole epochs.
  const auto [min_epoch, max_epoch] = std::minmax_element(table.epochs.begin(), table.epochs.end());
  const Ticks x_ticks = nice_ticks(*min_epoch, *max_epoch, 8, 1.0);
  const double x_low = x_ticks.values.front(), x_high = x_ticks.values.back();

  for (std::size_t p = 0; p < metrics.size(); ++p) {
    const std::string& metric = metrics[p];
    const double y0 = title_height + panel_height * static_cast<double>(p) + top;  // plot area's top
    struct Series {
      std::string name;
      const std::vector<double>* values;
      const char* color;
      const char* dash;
    };
    std::vector<Series> series;
    if (const auto* values = table.find(metric)) series.push_back({metric, values, "#1f77b4", ""});
    if (const auto* values = table.find("val_" + metric))
      series.push_back({"val_" + metric, values, "#d62728", " stroke-dasharray=\"6 4\""});

    double low = std::numeric_limits<double>::infinity(), high = -low;
    for (const Series& s : series) {
      for (const double v : *s.values) {
        if (std::isnan(v)) continue;
        low = std::min(low, v);
        high = std::max(high, v);
      }
    }
    if (!(low <= high)) low = high = 0;  // no values at all: an empty panel around 0
    const Ticks y_ticks = nice_ticks(low, high, 5);
    const double y_low = y_ticks.values.front(), y_high = y_ticks.values.back();
    const auto x_of = [&](double epoch) { return left + (epoch - x_low) / (x_high - x_low) * plot_width; };
    const auto y_of = [&](double value) { return y0 + (y_high - value) / (y_high - y_low) * plot_height; };

    svg += "<g class=\"panel\" data-metric=\"" + detail::xml_escape(metric) + "\">\n";
    // Grid and ticks.
    svg += "<g class=\"y-ticks\" font-size=\"12\" text-anchor=\"end\">\n";
    for (const double v : y_ticks.values) {
      const std::string y = detail::coordinate(y_of(v));
      svg += "<line x1=\"" + detail::coordinate(left) + "\" y1=\"" + y + "\" x2=\"" +
             detail::coordinate(left + plot_width) + "\" y2=\"" + y + "\" stroke=\"#e5e5e5\"/>\n";
      svg += "<text class=\"tick\" x=\"" + detail::coordinate(left - 8) + "\" y=\"" + y +
             "\" dy=\"4\" data-value=\"" + format_fixed(v, y_ticks.decimals + 2) + "\">" +
             format_fixed(v, y_ticks.decimals) + "</text>\n";
    }
    svg += "</g>\n<g class=\"x-ticks\" font-size=\"12\" text-anchor=\"middle\">\n";
    for (const double v : x_ticks.values) {
      const std::string x = detail::coordinate(x_of(v));
      svg += "<line x1=\"" + x + "\" y1=\"" + detail::coordinate(y0) + "\" x2=\"" + x + "\" y2=\"" +
             detail::coordinate(y0 + plot_height) + "\" stroke=\"#e5e5e5\"/>\n";
      svg += "<text class=\"tick\" x=\"" + x + "\" y=\"" + detail::coordinate(y0 + plot_height + 18) +
             "\" data-value=\"" + format_fixed(v, x_ticks.decimals) + "\">" +
             format_fixed(v, x_ticks.decimals) + "</text>\n";
    }
    svg += "</g>\n";
    // Axes and their labels.
    svg += "<rect x=\"" + detail::coordinate(left) + "\" y=\"" + detail::coordinate(y0) + "\" width=\"" +
           detail::coordinate(plot_width) + "\" height=\"" + detail::coordinate(plot_height) +
           "\" fill=\"none\" stroke=\"#333\"/>\n";
    svg += "<text class=\"x-label\" x=\"" + detail::coordinate(left + plot_width / 2) + "\" y=\"" +
           detail::coordinate(y0 + plot_height + 42) +
           "\" text-anchor=\"middle\" font-size=\"14\">epoch</text>\n";
    const std::string label_y = detail::coordinate(y0 + plot_height / 2);
    svg += "<text class=\"y-label\" x=\"22\" y=\"" + label_y + "\" transform=\"rotate(-90 22 " + label_y +
           ")\" text-anchor=\"middle\" font-size=\"14\">" + detail::xml_escape(metric) + "</text>\n";
    // The series.
    for (const Series& s : series) {
      svg += "<g class=\"series\" data-series=\"" + detail::xml_escape(s.name) + "\">\n";
      std::string points;
      std::size_t in_run = 0;
      const auto end_run = [&]() {
        if (in_run >= 2) {
          svg += "<polyline fill=\"none\" stroke=\"" + std::string(s.color) + "\" stroke-width=\"2\"" +
                 s.dash + " points=\"" + points + "\"/>\n";
        }
        points.clear();
        in_run = 0;
      };
      for (std::size_t r = 0; r < table.epochs.size(); ++r) {
        const double v = (*s.values)[r];
        if (std::isnan(v)) {
          end_run();
          continue;
        }
        points += (points.empty() ? "" : " ") + detail::coordinate(x_of(table.epochs[r])) + "," +
                  detail::coordinate(y_of(v));
        ++in_run;
      }
      end_run();
      for (std::size_t r = 0; r < table.epochs.size(); ++r) {
        const double v = (*s.values)[r];
        if (std::isnan(v)) continue;
        svg += "<circle cx=\"" + detail::coordinate(x_of(table.epochs[r])) + "\" cy=\"" +
               detail::coordinate(y_of(v)) + "\" r=\"" + marker + "\" fill=\"" + s.color + "\"/>\n";
      }
      svg += "</g>\n";
    }
    // Legend, right of the plot area.
    svg += "<g class=\"legend\" font-size=\"13\">\n";
    for (std::size_t k = 0; k < series.size(); ++k) {
      const double y = y0 + 14 + 22 * static_cast<double>(k);
      const double x = left + plot_width + 16;
      svg += "<line x1=\"" + detail::coordinate(x) + "\" y1=\"" + detail::coordinate(y) + "\" x2=\"" +
             detail::coordinate(x + 28) + "\" y2=\"" + detail::coordinate(y) + "\" stroke=\"" +
             series[k].color + "\" stroke-width=\"2\"" + series[k].dash + "/>\n";
      svg += "<circle cx=\"" + detail::coordinate(x + 14) + "\" cy=\"" + detail::coordinate(y) +
             "\" r=\"3.5\" fill=\"" + series[k].color + "\"/>\n";
      svg += "<text x=\"" + detail::coordinate(x + 36) + "\" y=\"" + detail::coordinate(y) + "\" dy=\"4\">" +
             detail::xml_escape(series[k].name) + "</text>\n";
    }
    svg += "</g>\n</g>\n";
  }
  svg += "</svg>\n";
  return svg;
}

}  // namespace seqlm_tool
