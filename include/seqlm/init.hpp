// Weight initialisers with Keras's defaults and semantics.
//
// seqlm stores a weight that maps n_in inputs to n_out outputs as an (n_out x n_in)
// matrix (y = W x), which is Keras's (n_in x n_out) kernel transposed. fan_in / fan_out
// are passed explicitly because for a convolution they include the kernel width.
#pragma once

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "error.hpp"
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

// Keras Orthogonal(gain=1): the Q of the QR decomposition of a Gaussian matrix of shape
// (max, min) with diag(R) > 0, which makes Q uniformly distributed; transposed when wide.
// A tall (rows >= cols) result has orthonormal columns, a wide one orthonormal rows.
//
// Q is computed by modified Gram-Schmidt in double precision, each column orthogonalised
// twice against the earlier ones ("twice is enough": orthonormal to rounding, like
// Householder QR). Gram-Schmidt's R has diag(R) = the column norms > 0, so this is exactly
// the sign-fixed Q that Keras takes from a Householder QR, without instantiating Eigen's QR
// in every program that includes seqlm (it was over a quarter of the compile time).
template <class Scalar>
void orthogonal(Matrix<Scalar>& w, Rng& rng) {
  const Index rows = w.rows(), cols = w.cols();
  const Index tall = std::max(rows, cols), narrow = std::min(rows, cols);
  // q: (tall x narrow), column-major; drawn column by column like the Gaussian matrix.
  std::vector<double> q(static_cast<std::size_t>(tall * narrow));
  for (double& value : q) value = rng.normal();
  for (Index j = 0; j < narrow; ++j) {
    double* column = q.data() + j * tall;
    for (int pass = 0; pass < 2; ++pass) {
      for (Index i = 0; i < j; ++i) {  // column -= (q_i . column) q_i
        const double* earlier = q.data() + i * tall;
        double projection = 0;
        for (Index k = 0; k < tall; ++k) projection += earlier[k] * column[k];
        for (Index k = 0; k < tall; ++k) column[k] -= projection * earlier[k];
      }
    }
    double squared_norm = 0;
    for (Index k = 0; k < tall; ++k) squared_norm += column[k] * column[k];
    const double norm = std::sqrt(squared_norm);
    // A Gaussian matrix is rank-deficient with probability 0; this guards a broken generator.
    if (!(norm > 0) || !std::isfinite(norm)) {
      throw numeric_error("init::orthogonal: the random matrix's column " + std::to_string(j) +
                          " is linearly dependent on the earlier ones (norm " + std::to_string(norm) + ")");
    }
    for (Index k = 0; k < tall; ++k) column[k] /= norm;
  }
  for (Index r = 0; r < rows; ++r) {
    for (Index c = 0; c < cols; ++c) {
      const double value = rows >= cols ? q[static_cast<std::size_t>(c * tall + r)]   // w = Q
                                        : q[static_cast<std::size_t>(r * tall + c)];  // w = Q^T
      w(r, c) = static_cast<Scalar>(value);
    }
  }
}

}  // namespace seqlm::init
