/// \file
/// A trainable tensor as the optimizers, gradient checks and model files see it:
/// a name (Keras's: "kernel", "recurrent_kernel", "bias", "embeddings"), the value and
/// the gradient accumulated by backward(). Both point into the owning layer.
#pragma once

#include <string>
#include <vector>

#include "tensor.hpp"

namespace seqlm {

template <class Scalar>
struct Parameter {
  std::string name;
  Matrix<Scalar>* value = nullptr;
  Matrix<Scalar>* gradient = nullptr;
};

template <class Scalar>
using ParameterList = std::vector<Parameter<Scalar>>;

/// The read-only view of a parameter, from a const layer or model.
template <class Scalar>
struct ConstParameter {
  std::string name;
  const Matrix<Scalar>* value = nullptr;
  const Matrix<Scalar>* gradient = nullptr;
};

template <class Scalar>
using ConstParameterList = std::vector<ConstParameter<Scalar>>;

template <class List>
Index count_parameters(const List& parameters) {
  Index total = 0;
  for (const auto& p : parameters) total += p.value->size();
  return total;
}

template <class Scalar>
void zero_gradients(const ParameterList<Scalar>& parameters) {
  for (const auto& p : parameters) p.gradient->setZero();
}

}  // namespace seqlm
