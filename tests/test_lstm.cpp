// Tests of seqlm::LSTM: gradients against finite differences, forward against PyTorch,
// truncated BPTT against separately trained chunks, streaming against forward(),
// parameter counts, errors, and buffer reuse.
//
// EIGEN_RUNTIME_NO_MALLOC lets a test forbid Eigen heap allocations for a region.
#define EIGEN_RUNTIME_NO_MALLOC
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <seqlm/layers/lstm.hpp>
#include <string>
#include <vector>

#include "golden.hpp"
#include "gradcheck.hpp"

using namespace seqlm;
using seqlm::testing::random_matrix;

namespace {

// ---- gradient checks ---------------------------------------------------------------------

struct GradientCase {
  Index inputs, units, steps, batch;
  bool return_sequences;
  bool ids;            // token-id inputs instead of dense
  bool initial_state;  // a random (h_{-1}, c_{-1}) instead of zeros
  bool d_final;        // the loss also reads the final state
};

// Loss L = sum(output .* R) [+ sum(h_T .* Rh) + sum(c_T .* Rc)], so dL/doutput = R.
void check_lstm_gradients(const GradientCase& cfg) {
  CAPTURE(cfg.inputs);
  CAPTURE(cfg.units);
  CAPTURE(cfg.steps);
  CAPTURE(cfg.batch);
  CAPTURE(cfg.return_sequences);
  CAPTURE(cfg.ids);
  CAPTURE(cfg.d_final);
  Rng rng(cfg.inputs * 1000 + cfg.units * 100 + cfg.steps * 10 + cfg.batch);
  LSTM<double> lstm(cfg.inputs, cfg.units, {cfg.return_sequences, true});
  lstm.initialize(rng);
  // Make every weight matter and keep the gates away from saturation.
  lstm.kernel() = random_matrix(4 * cfg.units, cfg.inputs, rng, 0.8);
  lstm.recurrent_kernel() = random_matrix(4 * cfg.units, cfg.units, rng, 0.8);
  lstm.bias() = random_matrix(4 * cfg.units, 1, rng, 0.5);

  const Index TB = cfg.steps * cfg.batch;
  Matrix<double> x = random_matrix(cfg.inputs, TB, rng);
  std::vector<TokenId> ids(TB);
  for (auto& id : ids) id = static_cast<TokenId>(rng.below(cfg.inputs));
  const TokenView tokens(ids, cfg.steps, cfg.batch);
  RecurrentState<double> initial{random_matrix(cfg.units, cfg.batch, rng),
                                 random_matrix(cfg.units, cfg.batch, rng)};
  const RecurrentState<double>* initial_ptr = cfg.initial_state ? &initial : nullptr;

  const Matrix<double> R = random_matrix(cfg.units, cfg.return_sequences ? TB : cfg.batch, rng);
  RecurrentState<double> d_final{random_matrix(cfg.units, cfg.batch, rng),
                                 random_matrix(cfg.units, cfg.batch, rng)};

  auto loss = [&]() {
    const Matrix<double>& y =
        cfg.ids ? lstm.forward(tokens, initial_ptr) : lstm.forward(x, cfg.batch, initial_ptr);
    double value = (y.array() * R.array()).sum();
    if (cfg.d_final) {
      value += (lstm.final_state().h.array() * d_final.h.array()).sum();
      value += (lstm.final_state().c.array() * d_final.c.array()).sum();
    }
    return value;
  };

  loss();
  zero_gradients(lstm.parameters());
  lstm.backward(R, cfg.d_final ? &d_final : nullptr);
  const Matrix<double> dx = cfg.ids ? Matrix<double>() : lstm.input_gradient();
  const RecurrentState<double> d_initial = lstm.initial_state_gradient();

  for (const auto& p : lstm.parameters()) {
    const Matrix<double> analytic = *p.gradient;
    SEQLM_CHECK_GRADIENT(p.name, analytic, testing::numerical_gradient(*p.value, loss));
  }
  if (!cfg.ids) SEQLM_CHECK_GRADIENT("input", dx, testing::numerical_gradient(x, loss));
  if (cfg.initial_state) {
    SEQLM_CHECK_GRADIENT("initial h", d_initial.h, testing::numerical_gradient(initial.h, loss));
    SEQLM_CHECK_GRADIENT("initial c", d_initial.c, testing::numerical_gradient(initial.c, loss));
  }
}

}  // namespace

