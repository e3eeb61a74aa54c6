/// \file
/// Word-level tokenizer with the semantics of Keras's (legacy) `tf.keras.preprocessing.text.Tokenizer`,
/// and the headline tutorial's cleaning function.
///
/// Turning a text into words (Keras's text_to_word_sequence):
///   1. lower-case it when options.lower (Python's str.lower; here LowerCase::unicode),
///   2. replace every character listed in options.filters by options.split,
///   3. split on options.split and drop empty strings.
///
/// The default filters are Keras's:
/// ```text
/// !"#$%&()*+,-./:;<=>?@[\]^_`{|}~
/// ```
/// plus tab and newline. The
/// apostrophe is NOT a filter ("don't" stays one word) and neither is ``'\r'``.
///
/// fit_on_texts() counts words; the index orders them by descending count, ties in the order
/// they were first seen (Python's stable sort). Index 0 is reserved (padding). With an
/// oov_token, it gets index 1 and every word shifts by one. fit_on_texts() may be called
/// again: counts accumulate and the index is rebuilt, like Keras.
///
/// texts_to_sequences() maps each word to its index; a word not in the index, or whose index
/// is >= num_words (when num_words is set), becomes the oov index if there is an oov_token and
/// is dropped otherwise. Exactly Keras's rules.
///
/// Differences from Keras, all in corner cases:
///   * if the oov_token itself occurs in a training text, Keras lists it twice and ends up
///     with a hole at index 1; here it keeps index 1 and its occurrences count as OOV;
///   * lower-casing is Unicode simple case mapping (see io/utf8.hpp): identical to str.lower()
///     except U+0130 'İ' -> "i" (Python: "i̇") and final sigma;
///   * input must be valid UTF-8 (text_error with the byte offset);
///   * char_level and analyzer are not supported (use CharTokenizer).
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

/// Keras's default Tokenizer filters.
inline constexpr std::string_view keras_default_filters = "!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n";

/// Python's string.punctuation (the 32 ASCII punctuation characters).
inline constexpr std::string_view ascii_punctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

namespace detail {

// A set of code points with a fast path for ASCII.
class CodePointSet {
 public:
  explicit CodePointSet(std::string_view utf8_characters) {
    for (char32_t c : utf8::decode(utf8_characters)) {
      if (c < 128) {
        ascii_[c] = true;
      } else {
        others_ += c;
      }
    }
    std::sort(others_.begin(), others_.end());
  }
  bool contains(char32_t c) const {
    if (c < 128) return ascii_[c];
    return std::binary_search(others_.begin(), others_.end(), c);
  }

 private:
  bool ascii_[128] = {};
  std::u32string others_;
};

// Splits `text` on every occurrence of `separator`, dropping empty pieces (Python's
// [w for w in text.split(separator) if w]).
inline std::vector<std::string> split_dropping_empty(std::string_view text, std::string_view separator) {
  std::vector<std::string> pieces;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t end = text.find(separator, start);
    const std::size_t stop = end == std::string_view::npos ? text.size() : end;
    if (stop > start) pieces.emplace_back(text.substr(start, stop - start));
    if (end == std::string_view::npos) break;
    start = end + separator.size();
  }
  return pieces;
}

}  // namespace detail

/// Keras's text_to_word_sequence: lower-case, replace each filter character by `split`,
/// split on `split`, drop empty words. `filters` is a UTF-8 string of characters; `split`
/// must not be empty (value_error). Invalid UTF-8 is a text_error.
inline std::vector<std::string> text_to_word_sequence(std::string_view text,
                                                      std::string_view filters = keras_default_filters,
                                                      bool lower = true, std::string_view split = " ") {
  if (split.empty()) throw value_error("text_to_word_sequence: split must not be empty");
  const detail::CodePointSet filter_set(filters);
  std::string cleaned;
  cleaned.reserve(text.size());
  utf8::Decoder decoder;
  try {
    decoder.feed(text, [&](char32_t c, std::size_t) {
      if (lower) c = to_lower(c, LowerCase::unicode);
      if (filter_set.contains(c)) {
        cleaned += split;
      } else {
        utf8::append(cleaned, c);
      }
    });
    decoder.finish();
  } catch (const text_error& e) {
    throw text_error(std::string("text_to_word_sequence: ") + e.what());
  }
  return detail::split_dropping_empty(cleaned, split);
}

