// Tests of the GRU layer (include/seqlm/layers/gru.hpp), both reset_after variants.

// Eigen's runtime allocation guard, for the "allocates nothing on a second call" test. Its
// failures go through eigen_assert, which is redirected to a counter here so that it also
// works with NDEBUG (Release) builds; every other Eigen assertion is counted too.
#define EIGEN_RUNTIME_NO_MALLOC
inline int eigen_assertion_failures = 0;
#define eigen_assert(condition)                   \
  do {                                            \
    if (!(condition)) ++eigen_assertion_failures; \
  } while (false)

#include <doctest/doctest.h>

#include <cmath>
#include <seqlm/layers/gru.hpp>
#include <seqlm/parameter.hpp>
#include <string>
#include <vector>

#include "golden.hpp"
#include "gradcheck.hpp"

using namespace seqlm;
using seqlm::testing::random_matrix;

namespace {

template <class S>
Matrix<S> random_of(Index rows, Index cols, Rng& rng, double scale = 1.0) {
  return random_matrix(rows, cols, rng, scale).cast<S>();
}

std::vector<TokenId> random_ids(Index count, Index vocabulary, Rng& rng) {
  std::vector<TokenId> ids(static_cast<size_t>(count));
  for (auto& id : ids) id = static_cast<TokenId>(rng.below(static_cast<std::uint64_t>(vocabulary)));
  return ids;
}

// The one-hot (vocabulary x T*B) matrix that token ids stand for, built only as a test oracle.
Matrix<double> one_hot(const std::vector<TokenId>& ids, Index vocabulary) {
  Matrix<double> m = Matrix<double>::Zero(vocabulary, static_cast<Index>(ids.size()));
  for (size_t k = 0; k < ids.size(); ++k) m(ids[k], static_cast<Index>(k)) = 1.0;
  return m;
}

template <class S>
RecurrentState<S> state_of(const Matrix<S>& h) {
  RecurrentState<S> s;
  s.h = h;
  return s;
}

double max_abs_diff(const Matrix<double>& a, const Matrix<double>& b) {
  REQUIRE(a.rows() == b.rows());
  REQUIRE(a.cols() == b.cols());
  return a.size() == 0 ? 0.0 : (a - b).cwiseAbs().maxCoeff();
}

// A GRU with Keras initialisation plus non-zero biases, so every term of the gradient is exercised.
template <class S>
GRU<S> make_gru(Index inputs, Index units, GRUOptions options, Rng& rng) {
  GRU<S> gru(inputs, units, options);
  gru.initialize(rng);
  gru.bias() = random_of<S>(gru.bias().rows(), gru.bias().cols(), rng, 0.5);
  return gru;
}

template <class E, class F>
void check_throws(F&& call, const std::vector<std::string>& fragments) {
  bool thrown = false;
  try {
    call();
  } catch (const E& e) {
    thrown = true;
    const std::string message = e.what();
    INFO("message: ", message);
    for (const auto& fragment : fragments) CHECK(message.find(fragment) != std::string::npos);
  }
  CHECK(thrown);
}

}  // namespace

TEST_CASE("GRU parameter counts and shapes match Keras") {
  CHECK(count_parameters(GRU<float>(60, 128).parameters()) == 72960);
  CHECK(count_parameters(GRU<float>(128, 128).parameters()) == 99072);
  CHECK(count_parameters(GRU<float>(32, 128).parameters()) == 62208);
  GRUOptions before;
  before.reset_after = false;
  CHECK(count_parameters(GRU<float>(60, 128, before).parameters()) == 3 * 128 * (60 + 128 + 1));

  GRU<double> gru(7, 5);
  auto parameters = gru.parameters();
  REQUIRE(parameters.size() == 3);
  CHECK(parameters[0].name == "kernel");
  CHECK(parameters[1].name == "recurrent_kernel");
  CHECK(parameters[2].name == "bias");
  CHECK((parameters[0].value->rows() == 15 && parameters[0].value->cols() == 7));
  CHECK((parameters[1].value->rows() == 15 && parameters[1].value->cols() == 5));
  CHECK((parameters[2].value->rows() == 15 && parameters[2].value->cols() == 2));
  CHECK(GRU<double>(7, 5, before).bias().cols() == 1);
}

