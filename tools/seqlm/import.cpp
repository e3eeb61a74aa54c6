// seqlm import MODEL.keras --out MODEL.safetensors [--vocabulary FILE]: a Keras model (a Keras 3
// .keras archive or a Keras 2 full-model .h5 file) as a seqlm model file, through
// seqlm::keras::load (docs/keras.md).
//
// A Keras file holds the network but not its vocabulary, which lives in the training script.
// --vocabulary gives it, as one of
//   a seqlm tokenizer JSON        {"type": "seqlm.CharTokenizer" | "seqlm.WordTokenizer", ...}
//   Keras's Tokenizer.to_json()   {"class_name": "Tokenizer", ...} (word models)
//   the training text             its sorted characters, after --lower and --remove, the way
//                                 char-level tutorials build sorted(set(text))
// and the model file keeps it as its tokenizer. Without --vocabulary the model is imported with
// no tokenizer: `seqlm info` describes it, but eval and sample need a vocabulary.
//
// Built only with the optional seqlm::keras component (HDF5 and libzip); without it the
// command says so.

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <seqlm/error.hpp>
#include <seqlm/files/model_file.hpp>
#include <seqlm/io/json.hpp>
#include <seqlm/io/utf8.hpp>
#include <string>
#include <vector>

#include "commands.hpp"
#include "common.hpp"
#include "common/cli.hpp"

#ifdef SEQLM_TOOL_HAS_KERAS
#include <seqlm/keras/keras.hpp>
#endif

namespace {

#ifdef SEQLM_TOOL_HAS_KERAS

// --remove's text with the escapes \n, \t and \\ turned into their characters.
std::string unescape(const std::string& text) {
  std::string out;
  for (std::size_t k = 0; k < text.size(); ++k) {
    if (text[k] == '\\' && k + 1 < text.size()) {
      const char next = text[k + 1];
      if (next == 'n' || next == 't' || next == '\\') {
        out += next == 'n' ? '\n' : next == 't' ? '\t' : '\\';
        ++k;
        continue;
      }
    }
    out += text[k];
  }
  return out;
}

std::string file_name(const std::string& path) {
  const std::size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

namespace keras = seqlm::keras;

// The vocabulary --vocabulary names, in whichever of its three forms the file has.
keras::Vocabulary read_vocabulary(const std::string& path, bool lower, const std::string& remove) {
  examples::check_data_file(path, "vocabulary");
  const std::string text = seqlm::read_text_file(path);
  examples::check_utf8_lines(text, path);
  const std::size_t first = text.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && text[first] == '{') {
    seqlm::json::Value document;
    try {
      document = seqlm::json::parse(text);
    } catch (const seqlm::value_error&) {
      document = seqlm::json::Value();  // not JSON after all: a text that starts with '{'
    }
    if (document.is_object()) {
      if (lower || !remove.empty()) {
        throw seqlm::value_error("--lower and --remove prepare a training text; --vocabulary \"" + path +
                                 "\" is a tokenizer JSON");
      }
      try {
        const seqlm::json::Value* type = document.find("type");
        if (type != nullptr && *type == seqlm::json::Value(seqlm::CharTokenizer::json_type))
          return keras::Vocabulary::characters(seqlm::CharTokenizer::from_json(document));
        if (type != nullptr && *type == seqlm::json::Value(seqlm::WordTokenizer::json_type))
          return keras::Vocabulary::words(seqlm::WordTokenizer::from_json(document));
        if (document.find("class_name") != nullptr) return keras::Vocabulary::keras_tokenizer_json(text);
      } catch (const seqlm::value_error& e) {
        throw seqlm::value_error("--vocabulary \"" + path + "\": " + e.what());
      }
      throw seqlm::value_error("--vocabulary \"" + path +
                               "\" is a JSON object but neither a seqlm tokenizer (\"type\": "
                               "\"seqlm.CharTokenizer\" or \"seqlm.WordTokenizer\") nor Keras's "
                               "Tokenizer.to_json()");
    }
  }
  keras::TextPreparation steps;
  steps.lower = lower ? seqlm::LowerCase::unicode : seqlm::LowerCase::none;
  if (!remove.empty()) steps.remove.push_back(remove);
  return keras::Vocabulary::sorted_characters_of(text, steps);
}

// "zip", "hdf5" or "" by the file's first bytes.
std::string keras_kind(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[8] = {};
  in.read(magic, sizeof magic);
  const std::string head(magic, static_cast<std::size_t>(in.gcount()));
  if (head.rfind("PK\x03\x04", 0) == 0) return "zip";
  if (head == std::string("\x89HDF\r\n\x1a\n", 8)) return "hdf5";
  return "";
}

// The input size of the Keras model at `path`, from its configuration alone.
seqlm::Index keras_input_size(const std::string& path) {
  const std::string kind = keras_kind(path);
  seqlm::json::Value config;
  std::string where;
  if (kind == "zip") {
    keras::zip::Reader archive(path);
    where = path + ": config.json";
    config = seqlm::json::parse(archive.read("config.json", keras::LoadOptions().max_json_bytes));
  } else if (kind == "hdf5") {
    const keras::hdf5::File file = keras::hdf5::File::open(path);
    const std::optional<std::string> text = file.string_attribute("/", "model_config");
    if (!text) {
      throw seqlm::file_error("\"" + path +
                              "\": has no attribute \"model_config\" (a weights-only file, not a model)");
    }
    where = path + ": model_config";
    config = seqlm::json::parse(*text);
  } else {
    throw seqlm::file_error("\"" + path +
                            "\": not a Keras file (neither a .keras ZIP archive nor an HDF5 .h5 file)");
  }
  return keras::read_architecture<float>(config, where).model.input_spec().size;
}

// keras::load needs a vocabulary of the model's size to read a model. Without --vocabulary,
// stand-in characters (private-use code points from U+E000 on, never stored) let it read the
// network, and the model file gets no tokenizer.
keras::Vocabulary stand_in_vocabulary(seqlm::Index size) {
  const seqlm::Index available = 0x10FFFF - 0xE000 + 1;
  if (size > available) {
    throw seqlm::value_error("the model reads " + std::to_string(size) + " ids; give its --vocabulary");
  }
  std::u32string characters;
  for (seqlm::Index k = 0; k < size; ++k) characters += static_cast<char32_t>(0xE000 + k);
  seqlm::CharTokenizerOptions options;
  options.order = seqlm::VocabularyOrder::sorted;
  return keras::Vocabulary::characters(seqlm::CharTokenizer(std::move(characters), options));
}

int import_keras(const examples::CommandLine& cli, const std::string& path) {
  const std::string& out = cli.text("out");
  const bool has_vocabulary = cli.has("vocabulary");
  seqlm_tool::check_input_file(path, "Keras file");
  examples::check_output_file(cli, "out");

  examples::doing("reading the vocabulary");
  const keras::Vocabulary vocabulary =
      has_vocabulary ? read_vocabulary(cli.text("vocabulary"), cli.has("lower"), unescape(cli.text("remove")))
                     : stand_in_vocabulary(keras_input_size(path));
  examples::doing("reading the Keras model");
  const keras::KerasModel<float> imported = keras::load<float>(path, vocabulary);

  seqlm::ModelFileContents contents = imported.model_file_contents();
  contents.metadata["imported_from"] = file_name(path);
  if (!has_vocabulary) contents.tokenizer = seqlm::json::Value();
  // Test vectors: the first ids (or features) of the vocabulary, re-run whenever the file loads.
  const seqlm::Index steps = std::min<seqlm::Index>(8, imported.model.input_spec().size);
  if (imported.model.input_spec().tokens) {
    std::vector<seqlm::TokenId> ids;
    for (seqlm::Index t = 0; t < steps; ++t) ids.push_back(static_cast<seqlm::TokenId>(t));
    contents.test_vectors = seqlm::TestVectors::token_ids(std::move(ids), steps, 1);
  }
  examples::doing("writing --out");
  seqlm::save_model(out, imported.model, contents);

  std::cout << "imported " << seqlm::utf8::printable(path) << ": Keras "
            << (imported.keras_version.empty() ? std::string("?") : imported.keras_version) << " ("
            << imported.format << (imported.date_saved.empty() ? "" : ", saved " + imported.date_saved)
            << "), " << imported.model.size() << " layers, " << imported.model.parameter_count()
            << " parameters\n";
  std::cout << "vocabulary: "
            << (has_vocabulary
                    ? vocabulary.description()
                    : "none given: the file has no tokenizer (import again with --vocabulary for eval "
                      "and sample)")
            << "\n";
  if (imported.optimizer) {
    std::cout << "optimizer: " << imported.optimizer->name << " after " << imported.optimizer->iterations
              << " iterations (its configuration is in the training configuration)\n";
  }
  for (const std::string& note : imported.notes) std::cout << "note: " << note << "\n";
  std::cout << "wrote " << seqlm::utf8::printable(out) << "\n";
  return 0;
}

#endif  // SEQLM_TOOL_HAS_KERAS

}  // namespace

