// seqlm eval: the loss, bits per token, perplexity and accuracy of a model on a text.
//
//   seqlm eval MODEL --data FILE [--oov error|skip|map:FILE] [--context N [--stride S]]
//              [--streams S] [--chunk T] [--batch-size B] [--baseline ngram:N [--add-k K]]
//              [--train FILE] [--json]
//
// The text is scored by evaluate_text (include/seqlm/text_model/evaluate_text.hpp): by default
// as --streams contiguous streams read with the recurrent state carried across chunks of
// --chunk steps, every token predicted from everything before it in its stream; with --context N
// every window of N tokens (one every --stride tokens) predicts the token after it, exactly as
// fit() scores its validation windows (a model that predicts only after a window's last step
// needs this).
//
// --baseline ngram:N also fits an n-gram model of order N (examples/common/ngram_baseline.hpp:
// backoff + add-k, k chosen on the end of the training text unless --add-k is given) on the
// model's training text -- the files of its training configuration's "data" without the
// validation tail "validation_split" (the last fraction of their tokens), or --train FILE --
// and scores it on the same positions from the same contexts (its last N-1 tokens of them).
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <map>
#include <optional>
#include <seqlm/data/split.hpp>
#include <seqlm/data/token_source.hpp>
#include <seqlm/data/windows.hpp>
#include <seqlm/io/json.hpp>
#include <seqlm/io/utf8.hpp>
#include <seqlm/text_model/evaluate_text.hpp>
#include <seqlm/text_model/text_model.hpp>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "commands.hpp"
#include "common.hpp"
#include "common/cli.hpp"
#include "common/ngram_baseline.hpp"

namespace {

using seqlm::Index;
using seqlm::TokenId;

constexpr const char* program = "seqlm eval";

struct Settings {
  std::string model_path, data_path, map_path, train_path;
  seqlm::OovPolicy::Kind oov = seqlm::OovPolicy::error;
  seqlm::EvaluateTextOptions evaluation;
  Index ngram_order = 0;  // 0: no baseline
  double add_k = 0;
  bool json = false;
};

// The options as Settings; value_error (a usage error) for anything malformed.
Settings read_settings(const examples::CommandLine& cli) {
  Settings s;
  s.model_path = seqlm_tool::the_file_argument(cli, "model file");
  s.data_path = cli.text("data");
  if (s.data_path.empty()) throw seqlm::value_error("--data FILE is required: the text to score");
  const std::string& oov = cli.text("oov");
  if (oov == "error") {
    s.oov = seqlm::OovPolicy::error;
  } else if (oov == "skip") {
    s.oov = seqlm::OovPolicy::skip;
  } else if (oov.rfind("map:", 0) == 0 && oov.size() > 4) {
    s.oov = seqlm::OovPolicy::map;
    s.map_path = oov.substr(4);
  } else {
    throw seqlm::value_error("--oov expects error, skip or map:FILE, got '" + oov + "'");
  }
  s.evaluation.context = static_cast<Index>(cli.integer("context"));
  s.evaluation.stride = cli.positive("stride");
  s.evaluation.streams = cli.positive("streams");
  s.evaluation.chunk = cli.positive("chunk");
  s.evaluation.batch_size = cli.positive("batch-size");
  if (s.evaluation.context == 0 && cli.text("stride") != "1") {
    throw seqlm::value_error("--stride applies to windows; give --context N too");
  }
  const std::string& baseline = cli.text("baseline");
  if (!baseline.empty()) {
    const std::string order = baseline.rfind("ngram:", 0) == 0 ? baseline.substr(6) : "";
    char* end = nullptr;
    const long parsed = std::strtol(order.c_str(), &end, 10);
    if (order.empty() || *end != '\0' || parsed < 2 || parsed > 20) {
      throw seqlm::value_error("--baseline expects ngram:N with N from 2 to 20, got '" + baseline + "'");
    }
    s.ngram_order = parsed;
  }
  s.add_k = cli.real("add-k");
  if (!(s.add_k >= 0) || !std::isfinite(s.add_k)) {
    throw seqlm::value_error("--add-k must be a number >= 0 (0: choose it), got '" + cli.text("add-k") + "'");
  }
  s.train_path = cli.text("train");
  if (s.ngram_order == 0 && (!s.train_path.empty() || cli.text("add-k") != "0")) {
    throw seqlm::value_error("--train and --add-k are for the n-gram baseline; give --baseline ngram:N too");
  }
  s.json = cli.has("json");
  return s;
}

// file_error unless `path` is a regular file (or missing: the reader then says so).
void check_regular_file(const std::string& path, const std::string& what) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) return;
  if (S_ISDIR(info.st_mode)) throw seqlm::file_error(what + " \"" + path + "\" is a directory; give a file");
  if (!S_ISREG(info.st_mode)) throw seqlm::file_error(what + " \"" + path + "\" is not a regular file");
}

