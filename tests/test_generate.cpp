// Tests of generate(), generate_windowed() and next_token_distribution(): streaming and full
// forward agree on the next-token distribution, both generation modes pick the same tokens,
// stop token, max_tokens, callbacks, seeded determinism, windows, prompt policies and errors.
#include <doctest/doctest.h>

#include <cmath>
#include <seqlm/model/generate.hpp>
#include <vector>

namespace generate_tests {

using namespace seqlm;

namespace {

// Keeps the time axis: Embedding + Conv1D(causal) + GRU(sequences) + Dense.
template <class S>
Sequential<S> time_axis_model(Index V) {
  Conv1DOptions conv;
  conv.activation = Activation::relu;
  GRUOptions sequences;
  sequences.return_sequences = true;
  Sequential<S> model(InputSpec::token_ids(V));
  model.add(layers::embedding<S>(V, 5));
  model.add(layers::conv1d<S>(5, 6, 3, conv));
  model.add(layers::gru<S>(6, 8, sequences));
  model.add(layers::dense<S>(8, V));
  Rng rng(21);
  model.initialize(rng);
  return model;
}

// Drops the time axis: LSTM on token ids + Dropout + Dense (prediction at the last step only).
template <class S>
Sequential<S> last_step_model(Index V) {
  Sequential<S> model(InputSpec::token_ids(V));
  model.add(layers::lstm<S>(V, 8));
  model.add(layers::dropout<S>(0.2));
  model.add(layers::dense<S>(8, V));
  Rng rng(22);
  model.initialize(rng);
  // Larger weights than Keras's defaults make the distributions far from uniform.
  for (auto& p : model.parameters()) *p.value *= S(3);
  return model;
}

// The streaming distribution after reading `context`, with Sequential::step.
template <class S>
std::vector<double> streamed_distribution(const Sequential<S>& model, const std::vector<TokenId>& context) {
  auto state = model.make_state(1);
  const Matrix<S>* logits = nullptr;
  for (const TokenId id : context) logits = &model.step(&id, state);
  std::vector<double> p(static_cast<size_t>(logits->rows()));
  const Matrix<double> z = logits->template cast<double>();
  const double max = z.maxCoeff();
  double total = 0;
  for (Index v = 0; v < z.rows(); ++v) total += (p[static_cast<size_t>(v)] = std::exp(z(v, 0) - max));
  for (double& x : p) x /= total;
  return p;
}

double max_difference(const std::vector<double>& a, const std::vector<double>& b) {
  REQUIRE(a.size() == b.size());
  double d = 0;
  for (size_t k = 0; k < a.size(); ++k) d = std::max(d, std::abs(a[k] - b[k]));
  return d;
}

GenerationOptions sampling(Index max_tokens, std::uint64_t seed = 0) {
  GenerationOptions options;
  options.max_tokens = max_tokens;
  options.seed = seed;
  return options;
}

}  // namespace

TEST_CASE("streaming and full-forward next-token distributions agree (float, 1e-5)") {
  const std::vector<TokenId> context = {3, 1, 4, 1, 5, 9, 2, 6};
  for (const auto& model : {time_axis_model<float>(10), last_step_model<float>(10)}) {
    CAPTURE(model.output_keeps_time_axis());
    for (size_t length = 1; length <= context.size(); ++length) {
      const std::vector<TokenId> prefix(context.begin(), context.begin() + static_cast<long>(length));
      const std::vector<double> full = next_token_distribution(model, prefix);
      CAPTURE(length);
      CHECK(full.size() == 10);
      CHECK(max_difference(full, streamed_distribution(model, prefix)) <= 1e-5);
    }
  }
}

TEST_CASE("streaming and windowed generation pick the same tokens when the window covers the text") {
  const std::vector<TokenId> prompt = {2, 7, 1};
  for (const auto& model : {time_axis_model<double>(9), last_step_model<double>(9)}) {
    CAPTURE(model.output_keeps_time_axis());
    GenerationOptions greedy = sampling(12);
    greedy.temperature = 0.0;
    Rng a(1), b(1);
    const GenerationResult streamed = generate(model, prompt, greedy, a);
    const GenerationResult windowed = generate_windowed(model, prompt, 100, greedy, b);
    CHECK(streamed.tokens.size() == 12);
    CHECK(streamed.tokens == windowed.tokens);

    GenerationOptions sampled = sampling(20);
    sampled.temperature = 0.8;
    sampled.top_k = 5;
    Rng c(42), d(42);
    CHECK(generate(model, prompt, sampled, c).tokens ==
          generate_windowed(model, prompt, 50, sampled, d).tokens);
  }
}

TEST_CASE("windowed generation sees only the last `window` ids") {
  const auto model = time_axis_model<double>(9);
  const std::vector<TokenId> prompt = {1, 2, 3, 4, 5, 6};
  GenerationOptions greedy = sampling(1);
  greedy.temperature = 0.0;
  for (Index window : {1, 2, 4}) {
    Rng rng(3);
    const GenerationResult result = generate_windowed(model, prompt, window, greedy, rng);
    const std::vector<TokenId> tail(prompt.end() - window, prompt.end());
    REQUIRE(result.tokens.size() == 1);
    CHECK(result.tokens[0] == argmax(next_token_distribution(model, tail)));
  }
  Rng rng(3);
  CHECK_THROWS_AS(generate_windowed(model, prompt, 0, greedy, rng), value_error);
}

TEST_CASE("the same seed gives the same text; the callback sees every token in order") {
  const auto model = last_step_model<float>(12);
  const std::vector<TokenId> prompt = {4, 4, 2};
  std::vector<TokenId> seen;
  Rng first(7), second(7), other(8);
  const GenerationResult a =
      generate(model, prompt, sampling(30), first, [&](TokenId id) { seen.push_back(id); });
  const GenerationResult b = generate(model, prompt, sampling(30), second);
  const GenerationResult c = generate(model, prompt, sampling(30), other);
  CHECK(a.tokens == b.tokens);
  CHECK(a.tokens != c.tokens);
  CHECK(seen == a.tokens);
  CHECK(a.reason == StopReason::max_tokens);
  for (TokenId id : a.tokens) CHECK((id >= 0 && id < 12));
}

TEST_CASE("GenerationOptions::seed decides the text when no generator is given") {
  const auto model = last_step_model<float>(12);
  const std::vector<TokenId> prompt = {4, 4, 2};
  Rng seven(7);
  const GenerationResult explicit_rng = generate(model, prompt, sampling(30), seven);
  CHECK(generate(model, prompt, sampling(30, 7)).tokens == explicit_rng.tokens);
  CHECK(generate(model, prompt, sampling(30, 8)).tokens != explicit_rng.tokens);
  Rng seven_again(7);
  CHECK(generate_windowed(model, prompt, 5, sampling(30, 7)).tokens ==
        generate_windowed(model, prompt, 5, sampling(30), seven_again).tokens);
}

TEST_CASE("a stop token ends generation and is not returned; max_tokens = 0 generates nothing") {
  const auto model = time_axis_model<double>(9);
  const std::vector<TokenId> prompt = {5, 3};
  GenerationOptions greedy = sampling(6);
  greedy.temperature = 0.0;
  Rng rng(1);
  const GenerationResult plain = generate(model, prompt, greedy, rng);
  REQUIRE(plain.tokens.size() == 6);

  GenerationOptions stop_at_first = greedy;
  stop_at_first.stop_token = plain.tokens[0];
  int calls = 0;
  const GenerationResult none = generate(model, prompt, stop_at_first, rng, [&](TokenId) { ++calls; });
  CHECK(none.tokens.empty());
  CHECK(none.reason == StopReason::stop_token);
  CHECK(calls == 0);

  // Stop at the first token of the greedy continuation that differs from the first one.
  size_t k = 1;
  while (k < plain.tokens.size() && plain.tokens[k] == plain.tokens[0]) ++k;
  if (k < plain.tokens.size()) {
    GenerationOptions stop_later = greedy;
    stop_later.stop_token = plain.tokens[k];
    const GenerationResult some = generate_windowed(model, prompt, 64, stop_later, rng);
    CHECK(some.reason == StopReason::stop_token);
    CHECK(some.tokens ==
          std::vector<TokenId>(plain.tokens.begin(), plain.tokens.begin() + static_cast<long>(k)));
  }

  const GenerationResult empty = generate(model, prompt, sampling(0), rng);
  CHECK(empty.tokens.empty());
  CHECK(empty.reason == StopReason::max_tokens);
}

TEST_CASE("prompt policies and bad inputs") {
  const auto model = last_step_model<float>(6);
  Rng rng(1);
  CHECK_THROWS_AS(generate(model, {}, sampling(3), rng), value_error);
  CHECK_THROWS_AS(generate(model, {1, 6}, sampling(3), rng), value_error);
  CHECK_THROWS_AS(generate(model, {-1}, sampling(3), rng), value_error);
  CHECK_THROWS_AS(generate(model, {6}, sampling(3), rng, {}, PromptPolicy::skip),
                  value_error);  // nothing left
  CHECK_THROWS_AS(next_token_distribution(model, {}), value_error);
  CHECK_THROWS_AS(next_token_distribution(model, {7}), value_error);

  GenerationOptions greedy = sampling(4);
  greedy.temperature = 0.0;
  Rng a(1), b(1);
  CHECK(generate(model, {1, 9, 2, -3}, greedy, a, {}, PromptPolicy::skip).tokens ==
        generate(model, {1, 2}, greedy, b).tokens);

  GenerationOptions bad = sampling(3);
  bad.temperature = -1;
  CHECK_THROWS_AS(generate(model, {1}, bad, rng), value_error);
  bad = sampling(-1);
  CHECK_THROWS_AS(generate_windowed(model, {1}, 3, bad, rng), value_error);

  Sequential<float> features(InputSpec::features(3));
  features.add(layers::dense<float>(3, 3));
  CHECK_THROWS_AS(generate(features, {1}, sampling(2), rng), value_error);
  Sequential<float> empty_model(InputSpec::token_ids(3));
  CHECK_THROWS_AS(generate(empty_model, {1}, sampling(2), rng), value_error);
}

}  // namespace generate_tests
