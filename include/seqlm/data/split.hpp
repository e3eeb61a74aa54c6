/// \file
/// Contiguous train / validation / test splits. A split never copies tokens: each part is a
/// TokenStream slice of the same source, so windows are later cut inside each part and no
/// window crosses a boundary.
///
/// ```text
///   split_by_counts(tokens, 1'000'000, 60'000)   Géron's Machado: first 1,000,000 tokens for
///                                                training, next 60,000 validation, rest test
///   split_by_fractions(tokens, 0.8, 0.1)         train = floor(0.8 n), validation = floor(0.1 n),
///                                                test = the rest
///   validation_split(tokens, 0.2)                Keras's fit(validation_split=0.2): the LAST
///                                                fraction, split_at = floor(n * (1 - 0.2))
///   validation_split_indices(examples, 0.2)      the same on example indices (Keras splits the
///                                                examples before it shuffles the training part)
///   split_sequences(dataset, 0.2)                the same on any dataset's sequences, as two
///                                                DatasetRange views (nothing is copied); what
///                                                fit() does with FitOptions::validation_split
/// ```
#pragma once

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "../error.hpp"
#include "../tensor.hpp"
#include "batching.hpp"
#include "token_source.hpp"

namespace seqlm {

struct StreamSplit {
  TokenStream train;
  TokenStream validation;
  TokenStream test;
};

/// train = [0, train_count), validation = [train_count, train_count + validation_count),
/// test = the rest (possibly empty).
inline StreamSplit split_by_counts(const TokenStream& tokens, Index train_count, Index validation_count) {
  if (train_count < 0 || validation_count < 0) {
    throw value_error(detail::make_message("split_by_counts: counts must be non-negative, got ", train_count,
                                           " and ", validation_count));
  }
  if (train_count + validation_count > tokens.size()) {
    throw value_error(detail::make_message("split_by_counts: ", train_count, " + ", validation_count,
                                           " tokens requested, the stream has only ", tokens.size()));
  }
  const Index test_begin = train_count + validation_count;
  return {tokens.slice(0, train_count), tokens.slice(train_count, validation_count),
          tokens.slice(test_begin, tokens.size() - test_begin)};
}

namespace detail {
inline void check_fraction(const char* where, const char* what, double fraction) {
  if (!(fraction >= 0.0 && fraction <= 1.0)) {
    throw value_error(make_message(where, ": ", what, " must be in [0, 1], got ", fraction));
  }
}
}  // namespace detail

/// train = floor(train_fraction * n) tokens, validation = floor(validation_fraction * n),
/// test = the rest. The fractions must be in [0, 1] and sum to at most 1.
inline StreamSplit split_by_fractions(const TokenStream& tokens, double train_fraction,
                                      double validation_fraction) {
  detail::check_fraction("split_by_fractions", "train fraction", train_fraction);
  detail::check_fraction("split_by_fractions", "validation fraction", validation_fraction);
  if (train_fraction + validation_fraction > 1.0 + 1e-12) {
    throw value_error(detail::make_message("split_by_fractions: fractions ", train_fraction, " + ",
                                           validation_fraction, " exceed 1"));
  }
  const double n = static_cast<double>(tokens.size());
  const Index train_count = static_cast<Index>(std::floor(train_fraction * n));
  const Index validation_count =
      std::min(static_cast<Index>(std::floor(validation_fraction * n)), tokens.size() - train_count);
  return split_by_counts(tokens, train_count, validation_count);
}

struct TrainValidationSplit {
  TokenStream train;
  TokenStream validation;
};

/// Keras: split_at = floor(n * (1 - validation_fraction)); train = [0, split_at),
/// validation = [split_at, n).
inline Index keras_split_point(Index count, double validation_fraction) {
  if (!(validation_fraction >= 0.0 && validation_fraction < 1.0)) {
    throw value_error(
        detail::make_message("validation_split: fraction must be in [0, 1), got ", validation_fraction));
  }
  return static_cast<Index>(std::floor(static_cast<double>(count) * (1.0 - validation_fraction)));
}

inline TrainValidationSplit validation_split(const TokenStream& tokens, double validation_fraction) {
  const Index split_at = keras_split_point(tokens.size(), validation_fraction);
  return {tokens.slice(0, split_at), tokens.slice(split_at, tokens.size() - split_at)};
}

struct ExampleSplit {
  std::vector<Index> train;       ///< 0 .. split_at-1
  std::vector<Index> validation;  ///< split_at .. count-1
};

/// The same split on example indices [0, count), e.g. the windows of a WindowDataset.
inline ExampleSplit validation_split_indices(Index count, double validation_fraction) {
  if (count < 0) throw value_error(detail::make_message("validation_split: negative count ", count));
  const Index split_at = keras_split_point(count, validation_fraction);
  ExampleSplit split;
  for (Index k = 0; k < split_at; ++k) split.train.push_back(k);
  for (Index k = split_at; k < count; ++k) split.validation.push_back(k);
  return split;
}

/// The sequences [begin, begin + count) of any dataset (anything with `Index size() const` and
/// `void fill(IndexSpan, Batch&) const`), renumbered from 0: sequence k of the range is
/// sequence begin + k of the dataset. It is a dataset itself and copies nothing; the dataset
/// must outlive it. fill() reuses one buffer of shifted indices, so one range must not be
/// filled from several threads at once (fit() and evaluate() fill on one thread).
template <class Dataset>
class DatasetRange {
 public:
  DatasetRange(const Dataset& data, Index begin, Index count) : data_(&data), begin_(begin), count_(count) {
    if (begin < 0 || count < 0 || begin + count > data.size()) {
      throw value_error(detail::make_message("DatasetRange: sequences [", begin, ", ", begin + count,
                                             ") are outside the dataset of ", data.size(), " sequences"));
    }
  }

