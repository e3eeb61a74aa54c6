// Tests of the poem server's generator (poem_streams.hpp): batched streams are independent
// streams, prompts are checked (and lower-cased for a lower-casing model), poems end at the
// terminator when there is one, slots are reused.
#include <doctest/doctest.h>

#include <cmath>
#include <seqlm/model/sequential.hpp>
#include <string>
#include <vector>

#include "poem_streams.hpp"

using poem_server::PoemStreams;
using poem_server::Written;
using seqlm::Index;
using seqlm::TokenId;

namespace {

// A GRU -> GRU -> Dense character model of `text`'s characters, random weights.
// `lower`: the tokenizer lower-cases its text; `terminator`: an "@" ends a poem.
PoemStreams make_streams(const std::string& characters, const std::string& prompt, std::uint64_t seed = 1,
                         seqlm::LowerCase lower = seqlm::LowerCase::none, bool terminator = true) {
  seqlm::CharTokenizerOptions options;
  options.order = seqlm::VocabularyOrder::sorted;
  options.lower = lower;
  seqlm::CharTokenizer tokenizer = seqlm::CharTokenizer::build(characters, options);
  const Index V = tokenizer.vocabulary_size();
  seqlm::Sequential<float> model(seqlm::InputSpec::token_ids(V));
  seqlm::GRUOptions sequences;
  sequences.return_sequences = true;
  model.add(seqlm::layers::gru<float>(V, 12, sequences));
  model.add(seqlm::layers::gru<float>(12, 12));
  model.add(seqlm::layers::dense<float>(12, V));
  seqlm::Rng rng(seed);
  model.initialize(rng);
  return PoemStreams(std::move(model), std::move(tokenizer), 20, prompt, terminator);
}

// `count` characters of the streams `ids`, advanced together; text[k] for ids[k].
std::vector<std::string> generate(PoemStreams& streams, const std::vector<PoemStreams::StreamId>& ids,
                                  int count) {
  std::vector<std::string> text(ids.size());
  std::vector<Written> out;
  for (int step = 0; step < count; ++step) {
    streams.advance(ids, out);
    for (std::size_t k = 0; k < ids.size(); ++k) text[k] += out[k].poem_ended ? "|" : out[k].text;
  }
  return text;
}

}  // namespace

TEST_CASE("streams advanced together write what each writes alone") {
  PoemStreams together = make_streams("abcdefgh \n", "abc ");
  const auto prompt = together.encode_prompt("");
  std::vector<PoemStreams::StreamId> ids;
  for (std::uint64_t seed = 10; seed < 15; ++seed) ids.push_back(together.open(seed, 0.8, prompt));
  const std::vector<std::string> text = generate(together, ids, 300);
  for (std::size_t k = 0; k < ids.size(); ++k) {
    CAPTURE(k);
    PoemStreams alone = make_streams("abcdefgh \n", "abc ");
    const auto id = alone.open(10 + k, 0.8, alone.encode_prompt(""));
    CHECK(generate(alone, {id}, 300)[0] == text[k]);
  }
  CHECK(text[0] != text[1]);  // own seeds: own texts
}

TEST_CASE("prompts are checked: unknown characters, invalid UTF-8, too long, empty without a default") {
  PoemStreams streams = make_streams("abc \n", "ab");
  CHECK(streams.encode_prompt("") == streams.encode_prompt("ab"));
  CHECK_THROWS_WITH_AS(streams.encode_prompt("abz"),
                       "the prompt's character U+007A 'z' (position 2) is not in the model's vocabulary",
                       seqlm::value_error);
  CHECK_THROWS_AS(streams.encode_prompt("a\xff"), seqlm::text_error);
  CHECK_THROWS_AS(streams.encode_prompt(std::string(PoemStreams::max_prompt_bytes + 1, 'a')),
                  seqlm::value_error);
  CHECK_THROWS_AS(make_streams("abc \n", ""), seqlm::value_error);
  CHECK_THROWS_AS(streams.open(1, 0.0, streams.encode_prompt("")), seqlm::value_error);
  CHECK_THROWS_AS(streams.open(1, std::nan(""), streams.encode_prompt("")), seqlm::value_error);
}

TEST_CASE("a terminator model starts poems after \"@\\n\" and reports where they end") {
  PoemStreams streams = make_streams("ab @\n", "", 3);
  REQUIRE(streams.has_terminator());
  const auto prompt = streams.encode_prompt("ab");
  CHECK(streams.tokenizer().decode(prompt.data(), prompt.size()) == "@\nab");
  const auto id = streams.open(5, 2.0, prompt);  // hot: the random model writes '@' often
  const std::string text = generate(streams, {id}, 400)[0];
  CHECK(text.find('|') != std::string::npos);
  CHECK(text.find('@') == std::string::npos);  // the terminator is reported, never written
}

TEST_CASE("without the terminator, \"@\" is a character like any other") {
  PoemStreams streams = make_streams("ab @\n", "a", 3, seqlm::LowerCase::none, false);
  CHECK_FALSE(streams.has_terminator());
  const auto prompt = streams.encode_prompt("a@b");
  CHECK(streams.visible_text(prompt) == "a@b");
  const auto id = streams.open(5, 2.0, prompt);
  const std::string text = generate(streams, {id}, 400)[0];
  CHECK(text.find('|') == std::string::npos);  // no poem ends
  CHECK(text.find('@') != std::string::npos);  // and "@" is written
}

TEST_CASE("a prompt is lower-cased only for a model whose tokenizer lower-cases its text") {
  PoemStreams lowering = make_streams("ab \n", "a", 1, seqlm::LowerCase::unicode);
  CHECK(lowering.visible_text(lowering.encode_prompt("AB a")) == "ab a");
  PoemStreams keeping = make_streams("ABab \n", "a");
  CHECK(keeping.visible_text(keeping.encode_prompt("AB a")) == "AB a");
  CHECK_THROWS_AS(make_streams("ab \n", "a").encode_prompt("AB"), seqlm::value_error);
}

TEST_CASE("closed streams free their slot for the next reader, and closed ids are refused") {
  PoemStreams streams = make_streams("abc \n", "ab");
  const auto first = streams.open(1, 1.0, streams.encode_prompt(""));
  const auto second = streams.open(2, 1.0, streams.encode_prompt(""));
  CHECK(streams.open_count() == 2);
  streams.close(first);
  CHECK(streams.open_count() == 1);
  std::vector<Written> out;
  CHECK_THROWS_AS(streams.advance({first}, out), seqlm::value_error);
  CHECK_THROWS_AS(streams.set_temperature(first, 1.0), seqlm::value_error);
  CHECK(streams.open(3, 1.0, streams.encode_prompt("")) == first);
  streams.new_poem(second, streams.encode_prompt("ba"));
  streams.set_temperature(second, 0.5);
  CHECK(streams.temperature(second) == 0.5);
  streams.advance({first, second}, out);
  CHECK(out.size() == 2);
}
