/// \file
/// Tensor conventions used throughout seqlm.
///
/// Everything is an Eigen column-major matrix. Sequences are TIME-MAJOR: a batch of B
/// sequences of T steps with F features is a matrix of F rows and T*B columns, where
/// column t*B + b holds step t of sequence b. Consequences that the layers rely on:
///   * the B columns of one time step are contiguous (values.middleCols(t*B, B)), so a
///     recurrent step is one GEMM on a contiguous block;
///   * a projection of all steps at once is one GEMM on the whole matrix;
///   * shifting a sequence by s steps in time is an offset of s*B columns (causal Conv1D).
///
/// Token ids follow the same order: ids[t*B + b].
#pragma once

#include <Eigen/Core>
#include <cstdint>
#include <string>
#include <vector>

#include "error.hpp"

namespace seqlm {

using Index = Eigen::Index;
using TokenId = std::int32_t;

template <class Scalar>
using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
template <class Scalar>
using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;

template <class Scalar>
using MatrixRef = Eigen::Ref<Matrix<Scalar>>;
template <class Scalar>
using ConstMatrixRef = Eigen::Ref<const Matrix<Scalar>>;

/// A read-only, time-major view of token ids: ids[t * batch + b]. Holds no memory.
struct TokenView {
  const TokenId* ids = nullptr;
  Index steps = 0;
  Index batch = 0;

  TokenView() = default;
  TokenView(const TokenId* ids_, Index steps_, Index batch_) : ids(ids_), steps(steps_), batch(batch_) {}
  TokenView(const std::vector<TokenId>& ids_, Index steps_, Index batch_)
      : ids(ids_.data()), steps(steps_), batch(batch_) {
    if (static_cast<Index>(ids_.size()) != steps_ * batch_) {
      throw shape_error(detail::make_message("TokenView: ", ids_.size(), " ids do not fill ", steps_,
                                             " steps x ", batch_, " sequences"));
    }
  }

  Index size() const { return steps * batch; }
  TokenId operator()(Index t, Index b) const { return ids[t * batch + b]; }
};

namespace detail {

// Shape checks shared by the layers. `where` names the layer (and argument) for the message.
inline void check_positive(const char* where, const char* what, Index value) {
  if (value <= 0) {
    throw value_error(make_message(where, ": ", what, " must be positive, got ", value));
  }
}

inline void check_rows(const char* where, const char* what, Index actual, Index expected) {
  if (actual != expected) {
    throw shape_error(make_message(where, ": ", what, " has ", actual, " rows, expected ", expected));
  }
}

inline void check_cols(const char* where, const char* what, Index actual, Index expected) {
  if (actual != expected) {
    throw shape_error(make_message(where, ": ", what, " has ", actual, " columns, expected ", expected));
  }
}

template <class Derived>
void check_shape(const char* where, const char* what, const Eigen::EigenBase<Derived>& m, Index rows,
                 Index cols) {
  if (m.rows() != rows || m.cols() != cols) {
    throw shape_error(make_message(where, ": ", what, " has shape ", m.rows(), "x", m.cols(), ", expected ",
                                   rows, "x", cols));
  }
}

// Checks that a time-major matrix of T*B columns splits into whole steps of `batch` columns.
inline Index steps_of(const char* where, Index cols, Index batch) {
  check_positive(where, "batch size", batch);
  if (cols == 0) throw value_error(make_message(where, ": empty sequence (0 steps)"));
  if (cols % batch != 0) {
    throw shape_error(
        make_message(where, ": input has ", cols, " columns, not a multiple of batch size ", batch));
  }
  return cols / batch;
}

inline void check_tokens(const char* where, const TokenView& tokens, Index vocabulary_size) {
  check_positive(where, "batch size", tokens.batch);
  if (tokens.steps <= 0) throw value_error(make_message(where, ": empty sequence (0 steps)"));
  if (tokens.ids == nullptr) throw value_error(make_message(where, ": token view has no data"));
  for (Index k = 0; k < tokens.size(); ++k) {
    const TokenId id = tokens.ids[k];
    if (id < 0 || id >= vocabulary_size) {
      throw value_error(make_message(where, ": token id ", id, " at step ", k / tokens.batch, ", sequence ",
                                     k % tokens.batch, " is outside the vocabulary [0, ", vocabulary_size,
                                     ")"));
    }
  }
}

}  // namespace detail
}  // namespace seqlm
