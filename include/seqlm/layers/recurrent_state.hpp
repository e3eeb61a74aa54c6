// The state a recurrent layer carries from one step to the next.
#pragma once

#include "../tensor.hpp"

namespace seqlm {

// h (and for an LSTM also c) as (units x batch) matrices: column b is sequence b.
// A GRU leaves c empty. Used for initial states in, final states out, their gradients,
// and by the streaming step API.
template <class Scalar>
struct RecurrentState {
  Matrix<Scalar> h;
  Matrix<Scalar> c;
};

}  // namespace seqlm
