// CharTokenizer (text/char_tokenizer.hpp): load() a tokenizer file, then encode a text.
//
// Input: the tokenizer file's bytes, a NUL byte, then the text to encode (JSON text cannot
// hold a raw NUL, so the first one splits the two).
//
// Properties:
//   * a loaded tokenizer round-trips: from_json(to_json(t)) and the saved text form give the
//     same characters and options, and save() writes bytes that load() reads back;
//   * encode() refuses exactly the invalid UTF-8 texts and, with UnknownPolicy::error, the
//     texts with an unknown character; every id it gives is in [0, vocabulary_size());
//   * decode(encode(s)) is the lower-cased text, with unknown characters dropped (skip) or
//     written "[UNK]" (unk);
//   * a tokenizer built from a text with the loaded one's options encodes that text with no
//     unknown character.
#include <cstddef>
#include <cstdint>
#include <seqlm/text/char_tokenizer.hpp>
#include <string>
#include <vector>

#include "fuzz_common.hpp"

using namespace seqlm;

namespace {

bool same(const CharTokenizer& a, const CharTokenizer& b) {
  const CharTokenizerOptions &x = a.options(), &y = b.options();
  return a.characters() == b.characters() && x.order == y.order && x.lower == y.lower &&
         x.reserve_special_tokens == y.reserve_special_tokens && x.unknown == y.unknown;
}

// What decode(encode(text)) must give: the lower-cased text with unknown characters handled
// by the policy (text is valid UTF-8).
std::string expected_round_trip(const CharTokenizer& tokenizer, std::string_view text) {
  std::string out;
  for (const char32_t c : utf8::decode(text)) {
    if (tokenizer.find(c)) {
      utf8::append(out, to_lower(c, tokenizer.options().lower));
    } else if (tokenizer.options().unknown == UnknownPolicy::unk) {
      out += CharTokenizer::unknown_text;
    }
  }
  return out;
}

bool has_unknown(const CharTokenizer& tokenizer, std::string_view text) {
  for (const char32_t c : utf8::decode(text)) {
    if (!tokenizer.find(c)) return true;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input = fuzz::bytes(data, size);
  const std::size_t split = std::min(input.find('\0'), input.size());
  const std::string_view file_bytes = input.substr(0, split);
  const std::string_view text = input.substr(std::min(split + 1, input.size()));

  static fuzz::MemoryFile file;
  const std::string& path = file.set(file_bytes);
  const std::optional<CharTokenizer> tokenizer = fuzz::refused_or([&] { return CharTokenizer::load(path); });
  if (!tokenizer) return 0;

  // Round trips.
  const json::Value saved = fuzz::must("to_json", [&] { return tokenizer->to_json(); });
  fuzz::check(
      same(fuzz::must("from_json(to_json())", [&] { return CharTokenizer::from_json(saved); }), *tokenizer),
      "from_json(to_json(t)) == t");
  const std::string saved_text = saved.dump(1) + "\n";
  const CharTokenizer reloaded =
      fuzz::must("load(saved form)", [&] { return CharTokenizer::load(file.set(saved_text)); });
  fuzz::check(same(reloaded, *tokenizer), "load(save(t)) == t");
  fuzz::check(tokenizer->vocabulary_size() ==
                  static_cast<Index>(tokenizer->characters().size()) + tokenizer->first_character_id(),
              "vocabulary_size counts the characters and the reserved ids");
  for (TokenId id = 0; id < tokenizer->vocabulary_size(); ++id) {
    fuzz::must("token_text of every id", [&] { return tokenizer->token_text(id); });
  }

  // Encoding.
  const bool valid = utf8::is_valid(text);
  const bool must_refuse =
      !valid || (tokenizer->options().unknown == UnknownPolicy::error && has_unknown(*tokenizer, text));
  const std::optional<std::vector<TokenId>> ids = fuzz::refused_or([&] { return tokenizer->encode(text); });
  fuzz::check(ids.has_value() == !must_refuse, "encode refuses exactly bad UTF-8 and unknown characters");
  if (!ids) return 0;
  for (const TokenId id : *ids) fuzz::check(id >= 0 && id < tokenizer->vocabulary_size(), "ids in range");
  fuzz::check(fuzz::must("decode(encode())", [&] { return tokenizer->decode(*ids); }) ==
                  expected_round_trip(*tokenizer, text),
              "decode(encode(s)) is s lower-cased, unknown characters handled by the policy");

  // A tokenizer built from the text knows all of it.
  const CharTokenizer built =
      fuzz::must("build(text)", [&] { return CharTokenizer::build(text, tokenizer->options()); });
  fuzz::check(!has_unknown(built, text), "build(s) knows every character of s");
  fuzz::check(built.decode(built.encode(text)) == to_lower(text, tokenizer->options().lower),
              "build(s).decode(encode(s)) is s lower-cased");
  return 0;
}
