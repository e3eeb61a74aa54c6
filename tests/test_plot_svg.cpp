// The chart code of `seqlm plot` (tools/seqlm/plot_svg.hpp): tick steps of 1, 2 or 5 times a
// power of ten, reading CsvLogger's history CSV (and naming the file, line and column of a bad
// cell), and the SVG's series, gaps and escaping.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <seqlm/io/atomic_file.hpp>
#include <string>
#include <vector>

#include "../tools/seqlm/plot_svg.hpp"

namespace plot_svg_tests {

using namespace seqlm_tool;

namespace {

std::size_t count(const std::string& text, const std::string& piece) {
  std::size_t found = 0;
  for (std::size_t at = text.find(piece); at != std::string::npos; at = text.find(piece, at + 1)) ++found;
  return found;
}

// The part of `svg` inside the series group `name`.
std::string series(const std::string& svg, const std::string& name) {
  const std::size_t begin = svg.find("<g class=\"series\" data-series=\"" + name + "\">");
  REQUIRE(begin != std::string::npos);
  return svg.substr(begin, svg.find("</g>", begin) - begin);
}

// Writes `text` to a scratch CSV, reads it back, removes the file.
HistoryTable read_text(const std::string& text) {
  const std::string path = "seqlm_test_plot_svg.csv";
  seqlm::write_file_atomically(path, text);
  struct Remove {
    std::string path;
    ~Remove() { std::remove(path.c_str()); }
  } remove{path};
  return read_history_csv(path);
}

}  // namespace

TEST_CASE("ticks step by 1, 2 or 5 times a power of ten and cover the range") {
  const Ticks unit = nice_ticks(0, 1);
  CHECK(unit.step == doctest::Approx(0.2));
  CHECK(unit.values.front() == 0);
  CHECK(unit.values.back() == doctest::Approx(1));
  CHECK(unit.decimals == 1);

  const Ticks loss = nice_ticks(1.55, 3.1);
  CHECK(loss.step == doctest::Approx(0.5));
  CHECK(loss.values.front() == doctest::Approx(1.5));
  CHECK(loss.values.back() == doctest::Approx(3.5));

  const Ticks epochs = nice_ticks(0, 99, 8, 1.0);
  CHECK(epochs.step == 20);
  CHECK(epochs.values.back() == 100);
  CHECK(epochs.decimals == 0);
  CHECK(nice_ticks(0, 2, 8, 1.0).step == 1);  // whole epochs, never halves
}

TEST_CASE("a single value gets a range around it") {
  const Ticks around = nice_ticks(4.2, 4.2);
  CHECK(around.values.front() < 4.2);
  CHECK(around.values.back() > 4.2);
  const Ticks zero = nice_ticks(0, 0);
  CHECK(zero.values.front() < 0);
  CHECK(zero.values.back() > 0);
}

TEST_CASE("a CsvLogger history is read with missing values as NaN") {
  const HistoryTable table = read_text(
      "epoch,accuracy,loss,val_loss\r\n0,0.25,1.75,1.875\r\n1,0.5,1.25,nan\r\n\r\n2,0.625,1,NA\r\n");
  CHECK(table.columns == std::vector<std::string>{"accuracy", "loss", "val_loss"});
  CHECK(table.epochs == std::vector<double>{0, 1, 2});
  REQUIRE(table.find("loss") != nullptr);
  CHECK(*table.find("loss") == std::vector<double>{1.75, 1.25, 1});
  CHECK(std::isnan((*table.find("val_loss"))[1]));
  CHECK(std::isnan((*table.find("val_loss"))[2]));
  CHECK(table.find("lr") == nullptr);
}

TEST_CASE("a bad history CSV is refused naming the file, line and column") {
  CHECK_THROWS_WITH_AS(read_text("epoch,loss\n0,1.5\n1,abc\n"),
                       "\"seqlm_test_plot_svg.csv\" line 3, column 2 (loss): \"abc\" is not a number",
                       seqlm::file_error);
  CHECK_THROWS_WITH_AS(read_text("epoch,loss\n,1.5\n"),
                       "\"seqlm_test_plot_svg.csv\" line 2, column 1 (epoch): \"\" is not a number",
                       seqlm::file_error);
  CHECK_THROWS_WITH_AS(read_text(""),
                       "\"seqlm_test_plot_svg.csv\": empty file, expected a header line \"epoch,loss,...\"",
                       seqlm::file_error);
  CHECK_THROWS_WITH_AS(read_text("step,loss\n0,1\n"),
                       "\"seqlm_test_plot_svg.csv\" line 1: the header \"step,loss\" has no \"epoch\" column "
                       "(expected a training history: epoch,loss,...)",
                       seqlm::file_error);
  CHECK_THROWS_WITH_AS(read_text("epoch,loss,loss\n"),
                       "\"seqlm_test_plot_svg.csv\" line 1: the header names column \"loss\" twice",
                       seqlm::file_error);
  CHECK_THROWS_WITH_AS(read_text("epoch,loss\n0\n"),
                       "\"seqlm_test_plot_svg.csv\" line 2: 1 cells, the header has 2", seqlm::file_error);
  CHECK_THROWS_WITH_AS(read_text("epoch,loss\n"), "\"seqlm_test_plot_svg.csv\": has a header but no epochs",
                       seqlm::file_error);
}

TEST_CASE("the chart has one panel per metric, each with its val_ twin") {
  HistoryTable table;
  table.columns = {"accuracy", "loss", "val_loss"};
  table.epochs = {0, 1, 2, 3};
  const double gap = std::nan("");
  table.values = {{0.2, 0.3, 0.4, 0.5}, {2.0, 1.5, 1.2, 1.1}, {2.1, gap, 1.4, 1.3}};
  PlotOptions options;
  options.title = "run <1> & \"2\"";
  const std::string svg = history_svg(table, options);

  CHECK(svg.rfind("<?xml", 0) == 0);
  CHECK(count(svg, "<g class=\"panel\"") == 2);
  CHECK(svg.find("run &lt;1&gt; &amp; &quot;2&quot;") != std::string::npos);
  CHECK(count(series(svg, "loss"), "<circle") == 4);
  CHECK(count(series(svg, "loss"), "<polyline") == 1);
  // The missing value: 3 markers, and a line only over the run of two (a lone point has none).
  CHECK(count(series(svg, "val_loss"), "<circle") == 3);
  CHECK(count(series(svg, "val_loss"), "<polyline") == 1);
  CHECK(count(series(svg, "accuracy"), "<circle") == 4);
  CHECK(svg.find("data-series=\"val_accuracy\"") == std::string::npos);
}

TEST_CASE("a History in memory gives the same table as its CSV") {
  seqlm::History history;
  history.record(0, {{"loss", 2.0}});
  history.record(1, {{"loss", 1.5}, {"val_loss", 1.75}});
  const HistoryTable table = history_table(history);
  CHECK(table.epochs == std::vector<double>{0, 1});
  CHECK(table.columns == std::vector<std::string>{"loss", "val_loss"});
  CHECK(*table.find("loss") == std::vector<double>{2.0, 1.5});
  CHECK(std::isnan((*table.find("val_loss"))[0]));
  const std::string svg = history_svg(table, PlotOptions());
  CHECK(count(series(svg, "val_loss"), "<circle") == 1);
}

TEST_CASE("a single epoch still draws its points") {
  HistoryTable table;
  table.columns = {"loss"};
  table.epochs = {0};
  table.values = {{4.2}};
  const std::string svg = history_svg(table, PlotOptions());
  CHECK(count(series(svg, "loss"), "<circle") == 1);
  CHECK(count(svg, "class=\"tick\"") >= 4);  // both axes have ticks
}

TEST_CASE("an unknown metric is refused, naming the columns") {
  HistoryTable table;
  table.columns = {"loss"};
  table.epochs = {0};
  table.values = {{1.0}};
  PlotOptions options;
  options.metrics = {"perplexity"};
  CHECK_THROWS_WITH_AS(history_svg(table, options),
                       "the history has no metric \"perplexity\" (its columns: loss)", seqlm::value_error);
}

}  // namespace plot_svg_tests
