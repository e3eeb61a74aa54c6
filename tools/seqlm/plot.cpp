// seqlm plot HISTORY.csv -o loss.svg: a training history (the CSV of `seqlm train --log-csv`,
// seqlm's CsvLogger) drawn as an SVG chart, one panel per metric with its val_ twin
// (plot_svg.hpp draws it), or, for an output ending in .png, its rendering by rsvg-convert
// (chart_file.hpp).
#include <algorithm>
#include <cstring>
#include <iostream>
#include <seqlm/error.hpp>
#include <seqlm/io/atomic_file.hpp>
#include <string>
#include <vector>

#include "chart_file.hpp"
#include "commands.hpp"
#include "common/cli.hpp"
#include "plot_svg.hpp"

namespace {

std::string file_name(const std::string& path) {
  const std::size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// "loss,accuracy" -> {"loss", "accuracy"}.
std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> items;
  std::size_t begin = 0;
  while (begin <= text.size()) {
    const std::size_t comma = std::min(text.find(',', begin), text.size());
    const std::string item = text.substr(begin, comma - begin);
    if (item.empty())
      throw seqlm::value_error("--metric expects metric names separated by commas, got '" + text + "'");
    items.push_back(item);
    begin = comma + 1;
  }
  return items;
}

}  // namespace

int seqlm_tool::plot_command(int argc, char** argv) {
  examples::CommandLine cli("seqlm plot",
                            "draw a training history (the CSV of train --log-csv) as an SVG chart");
  cli.positional_arguments("HISTORY.csv");
  cli.option("out", "",
             "the chart to write (also -o): SVG, or PNG for a name ending in .png (needs rsvg-convert)");
  cli.option("metric", "",
             "the metrics to draw, one panel each, separated by commas (default: loss, and accuracy when "
             "present); each panel also draws its val_ twin");
  cli.option("title", "", "the chart's title (default: the CSV's file name)");
  try {
    // -o FILE is --out FILE.
    std::vector<std::string> arguments(argv, argv + argc);
    for (std::string& argument : arguments)
      if (argument == "-o") argument = "--out";
    std::vector<char*> pointers;
    for (std::string& argument : arguments) pointers.push_back(argument.data());
    cli.parse(static_cast<int>(pointers.size()), pointers.data());
    if (cli.positional().size() != 1) {
      throw seqlm::value_error(cli.positional().empty()
                                   ? "give the history CSV to draw (see --help)"
                                   : "give one history CSV, got " + std::to_string(cli.positional().size()));
    }
    if (!cli.has("out")) throw seqlm::value_error("give the chart file to write with -o FILE (see --help)");
  } catch (const std::exception& e) {
    std::cerr << "seqlm plot: " << seqlm::utf8::printable(e.what()) << "\n";
    return 2;
  }
  try {
    const std::string& csv = cli.positional().front();
    const std::string& out = cli.text("out");
    seqlm_tool::PlotOptions options;
    options.title = cli.has("title") ? cli.text("title") : file_name(csv);
    if (cli.has("metric")) options.metrics = split_list(cli.text("metric"));
    const seqlm_tool::HistoryTable history = seqlm_tool::read_history_csv(csv);
    const std::string svg = seqlm_tool::history_svg(history, options);
    try {
      seqlm_tool::write_chart(out, svg);
    } catch (const seqlm::file_error& e) {
      throw seqlm::file_error(std::string("-o: ") + e.what());
    }
    return 0;
  } catch (...) {
    return examples::report_error("seqlm plot");
  }
}
