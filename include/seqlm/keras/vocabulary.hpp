/// \file
/// The vocabulary of an imported Keras text model. A `.keras` file holds only the network: which
/// character or word each input and output position stands for lives in the training script.
/// seqlm::keras::load takes it explicitly, in whichever form the script had it:
///
/// ```text
///   Vocabulary::characters(tokenizer)                 a CharTokenizer
///   Vocabulary::characters({"\n", " ", "a", ...})     the characters in id order (a `chars` list)
///   Vocabulary::sorted_characters_of(text, steps)     sorted(set(text)) after the script's steps,
///                                                     e.g. lower-case and remove every "@\n"
///   Vocabulary::words(tokenizer)                      a WordTokenizer
///   Vocabulary::keras_tokenizer_json(text)            Keras's Tokenizer.to_json() (word models)
/// ```
///
/// load() checks its size against the model's input and output sizes, and the imported model's
/// tokenizer (to_json()) goes into the seqlm model file saved after the import.
///
/// Part of the optional seqlm::keras component (needs no library itself).
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../error.hpp"
#include "../io/json.hpp"
#include "../io/utf8.hpp"
#include "../text/char_tokenizer.hpp"
#include "../text/word_tokenizer.hpp"

namespace seqlm::keras {

/// How a training script prepared its text before taking sorted(set(text)): lower-case it, then
/// remove every occurrence of each string in `remove`, in order. The poem tutorial:
/// {LowerCase::unicode, {"@\n"}}.
struct TextPreparation {
  LowerCase lower = LowerCase::none;
  std::vector<std::string> remove;
};

/// `text` prepared by `steps` (text_error for invalid UTF-8 when lower-casing).
inline std::string prepare_text(std::string_view text, const TextPreparation& steps) {
  std::string prepared = to_lower(text, steps.lower);
  for (const std::string& unwanted : steps.remove) {
    if (unwanted.empty()) continue;
    std::string kept;
    kept.reserve(prepared.size());
    for (std::size_t k = 0; k < prepared.size();) {
      if (prepared.compare(k, unwanted.size(), unwanted) == 0) {
        k += unwanted.size();
      } else {
        kept += prepared[k++];
      }
    }
    prepared = std::move(kept);
  }
  return prepared;
}

class Vocabulary {
 public:
  /// A character vocabulary: the tokenizer's ids are the model's input and output positions.
  static Vocabulary characters(CharTokenizer tokenizer) {
    Vocabulary vocabulary;
    vocabulary.characters_ = std::make_shared<CharTokenizer>(std::move(tokenizer));
    return vocabulary;
  }

  /// The characters in id order, each one code point in UTF-8 (the `chars` list of a Keras
  /// script). `lower` is what encode() applies to text (the script's own lower-casing).
  /// value_error for a duplicate, an entry that is not one code point, or one `lower` changes.
  static Vocabulary characters(const std::vector<std::string>& characters,
                               LowerCase lower = LowerCase::none) {
    std::u32string code_points;
    for (std::size_t k = 0; k < characters.size(); ++k) {
      const std::u32string decoded = utf8::decode(characters[k]);
      if (decoded.size() != 1) {
        throw value_error(seqlm::detail::make_message("Vocabulary::characters: entry ", k, " \"",
                                                      characters[k], "\" holds ", decoded.size(),
                                                      " code points, expected 1"));
      }
      code_points += decoded[0];
    }
    CharTokenizerOptions options;
    options.lower = lower;
    // "sorted" when the list is (then the tokenizer checks it stays so); the order is a label only.
    options.order = std::is_sorted(code_points.begin(), code_points.end()) ? VocabularyOrder::sorted
                                                                           : VocabularyOrder::frequency;
    return Vocabulary::characters(CharTokenizer(std::move(code_points), options));
  }

  /// sorted(set(prepare_text(text, steps))): how char-level Keras tutorials build their vocabulary.
  static Vocabulary sorted_characters_of(std::string_view text, const TextPreparation& steps = {}) {
    CharTokenizerOptions options;
    options.order = VocabularyOrder::sorted;
    options.lower = steps.lower;
    return Vocabulary::characters(CharTokenizer::build(prepare_text(text, steps), options));
  }

  /// A word vocabulary.
  static Vocabulary words(WordTokenizer tokenizer) {
    Vocabulary vocabulary;
    vocabulary.words_ = std::make_shared<WordTokenizer>(std::move(tokenizer));
    return vocabulary;
  }