TEST_CASE("LSTM gradients match finite differences (dense inputs)") {
  //                       I  H  T  B  seqs   ids    init   d_final
  check_lstm_gradients({3, 4, 5, 2, true, false, true, false});
  check_lstm_gradients({3, 4, 5, 2, false, false, true, false});
  check_lstm_gradients({2, 3, 1, 1, true, false, true, false});    // T = 1, B = 1
  check_lstm_gradients({4, 2, 1, 3, false, false, true, true});    // T = 1
  check_lstm_gradients({5, 3, 6, 1, false, false, false, false});  // B = 1, zero initial state
  check_lstm_gradients({3, 9, 4, 2, true, false, true, true});     // H not a multiple of the SIMD width
  check_lstm_gradients({2, 8, 3, 3, false, false, true, true});    // H a multiple of the SIMD width
}

TEST_CASE("LSTM gradients match finite differences (token-id inputs)") {
  check_lstm_gradients({6, 4, 5, 2, true, true, true, false});
  check_lstm_gradients({5, 3, 1, 1, false, true, true, true});   // T = 1, B = 1
  check_lstm_gradients({4, 5, 7, 3, false, true, false, true});  // repeated ids: the scatter must add
}

// ---- truncated BPTT ----------------------------------------------------------------------

// backward(truncate = k) must equal running the chunks [0,k), [k,2k), ... one after another,
// each starting from the previous chunk's final state (a detached copy), each with full BPTT.
template <class Scalar>
void check_truncation_equals_chunks(bool return_sequences, bool ids) {
  CAPTURE(return_sequences);
  CAPTURE(ids);
  const Index I = 5, H = 4, T = 7, B = 2, k = 3;  // chunks of 3, 3 and 1 steps
  Rng rng(11);
  LSTM<Scalar> lstm(I, H, {return_sequences, true});
  lstm.initialize(rng);
  lstm.bias() = random_matrix(4 * H, 1, rng, 0.5).cast<Scalar>();
  const Matrix<Scalar> x = random_matrix(I, T * B, rng).cast<Scalar>();
  std::vector<TokenId> id_values(T * B);
  for (auto& id : id_values) id = static_cast<TokenId>(rng.below(I));
  const RecurrentState<Scalar> initial{random_matrix(H, B, rng).cast<Scalar>(),
                                       random_matrix(H, B, rng).cast<Scalar>()};
  const Matrix<Scalar> d_out = random_matrix(H, return_sequences ? T * B : B, rng).cast<Scalar>();
  const RecurrentState<Scalar> d_final{random_matrix(H, B, rng).cast<Scalar>(),
                                       random_matrix(H, B, rng).cast<Scalar>()};

  // The whole sequence, truncated every k steps.
  if (ids) {
    lstm.forward(TokenView(id_values, T, B), &initial);
  } else {
    lstm.forward(x, B, &initial);
  }
  zero_gradients(lstm.parameters());
  lstm.backward(d_out, &d_final, k);
  std::vector<Matrix<Scalar>> truncated;
  for (const auto& p : lstm.parameters()) truncated.push_back(*p.gradient);
  const Matrix<Scalar> dx_truncated = ids ? Matrix<Scalar>() : lstm.input_gradient();
  const RecurrentState<Scalar> d_initial_truncated = lstm.initial_state_gradient();

  // The same as chunks with a detached state carried forward.
  zero_gradients(lstm.parameters());
  RecurrentState<Scalar> state = initial;
  Matrix<Scalar> dx_chunks(I, T * B);
  RecurrentState<Scalar> d_initial_chunks;
  for (Index start = 0; start < T; start += k) {
    const Index len = std::min(k, T - start);
    const bool last = start + len == T;
    if (ids) {
      lstm.forward(TokenView(id_values.data() + start * B, len, B), &state);
    } else {
      lstm.forward(x.middleCols(start * B, len * B), B, &state);
    }
    state = lstm.final_state();
    Matrix<Scalar> d_chunk;
    if (return_sequences) {
      d_chunk = d_out.middleCols(start * B, len * B);
    } else {
      d_chunk = last ? d_out : Matrix<Scalar>::Zero(H, B);  // only the last step is an output
    }
    lstm.backward(d_chunk, last ? &d_final : nullptr);
    if (!ids) dx_chunks.middleCols(start * B, len * B) = lstm.input_gradient();
    if (start == 0) d_initial_chunks = lstm.initial_state_gradient();
  }

  const double tolerance = std::is_same_v<Scalar, float> ? 1e-5 : 1e-13;
  const auto params = lstm.parameters();
  for (size_t n = 0; n < params.size(); ++n) {
    CAPTURE(params[n].name);
    CHECK((truncated[n] - *params[n].gradient).norm() <= tolerance * (1 + truncated[n].norm()));
  }
  if (!ids) CHECK((dx_truncated - dx_chunks).norm() <= tolerance * (1 + dx_chunks.norm()));
  CHECK((d_initial_truncated.h - d_initial_chunks.h).norm() <= tolerance);
  CHECK((d_initial_truncated.c - d_initial_chunks.c).norm() <= tolerance);

  // And truncation really changes something compared with full BPTT.
  zero_gradients(lstm.parameters());
  if (ids) {
    lstm.forward(TokenView(id_values, T, B), &initial);
  } else {
    lstm.forward(x, B, &initial);
  }
  lstm.backward(d_out, &d_final, 0);
  CHECK((truncated[1] - *lstm.parameters()[1].gradient).norm() > 1e-4);
}

