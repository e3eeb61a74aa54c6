/// \file
/// The layers' one-off matrix products (everything but the recurrent per-step products, which
/// multiply by a matrix packed once per pass: gemm::PackedMatrix), written in one place:
///
/// ```text
///   multiply(C, A, B)               C = A B        (..., Update::accumulate: C += A B)
///   multiply_transposed_a(C, A, B)  C = A^T B      (W^T dZ: input gradients)
///   multiply_transposed_b(C, A, B)  C = A B^T      (dZ X^T: weight gradients)
/// ```
///
/// Every operand is passed as an Eigen::Ref (a view with a column stride; no copy for a
/// matrix, a block of columns or rows, or a column). C must already have the result's shape
/// (a Ref cannot resize it): shape_error otherwise.
///
/// The products run on seqlm's GEMM (math/gemm.hpp), not Eigen's:
///   * one column (a streaming step of one sequence, A B with B a vector): the matrix-vector
///     kernel gemm::multiply_vector, which reads A in place;
///   * otherwise gemm::Multiplier, one per thread (its packing buffers grow on the first calls
///     and are then reused: no allocation on repeated shapes);
///   * with GEMM threads (parallel.hpp) a large product is cut into as many parts as threads,
///     along the longer side of C, on register-tile boundaries; each part is an ordinary
///     product on its own thread. Every element of C is the same sum, in the same order, in
///     every part and for every split, so the result has the same bits on 1 thread or many.
///
/// Eigen's GEMM is not instantiated at all: it made a training program markedly slower to
/// compile, and it allocates its blocking buffers on every large call (the measurements are in
/// docs/performance.md, "GEMM strategy" and "Compile time").
#pragma once

#include <algorithm>
#include <exception>

#include "../error.hpp"
#include "../tensor.hpp"
#include "gemm.hpp"

#if defined(EIGEN_HAS_OPENMP)
#include <omp.h>
#endif

