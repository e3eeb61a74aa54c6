// seqlm train: a model for any text, with the recipe of seqlm::train_text
// (include/seqlm/text_model/train_text.hpp; docs/cli.md).
//
//   seqlm train --data lyrics.txt --minutes 10 --threads 2 --out lyrics.safetensors
//
// Writes the model file (weights, tokenizer, the training configuration and history), the
// history CSV (one row per epoch, rewritten atomically after every epoch), optionally a
// checkpoint after every epoch (--checkpoint, continued with --resume) and a loss chart
// (--plot). Every option is checked, and every output path tried, before any training.
#include <cmath>
#include <common/cli.hpp>
#include <iostream>
#include <seqlm/io/json.hpp>
#include <seqlm/io/utf8.hpp>
#include <seqlm/text_model/text_model.hpp>
#include <seqlm/text_model/train_text.hpp>
#include <seqlm/train/callbacks.hpp>
#include <string>
#include <vector>

#include "chart_file.hpp"
#include "commands.hpp"
#include "plot_svg.hpp"

namespace {

using examples::CommandLine;
using examples::Range;

// The files' texts, concatenated in order (a newline added after a file that lacks one).
std::string read_texts(const std::vector<std::string>& paths, const char* option) {
  std::string text;
  for (const std::string& path : paths) {
    examples::check_data_file(path, option);
    std::string part = seqlm::read_text_file(path);
    examples::check_utf8_lines(part, path);
    if (part.empty()) throw seqlm::text_error("--" + std::string(option) + " \"" + path + "\" is empty");
    if (part.back() != '\n' && paths.size() > 1) part += '\n';
    text += part;
  }
  return text;
}

seqlm::json::Value string_array(const std::vector<std::string>& values) {
  seqlm::json::Value array = seqlm::json::Value::array();
  for (const std::string& value : values) array.push_back(value);
  return array;
}

// --plot: redraws the loss (and accuracy) chart after every epoch, as the poem tutorial does.
class PlotEveryEpoch final : public seqlm::Callback<float> {
 public:
  PlotEveryEpoch(std::string path, std::string title) : path_(std::move(path)) {
    options_.title = std::move(title);
  }
  void on_epoch_end(seqlm::Index, const seqlm::Logs&, seqlm::TrainingContext<float>& context) override {
    if (!context.writes_files || context.state == nullptr) return;
    seqlm_tool::write_chart(
        path_, seqlm_tool::history_svg(seqlm_tool::history_table(context.state->history), options_));
  }

