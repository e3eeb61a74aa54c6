// Model files and training checkpoints: a Sequential model, its tokenizer and its training
// configuration in one safetensors file (io/safetensors.hpp). docs/file-format.md has the
// exact layout and a NumPy reader.
//
//   ModelFileContents contents;
//   contents.tokenizer = tokenizer.to_json();
//   contents.metadata["dataset"] = "shakespeare";
//   contents.test_vectors = TestVectors::token_ids({1, 2, 3}, 3, 1);   // re-checked on load
//   save_model("char_lstm.safetensors", model, contents);              // atomic
//   LoadedModel<float> loaded = load_model<float>("char_lstm.safetensors");
//   loaded.model.step(...);
//
// What a model file holds:
//   tensors    every weight, named like Sequential::parameters() ("lstm/kernel", "dense/bias"),
//              dtype F32 for a float model and F64 for a double one, each (rows x cols) matrix
//              with shape [cols, rows] (Keras's layout, see safetensors.hpp); optional test
//              vectors "test_vectors/input" and "test_vectors/logits"
//   metadata   "format" ("seqlm.model" or "seqlm.checkpoint"), "format_version", "seqlm_version",
//              "dtype", "architecture" (Sequential::architecture() as JSON), "tokenizer" and
//              "training_config" (JSON), "test_vectors" (JSON), user metadata as "user.<key>",
//              and "checksum": the CRC-32 of the metadata and all tensor data (checksum.hpp)
//
// load_model() validates everything and throws a file_error naming the file and what is
// wrong: not a seqlm file, a format version newer than this library reads, a checksum
// mismatch, an invalid architecture, a missing weight or one with the wrong shape or dtype, a
// tensor the architecture has no place for, or test vectors the rebuilt model does not
// reproduce. A float file loads as a double model and vice versa (the values are converted).
//
// A checkpoint is a model file plus the optimizer's state (Optimizer::export_state(): slots as
// F64 tensors "optimizer/<slot key>", scalars and hyperparameters in the "optimizer" metadata)
// and the training position (epoch, batch, RNG snapshot, free-form JSON) in "training", with
// the position's own tensors as F64 "training/<name>". train/checkpoint.hpp puts fit()'s
// whole TrainingState there.
// Saving and loading is exact: resuming from it continues bit-identically.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "../error.hpp"
#include "../files/layer_table.hpp"
#include "../model/sequential.hpp"
#include "../optim/optimizer.hpp"
#include "../random.hpp"
#include "../tensor.hpp"
#include "../version.hpp"
#include "checksum.hpp"
#include "json.hpp"
#include "safetensors.hpp"

namespace seqlm {

// The model-file format version this library writes; it reads versions 1 ..= this.
inline constexpr int model_file_format_version = 1;

// Inputs stored in a model file together with the logits the model gives for them. Loading
// re-runs them through the rebuilt model, which catches a wrong architecture, a corrupted
// weight or a mismatched build as a file_error. Give token ids for a model reading token ids,
// features (F x steps*batch, time-major) for one reading features.
struct TestVectors {
  std::vector<TokenId> ids;  // time-major ids[t * batch + b]
  Matrix<double> features;   // used when ids is empty
  Index steps = 0;
  Index batch = 0;

  // No test vectors (the default).
  bool empty() const { return ids.empty() && features.size() == 0; }