/// The headline tutorial's cleaning, i.e.\ Python's
/// ```text
///   "".join(c for c in s if c not in string.punctuation).lower().encode("utf8").decode("ascii", "ignore")
/// ```
/// delete ASCII punctuation, lower-case, drop every non-ASCII character:
/// ```text
///   "U.S." -> "us", "Mr." -> "mr", "Café's" -> "cafs".
/// ```
/// (The two non-ASCII characters whose lower case is ASCII are kept as Python keeps them:
/// U+0130 'İ' -> "i", U+212A KELVIN SIGN -> "k".) Invalid UTF-8 is a text_error.
inline std::string clean_headline(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  utf8::Decoder decoder;
  try {
    decoder.feed(text, [&out](char32_t c, std::size_t) {
      if (c < 128 && ascii_punctuation.find(static_cast<char>(c)) != std::string_view::npos) return;
      c = to_lower(c, LowerCase::unicode);
      if (c < 128) out += static_cast<char>(c);
    });
    decoder.finish();
  } catch (const text_error& e) {
    throw text_error(std::string("clean_headline: ") + e.what());
  }
  return out;
}

struct WordTokenizerOptions {
  std::string filters = std::string(keras_default_filters);  ///< characters replaced by `split`
  bool lower = true;                                         ///< lower-case before filtering
  std::string split = " ";                                   ///< word separator, not empty
  Index num_words = 0;                                       ///< 0: no limit; else ids < num_words
  std::optional<std::string> oov_token;                      ///< gets index 1 when set
};

class WordTokenizer {
 public:
  static constexpr TokenId padding_id = 0;

  explicit WordTokenizer(WordTokenizerOptions options = {}) : options_(std::move(options)) {
    if (options_.split.empty()) throw value_error("WordTokenizer: split must not be empty");
    if (options_.num_words < 0) {
      throw value_error(detail::make_message("WordTokenizer: num_words must be >= 0 (0 = no limit), got ",
                                             options_.num_words));
    }
    if (options_.oov_token && options_.oov_token->empty())
      throw value_error("WordTokenizer: oov_token is empty");
    utf8::validate(options_.filters);
    utf8::validate(options_.split);
    if (options_.oov_token) utf8::validate(*options_.oov_token);
    rebuild_index();
  }

  const WordTokenizerOptions& options() const { return options_; }

  /// The words of one text, as fit_on_texts and texts_to_sequences see them.
  std::vector<std::string> words_of(std::string_view text) const {
    return text_to_word_sequence(text, options_.filters, options_.lower, options_.split);
  }

  /// Counts the words of every text and rebuilds the index (counts accumulate over calls).
  void fit_on_texts(const std::vector<std::string>& texts) {
    for (const std::string& text : texts) {
      ++document_count_;
      for (std::string& word : words_of(text)) {
        const auto [position, inserted] = count_position_.try_emplace(word, word_counts_.size());
        if (inserted) {
          word_counts_.emplace_back(std::move(word), 1);
        } else {
          ++word_counts_[position->second].second;
        }
      }
    }
    rebuild_index();
  }

  /// Keras's texts_to_sequences (see the top of this file for the OOV and num_words rules).
  std::vector<TokenId> text_to_sequence(std::string_view text) const {
    std::vector<TokenId> ids;
    const std::optional<TokenId> oov = oov_index();
    for (const std::string& word : words_of(text)) {
      const auto found = word_index_.find(word);
      if (found != word_index_.end() && !(options_.num_words > 0 && found->second >= options_.num_words)) {
        ids.push_back(found->second);
      } else if (oov) {
        ids.push_back(*oov);
      }
    }
    return ids;
  }

  std::vector<std::vector<TokenId>> texts_to_sequences(const std::vector<std::string>& texts) const {
    std::vector<std::vector<TokenId>> sequences;
    sequences.reserve(texts.size());
    for (const std::string& text : texts) sequences.push_back(text_to_sequence(text));
    return sequences;
  }

