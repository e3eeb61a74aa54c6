// A contiguous range of a dataset's examples, renumbered from 0: the two parts of Keras's
// validation_split, which holds out the LAST fraction of the examples (before shuffling):
//
//   split_at = keras_split_point(data.size(), fraction)       floor(size * (1 - fraction))
//   ExampleRange<WindowDataset> train{&windows, 0, split_at};
//   ExampleRange<WindowDataset> validation{&windows, split_at, windows.size() - split_at};
//
// It is a dataset itself (size() and fill()), so fit() trains on one part and validates on the
// other without copying a single example.
#pragma once

#include <seqlm/data/batching.hpp>
#include <seqlm/error.hpp>
#include <seqlm/tensor.hpp>
#include <string>
#include <vector>

namespace examples {

template <class Dataset>
struct ExampleRange {
  const Dataset* data = nullptr;
  seqlm::Index begin = 0;                     // first example of `data` in the range
  seqlm::Index count = 0;                     // examples in the range
  mutable std::vector<seqlm::Index> shifted;  // reused from batch to batch (fit fills on one thread)

  seqlm::Index size() const { return count; }

  // Example k of the range is example begin + k of `data`.
  void fill(seqlm::IndexSpan indices, seqlm::Batch& batch) const {
    shifted.resize(static_cast<size_t>(indices.size));
    for (seqlm::Index k = 0; k < indices.size; ++k) {
      if (indices[k] < 0 || indices[k] >= count) {
        throw seqlm::value_error("ExampleRange: example " + std::to_string(indices[k]) + " is outside [0, " +
                                 std::to_string(count) + ")");
      }
      shifted[static_cast<size_t>(k)] = begin + indices[k];
    }
    data->fill(seqlm::IndexSpan(shifted), batch);
  }
};

}  // namespace examples
