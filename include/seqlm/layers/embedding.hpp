/// \file
/// Embedding: token ids -> dense vectors (Keras Embedding(input_dim, output_dim)).
///
/// ```text
///   E       (dim x vocabulary)   parameter "embeddings", column v is the vector of token v
///   ids     T*B token ids, time-major (ids[t*B + b])
///   Y       (dim x T*B)          Y[:, k] = E[:, ids[k]]
/// ```
///
/// Equivalent to Y = E * onehot(ids), but the one-hot matrix is never built: the forward
/// pass is a gather of columns and the backward pass the matching scatter-add
/// ```text
///   dE[:, ids[k]] += dY[:, k]    for every k,
/// ```
/// so a token that appears n times receives the sum of its n output gradients.
/// See docs/layers/embedding.md.
#pragma once

#include <vector>

#include "../error.hpp"
#include "../init.hpp"
#include "../parameter.hpp"
#include "../random.hpp"
#include "../tensor.hpp"
#include "contract.hpp"

namespace seqlm {

template <class Scalar>
class Embedding {
 public:
  static constexpr const char* type_name = "Embedding";
  static constexpr LayerTraits traits{/*reads_tokens=*/true, /*reads_features=*/false,
                                      /*needs_time_axis=*/false, /*columnwise=*/true};
  using State = StatelessState;

  struct Config {
    Index vocabulary_size = 0, dimension = 0;
  };

  /// \details vocabulary_size: number of distinct token ids (ids are 0 .. vocabulary_size-1);
  /// dim: length of each embedding vector. Both must be positive (value_error).
  Embedding(Index vocabulary_size, Index dim) : Embedding(Config{vocabulary_size, dim}) {}
  explicit Embedding(const Config& config)
      : vocabulary_size_(config.vocabulary_size), dim_(config.dimension) {
    detail::check_positive("Embedding", "vocabulary size", vocabulary_size_);
    detail::check_positive("Embedding", "dimension", dim_);
    embeddings_ = Matrix<Scalar>::Zero(dim_, vocabulary_size_);
    embeddings_gradient_ = Matrix<Scalar>::Zero(dim_, vocabulary_size_);
  }

  Index vocabulary_size() const { return vocabulary_size_; }
  Index dim() const { return dim_; }
  Index input_size() const { return vocabulary_size_; }
  Index output_size() const { return dim_; }
  Config config() const { return Config{vocabulary_size_, dim_}; }
  bool keeps_time_axis() const { return true; }

  /// E (dim x vocabulary).
  static Index parameter_count(const Config& config) { return config.dimension * config.vocabulary_size; }
  Index parameter_count() const { return parameter_count(config()); }

  /// Keras default: embeddings ~ U(-0.05, 0.05).
  void initialize(Rng& rng) { init::uniform(embeddings_, -0.05, 0.05, rng); }

  /// {"embeddings"}: value (dim x vocabulary) and its accumulated gradient.
  ParameterList<Scalar> parameters() { return {{"embeddings", &embeddings_, &embeddings_gradient_}}; }
  ConstParameterList<Scalar> parameters() const {
    return {{"embeddings", &embeddings_, &embeddings_gradient_}};
  }

  Matrix<Scalar>& embeddings() { return embeddings_; }
  const Matrix<Scalar>& embeddings() const { return embeddings_; }

  /// The contract's form: token ids only; Embedding has no state.
  const Matrix<Scalar>& forward(const LayerInput<Scalar>& input, const LayerContext& = {},
                                const State* = nullptr) {
    return forward(detail::tokens_of("Embedding", input));
  }
  void copy_final_state(State&) const {}

  /// Y (dim x T*B): column k is the embedding of tokens.ids[k]. The ids are copied, so the
  /// caller's buffer may change before backward(). Throws value_error for an empty view or an
  /// id outside [0, vocabulary_size), naming the step and sequence.
  const Matrix<Scalar>& forward(const TokenView& tokens) {
    detail::check_tokens("Embedding", tokens, vocabulary_size_);
    const Index n = tokens.size();
    ids_.assign(tokens.ids, tokens.ids + n);  // no allocation when the size is unchanged
    if (output_.cols() != n) output_.resize(dim_, n);
    for (Index k = 0; k < n; ++k) output_.col(k) = embeddings_.col(ids_[k]);
    return output_;
  }

  /// Accumulates dE[:, ids[k]] += d_output[:, k] for the ids of the last forward().
  /// d_output must be (dim x T*B) like that forward's output (shape_error otherwise).
  /// There is no input gradient: token ids are not differentiable.
  void backward(ConstMatrixRef<Scalar> d_output, const LayerContext& = {}) {
    if (ids_.empty()) throw value_error("Embedding: backward() called before forward()");
    detail::check_shape("Embedding", "d_output", d_output, dim_, static_cast<Index>(ids_.size()));
    for (Index k = 0; k < d_output.cols(); ++k) embeddings_gradient_.col(ids_[k]) += d_output.col(k);
  }

  /// Token ids are not differentiable: there is never an input gradient.
  bool has_input_gradient() const { return false; }
  const Matrix<Scalar>& input_gradient() const {
    throw value_error("Embedding: input_gradient() is not defined (token ids are not differentiable)");
  }

  // ---- streaming ---------------------------------------------------------------------------

  State make_state(Index batch) const { return detail::make_stateless_state("Embedding", batch); }

  /// The contract's form: out (dim x B) = the embeddings of one step of B token ids.
  void step(const LayerInput<Scalar>& input, State& state, Matrix<Scalar>& out) const {
    const TokenView& ids = detail::tokens_of("Embedding step", input);
    detail::check_step_batch("Embedding", input.batch, state.batch);
    detail::size_output(out, dim_, state.batch);
    step(ids.ids, state.batch, out);
  }

  /// Nothing to copy (no memory); the indices are checked.
  void copy_sequence(const State& from, Index b, State& to, Index to_b) const {
    detail::copy_stateless_sequence("Embedding", from, b, to, to_b);
  }

  /// Embeds one step of `batch` tokens into out (dim x batch).
  void step(const TokenId* ids, Index batch, MatrixRef<Scalar> out) const {
    detail::check_tokens("Embedding step", TokenView(ids, 1, batch), vocabulary_size_);
    detail::check_shape("Embedding step", "output", out, dim_, batch);
    for (Index b = 0; b < batch; ++b) out.col(b) = embeddings_.col(ids[b]);
  }

 private:
  Index vocabulary_size_;
  Index dim_;
  Matrix<Scalar> embeddings_;           // E  (dim x vocabulary)
  Matrix<Scalar> embeddings_gradient_;  // dE (dim x vocabulary), accumulated
  std::vector<TokenId> ids_;            // ids of the last forward(), for the scatter-add
  Matrix<Scalar> output_;               // Y  (dim x T*B)
};

}  // namespace seqlm
