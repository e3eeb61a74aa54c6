// Inverted dropout: expectation preserved, dropped fraction ~ rate, determinism for a seed,
// gradient = mask (also by finite differences), inference identity, and bad input.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <seqlm/layers/dropout.hpp>
#include <string>

#include "gradcheck.hpp"

namespace dropout_tests {

using namespace seqlm;
using seqlm::testing::random_matrix;

TEST_CASE_TEMPLATE("Dropout keeps the expectation and drops a fraction ~rate", Scalar, float, double) {
  for (double rate : {0.1, 0.3, 0.5, 0.9}) {
    INFO("rate ", rate);
    Dropout<Scalar> layer(rate);
    Rng rng(17);
    const Matrix<Scalar> x = Matrix<Scalar>::Ones(200, 500);  // 100,000 elements
    const Matrix<Scalar>& y = layer.forward(x, true, rng);
    const Scalar keep_scale = static_cast<Scalar>(1.0 / (1.0 - rate));
    Index zeros = 0;
    bool only_zero_or_scale = true;
    for (Index k = 0; k < y.size(); ++k) {
      zeros += y.data()[k] == Scalar(0);
      only_zero_or_scale &= y.data()[k] == Scalar(0) || y.data()[k] == keep_scale;
    }
    CHECK(only_zero_or_scale);
    const double dropped = double(zeros) / double(y.size());
    CHECK(std::abs(dropped - rate) < 0.01);  // sd of the fraction <= 0.0016
    const double mean = double(y.template cast<double>().mean());
    CHECK(std::abs(mean - 1.0) < 0.05);  // sd of the mean <= 0.01 (rate 0.9)
    CHECK(layer.masked());
    CHECK(layer.mask() == y);  // x = 1, so y is the mask
  }
}

TEST_CASE("Dropout is deterministic for a seed and draws in a fixed order") {
  Dropout<double> layer(0.4);
  Rng rng_a(123), rng_b(123), rng_c(124);
  const Matrix<double> x = Matrix<double>::Ones(7, 9);
  const Matrix<double> a = layer.forward(x, true, rng_a);
  const Matrix<double> b = layer.forward(x, true, rng_b);
  const Matrix<double> c = layer.forward(x, true, rng_c);
  CHECK(a == b);
  CHECK(a != c);
  CHECK(rng_a.next() == rng_b.next());  // both consumed exactly 63 uniforms

  Rng reference(123);  // element k is kept iff the k-th uniform (column-major) >= rate
  for (Index k = 0; k < a.size(); ++k) CHECK((a.data()[k] != 0) == (reference.uniform() >= 0.4));
}

TEST_CASE_TEMPLATE("Dropout gradient is the mask", Scalar, float, double) {
  Dropout<Scalar> layer(0.25);
  Rng rng(9), data_rng(3);
  const Matrix<Scalar> x = random_matrix(6, 10, data_rng).cast<Scalar>();
  const Matrix<Scalar> d = random_matrix(6, 10, data_rng).cast<Scalar>();
  const Matrix<Scalar> y = layer.forward(x, true, rng);
  CHECK(y == x.cwiseProduct(layer.mask()));
  layer.backward(d);
  CHECK(layer.input_gradient() == d.cwiseProduct(layer.mask()));
}

TEST_CASE("Dropout backward matches finite differences for a fixed mask") {
  Dropout<double> layer(0.5);
  Rng data_rng(5);
  Matrix<double> x = random_matrix(4, 6, data_rng);
  const Matrix<double> r = random_matrix(4, 6, data_rng);
  Rng rng(0);
  auto loss = [&] {
    rng.reseed(77);  // same mask every call
    return layer.forward(x, true, rng).cwiseProduct(r).sum();
  };
  loss();
  layer.backward(r);
  const Matrix<double> analytic = layer.input_gradient();
  SEQLM_CHECK_GRADIENT("input", analytic, seqlm::testing::numerical_gradient(x, loss));
  CHECK(analytic.cwiseAbs().minCoeff() == 0.0);  // some elements were dropped
}

TEST_CASE_TEMPLATE("Dropout is the identity at inference and for rate 0", Scalar, float, double) {
  Rng data_rng(8);
  const Matrix<Scalar> x = random_matrix(5, 4, data_rng).cast<Scalar>();
  const Matrix<Scalar> d = random_matrix(5, 4, data_rng).cast<Scalar>();

  Dropout<Scalar> layer(0.5);
  Rng rng(1);
  const auto before = rng.snapshot();
  CHECK(layer.forward(x, false, rng) == x);
  CHECK(!layer.masked());
  CHECK(rng.snapshot().words == before.words);  // no draws at inference
  layer.backward(d);
  CHECK(layer.input_gradient() == d);

  // Inference after a training pass: the old mask must not leak into backward.
  layer.forward(x, true, rng);
  layer.forward(x, false, rng);
  layer.backward(d);
  CHECK(layer.input_gradient() == d);

  Dropout<Scalar> no_drop(0.0);
  CHECK(no_drop.forward(x, true, rng) == x);
  no_drop.backward(d);
  CHECK(no_drop.input_gradient() == d);
  CHECK(no_drop.parameters().empty());
}

TEST_CASE("Dropout rejects bad input with messages naming the layer") {
  for (double rate : {-0.1, 1.0, 1.5, std::numeric_limits<double>::quiet_NaN()}) {
    CHECK_THROWS_AS(Dropout<float>{rate}, value_error);
  }
  try {
    Dropout<float> layer(1.0);
    FAIL("expected value_error");
  } catch (const value_error& e) {
    CHECK(std::string(e.what()).find("Dropout: rate must be in [0, 1), got 1") != std::string::npos);
  }

  Dropout<float> layer(0.5);
  Rng rng(2);
  try {
    layer.backward(Matrix<float>::Zero(2, 2));
    FAIL("expected value_error");
  } catch (const value_error& e) {
    CHECK(std::string(e.what()).find("Dropout: backward() called before forward()") != std::string::npos);
  }
  CHECK_THROWS_AS(layer.forward(Matrix<float>(0, 3), true, rng), value_error);
  layer.forward(Matrix<float>::Ones(2, 3), true, rng);
  try {
    layer.backward(Matrix<float>::Zero(3, 2));
    FAIL("expected shape_error");
  } catch (const shape_error& e) {
    CHECK(std::string(e.what()).find("Dropout: d_output has shape 3x2, expected 2x3") != std::string::npos);
  }
}

}  // namespace dropout_tests
