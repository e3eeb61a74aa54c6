// Stateful truncated BPTT: StreamDataset's layout, fit(stateful) against a hand-written loop
// that carries the state, stateful evaluation against one pass over each whole stream, the
// warm-up + cosine schedule, and the options fit refuses.
#include <doctest/doctest.h>

#include <cmath>
#include <memory>
#include <seqlm/data/streams.hpp>
#include <seqlm/model/sequential.hpp>
#include <seqlm/optim/adam.hpp>
#include <seqlm/train/fit.hpp>
#include <seqlm/train/schedules.hpp>
#include <sstream>
#include <vector>

namespace stateful_training_tests {

using namespace seqlm;

namespace {

// ids 0, 1, 2, ..., wrapping at `vocabulary`, perturbed so that the text is not periodic.
std::vector<TokenId> counting_text(Index length, Index vocabulary) {
  std::vector<TokenId> tokens;
  for (Index k = 0; k < length; ++k) tokens.push_back(static_cast<TokenId>((k * 7 + k / 5) % vocabulary));
  return tokens;
}

// ids -> Embedding(8) -> GRU(12, sequences) -> LSTM(10, sequences) -> Dense(vocabulary).
template <class S>
Sequential<S> stream_model(Index vocabulary, std::uint64_t seed) {
  Sequential<S> model(InputSpec::token_ids(vocabulary));
  model.add(layers::embedding<S>(vocabulary, 8));
  GRUOptions gru;
  gru.return_sequences = true;
  model.add(layers::gru<S>(8, 12, gru));
  LSTMOptions lstm;
  lstm.return_sequences = true;
  model.add(layers::lstm<S>(12, 10, lstm));
  model.add(layers::dense<S>(10, vocabulary));
  Rng rng(seed);
  model.initialize(rng);
  return model;
}

template <class S>
std::vector<Matrix<S>> weights_of(Sequential<S>& model) {
  std::vector<Matrix<S>> weights;
  for (const auto& p : model.parameters()) weights.push_back(*p.value);
  return weights;
}

}  // namespace

TEST_CASE("StreamDataset cuts the text into S streams read chunk by chunk, every position a target") {
  // 23 tokens, 3 streams: L = floor(22 / 3) = 7 inputs per stream, chunks of 3 -> 3 chunks (3, 3, 1).
  std::vector<TokenId> tokens;
  for (TokenId k = 0; k < 23; ++k) tokens.push_back(k);
  const StreamDataset data(TokenStream(tokens), 3, 3);
  CHECK(data.stream_length() == 7);
  CHECK(data.chunks() == 3);
  CHECK(data.size() == 9);
  CHECK(data.chunk_steps(2) == 1);

  Batch batch;
  const std::vector<Index> chunk1{3, 4, 5};  // chunk 1 of streams 0, 1, 2
  data.fill(chunk1, batch);
  REQUIRE(batch.steps == 3);
  REQUIRE(batch.target_steps == 3);
  for (Index t = 0; t < 3; ++t) {
    for (Index s = 0; s < 3; ++s) {
      const TokenId start = static_cast<TokenId>(s * 7 + 3);
      CHECK(batch.inputs[static_cast<size_t>(t * 3 + s)] == start + t);
      CHECK(batch.targets[static_cast<size_t>(t * 3 + s)] == start + t + 1);
      CHECK(batch.weights[static_cast<size_t>(t * 3 + s)] == 1.0);
    }
  }
  // The last chunk has one step; padded to 3 when the caller asks for 3 (distributed shares).
  data.fill(std::vector<Index>{6, 7, 8}, batch, 3);
  CHECK(batch.steps == 3);
  CHECK(batch.inputs[2] == 2 * 7 + 6);
  CHECK(batch.targets[2] == 2 * 7 + 7);
  CHECK(batch.weights[2] == 1.0);
  CHECK(batch.weights[3 + 2] == 0.0);

  // Every token but the unread tail is an input exactly once, and every input has a target.
  std::vector<int> seen(23, 0);
  for (Index i = 0; i < data.size(); ++i) {
    data.fill(std::vector<Index>{i}, batch);
    for (Index t = 0; t < batch.steps; ++t) ++seen[static_cast<size_t>(batch.inputs[static_cast<size_t>(t)])];
  }
  for (Index k = 0; k < 21; ++k) CHECK(seen[static_cast<size_t>(k)] == 1);

  CHECK_THROWS_AS(StreamDataset(TokenStream(std::vector<TokenId>{1, 2, 3}), 3, 2), value_error);
  CHECK_THROWS_AS(StreamDataset(TokenStream(tokens), 0, 2), value_error);
  CHECK_THROWS_AS(data.fill(std::vector<Index>{9}, batch), value_error);
}

TEST_CASE("fit(stateful) equals a hand-written loop that carries the state from batch to batch") {
  const Index vocabulary = 9, streams = 4, steps = 5;
  const StreamDataset data(TokenStream(counting_text(203, vocabulary)), streams, steps);
  Sequential<double> by_fit = stream_model<double>(vocabulary, 3);
  Sequential<double> by_hand = by_fit;

  AdamOptions adam_options;
  adam_options.learning_rate = 0.01;
  Adam<double> fit_optimizer(adam_options), hand_optimizer(adam_options);
  FitOptions<double> options;
  options.epochs = 2;
  options.batch_size = streams;
  options.shuffle = false;
  options.stateful = true;
  options.verbosity = Verbosity::silent;
  fit(by_fit, fit_optimizer, data, options);

  TrainStep<double> step(by_hand);
  const ParameterList<double> parameters = by_hand.parameters();
  Batch batch;
  for (Index epoch = 0; epoch < 2; ++epoch) {
    auto state = by_hand.make_state(streams);  // zeros at the start of every epoch
    for (Index c = 0; c < data.chunks(); ++c) {
      std::vector<Index> chunk;
      for (Index s = 0; s < streams; ++s) chunk.push_back(c * streams + s);
      data.fill(chunk, batch);
      zero_gradients(parameters);
      Rng rng = batch_rng(options.seed, epoch, c, 0);
      step.train(batch, LayerContext{true, &rng, 0}, &state);
      hand_optimizer.step(parameters);
    }
  }
  const auto a = weights_of(by_fit), b = weights_of(by_hand);
  for (size_t k = 0; k < a.size(); ++k) CHECK(a[k] == b[k]);

  // And it is not the stateless run: the carried state changes what is learned.
  Sequential<double> stateless = stream_model<double>(vocabulary, 3);
  Adam<double> stateless_optimizer(adam_options);
  options.stateful = false;
  fit(stateless, stateless_optimizer, data, options);
  CHECK(weights_of(stateless)[0] != a[0]);
}

TEST_CASE("Stateful fit on two threads agrees with one thread") {
  const Index vocabulary = 7, streams = 6;
  const StreamDataset data(TokenStream(counting_text(301, vocabulary)), streams, 8);
  Sequential<double> one = stream_model<double>(vocabulary, 5);
  Sequential<double> two = one;
  AdamOptions adam_options;
  adam_options.learning_rate = 0.01;
  Adam<double> o1(adam_options), o2(adam_options);
  FitOptions<double> options;
  options.epochs = 2;
  options.batch_size = streams;
  options.shuffle = false;
  options.stateful = true;
  options.verbosity = Verbosity::silent;
  fit(one, o1, data, options);
  options.threads = 2;
  fit(two, o2, data, options);
  const auto a = weights_of(one), b = weights_of(two);
  for (size_t k = 0; k < a.size(); ++k) CHECK((a[k] - b[k]).cwiseAbs().maxCoeff() < 1e-10);
}

TEST_CASE("Stateful evaluation over chunks equals one forward pass over each whole stream") {
  const Index vocabulary = 8, streams = 3;
  const std::vector<TokenId> text = counting_text(95, vocabulary);
  const StreamDataset data(TokenStream(text), streams, 7);
  Sequential<double> model = stream_model<double>(vocabulary, 11);

  const EvaluationResult chunked = evaluate(model, data, streams, /*stateful=*/true);

  // The same streams as one batch of full-length sequences, no state carried.
  const StreamDataset whole(TokenStream(text), streams, data.stream_length());
  REQUIRE(whole.chunks() == 1);
  const EvaluationResult direct = evaluate(model, whole, streams);
  CHECK(chunked.loss == doctest::Approx(direct.loss).epsilon(1e-12));
  CHECK(chunked.accuracy == direct.accuracy);

  // Without the state each chunk starts from zeros: a different (worse informed) number.
  const EvaluationResult stateless = evaluate(model, data, streams);
  CHECK(std::abs(stateless.loss - direct.loss) > 1e-9);
  CHECK_THROWS_AS(evaluate(model, data, 2, true), value_error);  // 3 x chunks is not a multiple of 2
}

TEST_CASE("WarmupCosineDecay warms up linearly, then follows a half cosine to the minimum") {
  WarmupCosineOptions options;
  options.peak_rate = 1.0;
  options.min_rate = 0.1;
  options.warmup_steps = 4;
  options.total_steps = 14;
  WarmupCosineDecay schedule(options);
  CHECK(schedule.rate_at(0) == doctest::Approx(0.25));
  CHECK(schedule.rate_at(3) == doctest::Approx(1.0));
  CHECK(schedule.rate_at(4) == doctest::Approx(1.0));
  CHECK(schedule.rate_at(9) == doctest::Approx(0.55));  // half way: (peak + min) / 2
  CHECK(schedule.rate_at(14) == doctest::Approx(0.1));
  CHECK(schedule.rate_at(100) == doctest::Approx(0.1));
  CHECK(schedule.on_batch_begin(9, 123.0) == doctest::Approx(0.55));

  options.progress = [](Index) { return 0.5; };  // e.g. half of a time budget spent
  CHECK(WarmupCosineDecay(options).rate_at(5) == doctest::Approx(0.55));

  WarmupCosineOptions bad = options;
  bad.min_rate = 2.0;
  CHECK_THROWS_AS(WarmupCosineDecay{bad}, value_error);
  bad = WarmupCosineOptions{};
  bad.total_steps = bad.warmup_steps;
  CHECK_THROWS_AS(WarmupCosineDecay{bad}, value_error);
}

TEST_CASE("fit sets the per-step rate of a WarmupCosineDecay before every batch") {
  const Index vocabulary = 5, streams = 2;
  const StreamDataset data(TokenStream(counting_text(41, vocabulary)), streams, 4);  // 5 chunks
  Sequential<float> model = stream_model<float>(vocabulary, 1);
  Adam<float> optimizer;
  WarmupCosineOptions schedule_options;
  schedule_options.peak_rate = 0.01;
  schedule_options.min_rate = 0.0;
  schedule_options.warmup_steps = 2;
  schedule_options.total_steps = 10;
  WarmupCosineDecay schedule(schedule_options);
  std::vector<double> rates;
  LambdaCallback<float> record;
  record.batch_end = [&](Index, const Logs& logs, TrainingContext<float>&) {
    rates.push_back(logs.at("lr"));
  };
  FitOptions<float> options;
  options.epochs = 2;
  options.batch_size = streams;
  options.shuffle = false;
  options.stateful = true;
  options.schedule = &schedule;
  options.callbacks = {&record};
  options.verbosity = Verbosity::silent;
  fit(model, optimizer, data, options);
  REQUIRE(rates.size() == 10);
  for (Index s = 0; s < 10; ++s) {
    CHECK(rates[static_cast<size_t>(s)] == doctest::Approx(schedule.rate_at(s)).epsilon(1e-6));
  }
}

TEST_CASE("Stateful fit refuses shuffling, partial batches, validation_split and a mid-epoch resume") {
  const Index vocabulary = 5;
  const StreamDataset data(TokenStream(counting_text(61, vocabulary)), 3, 4);  // 3 x 5 chunks
  Sequential<float> model = stream_model<float>(vocabulary, 2);
  Adam<float> optimizer;
  FitOptions<float> options;
  options.batch_size = 3;
  options.stateful = true;
  options.verbosity = Verbosity::silent;
  CHECK_THROWS_WITH_AS(fit(model, optimizer, data, options), doctest::Contains("shuffle = false"),
                       value_error);
  options.shuffle = false;
  options.batch_size = 4;
  CHECK_THROWS_WITH_AS(fit(model, optimizer, data, options),
                       doctest::Contains("not a multiple of batch_size"), value_error);
  options.batch_size = 3;
  options.validation_split = 0.2;
  CHECK_THROWS_WITH_AS(fit(model, optimizer, data, options),
                       doctest::Contains("hold out the end of the text"), value_error);
  options.validation_split = 0.0;
  TrainingState state;
  state.batch = 2;
  state.batches_per_epoch = data.size() / 3;
  CHECK_THROWS_WITH_AS(
      fit(model, optimizer, data, options, static_cast<const StreamDataset*>(nullptr), &state),
      doctest::Contains("resumes only at the start of an epoch"), value_error);
}

}  // namespace stateful_training_tests
