// The layer contract (include/seqlm/layers/contract.hpp) as a specification: every built-in
// layer, seen through the one generic adapter, declares its parameter count before it exists,
// starts a forward from a state and ends it in one, streams step by step to the same outputs,
// reports its input gradient the same way, and clones its weights.
#include <doctest/doctest.h>

#include <functional>
#include <seqlm/model/layer.hpp>
#include <string>
#include <vector>

namespace layer_contract_tests {

using namespace seqlm;

namespace {

// One layer of each class, small, with the input it reads.
struct Case {
  std::string name;
  std::function<std::unique_ptr<Layer<double>>()> make;
  bool tokens;       // reads token ids (else features)
  Index input_size;  // features or vocabulary
  Index declared;    // parameter_count(Config) of the class
};

std::vector<Case> cases() {
  LSTMOptions lstm_sequences;
  lstm_sequences.return_sequences = true;
  GRUOptions gru_sequences;
  gru_sequences.return_sequences = true;
  GRUOptions gru_before;
  gru_before.return_sequences = true;
  gru_before.reset_after = false;
  Conv1DOptions dilated;
  dilated.dilation = 2;
  dilated.activation = Activation::relu;
  return {
      {"Embedding", [] { return layers::embedding<double>(7, 3); }, true, 7,
       Embedding<double>::parameter_count({7, 3})},
      {"LSTM ids", [=] { return layers::lstm<double>(7, 4, lstm_sequences); }, true, 7,
       LSTM<double>::parameter_count({7, 4, lstm_sequences})},
      {"LSTM features", [=] { return layers::lstm<double>(3, 4, lstm_sequences); }, false, 3,
       LSTM<double>::parameter_count({3, 4, lstm_sequences})},
      {"GRU reset_after", [=] { return layers::gru<double>(3, 4, gru_sequences); }, false, 3,
       GRU<double>::parameter_count({3, 4, gru_sequences})},
      {"GRU reset_before ids", [=] { return layers::gru<double>(7, 4, gru_before); }, true, 7,
       GRU<double>::parameter_count({7, 4, gru_before})},
      {"Conv1D", [=] { return layers::conv1d<double>(3, 5, 3, dilated); }, false, 3,
       Conv1D<double>::parameter_count({3, 5, 3, dilated})},
      {"Dense", [] { return layers::dense<double>(3, 6); }, false, 3, Dense<double>::parameter_count({3, 6})},
  };
}

std::vector<TokenId> random_ids(Index count, Index vocabulary, Rng& rng) {
  std::vector<TokenId> ids(static_cast<size_t>(count));
  for (auto& id : ids) id = static_cast<TokenId>(rng.below(static_cast<std::uint64_t>(vocabulary)));
  return ids;
}

// The input of steps [t0, t0 + length) of a T x B time-major input.
LayerInput<double> slice(const Case& c, const std::vector<TokenId>& ids, const Matrix<double>& x, Index t0,
                         Index length, Index B, Matrix<double>& buffer) {
  if (c.tokens) return LayerInput<double>::of_tokens(TokenView(ids.data() + t0 * B, length, B));
  buffer = x.middleCols(t0 * B, length * B);
  return LayerInput<double>::of_features(buffer, B);
}

// An initialised layer of a case with random inputs of T steps of B sequences (ids and features).
struct Prepared {
  std::unique_ptr<Layer<double>> layer;
  std::vector<TokenId> ids;
  Matrix<double> x;
  Matrix<double> buffer;  // slice()'s copy of a feature chunk
  Prepared(const Case& c, Index T, Index B, Rng& rng)
      : layer(c.make()),
        ids(random_ids(T * B, c.input_size, rng)),
        x(Matrix<double>::Random(c.input_size, T * B)) {
    layer->initialize(rng);
  }
};

}  // namespace

TEST_CASE("every layer declares its parameter count before it is built") {
  for (const Case& c : cases()) {
    CAPTURE(c.name);
    auto layer = c.make();
    CHECK(layer->parameter_count() == c.declared);
    CHECK(count_parameters(layer->parameters()) == c.declared);
    const Layer<double>& constant = *layer;
    CHECK(count_parameters(constant.parameters()) == c.declared);
  }
  CHECK(Dropout<double>::parameter_count({0.5, 10}) == 0);
}

TEST_CASE("a forward in chunks with the state carried equals one forward, and streaming continues it") {
  Rng rng(5);
  const Index T = 9, B = 2;
  for (const Case& c : cases()) {
    CAPTURE(c.name);
    Prepared p(c, T, B, rng);
    auto& layer = p.layer;
    const std::vector<TokenId>& ids = p.ids;
    const Matrix<double>& x = p.x;
    Matrix<double>& buffer = p.buffer;
    const Matrix<double> whole = layer->forward(slice(c, ids, x, 0, T, B, buffer), {});

    for (const Index chunk : {1, 2, 4}) {
      CAPTURE(chunk);
      auto state = layer->make_state(B);
      for (Index t0 = 0; t0 < T; t0 += chunk) {
        const Index length = std::min(chunk, T - t0);
        const Matrix<double>& out = layer->forward(slice(c, ids, x, t0, length, B, buffer), {}, state.get());
        layer->copy_final_state(*state);
        CHECK((out - whole.middleCols(t0 * B, length * B)).cwiseAbs().maxCoeff() < 1e-13);
      }
    }
    // Step by step from a fresh state: the same outputs (matrix-vector order: last bits).
    auto state = layer->make_state(B);
    Matrix<double> out;
    for (Index t = 0; t < T; ++t) {
      layer->step(slice(c, ids, x, t, 1, B, buffer), *state, out);
      CHECK((out - whole.middleCols(t * B, B)).cwiseAbs().maxCoeff() < 1e-12);
    }
  }
}

TEST_CASE("copy_sequence moves one stream's memory into another state of any batch size") {
  Rng rng(8);
  for (const Case& c : cases()) {
    CAPTURE(c.name);
    auto layer = c.make();
    layer->initialize(rng);
    // One step of `batch` sequences: random ids or features, with sequence `b` reading `shared`.
    auto step = [&](LayerState& state, Index batch, Index b, Index shared, Matrix<double>& out) {
      std::vector<TokenId> ids = random_ids(batch, c.input_size, rng);
      Matrix<double> x = Matrix<double>::Random(c.input_size, batch);
      if (shared >= 0) {
        ids[static_cast<size_t>(b)] = static_cast<TokenId>(shared % c.input_size);
        x.col(b) = Matrix<double>::Constant(c.input_size, 1, 0.1 * static_cast<double>(shared % 7) - 0.3);
      }
      if (c.tokens) {
        layer->step(LayerInput<double>::of_tokens(TokenView(ids.data(), 1, batch)), state, out);
      } else {
        layer->step(LayerInput<double>::of_features(x, batch), state, out);
      }
    };
    // A: 3 sequences after 4 steps; B: 2 sequences after 3 steps (a convolution's rings sit at
    // different positions). Sequence 1 of A is copied into sequence 0 of B; from then on the two
    // read the same inputs and must write the same outputs.
    auto a = layer->make_state(3);
    auto b = layer->make_state(2);
    Matrix<double> out_a, out_b;
    for (Index t = 0; t < 4; ++t) step(*a, 3, 1, -1, out_a);
    for (Index t = 0; t < 3; ++t) step(*b, 2, 0, -1, out_b);
    layer->copy_sequence(*a, 1, *b, 0);
    for (Index t = 0; t < 5; ++t) {
      step(*a, 3, 1, t + 2, out_a);
      step(*b, 2, 0, t + 2, out_b);
      CHECK((out_a.col(1) - out_b.col(0)).cwiseAbs().maxCoeff() < 1e-12);
    }
    CHECK_THROWS_AS(layer->copy_sequence(*a, 3, *b, 0), value_error);
    CHECK_THROWS_AS(layer->copy_sequence(*a, 0, *b, -1), value_error);
    auto other = layer->type() == "Dense" ? layers::embedding<double>(3, 2) : layers::dense<double>(2, 2);
    auto foreign = other->make_state(2);
    CHECK_THROWS_AS(layer->copy_sequence(*a, 0, *foreign, 0), value_error);
    if (layer->type() == "LSTM" || layer->type() == "GRU") {
      auto wider = make_layer<LSTM<double>>({c.input_size, 9, {}});
      if (layer->type() == "GRU") wider = make_layer<GRU<double>>({c.input_size, 9, {}});
      auto wider_state = wider->make_state(2);
      CHECK_THROWS_AS(layer->copy_sequence(*a, 0, *wider_state, 0), shape_error);
    }
  }
}

TEST_CASE("the input gradient exists after features and not after token ids") {
  Rng rng(6);
  const Index T = 3, B = 2;
  for (const Case& c : cases()) {
    CAPTURE(c.name);
    Prepared p(c, T, B, rng);
    auto& layer = p.layer;
    const Matrix<double>& out = layer->forward(slice(c, p.ids, p.x, 0, T, B, p.buffer), {});
    layer->backward(Matrix<double>::Ones(out.rows(), out.cols()), {});
    const Matrix<double>* gradient = layer->input_gradient();
    if (c.tokens) {
      CHECK(gradient == nullptr);
    } else {
      REQUIRE(gradient != nullptr);
      CHECK(gradient->rows() == c.input_size);
      CHECK(gradient->cols() == T * B);
    }
  }
}

TEST_CASE("a clone has the weights and the configuration, and a state of another layer is refused") {
  Rng rng(7);
  for (const Case& c : cases()) {
    CAPTURE(c.name);
    auto layer = c.make();
    layer->initialize(rng);
    auto copy = layer->clone();
    CHECK(copy->type() == layer->type());
    CHECK(copy->input_size() == layer->input_size());
    CHECK(copy->output_size() == layer->output_size());
    const auto a = layer->parameters();
    const auto b = copy->parameters();
    REQUIRE(a.size() == b.size());
    for (size_t k = 0; k < a.size(); ++k) {
      CHECK(a[k].name == b[k].name);
      CHECK(*a[k].value == *b[k].value);
      CHECK(a[k].value != b[k].value);
    }
  }
  auto dense = layers::dense<double>(3, 4);
  auto lstm = layers::lstm<double>(3, 4);
  auto foreign = lstm->make_state(1);
  Matrix<double> out;
  const Matrix<double> x = Matrix<double>::Ones(3, 1);
  CHECK_THROWS_AS(dense->step(LayerInput<double>::of_features(x, 1), *foreign, out), value_error);
}

TEST_CASE("layer_cast gives the concrete layer and its mutable weights") {
  auto layer = layers::dense<float>(2, 3);
  Dense<float>* dense = layer_cast<Dense<float>>(*layer);
  REQUIRE(dense != nullptr);
  dense->kernel().setConstant(2.0f);
  CHECK((*layer->parameters()[0].value)(1, 1) == 2.0f);
  CHECK(layer_cast<LSTM<float>>(*layer) == nullptr);
  CHECK(layer->traits().columnwise);
  CHECK_FALSE(layer->traits().reads_tokens);
}

}  // namespace layer_contract_tests
