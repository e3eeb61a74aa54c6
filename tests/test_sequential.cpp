// Tests of seqlm::Sequential and the Layer adapters: the tutorials' parameter counts and summary,
// layer names, shape validation in add(), gradients of the whole model against finite
// differences, streaming steps against the full forward, architecture JSON round trips and
// hostile architectures, deep copies, and buffer reuse.

// Heap allocations are counted to prove that repeated same-shape batches and streaming steps
// allocate nothing: operator new is replaced below, and Eigen's own allocations (std::malloc) are
// caught through EIGEN_RUNTIME_NO_MALLOC, whose check is an eigen_assert -- compiled out under
// NDEBUG, so eigen_assert is redefined to count failures instead.
#include <cstddef>
#include <cstdlib>
#include <new>

namespace {
int eigen_assert_failures = 0;
long heap_allocations = 0;
}  // namespace
#define EIGEN_RUNTIME_NO_MALLOC
#define eigen_assert(x)                  \
  do {                                   \
    if (!(x)) ++::eigen_assert_failures; \
  } while (false)

// GCC pairs operator new with free() after inlining and warns; the pair is malloc/free here.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void* operator new(std::size_t size) {
  ++heap_allocations;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#include <doctest/doctest.h>

#include <cmath>
#include <seqlm/model/sequential.hpp>
#include <seqlm/train/step.hpp>
#include <string>
#include <vector>

#include "gradcheck.hpp"
#include "tutorial_stacks.hpp"

using namespace seqlm;
using namespace seqlm::test;

namespace {

// One training step from zeroed gradients (a TrainStep accumulates into them).
template <class S>
CrossEntropyResult train_step(Sequential<S>& model, const Batch& batch, const LayerContext& context) {
  zero_gradients(model.parameters());
  return train_on_batch(model, batch, context);
}

}  // namespace

// ---- parameter counts, names, summary ------------------------------------------------------------------

TEST_CASE("the tutorials' models have Keras's parameter counts, also in summary()") {
  const auto headline_model = headlines<float>({3582, 10, 0, 100});
  CHECK(headline_model.parameter_count() == 442002);
  CHECK(contains(headline_model.summary(), "Total params: 442,002"));

  const auto poem_model = poems<float>({60, 0, 0, 128});
  CHECK(poem_model.parameter_count() == 179772);
  CHECK(contains(poem_model.summary(), "Total params: 179,772"));

  const auto nietzsche_model = nietzsche<float>({57, 0, 0, 128});
  CHECK(nietzsche_model.parameter_count() == 102585);
  CHECK(contains(nietzsche_model.summary(40), "Total params: 102,585"));
  CHECK(contains(nietzsche_model.summary(40), "Trainable params: 102,585"));

  const auto machado_model = machado<float>({86, 16, 32, 128});
  CHECK(machado_model.parameter_count() == 76246);
  CHECK(contains(machado_model.summary(), "Total params: 76,246"));
}

TEST_CASE("summary() lists name (type), output shape and parameter count of every layer") {
  const auto model = poems<float>({60, 0, 0, 128});
  const std::string table = model.summary(60);
  CAPTURE(table);
  CHECK(contains(table, " gru (GRU)                   (None, 60, 128)           72960\n"));
  CHECK(contains(table, " gru_1 (GRU)                 (None, 128)               99072\n"));
  CHECK(contains(table, " dense (Dense)               (None, 60)                7740\n"));
  CHECK(contains(model.summary(), "(None, None, 128)"));

  const auto headline_model = headlines<float>({3582, 10, 0, 100});
  const std::string headline_table = headline_model.summary();
  CHECK(contains(headline_table, "embedding (Embedding)       (None, None, 10)          35820"));
  CHECK(contains(headline_table, "dropout (Dropout)           (None, 100)               0"));
}