  /// Keras's sequences_to_texts: words joined by one space. Lenient like Keras: an id with no
  /// word (0, negative, too large) and an id >= num_words become the oov token if there is
  /// one and are dropped otherwise.
  std::string sequence_to_text(const std::vector<TokenId>& ids) const {
    std::string text;
    const std::optional<TokenId> oov = oov_index();
    for (const TokenId id : ids) {
      const bool known = id > 0 && id < static_cast<TokenId>(index_word_.size());
      const bool allowed = known && !(options_.num_words > 0 && id >= options_.num_words);
      if (!allowed && !oov) continue;
      if (!text.empty()) text += ' ';
      text += index_word_[static_cast<std::size_t>(allowed ? id : *oov)];
    }
    return text;
  }

  std::vector<std::string> sequences_to_texts(const std::vector<std::vector<TokenId>>& sequences) const {
    std::vector<std::string> texts;
    texts.reserve(sequences.size());
    for (const auto& ids : sequences) texts.push_back(sequence_to_text(ids));
    return texts;
  }

  /// Strict decoding for generated ids: each id must be in [1, vocabulary_size()) (value_error
  /// naming the position otherwise); words joined by one space.
  std::string decode(const std::vector<TokenId>& ids) const {
    std::string text;
    for (std::size_t k = 0; k < ids.size(); ++k) {
      const TokenId id = ids[k];
      if (id < 1 || id >= vocabulary_size()) {
        throw value_error(detail::make_message("WordTokenizer::decode: id ", id, " at position ", k,
                                               " is outside the word ids [1, ", vocabulary_size(), ")"));
      }
      if (k > 0) text += ' ';
      text += index_word_[static_cast<std::size_t>(id)];
    }
    return text;
  }

  /// len(word_index) + 1 (for index 0), capped at num_words when it is set.
  Index vocabulary_size() const {
    const auto size = static_cast<Index>(index_word_.size());
    return options_.num_words > 0 ? std::min(size, options_.num_words) : size;
  }

  /// word -> index for every word seen (including the oov token), like Keras's word_index.
  const std::unordered_map<std::string, TokenId>& word_index() const { return word_index_; }

  /// index -> word; entry 0 is "" (padding). Keras's index_word as a vector.
  const std::vector<std::string>& index_word() const { return index_word_; }

  /// Index of a word (exactly as stored: already lower-cased and filtered), if known.
  std::optional<TokenId> find(std::string_view word) const {
    const auto found = word_index_.find(std::string(word));
    return found != word_index_.end() ? std::optional<TokenId>(found->second) : std::nullopt;
  }

  /// The word of an index in [1, index_word().size()) (value_error otherwise).
  const std::string& word_of(TokenId id) const {
    if (id < 1 || id >= static_cast<TokenId>(index_word_.size())) {
      throw value_error(detail::make_message("WordTokenizer: id ", id, " is outside the word index [1, ",
                                             index_word_.size(), ")"));
    }
    return index_word_[static_cast<std::size_t>(id)];
  }

  /// Word counts in first-seen order (Keras's word_counts) and the number of texts fitted.
  const std::vector<std::pair<std::string, std::uint64_t>>& word_counts() const { return word_counts_; }
  std::uint64_t document_count() const { return document_count_; }

  /// JSON form; the index is rebuilt from the counts on loading:
  /// ```text
  ///   {"type":"seqlm.WordTokenizer","version":1,"filters":"...","lower":true,"split":" ",
  ///    "num_words":null,"oov_token":null,"document_count":2,"word_counts":[["the",3],...]}
  /// ```
  json::Value to_json() const {
    json::Value counts = json::Value::array();
    for (const auto& [word, count] : word_counts_) {
      counts.push_back(json::Value::Array{json::Value(word), json::Value(count)});
    }
    json::Value value = json::Value::object();
    value.set("type", json_type)
        .set("version", 1)
        .set("filters", options_.filters)
        .set("lower", options_.lower)
        .set("split", options_.split)
        .set("num_words", options_.num_words > 0 ? json::Value(options_.num_words) : json::Value())
        .set("oov_token", options_.oov_token ? json::Value(*options_.oov_token) : json::Value())
        .set("document_count", document_count_)
        .set("word_counts", std::move(counts));
    return value;
  }