  /// Keras's (legacy) Tokenizer.to_json() text: {"class_name": "Tokenizer", "config": {...,
  /// "word_counts": "<JSON>", "word_index": "<JSON>", ...}}. The index is rebuilt from the
  /// counts by seqlm's WordTokenizer and must equal the file's word_index entry for entry.
  /// value_error naming the field otherwise (char_level tokenizers: use characters()).
  static Vocabulary keras_tokenizer_json(std::string_view text) {
    const std::string where = "Keras Tokenizer JSON";
    json::Value document;
    try {
      document = json::parse(text);
    } catch (const value_error& e) {
      throw value_error(where + ": " + e.what());
    }
    json::ObjectReader top(document, where, &json::throw_as<value_error>);
    const std::string& class_name = top.text("class_name");
    if (class_name != "Tokenizer")
      top.fail("class_name", "is \"" + class_name + "\", expected \"Tokenizer\"");
    json::ObjectReader config = top.object("config");
    top.finish();

    WordTokenizerOptions options;
    if (const json::Value* num_words = config.find("num_words");
        num_words != nullptr && !num_words->is_null()) {
      options.num_words = static_cast<Index>(config.size("num_words"));
    }
    options.filters = config.text("filters");
    options.lower = config.flag("lower");
    options.split = config.text("split");
    if (config.flag("char_level")) {
      config.fail("char_level", "is true; give a character vocabulary (Vocabulary::characters) instead");
    }
    if (const json::Value* oov = config.find("oov_token"); oov != nullptr && !oov->is_null()) {
      options.oov_token = config.text("oov_token");
    }
    const std::int64_t documents = config.count("document_count");
    auto embedded = [&config](const char* field) {
      try {
        return json::parse(config.text(field));
      } catch (const value_error& e) {
        config.fail(field, std::string("is not valid JSON: ") + e.what());
      }
    };
    const json::Value counts = embedded("word_counts");
    const json::Value index = embedded("word_index");
    config.find("word_docs");  // document frequencies and index_word: not needed
    config.find("index_docs");
    config.find("index_word");
    config.finish();
    if (!counts.is_object()) config.fail("word_counts", "is not a JSON object");
    if (!index.is_object()) config.fail("word_index", "is not a JSON object");

    // seqlm's WordTokenizer JSON: the counts in first-seen order (Keras's OrderedDict).
    json::Value word_counts = json::Value::array();
    for (const json::Value::Member& member : counts.as_object()) {
      word_counts.push_back(json::Value::Array{json::Value(member.first), member.second});
    }
    json::Value seqlm_json =
        json::Value::object()
            .set("type", WordTokenizer::json_type)
            .set("version", 1)
            .set("filters", options.filters)
            .set("lower", options.lower)
            .set("split", options.split)
            .set("num_words", options.num_words > 0 ? json::Value(options.num_words) : json::Value())
            .set("oov_token", options.oov_token ? json::Value(*options.oov_token) : json::Value())
            .set("document_count", documents)
            .set("word_counts", std::move(word_counts));
    WordTokenizer tokenizer = WordTokenizer::from_json(seqlm_json);
    if (static_cast<std::size_t>(index.size()) + 1 != tokenizer.index_word().size()) {
      config.fail("word_index", seqlm::detail::make_message("has ", index.size(), " words, the counts give ",
                                                            tokenizer.index_word().size() - 1));
    }
    for (const json::Value::Member& member : index.as_object()) {
      const std::optional<TokenId> id = tokenizer.find(member.first);
      if (!member.second.is_integer() || !id || *id != member.second.as_int64()) {
        config.fail("word_index", "gives \"" + member.first + "\" index " + member.second.dump() +
                                      ", the counts give " +
                                      (id ? std::to_string(*id) : std::string("none")));
      }
    }
    return Vocabulary::words(std::move(tokenizer));
  }

  /// keras_tokenizer_json() of a file (file_error naming it).
  static Vocabulary load_keras_tokenizer(const std::string& path) {
    const std::string text = read_text_file(path);
    try {
      return keras_tokenizer_json(text);
    } catch (const error& e) {
      throw file_error("\"" + path + "\": " + e.what());
    }
  }

  /// The number of ids: the size the model's input and output must have.
  Index size() const {
    if (characters_) return characters_->vocabulary_size();
    if (words_) return words_->vocabulary_size();
    return 0;
  }
  bool empty() const { return !characters_ && !words_; }

  /// The tokenizer, whichever kind it is (null for the other kind).
  const CharTokenizer* char_tokenizer() const { return characters_.get(); }
  const WordTokenizer* word_tokenizer() const { return words_.get(); }

  /// The tokenizer's JSON, for ModelFileContents::tokenizer.
  json::Value to_json() const {
    if (characters_) return characters_->to_json();
    if (words_) return words_->to_json();
    return json::Value();
  }

  /// "60 characters" / "4523 words".
  std::string description() const {
    if (characters_) return std::to_string(size()) + " characters";
    if (words_) return std::to_string(size()) + " word ids";
    return "no vocabulary";
  }

 private:
  Vocabulary() = default;
  std::shared_ptr<const CharTokenizer> characters_;
  std::shared_ptr<const WordTokenizer> words_;
};

}  // namespace seqlm::keras