TEST_CASE("layers get Keras-like unique names and parameters are named <layer>/<param>") {
  const auto model = machado<double>({11, 4, 5, 6});
  CHECK(model.layer_name(0) == "embedding");
  CHECK(model.layer_name(1) == "conv1d");
  CHECK(model.layer_name(2) == "gru");
  CHECK(model.layer_name(3) == "dense");

  auto stacked = poems<double>({7, 0, 0, 5});
  stacked.add(layers::dense<double>(7, 7));
  CHECK(stacked.layer_name(1) == "gru_1");
  CHECK(stacked.layer_name(3) == "dense_1");
  std::vector<std::string> names;
  for (const auto& p : stacked.parameters()) names.push_back(p.name);
  const std::vector<std::string> expected = {
      "gru/kernel", "gru/recurrent_kernel", "gru/bias",   "gru_1/kernel",   "gru_1/recurrent_kernel",
      "gru_1/bias", "dense/kernel",         "dense/bias", "dense_1/kernel", "dense_1/bias"};
  CHECK(names == expected);
  CHECK_THROWS_AS(stacked.layer(4), value_error);
  CHECK_THROWS_AS(stacked.layer_name(-1), value_error);
}

// ---- add() validation -----------------------------------------------------------------------------------

TEST_CASE("add() rejects layers that cannot read the previous output") {
  Sequential<float> tokens(InputSpec::token_ids(10));
  CHECK_THROWS_AS(tokens.add(layers::dense<float>(10, 4)), shape_error);      // no token input
  CHECK_THROWS_AS(tokens.add(layers::dropout<float>(0.5)), shape_error);      // no token input
  CHECK_THROWS_AS(tokens.add(layers::embedding<float>(11, 4)), shape_error);  // vocabulary 11 != 10
  CHECK_THROWS_AS(tokens.add(layers::lstm<float>(9, 4)), shape_error);        // one-hot size 9 != 10
  CHECK_THROWS_AS(tokens.add(nullptr), value_error);
  tokens.add(layers::embedding<float>(10, 4));
  CHECK_THROWS_AS(tokens.add(layers::embedding<float>(4, 4)), shape_error);  // dense input now
  CHECK_THROWS_AS(tokens.add(layers::gru<float>(5, 3)), shape_error);        // 4 features, not 5
  tokens.add(layers::lstm<float>(4, 3));                                     // drops the time axis
  CHECK_FALSE(tokens.output_keeps_time_axis());
  CHECK_THROWS_AS(tokens.add(layers::lstm<float>(3, 3)), shape_error);       // needs the time axis
  CHECK_THROWS_AS(tokens.add(layers::conv1d<float>(3, 3, 2)), shape_error);  // needs the time axis
  tokens.add(layers::dropout<float>(0.2));
  CHECK(tokens.layer(2).input_size() == 3);
  tokens.add(layers::dense<float>(3, 10));
  CHECK(tokens.size() == 4);
  CHECK(tokens.output_size() == 10);

  Sequential<float> features(InputSpec::features(6));
  CHECK_THROWS_AS(features.add(layers::embedding<float>(6, 2)), shape_error);
  features.add(layers::conv1d<float>(6, 4, 2));
  CHECK(features.output_keeps_time_axis());
  CHECK_THROWS_AS(Sequential<float>(InputSpec::token_ids(0)), value_error);
}

// ---- gradients of the whole model -----------------------------------------------------------------------

namespace {

// train_step's gradient of every parameter vs central differences (eps 1e-5: the loss is an
// average, so smaller steps lose digits to rounding) of train_step's loss. The
// Dropout masks are made identical in every call by re-seeding the generator.
void check_model_gradients(Sequential<double>& model, const Batch& batch) {
  Rng init(5);
  model.initialize(init);
  Rng dropout_rng;
  auto loss = [&]() {
    dropout_rng.reseed(99);
    return train_step(model, batch, LayerContext{true, &dropout_rng}).loss;
  };
  loss();
  std::vector<Matrix<double>> analytic;
  for (const auto& p : model.parameters()) analytic.push_back(*p.gradient);
  const auto parameters = model.parameters();
  for (size_t k = 0; k < parameters.size(); ++k) {
    const Matrix<double> numerical = testing::numerical_gradient(*parameters[k].value, loss, 1e-5);
    SEQLM_CHECK_GRADIENT(parameters[k].name, analytic[k], numerical);
  }
}

}  // namespace

