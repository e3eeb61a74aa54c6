/// \file
/// Model files: a Sequential model, its tokenizer and its training configuration in one
/// safetensors file (io/safetensors.hpp). docs/file-format.md has the exact layout and a NumPy
/// reader.
///
/// ```cpp
///   ModelFileContents contents;
///   contents.tokenizer = tokenizer.to_json();
///   contents.metadata["dataset"] = "shakespeare";
///   contents.test_vectors = TestVectors::token_ids({1, 2, 3}, 3, 1);   // re-checked on load
///   save_model("char_lstm.safetensors", model, contents);              // atomic
///   LoadedModel<float> loaded = load_model<float>("char_lstm.safetensors");
///   loaded.model.step(...);
/// ```
///
/// What a model file holds:
/// ```text
///   tensors    every weight, named like Sequential::parameters() ("lstm/kernel", "dense/bias"),
///              dtype F32 for a float model and F64 for a double one, each (rows x cols) matrix
///              with shape [cols, rows] (Keras's layout, see safetensors.hpp); optional test
///              vectors "test_vectors/input" and "test_vectors/logits"
///   metadata   "format" ("seqlm.model" or "seqlm.checkpoint"), "format_version", "seqlm_version",
///              "dtype", "architecture" (architecture_of(model), files/layer_table.hpp), "tokenizer" and
///              "training_config" (JSON), "test_vectors" (JSON), user metadata as "user.<key>",
///              and "checksum": the CRC-32 of the metadata and all tensor data (io/checksum.hpp)
/// ```
///
/// load_model() validates everything and throws a file_error naming the file and what is
/// wrong: not a seqlm file, a format version newer than this library reads, a checksum
/// mismatch, an invalid architecture, a missing weight or one with the wrong shape or dtype, a
/// weight holding a NaN or infinity, a tensor the architecture has no place for, or test
/// vectors the rebuilt model does not reproduce. A float file loads as a double model and vice versa (the
/// values are converted).
///
/// A training checkpoint is a model file with more in it (the optimizer's state and where the
/// run stands); files/checkpoint_file.hpp writes and reads those parts, and
/// train/checkpoint.hpp is the API: save_checkpoint / load_checkpoint. load_model() reads the
/// model of a checkpoint too.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "../error.hpp"
#include "../io/checksum.hpp"
#include "../io/json.hpp"
#include "../io/safetensors.hpp"
#include "../model/sequential.hpp"
#include "../tensor.hpp"
#include "../version.hpp"
#include "layer_table.hpp"

namespace seqlm {

/// The model-file format version this library writes; it reads versions 1 ..= this.
inline constexpr int model_file_format_version = 1;

/// Inputs stored in a model file together with the logits the model gives for them. Loading
/// re-runs them through the rebuilt model, which catches a wrong architecture, a corrupted
/// weight or a mismatched build as a file_error. Give token ids for a model reading token ids,
/// features (F x steps*batch, time-major) for one reading features.
struct TestVectors {
  std::vector<TokenId> ids;  ///< time-major ids[t * batch + b]
  Matrix<double> features;   ///< used when ids is empty
  Index steps = 0;
  Index batch = 0;

  /// No test vectors (the default).
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

/// Everything besides the model itself that goes into a model file.
struct ModelFileContents {
  json::Value tokenizer;        ///< any JSON (e.g. CharTokenizer::to_json()); null when absent
  json::Value training_config;  ///< any JSON: optimizer, epochs, data, ...
  std::map<std::string, std::string> metadata;  ///< free-form, stored as "user.<key>"
  TestVectors test_vectors;                     ///< optional: empty() means none
};

struct ModelLoadOptions {
  bool check_test_vectors = true;
  /// Largest allowed |logit - expected| / (1 + |expected|) when re-running the test vectors;
  /// 0 picks 1e-4 when the file or the model is float and 1e-9 when both are double.
  double tolerance = 0;
};

template <class Scalar>
struct LoadedModel {
  Sequential<Scalar> model;
  json::Value tokenizer;
  json::Value training_config;
  std::map<std::string, std::string> metadata;  ///< the user metadata ("user." removed)
  std::string seqlm_version;                    ///< the version that wrote the file
  int format_version = 0;
  safetensors::DType stored_dtype = safetensors::DType::F32;  ///< F32 or F64
  bool test_vectors_checked = false;                          ///< the file had test vectors and they matched
};

/// Test vectors run through the model when the file is saved and again whenever it is loaded.
/// The forward pass keeps every layer's output for every column (steps x batch), so a file
/// whose test vectors need more than this many values, steps x batch x (the sum of the
/// layers' output sizes), is refused before anything runs (and save_model refuses to write
/// one): 2^24 values, 64 MiB as float (recurrent layers also keep their gates, up to 4 values
/// per output). A few steps of one sequence, what the examples store, need a few thousand.
inline constexpr Index max_test_vector_values = Index{1} << 24;

namespace detail {

// steps x batch x the sum of the layers' output sizes, in double (no overflow).
template <class Scalar>
double test_vector_values(const Sequential<Scalar>& model, Index steps, Index batch) {
  double outputs = 0;
  for (Index i = 0; i < model.size(); ++i) outputs += static_cast<double>(model.layer(i).output_size());
  return static_cast<double>(steps) * static_cast<double>(batch) * outputs;
}

inline constexpr const char* model_format = "seqlm.model";
inline constexpr const char* checkpoint_format = "seqlm.checkpoint";
inline constexpr const char* test_input_tensor = "test_vectors/input";
inline constexpr const char* test_logits_tensor = "test_vectors/logits";
inline constexpr const char* optimizer_prefix = "optimizer/";
inline constexpr const char* training_prefix = "training/";
inline constexpr const char* user_prefix = "user.";

// The tensors of a file by name, found in constant time: a header of up to 100 MiB can list
// millions of tensors, and the loaders look up every parameter, slot and training tensor.
class TensorIndex {
 public:
  explicit TensorIndex(const safetensors::File& file) {
    tensors_.reserve(file.tensors.size());
    for (const safetensors::NamedTensor& entry : file.tensors) tensors_.emplace(entry.name, &entry.tensor);
  }
  const safetensors::Tensor* find(std::string_view name) const {
    const auto found = tensors_.find(name);
    return found == tensors_.end() ? nullptr : found->second;
  }

