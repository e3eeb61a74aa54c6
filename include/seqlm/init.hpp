// Weight initialisers with Keras's defaults and semantics.
//
// seqlm stores a weight that maps n_in inputs to n_out outputs as an (n_out x n_in)
// matrix (y = W x), which is Keras's (n_in x n_out) kernel transposed. fan_in / fan_out
// are passed explicitly because for a convolution they include the kernel width.
#pragma once

#include <Eigen/QR>
#include <algorithm>
#include <cmath>

#include "random.hpp"
#include "tensor.hpp"

namespace seqlm::init {

// U(low, high) for every entry.
template <class Scalar>
void uniform(Matrix<Scalar>& w, double low, double high, Rng& rng) {
  for (Index k = 0; k < w.size(); ++k) w.data()[k] = static_cast<Scalar>(rng.uniform(low, high));
}

// Glorot/Xavier uniform: U(-limit, limit) with limit = sqrt(6 / (fan_in + fan_out)).
template <class Scalar>
void glorot_uniform(Matrix<Scalar>& w, Index fan_in, Index fan_out, Rng& rng) {
  const double limit = std::sqrt(6.0 / static_cast<double>(fan_in + fan_out));
  uniform(w, -limit, limit, rng);
}

// Keras Orthogonal(gain=1): QR of a Gaussian matrix of shape (max, min), columns' signs
// fixed by diag(R) so the result is uniformly distributed; transposed when wide.
// A tall (rows >= cols) result has orthonormal columns, a wide one orthonormal rows.
template <class Scalar>
void orthogonal(Matrix<Scalar>& w, Rng& rng) {
  const Index rows = w.rows(), cols = w.cols();
  const Index tall = std::max(rows, cols), narrow = std::min(rows, cols);
  Matrix<double> gaussian(tall, narrow);
  for (Index k = 0; k < gaussian.size(); ++k) gaussian.data()[k] = rng.normal();
  Eigen::HouseholderQR<Matrix<double>> qr(gaussian);
  Matrix<double> q = qr.householderQ() * Matrix<double>::Identity(tall, narrow);
  const Matrix<double> r = qr.matrixQR().topRows(narrow).template triangularView<Eigen::Upper>();
  for (Index j = 0; j < narrow; ++j) {
    if (r(j, j) < 0) q.col(j) = -q.col(j);
  }
  if (rows >= cols) {
    w = q.cast<Scalar>();
  } else {
    w = q.transpose().cast<Scalar>();
  }
}

}  // namespace seqlm::init