  /// Rebuilds a tokenizer from to_json()'s form, validating every field (value_error).
  static WordTokenizer from_json(const json::Value& value) {
    try {
      json::check_type_and_version(value, json_type, 1);
      WordTokenizerOptions options;
      options.filters = value.get_string("filters");
      options.lower = value.get_bool("lower");
      options.split = value.get_string("split");
      if (!value.at("num_words").is_null()) {
        options.num_words = value.get_int64("num_words");
        if (options.num_words <= 0) throw value_error("num_words must be positive or null");
      }
      if (!value.at("oov_token").is_null()) options.oov_token = value.get_string("oov_token");
      WordTokenizer tokenizer(options);
      const std::int64_t documents = value.get_int64("document_count");
      if (documents < 0) throw value_error("document_count is negative");
      tokenizer.document_count_ = static_cast<std::uint64_t>(documents);
      const json::Value::Array& counts = value.get_array("word_counts");
      for (std::size_t k = 0; k < counts.size(); ++k) {
        const json::Value& entry = counts[k];
        if (!entry.is_array() || entry.size() != 2 || !entry.at(0).is_string() || !entry.at(1).is_integer() ||
            entry.at(1).as_int64() <= 0) {
          throw value_error(detail::make_message("word_counts[", k, "] must be [word, positive count]"));
        }
        const std::string& word = entry.at(0).as_string();
        // A stored word must be what text_to_word_sequence could produce: itself, one word.
        const std::vector<std::string> words = tokenizer.words_of(word);
        if (words.size() != 1 || words[0] != word) {
          throw value_error(detail::make_message("word_counts[", k, "] \"", word,
                                                 "\" is not a single lower-cased, filtered word"));
        }
        if (!tokenizer.count_position_.try_emplace(word, tokenizer.word_counts_.size()).second) {
          throw value_error(detail::make_message("word_counts[", k, "] \"", word, "\" appears twice"));
        }
        tokenizer.word_counts_.emplace_back(word, static_cast<std::uint64_t>(entry.at(1).as_int64()));
      }
      tokenizer.rebuild_index();
      return tokenizer;
    } catch (const error& e) {
      throw value_error(std::string("WordTokenizer JSON: ") + e.what());
    }
  }

  void save(const std::string& path) const { write_file_atomically(path, to_json().dump(1) + "\n"); }

  /// Loads and validates a saved tokenizer; any problem is a file_error naming the path. The
  /// words need no limit of their own: the file is JSON, read within json::ParseOptions'
  /// limits (256 MiB of text, 2^24 values: each word is 3 of them, so at most ~5.6 million
  /// words), and nothing is allocated beyond the words themselves.
  static WordTokenizer load(const std::string& path) {
    return json::load_file(path, "WordTokenizer", from_json);
  }

  static constexpr const char* json_type = "seqlm.WordTokenizer";

 private:
  std::optional<TokenId> oov_index() const {
    return options_.oov_token ? std::optional<TokenId>(1) : std::nullopt;
  }

  // word_index: oov token (if any) at 1, then the words by descending count, ties in
  // first-seen order (stable sort).
  void rebuild_index() {
    std::vector<std::size_t> order;
    order.reserve(word_counts_.size());
    for (std::size_t k = 0; k < word_counts_.size(); ++k) {
      if (options_.oov_token && word_counts_[k].first == *options_.oov_token) continue;
      order.push_back(k);
    }
    std::stable_sort(order.begin(), order.end(), [this](std::size_t a, std::size_t b) {
      return word_counts_[a].second > word_counts_[b].second;
    });
    if (order.size() + 2 > static_cast<std::size_t>(std::numeric_limits<TokenId>::max())) {
      throw value_error("WordTokenizer: too many words for TokenId");
    }
    index_word_.assign(1, "");
    if (options_.oov_token) index_word_.push_back(*options_.oov_token);
    for (std::size_t k : order) index_word_.push_back(word_counts_[k].first);
    word_index_.clear();
    word_index_.reserve(index_word_.size());
    for (std::size_t id = 1; id < index_word_.size(); ++id)
      word_index_[index_word_[id]] = static_cast<TokenId>(id);
  }

  WordTokenizerOptions options_;
  std::vector<std::pair<std::string, std::uint64_t>> word_counts_;  // first-seen order
  std::unordered_map<std::string, std::size_t> count_position_;     // word -> position in word_counts_
  std::uint64_t document_count_ = 0;
  std::vector<std::string> index_word_;                  // id -> word, [0] = ""
  std::unordered_map<std::string, TokenId> word_index_;  // word -> id
};

}  // namespace seqlm
