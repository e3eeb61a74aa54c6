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
#include <string>
#include <vector>

#include "gradcheck.hpp"

using namespace seqlm;

namespace {

// ---- the tutorials' stacks, at full size and at test size ---------------------------------------------

struct Sizes {
  Index vocabulary, embedding, filters, units;
};

// Headlines: Embedding(V, 10) + LSTM(100) + Dropout(0.1) + Dense(V).
template <class S>
Sequential<S> headlines(const Sizes& n) {
  Sequential<S> model(InputSpec::token_ids(n.vocabulary));
  model.add(layers::embedding<S>(n.vocabulary, n.embedding));
  model.add(layers::lstm<S>(n.embedding, n.units));
  model.add(layers::dropout<S>(0.1));
  model.add(layers::dense<S>(n.units, n.vocabulary));
  return model;
}

// Poems: GRU(128, return_sequences) + GRU(128) + Dense(V) on token ids.
template <class S>
Sequential<S> poems(const Sizes& n) {
  GRUOptions sequences;
  sequences.return_sequences = true;
  Sequential<S> model(InputSpec::token_ids(n.vocabulary));
  model.add(layers::gru<S>(n.vocabulary, n.units, sequences));
  model.add(layers::gru<S>(n.units, n.units));
  model.add(layers::dense<S>(n.units, n.vocabulary));
  return model;
}

// Nietzsche: LSTM(128) on one-hot characters (token ids) + Dense(V).
template <class S>
Sequential<S> nietzsche(const Sizes& n) {
  Sequential<S> model(InputSpec::token_ids(n.vocabulary));
  model.add(layers::lstm<S>(n.vocabulary, n.units));
  model.add(layers::dense<S>(n.units, n.vocabulary));
  return model;
}

// Machado: Embedding(V, 16) + Conv1D(32, 3, relu, causal) + GRU(128, return_sequences) + Dense(V).
template <class S>
Sequential<S> machado(const Sizes& n, Index dilation = 1) {
  Conv1DOptions conv;
  conv.activation = Activation::relu;
  conv.dilation = dilation;
  GRUOptions sequences;
  sequences.return_sequences = true;
  Sequential<S> model(InputSpec::token_ids(n.vocabulary));
  model.add(layers::embedding<S>(n.vocabulary, n.embedding));
  model.add(layers::conv1d<S>(n.embedding, n.filters, 3, conv));
  model.add(layers::gru<S>(n.filters, n.units, sequences));
  model.add(layers::dense<S>(n.units, n.vocabulary));
  return model;
}

std::vector<TokenId> random_ids(Index count, Index vocabulary, Rng& rng) {
  std::vector<TokenId> ids(static_cast<size_t>(count));
  for (auto& id : ids) id = static_cast<TokenId>(rng.below(static_cast<std::uint64_t>(vocabulary)));
  return ids;
}

// A batch with random inputs/targets and weights 1, 0.5, 0 (masked), ... in turn.
Batch random_batch(Index steps, Index batch_size, Index target_steps, Index vocabulary, Rng& rng) {
  Batch batch;
  batch.reshape(steps, batch_size, target_steps);
  batch.inputs = random_ids(steps * batch_size, vocabulary, rng);
  batch.targets = random_ids(target_steps * batch_size, vocabulary, rng);
  const float pattern[] = {1.0f, 0.5f, 0.0f, 1.0f};
  for (size_t k = 0; k < batch.weights.size(); ++k) batch.weights[k] = pattern[k % 4];
  batch.weights[0] = 1.0f;
  return batch;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
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
    return model.train_step(batch, LayerContext{true, &dropout_rng}).loss;
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
  model.train_step(batch, LayerContext{true, &rng, 0});
  std::vector<Matrix<double>> full;
  for (const auto& p : model.parameters()) full.push_back(*p.gradient);
  model.train_step(batch, LayerContext{true, &rng, 2});
  const auto parameters = model.parameters();
  CHECK(*parameters[0].gradient != full[0]);             // gru/kernel
  CHECK(*parameters[3].gradient != full[3]);             // gru_1/kernel
  CHECK(*parameters[6].gradient == full[6]);             // dense/kernel: before any recurrence
  model.train_step(batch, LayerContext{true, &rng, 6});  // chunks as long as the sequence: no cut
  CHECK(*parameters[0].gradient == full[0]);
}

// ---- train_step / evaluate_batch ----------------------------------------------------------------------

TEST_CASE("evaluate_batch equals the training loss without dropout and leaves gradients alone") {
  Rng rng(6);
  auto model = headlines<double>({9, 3, 0, 4});
  model.initialize(rng);
  const Batch batch = random_batch(3, 2, 1, 9, rng);
  const CrossEntropyResult trained = model.train_step(batch, LayerContext{true, &rng});
  const Matrix<double> gradient = *model.parameters()[0].gradient;
  const CrossEntropyResult evaluated = model.evaluate_batch(batch);
  CHECK(*model.parameters()[0].gradient == gradient);
  CHECK(evaluated.counted == 2);  // weights 1 and 0.5 over B = 2: both count
  CHECK(evaluated.counted_weight == 1.5);
  CHECK(std::isfinite(evaluated.loss));
  CHECK(trained.counted == evaluated.counted);
  // Inference is deterministic: a copy evaluates to the same loss.
  Sequential<double> copy = model;
  CHECK(copy.evaluate_batch(batch).loss == evaluated.loss);
}

namespace {

// The full computation that train_step's counted-columns path must reproduce: every column
// through the Dense layer, the loss over all scored columns (weight 0 included), backward().
void check_counted_columns_match_all_columns(Sequential<double>& model, const Batch& batch) {
  const LayerContext context{true, nullptr, 0};
  const CrossEntropyResult counted = model.train_step(batch, context);
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
  const CrossEntropyResult evaluated = model.evaluate_batch(batch);
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
    CHECK_THROWS_WITH_AS(model.train_step(batch, LayerContext{true, nullptr, 0}),
                         "SoftmaxCrossEntropy: target id 8 at position 5 (step 2, sequence 1) is outside the "
                         "vocabulary [0, 8)",
                         value_error);
    CHECK_THROWS_WITH_AS(model.evaluate_batch(batch),
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
  CHECK_THROWS_AS(model.train_step(batch, LayerContext{true, &rng}), shape_error);
  batch = random_batch(3, 2, 1, 9, rng);
  CHECK_THROWS_AS(model.train_step(batch, LayerContext{true, nullptr}), value_error);
  batch.weights.pop_back();
  CHECK_THROWS_AS(model.train_step(batch, LayerContext{true, &rng}), shape_error);
  batch = random_batch(3, 2, 1, 9, rng);
  batch.inputs[1] = 9;  // outside the vocabulary
  CHECK_THROWS_AS(model.train_step(batch, LayerContext{true, &rng}), value_error);
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
  model.train_step(batch, context);
  model.evaluate_batch(batch);
  model.train_step(batch, context);

  const long before = heap_allocations;
  Eigen::internal::set_is_malloc_allowed(false);
  for (int k = 0; k < 3; ++k) {
    model.train_step(batch, context);
    model.evaluate_batch(batch);
  }
  Eigen::internal::set_is_malloc_allowed(true);
  const long after_training = heap_allocations;

  auto state = model.make_step_state(2);
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
  auto state = model.make_step_state(batch);
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
  auto state = model.make_step_state(B);
  for (Index t = 0; t < T; ++t) {
    CHECK((model.step(x.middleCols(t * B, B), state) - full.middleCols(t * B, B)).cwiseAbs().maxCoeff() <
          1e-12);
  }
  const TokenId id = 0;
  CHECK_THROWS_AS(model.step(&id, state), value_error);
  CHECK_THROWS_AS(model.step(x.leftCols(1), state), shape_error);

  auto token_model = nietzsche<double>({4, 0, 0, 3});
  auto token_state = token_model.make_step_state(1);
  CHECK_THROWS_AS(token_model.step(nullptr, token_state), value_error);
  const TokenId bad = 4;
  CHECK_THROWS_AS(token_model.step(&bad, token_state), value_error);
  Sequential<double>::StepState foreign = model.make_step_state(1);
  CHECK_THROWS_AS(token_model.step(&id, foreign), value_error);
  CHECK_THROWS_AS(token_model.make_step_state(0), value_error);
}

// ---- architecture JSON ------------------------------------------------------------------------------------

namespace {

template <class S>
void copy_weights(Sequential<S>& from, Sequential<S>& to) {
  const auto source = from.parameters();
  const auto target = to.parameters();
  REQUIRE(source.size() == target.size());
  for (size_t k = 0; k < source.size(); ++k) {
    CHECK(source[k].name == target[k].name);
    *target[k].value = *source[k].value;
  }
}

}  // namespace

TEST_CASE("architecture() -> from_architecture() rebuilds the same model") {
  Rng rng(13);
  std::vector<Sequential<float>> models = {headlines<float>({12, 3, 0, 5}), poems<float>({12, 0, 0, 5}),
                                           nietzsche<float>({12, 0, 0, 5}), machado<float>({12, 3, 4, 5}, 2)};
  LSTMOptions no_forget_bias;
  no_forget_bias.unit_forget_bias = false;
  no_forget_bias.return_sequences = true;
  GRUOptions reset_before;
  reset_before.reset_after = false;
  Sequential<float> options_model(InputSpec::token_ids(12));
  options_model.add(layers::lstm<float>(12, 4, no_forget_bias)).add(layers::gru<float>(4, 3, reset_before));
  options_model.add(layers::dense<float>(3, 12));
  models.push_back(options_model);

  for (auto& model : models) {
    model.initialize(rng);
    const json::Value architecture = model.architecture();
    CAPTURE(architecture.dump());
    // Through text, as in a model file.
    Sequential<float> rebuilt = Sequential<float>::from_architecture(json::parse(architecture.dump()));
    CHECK(rebuilt.summary(7) == model.summary(7));
    CHECK(rebuilt.architecture() == architecture);
    copy_weights(model, rebuilt);
    const std::vector<TokenId> ids = random_ids(4 * 2, 12, rng);
    const Matrix<float> expected = model.forward(TokenView(ids, 4, 2), LayerContext{});
    CHECK(rebuilt.forward(TokenView(ids, 4, 2), LayerContext{}) == expected);
  }

  Sequential<double> features(InputSpec::features(4));
  features.add(layers::dropout<double>(0.25)).add(layers::dense<double>(4, 2));
  const auto rebuilt = Sequential<double>::from_architecture(features.architecture());
  CHECK(rebuilt.input_spec().tokens == false);
  CHECK(rebuilt.input_spec().size == 4);
  CHECK(rebuilt.architecture() == features.architecture());
}

TEST_CASE("from_architecture() keeps stored layer names") {
  json::Value architecture = nietzsche<float>({5, 0, 0, 3}).architecture();
  json::Value::Array layer_list = architecture.get_array("layers");
  layer_list[0].set("name", "encoder");
  architecture.set("layers", layer_list);
  auto model = Sequential<float>::from_architecture(architecture);
  CHECK(model.layer_name(0) == "encoder");
  CHECK(model.parameters()[0].name == "encoder/kernel");
}

TEST_CASE("from_architecture() rejects invalid architectures with file_error") {
  const std::string valid =
      R"({"format":"seqlm.sequential","input":{"kind":"token_ids","size":5},"layers":[)"
      R"({"type":"LSTM","name":"lstm","config":{"input_size":5,"units":3,"return_sequences":false,"unit_forget_bias":true}},)"
      R"({"type":"Dense","name":"dense","config":{"input_size":3,"units":5}}]})";
  CHECK_NOTHROW(Sequential<float>::from_architecture(json::parse(valid)));

  auto rejects = [&](const std::string& from, const std::string& to, const std::string& message_part) {
    std::string text = valid;
    const size_t at = text.find(from);
    REQUIRE(at != std::string::npos);
    text.replace(at, from.size(), to);
    CAPTURE(text);
    try {
      Sequential<float>::from_architecture(json::parse(text));
      FAIL("accepted an invalid architecture");
    } catch (const file_error& e) {
      const std::string message = e.what();
      CAPTURE(message);
      CHECK(contains(e.what(), message_part));
    }
  };
  rejects(R"("type":"LSTM")", R"("type":"Transformer")", "unknown layer type \"Transformer\"");
  rejects(R"("units":3,)", "", "field \"units\" is missing");
  rejects(R"("units":3,)", R"("units":-3,)", "field \"units\" is -3");
  rejects(R"("units":3,)", R"("units":0,)", "field \"units\" is 0");
  rejects(R"("units":3,)", R"("units":2.5,)", "field \"units\" is not an integer");
  rejects(R"("units":3,)", R"("units":"3",)", "field \"units\" is not an integer");
  rejects(R"("units":3,)", R"("units":4,)", "input size 3, expected 4");  // mismatched sizes
  rejects(R"("units":3,)", R"("units":1e12,)", "field \"units\"");        // absurd size
  rejects(R"("input_size":5,"units":3)", R"("input_size":16000000,"units":16000000)", "limit");
  rejects(R"("return_sequences":false)", R"("return_sequences":1)", "expected a boolean");
  rejects(R"("unit_forget_bias":true)", R"("unit_forget_bias":true,"extra":1)", "unknown field \"extra\"");
  rejects(R"("size":5)", R"("size":-5)", "input size");
  rejects(R"("kind":"token_ids")", R"("kind":"pixels")", "input kind");
  rejects(R"("format":"seqlm.sequential")", R"("format":"keras")", "format");
  rejects(R"("name":"dense")", R"("name":"lstm")", "not unique");
  rejects(R"("name":"dense")", R"("name":"a/b")", "contains '/'");
  rejects(R"("config":{"input_size":3,"units":5})", R"("config":[3,5])", "\"config\" is an array");
  rejects(R"("type":"Dense","name":"dense","config":{"input_size":3,"units":5})",
          R"("type":"Dropout","name":"dropout","config":{"rate":1.5})", "field \"rate\" is 1.5");
  rejects(
      R"({"type":"Dense","name":"dense","config":{"input_size":3,"units":5}})",
      R"({"type":"Conv1D","name":"c","config":{"input_size":3,"filters":2,"kernel_size":2,"dilation":1,"activation":"tanh"}})",
      "expected \"relu\" or \"linear\"");
}

TEST_CASE("from_architecture() rejects structural problems") {
  CHECK_THROWS_AS(Sequential<float>::from_architecture(json::parse("[]")), file_error);
  CHECK_THROWS_AS(Sequential<float>::from_architecture(json::parse(R"({"format":"seqlm.sequential"})")),
                  file_error);
  CHECK_THROWS_AS(Sequential<float>::from_architecture(json::parse(
                      R"({"format":"seqlm.sequential","input":{"kind":"token_ids","size":5},"layers":[]})")),
                  file_error);
  CHECK_THROWS_AS(Sequential<float>::from_architecture(json::parse(
                      R"({"format":"seqlm.sequential","input":{"kind":"token_ids","size":5},"layers":[7]})")),
                  file_error);
  CHECK_THROWS_AS(make_layer<float>("Dense", json::parse(R"({"input_size":3})")), file_error);

  // A model-wide parameter cap, checked layer by layer while building.
  const json::Value two_dense =
      json::parse(R"({"format":"seqlm.sequential","input":{"kind":"features","size":10},"layers":[)"
                  R"({"type":"Dense","config":{"input_size":10,"units":10}},)"
                  R"({"type":"Dense","config":{"input_size":10,"units":10}}]})");
  CHECK(Sequential<float>::from_architecture(two_dense, 220).parameter_count() == 220);
  try {
    Sequential<float>::from_architecture(two_dense, 219);
    FAIL("expected a file_error");
  } catch (const file_error& e) {
    CHECK(std::string(e.what()).find("layer 1: the model would have more than 219 parameters") !=
          std::string::npos);
  }
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
