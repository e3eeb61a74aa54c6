// seqlm info MODEL: what a model file (or a training checkpoint) holds, for people (text) or
// programs (--json): the file's format and version, the layers and parameter count, the
// tokenizer and a preview of its vocabulary, the training configuration (its "history" as a
// table of epochs), where a checkpoint's run stands, and the user metadata.

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <optional>
#include <seqlm/error.hpp>
#include <seqlm/files/layer_table.hpp>
#include <seqlm/files/model_file.hpp>
#include <seqlm/io/json.hpp>
#include <seqlm/io/safetensors.hpp>
#include <seqlm/io/utf8.hpp>
#include <seqlm/text/char_tokenizer.hpp>
#include <seqlm/text/word_tokenizer.hpp>
#include <string>
#include <vector>

#include "commands.hpp"
#include "common.hpp"
#include "common/cli.hpp"

namespace {

namespace json = seqlm::json;

// At most this many characters or words of the vocabulary are shown.
constexpr seqlm::Index preview_characters = 200;
constexpr seqlm::Index preview_words = 30;

// Text for the terminal: newline as \n, tab as \t, a backslash (and with `quotes` a double
// quote) escaped, other control characters and invalid UTF-8 as \xNN.
std::string escaped(const std::string& token, bool quotes = true) {
  std::string out;
  for (const char c : token) {
    switch (c) {
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      case '\\': out += "\\\\"; break;
      case '"': out += quotes ? "\\\"" : "\""; break;
      default: out += c;
    }
  }
  return seqlm::utf8::printable(out);
}

// 179772 -> "179,772".
std::string with_commas(long long value) {
  const std::string digits = std::to_string(value);
  const std::size_t sign = value < 0 ? 1 : 0;
  std::string out = digits.substr(0, sign);
  for (std::size_t k = sign; k < digits.size(); ++k) {
    if (k > sign && (digits.size() - k) % 3 == 0) out += ',';
    out += digits[k];
  }
  return out;
}

// Everything `info` shows about one file.
struct Inspection {
  std::string path;
  std::string format;  // "seqlm.model" or "seqlm.checkpoint"
  std::optional<seqlm::LoadedModel<float>> loaded;
  json::Value training;   // a checkpoint's "training" metadata (epoch, batch, ..., extra.history)
  json::Value optimizer;  // a checkpoint's "optimizer" metadata (name, iterations, ...)
  json::Value tokenizer;  // {"type", "vocabulary_size", "preview"} or null, for --json
  std::vector<std::string> tokenizer_lines;  // the same for people
};

Inspection inspect(const std::string& path) {
  seqlm_tool::check_input_file(path, "model file");
  Inspection inspection;
  inspection.path = path;
  // load_model validates everything (format, checksum, architecture, weights, test vectors);
  // the checkpoint's own parts are read from the same, now validated, metadata.
  try {
    inspection.loaded.emplace(seqlm::load_model<float>(path));
  } catch (const seqlm::file_error& e) {
    // The safetensors reader's messages ("safetensors "x": header length ... exceeds ...")
    // mean that this is no seqlm file at all: say so first.
    if (std::string(e.what()).rfind("safetensors ", 0) == 0) {
      throw seqlm::file_error("\"" + path + "\" is not a seqlm model file (" + e.what() + ")");
    }
    throw;
  }
  const seqlm::safetensors::File file = seqlm::safetensors::read(path);
  inspection.format = file.metadata.at("format");
  const auto metadata_json = [&](const char* key) -> json::Value {
    const auto it = file.metadata.find(key);
    if (it == file.metadata.end()) return json::Value();
    try {
      return json::parse(it->second);
    } catch (const seqlm::value_error& e) {
      throw seqlm::file_error("checkpoint \"" + path + "\": metadata \"" + key +
                              "\" is not valid JSON: " + e.what());
    }
  };
  if (inspection.format == "seqlm.checkpoint") {
    inspection.training = metadata_json("training");
    inspection.optimizer = metadata_json("optimizer");
  }
  return inspection;
}

// A tokenizer as JSON for --json and the lines for text: type, size, preview.
struct TokenizerView {
  json::Value json;                // {"type", "vocabulary_size", "preview": [...]} or null
  std::vector<std::string> lines;  // for people
};

// `model_ids`: the ids the model reads (its input size), 0 for a model of features.
TokenizerView view_tokenizer(const json::Value& tokenizer, seqlm::Index model_ids) {
  TokenizerView view;
  if (tokenizer.is_null()) {
    view.lines.push_back(
        "tokenizer: none (the file holds no vocabulary, e.g. a Keras import without --vocabulary: eval and "
        "sample need one)");
    return view;
  }
  const json::Value* type = tokenizer.is_object() ? tokenizer.find("type") : nullptr;
  const std::string type_name = type != nullptr && type->is_string() ? type->as_string() : "";
  json::Value preview = json::Value::array();
  if (type_name == seqlm::CharTokenizer::json_type) {
    const seqlm::CharTokenizer chars = seqlm::CharTokenizer::from_json(tokenizer);
    const seqlm::Index size = chars.vocabulary_size();
    std::string shown;
    for (seqlm::Index id = 0; id < std::min(size, preview_characters); ++id) {
      const std::string token = chars.token_text(static_cast<seqlm::TokenId>(id));
      preview.push_back(token);
      shown += escaped(token);
    }
    view.lines.push_back("tokenizer: " + type_name + ", " + with_commas(size) + " characters (ids 0.." +
                         std::to_string(size - 1) + ")");
    view.lines.push_back(
        "  vocabulary: \"" + shown + "\"" +
        (size > preview_characters ? " ... and " + with_commas(size - preview_characters) + " more" : ""));
    view.json = json::Value::object().set("type", type_name).set("vocabulary_size", size);
  } else if (type_name == seqlm::WordTokenizer::json_type) {
    const seqlm::WordTokenizer words = seqlm::WordTokenizer::from_json(tokenizer);
    const seqlm::Index size = words.vocabulary_size();
    std::string shown;
    for (seqlm::Index id = 1; id < std::min(size, preview_words + 1); ++id) {
      const std::string& word = words.word_of(static_cast<seqlm::TokenId>(id));
      preview.push_back(word);
      shown += (id > 1 ? " " : "") + escaped(word);
    }
    view.lines.push_back("tokenizer: " + type_name + ", " + with_commas(size) + " ids (" +
                         with_commas(size > 0 ? size - 1 : 0) + " words and the padding id 0)");
    view.lines.push_back(
        "  vocabulary by id: " + shown +
        (size - 1 > preview_words ? " ... and " + with_commas(size - 1 - preview_words) + " more" : ""));
    view.json = json::Value::object().set("type", type_name).set("vocabulary_size", size);
  } else {
    view.lines.push_back("tokenizer: " + (type_name.empty() ? std::string("of unknown type") : type_name) +
                         " (not a seqlm tokenizer: eval and sample cannot use it)");
    view.json = json::Value::object().set("type", type_name.empty() ? json::Value() : json::Value(type_name));
    return view;
  }
  view.json.set("preview", std::move(preview));
  const seqlm::Index size = view.json.at("vocabulary_size").as_int64();
  if (model_ids > 0 && size != model_ids) {
    view.lines.push_back("  warning: the model reads " + with_commas(model_ids) + " ids, the tokenizer has " +
                         with_commas(size) + ": they do not belong together");
  }
  return view;
}

// A history {"epochs": [...], "metrics": {"loss": [...], ...}} as a table, or nothing when the
// value does not have that form (then it is shown like any other value).
std::optional<std::vector<std::string>> history_table(const json::Value& history) {
  if (!history.is_object()) return std::nullopt;
  const json::Value* epochs = history.find("epochs");
  const json::Value* metrics = history.find("metrics");
  if (epochs == nullptr || metrics == nullptr || !epochs->is_array() || !metrics->is_object())
    return std::nullopt;
  for (const json::Value& epoch : epochs->as_array())
    if (!epoch.is_integer()) return std::nullopt;
  for (const auto& [name, values] : metrics->as_object()) {
    if (!values.is_array() || values.size() != epochs->size()) return std::nullopt;
    for (const json::Value& value : values.as_array())
      if (!value.is_number() && !value.is_string()) return std::nullopt;
  }
  std::vector<std::string> lines;
  std::string header = "   epoch";  // right-aligned in 6 columns like the numbers below
  std::vector<std::size_t> widths;
  for (const auto& member : metrics->as_object()) {
    widths.push_back(std::max<std::size_t>(10, member.first.size()));
    header += "  " + std::string(widths.back() - std::min(widths.back(), member.first.size()), ' ') +
              seqlm::utf8::printable(member.first);
  }
  lines.push_back(header);
  for (std::size_t row = 0; row < epochs->size(); ++row) {
    const std::string epoch = std::to_string(epochs->at(row).as_int64());
    std::string line = "  " + std::string(6 - std::min<std::size_t>(6, epoch.size()), ' ') + epoch;
    std::size_t column = 0;
    for (const auto& member : metrics->as_object()) {
      const json::Value& value = member.second.at(row);
      std::string cell = "-";
      if (value.is_number()) {
        char text[64];
        const double v = value.as_double();
        std::snprintf(text, sizeof text,
                      std::abs(v) >= 1e5 || (v != 0 && std::abs(v) < 1e-3) ? "%.4g" : "%.4f", v);
        cell = text;
      } else if (value.as_string() != "nan") {
        cell = seqlm::utf8::printable(value.as_string());  // "inf"
      }
      const std::size_t width = widths[column++];
      line += "  " + std::string(width - std::min(width, cell.size()), ' ') + cell;
    }
    lines.push_back(line);
  }
  return lines;
}

// A JSON value as text lines "key: value", nested objects indented.
void print_value(std::ostream& out, const std::string& key, const json::Value& value, int indent) {
  const std::string pad(static_cast<std::size_t>(indent), ' ');
  if (key == "history") {
    if (const std::optional<std::vector<std::string>> table = history_table(value)) {
      out << pad << "history (" << value.at("epochs").size() << " epochs):\n";
      for (const std::string& line : *table) out << pad << line << "\n";
      return;
    }
  }
  if (value.is_object() && value.size() > 0) {
    out << pad << seqlm::utf8::printable(key) << ":\n";
    for (const auto& [name, member] : value.as_object()) print_value(out, name, member, indent + 2);
    return;
  }
  std::string text = value.is_string() ? escaped(value.as_string(), false) : value.dump();
  if (text.size() > 300)
    text = text.substr(0, 300) + "... (" + with_commas(static_cast<long long>(text.size())) + " characters)";
  out << pad << seqlm::utf8::printable(key) << ": " << seqlm::utf8::printable(text) << "\n";
}

seqlm::Index input_ids(const seqlm::Sequential<float>& model) {
  return model.input_spec().tokens ? model.input_spec().size : 0;
}

// Fills the tokenizer's description before anything is printed, so that an invalid tokenizer
// stops `info` with one line instead of half a description.
void describe_tokenizer(Inspection& inspection) {
  try {
    TokenizerView view = view_tokenizer(inspection.loaded->tokenizer, input_ids(inspection.loaded->model));
    inspection.tokenizer = std::move(view.json);
    inspection.tokenizer_lines = std::move(view.lines);
  } catch (const seqlm::error& e) {
    throw seqlm::file_error("model file \"" + inspection.path + "\": its tokenizer is invalid: " + e.what());
  }
}

json::Value layers_json(const seqlm::Sequential<float>& model) {
  json::Value layers = json::Value::array();
  for (seqlm::Index i = 0; i < model.size(); ++i) {
    const seqlm::Layer<float>& layer = model.layer(i);
    layers.push_back(json::Value::object()
                         .set("name", model.layer_name(i))
                         .set("type", layer.type())
                         .set("output_size", layer.output_size())
                         .set("parameters", layer.parameter_count()));
  }
  return layers;
}

int print_json(const Inspection& inspection) {
  const seqlm::LoadedModel<float>& loaded = *inspection.loaded;
  const bool checkpoint = inspection.format == "seqlm.checkpoint";
  json::Value metadata = json::Value::object();
  for (const auto& [key, value] : loaded.metadata) metadata.set(key, value);
  json::Value out = json::Value::object();
  out.set("file", inspection.path)
      .set("kind", checkpoint ? "checkpoint" : "model")
      .set("format", inspection.format)
      .set("format_version", loaded.format_version)
      .set("seqlm_version", loaded.seqlm_version)
      .set("dtype", seqlm::safetensors::dtype_name(loaded.stored_dtype))
      .set("test_vectors_checked", loaded.test_vectors_checked)
      .set("parameters", loaded.model.parameter_count())
      .set("input", json::Value::object()
                        .set("kind", loaded.model.input_spec().tokens ? "token_ids" : "features")
                        .set("size", loaded.model.input_spec().size))
      .set("layers", layers_json(loaded.model))
      .set("architecture", seqlm::architecture_of(loaded.model))
      .set("tokenizer", inspection.tokenizer)
      .set("training_config", loaded.training_config)
      .set("metadata", std::move(metadata));
  if (checkpoint) {
    json::Value position = json::Value::object();
    if (inspection.training.is_object()) {
      for (const char* key : {"epoch", "batch", "global_step"}) {
        if (const json::Value* value = inspection.training.find(key)) position.set(key, *value);
      }
      const json::Value* extra = inspection.training.find("extra");
      if (extra != nullptr && extra->is_object() && extra->find("history") != nullptr)
        position.set("history", extra->at("history"));
    }
    if (inspection.optimizer.is_object()) {
      for (const char* key : {"name", "iterations", "hyperparameters"}) {
        if (const json::Value* value = inspection.optimizer.find(key))
          position.set(std::string("optimizer_") + key, *value);
      }
    }
    out.set("checkpoint", std::move(position));
  }
  std::cout << out.dump(2) << "\n";
  return 0;
}

int print_text(const Inspection& inspection) {
  const seqlm::LoadedModel<float>& loaded = *inspection.loaded;
  const bool checkpoint = inspection.format == "seqlm.checkpoint";
  std::ostream& out = std::cout;
  out << "file: " << seqlm::utf8::printable(inspection.path) << "\n";
  out << "kind: " << (checkpoint ? "seqlm training checkpoint" : "seqlm model") << " (format \""
      << inspection.format << "\" version " << loaded.format_version << ", written by seqlm "
      << seqlm::utf8::printable(loaded.seqlm_version) << ", weights "
      << seqlm::safetensors::dtype_name(loaded.stored_dtype) << ")\n";
  out << "test vectors: "
      << (loaded.test_vectors_checked ? "checked (the weights reproduce the stored logits)" : "none stored")
      << "\n";
  if (checkpoint && inspection.training.is_object()) {
    const auto number = [&](const char* key) {
      const json::Value* value = inspection.training.find(key);
      return value != nullptr && value->is_integer() ? std::to_string(value->as_int64()) : std::string("?");
    };
    out << "checkpoint: epoch " << number("epoch") << ", batch " << number("batch") << " (global step "
        << number("global_step") << ")";
    if (inspection.optimizer.is_object()) {
      const json::Value* name = inspection.optimizer.find("name");
      const json::Value* iterations = inspection.optimizer.find("iterations");
      if (name != nullptr && name->is_string())
        out << ", optimizer " << seqlm::utf8::printable(name->as_string());
      if (iterations != nullptr && iterations->is_integer())
        out << " after " << with_commas(iterations->as_int64()) << " iterations";
    }
    out << "\n";
  }
  out << "\n" << loaded.model.summary();
  out << "parameters: " << with_commas(loaded.model.parameter_count()) << "\n";
  out << "input: " << (loaded.model.input_spec().tokens ? "token ids 0.." : "features, ")
      << (loaded.model.input_spec().tokens ? loaded.model.input_spec().size - 1
                                           : loaded.model.input_spec().size)
      << "\n\n";
  for (const std::string& line : inspection.tokenizer_lines) out << line << "\n";

  out << "\ntraining configuration:";
  const json::Value& config = loaded.training_config;
  if (config.is_null() || (config.is_object() && config.size() == 0)) {
    out << " none\n";
  } else if (config.is_object()) {
    out << "\n";
    for (const auto& [key, value] : config.as_object()) print_value(out, key, value, 2);
  } else {
    out << " " << seqlm::utf8::printable(config.dump()) << "\n";
  }
  if (checkpoint && inspection.training.is_object()) {
    const json::Value* extra = inspection.training.find("extra");
    if (extra != nullptr && extra->is_object() && extra->find("history") != nullptr) {
      out << "\ncheckpoint's training state:\n";
      print_value(out, "history", extra->at("history"), 2);
    }
  }
  out << "\nmetadata:";
  if (loaded.metadata.empty()) out << " none";
  out << "\n";
  for (const auto& [key, value] : loaded.metadata) print_value(out, key, json::Value(value), 2);
  return 0;
}

}  // namespace

int seqlm_tool::info_command(int argc, char** argv) {
  examples::CommandLine cli("seqlm info",
                            "what a model file or checkpoint holds: layers, vocabulary, training, history");
  cli.positional_arguments("MODEL");
  cli.flag("json", "print one JSON object instead of text");
  std::string path;
  return seqlm_tool::read_then_run(
      "seqlm info",
      [&] {
        cli.parse(argc, argv);
        path = seqlm_tool::the_file_argument(cli, "model file");
      },
      [&] {
        Inspection inspection = inspect(path);
        describe_tokenizer(inspection);
        return cli.has("json") ? print_json(inspection) : print_text(inspection);
      });
}