  static TestVectors token_ids(std::vector<TokenId> ids, Index steps, Index batch) {
    TestVectors vectors;
    vectors.ids = std::move(ids);
    vectors.steps = steps;
    vectors.batch = batch;
    return vectors;
  }
  static TestVectors dense(Matrix<double> features, Index batch) {
    TestVectors vectors;
    vectors.features = std::move(features);
    vectors.batch = batch;
    vectors.steps = batch > 0 ? vectors.features.cols() / batch : 0;
    return vectors;
  }
};

// Everything besides the model itself that goes into a model file.
struct ModelFileContents {
  json::Value tokenizer;                        // any JSON (e.g. CharTokenizer::to_json()); null when absent
  json::Value training_config;                  // any JSON: optimizer, epochs, data, ...
  std::map<std::string, std::string> metadata;  // free-form, stored as "user.<key>"
  TestVectors test_vectors;                     // optional: empty() means none
};

struct ModelLoadOptions {
  bool check_test_vectors = true;
  // Largest allowed |logit - expected| / (1 + |expected|) when re-running the test vectors;
  // 0 picks 1e-4 when the file or the model is float and 1e-9 when both are double.
  double tolerance = 0;
};

template <class Scalar>
struct LoadedModel {
  Sequential<Scalar> model;
  json::Value tokenizer;
  json::Value training_config;
  std::map<std::string, std::string> metadata;  // the user metadata ("user." removed)
  std::string seqlm_version;                    // the version that wrote the file
  int format_version = 0;
  safetensors::DType stored_dtype = safetensors::DType::F32;  // F32 or F64
  bool test_vectors_checked = false;                          // the file had test vectors and they matched
};

// Where a training run stands, saved in checkpoints. `extra` carries anything else the trainer
// needs to resume (schedule state, history, running metrics) as JSON, and `tensors` any
// matrices it needs (e.g. a callback's best weights), stored as F64 tensors "training/<name>".
struct TrainingPosition {
  Index epoch = 0;
  Index batch = 0;
  Index global_step = 0;
  Rng::Snapshot rng;
  json::Value extra;
  std::vector<std::pair<std::string, Matrix<double>>> tensors;
};

template <class Scalar>
struct LoadedCheckpoint {
  LoadedModel<Scalar> model;
  OptimizerState optimizer;  // restore with make_optimizer(name, hyperparameters) + import_state
  TrainingPosition position;
};

namespace detail {

inline constexpr const char* model_format = "seqlm.model";
inline constexpr const char* checkpoint_format = "seqlm.checkpoint";
inline constexpr const char* test_input_tensor = "test_vectors/input";
inline constexpr const char* test_logits_tensor = "test_vectors/logits";
inline constexpr const char* optimizer_prefix = "optimizer/";
inline constexpr const char* training_prefix = "training/";
inline constexpr const char* user_prefix = "user.";

inline bool has_prefix(const std::string& name, const char* prefix) {
  return name.compare(0, std::strlen(prefix), prefix) == 0;
}

inline std::size_t count_tensors_with_prefix(const safetensors::File& file, const char* prefix) {
  std::size_t count = 0;
  for (const auto& entry : file.tensors) count += has_prefix(entry.name, prefix) ? 1 : 0;
  return count;
}

// The F64 tensor `prefix + name` of 1 or 2 dimensions as a matrix; otherwise fail(...) with
// "<what> \"<name>\" is missing" or "... must be an F64 tensor of 1 or 2 dimensions".
template <class Fail>
Matrix<double> read_f64_tensor(const safetensors::File& file, const char* prefix, const std::string& name,
                               const char* what, const Fail& fail) {
  const safetensors::Tensor* tensor = file.find(prefix + name);
  if (tensor == nullptr) fail(std::string(what) + " \"" + name + "\" is missing");
  if (tensor->dtype() != safetensors::DType::F64 || tensor->shape().empty() || tensor->shape().size() > 2) {
    fail(std::string(what) + " \"" + name + "\" must be an F64 tensor of 1 or 2 dimensions");
  }
  return tensor->to_matrix<double>();
}

// CRC-32 over the metadata (sorted by key, "checksum" excluded, each as key NUL value NUL)
// followed by the tensor data in file order -- the data section, since tensors tile it.
inline std::uint32_t model_file_checksum(const safetensors::File& file) {
  Crc32 crc;
  for (const auto& [key, value] : file.metadata) {
    if (key == "checksum") continue;
    crc.update(key);
    crc.update("\0", 1);
    crc.update(value);
    crc.update("\0", 1);
  }
  for (const auto& entry : file.tensors) crc.update(entry.tensor.bytes());
  return crc.value();
}

inline std::string hex_u64(std::uint64_t value) {
  char text[24];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(value));
  return text;
}

// Parses exactly 16 hex digits (file_error via `fail` otherwise).
template <class Fail>
std::uint64_t parse_hex_u64(const std::string& text, const Fail& fail) {
  if (text.size() != 16) fail("\"" + text + "\" is not 16 hex digits");
  std::uint64_t value = 0;
  for (char c : text) {
    int digit = -1;
    if (c >= '0' && c <= '9') digit = c - '0';
    if (c >= 'a' && c <= 'f') digit = c - 'a' + 10;
    if (c >= 'A' && c <= 'F') digit = c - 'A' + 10;
    if (digit < 0) fail("\"" + text + "\" is not 16 hex digits");
    value = (value << 4) | static_cast<std::uint64_t>(digit);
  }
  return value;
}

// The model's weights and test vectors as a safetensors file with the model metadata (no
// checksum yet). `model` is a private copy: forward() (for the test vectors) and
// parameters() are not const.
template <class Scalar>
safetensors::File make_model_file(Sequential<Scalar>& model, const ModelFileContents& contents,
                                  const char* format) {
  safetensors::File file;
  for (const Parameter<Scalar>& p : model.parameters())
    file.add(p.name, safetensors::Tensor::from_matrix(*p.value));

  for (const auto& [key, value] : contents.metadata) file.metadata[user_prefix + key] = value;
  file.metadata["format"] = format;
  file.metadata["format_version"] = std::to_string(model_file_format_version);
  file.metadata["seqlm_version"] = version_string;
  file.metadata["dtype"] = safetensors::dtype_name(safetensors::dtype_of<Scalar>());
  file.metadata["architecture"] = architecture_of(model).dump();
  file.metadata["tokenizer"] = contents.tokenizer.dump();
  file.metadata["training_config"] = contents.training_config.dump();

  if (!contents.test_vectors.empty()) {
    const TestVectors& vectors = contents.test_vectors;
    const char* where = "save_model: test vectors";
    check_positive(where, "batch", vectors.batch);
    check_positive(where, "steps", vectors.steps);
    const LayerContext inference;
    const Matrix<Scalar>* logits = nullptr;
    if (model.input_spec().tokens) {
      const TokenView tokens(vectors.ids, vectors.steps, vectors.batch);
      logits = &model.forward(tokens, inference);
      file.add(test_input_tensor,
               safetensors::Tensor::from_values(vectors.ids, {vectors.steps, vectors.batch}));  // [T, B]
    } else {
      check_cols(where, "features", vectors.features.cols(), vectors.steps * vectors.batch);
      const Matrix<Scalar> features = vectors.features.cast<Scalar>();
      logits = &model.forward(features, vectors.batch, inference);
      file.add(test_input_tensor, safetensors::Tensor::from_matrix(vectors.features));  // [T*B, F]
    }
    file.add(test_logits_tensor, safetensors::Tensor::from_matrix(logits->template cast<double>()));
    file.metadata["test_vectors"] = json::Value::object()
                                        .set("input", model.input_spec().tokens ? "token_ids" : "features")
                                        .set("steps", vectors.steps)
                                        .set("batch", vectors.batch)
                                        .dump();
  }
  return file;
}

inline void seal_and_write(const std::string& path, safetensors::File& file) {
  file.metadata["checksum"] = format_crc32(model_file_checksum(file));
  safetensors::write(path, file);
}

// Reads a file and checks what every seqlm file has: format, version, checksum.
inline safetensors::File open_seqlm_file(const std::string& path, bool checkpoint_required) {
  safetensors::File file = safetensors::read(path);
  const std::string where = (checkpoint_required ? "checkpoint \"" : "model file \"") + path + "\": ";
  auto fail = [&where](const std::string& what) { throw file_error(where + what); };
  auto find = [&file](const char* key) -> const std::string* {
    const auto it = file.metadata.find(key);
    return it == file.metadata.end() ? nullptr : &it->second;
  };

  const std::string* format = find("format");
  if (format == nullptr) fail("not a seqlm file (metadata \"format\" is missing)");
  if (*format != model_format && *format != checkpoint_format) {
    fail("not a seqlm file (format \"" + *format + "\", expected \"" + model_format + "\" or \"" +
         checkpoint_format + "\")");
  }
  if (checkpoint_required && *format != checkpoint_format) {
    fail("is a model file, not a checkpoint (format \"" + *format + "\"); load it with load_model()");
  }
  const std::string* version = find("format_version");
  if (version == nullptr) fail("metadata \"format_version\" is missing");
  int format_version = 0;
  try {
    const json::Value number = json::parse(*version);
    if (!number.is_integer() || number.as_int64() < 1 || number.as_int64() > 1000000) throw value_error("");
    format_version = static_cast<int>(number.as_int64());
  } catch (const value_error&) {
    fail("format_version \"" + *version + "\" is not a positive integer");
  }
  if (format_version > model_file_format_version) {
    fail(make_message("format version ", format_version, " is newer than this seqlm (", version_string,
                      ") reads (up to ", model_file_format_version, "); upgrade seqlm"));
  }
  if (find("seqlm_version") == nullptr) fail("metadata \"seqlm_version\" is missing");

  const std::string* stored = find("checksum");
  if (stored == nullptr) fail("metadata \"checksum\" is missing");
  const std::string computed = format_crc32(model_file_checksum(file));
  if (*stored != computed) {
    fail("checksum mismatch: the file says " + *stored + ", its contents give " + computed +
         " (the file is corrupt)");
  }
  return file;
}

// Rebuilds the model of a validated file: architecture, weights, test vectors.
template <class Scalar>
LoadedModel<Scalar> read_model(const safetensors::File& file, const std::string& where, bool checkpoint,
                               const ModelLoadOptions& options) {
  auto fail = [&where](const std::string& what) { throw file_error(where + what); };
  auto metadata_json = [&](const char* key) {
    const auto it = file.metadata.find(key);
    if (it == file.metadata.end()) fail(std::string("metadata \"") + key + "\" is missing");
    try {
      return json::parse(it->second);
    } catch (const value_error& e) {
      fail(std::string("metadata \"") + key + "\" is not valid JSON: " + e.what());
    }
    return json::Value();
  };

  // Architecture.
  const json::Value architecture = metadata_json("architecture");
  std::optional<Sequential<Scalar>> rebuilt;
  try {
    rebuilt.emplace(sequential_from_architecture<Scalar>(architecture));
  } catch (const error& e) {
    fail(std::string("invalid architecture: ") + e.what());
  }
  LoadedModel<Scalar> loaded{std::move(*rebuilt),     json::Value(), json::Value(), {}, {}, 0,
                             safetensors::DType::F32, false};
  loaded.seqlm_version = file.metadata.at("seqlm_version");
  loaded.format_version = static_cast<int>(json::parse(file.metadata.at("format_version")).as_int64());
  loaded.tokenizer = metadata_json("tokenizer");
  loaded.training_config = metadata_json("training_config");
  for (const auto& [key, value] : file.metadata) {
    if (key.compare(0, std::string(user_prefix).size(), user_prefix) == 0) {
      loaded.metadata[key.substr(std::string(user_prefix).size())] = value;
    }
  }

  // Weights: every parameter present with the file's dtype and the architecture's shape.
  const auto dtype_entry = file.metadata.find("dtype");
  if (dtype_entry == file.metadata.end()) fail("metadata \"dtype\" is missing");
  if (dtype_entry->second == "F32") {
    loaded.stored_dtype = safetensors::DType::F32;
  } else if (dtype_entry->second == "F64") {
    loaded.stored_dtype = safetensors::DType::F64;
  } else {
    fail("metadata \"dtype\" is \"" + dtype_entry->second + "\", expected \"F32\" or \"F64\"");
  }
  std::vector<std::string> known;
  for (const Parameter<Scalar>& p : loaded.model.parameters()) {
    known.push_back(p.name);
    const safetensors::Tensor* tensor = file.find(p.name);
    if (tensor == nullptr) fail("weight \"" + p.name + "\" is missing");
    if (tensor->dtype() != loaded.stored_dtype) {
      fail(make_message("weight \"", p.name, "\" has dtype ", safetensors::dtype_name(tensor->dtype()),
                        ", the file's dtype is ", dtype_entry->second));
    }
    const Index rows = p.value->rows(), cols = p.value->cols();
    if (!tensor->has_matrix_shape(rows, cols)) {
      fail(make_message("weight \"", p.name, "\" has shape ",
                        safetensors::detail::shape_text(tensor->shape()), ", the architecture needs ",
                        cols == 1 ? "[" : make_message("[", cols, ", "), rows, "] (a ", rows, " x ", cols,
                        " matrix)"));
    }
    *p.value = tensor->to_matrix<Scalar>();
  }
  loaded.model.set_weights_initialized();

  // No tensor the architecture has no place for.
  const json::Value* test_vectors = nullptr;
  json::Value test_vectors_value;
  if (file.metadata.count("test_vectors") != 0) {
    test_vectors_value = metadata_json("test_vectors");
    test_vectors = &test_vectors_value;
  }
  for (const auto& entry : file.tensors) {
    const std::string& name = entry.name;
    if (std::find(known.begin(), known.end(), name) != known.end()) continue;
    if (test_vectors != nullptr && (name == test_input_tensor || name == test_logits_tensor)) continue;
    if (checkpoint && (has_prefix(name, optimizer_prefix) || has_prefix(name, training_prefix))) continue;
    fail("unexpected tensor \"" + name + "\": the architecture has no weight of that name");
  }

  // Test vectors: the rebuilt model must reproduce the stored logits.
  if (test_vectors != nullptr && options.check_test_vectors) {
    Index steps = 0, batch = 0;
    std::string input_kind;
    try {
      input_kind = test_vectors->get_string("input");
      steps = test_vectors->get_int64("steps");
      batch = test_vectors->get_int64("batch");
    } catch (const value_error& e) {
      fail(std::string("metadata \"test_vectors\": ") + e.what());
    }
    if (steps <= 0 || batch <= 0 || steps > (Index{1} << 30) || batch > (Index{1} << 30)) {
      fail(make_message("test vectors: invalid steps ", steps, " or batch ", batch));
    }
    const bool tokens = loaded.model.input_spec().tokens;
    if (input_kind != (tokens ? "token_ids" : "features")) {
      fail("test vectors: input \"" + input_kind + "\" does not match the model's input");
    }
    const safetensors::Tensor* input = file.find(test_input_tensor);
    const safetensors::Tensor* expected_tensor = file.find(test_logits_tensor);
    if (input == nullptr || expected_tensor == nullptr) fail("test vectors: tensor missing");
    const LayerContext inference;
    const Matrix<Scalar>* logits = nullptr;
    try {
      if (tokens) {
        if (input->dtype() != safetensors::DType::I32 ||
            input->shape() != std::vector<std::int64_t>{steps, batch}) {
          fail("test vectors: \"test_vectors/input\" must be I32 with shape [steps, batch]");
        }
        const std::vector<TokenId> ids = input->values<TokenId>();
        logits = &loaded.model.forward(TokenView(ids, steps, batch), inference);
      } else {
        if (input->dtype() != safetensors::DType::F64 ||
            !input->has_matrix_shape(loaded.model.input_spec().size, steps * batch)) {
          fail("test vectors: \"test_vectors/input\" must be F64 with shape [steps * batch, features]");
        }
        const Matrix<Scalar> features = input->to_matrix<Scalar>();
        logits = &loaded.model.forward(features, batch, inference);
      }
    } catch (const file_error&) {
      throw;
    } catch (const error& e) {
      fail(std::string("test vectors: the model cannot run them: ") + e.what());
    }
    if (expected_tensor->dtype() != safetensors::DType::F64 ||
        !expected_tensor->has_matrix_shape(logits->rows(), logits->cols())) {
      fail(make_message("test vectors: \"test_vectors/logits\" has shape ",
                        safetensors::detail::shape_text(expected_tensor->shape()), ", the model gives ",
                        logits->rows(), " x ", logits->cols(), " logits"));
    }
    const Matrix<double> expected = expected_tensor->to_matrix<double>();
    const bool any_float = std::is_same_v<Scalar, float> || loaded.stored_dtype == safetensors::DType::F32;
    const double tolerance = options.tolerance > 0 ? options.tolerance : (any_float ? 1e-4 : 1e-9);
    const Matrix<double> actual = logits->template cast<double>();
    for (Index c = 0; c < actual.cols(); ++c) {
      for (Index r = 0; r < actual.rows(); ++r) {
        const double error = std::abs(actual(r, c) - expected(r, c)) / (1 + std::abs(expected(r, c)));
        if (!(error <= tolerance)) {
          fail(make_message("test vectors do not match: logit ", r, " of column ", c, " is ", actual(r, c),
                            ", the file expects ", expected(r, c), " (relative error ", error,
                            " > tolerance ", tolerance, ")"));
        }
      }
    }
    loaded.test_vectors_checked = true;
  }
  return loaded;
}

}  // namespace detail