int seqlm_tool::import_command(int argc, char** argv) {
  examples::CommandLine cli("seqlm import", "convert a Keras model (.keras, .h5) to a seqlm model file");
  cli.positional_arguments("MODEL.keras|MODEL.h5");
  cli.option("out", "", "the seqlm model file to write (required)");
  cli.option("vocabulary", "",
             "the model's vocabulary: a seqlm tokenizer JSON, Keras's Tokenizer.to_json(), or the training "
             "text (its sorted characters)");
  cli.flag("lower", "lower-case the --vocabulary text first (Unicode), as the training script did");
  cli.option(
      "remove", "",
      "remove every occurrence of this string from the --vocabulary text first (\\n is a newline), e.g. "
      "'@\\n'");
  std::string path;
  return seqlm_tool::read_then_run(
      "seqlm import",
      [&] {
        cli.parse(argc, argv);
        path = seqlm_tool::the_file_argument(cli, "Keras file");
        if (!cli.has("out"))
          throw seqlm::value_error("give the model file to write with --out FILE (see --help)");
        if (!cli.has("vocabulary") && (cli.has("lower") || cli.has("remove"))) {
          throw seqlm::value_error("--lower and --remove prepare the --vocabulary text; give --vocabulary");
        }
      },
      [&]() -> int {
#ifdef SEQLM_TOOL_HAS_KERAS
        return import_keras(cli, path);
#else
        throw seqlm::value_error(
            "this build of seqlm has no Keras support (HDF5 and libzip were not found when it was "
            "configured); "
            "install them (Debian: libhdf5-dev libzip-dev) and configure again (docs/keras.md)");
#endif
      });
}
