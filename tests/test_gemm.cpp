// Tests of seqlm's matrix multiplication (include/seqlm/math/gemm.hpp): every transpose and
// update mode against Eigen's product, on shapes that hit every tile and block edge, the
// packed left operand, views with column strides, bad shapes, and no allocation on repeats.
// Also the layers' Eigen products (math/products.hpp) against plain loops.

// Eigen's runtime allocation guard, with failures counted instead of asserted (so that it
// also works in Release builds), as in test_lstm.cpp and test_gru.cpp.
#define EIGEN_RUNTIME_NO_MALLOC
inline int eigen_assertion_failures = 0;
#define eigen_assert(condition)                   \
  do {                                            \
    if (!(condition)) ++eigen_assertion_failures; \
  } while (false)

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <seqlm/layers/gru.hpp>
#include <seqlm/layers/lstm.hpp>
#include <seqlm/math/batch_blocks.hpp>
#include <seqlm/math/gemm.hpp>
#include <seqlm/math/products.hpp>
#include <seqlm/parallel.hpp>
#include <seqlm/random.hpp>
#include <string>
#include <vector>

using namespace seqlm;

namespace {

template <class S>
Matrix<S> random_of(Index rows, Index cols, Rng& rng) {
  Matrix<S> m(rows, cols);
  for (Index k = 0; k < m.size(); ++k) m.data()[k] = static_cast<S>(rng.uniform(-1.0, 1.0));
  return m;
}

template <class S>
Matrix<S> apply(const Matrix<S>& x, gemm::Op op) {
  return op == gemm::Op::transpose ? Matrix<S>(x.transpose()) : x;
}

// Largest |difference| allowed for sums of `depth` products of numbers in [-1, 1].
template <class S>
double tolerance(Index depth) {
  return (sizeof(S) == 4 ? 2e-6 : 1e-14) * static_cast<double>(depth + 1);
}

// C (m x n) = or += op(A) op(B) by Multiplier (and, for a plain B, by a PackedMatrix) vs Eigen.
template <class S>
void check_product(Index m, Index n, Index k, gemm::Op op_a, gemm::Op op_b, gemm::Update update, Rng& rng) {
  CAPTURE(m);
  CAPTURE(n);
  CAPTURE(k);
  CAPTURE(op_a == gemm::Op::transpose);
  CAPTURE(op_b == gemm::Op::transpose);
  CAPTURE(update == gemm::Update::accumulate);
  const bool ta = op_a == gemm::Op::transpose, tb = op_b == gemm::Op::transpose;
  const Matrix<S> a = ta ? random_of<S>(k, m, rng) : random_of<S>(m, k, rng);
  const Matrix<S> b = tb ? random_of<S>(n, k, rng) : random_of<S>(k, n, rng);
  const Matrix<S> c0 = random_of<S>(m, n, rng);
  Matrix<S> expected = apply(a, op_a) * apply(b, op_b);
  if (update == gemm::Update::accumulate) expected += c0;

  gemm::Multiplier<S> multiplier;
  Matrix<S> c = c0;
  multiplier.multiply(a, op_a, b, op_b, c, update);
  CHECK((c - expected).cwiseAbs().maxCoeff() <= tolerance<S>(k));

  if (!tb) {
    gemm::PackedMatrix<S> packed;
    packed.pack(a, op_a);
    CHECK(packed.rows() == m);
    CHECK(packed.depth() == k);
    c = c0;
    packed.multiply(b, c, update);
    CHECK((c - expected).cwiseAbs().maxCoeff() <= tolerance<S>(k));
  }
}

template <class S>
void check_all_modes(Index m, Index n, Index k, Rng& rng) {
  for (const auto op_a : {gemm::Op::none, gemm::Op::transpose}) {
    for (const auto op_b : {gemm::Op::none, gemm::Op::transpose}) {
      for (const auto update : {gemm::Update::overwrite, gemm::Update::accumulate}) {
        check_product<S>(m, n, k, op_a, op_b, update, rng);
      }
    }
  }
}

}  // namespace