  Index size() const { return count_; }
  Index begin() const { return begin_; }  ///< first sequence of the dataset in the range
  const Dataset& dataset() const { return *data_; }

  void fill(IndexSpan indices, Batch& batch) const { data_->fill(IndexSpan(shift(indices)), batch); }

  /// Only when the dataset pads a batch to its longest sequence and has them (LineSequences):
  /// the steps of sequence k, and fill() padded to at least `min_steps` (distributed fit()
  /// pads every process's share of a batch to the whole batch's longest sequence).
  template <class D = Dataset>
  auto steps_of(Index k) const -> decltype(std::declval<const D&>().steps_of(Index{})) {
    check_sequence(k);
    return data_->steps_of(begin_ + k);
  }
  template <class D = Dataset>
  auto fill(IndexSpan indices, Batch& batch, Index min_steps) const
      -> decltype(std::declval<const D&>().fill(IndexSpan{}, batch, min_steps)) {
    return data_->fill(IndexSpan(shift(indices)), batch, min_steps);
  }

 private:
  void check_sequence(Index k) const {
    if (k < 0 || k >= count_) {
      throw value_error(detail::make_message("DatasetRange: sequence ", k, " is outside [0, ", count_, ")"));
    }
  }

  const std::vector<Index>& shift(IndexSpan indices) const {
    shifted_.resize(static_cast<size_t>(indices.size));
    for (Index k = 0; k < indices.size; ++k) {
      check_sequence(indices[k]);
      shifted_[static_cast<size_t>(k)] = begin_ + indices[k];
    }
    return shifted_;
  }

  const Dataset* data_;
  Index begin_;
  Index count_;
  mutable std::vector<Index> shifted_;  // begin + indices, reused from batch to batch
};

template <class Dataset>
struct DatasetSplit {
  DatasetRange<Dataset> train;       ///< sequences [0, split_at)
  DatasetRange<Dataset> validation;  ///< sequences [split_at, size)
};

/// Keras's validation_split on a dataset's sequences, before any shuffling:
/// split_at = floor(size * (1 - validation_fraction)), train = [0, split_at),
/// validation = [split_at, size). Either part may be empty; fit() refuses that.
template <class Dataset>
DatasetSplit<Dataset> split_sequences(const Dataset& data, double validation_fraction) {
  const Index count = data.size();
  const Index split_at = keras_split_point(count, validation_fraction);
  return {DatasetRange<Dataset>(data, 0, split_at), DatasetRange<Dataset>(data, split_at, count - split_at)};
}

}  // namespace seqlm