TEST_CASE("gradients: Embedding + Conv1D + Dropout + GRU(sequences) + Dense, loss at every step, masked") {
  Rng rng(1);
  const Index V = 7;
  Conv1DOptions conv;
  conv.activation = Activation::relu;
  conv.dilation = 2;
  GRUOptions sequences;
  sequences.return_sequences = true;
  Sequential<double> model(InputSpec::token_ids(V));
  model.add(layers::embedding<double>(V, 4));
  model.add(layers::conv1d<double>(4, 5, 3, conv));
  model.add(layers::dropout<double>(0.3));
  model.add(layers::gru<double>(5, 6, sequences));
  model.add(layers::dense<double>(6, V));
  SUBCASE("T=5, B=2") { check_model_gradients(model, random_batch(5, 2, 5, V, rng)); }
  SUBCASE("T=1, B=3") { check_model_gradients(model, random_batch(1, 3, 1, V, rng)); }
  SUBCASE("only the last step scored") { check_model_gradients(model, random_batch(4, 2, 1, V, rng)); }
}

TEST_CASE("gradients: LSTM on token ids + Dense, loss at the last step") {
  Rng rng(2);
  auto model = nietzsche<double>({6, 0, 0, 5});
  SUBCASE("T=4, B=3") { check_model_gradients(model, random_batch(4, 3, 1, 6, rng)); }
  SUBCASE("T=1, B=1") { check_model_gradients(model, random_batch(1, 1, 1, 6, rng)); }
}

TEST_CASE("gradients: GRU(sequences) + GRU + Dense") {
  Rng rng(3);
  auto model = poems<double>({5, 0, 0, 4});
  check_model_gradients(model, random_batch(4, 2, 1, 5, rng));
}

TEST_CASE("gradients: a feature-input model (LSTM(sequences) + Dense) through backward()") {
  Rng rng(4);
  LSTMOptions sequences;
  sequences.return_sequences = true;
  Sequential<double> model(InputSpec::features(3));
  model.add(layers::lstm<double>(3, 4, sequences));
  model.add(layers::dense<double>(4, 2));
  model.initialize(rng);
  const Index T = 3, B = 2;
  Matrix<double> x = testing::random_matrix(3, T * B, rng);
  const Matrix<double> r = testing::random_matrix(2, T * B, rng);
  auto loss = [&]() { return model.forward(x, B, LayerContext{}).cwiseProduct(r).sum(); };
  loss();
  zero_gradients(model.parameters());
  model.backward(r, LayerContext{});
  for (const auto& p : model.parameters()) {
    const Matrix<double> analytic = *p.gradient;
    SEQLM_CHECK_GRADIENT(p.name, analytic, testing::numerical_gradient(*p.value, loss));
  }
}

TEST_CASE("context.truncate reaches the recurrent layers (truncated BPTT changes only their gradients)") {
  Rng rng(9);
  auto model = poems<double>({5, 0, 0, 4});
  model.initialize(rng);
  const Batch batch = random_batch(6, 2, 1, 5, rng);
  train_step(model, batch, LayerContext{true, &rng, 0});
  std::vector<Matrix<double>> full;
  for (const auto& p : model.parameters()) full.push_back(*p.gradient);
  train_step(model, batch, LayerContext{true, &rng, 2});
  const auto parameters = model.parameters();
  CHECK(*parameters[0].gradient != full[0]);              // gru/kernel
  CHECK(*parameters[3].gradient != full[3]);              // gru_1/kernel
  CHECK(*parameters[6].gradient == full[6]);              // dense/kernel: before any recurrence
  train_step(model, batch, LayerContext{true, &rng, 6});  // chunks as long as the sequence: no cut
  CHECK(*parameters[0].gradient == full[0]);
}

// ---- train_step / evaluate_batch ----------------------------------------------------------------------

