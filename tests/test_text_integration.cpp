// The tutorials' published numbers, reproduced on the real corpora in SEQLM_SHARED_DATA_DIR
// (see its SOURCES.md). Each case is skipped, with a message, when the data is absent.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <seqlm/io/utf8.hpp>
#include <seqlm/text/char_tokenizer.hpp>
#include <seqlm/text/csv.hpp>
#include <seqlm/text/word_tokenizer.hpp>
#include <string>
#include <vector>

namespace text_integration_tests {

using namespace seqlm;

namespace {

// Path of a data file, or "" when it is not there (the case then reports a skip).
std::string data_file(const std::string& relative) {
#ifdef SEQLM_SHARED_DATA_DIR
  const std::string path = std::string(SEQLM_SHARED_DATA_DIR) + "/" + relative;
  struct stat info {};
  if (::stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode)) return path;
#endif
  return "";
}

}  // namespace

TEST_CASE("Nietzsche (Chollet): 600,893 characters, 57 after lower-casing, sorted") {
  const std::string path = data_file("nietzsche/nietzsche.txt");
  if (path.empty()) {
    MESSAGE("skipped: nietzsche/nietzsche.txt not found under SEQLM_SHARED_DATA_DIR");
    return;
  }
  const std::string text = read_text_file(path);
  CHECK(utf8::length(text) == 600893);
  const std::string lower = to_lower(text, LowerCase::unicode);
  CharTokenizerOptions options;
  options.order = VocabularyOrder::sorted;
  options.lower = LowerCase::unicode;
  const CharTokenizer tokenizer = CharTokenizer::build(text, options);
  CHECK(tokenizer.vocabulary_size() == 57);
  CHECK(utf8::encode(tokenizer.characters()) ==
        "\n !\"'(),-.0123456789:;=?[]_abcdefghijklmnopqrstuvwxyzäæéë");
  const std::vector<TokenId> ids = tokenizer.encode(text);
  CHECK(ids.size() == 600893);
  CHECK(tokenizer.decode(ids) == lower);
}

TEST_CASE("poema-top: 10k poems lower-cased without \"@\\n\" give 60 characters") {
  const std::string path = data_file("poems/poemas-10k-llama3.1.txt");
  if (path.empty()) {
    MESSAGE("skipped: poems/poemas-10k-llama3.1.txt not found under SEQLM_SHARED_DATA_DIR");
    return;
  }
  std::string text = to_lower(read_text_file(path), LowerCase::unicode);
  std::string without_separators;
  without_separators.reserve(text.size());
  for (std::size_t k = 0; k < text.size(); ++k) {
    if (text.compare(k, 2, "@\n") == 0) {
      ++k;
      continue;
    }
    without_separators += text[k];
  }
  const CharTokenizer tokenizer = CharTokenizer::build(without_separators);
  CHECK(tokenizer.vocabulary_size() == 60);
  CHECK(utf8::encode(tokenizer.characters()) ==
        "\n !\"'(),-./012357:;?abcdefghijklmnopqrstuvwxyzàáâãçèéêíóôõúü");
}

TEST_CASE("NYT headlines (March 2018): 1,250 headlines, 3,581 words") {
  const std::string path = data_file("headlines/ArticlesMarch2018.csv");
  if (path.empty()) {
    MESSAGE("skipped: headlines/ArticlesMarch2018.csv not found under SEQLM_SHARED_DATA_DIR");
    return;
  }
  const std::vector<std::string> all = read_csv_column(path, "headline");
  CHECK(all.size() == 1385);
  std::vector<std::string> headlines;
  for (const std::string& headline : all) {
    if (headline != "Unknown") headlines.push_back(clean_headline(headline));
  }
  CHECK(headlines.size() == 1250);
  CHECK(headlines[0] == "virtual coins real resources");
  CHECK(headlines[1] == "us advances military plans for north korea");
  WordTokenizer tokenizer;
  tokenizer.fit_on_texts(headlines);
  CHECK(tokenizer.word_index().size() == 3581);
  CHECK(tokenizer.vocabulary_size() == 3582);  // the tutorial's total_words
  std::size_t longest = 0;
  for (const auto& sequence : tokenizer.texts_to_sequences(headlines))
    longest = std::max(longest, sequence.size());
  CHECK(longest == 18);
}

}  // namespace text_integration_tests
