// Finite-difference gradient checking, shared by the layer tests.
//
// A layer test defines a scalar loss L(params, inputs) -- usually sum(output .* R) for a
// fixed random R, so that dL/doutput = R -- and compares the analytic gradient from
// backward() with central differences (L(x+eps) - L(x-eps)) / (2 eps) in double precision.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <seqlm/random.hpp>
#include <seqlm/tensor.hpp>

namespace seqlm::testing {

// Numerical gradient of loss() with respect to every entry of `x`, which loss() must read.
// `x` is perturbed in place and restored.
template <class Loss>
Matrix<double> numerical_gradient(Matrix<double>& x, Loss&& loss, double eps = 1e-6) {
  Matrix<double> gradient(x.rows(), x.cols());
  for (Index k = 0; k < x.size(); ++k) {
    const double saved = x.data()[k];
    x.data()[k] = saved + eps;
    const double plus = loss();
    x.data()[k] = saved - eps;
    const double minus = loss();
    x.data()[k] = saved;
    gradient.data()[k] = (plus - minus) / (2 * eps);
  }
  return gradient;
}

// ||a - b|| / max(||a||, ||b||), or the absolute difference when both are ~0.
inline double relative_error(const Matrix<double>& a, const Matrix<double>& b) {
  REQUIRE(a.rows() == b.rows());
  REQUIRE(a.cols() == b.cols());
  const double scale = std::max(a.norm(), b.norm());
  const double diff = (a - b).norm();
  return scale < 1e-12 ? diff : diff / scale;
}

// A matrix of U(-1, 1) entries from a seeded generator.
inline Matrix<double> random_matrix(Index rows, Index cols, Rng& rng, double scale = 1.0) {
  Matrix<double> m(rows, cols);
  for (Index k = 0; k < m.size(); ++k) m.data()[k] = scale * rng.uniform(-1.0, 1.0);
  return m;
}

// Checks analytic vs numerical gradient of one tensor with a helpful failure message.
#define SEQLM_CHECK_GRADIENT(name, analytic, numerical)                                     \
  do {                                                                                      \
    const double seqlm_rel_err = ::seqlm::testing::relative_error((analytic), (numerical)); \
    INFO("gradient of ", name, ": relative error ", seqlm_rel_err);                         \
    CHECK(seqlm_rel_err <= 1e-6);                                                           \
  } while (false)

}  // namespace seqlm::testing