TEST_CASE("GRU initialize uses Keras's defaults") {
  Rng rng(11);
  GRU<double> gru(20, 12);
  gru.bias().setOnes();
  gru.initialize(rng);
  const double limit = std::sqrt(6.0 / (20 + 36));
  CHECK(gru.kernel().cwiseAbs().maxCoeff() <= limit);
  CHECK(gru.kernel().cwiseAbs().maxCoeff() > 0.9 * limit);
  const Matrix<double>& u = gru.recurrent_kernel();  // 3H x H with orthonormal columns
  CHECK((u.transpose() * u - Matrix<double>::Identity(12, 12)).norm() < 1e-12);
  CHECK(gru.bias().isZero(0.0));
}

template <class S>
void check_golden(const std::string& file, bool reset_after, double tolerance) {
  const auto golden = seqlm::testing::read_golden(file);
  using seqlm::testing::get;
  const Matrix<double>& expected = get(golden, "output");
  const Index units = get(golden, "h0").rows(), batch = get(golden, "h0").cols();
  const Index inputs = get(golden, "x").rows();
  for (bool sequences : {true, false}) {
    GRUOptions options;
    options.reset_after = reset_after;
    options.return_sequences = sequences;
    GRU<S> gru(inputs, units, options);
    gru.kernel() = get(golden, "kernel").template cast<S>();
    gru.recurrent_kernel() = get(golden, "recurrent_kernel").template cast<S>();
    gru.bias() = get(golden, "bias").template cast<S>();
    const RecurrentState<S> h0 = state_of<S>(get(golden, "h0").template cast<S>());
    const Matrix<S> x = get(golden, "x").template cast<S>();
    const Matrix<double> output = gru.forward(x, batch, &h0).template cast<double>();
    const Matrix<double> final_h = gru.final_state().h.template cast<double>();
    INFO(file, " return_sequences=", sequences);
    CHECK(max_abs_diff(output, sequences ? expected : expected.rightCols(batch)) <= tolerance);
    CHECK(max_abs_diff(final_h, get(golden, "final_h")) <= tolerance);
    CHECK(gru.final_state().c.size() == 0);
  }
}

TEST_CASE("GRU reset_after=true forward matches torch.nn.GRU") {
  check_golden<double>("gru_reset_after.txt", true, 1e-12);
  check_golden<float>("gru_reset_after.txt", true, 1e-5);
}

TEST_CASE("GRU reset_after=false forward matches the NumPy reference") {
  check_golden<double>("gru_reset_before.txt", false, 1e-12);
  check_golden<float>("gru_reset_before.txt", false, 1e-5);
}

// ---- gradient checks ------------------------------------------------------------------------

struct GradientCase {
  Index inputs, units, steps, batch;
  bool return_sequences;
  bool token_ids;
  bool final_state_gradient;
};

