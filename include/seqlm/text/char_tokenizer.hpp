/// \file
/// Character-level tokenizer over Unicode code points.
///
/// One token per code point ("ç" is one token, not two bytes). The vocabulary is built from
/// a training text in one of two orders:
/// ```text
///   sorted    - ascending code point: sorted(set(text)) as in Chollet's char-LSTM and
///               poema-top;
///   frequency - descending frequency, ties by descending code point (= descending UTF-8
///               bytes), as Keras TextVectorization's adapt() orders its vocabulary.
/// ```
/// Options:
/// ```text
///   lower                  - LowerCase::none | ascii | unicode, applied when building AND when
///                            encoding (like TextVectorization's standardize);
///   reserve_special_tokens - id 0 = padding "" and id 1 = "[UNK]" come first and characters
///                            start at id 2 (TextVectorization's layout);
///   unknown                - what encode() does with a character not in the vocabulary:
///                            error (text_error naming it and its byte offset), skip (drop it),
///                            unk (emit id 1; needs reserve_special_tokens).
/// ```
///
/// ```cpp
///   auto tokenizer = CharTokenizer::build(text, {VocabularyOrder::sorted, LowerCase::unicode});
///   std::vector<TokenId> ids = tokenizer.encode("olá");
///   std::string back = tokenizer.decode(ids);
///   tokenizer.save("vocab.json");   // atomic; CharTokenizer::load("vocab.json") validates
/// ```
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "../error.hpp"
#include "../io/atomic_file.hpp"
#include "../io/json.hpp"
#include "../io/utf8.hpp"
#include "../tensor.hpp"

namespace seqlm {

enum class VocabularyOrder { sorted, frequency };
enum class UnknownPolicy { error, skip, unk };

struct CharTokenizerOptions {
  VocabularyOrder order = VocabularyOrder::sorted;
  LowerCase lower = LowerCase::none;
  bool reserve_special_tokens = false;
  UnknownPolicy unknown = UnknownPolicy::error;
};

namespace detail {

inline const char* order_name(VocabularyOrder order) {
  return order == VocabularyOrder::sorted ? "sorted" : "frequency";
}

inline VocabularyOrder order_from_name(std::string_view name) {
  if (name == "sorted") return VocabularyOrder::sorted;
  if (name == "frequency") return VocabularyOrder::frequency;
  throw value_error(make_message("CharTokenizer: unknown vocabulary order \"", name,
                                 "\", expected \"sorted\" or \"frequency\""));
}

inline const char* unknown_policy_name(UnknownPolicy policy) {
  switch (policy) {
    case UnknownPolicy::error: return "error";
    case UnknownPolicy::skip: return "skip";
    case UnknownPolicy::unk: return "unk";
  }
  return "error";
}

inline UnknownPolicy unknown_policy_from_name(std::string_view name) {
  if (name == "error") return UnknownPolicy::error;
  if (name == "skip") return UnknownPolicy::skip;
  if (name == "unk") return UnknownPolicy::unk;
  throw value_error(
      make_message("CharTokenizer: unknown policy \"", name, "\", expected \"error\", \"skip\" or \"unk\""));
}

// "U+00E9 'é' (UTF-8 0xC3 0xA9)" for messages about one character.
inline std::string describe_character(char32_t c) {
  const std::string bytes = utf8::encode(c);
  return utf8::describe(c) + " (UTF-8 " +
         hex_bytes(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size()) + ")";
}

}  // namespace detail

class CharTokenizer {
 public:
  static constexpr TokenId padding_id = 0;  ///< only with reserve_special_tokens
  static constexpr TokenId unknown_id = 1;  ///< only with reserve_special_tokens
  static constexpr const char* unknown_text = "[UNK]";
  /// Every Unicode scalar value at most once: U+0000..U+10FFFF without the 2048 surrogates.
  /// A vocabulary (or a saved tokenizer's "characters") of more is refused before it is decoded.
  static constexpr Index max_characters = 0x110000 - 0x800;

  /// An empty vocabulary (vocabulary_size() is 0, or 2 with reserved tokens).
  CharTokenizer() { rebuild_lookup(); }