TEST_CASE("LSTM truncated BPTT equals training the chunks with a detached state") {
  for (bool return_sequences : {true, false}) {
    for (bool ids : {false, true}) {
      check_truncation_equals_chunks<double>(return_sequences, ids);
      check_truncation_equals_chunks<float>(return_sequences, ids);
    }
  }
}

TEST_CASE("LSTM truncate >= T is full BPTT") {
  Rng rng(5);
  LSTM<double> lstm(3, 4, {true, true});
  lstm.initialize(rng);
  const Matrix<double> x = random_matrix(3, 4 * 2, rng);
  const Matrix<double> d_out = random_matrix(4, 4 * 2, rng);
  lstm.forward(x, 2);
  lstm.backward(d_out, nullptr, 0);
  const Matrix<double> full = *lstm.parameters()[1].gradient;
  zero_gradients(lstm.parameters());
  lstm.backward(d_out, nullptr, 4);
  CHECK((full - *lstm.parameters()[1].gradient).norm() == 0.0);
}

// ---- forward parity with PyTorch -------------------------------------------------------------

template <class Scalar>
void check_golden_dense(double tolerance) {
  const auto golden = testing::read_golden("lstm_dense.txt");
  const Matrix<double>& W = testing::get(golden, "kernel");
  const Index H = W.rows() / 4, I = W.cols();
  const Matrix<double>& h0 = testing::get(golden, "h0");
  const Index B = h0.cols();
  const Matrix<double>& sequences = testing::get(golden, "sequences");
  const Index T = sequences.cols() / B;

  for (bool return_sequences : {true, false}) {
    CAPTURE(return_sequences);
    LSTM<Scalar> lstm(I, H, {return_sequences, true});
    lstm.kernel() = W.cast<Scalar>();
    lstm.recurrent_kernel() = testing::get(golden, "recurrent_kernel").cast<Scalar>();
    lstm.bias() = testing::get(golden, "bias").cast<Scalar>();
    const RecurrentState<Scalar> initial{h0.cast<Scalar>(), testing::get(golden, "c0").cast<Scalar>()};
    const Matrix<Scalar> x = testing::get(golden, "x").cast<Scalar>();
    const Matrix<double> y = lstm.forward(x, B, &initial).template cast<double>();
    const Matrix<double> expected = return_sequences ? sequences : Matrix<double>(sequences.rightCols(B));
    CHECK((y - expected).cwiseAbs().maxCoeff() <= tolerance);
    CHECK((lstm.final_state().h.template cast<double>() - testing::get(golden, "h_final"))
              .cwiseAbs()
              .maxCoeff() <= tolerance);
    CHECK((lstm.final_state().c.template cast<double>() - testing::get(golden, "c_final"))
              .cwiseAbs()
              .maxCoeff() <= tolerance);
    CHECK(lstm.steps() == T);
  }
}