void check_gradients(const GradientCase& c, bool reset_after) {
  INFO("I=", c.inputs, " H=", c.units, " T=", c.steps, " B=", c.batch, " reset_after=", reset_after,
       " return_sequences=", c.return_sequences, " ids=", c.token_ids, " d_final=", c.final_state_gradient);
  Rng rng(static_cast<std::uint64_t>(100 * c.units + 10 * c.steps + c.batch));
  GRUOptions options;
  options.reset_after = reset_after;
  options.return_sequences = c.return_sequences;
  GRU<double> gru = make_gru<double>(c.inputs, c.units, options, rng);
  gru.recurrent_kernel() *= 1.5;  // larger than orthogonal so that the recurrent terms matter

  Matrix<double> x = random_matrix(c.inputs, c.steps * c.batch, rng);
  const std::vector<TokenId> ids = random_ids(c.steps * c.batch, c.inputs, rng);
  const TokenView tokens(ids, c.steps, c.batch);
  RecurrentState<double> h0 = state_of<double>(random_matrix(c.units, c.batch, rng, 0.8));
  const Matrix<double> d_output =
      random_matrix(c.units, c.return_sequences ? c.steps * c.batch : c.batch, rng);
  const RecurrentState<double> d_final = state_of<double>(random_matrix(c.units, c.batch, rng));

  // L = sum(output .* d_output) [+ sum(final h .* d_final)], so dL/doutput = d_output.
  auto loss = [&] {
    const Matrix<double>& output = c.token_ids ? gru.forward(tokens, &h0) : gru.forward(x, c.batch, &h0);
    double value = output.cwiseProduct(d_output).sum();
    if (c.final_state_gradient) value += gru.final_state().h.cwiseProduct(d_final.h).sum();
    return value;
  };

  auto parameters = gru.parameters();
  zero_gradients(parameters);
  loss();
  gru.backward(d_output, c.final_state_gradient ? &d_final : nullptr);
  std::vector<Matrix<double>> analytic;
  for (const auto& p : parameters) analytic.push_back(*p.gradient);
  const Matrix<double> d_x = gru.has_input_gradient() ? gru.input_gradient() : Matrix<double>();
  const Matrix<double> d_h0 = gru.initial_state_gradient().h;

  for (size_t k = 0; k < parameters.size(); ++k) {
    SEQLM_CHECK_GRADIENT(parameters[k].name, analytic[k],
                         seqlm::testing::numerical_gradient(*parameters[k].value, loss));
  }
  SEQLM_CHECK_GRADIENT("initial h", d_h0, seqlm::testing::numerical_gradient(h0.h, loss));
  if (c.token_ids) {
    CHECK(d_x.size() == 0);
  } else {
    SEQLM_CHECK_GRADIENT("input", d_x, seqlm::testing::numerical_gradient(x, loss));
  }
}

TEST_CASE("GRU gradients match finite differences") {
  const std::vector<GradientCase> cases = {
      // I, H, T, B, return_sequences, ids, d_final
      {3, 4, 5, 2, true, false, false}, {3, 5, 1, 1, true, false, false},  {4, 3, 1, 1, false, false, true},
      {5, 9, 4, 1, false, false, true}, {2, 7, 3, 4, false, false, false}, {6, 5, 3, 3, true, true, true},
      {7, 4, 4, 2, false, true, false}, {4, 6, 2, 3, true, false, true},
  };
  for (bool reset_after : {true, false}) {
    for (const auto& c : cases) check_gradients(c, reset_after);
  }
}

TEST_CASE("GRU token ids behave exactly like one-hot inputs") {
  for (bool reset_after : {true, false}) {
    Rng rng(5);
    GRUOptions options;
    options.reset_after = reset_after;
    options.return_sequences = true;
    GRU<double> gru = make_gru<double>(6, 5, options, rng);
    const Index T = 4, B = 3;
    const std::vector<TokenId> ids = random_ids(T * B, 6, rng);
    const Matrix<double> d_output = random_matrix(5, T * B, rng);

    auto parameters = gru.parameters();
    zero_gradients(parameters);
    const Matrix<double> from_ids = gru.forward(TokenView(ids, T, B));
    gru.backward(d_output);
    std::vector<Matrix<double>> ids_gradients;
    for (const auto& p : parameters) ids_gradients.push_back(*p.gradient);
    const Matrix<double> ids_h0_gradient = gru.initial_state_gradient().h;

    zero_gradients(parameters);
    const Matrix<double> from_dense = gru.forward(one_hot(ids, 6), B);
    gru.backward(d_output);
    CHECK(max_abs_diff(from_ids, from_dense) <= 1e-14);
    for (size_t k = 0; k < parameters.size(); ++k) {
      INFO(parameters[k].name);
      CHECK(max_abs_diff(ids_gradients[k], *parameters[k].gradient) <= 1e-13);
    }
    CHECK(max_abs_diff(ids_h0_gradient, gru.initial_state_gradient().h) <= 1e-14);
  }
}

