/// \file
/// The state a recurrent layer carries from one step to the next.
#pragma once

#include "../tensor.hpp"
#include "contract.hpp"

namespace seqlm {

/// h (and for an LSTM also c) as (units x batch) matrices: column b is sequence b.
/// A GRU leaves c empty. Used for initial states in, final states out, their gradients,
/// and by the streaming step API.
template <class Scalar>
struct RecurrentState {
  Matrix<Scalar> h;
  Matrix<Scalar> c;
};

namespace detail {

// The input gradient of a recurrent layer's last backward, or a value_error naming the layer:
// before any backward, or after token ids (which are not differentiable).
template <class Scalar>
const Matrix<Scalar>& checked_input_gradient(const char* where, bool has_gradients, bool token_ids,
                                             const Matrix<Scalar>& gradient) {
  if (!has_gradients) throw value_error(make_message(where, ": input_gradient() called before backward()"));
  if (token_ids) {
    throw value_error(make_message(
        where, ": input_gradient() is not defined for token-id inputs (the ids are not differentiable)"));
  }
  return gradient;
}

// The contract's copy_sequence of a recurrent layer: column b of h (and of c) into column to_b.
template <class Scalar>
void copy_recurrent_sequence(const char* where, const RecurrentState<Scalar>& from, Index b,
                             RecurrentState<Scalar>& to, Index to_b) {
  check_sequence_index(where, "source", b, from.h.cols());
  check_sequence_index(where, "target", to_b, to.h.cols());
  const auto same_shape = [](const Matrix<Scalar>& c, const Matrix<Scalar>& h) {
    return c.size() == 0 || (c.rows() == h.rows() && c.cols() == h.cols());
  };
  if (from.h.rows() != to.h.rows() || (from.c.size() == 0) != (to.c.size() == 0) || !same_shape(from.c, from.h) ||
      !same_shape(to.c, to.h)) {
    throw shape_error(make_message(where, " copy_sequence: a state of ", from.h.rows(), " units into one of ",
                                   to.h.rows(), " (use make_state of the same layer)"));
  }
  to.h.col(to_b) = from.h.col(b);
  if (from.c.size() > 0) to.c.col(to_b) = from.c.col(b);
}

// The contract's step of a recurrent layer (LSTM, GRU) through its typed steps: token ids or
// features advance `state`, then out = the new h (H x B; no allocation once out has the shape).
template <class Recurrent, class Scalar, class State>
void recurrent_step(const char* where, const Recurrent& layer, const LayerInput<Scalar>& input, State& state,
                    Matrix<Scalar>& out) {
  check_step_batch(where, input.batch, state.h.cols());
  if (input.is_tokens()) {
    layer.step(input.tokens.ids, state);
  } else {
    layer.step(*input.features, state);
  }
  out = state.h;
}

}  // namespace detail

}  // namespace seqlm