template <class Scalar>
void check_golden_ids(double tolerance) {
  const auto golden = testing::read_golden("lstm_ids.txt");
  const Matrix<double>& W = testing::get(golden, "kernel");
  const Index H = W.rows() / 4, V = W.cols();
  const Matrix<double>& id_values = testing::get(golden, "ids");
  const Matrix<double>& sequences = testing::get(golden, "sequences");
  const Index B = testing::get(golden, "h_final").cols(), T = sequences.cols() / B;
  std::vector<TokenId> ids(T * B);
  for (Index k = 0; k < T * B; ++k) ids[k] = static_cast<TokenId>(id_values(0, k));

  LSTM<Scalar> lstm(V, H, {true, true});
  lstm.kernel() = W.cast<Scalar>();
  lstm.recurrent_kernel() = testing::get(golden, "recurrent_kernel").cast<Scalar>();
  lstm.bias() = testing::get(golden, "bias").cast<Scalar>();
  const Matrix<double> y = lstm.forward(TokenView(ids, T, B)).template cast<double>();
  CHECK((y - sequences).cwiseAbs().maxCoeff() <= tolerance);
  CHECK((lstm.final_state().c.template cast<double>() - testing::get(golden, "c_final"))
            .cwiseAbs()
            .maxCoeff() <= tolerance);

  // The dense path on the explicit one-hot matrix gives the same result.
  Matrix<Scalar> one_hot = Matrix<Scalar>::Zero(V, T * B);
  for (Index k = 0; k < T * B; ++k) one_hot(ids[k], k) = Scalar(1);
  const Matrix<double> y_dense = lstm.forward(one_hot, B).template cast<double>();
  CHECK((y_dense - sequences).cwiseAbs().maxCoeff() <= tolerance);
}

TEST_CASE("LSTM forward matches torch.nn.LSTM (dense inputs, initial state)") {
  check_golden_dense<double>(1e-12);
  check_golden_dense<float>(1e-5);
}

TEST_CASE("LSTM forward matches torch.nn.LSTM (token ids = one-hot inputs)") {
  check_golden_ids<double>(1e-12);
  check_golden_ids<float>(1e-5);
}

// ---- streaming ----------------------------------------------------------------------------

template <class Scalar>
void check_streaming_equals_forward(Index batch, bool ids, double tolerance) {
  CAPTURE(batch);
  CAPTURE(ids);
  const Index I = 7, H = 10, T = 6;
  Rng rng(21);
  LSTM<Scalar> lstm(I, H, {true, true});
  lstm.initialize(rng);
  const Matrix<Scalar> x = random_matrix(I, T * batch, rng).cast<Scalar>();
  std::vector<TokenId> id_values(T * batch);
  for (auto& id : id_values) id = static_cast<TokenId>(rng.below(I));

  const Matrix<Scalar> y = ids ? lstm.forward(TokenView(id_values, T, batch)) : lstm.forward(x, batch);
  auto state = lstm.make_state(batch);
  for (Index t = 0; t < T; ++t) {
    if (ids) {
      lstm.step(id_values.data() + t * batch, state);
    } else {
      lstm.step(x.middleCols(t * batch, batch), state);
    }
    CHECK((state.h - y.middleCols(t * batch, batch)).cwiseAbs().maxCoeff() <= tolerance);
  }
  CHECK((state.c - lstm.final_state().c).cwiseAbs().maxCoeff() <= tolerance);
}

TEST_CASE("LSTM streaming steps equal the full forward pass") {
  for (Index batch : {1, 3}) {
    for (bool ids : {false, true}) {
      check_streaming_equals_forward<double>(batch, ids, 1e-13);
      check_streaming_equals_forward<float>(batch, ids, 1e-5);
    }
  }
}

// ---- parameters and initialisation ----------------------------------------------------------

TEST_CASE("LSTM parameter names, shapes, counts and Keras initialisation") {
  LSTM<float> small(10, 100);
  CHECK(count_parameters(small.parameters()) == 44400);
  LSTM<double> char_model(57, 128);
  CHECK(count_parameters(char_model.parameters()) == 95232);

  LSTM<double> lstm(6, 5);
  const auto params = lstm.parameters();
  REQUIRE(params.size() == 3);
  CHECK(params[0].name == "kernel");
  CHECK(params[1].name == "recurrent_kernel");
  CHECK(params[2].name == "bias");
  CHECK(params[0].value->rows() == 20);
  CHECK(params[0].value->cols() == 6);
  CHECK(params[1].value->rows() == 20);
  CHECK(params[1].value->cols() == 5);
  CHECK(params[2].value->rows() == 20);
  CHECK(params[2].value->cols() == 1);

  Rng rng(1);
  lstm.initialize(rng);
  const double limit = std::sqrt(6.0 / (6 + 20));
  CHECK(lstm.kernel().cwiseAbs().maxCoeff() <= limit);
  CHECK(lstm.kernel().cwiseAbs().maxCoeff() > 0.5 * limit);
  CHECK((lstm.recurrent_kernel().transpose() * lstm.recurrent_kernel() - Matrix<double>::Identity(5, 5))
            .norm() < 1e-12);
  Matrix<double> expected_bias = Matrix<double>::Zero(20, 1);
  expected_bias.middleRows(5, 5).setOnes();
  CHECK(lstm.bias() == expected_bias);

  LSTM<double> no_forget_bias(6, 5, {false, false});
  no_forget_bias.initialize(rng);
  CHECK(no_forget_bias.bias().isZero());
  CHECK(LSTMOptions{}.return_sequences == false);
  CHECK(LSTMOptions{}.unit_forget_bias == true);
}

