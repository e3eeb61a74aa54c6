// Tests of the fused softmax cross-entropy loss, softmax, log_softmax and temperature
// probabilities: finite differences, parity with PyTorch, extreme logits, accuracy counts,
// masking and errors, in float and double.
#include <doctest/doctest.h>

#include <cmath>
#include <seqlm/loss.hpp>
#include <string>
#include <vector>

#include "golden.hpp"
#include "gradcheck.hpp"
#include "test_helpers.hpp"

namespace loss_tests {

using namespace seqlm;
using testing::random_matrix;

namespace {

std::vector<TokenId> to_ids(const Matrix<double>& column) {
  std::vector<TokenId> ids;
  for (Index k = 0; k < column.size(); ++k) ids.push_back(static_cast<TokenId>(column(k)));
  return ids;
}

using seqlm::testing::check_throws_with;

// Checks d loss / d logits of the weighted (or unweighted, when weights is empty) loss.
void check_loss_gradient(Index vocabulary, Index positions, const Vector<double>& weights,
                         std::uint64_t seed) {
  CAPTURE(vocabulary);
  CAPTURE(positions);
  Rng rng(seed);
  Matrix<double> logits = random_matrix(vocabulary, positions, rng, 3.0);
  std::vector<TokenId> ids;
  for (Index n = 0; n < positions; ++n) ids.push_back(static_cast<TokenId>(rng.below(vocabulary)));
  const TokenView targets(ids.data(), positions, 1);
  auto loss = [&] {
    return weights.size() == 0 ? cross_entropy(logits, targets).loss
                               : cross_entropy(logits, targets, weights).loss;
  };
  Matrix<double> d_logits;
  const CrossEntropyResult result = weights.size() == 0
                                        ? softmax_cross_entropy(logits, targets, d_logits)
                                        : softmax_cross_entropy(logits, targets, weights, d_logits);
  CHECK(result.loss == doctest::Approx(loss()).epsilon(1e-15));
  SEQLM_CHECK_GRADIENT("logits", d_logits, testing::numerical_gradient(logits, loss));
}

}  // namespace

TEST_CASE("softmax cross-entropy gradient matches finite differences") {
  SUBCASE("unweighted") {
    check_loss_gradient(5, 7, {}, 1);
    check_loss_gradient(2, 1, {}, 2);   // V = 2, N = 1
    check_loss_gradient(13, 3, {}, 3);  // V not a multiple of the SIMD width
    check_loss_gradient(40, 2, {}, 4);  // several whole SIMD batches and a tail
  }
  SUBCASE("weighted and masked") {
    Vector<double> mask(6);
    mask << 1, 0, 1, 1, 0, 1;
    check_loss_gradient(5, 6, mask, 5);
    Vector<double> weights(5);
    weights << 0.5, 2.0, 0.0, 1.0, 3.0;
    check_loss_gradient(11, 5, weights, 6);
    Vector<double> single(1);
    single << 0.25;
    check_loss_gradient(2, 1, single, 7);
  }
}

template <class S>
void check_loss_golden(double tolerance) {
  const auto golden = testing::read_golden("dense_loss.txt");
  const Matrix<S> logits = testing::get(golden, "logits").cast<S>();
  const std::vector<TokenId> all = to_ids(testing::get(golden, "targets_all"));
  const std::vector<TokenId> masked = to_ids(testing::get(golden, "targets"));  // -1 where weight 0
  const Vector<S> weights = testing::get(golden, "weights").col(0).cast<S>();
  const Index positions = logits.cols();

  Matrix<S> d_logits;
  const CrossEntropyResult mean =
      softmax_cross_entropy(logits, TokenView(all.data(), positions, 1), d_logits);
  CHECK(std::abs(mean.loss - testing::get(golden, "loss_mean")(0, 0)) <= tolerance);
  CHECK(testing::relative_error(d_logits.template cast<double>(), testing::get(golden, "d_logits_mean")) <=
        tolerance);
  CHECK(mean.correct == static_cast<Index>(testing::get(golden, "correct_all")(0, 0)));
  CHECK(mean.counted == positions);
  CHECK(mean.counted_weight == positions);

  // Same positions as 4 steps of 2 sequences: the layout does not change the numbers.
  const CrossEntropyResult time_major = cross_entropy(logits, TokenView(all.data(), positions / 2, 2));
  CHECK(time_major.loss == mean.loss);

  const CrossEntropyResult weighted =
      softmax_cross_entropy(logits, TokenView(masked.data(), positions, 1), weights, d_logits);
  CHECK(std::abs(weighted.loss - testing::get(golden, "loss_weighted")(0, 0)) <= tolerance);
  CHECK(testing::relative_error(d_logits.template cast<double>(),
                                testing::get(golden, "d_logits_weighted")) <= tolerance);
  CHECK(weighted.correct == static_cast<Index>(testing::get(golden, "correct_weighted")(0, 0)));
  CHECK(weighted.counted == 6);
  CHECK(weighted.counted_weight == doctest::Approx(8.5));

  Matrix<S> log_probs(logits.rows(), positions), probs(logits.rows(), positions);
  log_softmax(logits, log_probs);
  softmax(logits, probs);
  CHECK(testing::relative_error(log_probs.template cast<double>(), testing::get(golden, "log_softmax")) <=
        tolerance);
  CHECK(testing::relative_error(probs.template cast<double>(), testing::get(golden, "softmax")) <= tolerance);

  // The object form gives the same result and keeps its gradient buffer.
  SoftmaxCrossEntropy<S> loss;
  const CrossEntropyResult again = loss.forward(logits, TokenView(masked.data(), positions, 1), weights);
  CHECK(again.loss == weighted.loss);
  CHECK(loss.logits_gradient() == d_logits);
  const S* memory = loss.logits_gradient().data();
  loss.forward(logits, TokenView(all.data(), positions, 1));
  CHECK(loss.logits_gradient().data() == memory);
  CHECK(testing::relative_error(loss.logits_gradient().template cast<double>(),
                                testing::get(golden, "d_logits_mean")) <= tolerance);
}

TEST_CASE("loss, gradient, softmax and log_softmax match PyTorch") {
  check_loss_golden<double>(1e-12);
  check_loss_golden<float>(1e-5);
}

template <class S>
void check_extreme_logits() {
  // Column 0: target is the +1e4 entry; column 1: target is the -1e4 entry (loss 2e4);
  // column 2: all equal huge values (uniform). V = 19 exercises SIMD batches and the tail.
  const Index vocabulary = 19;
  Matrix<S> logits = Matrix<S>::Zero(vocabulary, 3);
  logits(3, 0) = S(1e4);
  logits(5, 0) = S(-1e4);
  logits(7, 1) = S(1e4);
  logits(2, 1) = S(-1e4);
  logits.col(2).setConstant(S(1e4));
  const std::vector<TokenId> ids = {3, 2, 11};
  Matrix<S> d_logits;
  const CrossEntropyResult result = softmax_cross_entropy(logits, TokenView(ids, 3, 1), d_logits);
  REQUIRE(std::isfinite(result.loss));
  REQUIRE(d_logits.allFinite());
  const double expected = (0.0 + 2e4 + std::log(static_cast<double>(vocabulary))) / 3.0;
  CHECK(result.loss == doctest::Approx(expected).epsilon(1e-6));
  CHECK(result.correct == 1);  // column 2 ties everywhere: argmax is index 0, not 11
  // Every gradient column sums to 0 (softmax sums to 1, minus the one-hot).
  for (Index n = 0; n < 3; ++n) CHECK(std::abs(d_logits.col(n).sum()) <= 1e-6);

  Matrix<S> probs(vocabulary, 3), log_probs(vocabulary, 3);
  softmax(logits, probs);
  log_softmax(logits, log_probs);
  REQUIRE(probs.allFinite());
  REQUIRE(log_probs.allFinite());
  CHECK(log_probs(2, 1) == doctest::Approx(-2e4));  // log_softmax does not underflow to -inf
  for (Index n = 0; n < 3; ++n) CHECK(probs.col(n).sum() == doctest::Approx(1.0).epsilon(1e-6));
}

TEST_CASE("extreme logits of +-1e4 give finite losses, gradients and probabilities") {
  check_extreme_logits<float>();
  check_extreme_logits<double>();
}

TEST_CASE("accuracy counts the first maximum and only counted positions") {
  Matrix<float> logits(3, 5);
  logits << 1, 0, 2, 5, 1,  //
      3, 0, 2, 4, 1,        //
      2, 0, 1, 3, 1;
  // argmax per column (first maximum): 1, 0, 0, 0, 0
  const std::vector<TokenId> ids = {1, 0, 1, 0, 2};  // right, right (tie), wrong (tie), right, wrong (tie)
  const CrossEntropyResult all = cross_entropy(logits, TokenView(ids, 5, 1));
  CHECK(all.correct == 3);
  CHECK(all.counted == 5);
  CHECK(all.accuracy() == doctest::Approx(0.6));
  Vector<float> mask(5);
  mask << 1, 0, 1, 0, 1;
  const CrossEntropyResult masked = cross_entropy(logits, TokenView(ids, 5, 1), mask);
  CHECK(masked.correct == 1);
  CHECK(masked.counted == 3);
  CHECK(masked.counted_weight == 3.0);
}

TEST_CASE("masked positions get a zero gradient and their targets are never read") {
  Rng rng(9);
  const Matrix<double> logits = random_matrix(6, 4, rng, 2.0);
  const std::vector<TokenId> ids = {2, -1, 5, 1000};  // padding ids at masked positions
  Vector<double> mask(4);
  mask << 1, 0, 1, 0;
  Matrix<double> d_logits = Matrix<double>::Constant(6, 4, 7.0);  // stale values must be cleared
  const CrossEntropyResult masked = softmax_cross_entropy(logits, TokenView(ids, 4, 1), mask, d_logits);
  CHECK(d_logits.col(1).isZero(0));
  CHECK(d_logits.col(3).isZero(0));

  // Equals the unweighted loss over the two kept columns.
  Matrix<double> kept(6, 2), d_kept;
  kept << logits.col(0), logits.col(2);
  const std::vector<TokenId> kept_ids = {2, 5};
  const CrossEntropyResult reference = softmax_cross_entropy(kept, TokenView(kept_ids, 2, 1), d_kept);
  CHECK(masked.loss == doctest::Approx(reference.loss).epsilon(1e-14));
  CHECK((d_logits.col(0) - d_kept.col(0)).norm() <= 1e-15);
  CHECK((d_logits.col(2) - d_kept.col(1)).norm() <= 1e-15);
}

template <class S>
void check_temperature() {
  Rng rng(21);
  const Index vocabulary = 29;
  const Vector<S> logits = random_matrix(vocabulary, 1, rng, 4.0).cast<S>();
  Vector<S> probs(vocabulary), reference(vocabulary), log_probs(vocabulary);
  softmax(logits, reference);
  log_softmax(logits, log_probs);

  temperature_probabilities(logits, 1.0, probs);
  CHECK(probs == reference);  // T = 1 is exactly softmax

  for (double temperature : {0.25, 0.7, 1.6, 10.0}) {
    CAPTURE(temperature);
    temperature_probabilities(logits, temperature, probs);
    CHECK(probs.template cast<double>().sum() == doctest::Approx(1.0).epsilon(1e-6));
    // exp(log p / T), normalised, computed independently in double.
    Vector<double> expected = (log_probs.template cast<double>() / temperature).array().exp();
    expected /= expected.sum();
    CHECK(testing::relative_error(probs.template cast<double>(), expected) <= 1e-5);
  }

  // Tiny T -> the argmax; huge T -> uniform; neither produces NaN.
  Index best = 0;
  logits.maxCoeff(&best);
  temperature_probabilities(logits, 1e-300, probs);
  REQUIRE(probs.allFinite());
  CHECK(probs(best) == 1);
  CHECK(probs.sum() == 1);
  temperature_probabilities(logits, 1e300, probs);
  REQUIRE(probs.allFinite());
  CHECK(probs.minCoeff() == doctest::Approx(1.0 / vocabulary));
  CHECK(probs.maxCoeff() == doctest::Approx(1.0 / vocabulary));

  // In place on the logits column.
  Vector<S> in_place = logits;
  temperature_probabilities(in_place, 1.0, in_place);
  CHECK(in_place == reference);
}

TEST_CASE("temperature probabilities are softmax(logits / T)") {
  check_temperature<float>();
  check_temperature<double>();
}

TEST_CASE("softmax and log_softmax work in place") {
  Rng rng(4);
  const Matrix<float> logits = random_matrix(10, 3, rng, 5.0).cast<float>();
  Matrix<float> probs(10, 3), log_probs(10, 3);
  softmax(logits, probs);
  log_softmax(logits, log_probs);
  Matrix<float> work = logits;
  softmax(work, work);
  CHECK(work == probs);
  work = logits;
  log_softmax(work, work);
  CHECK(work == log_probs);
  Matrix<float> wide = Matrix<float>::Zero(10, 5);  // blocks of larger matrices are fine too
  softmax(logits.middleCols(1, 2), wide.middleCols(2, 2));
  CHECK(wide.middleCols(2, 2) == probs.middleCols(1, 2));
}

TEST_CASE("loss and softmax report bad input") {
  const Matrix<double> logits = Matrix<double>::Zero(4, 3);
  Matrix<double> d_logits;
  const std::vector<TokenId> ok = {0, 1, 2};

  const std::vector<TokenId> too_big = {0, 4, 1};
  check_throws_with<value_error>(
      [&] { softmax_cross_entropy(logits, TokenView(too_big, 3, 1), d_logits); },
      "softmax_cross_entropy: target id 4 at position 1 (step 1, sequence 0) is outside "
      "the vocabulary [0, 4)");
  const std::vector<TokenId> negative = {0, 1, 2, 3, 0, -2};
  check_throws_with<value_error>(
      [&] { cross_entropy(Matrix<double>::Zero(4, 6), TokenView(negative, 3, 2)); },
      "cross_entropy: target id -2 at position 5 (step 2, sequence 1)");
  check_throws_with<shape_error>([&] { softmax_cross_entropy(logits, TokenView(ok.data(), 2, 1), d_logits); },
                                 "targets has 2 ids, expected 3");
  check_throws_with<value_error>([&] { cross_entropy(logits, TokenView(nullptr, 3, 1)); }, "no data");
  check_throws_with<value_error>([&] { cross_entropy(Matrix<double>::Zero(0, 3), TokenView(ok, 3, 1)); },
                                 "at least one row");

  check_throws_with<value_error>(
      [&] { softmax_cross_entropy(logits, TokenView(ok, 3, 1), Vector<double>::Zero(3), d_logits); },
      "all 3 weights are zero");
  Vector<double> negative_weight(3);
  negative_weight << 1, -0.5, 1;
  check_throws_with<value_error>([&] { cross_entropy(logits, TokenView(ok, 3, 1), negative_weight); },
                                 "weight -0.5 at position 1");
  Vector<double> nan_weight(3);
  nan_weight << 1, 1, std::nan("");
  check_throws_with<value_error>([&] { cross_entropy(logits, TokenView(ok, 3, 1), nan_weight); },
                                 "at position 2");
  check_throws_with<shape_error>([&] { cross_entropy(logits, TokenView(ok, 3, 1), Vector<double>::Ones(2)); },
                                 "weights has 2 values, expected 3");

  // Nothing is written when the input is rejected.
  d_logits = Matrix<double>::Constant(2, 2, 5.0);
  CHECK_THROWS_AS(softmax_cross_entropy(logits, TokenView(too_big, 3, 1), d_logits), value_error);
  CHECK(d_logits == Matrix<double>::Constant(2, 2, 5.0));

  SoftmaxCrossEntropy<float> object;
  check_throws_with<value_error>([&] { object.forward(Matrix<float>::Zero(4, 3), TokenView(too_big, 3, 1)); },
                                 "SoftmaxCrossEntropy: target id 4");

  Matrix<double> wrong(4, 2);
  check_throws_with<shape_error>([&] { softmax(logits, wrong); },
                                 "softmax: output has shape 4x2, expected 4x3");
  check_throws_with<shape_error>([&] { log_softmax(logits, wrong); }, "log_softmax: output has shape 4x2");
  Vector<double> probs(4);
  check_throws_with<value_error>([&] { temperature_probabilities(logits.col(0), 0.0, probs); },
                                 "temperature must be");
  check_throws_with<value_error>([&] { temperature_probabilities(logits.col(0), -1.0, probs); }, "got -1");
  check_throws_with<value_error>([&] { temperature_probabilities(logits.col(0), std::nan(""), probs); },
                                 "temperature must be");
  check_throws_with<value_error>([&] { temperature_probabilities(logits.col(0), HUGE_VAL, probs); },
                                 "temperature must be");
  check_throws_with<shape_error>([&] { temperature_probabilities(logits, 1.0, probs); }, "has shape 4x3");
  Vector<double> short_probs(3);
  check_throws_with<shape_error>([&] { temperature_probabilities(logits.col(0), 1.0, short_probs); },
                                 "probs has shape 3x1, expected 4x1");
  Vector<double> infinite = Vector<double>::Zero(4);
  infinite(1) = HUGE_VAL;
  check_throws_with<value_error>([&] { temperature_probabilities(infinite, 1.0, probs); },
                                 "largest logit is inf");
}

}  // namespace loss_tests