// Saves `model` (its architecture and weights) with `contents` to `path`, atomically: on any
// failure an existing file at `path` is unchanged. value_error / shape_error for invalid test
// vectors or metadata, file_error for I/O.
template <class Scalar>
void save_model(const std::string& path, const Sequential<Scalar>& model,
                const ModelFileContents& contents = {}) {
  Sequential<Scalar> copy(model);
  safetensors::File file = detail::make_model_file(copy, contents, detail::model_format);
  detail::seal_and_write(path, file);
}

// Loads a model file (or the model of a checkpoint) as a Scalar model, converting the weights
// when the file has the other precision. file_error naming the file on anything invalid.
template <class Scalar>
LoadedModel<Scalar> load_model(const std::string& path, const ModelLoadOptions& options = {}) {
  const safetensors::File file = detail::open_seqlm_file(path, false);
  const bool checkpoint = file.metadata.at("format") == detail::checkpoint_format;
  return detail::read_model<Scalar>(file, "model file \"" + path + "\": ", checkpoint, options);
}

// Saves a checkpoint: the model file plus `optimizer` (Optimizer::export_state()) and the
// training `position`, atomically. value_error when the optimizer state or `extra` holds a
// NaN or infinity (JSON cannot store them).
template <class Scalar>
void save_checkpoint(const std::string& path, const Sequential<Scalar>& model,
                     const OptimizerState& optimizer, const TrainingPosition& position,
                     const ModelFileContents& contents = {}) {
  Sequential<Scalar> copy(model);
  safetensors::File file = detail::make_model_file(copy, contents, detail::checkpoint_format);

  json::Value hyperparameters = json::Value::object();
  for (const auto& [key, value] : optimizer.hyperparameters) hyperparameters.set(key, value);
  json::Value scalars = json::Value::object();
  for (const auto& [key, value] : optimizer.scalars) scalars.set(key, value);
  json::Value slots = json::Value::array();
  for (const auto& [key, value] : optimizer.slots) {
    slots.push_back(key);
    file.add(detail::optimizer_prefix + key, safetensors::Tensor::from_matrix(value));
  }
  file.metadata["optimizer"] = json::Value::object()
                                   .set("name", optimizer.name)
                                   .set("iterations", optimizer.iterations)
                                   .set("hyperparameters", std::move(hyperparameters))
                                   .set("scalars", std::move(scalars))
                                   .set("slots", std::move(slots))
                                   .dump();

  json::Value training_tensors = json::Value::array();
  for (const auto& [name, value] : position.tensors) {
    if (name.empty()) throw value_error("save_checkpoint: a training tensor has an empty name");
    if (file.find(detail::training_prefix + name) != nullptr) {
      throw value_error("save_checkpoint: two training tensors are named \"" + name + "\"");
    }
    training_tensors.push_back(name);
    file.add(detail::training_prefix + name, safetensors::Tensor::from_matrix(value));
  }
  json::Value words = json::Value::array();
  for (const std::uint64_t word : position.rng.words) words.push_back(detail::hex_u64(word));
  std::uint64_t spare_bits = 0;
  std::memcpy(&spare_bits, &position.rng.spare_normal, sizeof spare_bits);
  file.metadata["training"] = json::Value::object()
                                  .set("epoch", position.epoch)
                                  .set("batch", position.batch)
                                  .set("global_step", position.global_step)
                                  .set("rng", json::Value::object()
                                                  .set("words", std::move(words))
                                                  .set("has_spare_normal", position.rng.has_spare_normal)
                                                  .set("spare_normal_bits", detail::hex_u64(spare_bits)))
                                  .set("extra", position.extra)
                                  .set("tensors", std::move(training_tensors))
                                  .dump();
  detail::seal_and_write(path, file);
}

