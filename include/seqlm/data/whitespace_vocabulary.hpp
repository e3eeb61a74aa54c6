/// \file
/// The word vocabulary of the greetings ("super small language model") tutorial: text is
/// split on whitespace like Python's str.split() (ASCII whitespace), and words get ids in the order they
/// first appear. Id 0 is reserved (padding / end of message, decodes to nothing), so the
/// first word is 1, as in the tutorial. (The tutorial's counter also advances on repeated
/// words, leaving gaps; here ids are contiguous, in the same order, which renames ids only.)
///
/// ```cpp
///   WhitespaceVocabulary vocabulary;
///   auto ids = vocabulary.add("Olá! Como você está?");   // {1, 2, 3, 4}
///   vocabulary.find("Como");                             // 2
///   vocabulary.decode({2, 3});                           // "Como você"
/// ```
#pragma once

#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "../error.hpp"
#include "../io/atomic_file.hpp"
#include "../io/json.hpp"
#include "../tensor.hpp"

namespace seqlm {

class WhitespaceVocabulary {
 public:
  static constexpr TokenId reserved_id = 0;  ///< padding / end; never a word

  /// Splits on runs of the ASCII characters Python's str.split() treats as whitespace
  /// (space, `\t \n \v \f \r`, 0x1C-0x1F); no empty words. Non-ASCII spaces (U+00A0, ...)
  /// are kept inside words.
  static std::vector<std::string> split(const std::string& text) {
    std::vector<std::string> words;
    std::string word;
    for (char ch : text) {
      if (is_space(ch)) {
        if (!word.empty()) words.push_back(std::move(word));
        word.clear();
      } else {
        word.push_back(ch);
      }
    }
    if (!word.empty()) words.push_back(std::move(word));
    return words;
  }

  /// Number of ids, the reserved 0 included: words + 1.
  Index size() const { return static_cast<Index>(words_.size()) + 1; }
  Index word_count() const { return static_cast<Index>(words_.size()); }

  /// Adds the words of `text` not seen yet and returns the ids of all its words.
  std::vector<TokenId> add(const std::string& text) {
    std::vector<TokenId> ids;
    for (std::string& word : split(text)) {
      const auto at = ids_.find(word);
      if (at != ids_.end()) {
        ids.push_back(at->second);
      } else {
        const TokenId id = static_cast<TokenId>(words_.size()) + 1;
        ids_.emplace(word, id);
        words_.push_back(std::move(word));
        ids.push_back(id);
      }
    }
    return ids;
  }

  /// The id of a word, if known.
  std::optional<TokenId> find(const std::string& word) const {
    const auto at = ids_.find(word);
    if (at == ids_.end()) return std::nullopt;
    return at->second;
  }

  /// The ids of the words of `text`, or std::nullopt if any word is unknown.
  std::optional<std::vector<TokenId>> encode(const std::string& text) const {
    std::vector<TokenId> ids;
    for (const std::string& word : split(text)) {
      const auto id = find(word);
      if (!id) return std::nullopt;
      ids.push_back(*id);
    }
    return ids;
  }

  /// The word of an id; value_error outside [1, size()).
  const std::string& word(TokenId id) const {
    if (id < 1 || id >= size()) {
      throw value_error(
          detail::make_message("WhitespaceVocabulary: id ", id, " is not a word id [1, ", size(), ")"));
    }
    return words_[static_cast<size_t>(id - 1)];
  }

  /// Words joined by single spaces; the reserved id 0 is skipped.
  std::string decode(const std::vector<TokenId>& ids) const {
    std::string text;
    for (TokenId id : ids) {
      if (id == reserved_id) continue;
      if (!text.empty()) text += ' ';
      text += word(id);
    }
    return text;
  }

  /// All words in id order (words()[i] has id i + 1).
  const std::vector<std::string>& words() const { return words_; }

  /// {"format": "seqlm.whitespace_vocabulary", "version": 1, "words": ["Olá!", ...]}
  json::Value to_json() const {
    json::Value words = json::Value::array();
    for (const std::string& word : words_) words.push_back(word);
    json::Value out = json::Value::object();
    out.set("format", "seqlm.whitespace_vocabulary").set("version", 1).set("words", std::move(words));
    return out;
  }

  /// Rebuilds a vocabulary from to_json()'s value; value_error when it is malformed, or has an
  /// empty word, a word with whitespace, or a repeated word.
  static WhitespaceVocabulary from_json(const json::Value& in) {
    if (in.get_string("format") != "seqlm.whitespace_vocabulary" || in.get_int64("version") != 1) {
      throw value_error("not a version 1 seqlm.whitespace_vocabulary");
    }
    WhitespaceVocabulary vocabulary;
    const json::Value::Array& words = in.get_array("words");
    for (size_t k = 0; k < words.size(); ++k) {
      const std::string& word = words[k].as_string();
      if (split(word) != std::vector<std::string>{word}) {
        throw value_error(detail::make_message("word ", k, " is empty or contains whitespace"));
      }
      if (vocabulary.find(word))
        throw value_error(detail::make_message("word ", k, " \"", word, "\" repeats"));
      vocabulary.add(word);
    }
    return vocabulary;
  }

  /// Writes to_json() atomically.
  void save(const std::string& path) const { write_file_atomically(path, to_json().dump()); }

  /// Reads a file written by save(); file_error naming the path for any problem.
  static WhitespaceVocabulary load(const std::string& path) {
    return json::load_file(path, "WhitespaceVocabulary", from_json);
  }

 private:
  static bool is_space(char ch) {
    const unsigned char c = static_cast<unsigned char>(ch);
    return c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F);
  }

  std::vector<std::string> words_;
  std::unordered_map<std::string, TokenId> ids_;
};

}  // namespace seqlm