TEST_CASE("gemm matches Eigen's product for every transpose and update, float and double") {
  Rng rng(3);
  const Index mr = gemm::tile_rows<float>, nr = gemm::tile_cols;
  // Tile edges (rows around MR, columns around NR), one row / column / step, and sizes past
  // one depth block (KC = 256) and one row block (MC = 128).
  const Index shapes[][3] = {
      {1, 1, 1},     {mr, nr, 7},  {mr - 1, nr + 1, 3}, {mr + 1, nr - 1, 1}, {2 * mr + 3, 13, 5}, {5, 2, 300},
      {37, 11, 257}, {130, 9, 64}, {24, 4, 20},         {129, 2 * nr, 513},  {3, 1, 2},           {1, 7, 9}};
  for (const auto& shape : shapes) {
    check_all_modes<float>(shape[0], shape[1], shape[2], rng);
    check_all_modes<double>(shape[0], shape[1], shape[2], rng);
  }
}

TEST_CASE("gemm splits wide products into column blocks") {
  Rng rng(5);
  const Index n = gemm::column_block + 7;  // two column blocks, the second narrow
  check_product<float>(17, n, 9, gemm::Op::none, gemm::Op::none, gemm::Update::accumulate, rng);
  check_product<float>(17, n, 9, gemm::Op::transpose, gemm::Op::transpose, gemm::Update::overwrite, rng);
}

TEST_CASE("gemm with an empty depth gives zeros or leaves C alone") {
  gemm::Multiplier<double> multiplier;
  const Matrix<double> a(3, 0), b(0, 4);
  Matrix<double> c = Matrix<double>::Ones(3, 4);
  multiplier.multiply(a, gemm::Op::none, b, gemm::Op::none, c, gemm::Update::accumulate);
  CHECK(c == Matrix<double>::Ones(3, 4));
  multiplier.multiply(a, gemm::Op::none, b, gemm::Op::none, c, gemm::Update::overwrite);
  CHECK(c == Matrix<double>::Zero(3, 4));
}

TEST_CASE("gemm reads and writes column blocks of larger matrices in place") {
  // The recurrent layers multiply the B columns of one step: blocks with a column stride.
  Rng rng(7);
  const Matrix<float> u = random_of<float>(40, 10, rng);
  const Matrix<float> states = random_of<float>(14, 30, rng);  // rows 2..12 used, 10 rows
  Matrix<float> z = random_of<float>(45, 30, rng);
  const Matrix<float> z0 = z;
  gemm::PackedMatrix<float> packed;
  packed.pack(u);
  packed.multiply(states.block(2, 6, 10, 3), z.block(1, 6, 40, 3), gemm::Update::accumulate);
  Matrix<float> expected = z0;
  expected.block(1, 6, 40, 3) += u * states.block(2, 6, 10, 3);
  CHECK((z - expected).cwiseAbs().maxCoeff() <= tolerance<float>(10));
}

TEST_CASE("gemm gives a column the same bits however many columns are multiplied with it") {
  // Each element is summed in the same order whatever tile or block its column falls in.
  Rng rng(9);
  const Matrix<float> u = random_of<float>(64, 300, rng);
  const Matrix<float> h = random_of<float>(300, 13, rng);
  gemm::PackedMatrix<float> packed;
  packed.pack(u);
  Matrix<float> all(64, 13), one(64, 1), some(64, 5);
  packed.multiply(h, all, gemm::Update::overwrite);
  for (Index j = 0; j < 13; ++j) {
    packed.multiply(h.col(j), one, gemm::Update::overwrite);
    CHECK(one.col(0) == all.col(j));
  }
  packed.multiply(h.middleCols(4, 5), some, gemm::Update::overwrite);  // a block that starts mid-tile
  CHECK(some == all.middleCols(4, 5));
}

TEST_CASE("gemm rejects mismatched shapes") {
  gemm::Multiplier<float> multiplier;
  const Matrix<float> a(3, 4), b(5, 2);
  Matrix<float> c(3, 2);
  CHECK_THROWS_AS(multiplier.multiply(a, gemm::Op::none, b, gemm::Op::none, c, gemm::Update::overwrite),
                  shape_error);
  const Matrix<float> b_ok(4, 2);
  Matrix<float> c_wrong(2, 2);
  CHECK_THROWS_AS(
      multiplier.multiply(a, gemm::Op::none, b_ok, gemm::Op::none, c_wrong, gemm::Update::overwrite),
      shape_error);
  gemm::PackedMatrix<float> packed;
  packed.pack(a, gemm::Op::transpose);  // 4 x 3
  CHECK_THROWS_AS(packed.multiply(b_ok, c, gemm::Update::overwrite), shape_error);
}

