/// \file
/// Parallel streams over one long text: the dataset of stateful truncated BPTT (char-rnn).
///
/// The n tokens are cut into S contiguous streams of L = floor((n - 1) / S) input tokens each
/// (the last n - 1 - S L tokens are not read); stream s reads
/// ```text
///   x_s = tokens[s L .. s L + L)        y_s = tokens[s L + 1 .. s L + L + 1)   (every position)
/// ```
/// in C = ceil(L / T) chunks of T steps (the last chunk may be shorter). Example i is chunk
/// c = i / S of stream s = i % S, so batch c of a non-shuffled schedule with batch_size S
/// holds chunk c of every stream, in stream order: when the model's recurrent state is carried
/// from one batch to the next (FitOptions::stateful, Sequential::State), every stream is read
/// as one long sequence, each token is an input exactly once per epoch, and every position is
/// a target; gradients flow back at most T steps (truncated BPTT across chunks).
///
/// ```text
///   stream 0:  | chunk 0 | chunk 1 | ... | chunk C-1 |      batch c = chunk c of streams 0..S-1
///   stream 1:  | chunk 0 | chunk 1 | ... | chunk C-1 |      (steps = chunk length, batch = S)
///   ...
/// ```
///
/// Compared with sliding windows (data/windows.hpp: a 60-token window for one target, every
/// token read 20 times with step 3) this reads the text once per epoch and learns from every
/// position, with a context that reaches back over all the chunks read before.
#pragma once

#include <algorithm>
#include <utility>

#include "../error.hpp"
#include "../tensor.hpp"
#include "batching.hpp"
#include "token_source.hpp"

namespace seqlm {

class StreamDataset {
 public:
  /// streams: S > 0 parallel streams (the batch size to train with); steps: T > 0 steps per
  /// chunk. value_error when the tokens cannot give every stream at least one input and target.
  StreamDataset(TokenStream tokens, Index streams, Index steps)
      : tokens_(std::move(tokens)), streams_(streams), steps_(steps) {
    detail::check_positive("StreamDataset", "stream count", streams);
    detail::check_positive("StreamDataset", "chunk length", steps);
    if (tokens_.size() < streams + 1) {
      throw value_error(
          detail::make_message("StreamDataset: ", tokens_.size(), " tokens cannot make ", streams,
                               " streams (each needs at least 2 tokens: one input, one target; ",
                               "give fewer streams or more text)"));
    }
    stream_length_ = (tokens_.size() - 1) / streams_;
    chunks_ = (stream_length_ + steps_ - 1) / steps_;
  }

  /// S x C examples: chunk c of stream s is example c S + s.
  Index size() const { return streams_ * chunks_; }
  Index streams() const { return streams_; }
  Index steps() const { return steps_; }
  Index chunks() const { return chunks_; }
  /// Input tokens per stream, L (each one is also a target: L targets per stream).
  Index stream_length() const { return stream_length_; }
  /// Input steps of chunk c: T, or what is left of L for the last chunk.
  Index chunk_steps(Index chunk) const { return std::min(steps_, stream_length_ - chunk * steps_); }
  /// The steps example i would fill (for distributed training: every process pads alike).
  Index steps_of(Index example) const { return chunk_steps(example / streams_); }
  const TokenStream& tokens() const { return tokens_; }

  /// \details Lays out the examples `indices` as batch columns b = 0 .. B-1, time-major:
  /// ```text
  ///   inputs  (steps x B):  inputs[t*B + b]  = tokens[start_b + t]
  ///   targets (steps x B):  targets[t*B + b] = tokens[start_b + t + 1]
  ///   weights (steps x B):  1, or 0 past the end of a shorter chunk (padding)
  /// ```
  /// with start_b = s L + c T for example c S + s, and steps the longest chunk among them
  /// (at least min_steps).
  void fill(IndexSpan indices, Batch& batch, Index min_steps = 0) const {
    detail::check_example_indices("StreamDataset", indices, size());
    const Index B = indices.size;
    Index steps = min_steps;
    for (const Index i : indices) steps = std::max(steps, steps_of(i));
    batch.reshape(steps, B, steps);
    batch.staging.resize(static_cast<size_t>(steps + 1));
    TokenId* chunk = batch.staging.data();  // the chunk's inputs and the token after them
    for (Index b = 0; b < B; ++b) {
      const Index i = indices[b], stream = i % streams_, c = i / streams_;
      const Index length = chunk_steps(c);
      tokens_.read(stream * stream_length_ + c * steps_, length + 1, chunk);
      for (Index t = 0; t < steps; ++t) {
        const size_t k = static_cast<size_t>(t * B + b);
        const bool real = t < length;
        batch.inputs[k] = real ? chunk[t] : chunk[length];
        batch.targets[k] = real ? chunk[t + 1] : 0;
        batch.weights[k] = real ? 1.0 : 0.0;
      }
    }
  }

 private:
  TokenStream tokens_;
  Index streams_;
  Index steps_;
  Index stream_length_ = 0;
  Index chunks_ = 0;
};

}  // namespace seqlm