// A whole UTF-8 text file (file_error / text_error naming the file, and the line of bad UTF-8).
std::string read_utf8_file(const std::string& path, const std::string& what) {
  check_regular_file(path, what);
  std::string text = seqlm::read_text_file(path);
  examples::check_utf8_lines(text, path);
  return text;
}

// The table of --oov map:FILE: lines "FROM<TAB>TO" (empty lines are skipped; TO may be empty).
std::map<std::string, std::string> read_map(const std::string& path, seqlm::TokenLevel level) {
  const std::string text = read_utf8_file(path, "--oov map file");
  std::map<std::string, std::string> table;
  Index line_number = 0;
  for (std::size_t begin = 0; begin < text.size();) {
    ++line_number;
    std::size_t end = std::min(text.find('\n', begin), text.size());
    std::string line = text.substr(begin, end - begin);
    begin = end + 1;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    const std::string where = "--oov map file \"" + path + "\" line " + std::to_string(line_number) + ": ";
    const std::size_t tab = line.find('\t');
    if (tab == std::string::npos || tab == 0) throw seqlm::text_error(where + "expected FROM<TAB>TO");
    const std::string from = line.substr(0, tab);
    if (level == seqlm::TokenLevel::character && seqlm::utf8::length(from) != 1) {
      throw seqlm::text_error(where + "\"" + from + "\" is not one character (the model reads characters)");
    }
    if (!table.emplace(from, line.substr(tab + 1)).second) {
      throw seqlm::text_error(where + "\"" + from + "\" is mapped twice");
    }
  }
  return table;
}

// The text of `path` as the model's ids; messages name the file.
std::vector<TokenId> encode_file(const seqlm::TextModel<float>& model, const std::string& path,
                                 const std::string& what, const seqlm::OovPolicy& oov) {
  const std::string text = read_utf8_file(path, what);
  try {
    return model.encode(text, oov);
  } catch (const seqlm::text_error& e) {
    throw seqlm::text_error(what + " \"" + path + "\": " + e.what());
  }
}

// The n-gram's training tokens: --train, or the training configuration's files without the
// validation tail. `described` says where they came from.
std::vector<TokenId> baseline_training_tokens(const seqlm::TextModel<float>& model, const Settings& s,
                                              const seqlm::OovPolicy& oov, std::string& described) {
  if (!s.train_path.empty()) {
    described = "--train \"" + s.train_path + "\"";
    return encode_file(model, s.train_path, "--train", oov);
  }
  const seqlm::json::Value& config = model.training_config;
  const seqlm::json::Value* data = config.is_object() ? config.find("data") : nullptr;
  std::vector<std::string> paths;
  if (data != nullptr && data->is_string()) paths.push_back(data->as_string());
  if (data != nullptr && data->is_array()) {
    for (const seqlm::json::Value& entry : data->as_array()) {
      if (entry.is_string()) paths.push_back(entry.as_string());
    }
  }
  if (paths.empty() || (data->is_array() && paths.size() != data->size())) {
    throw seqlm::value_error(
        "the model's training configuration names no training files (\"data\"); give "
        "--train FILE for the n-gram baseline");
  }
  std::vector<TokenId> tokens;
  for (const std::string& path : paths) {
    try {
      const std::vector<TokenId> part = encode_file(model, path, "training file", oov);
      tokens.insert(tokens.end(), part.begin(), part.end());
    } catch (const seqlm::file_error& e) {
      throw seqlm::file_error(std::string(e.what()) +
                              " (named in the model's training configuration; give "
                              "--train FILE)");
    }
  }
  double fraction = 0;
  const seqlm::json::Value* split = config.find("validation_split");
  if (split != nullptr && split->is_number()) fraction = split->as_double();
  const Index cut = seqlm::keras_split_point(static_cast<Index>(tokens.size()), fraction);
  tokens.resize(static_cast<size_t>(cut));
  std::ostringstream out;
  out << "the training text (" << paths.size() << " file" << (paths.size() == 1 ? "" : "s");
  if (fraction > 0) out << ", without its last " << fraction * 100 << "% held out for validation";
  out << ")";
  described = out.str();
  return tokens;
}