// C (+)= op(A) op(B) by three loops, in double, as the reference for products::.
template <class S>
Matrix<double> reference_product(const Matrix<S>& a, bool transpose_a, const Matrix<S>& b, bool transpose_b) {
  const Matrix<double> left = transpose_a ? Matrix<double>(a.transpose().template cast<double>())
                                          : Matrix<double>(a.template cast<double>());
  const Matrix<double> right = transpose_b ? Matrix<double>(b.transpose().template cast<double>())
                                           : Matrix<double>(b.template cast<double>());
  Matrix<double> c = Matrix<double>::Zero(left.rows(), right.cols());
  for (Index i = 0; i < c.rows(); ++i) {
    for (Index j = 0; j < c.cols(); ++j) {
      for (Index p = 0; p < left.cols(); ++p) c(i, j) += left(i, p) * right(p, j);
    }
  }
  return c;
}

// The operands of C (+)= A B, A^T B and A B^T for C of m x n and depth k, drawn in this order:
// a (m x k), at (k x m), b (k x n), bt (n x k), start (m x n, C before an accumulating product).
template <class S>
struct ProductOperands {
  Matrix<S> a, at, b, bt, start;
  ProductOperands(Index m, Index k, Index n, Rng& rng)
      : a(random_of<S>(m, k, rng)),
        at(random_of<S>(k, m, rng)),
        b(random_of<S>(k, n, rng)),
        bt(random_of<S>(n, k, rng)),
        start(random_of<S>(m, n, rng)) {}
};

template <class S>
void check_products(double tolerance) {
  Rng rng(21);
  // (rows of C, depth, columns of C): tiny (Eigen's coefficient-based path), one column
  // (matrix-vector), one row, and GEMM-sized.
  const std::vector<std::array<Index, 3>> shapes = {{3, 2, 4}, {40, 30, 1}, {1, 30, 40}, {67, 45, 53}};
  for (const auto& shape : shapes) {
    const Index m = shape[0], k = shape[1], n = shape[2];  // CAPTURE cannot read structured bindings
    CAPTURE(m);
    CAPTURE(k);
    CAPTURE(n);
    const ProductOperands<S> operands(m, k, n, rng);
    const auto& [a, at, b, bt, start] = operands;
    for (const bool accumulate : {false, true}) {
      const products::Update update = accumulate ? products::Update::accumulate : products::Update::overwrite;
      const Matrix<double> base = accumulate ? Matrix<double>(start.template cast<double>())
                                             : Matrix<double>(Matrix<double>::Zero(m, n));
      Matrix<S> c = start;
      products::multiply(c, a, b, update);
      CHECK(
          (c.template cast<double>() - (base + reference_product(a, false, b, false))).cwiseAbs().maxCoeff() <
          tolerance);
      c = start;
      products::multiply_transposed_a(c, at, b, update);
      CHECK(
          (c.template cast<double>() - (base + reference_product(at, true, b, false))).cwiseAbs().maxCoeff() <
          tolerance);
      c = start;
      products::multiply_transposed_b(c, a, bt, update);
      CHECK(
          (c.template cast<double>() - (base + reference_product(a, false, bt, true))).cwiseAbs().maxCoeff() <
          tolerance);
    }
  }
}

TEST_CASE("products: C (+)= A B, A^T B, A B^T match plain loops, float and double") {
  check_products<float>(1e-4);
  check_products<double>(1e-12);
}

TEST_CASE("the matrix-vector kernel matches plain loops for every row and depth remainder") {
  Rng rng(23);
  const Index lda = 80;  // A is a block of a taller matrix: column stride > rows
  const Matrix<float> storage = random_of<float>(lda, 131, rng);
  for (Index rows = 0; rows <= 70; ++rows) {
    for (const Index depth : {0, 1, 2, 3, 7, 8, 130, 131}) {
      CAPTURE(rows);
      CAPTURE(depth);
      const Matrix<float> x = random_of<float>(depth, 1, rng), start = random_of<float>(rows, 1, rng);
      for (const bool accumulate : {false, true}) {
        Matrix<float> y = start;
        gemm::multiply_vector(rows, depth, storage.data(), lda, x.data(), y.data(),
                              accumulate ? gemm::Update::accumulate : gemm::Update::overwrite);
        double worst = 0;
        for (Index i = 0; i < rows; ++i) {
          double expected = accumulate ? double(start(i, 0)) : 0.0;
          for (Index p = 0; p < depth; ++p) expected += double(storage(i, p)) * double(x(p, 0));
          worst = std::max(worst, std::abs(double(y(i, 0)) - expected));
        }
        CHECK(worst < 1e-4);
      }
    }
  }
}