 private:
  std::unordered_map<std::string_view, const safetensors::Tensor*> tensors_;
};

inline bool has_prefix(const std::string& name, const char* prefix) {
  return name.compare(0, std::strlen(prefix), prefix) == 0;
}

// The tensor as a Scalar matrix, refused through fail(...) when a value is NaN or infinite as
// a Checked number: no weight, optimizer slot or saved matrix can be, and a model must not run
// on one. Checked = float also refuses a double beyond the float range, which would become
// infinite in a float model (also when the matrix itself is kept as double, like an optimizer
// slot that a float optimizer will use):
// "<what> holds nan at row 7, column 2 (of 20 x 4); the values must be finite".
template <class Scalar, class Checked = Scalar, class Fail>
Matrix<Scalar> read_finite_matrix(const safetensors::Tensor& tensor, const std::string& what,
                                  const Fail& fail) {
  Matrix<Scalar> values = tensor.to_matrix<Scalar>();
  // Nothing to check in an empty matrix (and Eigen's allFinite() would still walk every
  // column of a 0 x n one).
  if (values.size() == 0) return values;
  if constexpr (std::is_same_v<Scalar, Checked>) {
    if (values.allFinite()) return values;
  } else {
    if (values.template cast<Checked>().allFinite()) return values;
  }
  const Matrix<double> stored = tensor.to_matrix<double>();  // exact for F32 and F64
  for (Index c = 0; c < values.cols(); ++c) {
    for (Index r = 0; r < values.rows(); ++r) {
      if (std::isfinite(static_cast<Checked>(stored(r, c)))) continue;
      const std::string where = make_message(what, " holds ", stored(r, c), " at row ", r, ", column ", c,
                                             " (of ", values.rows(), " x ", values.cols(), ")");
      if (std::isfinite(stored(r, c))) fail(where + ", beyond the range of float");
      fail(where + "; the values must be finite");
    }
  }
  return values;
}

// Throws value_error "<where>: <what> holds nan at row r, column c (of R x C); ..." for the
// first value that is NaN or infinite: the loader refuses such a file, so it is never written.
template <class Derived>
void check_finite_for_writing(const Eigen::MatrixBase<Derived>& values, const char* where,
                              const std::string& what) {
  if (values.size() == 0 || values.allFinite()) return;
  for (Index c = 0; c < values.cols(); ++c) {
    for (Index r = 0; r < values.rows(); ++r) {
      if (std::isfinite(values(r, c))) continue;
      throw value_error(make_message(
          where, ": ", what, " holds ", values(r, c), " at row ", r, ", column ", c, " (of ", values.rows(),
          " x ", values.cols(), "); a seqlm file cannot hold NaN or infinity (loading would refuse it)"));
    }
  }
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

// The model's weights and test vectors as a safetensors file with the model metadata (no
// checksum yet). `model` is a private copy: forward() (for the test vectors) and
// parameters() are not const.
template <class Scalar>
safetensors::File make_model_file(Sequential<Scalar>& model, const ModelFileContents& contents,
                                  const char* format) {
  const char* where = std::strcmp(format, checkpoint_format) == 0 ? "save_checkpoint" : "save_model";
  safetensors::File file;
  for (const Parameter<Scalar>& p : model.parameters()) {
    check_finite_for_writing(*p.value, where, "weight \"" + p.name + "\"");
    file.add(p.name, safetensors::Tensor::from_matrix(*p.value));
  }

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
    const std::string vectors_where = std::string(where) + ": test vectors";
    check_positive(vectors_where.c_str(), "batch", vectors.batch);
    check_positive(vectors_where.c_str(), "steps", vectors.steps);
    const double values = test_vector_values(model, vectors.steps, vectors.batch);
    if (values > static_cast<double>(max_test_vector_values)) {
      throw value_error(make_message(vectors_where, ": steps ", vectors.steps, " x batch ", vectors.batch,
                                     " x the layers' outputs is ", count_text(values),
                                     " values, more than the limit of ", max_test_vector_values,
                                     " (max_test_vector_values)"));
    }
    const LayerContext inference;
    const Matrix<Scalar>* logits = nullptr;
    if (model.input_spec().tokens) {
      const TokenView tokens(vectors.ids, vectors.steps, vectors.batch);
      logits = &model.forward(tokens, inference);
      file.add(test_input_tensor,
               safetensors::Tensor::from_values(vectors.ids, {vectors.steps, vectors.batch}));  // [T, B]
    } else {
      check_cols(vectors_where.c_str(), "features", vectors.features.cols(), vectors.steps * vectors.batch);
      const Matrix<Scalar> features = vectors.features.cast<Scalar>();
      logits = &model.forward(features, vectors.batch, inference);
      file.add(test_input_tensor, safetensors::Tensor::from_matrix(vectors.features));  // [T*B, F]
    }
    check_finite_for_writing(*logits, where, "the logits of the test vectors");
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

// The JSON held by metadata entry `key`; file_error "<where>metadata \"key\" is missing / is not
// valid JSON: ..." otherwise.
inline json::Value metadata_json(const safetensors::File& file, const std::string& where, const char* key) {
  const auto it = file.metadata.find(key);
  if (it == file.metadata.end()) throw file_error(where + "metadata \"" + key + "\" is missing");
  try {
    return json::parse(it->second);
  } catch (const value_error& e) {
    throw file_error(where + "metadata \"" + key + "\" is not valid JSON: " + e.what());
  }
}

// Rebuilds the model of a validated file: architecture, weights, test vectors.
template <class Scalar>
LoadedModel<Scalar> read_model(const safetensors::File& file, const TensorIndex& tensors,
                               const std::string& where, bool checkpoint, const ModelLoadOptions& options) {
  auto fail = [&where](const std::string& what) { throw file_error(where + what); };
  auto metadata_json = [&](const char* key) { return detail::metadata_json(file, where, key); };

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
  std::unordered_set<std::string> known;
  for (const Parameter<Scalar>& p : loaded.model.parameters()) {
    known.insert(p.name);
    const safetensors::Tensor* tensor = tensors.find(p.name);
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
    *p.value = read_finite_matrix<Scalar>(*tensor, "weight \"" + p.name + "\"", fail);
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
    if (known.count(name) != 0) continue;
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
    if (steps <= 0 || batch <= 0)
      fail(make_message("test vectors: invalid steps ", steps, " or batch ", batch));
    const double values = test_vector_values(loaded.model, steps, batch);
    if (values > static_cast<double>(max_test_vector_values)) {
      fail(make_message("metadata \"test_vectors\": steps ", steps, " x batch ", batch,
                        " x the layers' outputs is ", count_text(values), " values, more than the limit of ",
                        max_test_vector_values));
    }
    const bool tokens = loaded.model.input_spec().tokens;
    if (input_kind != (tokens ? "token_ids" : "features")) {
      fail("test vectors: input \"" + input_kind + "\" does not match the model's input");
    }
    const safetensors::Tensor* input = tensors.find(test_input_tensor);
    const safetensors::Tensor* expected_tensor = tensors.find(test_logits_tensor);
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

/// Saves `model` (its architecture and weights) with `contents` to `path`, atomically: on any
/// failure an existing file at `path` is unchanged. value_error / shape_error for invalid test
/// vectors or metadata, value_error naming the weight for a NaN or infinite weight (load_model
/// would refuse the file), file_error for I/O.
template <class Scalar>
void save_model(const std::string& path, const Sequential<Scalar>& model,
                const ModelFileContents& contents = {}) {
  Sequential<Scalar> copy(model);
  safetensors::File file = detail::make_model_file(copy, contents, detail::model_format);
  detail::seal_and_write(path, file);
}

/// Loads a model file (or the model of a checkpoint) as a Scalar model, converting the weights
/// when the file has the other precision. file_error naming the file on anything invalid.
template <class Scalar>
LoadedModel<Scalar> load_model(const std::string& path, const ModelLoadOptions& options = {}) {
  const safetensors::File file = detail::open_seqlm_file(path, false);
  const bool checkpoint = file.metadata.at("format") == detail::checkpoint_format;
  return detail::read_model<Scalar>(file, detail::TensorIndex(file),
                                    "model file \"" + path + "\": ", checkpoint, options);
}

}  // namespace seqlm
