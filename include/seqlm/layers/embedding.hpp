// Embedding: token ids -> dense vectors (Keras Embedding(input_dim, output_dim)).
//
//   E       (dim x vocabulary)   parameter "embeddings", column v is the vector of token v
//   ids     T*B token ids, time-major (ids[t*B + b])
//   Y       (dim x T*B)          Y[:, k] = E[:, ids[k]]
//
// Equivalent to Y = E * onehot(ids), but the one-hot matrix is never built: the forward
// pass is a gather of columns and the backward pass the matching scatter-add
//   dE[:, ids[k]] += dY[:, k]    for every k,
// so a token that appears n times receives the sum of its n output gradients.
// See docs/layers/embedding.md.
#pragma once

#include <vector>

#include "../error.hpp"
#include "../init.hpp"
#include "../parameter.hpp"
#include "../random.hpp"
#include "../tensor.hpp"

namespace seqlm {

template <class Scalar>
class Embedding {
 public:
  // vocabulary_size: number of distinct token ids (ids are 0 .. vocabulary_size-1);
  // dim: length of each embedding vector. Both must be positive (value_error).
  Embedding(Index vocabulary_size, Index dim) : vocabulary_size_(vocabulary_size), dim_(dim) {
    detail::check_positive("Embedding", "vocabulary size", vocabulary_size);
    detail::check_positive("Embedding", "dimension", dim);
    embeddings_ = Matrix<Scalar>::Zero(dim, vocabulary_size);
    d_embeddings_ = Matrix<Scalar>::Zero(dim, vocabulary_size);
  }

  Index vocabulary_size() const { return vocabulary_size_; }
  Index dim() const { return dim_; }

  // Keras default: embeddings ~ U(-0.05, 0.05).
  void initialize(Rng& rng) { init::uniform(embeddings_, -0.05, 0.05, rng); }

  // {"embeddings"}: value (dim x vocabulary) and its accumulated gradient.
  ParameterList<Scalar> parameters() { return {{"embeddings", &embeddings_, &d_embeddings_}}; }

  const Matrix<Scalar>& embeddings() const { return embeddings_; }

  // Y (dim x T*B): column k is the embedding of tokens.ids[k]. The ids are copied, so the
  // caller's buffer may change before backward(). Throws value_error for an empty view or an
  // id outside [0, vocabulary_size), naming the step and sequence.
  const Matrix<Scalar>& forward(const TokenView& tokens) {
    detail::check_tokens("Embedding", tokens, vocabulary_size_);
    const Index n = tokens.size();
    ids_.assign(tokens.ids, tokens.ids + n);  // no allocation when the size is unchanged
    if (output_.cols() != n) output_.resize(dim_, n);
    for (Index k = 0; k < n; ++k) output_.col(k) = embeddings_.col(ids_[k]);
    return output_;
  }

  // Accumulates dE[:, ids[k]] += d_output[:, k] for the ids of the last forward().
  // d_output must be (dim x T*B) like that forward's output (shape_error otherwise).
  // There is no input gradient: token ids are not differentiable.
  void backward(ConstMatrixRef<Scalar> d_output) {
    if (ids_.empty()) throw value_error("Embedding: backward() called before forward()");
    detail::check_shape("Embedding", "d_output", d_output, dim_, static_cast<Index>(ids_.size()));
    for (Index k = 0; k < d_output.cols(); ++k) d_embeddings_.col(ids_[k]) += d_output.col(k);
  }

  // Streaming: embeds one step of `batch` tokens into out (dim x batch). Stateless.
  void step(const TokenId* ids, Index batch, MatrixRef<Scalar> out) const {
    detail::check_tokens("Embedding step", TokenView(ids, 1, batch), vocabulary_size_);
    detail::check_shape("Embedding step", "output", out, dim_, batch);
    for (Index b = 0; b < batch; ++b) out.col(b) = embeddings_.col(ids[b]);
  }

 private:
  Index vocabulary_size_;
  Index dim_;
  Matrix<Scalar> embeddings_;    // E  (dim x vocabulary)
  Matrix<Scalar> d_embeddings_;  // dE (dim x vocabulary), accumulated
  std::vector<TokenId> ids_;     // ids of the last forward(), for the scatter-add
  Matrix<Scalar> output_;        // Y  (dim x T*B)
};

}  // namespace seqlm
