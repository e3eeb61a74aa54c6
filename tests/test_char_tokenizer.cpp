// CharTokenizer: both vocabulary orders with tie-breaking, lower-casing, reserved tokens,
// unknown policies, error messages, encode/decode and save/load round trips.
#include <doctest/doctest.h>

#include <cstdio>
#include <seqlm/text/char_tokenizer.hpp>
#include <string>
#include <vector>

namespace char_tokenizer_tests {

using namespace seqlm;

namespace {

std::u32string vocabulary_of(const CharTokenizer& tokenizer) { return tokenizer.characters(); }

}  // namespace

TEST_CASE("sorted order is sorted(set(text)) over code points") {
  const CharTokenizer tokenizer = CharTokenizer::build("banana é à\n");
  CHECK(vocabulary_of(tokenizer) == U"\n abnàé");
  CHECK(tokenizer.vocabulary_size() == 7);
  CHECK(tokenizer.first_character_id() == 0);
  CHECK(tokenizer.id_of(U'\n') == 0);
  CHECK(tokenizer.id_of(U'é') == 6);
  CHECK(tokenizer.char_of(5) == U'à');
  const std::vector<TokenId> ids = tokenizer.encode("nabé");
  CHECK(ids == std::vector<TokenId>{4, 2, 3, 6});
  CHECK(tokenizer.decode(ids) == "nabé");
}

TEST_CASE("Portuguese accents are single tokens") {
  const CharTokenizer tokenizer = CharTokenizer::build("coração e ação");
  CHECK(tokenizer.encode("ação").size() == 4);
  CHECK(tokenizer.decode(tokenizer.encode("coração")) == "coração");
}

TEST_CASE("frequency order: descending count, ties by descending code point (TextVectorization)") {
  // counts: a 3, b 2, c 2, é 2, d 1, ' ' 1 -> a, then ties {é, c, b} by code point descending,
  // then ties {d, ' '} descending.
  CharTokenizerOptions options;
  options.order = VocabularyOrder::frequency;
  const CharTokenizer tokenizer =
      CharTokenizer::build(std::vector<std::string>{"abcé", "aébc d", "a"}, options);
  CHECK(vocabulary_of(tokenizer) == U"aécbd ");
  options.reserve_special_tokens = true;
  const CharTokenizer with_special = CharTokenizer::build("abcéaébc da", options);
  CHECK(with_special.vocabulary_size() == 8);
  CHECK(with_special.token_text(0) == "");
  CHECK(with_special.token_text(1) == "[UNK]");
  CHECK(with_special.token_text(2) == "a");
  CHECK(with_special.token_text(3) == "é");
  CHECK(with_special.id_of(U'a') == 2);
  CHECK_THROWS_AS(with_special.char_of(1), value_error);
}

TEST_CASE("lower-casing modes apply when building and when encoding") {
  const std::string text = "Árvore ÁRVORE Ab";
  CharTokenizerOptions options;
  CHECK(vocabulary_of(CharTokenizer::build(text, options)) == U" AEORVbeorvÁ");
  options.lower = LowerCase::ascii;
  CHECK(vocabulary_of(CharTokenizer::build(text, options)) == U" abeorvÁ");
  options.lower = LowerCase::unicode;
  const CharTokenizer tokenizer = CharTokenizer::build(text, options);
  CHECK(vocabulary_of(tokenizer) == U" abeorvá");
  CHECK(tokenizer.encode("ÁRVORE") == tokenizer.encode("árvore"));
  CHECK(tokenizer.id_of(U'Á') == tokenizer.id_of(U'á'));
  CHECK(tokenizer.decode(tokenizer.encode("ÁRVORE")) == "árvore");
}

TEST_CASE("unknown policies: error, skip, unk") {
  CharTokenizerOptions options;
  const CharTokenizer strict = CharTokenizer::build("abc", options);
  try {
    strict.encode("ab\xC3\xA9");
    FAIL("expected a text_error");
  } catch (const text_error& e) {
    CHECK(std::string(e.what()) ==
          "CharTokenizer::encode: unknown character U+00E9 '\xC3\xA9' (UTF-8 0xC3 0xA9) at byte offset 2 "
          "(unknown policy is \"error\"; use skip or unk to accept it)");
  }
  CHECK_THROWS_WITH_AS(strict.encode("a\n"),
                       doctest::Contains("unknown character U+000A (UTF-8 0x0A) at byte offset 1"),
                       text_error);
  CHECK_THROWS_WITH_AS(strict.id_of(U'z'), doctest::Contains("U+007A 'z'"), text_error);
  CHECK_FALSE(strict.find(U'z').has_value());

  options.unknown = UnknownPolicy::skip;
  CHECK(CharTokenizer::build("abc", options).encode("axbyc") == std::vector<TokenId>{0, 1, 2});

  options.unknown = UnknownPolicy::unk;
  CHECK_THROWS_AS(CharTokenizer::build("abc", options), value_error);  // needs reserved slots
  options.reserve_special_tokens = true;
  const CharTokenizer with_unk = CharTokenizer::build("abc", options);
  const std::vector<TokenId> ids = with_unk.encode("axb");
  CHECK(ids == std::vector<TokenId>{2, 1, 3});
  CHECK(with_unk.decode(ids) == "a[UNK]b");
  CHECK(with_unk.decode({0, 2, 0}) == "a");  // padding decodes to nothing
}

TEST_CASE("invalid input and ids are reported clearly") {
  const CharTokenizer tokenizer = CharTokenizer::build("abc");
  CHECK_THROWS_WITH_AS(tokenizer.encode("ab\xE2\x82"),
                       doctest::Contains("truncated sequence 0xE2 0x82 at byte offset 2"), text_error);
  CHECK_THROWS_WITH_AS(CharTokenizer::build("x\x80"), doctest::Contains("byte offset 1"), text_error);
  CHECK_THROWS_WITH_AS(tokenizer.decode({0, 3}),
                       "CharTokenizer::decode: id 3 at position 1 is outside the vocabulary [0, 3)",
                       value_error);
  CHECK_THROWS_AS(tokenizer.decode({-1}), value_error);
  CHECK_THROWS_AS(tokenizer.char_of(3), value_error);
  CHECK(tokenizer.encode("").empty());
  CHECK(tokenizer.decode(std::vector<TokenId>{}).empty());
  CHECK(CharTokenizer::build("").vocabulary_size() == 0);
  // Explicit vocabularies are validated.
  CHECK_THROWS_AS(CharTokenizer(U"aba", {}), value_error);
  CHECK_THROWS_AS(CharTokenizer(U"ba", {}), value_error);  // not sorted
  CharTokenizerOptions frequency;
  frequency.order = VocabularyOrder::frequency;
  CHECK_NOTHROW(CharTokenizer(U"ba", frequency));
  frequency.lower = LowerCase::ascii;
  CHECK_THROWS_WITH_AS(CharTokenizer(U"bA", frequency), doctest::Contains("not lower case"), value_error);
}

TEST_CASE("encode/decode and save/load round trips") {
  CharTokenizerOptions options;
  options.order = VocabularyOrder::frequency;
  options.lower = LowerCase::unicode;
  options.reserve_special_tokens = true;
  options.unknown = UnknownPolicy::unk;
  const std::string text = "Olá, mundo!\n\"Coração\" \\ \t 😀 Ωμέγα";
  const CharTokenizer tokenizer = CharTokenizer::build(text, options);
  CHECK(tokenizer.decode(tokenizer.encode(text)) == to_lower(text, LowerCase::unicode));

  const CharTokenizer from_json = CharTokenizer::from_json(json::parse(tokenizer.to_json().dump()));
  CHECK(from_json.characters() == tokenizer.characters());
  CHECK(from_json.to_json() == tokenizer.to_json());

  const std::string path = "seqlm_test_char_tokenizer.json";
  tokenizer.save(path);
  const CharTokenizer loaded = CharTokenizer::load(path);
  CHECK(loaded.characters() == tokenizer.characters());
  CHECK(loaded.options().order == VocabularyOrder::frequency);
  CHECK(loaded.options().lower == LowerCase::unicode);
  CHECK(loaded.options().reserve_special_tokens);
  CHECK(loaded.options().unknown == UnknownPolicy::unk);
  CHECK(loaded.encode(text) == tokenizer.encode(text));
  std::remove(path.c_str());
}

TEST_CASE("load validates everything and names the file") {
  const std::string path = "seqlm_test_char_tokenizer_bad.json";
  auto load_error = [&path](const std::string& content) -> std::string {
    write_file_atomically(path, content);
    try {
      CharTokenizer::load(path);
    } catch (const file_error& e) {
      return e.what();
    }
    return "";
  };
  const std::string good = CharTokenizer::build("abc").to_json().dump();
  CHECK(load_error(good).empty());
  auto with = [&good](const std::string& from, const std::string& to) {
    std::string text = good;
    const std::size_t at = text.find(from);
    REQUIRE(at != std::string::npos);
    return text.replace(at, from.size(), to);
  };
  CHECK(load_error("{").find("seqlm_test_char_tokenizer_bad.json") != std::string::npos);
  CHECK(load_error("[]").find("CharTokenizer JSON: expected an object") != std::string::npos);
  CHECK(load_error(with("seqlm.CharTokenizer", "other")).find("\"type\" is \"other\"") != std::string::npos);
  CHECK(load_error(with("\"version\":1", "\"version\":2")).find("unsupported version 2") !=
        std::string::npos);
  CHECK(load_error(with("\"sorted\"", "\"random\"")).find("unknown vocabulary order \"random\"") !=
        std::string::npos);
  CHECK(load_error(with("\"lower\":\"none\"", "\"lower\":\"upper\"")).find("unknown mode \"upper\"") !=
        std::string::npos);
  CHECK(
      load_error(with("\"unknown\":\"error\"", "\"unknown\":\"unk\"")).find("needs reserve_special_tokens") !=
      std::string::npos);
  CHECK(load_error(with("\"a\",", "\"ab\",")).find("characters[0] holds 2 code points") != std::string::npos);
  CHECK(load_error(with("\"a\",", "1,")).find("characters[0] is a number") != std::string::npos);
  CHECK(load_error(with("\"a\",", "\"b\",")).find("appears twice") != std::string::npos);
  CHECK(load_error(with("\"a\",", "\"z\",")).find("order is \"sorted\"") != std::string::npos);
  CHECK(load_error(with(",\"characters\"", ",\"chars\"")).find("missing key \"characters\"") !=
        std::string::npos);
  CHECK(
      load_error(with("false", "0")).find("key \"reserve_special_tokens\" is a number, expected a boolean") !=
      std::string::npos);
  std::remove(path.c_str());
  CHECK_THROWS_AS(CharTokenizer::load("/nonexistent/vocab.json"), file_error);
}

}  // namespace char_tokenizer_tests
