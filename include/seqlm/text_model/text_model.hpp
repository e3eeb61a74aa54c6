/// \file
/// TextModel: a Sequential language model together with the tokenizer that turns text into its
/// token ids and back -- what `seqlm train` writes and `seqlm eval` / `seqlm sample` read.
///
/// ```cpp
///   TextModel<float> text_model = load_text_model("shakespeare.safetensors");
///   std::vector<TokenId> ids = text_model.encode("To be, or not to be");   // OovPolicy::error
///   std::string back = text_model.decode(ids);
///   save_text_model("copy.safetensors", text_model);                       // atomic
/// ```
///
/// The tokenizer is a character tokenizer (text/char_tokenizer.hpp, one token per code point) or
/// a word tokenizer (text/word_tokenizer.hpp, Keras's Tokenizer); the model file stores it as
/// JSON (files/model_file.hpp). Loading checks that the model reads token ids and that its input
/// and its logits both have the tokenizer's vocabulary size.
///
/// Text the vocabulary lacks (OovPolicy):
/// ```text
///   error  text_error naming the character and its line and column (character level), or the
///          word and its line and word number (word level)          -- the default
///   skip   leave it out
///   map    replace it by table[it] (a character by a string of characters, a word by words,
///          "" drops it), then error if something is still unknown
/// ```
/// A tokenizer with an unknown token of its own (a character tokenizer with the unknown policy
/// "unk", a word tokenizer with an oov_token) already has a token for such text, as in training:
/// it encodes it as that token and the policy is not consulted. Words are looked up as the word
/// tokenizer sees them (lower-cased, punctuation filtered); an id at or above num_words counts
/// as unknown, like Keras's texts_to_sequences.
#pragma once

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "../error.hpp"
#include "../files/model_file.hpp"
#include "../io/json.hpp"
#include "../io/utf8.hpp"
#include "../model/sequential.hpp"
#include "../tensor.hpp"
#include "../text/char_tokenizer.hpp"
#include "../text/word_tokenizer.hpp"