TEST_CASE("GRU gradients accumulate across backward calls") {
  Rng rng(9);
  GRU<double> gru = make_gru<double>(3, 4, {}, rng);
  const Matrix<double> x = random_matrix(3, 6, rng);
  const Matrix<double> d_output = random_matrix(4, 2, rng);
  auto parameters = gru.parameters();
  zero_gradients(parameters);
  gru.forward(x, 2);
  gru.backward(d_output);
  std::vector<Matrix<double>> once;
  for (const auto& p : parameters) once.push_back(*p.gradient);
  gru.backward(d_output);
  for (size_t k = 0; k < parameters.size(); ++k)
    CHECK(max_abs_diff(*parameters[k].gradient, 2 * once[k]) <= 1e-14);
}

// Truncated BPTT over the whole sequence must equal running the chunks [0, k), [k, 2k), ...
// one after another, each starting from the previous chunk's final state as a constant.
void check_truncation(bool reset_after, Index chunk, bool token_ids) {
  INFO("reset_after=", reset_after, " truncate=", chunk, " ids=", token_ids);
  const Index I = 5, H = 6, T = 7, B = 2;
  Rng rng(21);
  GRUOptions options;
  options.reset_after = reset_after;
  options.return_sequences = true;
  GRU<double> gru = make_gru<double>(I, H, options, rng);
  const Matrix<double> x = random_matrix(I, T * B, rng);
  const std::vector<TokenId> ids = random_ids(T * B, I, rng);
  const RecurrentState<double> h0 = state_of<double>(random_matrix(H, B, rng));
  const Matrix<double> d_output = random_matrix(H, T * B, rng);
  const RecurrentState<double> d_final = state_of<double>(random_matrix(H, B, rng));
  auto parameters = gru.parameters();

  zero_gradients(parameters);
  const Matrix<double> full_output =
      token_ids ? gru.forward(TokenView(ids, T, B), &h0) : gru.forward(x, B, &h0);
  gru.backward(d_output, &d_final, chunk);
  std::vector<Matrix<double>> truncated;
  for (const auto& p : parameters) truncated.push_back(*p.gradient);
  const Matrix<double> truncated_dx = gru.has_input_gradient() ? gru.input_gradient() : Matrix<double>();
  const Matrix<double> truncated_dh0 = gru.initial_state_gradient().h;

  zero_gradients(parameters);
  RecurrentState<double> carried = h0;
  Matrix<double> chunked_dx(I, T * B);
  Matrix<double> chunked_dh0;
  for (Index start = 0; start < T; start += chunk) {
    const Index steps = std::min(chunk, T - start);
    const bool last = start + steps == T;
    const Matrix<double>& output = token_ids
                                       ? gru.forward(TokenView(ids.data() + start * B, steps, B), &carried)
                                       : gru.forward(x.middleCols(start * B, steps * B), B, &carried);
    CHECK(max_abs_diff(output, full_output.middleCols(start * B, steps * B)) <= 1e-14);
    carried = gru.final_state();
    gru.backward(d_output.middleCols(start * B, steps * B), last ? &d_final : nullptr);
    if (!token_ids) chunked_dx.middleCols(start * B, steps * B) = gru.input_gradient();
    if (start == 0) chunked_dh0 = gru.initial_state_gradient().h;
  }
  for (size_t k = 0; k < parameters.size(); ++k) {
    INFO(parameters[k].name);
    CHECK(testing::relative_error(truncated[k], *parameters[k].gradient) <= 1e-13);
  }
  if (!token_ids) CHECK(testing::relative_error(truncated_dx, chunked_dx) <= 1e-13);
  CHECK(testing::relative_error(truncated_dh0, chunked_dh0) <= 1e-13);
}

TEST_CASE("GRU truncated BPTT equals chunked training with a detached state") {
  for (bool reset_after : {true, false}) {
    for (Index chunk : {1, 2, 3, 7}) check_truncation(reset_after, chunk, false);
    check_truncation(reset_after, 3, true);
  }
  // truncate >= T cuts nothing: the same as truncate = 0.
  Rng rng(4);
  GRU<double> gru = make_gru<double>(3, 4, {}, rng);
  const Matrix<double> x = random_matrix(3, 8, rng);
  const Matrix<double> d_output = random_matrix(4, 2, rng);
  gru.forward(x, 2);
  auto parameters = gru.parameters();
  zero_gradients(parameters);
  gru.backward(d_output);
  const Matrix<double> untruncated = *parameters[1].gradient;
  zero_gradients(parameters);
  gru.backward(d_output, nullptr, 4);
  CHECK(max_abs_diff(untruncated, *parameters[1].gradient) == 0.0);
}

