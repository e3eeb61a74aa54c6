// Tests of the text_model/ floor: TextModel files (a model with its tokenizer), encoding with
// each out-of-vocabulary policy, evaluate_text in streaming and windows mode against direct
// computations, beam search against greedy decoding, and generate_text.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <seqlm/text_model/evaluate_text.hpp>
#include <seqlm/text_model/generate_text.hpp>
#include <seqlm/text_model/text_model.hpp>
#include <string>
#include <vector>

#include "test_helpers.hpp"

namespace text_model_tests {

using namespace seqlm;
using seqlm::testing::check_throws_with;

namespace {

std::string temp_path(const std::string& name) {
  return "/tmp/seqlm_text_model_" + std::to_string(::getpid()) + "_" + name;
}

const char* const sample_text =
    "the quick brown fox jumps over the lazy dog.\n"
    "a lazy dog sleeps; the fox runs on and on.\n"
    "over and over the brown dog dreams of the fox.\n";

// Embedding -> GRU(return_sequences) -> Dense: a prediction at every step.
template <class S>
Sequential<S> sequence_model(Index V, std::uint64_t seed = 3) {
  GRUOptions sequences;
  sequences.return_sequences = true;
  Sequential<S> model(InputSpec::token_ids(V));
  model.add(layers::embedding<S>(V, 6));
  model.add(layers::gru<S>(6, 10, sequences));
  model.add(layers::dense<S>(10, V));
  model.initialize(seed);
  for (auto& p : model.parameters()) *p.value *= S(3);  // distributions far from uniform
  return model;
}

// LSTM without return_sequences -> Dense: one prediction after the last step.
template <class S>
Sequential<S> last_step_model(Index V) {
  Sequential<S> model(InputSpec::token_ids(V));
  model.add(layers::lstm<S>(V, 8));
  model.add(layers::dense<S>(8, V));
  model.initialize(7);
  return model;
}

template <class S>
TextModel<S> char_text_model(std::uint64_t seed = 3) {
  CharTokenizer tokenizer = CharTokenizer::build(sample_text);
  return TextModel<S>{
      sequence_model<S>(tokenizer.vocabulary_size(), seed), tokenizer, json::Value::object(), {}};
}

template <class S>
TextModel<S> word_text_model() {
  WordTokenizer tokenizer;
  tokenizer.fit_on_texts({sample_text});
  return TextModel<S>{sequence_model<S>(tokenizer.vocabulary_size()), tokenizer, json::Value::object(), {}};
}

// The logits of a whole sequence (batch 1) from a fresh forward pass.
template <class S>
Matrix<double> logits_of(const Sequential<S>& model, const std::vector<TokenId>& ids) {
  Sequential<S> runner(model);
  return runner.forward(TokenView(ids, static_cast<Index>(ids.size()), 1), LayerContext{})
      .template cast<double>();
}

}  // namespace

TEST_CASE("a character model and its tokenizer survive a save and a load") {
  TextModel<float> original = char_text_model<float>();
  original.training_config.set("data", json::Value::Array{json::Value("a.txt")});
  original.metadata["note"] = "round trip";
  const std::string path = temp_path("char.safetensors");
  save_text_model(path, original);
  const TextModel<float> loaded = load_text_model<float>(path);
  std::remove(path.c_str());

  CHECK(loaded.level() == TokenLevel::character);
  CHECK(loaded.vocabulary_size() == original.vocabulary_size());
  CHECK(std::get<CharTokenizer>(loaded.tokenizer).to_json().dump() ==
        std::get<CharTokenizer>(original.tokenizer).to_json().dump());
  CHECK(loaded.training_config.dump() == original.training_config.dump());
  CHECK(loaded.metadata.at("note") == "round trip");
  const std::vector<TokenId> ids = loaded.encode("the lazy fox");
  CHECK(loaded.decode(ids) == "the lazy fox");
  CHECK(logits_of(loaded.model, ids) == logits_of(original.model, ids));
}

TEST_CASE("a word model and its tokenizer survive a save and a load") {
  const TextModel<double> original = word_text_model<double>();
  const std::string path = temp_path("word.safetensors");
  save_text_model(path, original);
  const TextModel<double> loaded = load_text_model<double>(path);
  std::remove(path.c_str());

  CHECK(loaded.level() == TokenLevel::word);
  CHECK(std::get<WordTokenizer>(loaded.tokenizer).to_json().dump() ==
        std::get<WordTokenizer>(original.tokenizer).to_json().dump());
  const std::vector<TokenId> ids = loaded.encode("The lazy dog, the FOX!");
  CHECK(ids.size() == 5);
  CHECK(loaded.decode(ids) == "the lazy dog the fox");
  CHECK(logits_of(loaded.model, ids) == logits_of(original.model, ids));
}

TEST_CASE("a model file without a tokenizer or with a different vocabulary is refused naming the file") {
  const std::string path = temp_path("bare.safetensors");
  save_model(path, sequence_model<float>(5));
  check_throws_with<file_error>([&] { load_text_model<float>(path); }, "has no tokenizer");
  check_throws_with<file_error>([&] { load_text_model<float>(path); }, path);

  ModelFileContents contents;
  contents.tokenizer = json::Value::object().set("type", "someone.Tokenizer");
  save_model(path, sequence_model<float>(5), contents);
  check_throws_with<file_error>([&] { load_text_model<float>(path); }, "unknown tokenizer type");

  contents.tokenizer = CharTokenizer::build("abcdef").to_json();  // 6 characters, the model has 5
  save_model(path, sequence_model<float>(5), contents);
  check_throws_with<file_error>([&] { load_text_model<float>(path); }, "the tokenizer has 6 tokens");
  std::remove(path.c_str());

  TextModel<float> mismatched{
      sequence_model<float>(5), CharTokenizer::build("abcdef"), json::Value::object(), {}};
  check_throws_with<value_error>([&] { save_text_model(path, mismatched); }, "the tokenizer has 6 tokens");
}

TEST_CASE("encoding characters errors, skips or maps what the vocabulary lacks") {
  const TextModel<float> m = char_text_model<float>();
  const std::string text = "the fox\nthe Fox!";  // 'F' and '!' are not in the sample text
  check_throws_with<text_error>([&] { m.encode(text); }, "line 2, column 5: character U+0046 'F'");

  OovPolicy skip;
  skip.kind = OovPolicy::skip;
  CHECK(m.decode(m.encode(text, skip)) == "the fox\nthe ox");

  OovPolicy map;
  map.kind = OovPolicy::map;
  map.table = {{"F", "f"}, {"!", "."}};
  CHECK(m.decode(m.encode(text, map)) == "the fox\nthe fox.");
  map.table = {{"F", "f"}};
  check_throws_with<text_error>([&] { m.encode(text, map); }, "the map has no entry");
  map.table = {{"F", "f"}, {"!", "?"}};
  check_throws_with<text_error>([&] { m.encode(text, map); }, "is not in the model's vocabulary either");
  check_throws_with<text_error>([&] { m.encode(std::string("a\xff")); }, "encode:");

  // A tokenizer with an unknown token of its own uses it, whatever the policy.
  CharTokenizerOptions with_unk;
  with_unk.reserve_special_tokens = true;
  with_unk.unknown = UnknownPolicy::unk;
  CharTokenizer unk_tokenizer = CharTokenizer::build(sample_text, with_unk);
  const TextModel<float> unk{
      sequence_model<float>(unk_tokenizer.vocabulary_size()), unk_tokenizer, json::Value::object(), {}};
  CHECK(unk.decode(unk.encode("the Fox")) == "the [UNK]ox");
}

TEST_CASE("encoding words errors, skips or maps what the vocabulary lacks") {
  const TextModel<float> m = word_text_model<float>();
  const std::string text = "the fox\nthe cat runs";
  check_throws_with<text_error>([&] { m.encode(text); }, "line 2, word 2 \"cat\"");

  OovPolicy skip;
  skip.kind = OovPolicy::skip;
  CHECK(m.decode(m.encode(text, skip)) == "the fox the runs");

  OovPolicy map;
  map.kind = OovPolicy::map;
  map.table = {{"cat", "lazy dog"}};
  CHECK(m.decode(m.encode(text, map)) == "the fox the lazy dog runs");
  map.table = {{"cat", "tiger"}};
  check_throws_with<text_error>([&] { m.encode(text, map); }, "whose word \"tiger\"");
}

TEST_CASE("streaming evaluation with one stream equals a forward pass over the whole text") {
  const TextModel<double> m = char_text_model<double>();
  const std::vector<TokenId> ids = m.encode(sample_text);
  const Index n = static_cast<Index>(ids.size());

  // Softmax cross-entropy of every next token, by hand.
  const Matrix<double> z = logits_of(m.model, ids);
  double nats = 0;
  Index correct = 0;
  for (Index t = 0; t + 1 < n; ++t) {
    const double max = z.col(t).maxCoeff();
    const double log_total = std::log((z.col(t).array() - max).exp().sum()) + max;
    nats += log_total - z(ids[static_cast<size_t>(t + 1)], t);
    Index best = 0;
    z.col(t).maxCoeff(&best);
    if (best == ids[static_cast<size_t>(t + 1)]) ++correct;
  }

  EvaluateTextOptions options;
  options.streams = 1;
  options.chunk = 17;  // the state is carried across 9 chunks
  const EvaluationResult r = evaluate_text(m, std::string_view(sample_text), options);
  CHECK(r.tokens == n - 1);
  CHECK(std::abs(r.loss - nats / static_cast<double>(n - 1)) < 1e-6);
  CHECK(r.accuracy == doctest::Approx(static_cast<double>(correct) / static_cast<double>(n - 1)));
  CHECK(r.perplexity == doctest::Approx(std::exp(r.loss)));
  CHECK(r.bits_per_token == doctest::Approx(r.loss / std::log(2.0)));
}

TEST_CASE("streaming evaluation with S streams weighs each stream by its number of predictions") {
  const TextModel<double> m = char_text_model<double>();
  const std::vector<TokenId> ids = m.encode(sample_text);
  EvaluateTextOptions options;
  options.streams = 5;
  options.chunk = 8;
  const EvaluationResult together = evaluate_text(m, ids, options);

  const std::vector<Index> bounds = stream_boundaries(static_cast<Index>(ids.size()), 5);
  REQUIRE(bounds.size() == 6);
  double nats = 0, correct = 0;
  Index tokens = 0;
  EvaluateTextOptions one;
  one.streams = 1;
  for (size_t s = 0; s + 1 < bounds.size(); ++s) {
    const std::vector<TokenId> part(ids.begin() + bounds[s], ids.begin() + bounds[s + 1]);
    const EvaluationResult r = evaluate_text(m, part, one);
    CHECK(r.tokens == static_cast<Index>(part.size()) - 1);
    nats += r.loss * static_cast<double>(r.tokens);
    correct += r.accuracy * static_cast<double>(r.tokens);
    tokens += r.tokens;
  }
  CHECK(together.tokens == static_cast<Index>(ids.size()) - 5);
  CHECK(together.tokens == tokens);
  CHECK(std::abs(together.loss - nats / static_cast<double>(tokens)) < 1e-9);
  CHECK(std::abs(together.accuracy - correct / static_cast<double>(tokens)) < 1e-9);
}

TEST_CASE("a short text gets fewer streams, each of at least two tokens") {
  CHECK(stream_boundaries(7, 32) == std::vector<Index>{0, 2, 4, 7});
  CHECK(stream_boundaries(2, 32) == std::vector<Index>{0, 2});
  CHECK(stream_boundaries(10, 3) == std::vector<Index>{0, 3, 6, 10});
  check_throws_with<value_error>([] { stream_boundaries(1, 4); }, "at least 2 are needed");
}

TEST_CASE("windows evaluation equals fit's evaluate() on the same WindowDataset") {
  const TextModel<float> m = char_text_model<float>();
  const std::vector<TokenId> ids = m.encode(sample_text);
  EvaluateTextOptions options;
  options.context = 12;
  options.stride = 3;
  options.batch_size = 16;
  const EvaluationResult r = evaluate_text(m, ids, options);

  const WindowDataset windows(TokenStream(ids), 12, 3, WindowTargets::next_token_after_window);
  Sequential<float> model = m.model;
  const EvaluationResult expected = evaluate(model, windows, 16);
  CHECK(r.tokens == windows.size());
  CHECK(r.loss == expected.loss);
  CHECK(r.accuracy == expected.accuracy);

  options.context = static_cast<Index>(ids.size());
  check_throws_with<value_error>([&] { evaluate_text(m, ids, options); }, "need at least");
}

TEST_CASE("a model without a time axis is evaluated on windows and refused as streams") {
  const CharTokenizer tokenizer = CharTokenizer::build(sample_text);
  const TextModel<float> m{
      last_step_model<float>(tokenizer.vocabulary_size()), tokenizer, json::Value::object(), {}};
  check_throws_with<value_error>([&] { evaluate_text(m, std::string_view(sample_text), {}); }, "--context");

  EvaluateTextOptions options;
  options.context = 20;
  const std::vector<TokenId> ids = m.encode(sample_text);
  const EvaluationResult r = evaluate_text(m, ids, options);
  const WindowDataset windows(TokenStream(ids), 20, 1, WindowTargets::next_token_after_window);
  Sequential<float> model = m.model;
  CHECK(r.loss == evaluate(model, windows, 128).loss);
  CHECK(r.tokens == static_cast<Index>(ids.size()) - 20);
}

namespace {

// A bigram model by hand: Embedding = identity, Dense kernel(i, j) = ln P(i | j).
// From the start token 0: "a" (1) 0.5, "b" (2) 0.4; after "a" the next token is uniform over
// 1..4, after "b" it is "c" (3) with 0.9. Greedy takes "a" and then 0.25 (total 0.125); the
// better pair is "b c" (0.36).
Sequential<double> bigram_model() {
  const Index V = 5;
  Sequential<double> model(InputSpec::token_ids(V));
  model.add(layers::embedding<double>(V, V));
  model.add(layers::dense<double>(V, V));
  const double table[5][5] = {
      // P(next | 0), P(next | 1), ... as columns below
      {0.001, 0.5, 0.4, 0.05, 0.049},    // after 0
      {0.001, 0.25, 0.25, 0.25, 0.249},  // after 1 ("a")
      {0.001, 0.03, 0.03, 0.9, 0.039},   // after 2 ("b")
      {0.001, 0.25, 0.25, 0.25, 0.249},  // after 3
      {0.001, 0.25, 0.25, 0.25, 0.249},  // after 4
  };
  for (auto& p : model.parameters()) {
    if (p.name == "embedding/embeddings") *p.value = Matrix<double>::Identity(V, V);
    if (p.name == "dense/kernel") {
      for (Index j = 0; j < V; ++j) {
        for (Index i = 0; i < V; ++i) (*p.value)(i, j) = std::log(table[j][i]);
      }
    }
    if (p.name == "dense/bias") p.value->setZero();
  }
  model.set_weights_initialized();
  return model;
}

}  // namespace

TEST_CASE("beam search of width 1 is greedy decoding") {
  const TextModel<double> m = char_text_model<double>();
  const std::vector<TokenId> prompt = m.encode("the ");
  GenerationOptions greedy;
  greedy.temperature = 0;
  greedy.max_tokens = 15;
  BeamSearchOptions beam;
  beam.width = 1;
  beam.max_tokens = 15;
  CHECK(beam_search(m.model, prompt, beam).tokens == generate(m.model, prompt, greedy).tokens);
  beam.context = 6;
  CHECK(beam_search(m.model, prompt, beam).tokens == generate_windowed(m.model, prompt, 6, greedy).tokens);
}

TEST_CASE("beam search of width 2 finds a more probable continuation than greedy decoding") {
  const Sequential<double> model = bigram_model();
  GenerationOptions greedy;
  greedy.temperature = 0;
  greedy.max_tokens = 2;
  CHECK(generate(model, {0}, greedy).tokens == std::vector<TokenId>{1, 1});

  BeamSearchOptions options;
  options.max_tokens = 2;
  options.width = 1;
  CHECK(beam_search(model, {0}, options).log_probability == doctest::Approx(std::log(0.5 * 0.25)));
  options.width = 2;
  const BeamSearchResult best = beam_search(model, {0}, options);
  CHECK(best.tokens == std::vector<TokenId>{2, 3});
  CHECK(best.log_probability == doctest::Approx(std::log(0.4 * 0.9)));
  options.excluded = {0, 1, 2, 3, 4};
  check_throws_with<value_error>([&] { beam_search(model, {0}, options); }, "every token is excluded");
}

TEST_CASE("generate_text streams the pieces of the text it returns and follows the seed") {
  const TextModel<float> m = char_text_model<float>();
  GenerateTextOptions options;
  options.sampling.max_tokens = 30;
  options.sampling.temperature = 0.8;
  options.sampling.seed = 11;
  std::string streamed;
  Index pieces = 0;
  options.on_text = [&](const std::string& piece) {
    streamed += piece;
    ++pieces;
  };
  const std::string text = generate_text(m, "the lazy ", options);
  CHECK(text == streamed);
  CHECK(pieces == 30);
  options.on_text = nullptr;
  CHECK(generate_text(m, "the lazy ", options) == text);
  const GenerationResult direct = generate(m.model, m.encode("the lazy "), options.sampling);
  CHECK(m.decode(direct.tokens) == text);

  check_throws_with<value_error>([&] { generate_text(m, "", options); }, "no start token");
  check_throws_with<text_error>([&] { generate_text(m, "the CAT", options); }, "U+0043 'C'");
  options.beam = 2;
  check_throws_with<value_error>([&] { generate_text(m, "the ", options); },
                                 "beam search is for word models");
}

TEST_CASE("generate_text continues a word model's prompt word by word, also by beam search") {
  const TextModel<double> m = word_text_model<double>();
  GenerateTextOptions options;
  options.sampling.max_tokens = 6;
  options.beam = 3;
  const std::string text = generate_text(m, "the lazy", options);
  CHECK(text.size() > 0);
  CHECK(text[0] == ' ');
  BeamSearchOptions beam;
  beam.width = 3;
  beam.max_tokens = 6;
  beam.excluded = {0};
  CHECK(text == " " + m.decode(beam_search(m.model, m.encode("the lazy"), beam).tokens));

  options.beam = 0;
  options.sampling.seed = 5;
  const std::string sampled = generate_text(m, "", options);  // starts from the padding id
  CHECK(sampled.substr(0, 1) != " ");
}

TEST_CASE("generating from a model without a time axis needs a context") {
  const CharTokenizer tokenizer = CharTokenizer::build(sample_text);
  const TextModel<float> m{
      last_step_model<float>(tokenizer.vocabulary_size()), tokenizer, json::Value::object(), {}};
  GenerateTextOptions options;
  options.sampling.max_tokens = 5;
  check_throws_with<value_error>([&] { generate_text(m, "the ", options); }, "--context");
  options.context = 10;
  CHECK(utf8::length(generate_text(m, "the ", options)) == 5);
}

TEST_CASE("a word model's short prompt is padded at the front to fill the window") {
  WordTokenizer tokenizer;
  tokenizer.fit_on_texts({sample_text});
  const TextModel<double> m{
      last_step_model<double>(tokenizer.vocabulary_size()), tokenizer, json::Value::object(), {}};
  GenerateTextOptions options;
  options.sampling.max_tokens = 4;
  options.sampling.temperature = 0;
  options.context = 6;
  std::vector<TokenId> padded(4, 0);
  const std::vector<TokenId> prompt = m.encode("the lazy");
  padded.insert(padded.end(), prompt.begin(), prompt.end());
  GenerationOptions greedy = options.sampling;
  greedy.stop_token = 0;
  const GenerationResult expected = generate_windowed(m.model, padded, 6, greedy);
  CHECK(generate_text(m, "the lazy", options) ==
        (expected.tokens.empty() ? "" : " " + m.decode(expected.tokens)));
}

}  // namespace text_model_tests
