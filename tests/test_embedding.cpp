// Embedding: parameter counts and initialiser, gather forward, streaming step, scatter-add
// gradient against finite differences, and bad input.
#include <doctest/doctest.h>

#include <seqlm/layers/embedding.hpp>
#include <string>
#include <vector>

#include "gradcheck.hpp"

namespace embedding_tests {

using namespace seqlm;
using seqlm::testing::random_matrix;

namespace {

void check_message_contains(const std::string& message, const char* expected) {
  INFO("message: ", message);
  CHECK(message.find(expected) != std::string::npos);
}

}  // namespace

TEST_CASE("Embedding parameter counts and Keras initialisation") {
  Embedding<float> chars(86, 16);
  CHECK(count_parameters(chars.parameters()) == 1376);
  CHECK(count_parameters(Embedding<double>(3582, 10).parameters()) == 35820);
  auto params = chars.parameters();
  REQUIRE(params.size() == 1);
  CHECK(params[0].name == "embeddings");
  CHECK(params[0].value->rows() == 16);  // (dim x vocabulary)
  CHECK(params[0].value->cols() == 86);

  Rng rng(1);
  chars.initialize(rng);
  CHECK(chars.embeddings().maxCoeff() <= 0.05f);
  CHECK(chars.embeddings().minCoeff() >= -0.05f);
  CHECK(chars.embeddings().maxCoeff() > 0.045f);
  CHECK(chars.embeddings().minCoeff() < -0.045f);
}

TEST_CASE_TEMPLATE("Embedding forward gathers columns and step agrees", Scalar, float, double) {
  Embedding<Scalar> layer(7, 4);
  Rng rng(2);
  layer.initialize(rng);
  const std::vector<TokenId> ids = {3, 0, 6, 3, 3, 1};  // T = 3 steps of B = 2, time-major
  const Matrix<Scalar> y = layer.forward(TokenView(ids, 3, 2));
  REQUIRE(y.rows() == 4);
  REQUIRE(y.cols() == 6);
  for (Index k = 0; k < 6; ++k) CHECK(y.col(k) == layer.embeddings().col(ids[k]));

  Matrix<Scalar> out(4, 2);
  for (Index t = 0; t < 3; ++t) {
    layer.step(ids.data() + t * 2, 2, out);
    CHECK(out == y.middleCols(t * 2, 2));
  }
}

TEST_CASE("Embedding backward is a scatter-add matching finite differences") {
  struct Shape {
    Index steps, batch;
  };
  for (Shape shape : {Shape{1, 1}, Shape{4, 3}, Shape{1, 5}, Shape{6, 1}}) {
    INFO("T=", shape.steps, " B=", shape.batch);
    Embedding<double> layer(5, 3);
    Rng rng(static_cast<std::uint64_t>(10 * shape.steps + shape.batch));
    layer.initialize(rng);
    std::vector<TokenId> ids(static_cast<size_t>(shape.steps * shape.batch));
    for (auto& id : ids) id = static_cast<TokenId>(rng.below(5));  // repeats are likely
    const TokenView tokens(ids, shape.steps, shape.batch);
    const Matrix<double> r = random_matrix(3, tokens.size(), rng);

    auto params = layer.parameters();
    auto loss = [&] { return layer.forward(tokens).cwiseProduct(r).sum(); };
    zero_gradients(params);
    layer.forward(tokens);
    layer.backward(r);
    const Matrix<double> analytic = *params[0].gradient;
    SEQLM_CHECK_GRADIENT("embeddings", analytic, seqlm::testing::numerical_gradient(*params[0].value, loss));

    layer.backward(r);  // gradients accumulate
    CHECK((*params[0].gradient - 2 * analytic).norm() <= 1e-12 * analytic.norm());
  }
}

TEST_CASE("Embedding rejects bad input with messages naming the layer") {
  CHECK_THROWS_AS(Embedding<float>(0, 4), value_error);
  CHECK_THROWS_AS(Embedding<float>(10, -1), value_error);

  Embedding<float> layer(5, 3);
  try {
    layer.backward(Matrix<float>::Zero(3, 2));
    FAIL("expected value_error");
  } catch (const value_error& e) {
    check_message_contains(e.what(), "Embedding: backward() called before forward()");
  }

  const std::vector<TokenId> bad = {0, 1, 9, 2};
  try {
    layer.forward(TokenView(bad, 2, 2));
    FAIL("expected value_error");
  } catch (const value_error& e) {
    check_message_contains(e.what(), "Embedding: token id 9 at step 1, sequence 0");
  }
  const std::vector<TokenId> negative = {0, -1};
  CHECK_THROWS_AS(layer.forward(TokenView(negative, 1, 2)), value_error);
  CHECK_THROWS_AS(layer.forward(TokenView(bad.data(), 0, 2)), value_error);  // empty
  CHECK_THROWS_AS(layer.forward(TokenView(nullptr, 1, 1)), value_error);
  CHECK_THROWS_AS(layer.forward(TokenView(bad.data(), 1, 0)), value_error);

  const std::vector<TokenId> ids = {0, 1, 4, 2};
  layer.forward(TokenView(ids, 2, 2));
  try {
    layer.backward(Matrix<float>::Zero(3, 3));
    FAIL("expected shape_error");
  } catch (const shape_error& e) {
    check_message_contains(e.what(), "Embedding: d_output has shape 3x3, expected 3x4");
  }

  Matrix<float> out(3, 2);
  try {
    layer.step(bad.data() + 2, 2, out);
    FAIL("expected value_error");
  } catch (const value_error& e) {
    check_message_contains(e.what(), "Embedding step: token id 9");
  }
  Matrix<float> wrong_out(2, 2);
  CHECK_THROWS_AS(layer.step(ids.data(), 2, wrong_out), shape_error);
}

}  // namespace embedding_tests