template <class Scalar>
void save_checkpoint(const std::string& path, const Sequential<Scalar>& model,
                     const Optimizer<Scalar>& optimizer, const TrainingPosition& position,
                     const ModelFileContents& contents = {}) {
  save_checkpoint(path, model, optimizer.export_state(), position, contents);
}

// Loads a checkpoint saved by save_checkpoint: model, optimizer state and training position,
// exactly as saved. file_error naming the file on anything invalid.
template <class Scalar>
LoadedCheckpoint<Scalar> load_checkpoint(const std::string& path, const ModelLoadOptions& options = {}) {
  const safetensors::File file = detail::open_seqlm_file(path, true);
  const std::string where = "checkpoint \"" + path + "\": ";
  auto fail = [&where](const std::string& what) { throw file_error(where + what); };
  LoadedModel<Scalar> model = detail::read_model<Scalar>(file, where, true, options);
  LoadedCheckpoint<Scalar> checkpoint{std::move(model), {}, {}};

  auto metadata_object = [&](const char* key) {
    const auto it = file.metadata.find(key);
    if (it == file.metadata.end()) fail(std::string("metadata \"") + key + "\" is missing");
    json::Value value;
    try {
      value = json::parse(it->second);
    } catch (const value_error& e) {
      fail(std::string("metadata \"") + key + "\" is not valid JSON: " + e.what());
    }
    if (!value.is_object()) fail(std::string("metadata \"") + key + "\" is not a JSON object");
    return value;
  };

  // Optimizer state.
  const json::Value optimizer = metadata_object("optimizer");
  std::vector<std::string> slot_names;
  try {
    checkpoint.optimizer.name = optimizer.get_string("name");
    checkpoint.optimizer.iterations = optimizer.get_int64("iterations");
    for (const auto& [key, value] : optimizer.get_object("hyperparameters").as_object()) {
      checkpoint.optimizer.hyperparameters[key] = value.as_double();
    }
    for (const auto& [key, value] : optimizer.get_object("scalars").as_object()) {
      checkpoint.optimizer.scalars[key] = value.as_double();
    }
    for (const json::Value& name : optimizer.get_array("slots")) slot_names.push_back(name.as_string());
  } catch (const value_error& e) {
    fail(std::string("metadata \"optimizer\": ") + e.what());
  }
  const std::size_t optimizer_tensors = detail::count_tensors_with_prefix(file, detail::optimizer_prefix);
  const std::size_t training_tensors = detail::count_tensors_with_prefix(file, detail::training_prefix);
  if (optimizer_tensors != slot_names.size()) {
    fail(detail::make_message("the optimizer lists ", slot_names.size(), " slots, the file has ",
                              optimizer_tensors, " optimizer tensors"));
  }
  for (const std::string& slot : slot_names) {
    checkpoint.optimizer.slots.emplace_back(
        slot, detail::read_f64_tensor(file, detail::optimizer_prefix, slot, "optimizer slot", fail));
  }

  // Training position.
  const json::Value training = metadata_object("training");
  try {
    checkpoint.position.epoch = training.get_int64("epoch");
    checkpoint.position.batch = training.get_int64("batch");
    checkpoint.position.global_step = training.get_int64("global_step");
    const json::Value& rng = training.get_object("rng");
    const json::Value::Array& words = rng.get_array("words");
    if (words.size() != checkpoint.position.rng.words.size()) fail("the RNG state must have 4 words");
    auto hex_fail = [&](const std::string& what) { fail("RNG state: " + what); };
    for (std::size_t k = 0; k < words.size(); ++k) {
      checkpoint.position.rng.words[k] = detail::parse_hex_u64(words[k].as_string(), hex_fail);
    }
    checkpoint.position.rng.has_spare_normal = rng.get_bool("has_spare_normal");
    const std::uint64_t spare_bits = detail::parse_hex_u64(rng.get_string("spare_normal_bits"), hex_fail);
    std::memcpy(&checkpoint.position.rng.spare_normal, &spare_bits, sizeof spare_bits);
    checkpoint.position.extra = training.at("extra");
    // "tensors" is absent in checkpoints written before it existed: none.
    if (training.contains("tensors")) {
      for (const json::Value& name : training.get_array("tensors")) {
        const std::string& tensor_name = name.as_string();
        for (const auto& earlier : checkpoint.position.tensors) {
          if (earlier.first == tensor_name) fail("training tensor \"" + tensor_name + "\" is listed twice");
        }
        checkpoint.position.tensors.emplace_back(
            tensor_name,
            detail::read_f64_tensor(file, detail::training_prefix, tensor_name, "training tensor", fail));
      }
    }
  } catch (const value_error& e) {
    fail(std::string("metadata \"training\": ") + e.what());
  }
  if (checkpoint.position.tensors.size() != training_tensors) {
    fail(detail::make_message("the training position lists ", checkpoint.position.tensors.size(),
                              " tensors, the file has ", training_tensors, " training tensors"));
  }
  if (checkpoint.position.epoch < 0 || checkpoint.position.batch < 0 || checkpoint.position.global_step < 0) {
    fail("the training position has a negative epoch, batch or step");
  }
  return checkpoint;
}

}  // namespace seqlm
