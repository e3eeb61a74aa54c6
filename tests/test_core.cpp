// Tests of the foundations every layer uses: RNG, SIMD activations, initialisers, shape checks.
#include <doctest/doctest.h>

#include <Eigen/QR>  // the reference for init::orthogonal
#include <cmath>
#include <limits>
#include <seqlm/seqlm.hpp>
#include <vector>

namespace core_tests {

using namespace seqlm;

TEST_CASE("Rng is deterministic, restorable and unbiased enough") {
  Rng a(42), b(42), c(43);
  for (int k = 0; k < 10; ++k) CHECK(a.next() == b.next());
  CHECK(a.next() != c.next());

  Rng r(7);
  r.normal();  // leaves a spare normal in the state
  const auto snapshot = r.snapshot();
  std::vector<double> first;
  for (int k = 0; k < 5; ++k) first.push_back(r.normal() + r.uniform());
  r.restore(snapshot);
  for (int k = 0; k < 5; ++k) CHECK(r.normal() + r.uniform() == first[k]);

  Rng s(1);
  double sum = 0, sum_sq = 0;
  const int n = 200000;
  for (int k = 0; k < n; ++k) {
    const double x = s.normal();
    sum += x;
    sum_sq += x * x;
  }
  CHECK(std::abs(sum / n) < 0.01);
  CHECK(std::abs(sum_sq / n - 1.0) < 0.02);

  std::vector<int> counts(7, 0);
  for (int k = 0; k < 70000; ++k) ++counts[s.below(7)];
  for (int count : counts) CHECK(std::abs(count - 10000) < 500);
}

template <class S>
void check_activation_accuracy(double tolerance) {
  // Cover the whole useful range, saturation and exact zero; n is not a multiple of the
  // SIMD width so that the scalar tail is exercised too.
  std::vector<S> x;
  for (double v = -30.0; v <= 30.0; v += 0.0137) x.push_back(static_cast<S>(v));
  for (double v : {-1e-6, 0.0, 1e-6, -100.0, 100.0, -1e4, 1e4}) x.push_back(static_cast<S>(v));
  std::vector<S> sig = x, th = x, re = x;
  simd::sigmoid_inplace(sig.data(), static_cast<Index>(x.size()));
  simd::tanh_inplace(th.data(), static_cast<Index>(x.size()));
  simd::relu_inplace(re.data(), static_cast<Index>(x.size()));
  double worst_sigmoid = 0, worst_tanh = 0;
  for (size_t k = 0; k < x.size(); ++k) {
    const long double xv = x[k];
    const long double sig_ref = 1.0L / (1.0L + std::exp(-xv));
    const long double tanh_ref = std::tanh(xv);
    worst_sigmoid = std::max(worst_sigmoid, double(std::abs(sig[k] - sig_ref)));
    worst_tanh = std::max(worst_tanh, double(std::abs(th[k] - tanh_ref)));
    CHECK(re[k] == (x[k] > 0 ? x[k] : S(0)));
    REQUIRE(std::isfinite(sig[k]));
    REQUIRE(std::isfinite(th[k]));
  }
  INFO("max abs error sigmoid ", worst_sigmoid, " tanh ", worst_tanh);
  CHECK(worst_sigmoid <= tolerance);
  CHECK(worst_tanh <= tolerance);
}

TEST_CASE("vectorised sigmoid and tanh are accurate in float and double") {
  check_activation_accuracy<float>(2e-7);
  check_activation_accuracy<double>(1e-15);
}

// exp, sigmoid and tanh of NaN, +-inf and values far outside the useful range, on every
// position of arrays of every length up to three SIMD batches (so both the batch path and the
// scalar tail see each value). Run under the sanitize preset: the double batch path once
// converted NaN and 1e300 * log2(e) to int64 (undefined behaviour) inside xsimd's exp.
template <class S>
void check_special_values() {
  using limits = std::numeric_limits<S>;
  const S huge = std::is_same_v<S, double> ? S(1e300) : S(1e38);
  const std::vector<S> specials = {
      limits::quiet_NaN(), limits::infinity(), -limits::infinity(), huge, -huge, S(1000), S(-1000), S(0)};
  const Index max_length = 3 * simd::width<S>;
  for (Index n = 0; n <= max_length; ++n) {
    for (Index shift = 0; shift < Index(specials.size()); ++shift) {
      CAPTURE(n);
      CAPTURE(shift);
      std::vector<S> x(static_cast<size_t>(n));
      for (Index k = 0; k < n; ++k)
        x[static_cast<size_t>(k)] = specials[static_cast<size_t>((k + shift) % Index(specials.size()))];
      std::vector<S> e = x, sig = x, th = x;
      simd::vectorized_loop<S>(n, [&](Index k, auto lane) {
        using V = decltype(lane);
        simd::store(e.data() + k, simd::exp(simd::load<V>(e.data() + k)));
      });
      simd::sigmoid_inplace(sig.data(), n);
      simd::tanh_inplace(th.data(), n);
      for (size_t k = 0; k < x.size(); ++k) {
        const S v = x[k];
        CAPTURE(v);
        if (std::isnan(v)) {
          CHECK(std::isnan(e[k]));
          CHECK(std::isnan(sig[k]));
          CHECK(std::isnan(th[k]));
        } else if (v == 0) {
          CHECK(e[k] == S(1));
          CHECK(sig[k] == S(0.5));
          CHECK(th[k] == S(0));
        } else {
          CHECK(e[k] == (v > 0 ? limits::infinity() : S(0)));
          CHECK(sig[k] == (v > 0 ? S(1) : S(0)));
          CHECK(th[k] == (v > 0 ? S(1) : S(-1)));
        }
      }
    }
  }
}

TEST_CASE("vectorised exp, sigmoid and tanh of NaN, infinities and huge values, float and double") {
  check_special_values<float>();
  check_special_values<double>();
}

template <class S>
void check_all_finite() {
  // 19 elements: two whole SIMD batches and a scalar tail for float (8) and double (4).
  std::vector<S> x(19);
  for (size_t k = 0; k < x.size(); ++k) x[k] = static_cast<S>(k) * S(1e30) - S(3);
  x[4] = std::numeric_limits<S>::max();
  CHECK(simd::all_finite(x.data(), static_cast<Index>(x.size())));
  CHECK(simd::all_finite(x.data(), Index(0)));
  for (const S bad : {std::numeric_limits<S>::infinity(), -std::numeric_limits<S>::infinity(),
                      std::numeric_limits<S>::quiet_NaN()}) {
    for (const size_t at : {size_t(0), size_t(7), size_t(12), size_t(18)}) {  // in a batch, or in the tail
      std::vector<S> y = x;
      y[at] = bad;
      CAPTURE(at);
      CHECK_FALSE(simd::all_finite(y.data(), static_cast<Index>(y.size())));
    }
  }
}

TEST_CASE("all_finite finds an infinity or NaN anywhere, float and double") {
  check_all_finite<float>();
  check_all_finite<double>();
}

// A length the compiler knows, and a whole number of SIMD batches: the scalar tail loops of
// the helpers never run. GCC's -Waggressive-loop-optimizations once warned here (an
// error under -Werror) when the tail loop was written as a continuation of the batch loop.
TEST_CASE("vectorised helpers on a constant length build without warnings") {
  constexpr Index n = 8192;
  std::vector<float> values(n, 0.0f);
  simd::sigmoid_inplace(values.data(), n);
  simd::tanh_inplace(values.data(), n);
  CHECK(values.front() == doctest::Approx(std::tanh(0.5f)));
  CHECK(values.back() == doctest::Approx(std::tanh(0.5f)));
  simd::subtract_scaled(values.data(), 1.0f, values.data(), n);  // all zero
  CHECK(simd::dot(values.data(), values.data(), n) == 0.0f);
  CHECK(simd::all_finite(values.data(), n));
}

TEST_CASE("simd dot and subtract_scaled match plain loops for every tail length") {
  Rng rng(5);
  for (Index n = 0; n <= 70; ++n) {
    CAPTURE(n);
    std::vector<double> a(static_cast<std::size_t>(n)), b(a.size()), y(a.size());
    for (std::size_t k = 0; k < a.size(); ++k) {
      a[k] = rng.normal();
      b[k] = rng.normal();
      y[k] = rng.normal();
    }
    double expected_dot = 0;
    for (std::size_t k = 0; k < a.size(); ++k) expected_dot += a[k] * b[k];
    CHECK(simd::dot(a.data(), b.data(), n) == doctest::Approx(expected_dot).epsilon(1e-13));
    std::vector<double> expected_y = y;
    for (std::size_t k = 0; k < a.size(); ++k) expected_y[k] -= 0.75 * a[k];
    simd::subtract_scaled(y.data(), 0.75, a.data(), n);
    for (std::size_t k = 0; k < a.size(); ++k) CHECK(y[k] == doctest::Approx(expected_y[k]).epsilon(1e-15));
  }
}

TEST_CASE("glorot_uniform and orthogonal follow Keras") {
  Rng rng(3);
  Matrix<float> w(40, 10);
  init::glorot_uniform(w, 10, 40, rng);
  const double limit = std::sqrt(6.0 / 50.0);
  CHECK(w.maxCoeff() <= limit);
  CHECK(w.minCoeff() >= -limit);
  CHECK(w.maxCoeff() > 0.9 * limit);

  Matrix<double> tall(48, 12);  // like an LSTM(12) recurrent kernel stored (4H x H)
  init::orthogonal(tall, rng);
  CHECK((tall.transpose() * tall - Matrix<double>::Identity(12, 12)).norm() < 1e-12);
  Matrix<double> wide(5, 20);
  init::orthogonal(wide, rng);
  CHECK((wide * wide.transpose() - Matrix<double>::Identity(5, 5)).norm() < 1e-12);
}

// Keras's recipe literally: Householder QR of the same Gaussian draws, Q's columns' signs
// fixed by diag(R). init::orthogonal (Gram-Schmidt) must give the same matrix to rounding.
Matrix<double> householder_orthogonal(Index rows, Index cols, Rng& rng) {
  const Index tall = std::max(rows, cols), narrow = std::min(rows, cols);
  Matrix<double> gaussian(tall, narrow);
  for (Index k = 0; k < gaussian.size(); ++k) gaussian.data()[k] = rng.normal();
  Eigen::HouseholderQR<Matrix<double>> qr(gaussian);
  Matrix<double> q = qr.householderQ() * Matrix<double>::Identity(tall, narrow);
  for (Index j = 0; j < narrow; ++j) {
    if (qr.matrixQR()(j, j) < 0) q.col(j) = -q.col(j);
  }
  if (rows >= cols) return q;
  return q.transpose();
}

TEST_CASE("orthogonal is the sign-fixed Q of a Householder QR of the same Gaussian draws") {
  const std::vector<std::pair<Index, Index>> shapes = {{48, 12}, {384, 128}, {12, 12},
                                                       {5, 20},  {1, 7},     {7, 1}};
  for (const auto& shape : shapes) {
    const Index rows = shape.first, cols = shape.second;  // CAPTURE cannot read structured bindings
    CAPTURE(rows);
    CAPTURE(cols);
    Rng for_seqlm(11), for_reference(11);
    Matrix<double> w(rows, cols);
    init::orthogonal(w, for_seqlm);
    const Matrix<double> reference = householder_orthogonal(rows, cols, for_reference);
    CHECK((w - reference).cwiseAbs().maxCoeff() < 1e-13);
    Matrix<float> w_float(rows, cols);
    Rng for_float(11);
    init::orthogonal(w_float, for_float);
    CHECK((w_float.cast<double>() - reference).cwiseAbs().maxCoeff() < 1e-7);
  }
}

TEST_CASE("shape helpers report where and what") {
  CHECK_THROWS_AS(detail::steps_of("LSTM", 10, 3), shape_error);
  CHECK_THROWS_AS(detail::steps_of("LSTM", 0, 3), value_error);
  CHECK_THROWS_AS(detail::check_positive("GRU", "units", -1), value_error);
  std::vector<TokenId> ids = {0, 1, 5, 2};
  CHECK_THROWS_AS(TokenView(ids, 3, 2), shape_error);
  TokenView view(ids, 2, 2);
  try {
    detail::check_tokens("Embedding", view, 5);
    FAIL("expected an exception");
  } catch (const value_error& e) {
    CHECK(std::string(e.what()).find("Embedding: token id 5 at step 1, sequence 0") != std::string::npos);
  }
}

}  // namespace core_tests