// The positions evaluate_text scores, as n-gram targets with the same contexts.
std::vector<examples::ScoredTarget> scored_positions(const std::vector<TokenId>& ids, const Settings& s,
                                                     Index order) {
  if (s.evaluation.context > 0) {
    const seqlm::WindowDataset windows(seqlm::TokenStream(ids), s.evaluation.context, s.evaluation.stride,
                                       seqlm::WindowTargets::next_token_after_window);
    return examples::window_targets(windows, 0, windows.size(), order);
  }
  const std::vector<Index> bounds =
      seqlm::stream_boundaries(static_cast<Index>(ids.size()), s.evaluation.streams);
  std::vector<examples::ScoredTarget> targets;
  targets.reserve(ids.size());
  for (size_t k = 0; k + 1 < bounds.size(); ++k) {
    for (Index p = bounds[k] + 1; p < bounds[k + 1]; ++p) targets.push_back({p, p - bounds[k], 1});
  }
  return targets;
}

seqlm::json::Value scores_json(const seqlm::EvaluationResult& r) {
  return seqlm::json::Value::object()
      .set("tokens", r.tokens)
      .set("loss", r.loss)
      .set("bits_per_token", r.bits_per_token)
      .set("perplexity", r.perplexity)
      .set("accuracy", r.accuracy);
}