TEST_CASE("evaluate_batch equals the training loss without dropout and leaves gradients alone") {
  Rng rng(6);
  auto model = headlines<double>({9, 3, 0, 4});
  model.initialize(rng);
  const Batch batch = random_batch(3, 2, 1, 9, rng);
  const CrossEntropyResult trained = train_step(model, batch, LayerContext{true, &rng});
  const Matrix<double> gradient = *model.parameters()[0].gradient;
  const CrossEntropyResult evaluated = evaluate_batch(model, batch);
  CHECK(*model.parameters()[0].gradient == gradient);
  CHECK(evaluated.counted == 2);  // weights 1 and 0.5 over B = 2: both count
  CHECK(evaluated.counted_weight == 1.5);
  CHECK(std::isfinite(evaluated.loss));
  CHECK(trained.counted == evaluated.counted);
  // Inference is deterministic: a copy evaluates to the same loss.
  Sequential<double> copy = model;
  CHECK(evaluate_batch(copy, batch).loss == evaluated.loss);
}

namespace {

// The full computation that train_step's counted-columns path must reproduce: every column
// through the Dense layer, the loss over all scored columns (weight 0 included), backward().
void check_counted_columns_match_all_columns(Sequential<double>& model, const Batch& batch) {
  const LayerContext context{true, nullptr, 0};
  const CrossEntropyResult counted = train_step(model, batch, context);
  std::vector<Matrix<double>> counted_gradients;
  for (const auto& p : model.parameters()) counted_gradients.push_back(*p.gradient);

  const Matrix<double> logits = model.forward(batch.input_view(), context);
  const Index scored = batch.target_steps * batch.batch;
  Vector<double> weights(scored);
  for (Index k = 0; k < scored; ++k) weights[k] = batch.weights[static_cast<size_t>(k)];
  Matrix<double> d_scored;
  const CrossEntropyResult all =
      softmax_cross_entropy(logits.rightCols(scored), batch.target_view(), weights, d_scored);
  Matrix<double> d_logits = Matrix<double>::Zero(logits.rows(), logits.cols());
  d_logits.rightCols(scored) = d_scored;
  zero_gradients(model.parameters());
  model.backward(d_logits, context);

  CHECK(counted.loss == doctest::Approx(all.loss).epsilon(1e-13));
  CHECK(counted.counted == all.counted);
  CHECK(counted.correct == all.correct);
  CHECK(counted.counted_weight == all.counted_weight);
  const auto parameters = model.parameters();
  for (size_t k = 0; k < parameters.size(); ++k) {
    CAPTURE(parameters[k].name);
    CHECK((counted_gradients[k] - *parameters[k].gradient).cwiseAbs().maxCoeff() <= 1e-14);
  }
  const CrossEntropyResult evaluated = evaluate_batch(model, batch);
  CHECK(evaluated.loss ==
        doctest::Approx(cross_entropy(logits.rightCols(scored), batch.target_view(), weights).loss)
            .epsilon(1e-13));
}

}  // namespace

TEST_CASE("train_step scores only the counted columns of a last Dense layer: same loss and gradients") {
  Rng rng(11);
  const Index V = 8;
  LSTMOptions sequences;
  sequences.return_sequences = true;
  Sequential<double> model(InputSpec::token_ids(V));
  model.add(layers::embedding<double>(V, 3));
  model.add(layers::lstm<double>(3, 5, sequences));
  model.add(layers::dense<double>(5, V));
  model.initialize(rng);
  SUBCASE("padding at every step, targets of masked positions are -1") {
    Batch batch = random_batch(5, 3, 5, V, rng);
    for (size_t k = 0; k < batch.weights.size(); ++k) {
      if (batch.weights[k] == 0.0f) batch.targets[k] = -1;
    }
    check_counted_columns_match_all_columns(model, batch);
  }
  SUBCASE("only the last step scored") {
    check_counted_columns_match_all_columns(model, random_batch(4, 3, 1, V, rng));
  }
  SUBCASE("an out-of-vocabulary target is named by its position in the batch") {
    Batch batch = random_batch(4, 2, 4, V, rng);
    batch.targets[5] = V;  // weight 0.5: counted
    CHECK_THROWS_WITH_AS(train_step(model, batch, LayerContext{true, nullptr, 0}),
                         "SoftmaxCrossEntropy: target id 8 at position 5 (step 2, sequence 1) is outside the "
                         "vocabulary [0, 8)",
                         value_error);
    CHECK_THROWS_WITH_AS(evaluate_batch(model, batch),
                         "cross_entropy: target id 8 at position 5 (step 2, sequence 1) is outside the "
                         "vocabulary [0, 8)",
                         value_error);
  }
}