  /// A tokenizer with the given characters in id order (after the reserved ids, if any).
  /// value_error on duplicates, on characters that `options.lower` would change (they could
  /// never be produced by encode), on characters out of sorted order when options.order is
  /// sorted, and on UnknownPolicy::unk without reserved tokens.
  CharTokenizer(std::u32string characters, const CharTokenizerOptions& options)
      : options_(options), characters_(std::move(characters)) {
    validate();
    rebuild_lookup();
  }

  /// Builds the vocabulary from every character of `text` (after lower-casing).
  static CharTokenizer build(std::string_view text, const CharTokenizerOptions& options = {}) {
    return build(std::vector<std::string_view>{text}, options);
  }

  static CharTokenizer build(const std::vector<std::string>& texts,
                             const CharTokenizerOptions& options = {}) {
    return build(std::vector<std::string_view>(texts.begin(), texts.end()), options);
  }

  /// Builds the vocabulary from several texts, as if they were concatenated.
  static CharTokenizer build(const std::vector<std::string_view>& texts,
                             const CharTokenizerOptions& options = {}) {
    // Count every code point: a dense array for U+0000..U+07FF (1- and 2-byte UTF-8), a map above.
    std::vector<std::uint64_t> dense_counts(0x800, 0);
    std::unordered_map<char32_t, std::uint64_t> sparse_counts;
    for (std::string_view text : texts) {
      utf8::Decoder decoder;
      try {
        decoder.feed(text, [&](char32_t c, std::size_t) {
          c = to_lower(c, options.lower);
          if (c < dense_counts.size()) {
            ++dense_counts[c];
          } else {
            ++sparse_counts[c];
          }
        });
        decoder.finish();
      } catch (const text_error& e) {
        throw text_error(std::string("CharTokenizer::build: ") + e.what());
      }
    }
    std::vector<std::pair<char32_t, std::uint64_t>> counts(sparse_counts.begin(), sparse_counts.end());
    for (char32_t c = 0; c < dense_counts.size(); ++c) {
      if (dense_counts[c] > 0) counts.emplace_back(c, dense_counts[c]);
    }
    if (options.order == VocabularyOrder::sorted) {
      std::sort(counts.begin(), counts.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    } else {
      // Descending count; ties by descending code point, which is descending UTF-8 bytes.
      std::sort(counts.begin(), counts.end(), [](const auto& a, const auto& b) {
        return a.second != b.second ? a.second > b.second : a.first > b.first;
      });
    }
    std::u32string characters;
    for (const auto& entry : counts) characters += entry.first;
    return CharTokenizer(std::move(characters), options);
  }

  const CharTokenizerOptions& options() const { return options_; }

  /// Number of ids: the characters plus the 2 reserved ids when they are reserved.
  Index vocabulary_size() const { return static_cast<Index>(characters_.size()) + first_character_id(); }

  /// Id of the first character: 2 with reserved tokens, else 0.
  TokenId first_character_id() const { return options_.reserve_special_tokens ? 2 : 0; }

  /// The characters in id order (without the reserved ids).
  const std::u32string& characters() const { return characters_; }

  /// Id of character c after lower-casing, if it is in the vocabulary.
  std::optional<TokenId> find(char32_t c) const {
    c = to_lower(c, options_.lower);
    if (c < dense_.size()) {
      const TokenId id = dense_[c];
      return id >= 0 ? std::optional<TokenId>(id) : std::nullopt;
    }
    const auto found = sparse_.find(c);
    return found != sparse_.end() ? std::optional<TokenId>(found->second) : std::nullopt;
  }

  /// Id of character c after lower-casing; text_error naming c when it is not in the vocabulary.
  TokenId id_of(char32_t c) const {
    const std::optional<TokenId> id = find(c);
    if (!id) {
      throw text_error("CharTokenizer: character " + detail::describe_character(c) +
                       " is not in the vocabulary");
    }
    return *id;
  }

  /// The character of an id; value_error for reserved ids and ids outside the vocabulary.
  char32_t char_of(TokenId id) const {
    check_id(id);
    if (id < first_character_id()) {
      throw value_error(detail::make_message("CharTokenizer: id ", id, " is the reserved ",
                                             id == padding_id ? "padding" : "[UNK]",
                                             " token, not a character"));
    }
    return characters_[static_cast<std::size_t>(id - first_character_id())];
  }

  /// The text of an id: its character as UTF-8, "" for padding, "[UNK]" for the unknown token.
  std::string token_text(TokenId id) const {
    check_id(id);
    if (options_.reserve_special_tokens && id == padding_id) return "";
    if (options_.reserve_special_tokens && id == unknown_id) return unknown_text;
    return utf8::encode(characters_[static_cast<std::size_t>(id - first_character_id())]);
  }

  /// UTF-8 text -> ids, one per code point (after lower-casing), unknown characters handled by
  /// options().unknown. Invalid UTF-8 is a text_error with the byte offset.
  std::vector<TokenId> encode(std::string_view text) const {
    std::vector<TokenId> ids;
    ids.reserve(text.size());
    utf8::Decoder decoder;
    try {
      decoder.feed(text, [&](char32_t c, std::size_t offset) {
        const std::optional<TokenId> id = find(c);
        if (id) {
          ids.push_back(*id);
        } else if (options_.unknown == UnknownPolicy::unk) {
          ids.push_back(unknown_id);
        } else if (options_.unknown == UnknownPolicy::error) {
          throw text_error(
              detail::make_message("unknown character ", detail::describe_character(c), " at byte offset ",
                                   offset, " (unknown policy is \"error\"; use skip or unk to accept it)"));
        }
      });
      decoder.finish();
    } catch (const text_error& e) {
      throw text_error(std::string("CharTokenizer::encode: ") + e.what());
    }
    return ids;
  }

  /// ids -> UTF-8 text. Padding decodes to nothing, the unknown id to "[UNK]". An id outside
  /// [0, vocabulary_size()) is a value_error naming its position.
  std::string decode(const TokenId* ids, std::size_t count) const {
    std::string text;
    text.reserve(count);
    for (std::size_t k = 0; k < count; ++k) {
      const TokenId id = ids[k];
      if (id < 0 || id >= vocabulary_size()) {
        throw value_error(detail::make_message("CharTokenizer::decode: id ", id, " at position ", k,
                                               " is outside the vocabulary [0, ", vocabulary_size(), ")"));
      }
      if (id >= first_character_id()) {
        utf8::append(text, characters_[static_cast<std::size_t>(id - first_character_id())]);
      } else if (id == unknown_id) {
        text += unknown_text;
      }
    }
    return text;
  }
  std::string decode(const std::vector<TokenId>& ids) const { return decode(ids.data(), ids.size()); }

  /// JSON form (embedded in model files):
  /// ```text
  ///   {"type":"seqlm.CharTokenizer","version":1,"order":"sorted","lower":"none",
  ///    "reserve_special_tokens":false,"unknown":"error","characters":["\n"," ","a",...]}
  /// ```
  json::Value to_json() const {
    json::Value characters = json::Value::array();
    for (char32_t c : characters_) characters.push_back(utf8::encode(c));
    json::Value value = json::Value::object();
    value.set("type", json_type)
        .set("version", 1)
        .set("order", detail::order_name(options_.order))
        .set("lower", lower_case_name(options_.lower))
        .set("reserve_special_tokens", options_.reserve_special_tokens)
        .set("unknown", detail::unknown_policy_name(options_.unknown))
        .set("characters", std::move(characters));
    return value;
  }

  /// Rebuilds a tokenizer from to_json()'s form, validating every field (value_error saying
  /// what is wrong).
  static CharTokenizer from_json(const json::Value& value) {
    try {
      json::check_type_and_version(value, json_type, 1);
      CharTokenizerOptions options;
      options.order = detail::order_from_name(value.get_string("order"));
      options.lower = lower_case_from_name(value.get_string("lower"));
      options.reserve_special_tokens = value.get_bool("reserve_special_tokens");
      options.unknown = detail::unknown_policy_from_name(value.get_string("unknown"));
      std::u32string characters;
      const json::Value::Array& entries = value.get_array("characters");
      check_character_count(entries.size(), "\"characters\" has");
      characters.reserve(entries.size());
      for (std::size_t k = 0; k < entries.size(); ++k) {
        if (!entries[k].is_string()) {
          throw value_error(
              detail::make_message("characters[", k, "] is ", entries[k].type_name(), ", expected a string"));
        }
        const std::u32string decoded = utf8::decode(entries[k].as_string());
        if (decoded.size() != 1) {
          throw value_error(detail::make_message("characters[", k, "] holds ", decoded.size(),
                                                 " code points, expected exactly 1"));
        }
        characters += decoded[0];
      }
      return CharTokenizer(std::move(characters), options);
    } catch (const error& e) {
      throw value_error(std::string("CharTokenizer JSON: ") + e.what());
    }
  }

  /// Saves to_json() (indented, one character per line) atomically.
  void save(const std::string& path) const { write_file_atomically(path, to_json().dump(1) + "\n"); }

  /// Loads and validates a saved tokenizer; any problem is a file_error naming the path.
  static CharTokenizer load(const std::string& path) {
    return json::load_file(path, "CharTokenizer", from_json);
  }

  static constexpr const char* json_type = "seqlm.CharTokenizer";

 private:
  void check_id(TokenId id) const {
    if (id < 0 || id >= vocabulary_size()) {
      throw value_error(detail::make_message("CharTokenizer: id ", id, " is outside the vocabulary [0, ",
                                             vocabulary_size(), ")"));
    }
  }

  static void check_character_count(std::size_t count, const char* what) {
    if (count > static_cast<std::size_t>(max_characters)) {
      throw value_error(detail::make_message("CharTokenizer: ", what, " ", count,
                                             " characters, more than the limit of ", max_characters,
                                             " (every Unicode scalar value once)"));
    }
  }

  void validate() const {
    if (options_.unknown == UnknownPolicy::unk && !options_.reserve_special_tokens) {
      throw value_error("CharTokenizer: unknown policy \"unk\" needs reserve_special_tokens (id 1 is [UNK])");
    }
    check_character_count(characters_.size(), "the vocabulary has");
    std::u32string seen = characters_;
    std::sort(seen.begin(), seen.end());
    const auto duplicate = std::adjacent_find(seen.begin(), seen.end());
    if (duplicate != seen.end()) {
      throw value_error("CharTokenizer: character " + detail::describe_character(*duplicate) +
                        " appears twice in the vocabulary");
    }
    for (std::size_t k = 0; k < characters_.size(); ++k) {
      const char32_t c = characters_[k];
      if (!utf8::is_scalar_value(c)) {
        throw value_error(detail::make_message("CharTokenizer: ", utf8::code_point_name(c),
                                               " is not a Unicode scalar value"));
      }
      if (to_lower(c, options_.lower) != c) {
        throw value_error("CharTokenizer: character " + detail::describe_character(c) +
                          " is not lower case under " + "lower=\"" + lower_case_name(options_.lower) +
                          "\", encode() could never produce it");
      }
      if (options_.order == VocabularyOrder::sorted && k > 0 && characters_[k - 1] > c) {
        throw value_error("CharTokenizer: order is \"sorted\" but " + detail::describe_character(c) +
                          " comes after " + detail::describe_character(characters_[k - 1]));
      }
    }
  }

  // Lookup tables for find(): dense for code points below min(max + 1, U+10000), a hash map
  // above. -1 marks an absent character.
  void rebuild_lookup() {
    char32_t max_code_point = 0;
    for (char32_t c : characters_) max_code_point = std::max(max_code_point, c);
    const std::size_t dense_size =
        characters_.empty() ? 0 : std::min<std::size_t>(max_code_point + 1, 0x10000);
    dense_.assign(dense_size, -1);
    sparse_.clear();
    for (std::size_t k = 0; k < characters_.size(); ++k) {
      const auto id = static_cast<TokenId>(k) + first_character_id();
      if (characters_[k] < dense_size) {
        dense_[characters_[k]] = id;
      } else {
        sparse_[characters_[k]] = id;
      }
    }
  }

  CharTokenizerOptions options_;
  std::u32string characters_;                     // id - first_character_id() -> character
  std::vector<TokenId> dense_;                    // character -> id for small code points
  std::unordered_map<char32_t, TokenId> sparse_;  // character -> id for the rest
};

}  // namespace seqlm