int run(const Settings& s) {
  examples::doing("reading the model");
  seqlm_tool::check_input_file(s.model_path, "model file");
  const seqlm::TextModel<float> model = seqlm::load_text_model<float>(s.model_path);
  const bool words = model.level() == seqlm::TokenLevel::word;
  const char* unit = words ? "words" : "characters";

  seqlm::OovPolicy oov;
  oov.kind = s.oov;
  if (s.oov == seqlm::OovPolicy::map) oov.table = read_map(s.map_path, model.level());

  examples::doing("reading --data");
  const std::vector<TokenId> ids = encode_file(model, s.data_path, "--data", oov);
  // The baseline's training text is read before the model runs: a missing file fails at once.
  std::vector<TokenId> training;
  std::string baseline_source;
  if (s.ngram_order > 0) {
    examples::doing("reading the n-gram's training text");
    training = baseline_training_tokens(model, s, oov, baseline_source);
  }
  examples::doing("evaluating the model");
  const seqlm::EvaluationResult result = seqlm::evaluate_text(model.model, ids, s.evaluation);

  std::optional<seqlm::EvaluationResult> baseline;
  std::optional<examples::NGramBaseline> ngram;
  if (s.ngram_order > 0) {
    examples::doing("fitting the n-gram baseline");
    examples::NGramBaselineOptions options;
    options.order = s.ngram_order;
    options.add_k = s.add_k;
    ngram.emplace(std::vector<std::vector<TokenId>>{std::move(training)}, model.vocabulary_size(), options);
    baseline = ngram->score(ids, scored_positions(ids, s, s.ngram_order));
  }

  const std::string mode = s.evaluation.context > 0 ? "windows" : "streaming";
  if (s.json) {
    seqlm::json::Value out = seqlm::json::Value::object();
    out.set("model", s.model_path)
        .set("data", s.data_path)
        .set("level", words ? "word" : "character")
        .set("vocabulary_size", model.vocabulary_size())
        .set("data_tokens", static_cast<Index>(ids.size()))
        .set("mode", mode);
    if (s.evaluation.context > 0) {
      out.set("context", s.evaluation.context)
          .set("stride", s.evaluation.stride)
          .set("batch_size", s.evaluation.batch_size);
    } else {
      out.set("streams",
              static_cast<Index>(
                  seqlm::stream_boundaries(static_cast<Index>(ids.size()), s.evaluation.streams).size()) -
                  1)
          .set("chunk", s.evaluation.chunk);
    }
    seqlm::json::Value scores = scores_json(result);
    for (const auto& [key, value] : scores.as_object()) out.set(key, value);
    if (baseline) {
      seqlm::json::Value b = scores_json(*baseline);
      b.set("kind", "ngram")
          .set("order", s.ngram_order)
          .set("add_k", ngram->add_k())
          .set("trained_on", baseline_source);
      out.set("baseline", std::move(b));
    }
    std::cout << out.dump(2) << "\n";
    return 0;
  }

  std::cout << "model  " << s.model_path << ": " << (words ? "word" : "character") << " level, "
            << examples::with_thousands(model.vocabulary_size()) << " tokens, "
            << examples::with_thousands(model.model.parameter_count()) << " parameters\n";
  std::cout << "data   " << s.data_path << ": " << examples::with_thousands(static_cast<Index>(ids.size()))
            << " " << unit << "\n";
  if (s.evaluation.context > 0) {
    std::cout << "mode   windows of " << s.evaluation.context << " " << unit << " every "
              << s.evaluation.stride << ", each predicting the one after it\n";
  } else {
    const Index streams =
        static_cast<Index>(
            seqlm::stream_boundaries(static_cast<Index>(ids.size()), s.evaluation.streams).size()) -
        1;
    std::cout << "mode   streaming: " << streams << " stream" << (streams == 1 ? "" : "s")
              << ", state carried across chunks of " << s.evaluation.chunk << " steps\n";
  }
  if (baseline) {
    std::cout << "n-gram " << s.ngram_order << "-gram on " << baseline_source << ", add-k " << ngram->add_k()
              << "\n";
  }
  std::cout << "\n";
  const std::string ngram_name = std::to_string(s.ngram_order) + "-gram";
  auto row = [&](const char* name, const std::string& ours, const std::string& theirs) {
    std::cout << std::left << std::setw(20) << name << std::right << std::setw(14) << ours;
    if (baseline) std::cout << std::setw(14) << theirs;
    std::cout << "\n";
  };
  auto fixed = [](double value, int digits) {
    std::ostringstream out;
    out << std::fixed << std::setprecision(digits) << value;
    return out.str();
  };
  const seqlm::EvaluationResult none;
  const seqlm::EvaluationResult& b = baseline ? *baseline : none;
  row("", "model", ngram_name);
  row("tokens scored", examples::with_thousands(result.tokens), examples::with_thousands(b.tokens));
  row("loss (nats/token)", fixed(result.loss, 6), fixed(b.loss, 6));
  row("bits per token", fixed(result.bits_per_token, 6), fixed(b.bits_per_token, 6));
  row("perplexity", fixed(result.perplexity, 4), fixed(b.perplexity, 4));
  row("accuracy", fixed(result.accuracy, 5), fixed(b.accuracy, 5));
  return 0;
}

}  // namespace

int seqlm_tool::eval_command(int argc, char** argv) {
  examples::CommandLine cli(program, "loss, bits per token, perplexity and accuracy of a model on a text");
  cli.positional_arguments("MODEL");
  cli.option("data", "", "the text to score (UTF-8)");
  cli.option("oov", "error", "text the vocabulary lacks: error, skip, or map:FILE (lines FROM<TAB>TO)");
  cli.option("context", "0", "score windows of this many tokens, each predicting the next (0: streams)",
             examples::Range{0, examples::max_window});
  cli.option("stride", "1", "with --context: tokens between window starts",
             examples::Range{1, examples::max_window});
  cli.option("batch-size", "128", "with --context: windows per forward pass (as in training)",
             examples::Range{1, examples::max_batch_size});
  cli.option("streams", "32", "streaming: parallel streams the text is cut into", examples::Range{1, 65536});
  cli.option("chunk", "256", "streaming: steps per forward pass (the state is carried across)",
             examples::Range{1, examples::max_window});
  cli.option("baseline", "", "also score an n-gram model: ngram:N (order N, on the training text)");
  cli.option("add-k", "0", "n-gram add-k smoothing (0: chosen on the end of the training text)");
  cli.option("train", "", "n-gram training text (default: the files the model was trained on)");
  cli.flag("json", "print the results as JSON");
  Settings settings;
  return seqlm_tool::read_then_run(
      program,
      [&] {
        cli.parse(argc, argv);
        settings = read_settings(cli);
      },
      [&] { return run(settings); });
}
