// Tests of the Dense layer: parameter counts, initialisation, gradients by finite differences,
// parity with torch.nn.functional.linear, the streaming step(), buffer reuse and errors.
#include <doctest/doctest.h>

#include <seqlm/layers/dense.hpp>
#include <string>

#include "golden.hpp"
#include "gradcheck.hpp"
#include "test_helpers.hpp"

namespace dense_tests {

using namespace seqlm;
using testing::random_matrix;

namespace {

template <class S>
void set_parameter(Dense<S>& layer, const std::string& name, const Matrix<double>& value) {
  for (auto& p : layer.parameters()) {
    if (p.name == name) {
      REQUIRE(p.value->rows() == value.rows());
      REQUIRE(p.value->cols() == value.cols());
      *p.value = value.cast<S>();
      return;
    }
  }
  FAIL("no parameter ", name);
}

using seqlm::testing::check_throws_with;

}  // namespace

TEST_CASE("Dense parameter counts and names match Keras") {
  CHECK(count_parameters(Dense<float>(128, 57).parameters()) == 7353);
  CHECK(count_parameters(Dense<float>(100, 3582).parameters()) == 361782);
  CHECK(count_parameters(Dense<double>(128, 86).parameters()) == 11094);
  CHECK(count_parameters(Dense<double>(128, 60).parameters()) == 7740);

  Dense<float> layer(128, 57);
  const auto params = layer.parameters();
  REQUIRE(params.size() == 2);
  CHECK(params[0].name == "kernel");
  CHECK(params[0].value->rows() == 57);
  CHECK(params[0].value->cols() == 128);
  CHECK(params[1].name == "bias");
  CHECK(params[1].value->rows() == 57);
  CHECK(params[1].value->cols() == 1);
}

TEST_CASE("Dense initialize: glorot_uniform kernel and zero bias") {
  Dense<float> layer(128, 57);
  Rng rng(11);
  layer.initialize(rng);
  const double limit = std::sqrt(6.0 / (128 + 57));
  CHECK(layer.kernel().maxCoeff() <= limit);
  CHECK(layer.kernel().minCoeff() >= -limit);
  CHECK(layer.kernel().maxCoeff() > 0.9 * limit);
  CHECK(layer.kernel().minCoeff() < -0.9 * limit);
  CHECK(layer.bias().isZero(0));
}

TEST_CASE("Dense backward matches finite differences") {
  struct Shape {
    Index in, units, columns;
  };
  for (const Shape shape : {Shape{5, 4, 6}, Shape{3, 7, 1}, Shape{1, 1, 3}, Shape{6, 2, 12}}) {
    CAPTURE(shape.in);
    CAPTURE(shape.units);
    CAPTURE(shape.columns);
    Rng rng(static_cast<std::uint64_t>(shape.in * 100 + shape.units * 10 + shape.columns));
    Dense<double> layer(shape.in, shape.units);
    layer.initialize(rng);
    set_parameter(layer, "bias", random_matrix(shape.units, 1, rng));
    Matrix<double> x = random_matrix(shape.in, shape.columns, rng);
    const Matrix<double> r = random_matrix(shape.units, shape.columns, rng);  // L = sum(y .* r)
    auto params = layer.parameters();
    Matrix<double>& kernel = *params[0].value;
    Matrix<double>& bias = *params[1].value;
    auto loss = [&] { return layer.forward(x).cwiseProduct(r).sum(); };

    zero_gradients(params);
    layer.forward(x);
    layer.backward(r);
    const Matrix<double> dx = layer.input_gradient();
    SEQLM_CHECK_GRADIENT("x", dx, testing::numerical_gradient(x, loss));
    SEQLM_CHECK_GRADIENT("kernel", *params[0].gradient, testing::numerical_gradient(kernel, loss));
    SEQLM_CHECK_GRADIENT("bias", *params[1].gradient, testing::numerical_gradient(bias, loss));

    // backward accumulates: a second call doubles the parameter gradients, not dx.
    const Matrix<double> d_kernel_once = *params[0].gradient;
    layer.forward(x);
    layer.backward(r);
    CHECK((*params[0].gradient - 2 * d_kernel_once).norm() <= 1e-12 * (1 + d_kernel_once.norm()));
    CHECK((layer.input_gradient() - dx).norm() == 0);
  }
}

template <class S>
void check_linear_golden(double tolerance) {
  const auto golden = testing::read_golden("dense_linear.txt");
  const Matrix<double>& x = testing::get(golden, "x");
  const Matrix<double>& kernel = testing::get(golden, "kernel");
  Dense<S> layer(kernel.cols(), kernel.rows());
  set_parameter(layer, "kernel", kernel);
  set_parameter(layer, "bias", testing::get(golden, "bias"));
  const Matrix<S> xs = x.cast<S>();

  const Matrix<double> y = layer.forward(xs).template cast<double>();
  CHECK(testing::relative_error(y, testing::get(golden, "y")) <= tolerance);

  auto params = layer.parameters();
  zero_gradients(params);
  layer.backward(testing::get(golden, "dy").cast<S>());
  CHECK(testing::relative_error(layer.input_gradient().template cast<double>(), testing::get(golden, "dx")) <=
        tolerance);
  CHECK(testing::relative_error(params[0].gradient->template cast<double>(),
                                testing::get(golden, "d_kernel")) <= tolerance);
  CHECK(testing::relative_error(params[1].gradient->template cast<double>(),
                                testing::get(golden, "d_bias")) <= tolerance);

  // step() gives the same numbers without touching the cached state, for N columns and for one.
  Matrix<S> out(kernel.rows(), x.cols());
  layer.step(xs, out);
  CHECK(testing::relative_error(out.template cast<double>(), testing::get(golden, "y")) <= tolerance);
  Matrix<S> one(kernel.rows(), 1);
  for (Index n = 0; n < x.cols(); ++n) {
    layer.step(xs.col(n), one);
    CHECK(testing::relative_error(one.template cast<double>(), testing::get(golden, "y").col(n)) <=
          tolerance);
  }
}

TEST_CASE("Dense forward and backward match torch.nn.functional.linear") {
  check_linear_golden<double>(1e-12);
  check_linear_golden<float>(1e-5);
}

TEST_CASE("Dense forward is time-distributed and reuses its buffers") {
  Rng rng(5);
  Dense<float> layer(8, 3);
  layer.initialize(rng);
  set_parameter(layer, "bias", random_matrix(3, 1, rng));
  const Matrix<float> x = random_matrix(8, 4 * 2, rng).cast<float>();  // T = 4 steps, B = 2

  const Matrix<float>& y = layer.forward(x);
  const float* output_memory = y.data();
  // Column t*B + b depends only on column t*B + b of x.
  for (Index k = 0; k < x.cols(); ++k) {
    const Vector<float> expected = layer.kernel() * x.col(k) + layer.bias().col(0);
    CHECK((y.col(k) - expected).norm() <= 1e-5f);
  }
  layer.backward(Matrix<float>::Ones(3, 8));
  const float* gradient_memory = layer.input_gradient().data();
  // Same shapes again: same memory (no reallocation).
  CHECK(layer.forward(x).data() == output_memory);
  layer.backward(Matrix<float>::Ones(3, 8));
  CHECK(layer.input_gradient().data() == gradient_memory);
}

TEST_CASE("Dense reports bad input naming the layer") {
  CHECK_THROWS_AS(Dense<float>(0, 3), value_error);
  CHECK_THROWS_AS(Dense<float>(4, -1), value_error);

  Dense<double> layer(4, 3);
  check_throws_with<value_error>([&] { layer.backward(Matrix<double>::Zero(3, 2)); },
                                 "Dense: backward() called");
  check_throws_with<shape_error>([&] { layer.forward(Matrix<double>::Zero(5, 2)); },
                                 "Dense: input has 5 rows, expected 4");
  check_throws_with<value_error>([&] { layer.forward(Matrix<double>::Zero(4, 0)); },
                                 "Dense: input has no columns");
  layer.forward(Matrix<double>::Zero(4, 2));
  check_throws_with<shape_error>([&] { layer.backward(Matrix<double>::Zero(3, 5)); },
                                 "Dense: d_output has shape 3x5, expected 3x2");

  Matrix<double> out(3, 2);
  check_throws_with<shape_error>([&] { layer.step(Matrix<double>::Zero(4, 3), out); },
                                 "Dense step: output has shape 3x2, expected 3x3");
  check_throws_with<shape_error>([&] { layer.step(Matrix<double>::Zero(2, 2), out); },
                                 "Dense step: input has 2");
  Matrix<double> both = Matrix<double>::Zero(4, 4);  // the output block would overwrite part of x
  check_throws_with<value_error>([&] { layer.step(both.leftCols(2), both.block(1, 1, 3, 2)); },
                                 "Dense step: output overlaps the input");
  CHECK_NOTHROW(layer.step(both.leftCols(2), out));
}

}  // namespace dense_tests