TEST_CASE("train_step errors: target shapes, weights, dropout without a generator") {
  Rng rng(7);
  auto model = headlines<float>({9, 3, 0, 4});
  model.initialize(rng);
  Batch batch = random_batch(3, 2, 3, 9, rng);  // 3 target steps, but the model predicts the last step only
  CHECK_THROWS_AS(train_step(model, batch, LayerContext{true, &rng}), shape_error);
  batch = random_batch(3, 2, 1, 9, rng);
  CHECK_THROWS_AS(train_step(model, batch, LayerContext{true, nullptr}), value_error);
  batch.weights.pop_back();
  CHECK_THROWS_AS(train_step(model, batch, LayerContext{true, &rng}), shape_error);
  batch = random_batch(3, 2, 1, 9, rng);
  batch.inputs[1] = 9;  // outside the vocabulary
  CHECK_THROWS_AS(train_step(model, batch, LayerContext{true, &rng}), value_error);
  Matrix<float> logits_gradient = Matrix<float>::Zero(9, 2);
  Sequential<float> fresh = headlines<float>({9, 3, 0, 4});
  CHECK_THROWS_AS(fresh.backward(logits_gradient, LayerContext{}), value_error);
  CHECK_THROWS_AS(fresh.forward(Matrix<float>::Zero(9, 2), 2, LayerContext{}), value_error);
}

TEST_CASE("repeated same-shape batches and streaming steps allocate nothing") {
  Rng rng(8);
  auto model = machado<float>({13, 4, 5, 6});
  model.initialize(rng);
  const Batch batch = random_batch(6, 3, 6, 13, rng);
  const LayerContext context{true, &rng, 0};
  TrainStep<float> step(model);
  step.train(batch, context);
  step.evaluate(batch);
  step.train(batch, context);

  const long before = heap_allocations;
  Eigen::internal::set_is_malloc_allowed(false);
  for (int k = 0; k < 3; ++k) {
    step.train(batch, context);
    step.evaluate(batch);
  }
  Eigen::internal::set_is_malloc_allowed(true);
  const long after_training = heap_allocations;

  auto state = model.make_state(2);
  const TokenId ids[2] = {1, 2};
  model.step(ids, state);
  const long before_steps = heap_allocations;
  Eigen::internal::set_is_malloc_allowed(false);
  for (int t = 0; t < 10; ++t) model.step(ids, state);
  Eigen::internal::set_is_malloc_allowed(true);
  CHECK(after_training == before);
  CHECK(heap_allocations == before_steps);
  CHECK(eigen_assert_failures == 0);
}

// ---- streaming ------------------------------------------------------------------------------------------

namespace {

// Logits of step t of the streaming pass (batch B) vs the full forward: column block t of a
// model with a time axis, or a forward over the prefix 0..t for a model without one.
template <class S>
void check_streaming_matches_forward(Sequential<S> model, Index steps, Index batch, double tolerance) {
  Rng rng(11);
  model.initialize(rng);
  const Index V = model.input_spec().size;
  const std::vector<TokenId> ids = random_ids(steps * batch, V, rng);
  const Matrix<S> full = model.forward(TokenView(ids, steps, batch), LayerContext{});
  auto state = model.make_state(batch);
  for (Index t = 0; t < steps; ++t) {
    const Matrix<S>& streamed = model.step(ids.data() + t * batch, state);
    Matrix<S> expected;
    if (model.output_keeps_time_axis()) {
      expected = full.middleCols(t * batch, batch);
    } else {
      const std::vector<TokenId> prefix(ids.begin(), ids.begin() + (t + 1) * batch);
      expected = model.forward(TokenView(prefix, t + 1, batch), LayerContext{});
    }
    CAPTURE(t);
    REQUIRE(streamed.rows() == V);
    REQUIRE(streamed.cols() == batch);
    CHECK((streamed - expected).cwiseAbs().maxCoeff() <= tolerance);
  }
}

template <class S>
void check_all_tutorial_architectures(double tolerance) {
  for (Index batch : {1, 3}) {
    CAPTURE(batch);
    check_streaming_matches_forward(headlines<S>({11, 4, 0, 6}), 7, batch, tolerance);
    check_streaming_matches_forward(poems<S>({9, 0, 0, 5}), 6, batch, tolerance);
    check_streaming_matches_forward(nietzsche<S>({8, 0, 0, 7}), 6, batch, tolerance);
    check_streaming_matches_forward(machado<S>({10, 4, 5, 6}), 8, batch, tolerance);
    check_streaming_matches_forward(machado<S>({10, 4, 5, 6}, 2), 9, batch, tolerance);
  }
}

}  // namespace

