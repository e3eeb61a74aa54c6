// Keras files where the character examples take a model file (poems, nietzsche):
//
//   poems sample --model model.keras --data poems.txt          sample a Keras model
//   poems train --resume-from model.keras --data poems.txt     continue Keras's training
//   poems train --out model.keras                               save for Keras 3
//
// A `.keras` (Keras 3) or `.h5` (Keras 2) file holds the network and, after compile(), the
// optimizer's state, but no vocabulary: the programs build it from --data exactly as their
// `train` does (the sorted characters of the prepared text), and seqlm::keras::load checks its
// size against the model. This needs the optional seqlm::keras component (HDF5 and libzip,
// docs/keras.md); a build without it still compiles these programs, and refuses Keras files
// with an error that says what to install.
#pragma once

#include <iostream>
#include <memory>
#include <optional>
#include <seqlm/error.hpp>
#include <seqlm/files/model_file.hpp>
#include <seqlm/model/sequential.hpp>
#include <seqlm/optim/make_optimizer.hpp>
#include <seqlm/optim/optimizer.hpp>
#include <seqlm/text/char_tokenizer.hpp>
#include <string>

#include "cli.hpp"

#ifdef SEQLM_EXAMPLES_WITH_KERAS
#include <seqlm/keras/keras.hpp>
#endif

namespace examples {

// Whether `path` names a Keras file (by its extension: .keras, .h5).
inline bool is_keras_path(const std::string& path) {
  const auto ends_with = [&path](const std::string& suffix) {
    return path.size() > suffix.size() &&
           path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  return ends_with(".keras") || ends_with(".h5");
}

struct KerasImport {
  seqlm::Sequential<float> model;
  std::optional<seqlm::OptimizerState> optimizer;  // the optimizer and its state, when the file has them
  std::optional<seqlm::Index> window;              // the Input's steps, when stated
  std::string origin;                              // e.g. "Keras 3.5.0 (.keras, saved 2024-09-30@12:31:29)"
};

[[noreturn]] inline void no_keras_support(const std::string& path) {
  throw seqlm::value_error("\"" + path +
                           "\" is a Keras file, and this build has no Keras support: install HDF5 and "
                           "libzip (Debian: libhdf5-dev libzip-dev) and configure again (docs/keras.md)");
}

// The model of a Keras character model whose ids are `vocabulary`'s.
inline KerasImport import_keras(const std::string& path, const seqlm::CharTokenizer& vocabulary) {
#ifdef SEQLM_EXAMPLES_WITH_KERAS
  seqlm::keras::KerasModel<float> imported =
      seqlm::keras::load<float>(path, seqlm::keras::Vocabulary::characters(vocabulary));
  std::string origin = "Keras " +
                       (imported.keras_version.empty() ? std::string("?") : imported.keras_version) + " (." +
                       imported.format;
  if (!imported.date_saved.empty()) origin += ", saved " + imported.date_saved;
  origin += ")";
  return KerasImport{std::move(imported.model), std::move(imported.optimizer), imported.sequence_length,
                     origin};
#else
  (void)vocabulary;
  no_keras_support(path);
#endif
}

// Saves `model` as a Keras 3 `.keras` archive: a softmax output, the Input's steps `window`
// and, when given, the optimizer's state (so that Keras can continue training).
inline void export_keras(const seqlm::Sequential<float>& model, const std::string& path, seqlm::Index window,
                         std::optional<seqlm::OptimizerState> optimizer) {
#ifdef SEQLM_EXAMPLES_WITH_KERAS
  seqlm::keras::SaveOptions options;
  options.sequence_length = window;
  options.softmax_output = true;
  options.optimizer = std::move(optimizer);
  seqlm::keras::save(model, path, options);
#else
  (void)model, (void)window, (void)optimizer;
  no_keras_support(path);
#endif
}

// train --resume-from PATH: the model to continue training instead of a new one. A seqlm model
// file (its tokenizer must be `tokenizer`; `hint` says how to get the same one) continues with
// `optimizer` as given; a Keras file continues with the optimizer and state Keras saved, put
// into `optimizer` (unless reset_optimizer), so that training goes on where Keras stopped.
inline seqlm::Sequential<float> resume_model(const std::string& path, const seqlm::CharTokenizer& tokenizer,
                                             std::unique_ptr<seqlm::Optimizer<float>>& optimizer,
                                             bool reset_optimizer, const std::string& hint) {
  check_data_file(path, "resume-from");
  if (is_keras_path(path)) {
    KerasImport imported = import_keras(path, tokenizer);
    std::cout << "resuming " << path << ": " << imported.origin;
    if (imported.optimizer && !reset_optimizer) {
      optimizer = seqlm::restore_optimizer<float>(*imported.optimizer, imported.model.parameters());
      std::cout << ", " << imported.optimizer->name << " state after " << imported.optimizer->iterations
                << " iterations";
    } else {
      std::cout << (imported.optimizer ? ", a new " + optimizer->name() + " (--reset-optimizer)"
                                       : ", no optimizer state in the file: a new " + optimizer->name());
    }
    std::cout << "\n";
    return std::move(imported.model);
  }
  seqlm::LoadedModel<float> loaded = seqlm::load_model<float>(path);
  const seqlm::CharTokenizer stored = seqlm::CharTokenizer::from_json(loaded.tokenizer);
  if (stored.to_json() != tokenizer.to_json()) {
    throw seqlm::value_error("--resume-from \"" + path + "\": its tokenizer (" +
                             std::to_string(stored.vocabulary_size()) +
                             " characters) is not the one --data gives (" +
                             std::to_string(tokenizer.vocabulary_size()) + " characters); " + hint);
  }
  std::cout << "resuming " << path << " with a new " << optimizer->name() << "\n";
  return std::move(loaded.model);
}

}  // namespace examples
