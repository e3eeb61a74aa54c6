/// \file
/// Weight initialisers with Keras's defaults and semantics.
///
/// seqlm stores a weight that maps n_in inputs to n_out outputs as an (n_out x n_in)
/// matrix (y = W x), which is Keras's (n_in x n_out) kernel transposed. fan_in / fan_out
/// are passed explicitly because for a convolution they include the kernel width.
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

#include "error.hpp"
#include "math/simd.hpp"
#include "random.hpp"
#include "tensor.hpp"

namespace seqlm::init {

/// U(low, high) for every entry.
template <class Scalar>
void uniform(Matrix<Scalar>& w, double low, double high, Rng& rng) {
  for (Index k = 0; k < w.size(); ++k) w.data()[k] = static_cast<Scalar>(rng.uniform(low, high));
}

/// Glorot/Xavier uniform: U(-limit, limit) with limit = sqrt(6 / (fan_in + fan_out)).
template <class Scalar>
void glorot_uniform(Matrix<Scalar>& w, Index fan_in, Index fan_out, Rng& rng) {
  const double limit = std::sqrt(6.0 / static_cast<double>(fan_in + fan_out));
  uniform(w, -limit, limit, rng);
}

/// Keras Orthogonal(gain=1): the Q of the QR decomposition of a Gaussian matrix of shape
/// (max, min) with diag(R) > 0, which makes Q uniformly distributed; transposed when wide.
/// A tall (rows >= cols) result has orthonormal columns, a wide one orthonormal rows.
///
/// Q is computed by modified Gram-Schmidt in double precision: column j loses its component
/// along each earlier column in turn, twice ("twice is enough": the result is orthonormal to
/// rounding, like Householder QR), and is then normalised.
/// Gram-Schmidt's R has diag(R) = the column norms > 0, so this is exactly the sign-fixed Q
/// that Keras takes from a Householder QR, without instantiating Eigen's QR in every program
/// that includes seqlm (that was over a quarter of the compile time of a training program).
template <class Scalar>
void orthogonal(Matrix<Scalar>& w, Rng& rng) {
  const Index rows = w.rows(), cols = w.cols();
  const Index tall = std::max(rows, cols), narrow = std::min(rows, cols);
  // q: tall x narrow, column-major; the Gaussian matrix, drawn column by column, becomes Q.
  std::vector<double> q(static_cast<std::size_t>(tall * narrow));
  for (double& value : q) value = rng.normal();
  const auto column = [&](Index j) { return q.data() + j * tall; };
  const auto remove_component = [&](Index i, Index j) {  // column j -= (q_i . column j) q_i
    simd::subtract_scaled(column(j), simd::dot(column(i), column(j), tall), column(i), tall);
  };
  // Panels of up to 16 columns, so that each earlier column is read from memory once per
  // panel and pass rather than once per column and pass (the panel stays in cache).
  constexpr Index panel_width = 16;
  for (Index first = 0; first < narrow; first += panel_width) {
    const Index end = std::min(narrow, first + panel_width);
    for (int pass = 0; pass < 2; ++pass) {  // against the finished columns [0, first)
      for (Index i = 0; i < first; ++i) {
        for (Index j = first; j < end; ++j) remove_component(i, j);
      }
    }
    for (Index j = first; j < end; ++j) {  // against the panel's earlier columns, then normalise
      for (int pass = 0; pass < 2; ++pass) {
        for (Index i = first; i < j; ++i) remove_component(i, j);
      }
      const double norm = std::sqrt(simd::dot(column(j), column(j), tall));
      // A Gaussian matrix is rank-deficient with probability 0; this guards a broken generator.
      if (!(norm > 0) || !std::isfinite(norm)) {
        throw numeric_error(
            detail::make_message("init::orthogonal: column ", j,
                                 " of the random matrix is linearly dependent on the earlier ones"));
      }
      for (Index k = 0; k < tall; ++k) column(j)[k] /= norm;
    }
  }
  for (Index r = 0; r < rows; ++r) {
    for (Index c = 0; c < cols; ++c) {
      const std::size_t at =
          static_cast<std::size_t>(rows >= cols ? c * tall + r : r * tall + c);  // Q or Q^T
      w(r, c) = static_cast<Scalar>(q[at]);
    }
  }
}

}  // namespace seqlm::init