// ---- streaming --------------------------------------------------------------------------

template <class S>
void check_streaming(bool reset_after, bool token_ids, Index batch, double tolerance) {
  INFO("reset_after=", reset_after, " ids=", token_ids, " B=", batch, " scalar bytes=", sizeof(S));
  const Index I = 7, H = 11, T = 5;
  Rng rng(33);
  GRUOptions options;
  options.reset_after = reset_after;
  options.return_sequences = true;
  GRU<S> gru = make_gru<S>(I, H, options, rng);
  const Matrix<S> x = random_of<S>(I, T * batch, rng);
  const std::vector<TokenId> ids = random_ids(T * batch, I, rng);
  const RecurrentState<S> h0 = state_of<S>(random_of<S>(H, batch, rng));
  const Matrix<S> output =
      token_ids ? gru.forward(TokenView(ids, T, batch), &h0) : gru.forward(x, batch, &h0);

  typename GRU<S>::State state = gru.make_state(batch);
  CHECK(state.h.isZero(0));
  state.h = h0.h;
  for (Index t = 0; t < T; ++t) {
    if (token_ids) {
      gru.step(ids.data() + t * batch, state);
    } else {
      gru.step(x.middleCols(t * batch, batch), state);
    }
    const Matrix<double> expected = output.middleCols(t * batch, batch).template cast<double>();
    CHECK(max_abs_diff(state.h.template cast<double>(), expected) <= tolerance);
  }
}

TEST_CASE("GRU streaming steps equal the full forward pass") {
  for (bool reset_after : {true, false}) {
    for (bool token_ids : {false, true}) {
      for (Index batch : {1, 3}) {
        check_streaming<double>(reset_after, token_ids, batch, 1e-13);
        check_streaming<float>(reset_after, token_ids, batch, 1e-5);
      }
    }
  }
}

// ---- validation -------------------------------------------------------------------------

TEST_CASE("GRU rejects bad input with messages that say what and where") {
  check_throws<value_error>([] { GRU<double>(0, 4); }, {"GRU", "input size", "positive", "0"});
  check_throws<value_error>([] { GRU<double>(3, -2); }, {"GRU", "units", "-2"});

  Rng rng(1);
  GRU<double> gru = make_gru<double>(4, 3, {}, rng);
  const Matrix<double> d_last = Matrix<double>::Zero(3, 2);
  check_throws<value_error>([&] { gru.backward(d_last); }, {"GRU", "backward", "before forward"});

  check_throws<shape_error>([&] { gru.forward(Matrix<double>::Zero(5, 6), 2); },
                            {"GRU", "input has 5 rows, expected 4"});
  check_throws<shape_error>([&] { gru.forward(Matrix<double>::Zero(4, 7), 2); },
                            {"GRU", "7 columns", "batch size 2"});
  check_throws<value_error>([&] { gru.forward(Matrix<double>::Zero(4, 0), 2); }, {"GRU", "0 steps"});
  check_throws<value_error>([&] { gru.forward(Matrix<double>::Zero(4, 6), 0); }, {"GRU", "batch size", "0"});
  const RecurrentState<double> wrong_state = state_of<double>(Matrix<double>::Zero(3, 3));
  check_throws<shape_error>([&] { gru.forward(Matrix<double>::Zero(4, 6), 2, &wrong_state); },
                            {"GRU", "initial state", "3x3", "expected 3x2"});

  const std::vector<TokenId> ids = {0, 3, 4, 1};
  check_throws<value_error>([&] { gru.forward(TokenView(ids, 2, 2)); }, {"GRU", "token id 4", "[0, 4)"});
  check_throws<value_error>([&] { gru.forward(TokenView(ids.data(), 0, 2)); }, {"GRU", "0 steps"});

  gru.forward(Matrix<double>::Zero(4, 6), 2);  // T = 3, B = 2, last step only
  check_throws<shape_error>([&] { gru.backward(Matrix<double>::Zero(3, 6)); },
                            {"GRU", "output gradient", "3x6", "expected 3x2"});
  check_throws<shape_error>([&] { gru.backward(d_last, &wrong_state); },
                            {"GRU", "final state gradient", "3x3", "expected 3x2"});
  check_throws<value_error>([&] { gru.backward(d_last, nullptr, -1); }, {"GRU", "truncate", "-1"});

  check_throws<value_error>([&] { gru.make_state(0); }, {"GRU", "batch size"});
  auto state = gru.make_state(2);
  check_throws<shape_error>([&] { gru.step(Matrix<double>::Zero(4, 3), state); },
                            {"GRU", "step input", "4x3", "expected 4x2"});
  const TokenId bad_ids[] = {1, 9};
  check_throws<value_error>([&] { gru.step(bad_ids, state); }, {"GRU", "token id 9", "sequence 1"});
  check_throws<value_error>([&] { gru.step(static_cast<const TokenId*>(nullptr), state); }, {"GRU", "null"});
  state.h = Matrix<double>::Zero(5, 2);
  check_throws<shape_error>([&] { gru.step(Matrix<double>::Zero(4, 2), state); },
                            {"GRU", "step state h has 5 rows, expected 3"});
  // A state built by hand (no scratch space yet) works.
  typename GRU<double>::State manual;
  manual.h = Matrix<double>::Zero(3, 2);
  gru.step(ids.data(), manual);
  CHECK(manual.h.allFinite());
}

