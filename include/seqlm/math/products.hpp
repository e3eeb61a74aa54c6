// The layers' Eigen matrix products, written in one place:
//
//   multiply(C, A, B)               C = A B        (..., Update::accumulate: C += A B)
//   multiply_transposed_a(C, A, B)  C = A^T B      (W^T dZ: input gradients)
//   multiply_transposed_b(C, A, B)  C = A B^T      (dZ X^T: weight gradients)
//
// Every operand is passed as an Eigen::Ref (a view with a column stride; no copy for a
// matrix, a block of columns or rows, or a column), so each form is one Eigen instantiation
// per scalar type that every layer shares. Written inline as `c.noalias() = a * b`, each
// distinct operand type (a matrix, a block, a column, their transposes) instantiates Eigen's
// whole product machinery again; that was a large part of the time it takes to compile a
// program that uses seqlm (docs/performance.md, "Compile time").
//
// C must already have the result's shape (a Ref cannot resize it): shape_error otherwise.
// Eigen turns a product with one column into a matrix-vector product at run time, so batch-1
// streaming needs no separate branch. The recurrent per-step products do not come here: they
// use seqlm's own packed GEMM (math/gemm.hpp).
#pragma once

#include "../error.hpp"
#include "../tensor.hpp"
#include "gemm.hpp"

namespace seqlm::products {

using gemm::Update;

namespace detail {

template <class Scalar>
void check_result_shape(const char* form, Index rows, Index cols, const Eigen::Ref<Matrix<Scalar>>& c) {
  if (c.rows() != rows || c.cols() != cols) {
    throw shape_error(seqlm::detail::make_message("products::", form, ": the result is ", c.rows(), " x ",
                                                  c.cols(), ", the product ", rows, " x ", cols));
  }
}

template <class Scalar>
void multiply(Eigen::Ref<Matrix<Scalar>> c, const Eigen::Ref<const Matrix<Scalar>>& a,
              const Eigen::Ref<const Matrix<Scalar>>& b, Update update) {
  if (a.cols() != b.rows()) {
    throw shape_error(seqlm::detail::make_message("products::multiply: A is ", a.rows(), " x ", a.cols(),
                                                  ", B is ", b.rows(), " x ", b.cols()));
  }
  check_result_shape<Scalar>("multiply", a.rows(), b.cols(), c);
  if (update == Update::accumulate) {
    c.noalias() += a * b;
  } else {
    c.noalias() = a * b;
  }
}

template <class Scalar>
void multiply_transposed_a(Eigen::Ref<Matrix<Scalar>> c, const Eigen::Ref<const Matrix<Scalar>>& a,
                           const Eigen::Ref<const Matrix<Scalar>>& b, Update update) {
  if (a.rows() != b.rows()) {
    throw shape_error(seqlm::detail::make_message("products::multiply_transposed_a: A is ", a.rows(), " x ",
                                                  a.cols(), ", B is ", b.rows(), " x ", b.cols()));
  }
  check_result_shape<Scalar>("multiply_transposed_a", a.cols(), b.cols(), c);
  if (update == Update::accumulate) {
    c.noalias() += a.transpose() * b;
  } else {
    c.noalias() = a.transpose() * b;
  }
}

template <class Scalar>
void multiply_transposed_b(Eigen::Ref<Matrix<Scalar>> c, const Eigen::Ref<const Matrix<Scalar>>& a,
                           const Eigen::Ref<const Matrix<Scalar>>& b, Update update) {
  if (a.cols() != b.cols()) {
    throw shape_error(seqlm::detail::make_message("products::multiply_transposed_b: A is ", a.rows(), " x ",
                                                  a.cols(), ", B is ", b.rows(), " x ", b.cols()));
  }
  check_result_shape<Scalar>("multiply_transposed_b", a.rows(), b.rows(), c);
  if (update == Update::accumulate) {
    c.noalias() += a * b.transpose();
  } else {
    c.noalias() = a * b.transpose();
  }
}

}  // namespace detail

// The public forms take any dense Eigen expression (a Matrix, a block, a column, a Ref) and
// pass it on as a Ref of its scalar type, so the product itself is instantiated only once.
template <class C, class A, class B>
void multiply(C&& c, const A& a, const B& b, Update update = Update::overwrite) {
  detail::multiply<typename A::Scalar>(c, a, b, update);
}

template <class C, class A, class B>
void multiply_transposed_a(C&& c, const A& a, const B& b, Update update = Update::overwrite) {
  detail::multiply_transposed_a<typename A::Scalar>(c, a, b, update);
}

template <class C, class A, class B>
void multiply_transposed_b(C&& c, const A& a, const B& b, Update update = Update::overwrite) {
  detail::multiply_transposed_b<typename A::Scalar>(c, a, b, update);
}

}  // namespace seqlm::products
