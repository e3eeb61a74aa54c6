// The training run that the checkpoint seeds come from and that fuzz_checkpoint resumes:
// the same data set, callbacks and options on both sides, so that a seed checkpoint resumes
// for real (same batches per epoch, a state for every callback) and mutations of it reach
// fit() itself.
#pragma once

#include <seqlm/model/sequential.hpp>
#include <seqlm/train/callbacks.hpp>
#include <seqlm/train/checkpoint.hpp>
#include <seqlm/train/fit.hpp>
#include <seqlm/train/schedules.hpp>
#include <string>

namespace fuzz {

// `count` sequences of 3 token ids below `vocabulary`, each with one target below `classes`;
// sequence i is a fixed function of i.
struct CountingSequences {
  seqlm::Index count = 6;
  seqlm::Index vocabulary = 1;
  seqlm::Index classes = 1;

  seqlm::Index size() const { return count; }
  void fill(seqlm::IndexSpan indices, seqlm::Batch& batch) const {
    const seqlm::Index steps = 3, width = indices.size;
    batch.reshape(steps, width, 1);
    for (seqlm::Index b = 0; b < width; ++b) {
      const seqlm::Index i = indices[b];
      for (seqlm::Index t = 0; t < steps; ++t) {
        batch.inputs[static_cast<std::size_t>(t * width + b)] =
            static_cast<seqlm::TokenId>((i * 7 + t * 3) % vocabulary);
      }
      batch.targets[static_cast<std::size_t>(b)] = static_cast<seqlm::TokenId>((i * 5 + 1) % classes);
      batch.weights[static_cast<std::size_t>(b)] = 1.0;
    }
  }
};

// Two sequences per batch.
inline constexpr seqlm::Index resume_batch_size = 2;

// The callbacks and options of the run. The ModelCheckpoint writes a complete checkpoint to
// `checkpoint_path` after every batch; the CSV log goes to `csv_path`.
struct ResumeRun {
  ResumeRun(const std::string& checkpoint_path, const std::string& csv_path)
      : plateau(plateau_options()),
        stopping(stopping_options()),
        csv(csv_path),
        checkpoint(seqlm::checkpoint_writer<float>(checkpoint_path), checkpoint_options()) {
    options.batch_size = resume_batch_size;
    options.seed = 7;
    options.verbosity = seqlm::Verbosity::silent;
    options.schedule = &plateau;
    options.callbacks = {&stopping, &csv, &checkpoint};
  }

  static seqlm::PlateauOptions plateau_options() {
    seqlm::PlateauOptions plateau;
    plateau.monitor = "loss";
    plateau.patience = 0;
    plateau.factor = 0.5;
    return plateau;
  }
  static seqlm::EarlyStoppingOptions stopping_options() {
    seqlm::EarlyStoppingOptions stopping;
    stopping.monitor = "loss";
    stopping.patience = 1;
    stopping.restore_best = true;
    return stopping;
  }
  static seqlm::CheckpointOptions checkpoint_options() {
    seqlm::CheckpointOptions checkpoint;
    checkpoint.monitor = "loss";
    checkpoint.save_best_only = false;
    checkpoint.every_batches = 1;
    return checkpoint;
  }

  seqlm::ReduceLROnPlateau plateau;
  seqlm::EarlyStopping<float> stopping;
  seqlm::CsvLogger<float> csv;
  seqlm::ModelCheckpoint<float> checkpoint;
  seqlm::FitOptions<float> options;
};

}  // namespace fuzz
