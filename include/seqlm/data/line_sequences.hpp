/// \file
/// Datasets over a corpus of lines (one sentence, verse or message per line), the word-level
/// "next word" tutorials.
///
/// PrefixSequences is the headline tutorial's dataset, faithfully: for a line t of n >= 2
/// tokens, every prefix t[0..k] for k = 1 .. n-1 is one example, PRE-padded with 0 to the
/// longest line's length N; x = all but the last token (N - 1 steps), y = the last:
///
/// ```text
///   line [5 8 2 7], N = 5    ->    x = [0 0 0 5]  y = 8
///                                  x = [0 0 5 8]  y = 2
///                                  x = [0 5 8 2]  y = 7
/// ```
///
/// That is sum over lines of (n - 1) examples of N - 1 steps each: a line costs O(n * N)
/// steps of recurrent computation, O(N^2) for long lines.
///
/// LineSequences is the efficient equivalent: one example per line, x = t[0..n-1) and a
/// target at EVERY position, y = t[1..n), POST-padded to the longest line of the batch with
/// weight 0 on the padding:
///
/// ```text
///   line [5 8 2 7]   ->   x = [5 8 2 p p]   y = [8 2 7 p p]   weights = [1 1 1 0 0]
/// ```
///
/// With a causal model (output at step t depends on x[0..t] only) the output at position
/// k-1 sees exactly the context t[0..k) and is scored against t[k]: the same (context, target)
/// pairs as the prefix expansion, for O(n) steps per line instead of O(n^2), at any batch
/// size; post-padding only adds positions after the real ones, which have weight 0 and
/// cannot influence the real ones. length_buckets() groups lines of similar length to keep
/// the padding small.
#pragma once

#include <algorithm>
#include <utility>
#include <vector>

#include "../error.hpp"
#include "../random.hpp"
#include "../tensor.hpp"
#include "batching.hpp"
#include "token_source.hpp"

namespace seqlm {

/// Lines of token ids stored back to back in one TokenStream: line l is the range
/// [offsets[l], offsets[l+1]). A file-backed corpus is a file-backed TokenStream plus the
/// offsets (e.g. read from an index file).
class LineCorpus {
 public:
  LineCorpus() : offsets_{0} {}

  /// Copies the lines into one contiguous vector (once).
  explicit LineCorpus(const std::vector<std::vector<TokenId>>& lines) : offsets_{0} {
    std::vector<TokenId> all;
    for (const auto& line : lines) {
      all.insert(all.end(), line.begin(), line.end());
      offsets_.push_back(static_cast<Index>(all.size()));
    }
    tokens_ = TokenStream(std::move(all));
  }

  /// offsets: line_count + 1 non-decreasing positions, offsets[0] = 0, last = tokens.size().
  LineCorpus(TokenStream tokens, std::vector<Index> offsets)
      : tokens_(std::move(tokens)), offsets_(std::move(offsets)) {
    if (offsets_.empty() || offsets_.front() != 0 || offsets_.back() != tokens_.size()) {
      throw value_error(detail::make_message(
          "LineCorpus: offsets must start at 0 and end at the stream size ", tokens_.size()));
    }
    for (size_t l = 1; l < offsets_.size(); ++l) {
      if (offsets_[l] < offsets_[l - 1]) {
        throw value_error(detail::make_message("LineCorpus: offsets decrease at line ", l - 1));
      }
    }
  }

  Index line_count() const { return static_cast<Index>(offsets_.size()) - 1; }
  Index line_length(Index line) const {
    if (line < 0 || line >= line_count()) {
      throw value_error(
          detail::make_message("LineCorpus: line ", line, " is outside [0, ", line_count(), ")"));
    }
    return offsets_[static_cast<size_t>(line + 1)] - offsets_[static_cast<size_t>(line)];
  }
  /// Copies tokens [begin, begin + count) of line `line` into out.
  void read_line(Index line, Index begin, Index count, TokenId* out) const {
    const Index length = line_length(line);
    if (begin < 0 || count < 0 || begin + count > length) {
      throw value_error(detail::make_message("LineCorpus: range [", begin, ", ", begin + count,
                                             ") is outside line ", line, " of ", length, " tokens"));
    }
    tokens_.read(offsets_[static_cast<size_t>(line)] + begin, count, out);
  }
  std::vector<TokenId> line(Index line) const {
    std::vector<TokenId> ids(static_cast<size_t>(line_length(line)));
    read_line(line, 0, line_length(line), ids.data());
    return ids;
  }
  const TokenStream& tokens() const { return tokens_; }

 private:
  TokenStream tokens_;
  std::vector<Index> offsets_;
};

// ---- the tutorial's prefix expansion ------------------------------------------------------------

class PrefixSequences {
 public:
  struct Example {
    Index line;           ///< which line of the corpus
    Index prefix_length;  ///< k: x = t[0..k) (pre-padded), y = t[k]
  };

  explicit PrefixSequences(LineCorpus corpus, TokenId pad_id = 0)
      : corpus_(std::move(corpus)), pad_id_(pad_id) {
    first_example_.push_back(0);
    for (Index l = 0; l < corpus_.line_count(); ++l) {
      const Index n = corpus_.line_length(l);
      if (n >= 2) sequence_length_ = std::max(sequence_length_, n);
      first_example_.push_back(first_example_.back() + std::max<Index>(n - 1, 0));
    }
  }

  /// sum over lines of (n - 1), lines of fewer than 2 tokens giving none.
  Index size() const { return first_example_.back(); }
  /// Keras's max_sequence_len: the longest line of >= 2 tokens (0 if there is none).
  Index sequence_length() const { return sequence_length_; }
  /// Steps of every x: sequence_length - 1.
  Index input_steps() const { return std::max<Index>(sequence_length_ - 1, 0); }
  const LineCorpus& corpus() const { return corpus_; }