TEST_CASE("streaming steps equal the full forward at every step (double)") {
  check_all_tutorial_architectures<double>(1e-12);
}

TEST_CASE("streaming steps equal the full forward at every step (float)") {
  check_all_tutorial_architectures<float>(1e-5);
}

TEST_CASE("streaming on a feature model, and step-state errors") {
  Rng rng(12);
  Conv1DOptions conv;
  conv.dilation = 1;
  Sequential<double> model(InputSpec::features(3));
  model.add(layers::conv1d<double>(3, 4, 2, conv));
  model.add(layers::dense<double>(4, 5));
  model.initialize(rng);
  const Index T = 4, B = 2;
  const Matrix<double> x = testing::random_matrix(3, T * B, rng);
  const Matrix<double> full = model.forward(x, B, LayerContext{});
  auto state = model.make_state(B);
  for (Index t = 0; t < T; ++t) {
    CHECK((model.step(x.middleCols(t * B, B), state) - full.middleCols(t * B, B)).cwiseAbs().maxCoeff() <
          1e-12);
  }
  const TokenId id = 0;
  CHECK_THROWS_AS(model.step(&id, state), value_error);
  CHECK_THROWS_AS(model.step(x.leftCols(1), state), shape_error);

  auto token_model = nietzsche<double>({4, 0, 0, 3});
  auto token_state = token_model.make_state(1);
  CHECK_THROWS_AS(token_model.step(nullptr, token_state), value_error);
  const TokenId bad = 4;
  CHECK_THROWS_AS(token_model.step(&bad, token_state), value_error);
  Sequential<double>::State foreign = model.make_state(1);
  CHECK_THROWS_AS(token_model.step(&id, foreign), value_error);
  CHECK_THROWS_AS(token_model.make_state(0), value_error);
}

TEST_CASE("streams kept apart can be gathered into one batch, stepped together and scattered back") {
  Rng rng(13);
  auto model = machado<double>({11, 4, 5, 6}, 2);  // Embedding, dilated causal Conv1D, GRU, Dense
  model.initialize(rng);
  // Three readers, each with its own state after a different number of tokens.
  std::vector<Sequential<double>::State> own;
  for (Index r = 0; r < 3; ++r) {
    own.push_back(model.make_state(1));
    for (Index t = 0; t <= 2 * r + 1; ++t) {
      const auto id = static_cast<TokenId>(rng.below(11));
      model.step(&id, own.back());
    }
  }
  std::vector<Sequential<double>::State> alone = own;  // the same readers, never gathered
  auto batch = model.make_state(3);
  for (Index step = 0; step < 4; ++step) {
    CAPTURE(step);
    std::vector<TokenId> ids(3);
    for (auto& id : ids) id = static_cast<TokenId>(rng.below(11));
    for (Index r = 0; r < 3; ++r) model.copy_sequence(own[static_cast<size_t>(r)], 0, batch, r);
    const Matrix<double> logits = model.step(ids.data(), batch);
    for (Index r = 0; r < 3; ++r) {
      model.copy_sequence(batch, r, own[static_cast<size_t>(r)], 0);
      const Matrix<double>& expected =
          model.step(&ids[static_cast<size_t>(r)], alone[static_cast<size_t>(r)]);
      CHECK((logits.col(r) - expected).cwiseAbs().maxCoeff() < 1e-12);
      CHECK((own[static_cast<size_t>(r)].outputs.back() - expected).cwiseAbs().maxCoeff() < 1e-12);
    }
  }
  CHECK_THROWS_AS(model.copy_sequence(batch, 3, own[0], 0), value_error);
  CHECK_THROWS_AS(model.copy_sequence(batch, 0, own[0], 1), value_error);
  auto other = nietzsche<double>({11, 0, 0, 3});
  auto foreign = other.make_state(1);
  CHECK_THROWS_AS(model.copy_sequence(batch, 0, foreign, 0), value_error);
}