namespace seqlm {

enum class TokenLevel { character, word };

/// What to do with text the vocabulary lacks: error (text_error naming the character/word and its
/// line:column / position), skip it, or map it through a table first (then error if still unknown).
struct OovPolicy {
  enum Kind { error, skip, map } kind = error;
  std::map<std::string, std::string> table;
};

namespace detail {

// "line 3, column 14" of a 1-based position.
inline std::string line_column(Index line, Index column) {
  return make_message("line ", line, ", column ", column);
}

// The ids of `text` by character, with the OovPolicy applied (see the top of this file).
inline std::vector<TokenId> encode_characters(const CharTokenizer& tokenizer, std::string_view text,
                                              const OovPolicy& oov) {
  std::vector<TokenId> ids;
  ids.reserve(text.size());
  const bool own_unknown = tokenizer.options().unknown == UnknownPolicy::unk;
  Index line = 1, column = 0;
  utf8::Decoder decoder;
  try {
    decoder.feed(text, [&](char32_t c, std::size_t) {
      ++column;
      const std::optional<TokenId> id = tokenizer.find(c);
      if (id) {
        ids.push_back(*id);
      } else if (own_unknown) {
        ids.push_back(CharTokenizer::unknown_id);
      } else if (oov.kind == OovPolicy::error) {
        throw text_error(make_message(line_column(line, column), ": character ", describe_character(c),
                                      " is not in the model's vocabulary (out-of-vocabulary policy: "
                                      "error; skip it or map it to known characters)"));
      } else if (oov.kind == OovPolicy::map) {
        const auto found = oov.table.find(utf8::encode(c));
        if (found == oov.table.end()) {
          throw text_error(make_message(line_column(line, column), ": character ", describe_character(c),
                                        " is not in the model's vocabulary and the map has no entry for it"));
        }
        for (const char32_t replacement : utf8::decode(found->second)) {
          const std::optional<TokenId> mapped = tokenizer.find(replacement);
          if (!mapped) {
            throw text_error(make_message(line_column(line, column), ": character ", describe_character(c),
                                          " maps to \"", found->second, "\", whose character ",
                                          describe_character(replacement),
                                          " is not in the model's vocabulary either"));
          }
          ids.push_back(*mapped);
        }
      }
      if (c == U'\n') {
        ++line;
        column = 0;
      }
    });
    decoder.finish();
  } catch (const text_error& e) {
    throw text_error(std::string("encode: ") + e.what());
  }
  return ids;
}

// The id of one word as a model sees it, if it has one: known and below num_words.
inline std::optional<TokenId> word_id(const WordTokenizer& tokenizer, const std::string& word) {
  const std::optional<TokenId> id = tokenizer.find(word);
  if (!id || *id >= tokenizer.vocabulary_size()) return std::nullopt;
  return id;
}

// Appends the ids of `text` by word, with the OovPolicy applied; messages name a word as
// "<line_prefix>word k" (line_prefix: "line 3, " or empty).
inline void encode_words(const WordTokenizer& tokenizer, std::string_view text, const OovPolicy& oov,
                         const std::string& line_prefix, std::vector<TokenId>& ids) {
  const bool own_unknown = tokenizer.options().oov_token.has_value();
  const std::vector<std::string> words = tokenizer.words_of(text);
  for (size_t k = 0; k < words.size(); ++k) {
    const std::string& word = words[k];
    const std::optional<TokenId> id = word_id(tokenizer, word);
    if (id) {
      ids.push_back(*id);
      continue;
    }
    if (own_unknown) {
      ids.push_back(1);  // the oov token's index
      continue;
    }
    const std::string where = make_message(line_prefix, "word ", k + 1, " \"", word, "\"");
    if (oov.kind == OovPolicy::error) {
      throw text_error(where +
                       " is not in the model's vocabulary (out-of-vocabulary policy: error; skip it or map "
                       "it to known words)");
    }
    if (oov.kind == OovPolicy::map) {
      const auto found = oov.table.find(word);
      if (found == oov.table.end()) {
        throw text_error(where + " is not in the model's vocabulary and the map has no entry for it");
      }
      for (const std::string& replacement : tokenizer.words_of(found->second)) {
        const std::optional<TokenId> mapped = word_id(tokenizer, replacement);
        if (!mapped) {
          throw text_error(where + " maps to \"" + found->second + "\", whose word \"" + replacement +
                           "\" is not in the model's vocabulary either");
        }
        ids.push_back(*mapped);
      }
    }
  }
}

inline std::vector<TokenId> encode_words(const WordTokenizer& tokenizer, std::string_view text,
                                         const OovPolicy& oov) {
  std::vector<TokenId> ids;
  try {
    utf8::validate(text);
    // When a newline separates words (the default filters replace it by the separator), the
    // text is read line by line so that a message can name the line.
    const std::vector<std::string> probe = tokenizer.words_of("a\na");
    const bool by_line = probe.size() == 2 && probe[0] == "a" && probe[1] == "a";
    if (!by_line) {
      encode_words(tokenizer, text, oov, "", ids);
      return ids;
    }
    Index line = 1;
    for (std::size_t begin = 0; begin <= text.size(); ++line) {
      const std::size_t end = std::min(text.find('\n', begin), text.size());
      encode_words(tokenizer, text.substr(begin, end - begin), oov, make_message("line ", line, ", "), ids);
      begin = end + 1;
    }
  } catch (const text_error& e) {
    throw text_error(std::string("encode: ") + e.what());
  }
  return ids;
}

}  // namespace detail

/// A Sequential language model on token ids and its tokenizer (see the top of this file).
template <class Scalar = float>
struct TextModel {
  Sequential<Scalar> model;
  std::variant<CharTokenizer, WordTokenizer> tokenizer;
  json::Value training_config = json::Value::object();  ///< what trained it (seqlm train writes it)
  std::map<std::string, std::string> metadata;          ///< user metadata

  TokenLevel level() const {
    return std::holds_alternative<CharTokenizer>(tokenizer) ? TokenLevel::character : TokenLevel::word;
  }

  /// The tokenizer's number of ids (the reserved ones included).
  Index vocabulary_size() const {
    return std::visit([](const auto& t) { return t.vocabulary_size(); }, tokenizer);
  }

  /// UTF-8 text -> ids (text_error for invalid UTF-8 and, under OovPolicy::error, for text the
  /// vocabulary lacks).
  std::vector<TokenId> encode(std::string_view text, const OovPolicy& oov = {}) const {
    if (const auto* characters = std::get_if<CharTokenizer>(&tokenizer)) {
      return detail::encode_characters(*characters, text, oov);
    }
    return detail::encode_words(std::get<WordTokenizer>(tokenizer), text, oov);
  }

