// Variable-length lines batched with post-padding and zero weights give exactly the same
// loss and gradients through a real causal model (LSTM on ids + Dense + softmax CE), whatever
// the batch composition and however much padding is added.
#include <doctest/doctest.h>

#include <seqlm/seqlm.hpp>
#include <vector>

namespace padding_invariance_tests {

using namespace seqlm;

namespace {

struct Totals {
  double weighted_loss = 0;               // sum over counted positions of the per-position loss
  double weight = 0;                      // number of counted positions
  std::vector<Matrix<double>> gradients;  // sum over counted positions of d loss_n / d theta
};

// Runs the given batches through LSTM(ids) -> Dense -> softmax CE and accumulates the
// un-normalised loss and gradients (each batch's mean times its counted weight).
Totals run(LSTM<double>& lstm, Dense<double>& dense, const LineSequences& lines,
           const std::vector<std::vector<Index>>& batches, Index min_steps) {
  Totals totals;
  ParameterList<double> parameters = lstm.parameters();
  for (const auto& p : dense.parameters()) parameters.push_back(p);
  for (const auto& p : parameters)
    totals.gradients.push_back(Matrix<double>::Zero(p.value->rows(), p.value->cols()));
  Batch batch;
  SoftmaxCrossEntropy<double> loss;
  for (const auto& indices : batches) {
    lines.fill(IndexSpan(indices), batch, min_steps);
    const Vector<double> weights =
        Eigen::Map<const Vector<double>>(batch.weights.data(), static_cast<Index>(batch.weights.size()));
    const auto result =
        loss.forward(dense.forward(lstm.forward(batch.input_view())), batch.target_view(), weights);
    zero_gradients(parameters);
    dense.backward(loss.logits_gradient());
    lstm.backward(dense.input_gradient());
    totals.weighted_loss += result.loss * result.counted_weight;
    totals.weight += result.counted_weight;
    for (size_t k = 0; k < parameters.size(); ++k)
      totals.gradients[k] += *parameters[k].gradient * result.counted_weight;
  }
  return totals;
}

}  // namespace

TEST_CASE("padding and batch composition never change the loss or the gradients") {
  const std::vector<std::vector<TokenId>> corpus = {
      {1, 2, 3, 4, 5, 6, 7}, {3, 1}, {4, 4, 2, 6}, {7, 1, 2, 3, 1, 2, 3, 5, 5}, {2, 6, 1}};
  const LineSequences lines{LineCorpus(corpus)};
  Rng rng(5);
  LSTMOptions options;
  options.return_sequences = true;
  LSTM<double> lstm(8, 6, options);
  Dense<double> dense(6, 8);
  lstm.initialize(rng);
  dense.initialize(rng);

  const Totals one_by_one = run(lstm, dense, lines, {{0}, {1}, {2}, {3}, {4}}, 0);
  const Totals all_together = run(lstm, dense, lines, {{0, 1, 2, 3, 4}}, 0);
  const Totals mixed_padded = run(lstm, dense, lines, {{3, 1}, {4, 0, 2}}, 12);

  CHECK(one_by_one.weight == 1.0 * (6 + 1 + 3 + 8 + 2));
  for (const Totals* other : {&all_together, &mixed_padded}) {
    CHECK(other->weight == one_by_one.weight);
    CHECK(other->weighted_loss == doctest::Approx(one_by_one.weighted_loss).epsilon(1e-12));
    for (size_t k = 0; k < one_by_one.gradients.size(); ++k) {
      const double difference = (other->gradients[k] - one_by_one.gradients[k]).norm();
      CHECK(difference <= 1e-12 * (1.0 + one_by_one.gradients[k].norm()));
    }
  }
}

}  // namespace padding_invariance_tests
