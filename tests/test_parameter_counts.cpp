// The tutorials' models, assembled from seqlm layers, have exactly Keras's parameter counts.
#include <doctest/doctest.h>

#include <seqlm/seqlm.hpp>

namespace parameter_counts_tests {

using namespace seqlm;

namespace {

template <class... Layers>
Index total_parameters(Layers&... layers) {
  return (count_parameters(layers.parameters()) + ...);
}

}  // namespace

TEST_CASE("single layers match Keras's counts") {
  LSTM<float> lstm_100_on_10(10, 100);
  CHECK(count_parameters(lstm_100_on_10.parameters()) == 44400);
  GRU<float> gru_128_on_60(60, 128);
  CHECK(count_parameters(gru_128_on_60.parameters()) == 72960);
  GRU<float> gru_128_on_128(128, 128);
  CHECK(count_parameters(gru_128_on_128.parameters()) == 99072);
}

TEST_CASE("Nietzsche: LSTM(128) on 57 one-hot characters + Dense(57) = 102,585") {
  LSTM<float> lstm(57, 128);
  Dense<float> dense(128, 57);
  CHECK(total_parameters(lstm, dense) == 102585);
}

TEST_CASE("Machado: Embedding(86,16) + Conv1D(32,3) + GRU(128) + Dense(86) = 76,246") {
  Embedding<float> embedding(86, 16);
  Conv1D<float> conv(16, 32, 3, Conv1DOptions{1, Activation::relu});
  GRUOptions gru_options;
  gru_options.return_sequences = true;
  GRU<float> gru(32, 128, gru_options);
  Dense<float> dense(128, 86);
  CHECK(total_parameters(embedding, conv, gru, dense) == 76246);
}

TEST_CASE("Poems: GRU(128) x2 on 60 one-hot characters + Dense(60) = 179,772") {
  GRU<float> first(60, 128), second(128, 128);
  Dense<float> dense(128, 60);
  CHECK(total_parameters(first, second, dense) == 179772);
}

TEST_CASE("Headlines: Embedding(3582,10) + LSTM(100) + Dropout(0.1) + Dense(3582) = 442,002") {
  Embedding<float> embedding(3582, 10);
  LSTM<float> lstm(10, 100);
  Dropout<float> dropout(0.1);
  Dense<float> dense(100, 3582);
  CHECK(total_parameters(embedding, lstm, dropout, dense) == 442002);
}

}  // namespace parameter_counts_tests