// ---- copies --------------------------------------------------------------------------------------------

TEST_CASE("copies are deep: changing a copy's weights leaves the original intact") {
  Rng rng(14);
  auto original = machado<float>({9, 3, 4, 5});
  original.initialize(rng);
  const std::vector<TokenId> ids = random_ids(5, 9, rng);
  const Matrix<float> before = original.forward(TokenView(ids, 5, 1), LayerContext{});

  Sequential<float> copy = original;
  CHECK(copy.forward(TokenView(ids, 5, 1), LayerContext{}) == before);
  for (auto& p : copy.parameters()) p.value->array() += 1.0f;
  CHECK(copy.forward(TokenView(ids, 5, 1), LayerContext{}) != before);
  CHECK(original.forward(TokenView(ids, 5, 1), LayerContext{}) == before);

  Sequential<float> assigned(InputSpec::token_ids(3));
  assigned = original;
  CHECK(assigned.parameters()[0].value != original.parameters()[0].value);
  CHECK(*assigned.parameters()[0].value == *original.parameters()[0].value);
  CHECK(assigned.layer_name(1) == "conv1d");
  CHECK(assigned.forward(TokenView(ids, 5, 1), LayerContext{}) == before);

  // Layer::clone copies weights only.
  auto clone = original.layer(3).clone();
  CHECK(clone->type() == "Dense");
  CHECK(*clone->parameters()[0].value == *original.layer(3).parameters()[0].value);
}

// ---- states through the model --------------------------------------------------------------------------

TEST_CASE("a long sequence run in chunks with a carried state gives the logits of one forward") {
  Rng rng(21);
  LSTMOptions lstm_sequences;
  lstm_sequences.return_sequences = true;
  Sequential<double> stacked(InputSpec::token_ids(9));
  stacked.add(layers::lstm<double>(9, 5, lstm_sequences)).add(layers::dense<double>(5, 9));
  std::vector<Sequential<double>> models = {machado<double>({9, 3, 4, 5}), machado<double>({9, 3, 4, 5}, 2),
                                            stacked};
  const Index T = 12, B = 3;
  for (auto& model : models) {
    model.initialize(rng);
    const std::vector<TokenId> ids = random_ids(T * B, 9, rng);
    const Matrix<double> whole = model.forward(TokenView(ids, T, B), {});
    for (const Index chunk : {1, 2, 5, 12}) {
      CAPTURE(chunk);
      auto state = model.make_state(B);
      for (Index t0 = 0; t0 < T; t0 += chunk) {
        const Index length = std::min(chunk, T - t0);
        const TokenView part(ids.data() + t0 * B, length, B);
        const Matrix<double>& logits = model.forward(part, {}, &state);
        CHECK((logits - whole.middleCols(t0 * B, length * B)).cwiseAbs().maxCoeff() < 1e-12);
      }
      // Streaming from the carried state continues the same text.
      const std::vector<TokenId> next = random_ids(B, 9, rng);
      std::vector<TokenId> longer = ids;
      longer.insert(longer.end(), next.begin(), next.end());
      const Matrix<double> extended = model.forward(TokenView(longer, T + 1, B), {});
      CHECK((model.step(next.data(), state) - extended.rightCols(B)).cwiseAbs().maxCoeff() < 1e-12);
    }
    // reset_states: back to the start of a text.
    auto state = model.make_state(B);
    model.forward(TokenView(ids.data(), 4, B), {}, &state);
    model.reset_states(state);
    CHECK((model.forward(TokenView(ids.data(), 4, B), {}, &state) - whole.leftCols(4 * B))
              .cwiseAbs()
              .maxCoeff() < 1e-12);
  }
}