  /// Examples are numbered line by line, k = 1 .. n-1 within a line.
  Example example(Index i) const {
    if (i < 0 || i >= size()) {
      throw value_error(
          detail::make_message("PrefixSequences: example ", i, " is outside [0, ", size(), ")"));
    }
    const auto after = std::upper_bound(first_example_.begin(), first_example_.end(), i);
    const Index line = static_cast<Index>(after - first_example_.begin()) - 1;
    return {line, i - first_example_[static_cast<size_t>(line)] + 1};
  }

  /// inputs (input_steps x B): pad_id then the prefix, right-aligned; targets (1 x B): t[k];
  /// weights all 1.
  void fill(IndexSpan indices, Batch& batch) const {
    detail::check_example_indices("PrefixSequences", indices, size());
    const Index B = indices.size;
    const Index steps = input_steps();
    batch.reshape(steps, B, 1);
    batch.staging.resize(static_cast<size_t>(sequence_length_));
    TokenId* prefix = batch.staging.data();
    for (Index b = 0; b < B; ++b) {
      const Example e = example(indices[b]);
      corpus_.read_line(e.line, 0, e.prefix_length + 1, prefix);  // t[0..k]
      const Index padding = steps - e.prefix_length;
      for (Index t = 0; t < padding; ++t) batch.inputs[static_cast<size_t>(t * B + b)] = pad_id_;
      for (Index j = 0; j < e.prefix_length; ++j) {
        batch.inputs[static_cast<size_t>((padding + j) * B + b)] = prefix[j];
      }
      batch.targets[static_cast<size_t>(b)] = prefix[e.prefix_length];
    }
    std::fill(batch.weights.begin(), batch.weights.end(), 1.0f);
  }

 private:
  LineCorpus corpus_;
  TokenId pad_id_;
  Index sequence_length_ = 0;
  std::vector<Index> first_example_;  // first example of each line; last = size()
};

// ---- the efficient equivalent: one sequence per line, a loss at every position ---------------------

class LineSequences {
 public:
  explicit LineSequences(LineCorpus corpus, TokenId pad_id = 0)
      : corpus_(std::move(corpus)), pad_id_(pad_id) {
    for (Index l = 0; l < corpus_.line_count(); ++l) {
      if (corpus_.line_length(l) >= 2) lines_.push_back(l);
    }
  }

  /// One example per line of at least 2 tokens.
  Index size() const { return static_cast<Index>(lines_.size()); }
  Index line_of(Index example) const { return lines_.at(static_cast<size_t>(example)); }
  /// Steps (and targets) of example i: its line's length minus 1.
  Index steps_of(Index example) const { return corpus_.line_length(line_of(example)) - 1; }
  const LineCorpus& corpus() const { return corpus_; }

  /// steps = max(longest example of the batch, min_steps); for sequence b of n_b - 1 steps:
  /// ```text
  ///   inputs[t*B + b]  = t_b[t],     targets[t*B + b] = t_b[t + 1],  weights = 1   (t < n_b - 1)
  ///   inputs = targets = pad_id,                                     weights = 0   (padding)
  /// ```
  void fill(IndexSpan indices, Batch& batch, Index min_steps = 0) const {
    detail::check_example_indices("LineSequences", indices, size());
    const Index B = indices.size;
    Index steps = min_steps;
    for (Index b = 0; b < B; ++b) steps = std::max(steps, steps_of(indices[b]));
    batch.reshape(steps, B, steps);
    batch.staging.resize(static_cast<size_t>(steps + 1));
    TokenId* line = batch.staging.data();
    for (Index b = 0; b < B; ++b) {
      const Index real_steps = steps_of(indices[b]);
      corpus_.read_line(line_of(indices[b]), 0, real_steps + 1, line);
      for (Index t = 0; t < steps; ++t) {
        const size_t at = static_cast<size_t>(t * B + b);
        const bool real = t < real_steps;
        batch.inputs[at] = real ? line[t] : pad_id_;
        batch.targets[at] = real ? line[t + 1] : pad_id_;
        batch.weights[at] = real ? 1.0f : 0.0f;
      }
    }
  }

 private:
  LineCorpus corpus_;
  TokenId pad_id_;
  std::vector<Index> lines_;  // corpus lines with >= 2 tokens
};

/// Bucketing by length: a random permutation of the examples, stably sorted by length, cut
/// into batches of batch_size consecutive examples (so each batch holds lines of nearly the
/// same length and little padding), and the batches themselves in random order. The last
/// batch of the sorted order may be partial. Deterministic for a given Rng state.
inline std::vector<std::vector<Index>> length_buckets(const LineSequences& data, Index batch_size, Rng& rng) {
  detail::check_positive("length_buckets", "batch size", batch_size);
  std::vector<Index> order(static_cast<size_t>(data.size()));
  for (Index k = 0; k < data.size(); ++k) order[static_cast<size_t>(k)] = k;
  shuffle_in_place(order, rng);
  std::stable_sort(order.begin(), order.end(),
                   [&](Index a, Index b) { return data.steps_of(a) < data.steps_of(b); });
  std::vector<std::vector<Index>> batches;
  for (size_t begin = 0; begin < order.size(); begin += static_cast<size_t>(batch_size)) {
    const size_t end = std::min(order.size(), begin + static_cast<size_t>(batch_size));
    batches.emplace_back(order.begin() + static_cast<std::ptrdiff_t>(begin),
                         order.begin() + static_cast<std::ptrdiff_t>(end));
  }
  shuffle_in_place(batches, rng);
  return batches;
}

}  // namespace seqlm