TEST_CASE("LSTM gradients accumulate across backward calls") {
  Rng rng(2);
  LSTM<double> lstm(3, 4);
  lstm.initialize(rng);
  const Matrix<double> x = random_matrix(3, 5 * 2, rng);
  const Matrix<double> d_out = random_matrix(4, 2, rng);
  lstm.forward(x, 2);
  lstm.backward(d_out);
  std::vector<Matrix<double>> once;
  for (const auto& p : lstm.parameters()) once.push_back(*p.gradient);
  lstm.backward(d_out);
  const auto params = lstm.parameters();
  for (size_t n = 0; n < params.size(); ++n) CHECK((*params[n].gradient - 2 * once[n]).norm() < 1e-12);
}

// ---- errors -------------------------------------------------------------------------------

namespace {

// Runs f, which must throw E, and checks that the message contains every fragment.
template <class E, class F>
void check_error(F&& f, const std::vector<std::string>& fragments) {
  try {
    f();
    FAIL("expected an exception");
  } catch (const E& e) {
    const std::string message = e.what();
    for (const auto& fragment : fragments) {
      INFO("message: ", message, "; missing: ", fragment);
      CHECK(message.find(fragment) != std::string::npos);
    }
  }
}

}  // namespace

TEST_CASE("LSTM rejects bad input with errors naming the layer and the shapes") {
  LSTM<double> lstm(4, 3, {true, true});
  Rng rng(3);
  lstm.initialize(rng);
  const Matrix<double> x = Matrix<double>::Ones(4, 6);

  check_error<value_error>([] { LSTM<double>(0, 3); }, {"LSTM", "input size", "0"});
  check_error<value_error>([] { LSTM<float>(3, -2); }, {"LSTM", "units", "-2"});
  check_error<value_error>([&] { lstm.backward(Matrix<double>::Zero(3, 6)); }, {"LSTM", "before forward"});
  check_error<shape_error>([&] { lstm.forward(Matrix<double>::Ones(5, 6), 2); },
                           {"LSTM", "5 rows", "expected 4"});
  check_error<shape_error>([&] { lstm.forward(x, 4); }, {"LSTM", "6 columns", "batch size 4"});
  check_error<value_error>([&] { lstm.forward(Matrix<double>(4, 0), 2); }, {"LSTM", "0 steps"});
  check_error<value_error>([&] { lstm.forward(x, 0); }, {"LSTM", "batch size"});

  std::vector<TokenId> ids = {0, 1, 4, 2};
  check_error<value_error>([&] { lstm.forward(TokenView(ids, 2, 2)); }, {"LSTM", "token id 4", "[0, 4)"});
  ids[2] = -1;
  check_error<value_error>([&] { lstm.forward(TokenView(ids, 2, 2)); }, {"LSTM", "token id -1"});

  RecurrentState<double> bad_initial{Matrix<double>::Zero(3, 3), Matrix<double>::Zero(3, 2)};
  check_error<shape_error>([&] { lstm.forward(x, 2, &bad_initial); },
                           {"LSTM", "initial state h", "3x3", "3x2"});
  bad_initial.h.resize(3, 2);
  bad_initial.c.resize(0, 0);
  check_error<shape_error>([&] { lstm.forward(x, 2, &bad_initial); },
                           {"LSTM", "initial state c", "0x0", "3x2"});

  lstm.forward(x, 2);
  check_error<shape_error>([&] { lstm.backward(Matrix<double>::Zero(3, 2)); },
                           {"LSTM", "d_output", "3x2", "3x6"});
  RecurrentState<double> bad_final{Matrix<double>::Zero(3, 2), Matrix<double>::Zero(2, 2)};
  check_error<shape_error>([&] { lstm.backward(Matrix<double>::Zero(3, 6), &bad_final); },
                           {"LSTM", "d_final.c", "2x2", "3x2"});
  check_error<value_error>([&] { lstm.backward(Matrix<double>::Zero(3, 6), nullptr, -1); },
                           {"LSTM", "truncate"});
  check_error<value_error>([&] { lstm.input_gradient(); }, {"LSTM", "before backward"});

  ids = {0, 1, 2, 3};
  lstm.forward(TokenView(ids, 2, 2));
  lstm.backward(Matrix<double>::Zero(3, 4));
  check_error<value_error>([&] { lstm.input_gradient(); }, {"LSTM", "token-id"});

  auto state = lstm.make_state(2);
  check_error<shape_error>([&] { lstm.step(Matrix<double>::Zero(4, 3), state); },
                           {"LSTM step", "4x3", "4x2"});
  const TokenId out_of_range[] = {1, 7};
  check_error<value_error>([&] { lstm.step(out_of_range, state); },
                           {"LSTM step", "token id 7", "sequence 1"});
  state.c.resize(3, 1);
  check_error<shape_error>([&] { lstm.step(Matrix<double>::Zero(4, 2), state); }, {"LSTM step", "state.c"});
  check_error<value_error>([&] { lstm.make_state(0); }, {"LSTM", "batch size"});
}

