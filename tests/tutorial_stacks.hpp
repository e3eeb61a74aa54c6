// The tutorials' four neural stacks at test size, and random batches, shared by the model tests.
#pragma once

#include <seqlm/data/batching.hpp>
#include <seqlm/model/sequential.hpp>
#include <string>
#include <vector>

namespace seqlm::test {

// ---- the tutorials' stacks, at full size and at test size ---------------------------------------------

struct Sizes {
  Index vocabulary, embedding, filters, units;
};

// Headlines: Embedding(V, 10) + LSTM(100) + Dropout(0.1) + Dense(V).
template <class S>
Sequential<S> headlines(const Sizes& n) {
  Sequential<S> model(InputSpec::token_ids(n.vocabulary));
  model.add(layers::embedding<S>(n.vocabulary, n.embedding));
  model.add(layers::lstm<S>(n.embedding, n.units));
  model.add(layers::dropout<S>(0.1));
  model.add(layers::dense<S>(n.units, n.vocabulary));
  return model;
}

// Poems: GRU(128, return_sequences) + GRU(128) + Dense(V) on token ids.
template <class S>
Sequential<S> poems(const Sizes& n) {
  GRUOptions sequences;
  sequences.return_sequences = true;
  Sequential<S> model(InputSpec::token_ids(n.vocabulary));
  model.add(layers::gru<S>(n.vocabulary, n.units, sequences));
  model.add(layers::gru<S>(n.units, n.units));
  model.add(layers::dense<S>(n.units, n.vocabulary));
  return model;
}

// Nietzsche: LSTM(128) on one-hot characters (token ids) + Dense(V).
template <class S>
Sequential<S> nietzsche(const Sizes& n) {
  Sequential<S> model(InputSpec::token_ids(n.vocabulary));
  model.add(layers::lstm<S>(n.vocabulary, n.units));
  model.add(layers::dense<S>(n.units, n.vocabulary));
  return model;
}

// Machado: Embedding(V, 16) + Conv1D(32, 3, relu, causal) + GRU(128, return_sequences) + Dense(V).
template <class S>
Sequential<S> machado(const Sizes& n, Index dilation = 1) {
  Conv1DOptions conv;
  conv.activation = Activation::relu;
  conv.dilation = dilation;
  GRUOptions sequences;
  sequences.return_sequences = true;
  Sequential<S> model(InputSpec::token_ids(n.vocabulary));
  model.add(layers::embedding<S>(n.vocabulary, n.embedding));
  model.add(layers::conv1d<S>(n.embedding, n.filters, 3, conv));
  model.add(layers::gru<S>(n.filters, n.units, sequences));
  model.add(layers::dense<S>(n.units, n.vocabulary));
  return model;
}

inline std::vector<TokenId> random_ids(Index count, Index vocabulary, Rng& rng) {
  std::vector<TokenId> ids(static_cast<size_t>(count));
  for (auto& id : ids) id = static_cast<TokenId>(rng.below(static_cast<std::uint64_t>(vocabulary)));
  return ids;
}

// A batch with random inputs/targets and weights 1, 0.5, 0 (masked), ... in turn.
inline Batch random_batch(Index steps, Index batch_size, Index target_steps, Index vocabulary, Rng& rng) {
  Batch batch;
  batch.reshape(steps, batch_size, target_steps);
  batch.inputs = random_ids(steps * batch_size, vocabulary, rng);
  batch.targets = random_ids(target_steps * batch_size, vocabulary, rng);
  const float pattern[] = {1.0f, 0.5f, 0.0f, 1.0f};
  for (size_t k = 0; k < batch.weights.size(); ++k) batch.weights[k] = pattern[k % 4];
  batch.weights[0] = 1.0f;
  return batch;
}

inline bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace seqlm::test