TEST_CASE("products give the same bits on one and two GEMM threads") {
  Rng rng(24);
  // (rows of C, depth, columns of C): cut by columns (n >= m), by rows, with parts that are
  // not whole register tiles, and a product too small to be cut.
  const std::vector<std::array<Index, 3>> shapes = {{64, 100, 301}, {301, 100, 64}, {97, 33, 95}, {5, 4, 3}};
  for (const auto& shape : shapes) {
    const Index m = shape[0], k = shape[1], n = shape[2];  // CAPTURE cannot read structured bindings
    CAPTURE(m);
    CAPTURE(k);
    CAPTURE(n);
    const ProductOperands<float> operands(m, k, n, rng);
    const auto all_forms = [&](products::Update update) {
      std::array<Matrix<float>, 3> results{operands.start, operands.start, operands.start};
      products::multiply(results[0], operands.a, operands.b, update);
      products::multiply_transposed_a(results[1], operands.at, operands.b, update);
      products::multiply_transposed_b(results[2], operands.a, operands.bt, update);
      return results;
    };
    for (const auto update : {products::Update::overwrite, products::Update::accumulate}) {
      const auto one = all_forms(update);
      std::array<Matrix<float>, 3> two;
      {
        const ScopedGemmThreads threads(2);
        two = all_forms(update);
      }
      for (int form = 0; form < 3; ++form) {
        CAPTURE(form);
        CHECK((one[form].array() == two[form].array()).all());
        CHECK((one[form].template cast<double>() - two[form].template cast<double>()).cwiseAbs().maxCoeff() ==
              0);
      }
    }
  }
}

TEST_CASE("products write blocks of larger matrices in place and leave the rest alone") {
  Rng rng(22);
  const Matrix<double> a = random_of<double>(10, 6, rng), b = random_of<double>(6, 20, rng);
  Matrix<double> c = Matrix<double>::Constant(30, 25, 7.0);
  products::multiply(c.block(5, 3, 10, 20), a, b);
  CHECK((c.block(5, 3, 10, 20) - reference_product(a, false, b, false)).cwiseAbs().maxCoeff() < 1e-12);
  c.block(5, 3, 10, 20).setConstant(7.0);
  CHECK((c.array() == 7.0).all());
}

TEST_CASE("products reject mismatched shapes with a shape_error") {
  const Matrix<float> a(3, 4), b(5, 2), b_ok(4, 2);
  Matrix<float> c(3, 2), c_wrong(2, 2);
  CHECK_THROWS_AS(products::multiply(c, a, b), shape_error);
  CHECK_THROWS_AS(products::multiply(c_wrong, a, b_ok), shape_error);
  CHECK_THROWS_AS(products::multiply_transposed_a(c, a, b_ok), shape_error);  // A^T is 4 x 3
  CHECK_THROWS_AS(products::multiply_transposed_b(c, a, b_ok), shape_error);  // B^T is 2 x 4
  try {
    products::multiply(c_wrong, a, b_ok);
  } catch (const shape_error& e) {
    CHECK(std::string(e.what()).find("products::multiply: the result is 2 x 2, the product 3 x 2") !=
          std::string::npos);
  }
}