TEST_CASE("LSTM failed calls leave the layer usable") {
  LSTM<double> lstm(4, 3, {true, true});
  Rng rng(4);
  lstm.initialize(rng);
  const Matrix<double> x = random_matrix(4, 6, rng);
  const Matrix<double> y = lstm.forward(x, 2);
  CHECK_THROWS_AS(lstm.forward(Matrix<double>::Ones(5, 6), 2), shape_error);
  CHECK(lstm.output() == y);
  lstm.backward(Matrix<double>::Ones(3, 6));  // still the first forward's shapes
  CHECK(lstm.input_gradient().cols() == 6);
}

// ---- buffer reuse ---------------------------------------------------------------------------

TEST_CASE("LSTM reuses its buffers: a second pass with the same shapes allocates nothing") {
  for (bool return_sequences : {true, false}) {
    CAPTURE(return_sequences);
    const Index I = 5, H = 6, T = 4, B = 3;
    Rng rng(8);
    LSTM<float> lstm(I, H, {return_sequences, true});
    lstm.initialize(rng);
    const Matrix<float> x = random_matrix(I, T * B, rng).cast<float>();
    const Matrix<float> d_out = random_matrix(H, return_sequences ? T * B : B, rng).cast<float>();
    const RecurrentState<float> initial{Matrix<float>::Ones(H, B), Matrix<float>::Ones(H, B)};
    std::vector<TokenId> ids(T * B, 2);
    const TokenView tokens(ids, T, B);

    lstm.forward(x, B, &initial);
    lstm.backward(d_out, &initial, 2);
    const float* output = lstm.output().data();
    const float* input_gradient = lstm.input_gradient().data();
    const float* final_h = lstm.final_state().h.data();
    const float* initial_gradient = lstm.initial_state_gradient().c.data();
    lstm.forward(tokens);
    lstm.backward(d_out);

    Eigen::internal::set_is_malloc_allowed(false);
    lstm.forward(x.middleCols(0, T * B), B, &initial);
    lstm.backward(d_out, &initial, 2);
    lstm.forward(tokens, &initial);
    lstm.backward(d_out);
    lstm.forward(x, B);
    lstm.backward(d_out);
    Eigen::internal::set_is_malloc_allowed(true);

    CHECK(lstm.output().data() == output);
    CHECK(lstm.input_gradient().data() == input_gradient);
    CHECK(lstm.final_state().h.data() == final_h);
    CHECK(lstm.initial_state_gradient().c.data() == initial_gradient);
  }
}

TEST_CASE("LSTM streaming steps allocate nothing, batch 1 and batch 4") {
  Rng rng(9);
  LSTM<float> lstm(5, 12);
  lstm.initialize(rng);
  for (Index batch : {1, 4}) {
    auto state = lstm.make_state(batch);
    const Matrix<float> x = random_matrix(5, batch, rng).cast<float>();
    std::vector<TokenId> ids(batch, 3);
    Eigen::internal::set_is_malloc_allowed(false);
    for (int t = 0; t < 5; ++t) {
      lstm.step(x, state);
      lstm.step(ids.data(), state);
    }
    Eigen::internal::set_is_malloc_allowed(true);
    CHECK(state.h.allFinite());
    CHECK(state.h.cwiseAbs().maxCoeff() < 1.0f);
  }
}