// ---- no allocation on repeated calls -----------------------------------------------------

template <class S>
void check_no_reallocation(bool reset_after) {
  INFO("reset_after=", reset_after, " scalar bytes=", sizeof(S));
  const Index I = 6, H = 8, T = 4, B = 3;
  Rng rng(8);
  GRUOptions options;
  options.reset_after = reset_after;
  options.return_sequences = true;
  GRU<S> gru = make_gru<S>(I, H, options, rng);
  const Matrix<S> x = random_of<S>(I, T * B, rng);
  const std::vector<TokenId> ids = random_ids(T * B, I, rng);
  const RecurrentState<S> h0 = state_of<S>(random_of<S>(H, B, rng));
  const Matrix<S> d_output = random_of<S>(H, T * B, rng);
  const RecurrentState<S> d_final = state_of<S>(random_of<S>(H, B, rng));
  auto states = gru.make_state(B);
  auto single = gru.make_state(1);

  auto run_all = [&] {
    gru.forward(x, B, &h0);
    gru.backward(d_output, &d_final, 2);
    gru.step(x.leftCols(B), states);
    gru.step(x.leftCols(1), single);
    gru.step(ids.data(), states);
  };
  auto run_ids = [&] {
    gru.forward(TokenView(ids, T, B), &h0);
    gru.backward(d_output, &d_final);
  };
  run_all();  // first calls size the buffers
  const S* output_data = gru.output().data();
  const S* input_gradient_data = gru.input_gradient().data();
  eigen_assertion_failures = 0;
  Eigen::internal::set_is_malloc_allowed(false);
  run_all();
  Eigen::internal::set_is_malloc_allowed(true);
  CHECK(eigen_assertion_failures == 0);
  CHECK(gru.output().data() == output_data);
  CHECK(gru.input_gradient().data() == input_gradient_data);

  run_ids();
  eigen_assertion_failures = 0;
  Eigen::internal::set_is_malloc_allowed(false);
  run_ids();
  Eigen::internal::set_is_malloc_allowed(true);
  CHECK(eigen_assertion_failures == 0);
}

TEST_CASE("GRU allocates nothing on a second call with the same shapes") {
  for (bool reset_after : {true, false}) {
    check_no_reallocation<double>(reset_after);
    check_no_reallocation<float>(reset_after);
  }
  // The guard itself works: a new allocation while forbidden is counted.
  eigen_assertion_failures = 0;
  Eigen::internal::set_is_malloc_allowed(false);
  Matrix<double> fresh(64, 64);
  Eigen::internal::set_is_malloc_allowed(true);
  CHECK(eigen_assertion_failures > 0);
  eigen_assertion_failures = 0;
}
