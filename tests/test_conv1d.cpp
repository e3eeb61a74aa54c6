// Causal Conv1D: parameter count and initialiser, parity with torch.nn.functional.conv1d
// (golden files), finite-difference gradients, streaming == forward, and bad input.
#include <doctest/doctest.h>

#include <cmath>
#include <seqlm/layers/conv1d.hpp>
#include <string>
#include <vector>

#include "golden.hpp"
#include "gradcheck.hpp"

namespace conv1d_tests {

using namespace seqlm;
using seqlm::testing::random_matrix;

namespace {

// A layer configuration and the shape of the batch it is run on.
struct ConvCase {
  Index in, filters, kernel_size, dilation;
  Activation activation;
  Index steps, batch;
};

const char* activation_name(Activation a) { return a == Activation::relu ? "relu" : "none"; }

template <class Scalar>
Conv1D<Scalar> make_layer(const ConvCase& c) {
  typename Conv1D<Scalar>::Options options;
  options.dilation = c.dilation;
  options.activation = c.activation;
  return Conv1D<Scalar>(c.in, c.filters, c.kernel_size, options);
}

// Sets kernel and bias to U(-1, 1) (bias scaled by 0.5) from `rng`.
template <class Scalar>
void randomize(Conv1D<Scalar>& layer, Rng& rng) {
  auto params = layer.parameters();
  *params[0].value =
      random_matrix(params[0].value->rows(), params[0].value->cols(), rng).template cast<Scalar>();
  *params[1].value = random_matrix(params[1].value->rows(), 1, rng, 0.5).template cast<Scalar>();
}

void check_error_names(const std::string& message, const char* expected) {
  INFO("message: ", message);
  CHECK(message.find(expected) != std::string::npos);
}

}  // namespace

TEST_CASE("Conv1D parameter count, names and Keras initialisation") {
  Conv1D<float> layer(16, 32, 3);  // Keras Conv1D(32, 3) on 16 channels
  auto params = layer.parameters();
  REQUIRE(params.size() == 2);
  CHECK(params[0].name == "kernel");
  CHECK(params[1].name == "bias");
  CHECK(params[0].value->rows() == 32);
  CHECK(params[0].value->cols() == 3 * 16);
  CHECK(count_parameters(params) == 1568);

  Rng rng(5);
  layer.initialize(rng);
  const double limit = std::sqrt(6.0 / (3 * 16 + 3 * 32));  // glorot with fan_in = k*in, fan_out = k*filters
  CHECK(layer.kernel().maxCoeff() <= limit);
  CHECK(layer.kernel().minCoeff() >= -limit);
  CHECK(layer.kernel().maxCoeff() > 0.9 * limit);
  CHECK(layer.bias().isZero());
  CHECK(layer.receptive_history() == 2);
  Conv1D<double> dilated(4, 4, 3, {4, Activation::relu});
  CHECK(dilated.receptive_history() == 8);
}

TEST_CASE_TEMPLATE("Conv1D forward matches torch conv1d with causal padding", Scalar, float, double) {
  const double tolerance = std::is_same_v<Scalar, float> ? 1e-5 : 1e-12;
  for (const char* file : {"conv1d_k3_d1_none.txt", "conv1d_k2_d2_relu.txt", "conv1d_k3_d2_relu_short.txt",
                           "conv1d_k1_d1_relu.txt"}) {
    INFO("golden file ", file);
    const auto golden = seqlm::testing::read_golden(file);
    const Matrix<double>& config = seqlm::testing::get(golden, "config");
    const ConvCase c{Index(config(0)),
                     Index(config(1)),
                     Index(config(2)),
                     Index(config(3)),
                     config(4) != 0 ? Activation::relu : Activation::none,
                     Index(config(5)),
                     Index(config(6))};
    auto layer = make_layer<Scalar>(c);
    auto params = layer.parameters();
    *params[0].value = seqlm::testing::get(golden, "kernel").cast<Scalar>();
    *params[1].value = seqlm::testing::get(golden, "bias").cast<Scalar>();
    const Matrix<Scalar> x = seqlm::testing::get(golden, "x").cast<Scalar>();
    const Matrix<double> y = layer.forward(x, c.batch).template cast<double>();
    const Matrix<double>& expected = seqlm::testing::get(golden, "y");
    REQUIRE(y.rows() == expected.rows());
    REQUIRE(y.cols() == expected.cols());
    const double error = (y - expected).cwiseAbs().maxCoeff();
    INFO("max abs error ", error);
    CHECK(error <= tolerance);
  }
}

TEST_CASE("Conv1D backward matches finite differences (input, kernel, bias)") {
  const std::vector<ConvCase> cases = {
      {3, 4, 3, 1, Activation::none, 5, 2},                                        // ordinary
      {3, 4, 3, 1, Activation::relu, 5, 2}, {2, 3, 2, 2, Activation::relu, 6, 3},  // dilation 2
      {2, 3, 3, 2, Activation::none, 3, 2},  // T = 3 < (k-1)*d + 1 = 5: tap 0 sees only padding
      {2, 3, 3, 2, Activation::relu, 2, 1},  // B = 1, short
      {4, 2, 3, 1, Activation::none, 1, 3},  // T = 1
      {3, 3, 1, 1, Activation::relu, 4, 1},  // k = 1 (pointwise)
      {1, 1, 2, 3, Activation::none, 1, 1},  // everything 1
  };
  for (const ConvCase& c : cases) {
    INFO("in=", c.in, " filters=", c.filters, " k=", c.kernel_size, " d=", c.dilation,
         " act=", activation_name(c.activation), " T=", c.steps, " B=", c.batch);
    auto layer = make_layer<double>(c);
    auto linear_twin =
        make_layer<double>({c.in, c.filters, c.kernel_size, c.dilation, Activation::none, c.steps, c.batch});
    Matrix<double> x, weights_r;
    // For relu, pick a seed whose pre-activations all stay >= 1e-3 away from the kink, so
    // that +-1e-6 perturbations never cross it.
    bool away_from_kink = false;
    for (std::uint64_t seed = 1; seed <= 200 && !away_from_kink; ++seed) {
      Rng rng(seed);
      randomize(layer, rng);
      x = random_matrix(c.in, c.steps * c.batch, rng);
      weights_r = random_matrix(c.filters, c.steps * c.batch, rng);
      *linear_twin.parameters()[0].value = layer.kernel();
      *linear_twin.parameters()[1].value = layer.bias();
      away_from_kink =
          c.activation == Activation::none || linear_twin.forward(x, c.batch).cwiseAbs().minCoeff() >= 1e-3;
    }
    REQUIRE(away_from_kink);

    auto params = layer.parameters();
    auto loss = [&] { return layer.forward(x, c.batch).cwiseProduct(weights_r).sum(); };
    zero_gradients(params);
    layer.forward(x, c.batch);
    layer.backward(weights_r);  // dL/dY = R
    const Matrix<double> d_input = layer.input_gradient();
    const Matrix<double> d_kernel = *params[0].gradient;
    const Matrix<double> d_bias = *params[1].gradient;

    SEQLM_CHECK_GRADIENT("input", d_input, seqlm::testing::numerical_gradient(x, loss));
    SEQLM_CHECK_GRADIENT("kernel", d_kernel, seqlm::testing::numerical_gradient(*params[0].value, loss));
    SEQLM_CHECK_GRADIENT("bias", d_bias, seqlm::testing::numerical_gradient(*params[1].value, loss));
  }
}

TEST_CASE("Conv1D gradients accumulate and buffers follow shape changes") {
  const ConvCase c{3, 4, 3, 2, Activation::relu, 5, 2};
  Rng rng(11);
  auto layer = make_layer<double>(c);
  randomize(layer, rng);
  const Matrix<double> x = random_matrix(3, 10, rng);
  const Matrix<double> r = random_matrix(4, 10, rng);
  auto params = layer.parameters();
  layer.forward(x, 2);
  layer.backward(r);
  const Matrix<double> once = *params[0].gradient;
  const Matrix<double> bias_once = *params[1].gradient;
  layer.backward(r);
  CHECK((*params[0].gradient - 2 * once).norm() <= 1e-12 * once.norm());
  CHECK((*params[1].gradient - 2 * bias_once).norm() <= 1e-12 * bias_once.norm());

  // A different shape in between, then the first one again: same results.
  const Matrix<double> y_first = layer.forward(x, 2);
  layer.backward(r);
  const Matrix<double> dx_first = layer.input_gradient();
  const Matrix<double> x_other = random_matrix(3, 3, rng);
  layer.forward(x_other, 1);
  layer.backward(random_matrix(4, 3, rng));
  CHECK(layer.input_gradient().cols() == 3);
  CHECK(layer.forward(x, 2) == y_first);
  layer.backward(r);
  CHECK(layer.input_gradient() == dx_first);
  // The same input viewed as 5 steps of 2 or as 10 steps of 1 is not the same sequence.
  CHECK(layer.forward(x, 1) != y_first);
}

TEST_CASE_TEMPLATE("Conv1D streaming steps reproduce forward", Scalar, float, double) {
  const double tolerance = std::is_same_v<Scalar, float> ? 1e-5 : 1e-12;
  for (Index kernel_size : {1, 2, 3}) {
    for (Index dilation : {1, 2}) {
      for (Index batch : {1, 3}) {
        for (Activation activation : {Activation::none, Activation::relu}) {
          const Index steps = 7;  // longer than every history, so the ring wraps
          INFO("k=", kernel_size, " d=", dilation, " B=", batch, " act=", activation_name(activation));
          auto layer = make_layer<Scalar>({3, 5, kernel_size, dilation, activation, steps, batch});
          Rng rng(static_cast<std::uint64_t>(kernel_size * 100 + dilation * 10 + batch));
          randomize(layer, rng);
          const Matrix<Scalar> x = random_matrix(3, steps * batch, rng).cast<Scalar>();
          const Matrix<Scalar> y = layer.forward(x, batch);

          auto state = layer.make_state(batch);
          Matrix<Scalar> out(5, batch);
          double worst = 0;
          for (Index t = 0; t < steps; ++t) {
            layer.step(x.middleCols(t * batch, batch), state, out);
            worst = std::max(worst, double((out - y.middleCols(t * batch, batch)).cwiseAbs().maxCoeff()));
          }
          INFO("max abs difference ", worst);
          CHECK(worst <= tolerance);
        }
      }
    }
  }
}

TEST_CASE("Conv1D streaming states are independent") {
  Conv1D<double> layer(2, 3, 3, {2, Activation::none});
  Rng rng(4);
  randomize(layer, rng);
  const Matrix<double> a = random_matrix(2, 6, rng), b = random_matrix(2, 6, rng);
  const Matrix<double> ya = layer.forward(a, 1), yb = layer.forward(b, 1);
  auto state_a = layer.make_state(1), state_b = layer.make_state(1);
  Matrix<double> out(3, 1);
  for (Index t = 0; t < 6; ++t) {  // interleaved
    layer.step(a.col(t), state_a, out);
    CHECK((out - ya.col(t)).norm() <= 1e-12);
    layer.step(b.col(t), state_b, out);
    CHECK((out - yb.col(t)).norm() <= 1e-12);
  }
}

TEST_CASE("Conv1D rejects bad input with messages naming the layer") {
  CHECK_THROWS_AS(Conv1D<float>(0, 4, 3), value_error);
  CHECK_THROWS_AS(Conv1D<float>(3, -1, 3), value_error);
  CHECK_THROWS_AS(Conv1D<float>(3, 4, 0), value_error);
  CHECK_THROWS_AS(Conv1D<float>(3, 4, 2, {0, Activation::none}), value_error);
  try {
    Conv1D<float>(3, 4, 2, {-2, Activation::none});
    FAIL("expected value_error");
  } catch (const value_error& e) {
    check_error_names(e.what(), "Conv1D: dilation must be positive, got -2");
  }

  Conv1D<float> layer(3, 4, 2);
  const Matrix<float> x = Matrix<float>::Ones(3, 6);
  try {
    layer.backward(Matrix<float>::Zero(4, 6));
    FAIL("expected value_error");
  } catch (const value_error& e) {
    check_error_names(e.what(), "Conv1D: backward() called before forward()");
  }
  try {
    layer.forward(Matrix<float>::Ones(2, 6), 2);
    FAIL("expected shape_error");
  } catch (const shape_error& e) {
    check_error_names(e.what(), "Conv1D: input has 2 rows, expected 3");
  }
  try {
    layer.forward(x, 4);
    FAIL("expected shape_error");
  } catch (const shape_error& e) {
    check_error_names(e.what(), "Conv1D: input has 6 columns, not a multiple of batch size 4");
  }
  CHECK_THROWS_AS(layer.forward(Matrix<float>(3, 0), 1), value_error);
  CHECK_THROWS_AS(layer.forward(x, 0), value_error);

  layer.forward(x, 2);
  try {
    layer.backward(Matrix<float>::Zero(4, 4));
    FAIL("expected shape_error");
  } catch (const shape_error& e) {
    check_error_names(e.what(), "Conv1D: d_output has shape 4x4, expected 4x6");
  }

  CHECK_THROWS_AS(layer.make_state(0), value_error);
  auto state = layer.make_state(2);
  Matrix<float> out(4, 2);
  try {
    layer.step(Matrix<float>::Ones(3, 1), state, out);
    FAIL("expected shape_error");
  } catch (const shape_error& e) {
    check_error_names(e.what(), "Conv1D step: input has shape 3x1, expected 3x2");
  }
  Matrix<float> wrong_out(3, 2);
  CHECK_THROWS_AS(layer.step(Matrix<float>::Ones(3, 2), state, wrong_out), shape_error);
  auto foreign = Conv1D<float>(3, 4, 3).make_state(2);  // history of a different kernel size
  CHECK_THROWS_AS(layer.step(Matrix<float>::Ones(3, 2), foreign, out), shape_error);
  state.position = 5;
  try {
    layer.step(Matrix<float>::Ones(3, 2), state, out);
    FAIL("expected shape_error");
  } catch (const shape_error& e) {
    check_error_names(e.what(), "Conv1D step: state");
  }
}

}  // namespace conv1d_tests