  /// ids -> text; word level: the words joined by spaces. value_error for an id outside the
  /// vocabulary (and, at word level, for the padding id 0).
  std::string decode(const std::vector<TokenId>& ids) const {
    return std::visit([&ids](const auto& t) { return t.decode(ids); }, tokenizer);
  }
};

namespace detail {

// "the tokenizer has 57 tokens, the model reads 58 and predicts 57", or empty when they agree.
template <class Scalar>
std::string vocabulary_mismatch(const Sequential<Scalar>& model, Index vocabulary) {
  if (!model.input_spec().tokens) return "the model reads features, not token ids";
  if (model.input_spec().size == vocabulary && model.output_size() == vocabulary) return "";
  return make_message("the tokenizer has ", vocabulary, " tokens, the model reads ", model.input_spec().size,
                      " and predicts ", model.output_size());
}

}  // namespace detail

/// Loads a model file with its tokenizer. file_error naming the file when the file is invalid
/// (load_model), when it has no tokenizer or one of an unknown type, or when the tokenizer's
/// vocabulary is not the model's.
template <class Scalar = float>
TextModel<Scalar> load_text_model(const std::string& path) {
  LoadedModel<Scalar> loaded = load_model<Scalar>(path);
  const std::string where = "model file \"" + path + "\": ";
  const json::Value& stored = loaded.tokenizer;
  if (stored.is_null()) {
    throw file_error(where + "it has no tokenizer, so it cannot read text (save it with one)");
  }
  const json::Value* type = stored.is_object() ? stored.find("type") : nullptr;
  if (type == nullptr || !type->is_string()) {
    throw file_error(where + "its tokenizer has no \"type\"; expected \"" + CharTokenizer::json_type +
                     "\" or \"" + WordTokenizer::json_type + "\"");
  }
  std::optional<std::variant<CharTokenizer, WordTokenizer>> tokenizer;
  try {
    if (type->as_string() == CharTokenizer::json_type) {
      tokenizer.emplace(CharTokenizer::from_json(stored));
    } else if (type->as_string() == WordTokenizer::json_type) {
      tokenizer.emplace(WordTokenizer::from_json(stored));
    } else {
      throw file_error(where + "unknown tokenizer type \"" + type->as_string() + "\"; expected \"" +
                       CharTokenizer::json_type + "\" or \"" + WordTokenizer::json_type + "\"");
    }
  } catch (const file_error&) {
    throw;
  } catch (const error& e) {
    throw file_error(where + "invalid tokenizer: " + e.what());
  }
  const Index vocabulary = std::visit([](const auto& t) { return t.vocabulary_size(); }, *tokenizer);
  const std::string mismatch = detail::vocabulary_mismatch(loaded.model, vocabulary);
  if (!mismatch.empty()) throw file_error(where + mismatch);
  TextModel<Scalar> text_model{
      std::move(loaded.model), std::move(*tokenizer),
      loaded.training_config.is_null() ? json::Value::object() : std::move(loaded.training_config),
      std::move(loaded.metadata)};
  return text_model;
}

/// Saves the model, its tokenizer, training configuration and metadata atomically (save_model),
/// with test vectors: the logits of the ids 0, 1, ..., 7 (modulo the vocabulary), re-checked on
/// every load. value_error when the tokenizer's vocabulary is not the model's.
template <class Scalar>
void save_text_model(const std::string& path, const TextModel<Scalar>& m) {
  const Index vocabulary = m.vocabulary_size();
  const std::string mismatch = detail::vocabulary_mismatch(m.model, vocabulary);
  if (!mismatch.empty()) throw value_error("save_text_model: " + mismatch);
  ModelFileContents contents;
  contents.tokenizer = std::visit([](const auto& t) { return t.to_json(); }, m.tokenizer);
  contents.training_config = m.training_config;
  contents.metadata = m.metadata;
  constexpr Index steps = 8;
  std::vector<TokenId> ids(static_cast<size_t>(steps));
  for (Index t = 0; t < steps; ++t) ids[static_cast<size_t>(t)] = static_cast<TokenId>(t % vocabulary);
  contents.test_vectors = TestVectors::token_ids(std::move(ids), steps, 1);
  save_model(path, m.model, contents);
}

}  // namespace seqlm