 private:
  std::string path_;
  seqlm_tool::PlotOptions options_;
};

// The history as {"epoch": [...], "loss": [...], ...} (NaN, for a metric missing in an epoch, as null).
seqlm::json::Value history_json(const seqlm::History& history) {
  seqlm::json::Value object = seqlm::json::Value::object();
  seqlm::json::Value epochs = seqlm::json::Value::array();
  for (const seqlm::Index e : history.epochs) epochs.push_back(e);
  object.set("epoch", std::move(epochs));
  for (const auto& [name, values] : history.metrics) {
    seqlm::json::Value column = seqlm::json::Value::array();
    for (const double v : values)
      column.push_back(std::isfinite(v) ? seqlm::json::Value(v) : seqlm::json::Value());
    object.set(name, std::move(column));
  }
  return object;
}

int run(int argc, char** argv) {
  CommandLine cli("seqlm train", "Train a character- or word-level language model on text files.");
  cli.positional_arguments("[MORE DATA FILES]");
  cli.option("data", "", "the training text (UTF-8); more files may follow as arguments, read in order");
  cli.option("out", "", "the model file to write (required)");
  cli.option("level", "char", "tokens: char (Unicode characters) or word (Keras's Tokenizer words)");
  cli.option("recipe", "streams",
             "streams (stateful truncated BPTT, a loss at every position) or windows (the tutorials' "
             "sliding windows, one target per window)");
  cli.option("model", "lstm:256x2", "the recurrent stack: KIND:UNITSxLAYERS, KIND lstm or gru");
  cli.option("config", "",
             "a model architecture JSON (seqlm.sequential) instead of --model; "
             "\"vocabulary\" stands for the vocabulary size");
  cli.option("embedding", "0", "an Embedding of this width first (0: the recurrent layer reads the ids)",
             Range{0, examples::max_width});
  cli.option("dropout", "0.1", "dropout between the recurrent layers and before the output");
  cli.option("context", "32", "steps per chunk (streams) or window length (windows)",
             Range{1, examples::max_window});
  cli.option("streams", "32", "parallel streams = sequences per batch (streams)", Range{1, 4096});
  cli.option("batch-size", "128", "windows per batch (windows)", Range{1, examples::max_batch_size});
  cli.option("window-step", "3", "tokens between window starts (windows)", Range{1, examples::max_window});
  cli.option("targets", "last",
             "last (one target after each window) or every (a target at every position of it) (windows)");
  cli.option("optimizer", "", "Adam (the streams' default), Nadam, RMSprop (the windows' default) or SGD");
  cli.option("epochs", "0", "passes over the training text (0: train for --minutes)",
             Range{0, examples::max_epochs});
  cli.option("minutes", "0", "wall-time budget of the training (0: --epochs decides)");
  cli.option("validation-split", "", "hold out this last fraction of the text for validation (default 0.1)");
  cli.option("validation", "", "validate on this text instead of a held-out tail");
  cli.option("learning-rate", "0.02",
             "the peak learning rate (streams: warm-up + cosine) or the constant one");
  cli.option("warmup", "20", "warm-up steps (streams)", Range{0, 1000000});
  cli.option("clip", "1", "clip gradients to this global norm (0: no clipping)");
  cli.option("threads", "1", "data-parallel threads", Range{1, examples::max_threads});
  cli.option("seed", "0", "initialisation, dropout and shuffling", Range{0, 4294967295LL});
  cli.option("history", "", "the history CSV (default: the model file's name + .history.csv)");
  cli.option("plot", "", "redraw the loss chart here after every epoch (SVG, or PNG for a .png name)");
  cli.option("checkpoint", "", "write a resumable checkpoint here after every epoch");
  cli.option("resume", "", "continue from this checkpoint (same text and options)");
  cli.flag("quiet", "no progress bar");
  cli.parse(argc, argv);

  if (!cli.has("data")) throw seqlm::value_error("--data is required (the text to train on)");
  if (!cli.has("out")) throw seqlm::value_error("--out is required (the model file to write)");
  const std::string level = cli.text("level"), recipe = cli.text("recipe"), targets = cli.text("targets");
  if (level != "char" && level != "word")
    throw seqlm::value_error("--level must be char or word, got '" + level + "'");
  if (recipe != "streams" && recipe != "windows") {
    throw seqlm::value_error("--recipe must be streams or windows, got '" + recipe + "'");
  }
  if (targets != "last" && targets != "every") {
    throw seqlm::value_error("--targets must be last or every, got '" + targets + "'");
  }
  const double minutes = cli.real("minutes");
  if (!(minutes >= 0.0 && minutes <= 1e6)) throw seqlm::value_error("--minutes must be from 0 to 1e6");
  if (cli.integer("epochs") == 0 && minutes == 0.0) throw seqlm::value_error("give --epochs or --minutes");
  if (cli.has("validation") && cli.has("validation-split")) {
    throw seqlm::value_error("give --validation or --validation-split, not both");
  }

  seqlm::TrainTextOptions options;
  options.level = level == "char" ? seqlm::TokenLevel::character : seqlm::TokenLevel::word;
  options.recipe = recipe == "streams" ? seqlm::TrainingRecipe::streams : seqlm::TrainingRecipe::windows;
  options.model = seqlm::parse_model_spec(cli.text("model"));
  if (cli.has("config")) {
    examples::check_data_file(cli.text("config"), "config");
    options.architecture =
        seqlm::json::load_file(cli.text("config"), "--config", [](const seqlm::json::Value& v) { return v; });
  }
  options.embedding = cli.integer("embedding");
  options.dropout = cli.real("dropout");
  options.context = cli.positive("context");
  options.streams = cli.positive("streams");
  options.batch_size = cli.positive("batch-size");
  options.window_step = cli.positive("window-step");
  options.window_targets = targets == "every" ? seqlm::WindowTargets::every_position
                                              : seqlm::WindowTargets::next_token_after_window;
  options.optimizer = cli.text("optimizer");
  options.epochs = cli.integer("epochs");
  options.minutes = minutes;
  options.validation_split = cli.has("validation-split") ? cli.real("validation-split")
                             : cli.has("validation")     ? 0.0
                                                         : 0.1;
  options.learning_rate = cli.real("learning-rate");
  options.warmup_steps = cli.integer("warmup");
  options.clip_norm = cli.real("clip");
  options.threads = cli.positive("threads");
  options.seed = static_cast<std::uint64_t>(cli.integer("seed"));
  options.checkpoint = cli.text("checkpoint");
  options.resume = cli.text("resume");
  if (cli.has("quiet")) options.verbosity = seqlm::Verbosity::silent;

  // Every output is tried before the (long) training, so a typo fails now, not after it.
  const std::string out = cli.text("out");
  const std::string history_path = cli.has("history") ? cli.text("history") : out + ".history.csv";
  examples::check_output_file(cli, "out");
  examples::check_output_file(cli, "checkpoint");
  examples::check_output_file(cli, "plot");
  seqlm_tool::check_chart_path(cli.text("plot"), "--plot");
  examples::check_output_file(history_path, "--history");
  if (cli.has("resume")) examples::check_data_file(options.resume, "resume");

  examples::doing("reading the text");
  std::vector<std::string> data_files{cli.text("data")};
  for (const std::string& more : cli.positional()) data_files.push_back(more);
  const std::string text = read_texts(data_files, "data");
  if (cli.has("validation")) options.validation_text = read_texts({cli.text("validation")}, "validation");

  seqlm::CsvLogger<float> history_csv(history_path);
  options.callbacks.push_back(&history_csv);
  PlotEveryEpoch plot(cli.text("plot"), out);
  if (cli.has("plot")) options.callbacks.push_back(&plot);

  examples::doing("training");
  seqlm::TrainTextResult result = seqlm::train_text(text, options);

  seqlm::json::Value config = seqlm::json::Value::object();
  config.set("tool", "seqlm train")
      .set("level", level)
      .set("recipe", recipe)
      .set("data", string_array(data_files))
      .set("validation",
           cli.has("validation") ? seqlm::json::Value(cli.text("validation")) : seqlm::json::Value())
      .set("validation_split", options.validation_split)
      .set("model", cli.has("config") ? cli.text("config") : cli.text("model"))
      .set("embedding", options.embedding)
      .set("dropout", options.dropout)
      .set("context", options.context)
      .set("streams", options.streams)
      .set("batch_size", options.batch_size)
      .set("window_step", options.window_step)
      .set("targets", targets)
      .set("optimizer", seqlm::optimizer_name(options))
      .set("epochs", options.epochs)
      .set("minutes", options.minutes)
      .set("learning_rate", options.learning_rate)
      .set("warmup_steps", options.warmup_steps)
      .set("clip_norm", options.clip_norm)
      .set("threads", options.threads)
      .set("seed", static_cast<double>(options.seed))
      .set("training_tokens", result.training_tokens)
      .set("validation_tokens", result.validation_tokens)
      .set("history", history_json(result.history));
  result.model.training_config = config;
  examples::doing("writing the model file");
  seqlm::save_text_model(out, result.model);

  if (!result.history.empty()) {
    std::cout << "trained " << result.history.size() << " epoch(s); ";
    if (result.history.has("val_loss")) {
      std::cout << "validation loss " << result.history.last("val_loss") << " nats/token ("
                << result.history.last("val_bits_per_token") << " bits)";
    } else {
      std::cout << "loss " << result.history.last("loss") << " nats/token";
    }
    std::cout << "\n";
  }
  std::cout << "wrote " << out << " and " << history_path << "\n";
  return 0;
}

}  // namespace

int seqlm_tool::train_command(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (...) {
    return examples::report_error("seqlm train", " (try a smaller --model, --streams or --context)");
  }
}