namespace seqlm::products {

using gemm::Update;

namespace detail {

// Below this many multiply-adds per thread a product runs on one thread (Eigen's own rule).
inline constexpr double min_work_per_thread = 50000.0;

template <class Scalar>
void check_result_shape(const char* form, Index rows, Index cols, const Eigen::Ref<Matrix<Scalar>>& c) {
  if (c.rows() != rows || c.cols() != cols) {
    throw shape_error(seqlm::detail::make_message("products::", form, ": the result is ", c.rows(), " x ",
                                                  c.cols(), ", the product ", rows, " x ", cols));
  }
}

// The calling thread's multiplier.
template <class Scalar>
gemm::Multiplier<Scalar>& thread_multiplier() {
  thread_local gemm::Multiplier<Scalar> multiplier;
  return multiplier;
}

// How many threads an m x n x k product uses: the GEMM threads, fewer for a small product,
// one inside a parallel region (no nested teams).
inline Index product_threads(Index m, Index n, Index k) {
#if defined(EIGEN_HAS_OPENMP)
  if (omp_in_parallel()) return 1;
  const double work = static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
  const Index by_work = static_cast<Index>(work / min_work_per_thread);
  return std::max<Index>(1, std::min<Index>(Eigen::nbThreads(), by_work));
#else
  (void)m, (void)n, (void)k;
  return 1;
#endif
}

// [first, first + length) of part `part` of `parts` over `size`, cut on multiples of `unit`.
inline void part_range(Index size, Index unit, Index part, Index parts, Index& first, Index& length) {
  const Index units = (size + unit - 1) / unit;
  first = std::min(size, part * units / parts * unit);
  const Index end = std::min(size, (part + 1) * units / parts * unit);
  length = end - first;
}

// C (m x n) = or += op(A) op(B), shapes already checked.
template <class Scalar>
void run(Eigen::Ref<Matrix<Scalar>> c, const Eigen::Ref<const Matrix<Scalar>>& a, gemm::Op op_a,
         const Eigen::Ref<const Matrix<Scalar>>& b, gemm::Op op_b, Update update) {
  const Index m = c.rows(), n = c.cols(), k = op_a == gemm::Op::none ? a.cols() : a.rows();
  if (n == 1 && op_a == gemm::Op::none) {  // y = A x
    gemm::multiply_vector(m, k, a.data(), a.outerStride(), b.data(), c.data(), update);
    return;
  }
  const Index parts = product_threads(m, n, k);
  if (parts == 1) {
    thread_multiplier<Scalar>().multiply(a, op_a, b, op_b, c, update);
    return;
  }
  // Cut the longer side of C: columns (and op(B)'s columns) or rows (and op(A)'s rows).
  const bool by_columns = n >= m;
  const Index size = by_columns ? n : m, unit = by_columns ? gemm::tile_cols : gemm::tile_rows<Scalar>;
  std::exception_ptr failure;  // an exception must not leave an OpenMP region: kept, rethrown after
#if defined(EIGEN_HAS_OPENMP)
#pragma omp parallel for num_threads(static_cast <int>(parts)) schedule(static, 1)
#endif
  for (Index part = 0; part < parts; ++part) {
    Index first, length;
    part_range(size, unit, part, parts, first, length);
    if (length == 0) continue;
    try {
      gemm::Multiplier<Scalar>& multiplier = thread_multiplier<Scalar>();
      if (by_columns) {  // columns [first, first + length) of op(B) and C
        const ConstMatrixRef<Scalar> b_part = op_b == gemm::Op::none
                                                  ? ConstMatrixRef<Scalar>(b.middleCols(first, length))
                                                  : ConstMatrixRef<Scalar>(b.middleRows(first, length));
        multiplier.multiply(a, op_a, b_part, op_b, c.middleCols(first, length), update);
      } else {  // rows [first, first + length) of op(A) and C
        const ConstMatrixRef<Scalar> a_part = op_a == gemm::Op::none
                                                  ? ConstMatrixRef<Scalar>(a.middleRows(first, length))
                                                  : ConstMatrixRef<Scalar>(a.middleCols(first, length));
        multiplier.multiply(a_part, op_a, b, op_b, c.middleRows(first, length), update);
      }
    } catch (...) {
#if defined(EIGEN_HAS_OPENMP)
#pragma omp critical(seqlm_products_failure)
#endif
      failure = std::current_exception();
    }
  }
  if (failure) std::rethrow_exception(failure);
}

template <class Scalar>
void multiply(Eigen::Ref<Matrix<Scalar>> c, const Eigen::Ref<const Matrix<Scalar>>& a,
              const Eigen::Ref<const Matrix<Scalar>>& b, Update update) {
  if (a.cols() != b.rows()) {
    throw shape_error(seqlm::detail::make_message("products::multiply: A is ", a.rows(), " x ", a.cols(),
                                                  ", B is ", b.rows(), " x ", b.cols()));
  }
  check_result_shape<Scalar>("multiply", a.rows(), b.cols(), c);
  run<Scalar>(c, a, gemm::Op::none, b, gemm::Op::none, update);
}

template <class Scalar>
void multiply_transposed_a(Eigen::Ref<Matrix<Scalar>> c, const Eigen::Ref<const Matrix<Scalar>>& a,
                           const Eigen::Ref<const Matrix<Scalar>>& b, Update update) {
  if (a.rows() != b.rows()) {
    throw shape_error(seqlm::detail::make_message("products::multiply_transposed_a: A is ", a.rows(), " x ",
                                                  a.cols(), ", B is ", b.rows(), " x ", b.cols()));
  }
  check_result_shape<Scalar>("multiply_transposed_a", a.cols(), b.cols(), c);
  run<Scalar>(c, a, gemm::Op::transpose, b, gemm::Op::none, update);
}

template <class Scalar>
void multiply_transposed_b(Eigen::Ref<Matrix<Scalar>> c, const Eigen::Ref<const Matrix<Scalar>>& a,
                           const Eigen::Ref<const Matrix<Scalar>>& b, Update update) {
  if (a.cols() != b.cols()) {
    throw shape_error(seqlm::detail::make_message("products::multiply_transposed_b: A is ", a.rows(), " x ",
                                                  a.cols(), ", B is ", b.rows(), " x ", b.cols()));
  }
  check_result_shape<Scalar>("multiply_transposed_b", a.rows(), b.rows(), c);
  run<Scalar>(c, a, gemm::Op::none, b, gemm::Op::transpose, update);
}

}  // namespace detail

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
