/// \file
/// Sliding windows over one long token stream: the classic character-level LM datasets.
///
/// Window i starts at token i * step and has `length` input tokens:
/// ```text
///   x_i = tokens[i*step .. i*step + length)
/// ```
/// and its targets are either
/// ```text
///   next_token_after_window (Chollet, "Deep Learning with Python" / Keras's Nietzsche
///     example):  y_i = tokens[i*step + length]                 one target per window
///   every_position (seq-to-seq, Géron's Machado / Shakespeare with window(L+1, shift=1)):
///     y_i = tokens[i*step + 1 .. i*step + length + 1)           one target per step
/// ```
/// Both need the token after the window, so the windows are exactly
/// ```text
///   i*step for i*step in range(0, n - length, step)  ->  ceil((n - length) / step) windows
/// ```
/// (Nietzsche: n = 600,893, maxlen 60, step 3 -> 200,278; Machado: window of 128+1 with
/// shift 1 over a split of n tokens -> n - 128). No window is ever copied on its own: fill()
/// reads each window once from the stream straight into the batch.
#pragma once

#include <algorithm>
#include <utility>
#include <vector>

#include "../error.hpp"
#include "../tensor.hpp"
#include "batching.hpp"
#include "token_source.hpp"

namespace seqlm {

enum class WindowTargets {
  next_token_after_window,  ///< y = the token after the window (target_steps = 1)
  every_position,           ///< y = the window shifted by one (target_steps = length)
};

class WindowDataset {
 public:
  /// length: input tokens per window (> 0); step: distance between window starts (> 0).
  WindowDataset(TokenStream tokens, Index length, Index step, WindowTargets targets)
      : tokens_(std::move(tokens)), length_(length), step_(step), targets_(targets) {
    detail::check_positive("WindowDataset", "window length", length);
    detail::check_positive("WindowDataset", "window step", step);
  }

  /// ceil((n - length) / step) when n > length, else 0: len(range(0, n - length, step)).
  Index size() const { return window_count(tokens_.size(), length_, step_); }

  static Index window_count(Index token_count, Index length, Index step) {
    return token_count > length ? (token_count - length + step - 1) / step : 0;
  }

  Index length() const { return length_; }
  Index step() const { return step_; }
  WindowTargets targets() const { return targets_; }
  Index target_steps() const { return targets_ == WindowTargets::every_position ? length_ : 1; }
  Index window_start(Index i) const { return i * step_; }
  const TokenStream& tokens() const { return tokens_; }

  /// \details Lays out the windows `indices` as batch columns b = 0 .. indices.size-1:
  /// ```text
  ///   inputs  (length x B):        inputs[t*B + b]  = tokens[start_b + t]
  ///   targets (target_steps x B):  every_position: targets[t*B + b] = tokens[start_b + t + 1]
  ///                                next_token:     targets[b]       = tokens[start_b + length]
  ///   weights: all 1 (every window is full length).
  /// ```
  void fill(IndexSpan indices, Batch& batch) const {
    detail::check_example_indices("WindowDataset", indices, size());
    const Index B = indices.size;
    batch.reshape(length_, B, target_steps());
    batch.staging.resize(static_cast<size_t>(length_ + 1));
    TokenId* window = batch.staging.data();  // the window and the token after it
    for (Index b = 0; b < B; ++b) {
      tokens_.read(window_start(indices[b]), length_ + 1, window);
      for (Index t = 0; t < length_; ++t) batch.inputs[static_cast<size_t>(t * B + b)] = window[t];
      if (targets_ == WindowTargets::every_position) {
        for (Index t = 0; t < length_; ++t) batch.targets[static_cast<size_t>(t * B + b)] = window[t + 1];
      } else {
        batch.targets[static_cast<size_t>(b)] = window[length_];
      }
    }
    std::fill(batch.weights.begin(), batch.weights.end(), 1.0f);
  }

 private:
  TokenStream tokens_;
  Index length_;
  Index step_;
  WindowTargets targets_;
};

}  // namespace seqlm