TEST_CASE("stateful training in chunks sums to the gradient of truncated BPTT over the whole sequence") {
  // Chunks of k steps with the state carried (and detached) between them give, summed, the
  // gradient of one forward over all T steps with truncate = k. Every position has weight 1,
  // so chunk c's mean loss weighs its sum by 1/(k B) and the whole by 1/(T B).
  Rng rng(22);
  LSTMOptions lstm_sequences;
  lstm_sequences.return_sequences = true;
  GRUOptions gru_sequences;
  gru_sequences.return_sequences = true;
  Sequential<double> model(InputSpec::token_ids(7));
  model.add(layers::embedding<double>(7, 3))
      .add(layers::lstm<double>(3, 4, lstm_sequences))
      .add(layers::gru<double>(4, 5, gru_sequences))
      .add(layers::dense<double>(5, 7));
  model.initialize(rng);
  const Index T = 12, B = 2, k = 4;
  const std::vector<TokenId> ids = random_ids(T * B, 7, rng), targets = random_ids(T * B, 7, rng);
  auto make_batch = [&](Index t0, Index length) {
    Batch batch;
    batch.reshape(length, B, length);
    for (Index c = 0; c < length * B; ++c) {
      batch.inputs[static_cast<size_t>(c)] = ids[static_cast<size_t>(t0 * B + c)];
      batch.targets[static_cast<size_t>(c)] = targets[static_cast<size_t>(t0 * B + c)];
      batch.weights[static_cast<size_t>(c)] = 1.0;
    }
    return batch;
  };
  const auto parameters = model.parameters();

  zero_gradients(parameters);
  TrainStep<double> step(model);
  step.train(make_batch(0, T), LayerContext{true, nullptr, k});
  std::vector<Matrix<double>> whole;
  for (const auto& p : parameters) whole.push_back(*p.gradient * double(T * B));

  zero_gradients(parameters);
  std::vector<Matrix<double>> chunked;
  for (const auto& p : parameters)
    chunked.push_back(Matrix<double>::Zero(p.gradient->rows(), p.gradient->cols()));
  auto state = model.make_state(B);
  for (Index t0 = 0; t0 < T; t0 += k) {
    zero_gradients(parameters);
    step.train(make_batch(t0, k), LayerContext{true, nullptr, 0}, &state);
    for (size_t p = 0; p < parameters.size(); ++p) chunked[p] += *parameters[p].gradient * double(k * B);
  }
  for (size_t p = 0; p < parameters.size(); ++p) {
    CAPTURE(parameters[p].name);
    CHECK((chunked[p] - whole[p]).cwiseAbs().maxCoeff() <= 1e-10 * (1.0 + whole[p].cwiseAbs().maxCoeff()));
  }
}

TEST_CASE("a model whose weights were never initialised refuses to run") {
  Sequential<float> model = nietzsche<float>({5, 0, 0, 3});
  const std::vector<TokenId> ids = {1, 2, 3};
  try {
    model.forward(TokenView(ids, 3, 1), {});
    FAIL("expected a value_error");
  } catch (const value_error& e) {
    CHECK(contains(e.what(), "initialize"));
  }
  auto state = model.make_state(1);
  CHECK_THROWS_AS(model.step(ids.data(), state), value_error);
  model.initialize(std::uint64_t{4});
  CHECK(model.initialized());
  CHECK_NOTHROW(model.forward(TokenView(ids, 3, 1), {}));
  model.add(layers::dense<float>(5, 5));  // a new layer starts at zero
  CHECK_FALSE(model.initialized());
}

TEST_CASE("a batch whose vectors are shorter than its shape is refused, never read past the end") {
  Rng rng(23);
  auto model = nietzsche<float>({6, 0, 0, 3});
  model.initialize(rng);
  Batch batch = random_batch(4, 2, 1, 6, rng);
  batch.inputs.resize(5);  // fewer than steps x batch ids
  try {
    train_step(model, batch, LayerContext{true, &rng});
    FAIL("expected a shape_error");
  } catch (const shape_error& e) {
    CHECK(contains(e.what(), "inputs hold 5 values, expected 8"));
  }
  CHECK_THROWS_AS(batch.input_view(), shape_error);
}
