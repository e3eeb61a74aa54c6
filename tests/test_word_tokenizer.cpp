// WordTokenizer (Keras Tokenizer semantics, hand-worked), text_to_word_sequence,
// clean_headline, save/load.
#include <doctest/doctest.h>

#include <cstdio>
#include <seqlm/text/word_tokenizer.hpp>
#include <string>
#include <vector>

namespace word_tokenizer_tests {

using namespace seqlm;

namespace {

using Words = std::vector<std::string>;
using Ids = std::vector<TokenId>;

const Words corpus = {"The cat sat on the mat.", "The dog ate my homework!", "Don't stop, cat-lovers"};

}  // namespace

TEST_CASE("text_to_word_sequence: lower, filters replaced by the separator, empty words dropped") {
  CHECK(text_to_word_sequence("Hello, World!  Don't\tstop\n(now)") ==
        Words{"hello", "world", "don't", "stop", "now"});
  CHECK(text_to_word_sequence("a-b_c@d.e") == Words{"a", "b", "c", "d", "e"});
  CHECK(text_to_word_sequence("keep\rcr") == Words{"keep\rcr"});  // '\r' is not a Keras filter
  CHECK(text_to_word_sequence("ÁGUA Viva") == Words{"água", "viva"});
  CHECK(text_to_word_sequence("Keep Case", keras_default_filters, false) == Words{"Keep", "Case"});
  CHECK(text_to_word_sequence("a,b;;c", ";", true, ",") == Words{"a", "b", "c"});
  CHECK(text_to_word_sequence("x«y»z", "«»") == Words{"x", "y", "z"});
  CHECK(text_to_word_sequence("a--b", "", true, "--") == Words{"a", "b"});
  CHECK(text_to_word_sequence("").empty());
  CHECK(text_to_word_sequence(" ,.! ").empty());
  CHECK_THROWS_AS(text_to_word_sequence("x", "", true, ""), value_error);
  CHECK_THROWS_WITH_AS(text_to_word_sequence("ok \xC3"), doctest::Contains("byte offset 3"), text_error);
}

TEST_CASE("word_index by descending count, ties in first-seen order, index 0 reserved") {
  WordTokenizer tokenizer;
  tokenizer.fit_on_texts(corpus);
  // the 3, cat 2, then every count-1 word in the order first seen.
  const Words expected = {"",    "the", "cat",      "sat",   "on",   "mat",   "dog",
                          "ate", "my",  "homework", "don't", "stop", "lovers"};
  CHECK(tokenizer.index_word() == expected);
  CHECK(tokenizer.word_index().size() == 12);
  CHECK(tokenizer.word_index().at("don't") == 10);
  CHECK(tokenizer.vocabulary_size() == 13);
  CHECK(tokenizer.document_count() == 3);
  CHECK(tokenizer.word_counts().front() == std::pair<std::string, std::uint64_t>{"the", 3});
  CHECK(tokenizer.texts_to_sequences({"The cat ate a mat!", ""}) == std::vector<Ids>{{1, 2, 7, 5}, {}});
  CHECK(tokenizer.sequences_to_texts({{1, 2, 7, 5}}) == Words{"the cat ate mat"});
  CHECK(tokenizer.decode({1, 10}) == "the don't");
  CHECK(tokenizer.find("cat") == 2);
  CHECK_FALSE(tokenizer.find("Cat").has_value());
  CHECK(tokenizer.word_of(3) == "sat");

  // A second fit accumulates counts: "stop" overtakes "cat" (3 > 2) but ties keep first-seen order.
  tokenizer.fit_on_texts({"stop stop", "mat"});
  CHECK(tokenizer.index_word()[1] == "the");
  CHECK(tokenizer.index_word()[2] == "stop");
  CHECK(tokenizer.index_word()[3] == "cat");
  CHECK(tokenizer.index_word()[4] == "mat");
  CHECK(tokenizer.document_count() == 5);
}

TEST_CASE("oov_token takes index 1 and unknown words map to it") {
  WordTokenizerOptions options;
  options.oov_token = "<OOV>";
  WordTokenizer tokenizer(options);
  tokenizer.fit_on_texts(corpus);
  CHECK(tokenizer.index_word()[1] == "<OOV>");
  CHECK(tokenizer.word_index().at("<OOV>") == 1);
  CHECK(tokenizer.word_index().at("the") == 2);
  CHECK(tokenizer.word_index().at("lovers") == 13);
  CHECK(tokenizer.vocabulary_size() == 14);
  CHECK(tokenizer.text_to_sequence("the zebra sat") == Ids{2, 1, 4});
  CHECK(tokenizer.sequence_to_text({2, 1, 0, 99}) == "the <OOV> <OOV> <OOV>");
  CHECK_THROWS_AS(tokenizer.decode({2, 0}), value_error);
  CHECK_THROWS_WITH_AS(tokenizer.decode({2, 14}),
                       "WordTokenizer::decode: id 14 at position 1 is outside the word ids [1, 14)",
                       value_error);

  // The oov token occurring in a text keeps index 1 (Keras would list it twice).
  options.oov_token = "unk";
  WordTokenizer with_word(options);
  with_word.fit_on_texts({"a unk unk b"});
  CHECK(with_word.index_word() == Words{"", "unk", "a", "b"});
}

TEST_CASE("num_words: only ids below it are emitted, the rest dropped or OOV") {
  WordTokenizerOptions options;
  options.num_words = 4;
  WordTokenizer tokenizer(options);
  tokenizer.fit_on_texts(corpus);
  CHECK(tokenizer.word_index().size() == 12);  // the index keeps every word, like Keras
  CHECK(tokenizer.vocabulary_size() == 4);
  CHECK(tokenizer.text_to_sequence("the cat sat on a mat") == Ids{1, 2, 3});
  CHECK(tokenizer.sequence_to_text({1, 2, 3, 4, 5}) == "the cat sat");
  CHECK_THROWS_AS(tokenizer.decode({4}), value_error);

  options.oov_token = "<OOV>";
  WordTokenizer with_oov(options);
  with_oov.fit_on_texts(corpus);
  CHECK(with_oov.vocabulary_size() == 4);
  CHECK(with_oov.text_to_sequence("the cat sat on a mat") == Ids{2, 3, 1, 1, 1, 1});
  CHECK(with_oov.sequence_to_text({2, 3, 9}) == "the cat <OOV>");

  options.num_words = -1;
  CHECK_THROWS_AS(WordTokenizer{options}, value_error);
}

TEST_CASE("clean_headline matches the tutorial's Python cleaning") {
  CHECK(clean_headline("U.S.") == "us");
  CHECK(clean_headline("Mr.") == "mr");
  CHECK(clean_headline("Café's") == "cafs");
  CHECK(clean_headline("U.S. Advances Military Plans for North Korea") ==
        "us advances military plans for north korea");
  CHECK(clean_headline("‘Rock’n’Roll’ — 100% “Live”!") == "rocknroll  100 live");
  CHECK(clean_headline("İSTANBUL \xE2\x84\xAA") == "istanbul k");  // Python keeps these ASCII lower cases
  CHECK(clean_headline("") == "");
  CHECK_THROWS_AS(clean_headline("bad \xFF"), text_error);
}

TEST_CASE("save/load and JSON round trips; load validates") {
  WordTokenizerOptions options;
  options.oov_token = "<OOV>";
  options.num_words = 6;
  WordTokenizer tokenizer(options);
  tokenizer.fit_on_texts(corpus);
  const std::string path = "seqlm_test_word_tokenizer.json";
  tokenizer.save(path);
  const WordTokenizer loaded = WordTokenizer::load(path);
  CHECK(loaded.index_word() == tokenizer.index_word());
  CHECK(loaded.word_counts() == tokenizer.word_counts());
  CHECK(loaded.options().num_words == 6);
  CHECK(loaded.options().oov_token == std::optional<std::string>("<OOV>"));
  CHECK(loaded.document_count() == 3);
  CHECK(loaded.texts_to_sequences(corpus) == tokenizer.texts_to_sequences(corpus));
  CHECK(loaded.to_json() == tokenizer.to_json());

  const std::string good = WordTokenizer().to_json().dump();
  auto load_error = [&path](const std::string& content) -> std::string {
    write_file_atomically(path, content);
    try {
      WordTokenizer::load(path);
    } catch (const file_error& e) {
      return e.what();
    }
    return "";
  };
  auto with_counts = [&good](const std::string& counts) {
    std::string text = good;
    return text.replace(text.find("\"word_counts\":[]"), 16, "\"word_counts\":" + counts);
  };
  CHECK(load_error(good).empty());
  CHECK(load_error(with_counts(R"([["a",2],["b",1]])")).empty());
  CHECK(load_error(with_counts(R"([["a",2],["a",1]])")).find("\"a\" appears twice") != std::string::npos);
  CHECK(load_error(with_counts(R"([["A",2]])")).find("not a single lower-cased, filtered word") !=
        std::string::npos);
  CHECK(load_error(with_counts(R"([["a b",2]])")).find("not a single") != std::string::npos);
  CHECK(load_error(with_counts(R"([["a",0]])")).find("word_counts[0] must be [word, positive count]") !=
        std::string::npos);
  CHECK(load_error(with_counts(R"([["a"]])")).find("word_counts[0]") != std::string::npos);
  CHECK(load_error(R"({"type":"seqlm.CharTokenizer"})").find("\"type\" is \"seqlm.CharTokenizer\"") !=
        std::string::npos);
  CHECK(load_error("{}") ==
        "WordTokenizer file \"seqlm_test_word_tokenizer.json\": WordTokenizer JSON: field \"type\" is "
        "missing");
  std::remove(path.c_str());
}

}  // namespace word_tokenizer_tests