TEST_CASE("gemm allocates nothing on a second call with the same shapes") {
  Rng rng(11);
  // Big enough for every buffer of the multipliers (a depth block, a transposed B block).
  const Matrix<float> a = random_of<float>(300, 400, rng), b = random_of<float>(200, 400, rng);
  Matrix<float> c(300, 200), d(300, 400), f(400, 400);
  const Matrix<float> e = random_of<float>(400, 400, rng);
  gemm::Multiplier<float> multiplier;
  gemm::PackedMatrix<float> packed;
  Matrix<float> vector_result(300, 1), product_result(300, 200);
  auto run = [&] {
    multiplier.multiply(a, gemm::Op::none, b, gemm::Op::transpose, c, gemm::Update::overwrite);
    products::multiply_transposed_b(product_result, a, b);  // the thread's own multiplier
    products::multiply(vector_result, a, e.col(0));         // the matrix-vector kernel
    products::multiply_transposed_a(f, e, e, products::Update::accumulate);
    packed.pack(a);
    packed.multiply(e, d, gemm::Update::accumulate);
    packed.pack(e, gemm::Op::transpose);
    packed.multiply(e, f, gemm::Update::overwrite);
  };
  run();
  eigen_assertion_failures = 0;
  Eigen::internal::set_is_malloc_allowed(false);
  run();
  Eigen::internal::set_is_malloc_allowed(true);
  CHECK(eigen_assertion_failures == 0);
}

// ---- recurrent time loops split over threads (math/batch_blocks.hpp) ----------------------

TEST_CASE("batch blocks cover the batch exactly once, for one and two threads") {
  const int threads_before = Eigen::nbThreads();
  for (const int threads : {1, 2}) {
    Eigen::setNbThreads(threads);
    for (const Index batch : {1, 7, 8, 17, 64, 129}) {
      CAPTURE(threads);
      CAPTURE(batch);
      // Blocks may run on different threads: each only writes its own sequences' entries.
      std::vector<int> visits(static_cast<size_t>(batch), 0);
      detail::for_each_batch_block(batch, [&](Index first, Index count) {
        for (Index b = first; b < first + count; ++b) ++visits[static_cast<size_t>(b)];
      });
      CHECK(std::count(visits.begin(), visits.end(), 1) == batch);
      const Index blocks = detail::batch_blocks(batch);
      CHECK(blocks >= 1);
      CHECK(blocks <= std::max<Index>(1, batch / detail::min_block_sequences));
    }
  }
  Eigen::setNbThreads(threads_before);
}

namespace {

// Output, parameter gradients and input gradient of one forward + backward pass.
template <class Layer>
std::vector<Matrix<float>> pass(Layer& layer, const Matrix<float>& x, Index batch,
                                const Matrix<float>& d_output, Index truncate) {
  for (auto& p : layer.parameters()) p.gradient->setZero();
  std::vector<Matrix<float>> results = {layer.forward(x, batch)};
  layer.backward(d_output, nullptr, truncate);
  for (auto& p : layer.parameters()) results.push_back(*p.gradient);
  results.push_back(layer.input_gradient());
  results.push_back(layer.initial_state_gradient().h);
  return results;
}

template <class Layer>
void check_same_bits_for_every_thread_count(Layer& layer, Index I, Index H, Index T, Index B, Rng& rng) {
  const Matrix<float> x = random_of<float>(I, T * B, rng);
  const Matrix<float> d_output = random_of<float>(H, T * B, rng);
  const int threads_before = Eigen::nbThreads();
  Eigen::setNbThreads(1);
  const auto one_thread = pass(layer, x, B, d_output, 3);
  Eigen::setNbThreads(2);  // two blocks of sequences when the build has OpenMP
  const auto two_threads = pass(layer, x, B, d_output, 3);
  Eigen::setNbThreads(threads_before);
  REQUIRE(one_thread.size() == two_threads.size());
  for (size_t k = 0; k < one_thread.size(); ++k) {
    CAPTURE(k);
    CHECK(one_thread[k] == two_threads[k]);
  }
}

}  // namespace

TEST_CASE("LSTM and GRU give the same bits with the time loop on one or two threads") {
  // The recurrences split the batch into blocks of sequences; the post-loop products are
  // Eigen's, which stay on one thread here because they are small.
  const Index I = 5, H = 12, T = 7, B = 19;
  Rng rng(13);
  LSTMOptions lstm_options;
  lstm_options.return_sequences = true;
  LSTM<float> lstm(I, H, lstm_options);
  lstm.initialize(rng);
  check_same_bits_for_every_thread_count(lstm, I, H, T, B, rng);
  for (const bool reset_after : {true, false}) {
    CAPTURE(reset_after);
    GRUOptions gru_options;
    gru_options.return_sequences = true;
    gru_options.reset_after = reset_after;
    GRU<float> gru(I, H, gru_options);
    gru.initialize(rng);
    check_same_bits_for_every_thread_count(gru, I, H, T, B, rng);
  }
}
