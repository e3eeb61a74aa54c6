// WordTokenizer (text/word_tokenizer.hpp): load() a tokenizer file, then encode a text.
//
// Input: the tokenizer file's bytes, a NUL byte, then the text to encode.
//
// Properties:
//   * a loaded tokenizer round-trips: its JSON form, saved and loaded again, gives the same
//     JSON bytes (options, counts and therefore the index);
//   * text_to_sequence refuses exactly the invalid UTF-8 texts; every id is a word's index
//     (below num_words when that is set) or the OOV index;
//   * sequence_to_text(text_to_sequence(s)) is s's words, each unknown one replaced by the
//     OOV token or dropped, and the strict decode() agrees with it;
//   * after fit_on_texts({s}) every word of s is known, and the fitted tokenizer round-trips.
#include <cstddef>
#include <cstdint>
#include <seqlm/text/word_tokenizer.hpp>
#include <string>
#include <vector>

#include "fuzz_common.hpp"

using namespace seqlm;

namespace {

// The words of `text` as texts_to_sequences + sequences_to_texts must give them back.
std::string expected_text(const WordTokenizer& tokenizer, std::string_view text) {
  const WordTokenizerOptions& options = tokenizer.options();
  std::string out;
  for (const std::string& word : tokenizer.words_of(text)) {
    const std::optional<TokenId> id = tokenizer.find(word);
    const bool oov_word = options.oov_token && word == *options.oov_token;
    const bool allowed = id && !oov_word && !(options.num_words > 0 && *id >= options.num_words);
    if (!allowed && !options.oov_token) continue;
    if (!out.empty()) out += ' ';
    out += allowed ? word : *options.oov_token;
  }
  return out;
}

void check_round_trip(const WordTokenizer& tokenizer, fuzz::MemoryFile& file) {
  const std::string saved = fuzz::must("to_json", [&] { return tokenizer.to_json().dump(1) + "\n"; });
  const WordTokenizer reloaded =
      fuzz::must("load(saved form)", [&] { return WordTokenizer::load(file.set(saved)); });
  fuzz::check(reloaded.to_json().dump(1) + "\n" == saved, "load(save(t)) == t");
  fuzz::check(reloaded.index_word() == tokenizer.index_word(), "the index is rebuilt identically");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input = fuzz::bytes(data, size);
  const std::size_t split = std::min(input.find('\0'), input.size());
  const std::string_view file_bytes = input.substr(0, split);
  const std::string text(input.substr(std::min(split + 1, input.size())));

  static fuzz::MemoryFile file;
  const std::string& path = file.set(file_bytes);
  std::optional<WordTokenizer> tokenizer = fuzz::refused_or([&] { return WordTokenizer::load(path); });
  if (!tokenizer) return 0;
  check_round_trip(*tokenizer, file);

  const std::optional<std::vector<TokenId>> ids =
      fuzz::refused_or([&] { return tokenizer->text_to_sequence(text); });
  fuzz::check(ids.has_value() == utf8::is_valid(text), "text_to_sequence refuses exactly bad UTF-8");
  if (!ids) return 0;
  const WordTokenizerOptions& options = tokenizer->options();
  for (const TokenId id : *ids) {
    const bool oov = options.oov_token && id == 1;
    fuzz::check(oov || (id >= 1 && id < static_cast<TokenId>(tokenizer->index_word().size()) &&
                        !(options.num_words > 0 && id >= options.num_words)),
                "ids are allowed word indices or the OOV index");
  }
  const std::string back = fuzz::must("sequence_to_text", [&] { return tokenizer->sequence_to_text(*ids); });
  fuzz::check(back == expected_text(*tokenizer, text),
              "sequence_to_text(text_to_sequence(s)) keeps s's words");
  if (std::all_of(ids->begin(), ids->end(), [&](TokenId id) { return id < tokenizer->vocabulary_size(); })) {
    fuzz::check(fuzz::must("decode", [&] { return tokenizer->decode(*ids); }) == back, "decode agrees");
  }

  // Fitting on the text makes every word of it known.
  fuzz::must("fit_on_texts", [&] { tokenizer->fit_on_texts({text}); });
  if (options.num_words == 0) {
    const std::vector<TokenId> fitted = tokenizer->text_to_sequence(text);
    std::string words;
    for (const std::string& word : tokenizer->words_of(text)) words += (words.empty() ? "" : " ") + word;
    fuzz::check(tokenizer->decode(fitted) == words, "after fit_on_texts({s}) every word of s is known");
  }
  check_round_trip(*tokenizer, file);
  return 0;
}
