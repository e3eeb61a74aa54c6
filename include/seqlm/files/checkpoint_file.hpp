/// \file
/// The checkpoint file layer: a model file (files/model_file.hpp) that also holds the
/// optimizer's state and where the training run stands. train/checkpoint.hpp builds the public
/// API on it (save_checkpoint / load_checkpoint with fit()'s TrainingState); everything here is
/// detail. docs/file-format.md has the layout:
///
/// ```text
///   metadata "format"     "seqlm.checkpoint" (a model file says "seqlm.model")
///   metadata "optimizer"  {"name", "iterations", "hyperparameters": {key: number},
///                          "scalars": {key: number}, "slots": [key, ...]}
///   tensors "optimizer/<slot key>"   F64, Optimizer::export_state()'s slots
///   metadata "training"   {"epoch", "batch", "global_step",
///                          "rng": {"words": [4 x 16 hex digits], "has_spare_normal": bool,
///                                  "spare_normal_bits": 16 hex digits (the double's bits)},
///                          "extra": the trainer's JSON, "tensors": [name, ...]}
///   tensors "training/<name>"        F64, the trainer's matrices
/// ```
///
/// Saving and loading is exact: every double comes back with the same bits.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "../error.hpp"
#include "../io/json.hpp"
#include "../io/safetensors.hpp"
#include "../model/sequential.hpp"
#include "../optim/optimizer.hpp"
#include "../random.hpp"
#include "../tensor.hpp"
#include "model_file.hpp"

namespace seqlm {
namespace detail {

// Where a training run stands, as the file stores it. `extra` carries whatever else the
// trainer needs to resume as JSON, and `tensors` any matrices it needs, stored as F64 tensors
// "training/<name>" (train/checkpoint.hpp puts the whole TrainingState there).
struct TrainingPosition {
  Index epoch = 0;
  Index batch = 0;
  Index global_step = 0;
  Rng::Snapshot rng;
  json::Value extra;
  std::vector<std::pair<std::string, Matrix<double>>> tensors;
};

// Everything a checkpoint file holds.
template <class Scalar>
struct CheckpointFile {
  LoadedModel<Scalar> model;
  OptimizerState optimizer;
  TrainingPosition position;
};

inline std::size_t count_tensors_with_prefix(const safetensors::File& file, const char* prefix) {
  std::size_t count = 0;
  for (const auto& entry : file.tensors) count += has_prefix(entry.name, prefix) ? 1 : 0;
  return count;
}

// A dimension of an optimizer slot or a training tensor above this (2^31 - 1) is refused as
// corrupt: no model parameter has one (a layer has at most 2^28 parameters), and a tensor with
// no elements costs no bytes in the file, so without a bound one could claim 0 x 2^62.
inline constexpr Index max_checkpoint_tensor_dimension = (Index{1} << 31) - 1;

}  // namespace detail

/// At most this many optimizer slots and this many training tensors in one checkpoint (each
/// list is checked before any of its tensors is read). A model has at most
/// ArchitectureLimits::max_layers layers with a few parameters each, and an optimizer keeps
/// at most 3 slots per parameter (Adam with amsgrad), so a real checkpoint is far below.
inline constexpr Index max_checkpoint_slots = Index{1} << 16;
inline constexpr Index max_checkpoint_training_tensors = Index{1} << 16;

namespace detail {

// The F64 tensor `prefix + name` of 1 or 2 dimensions as a matrix of values finite as Scalar
// (the type the optimizer or the model will use them as); otherwise fail(...) with "<what>
// \"<name>\" is missing", "... must be an F64 tensor of 1 or 2 dimensions", "... has shape
// [...]; no model has a dimension above 2147483647 ..." or "... holds nan at row r, column c".
template <class Scalar, class Fail>
Matrix<double> read_f64_tensor(const TensorIndex& tensors, const char* prefix, const std::string& name,
                               const char* what, const Fail& fail) {
  const safetensors::Tensor* tensor = tensors.find(prefix + name);
  if (tensor == nullptr) fail(std::string(what) + " \"" + name + "\" is missing");
  if (tensor->dtype() != safetensors::DType::F64 || tensor->shape().empty() || tensor->shape().size() > 2) {
    fail(std::string(what) + " \"" + name + "\" must be an F64 tensor of 1 or 2 dimensions");
  }
  for (const std::int64_t dimension : tensor->shape()) {
    if (dimension > max_checkpoint_tensor_dimension) {
      fail(make_message(what, " \"", name, "\" has shape ", safetensors::detail::shape_text(tensor->shape()),
                        "; no model has a dimension above ", max_checkpoint_tensor_dimension,
                        " (the file is corrupt)"));
    }
  }
  return read_finite_matrix<double, Scalar>(*tensor, std::string(what) + " \"" + name + "\"", fail);
}

inline std::string hex_u64(std::uint64_t value) {
  char text[24];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(value));
  return text;
}

// Parses exactly 16 hex digits; fail("is \"...\", expected 16 hex digits") otherwise.
template <class Fail>
std::uint64_t parse_hex_u64(const std::string& text, const Fail& fail) {
  std::uint64_t value = 0;
  bool valid = text.size() == 16;
  for (char c : text) {
    int digit = -1;
    if (c >= '0' && c <= '9') digit = c - '0';
    if (c >= 'a' && c <= 'f') digit = c - 'a' + 10;
    if (c >= 'A' && c <= 'F') digit = c - 'A' + 10;
    valid = valid && digit >= 0;
    value = (value << 4) | static_cast<std::uint64_t>(digit < 0 ? 0 : digit);
  }
  if (!valid) fail("is \"" + text + "\", expected 16 hex digits");
  return value;
}

// Writes a checkpoint atomically: the model file of `model` and `contents`, plus `optimizer`
// (Optimizer::export_state()) and `position`. value_error when a weight, the optimizer state,
// a training tensor or `extra` holds a NaN or infinity (the loader would refuse the file; JSON
// cannot store them) or two training tensors share a name; file_error for I/O. On any failure
// an existing file at `path` is unchanged.
template <class Scalar>
void write_checkpoint_file(const std::string& path, const Sequential<Scalar>& model,
                           const OptimizerState& optimizer, const TrainingPosition& position,
                           const ModelFileContents& contents) {
  Sequential<Scalar> copy(model);
  safetensors::File file = make_model_file(copy, contents, checkpoint_format);

  json::Value hyperparameters = json::Value::object();
  for (const auto& [key, value] : optimizer.hyperparameters) hyperparameters.set(key, value);
  json::Value scalars = json::Value::object();
  for (const auto& [key, value] : optimizer.scalars) scalars.set(key, value);
  json::Value slots = json::Value::array();
  for (const auto& [key, value] : optimizer.slots) {
    check_finite_for_writing(value, "save_checkpoint", "optimizer slot \"" + key + "\"");
    slots.push_back(key);
    file.add(optimizer_prefix + key, safetensors::Tensor::from_matrix(value));
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
    if (file.find(training_prefix + name) != nullptr) {
      throw value_error("save_checkpoint: two training tensors are named \"" + name + "\"");
    }
    check_finite_for_writing(value, "save_checkpoint", "training tensor \"" + name + "\"");
    training_tensors.push_back(name);
    file.add(training_prefix + name, safetensors::Tensor::from_matrix(value));
  }
  json::Value words = json::Value::array();
  for (const std::uint64_t word : position.rng.words) words.push_back(hex_u64(word));
  std::uint64_t spare_bits = 0;
  std::memcpy(&spare_bits, &position.rng.spare_normal, sizeof spare_bits);
  file.metadata["training"] = json::Value::object()
                                  .set("epoch", position.epoch)
                                  .set("batch", position.batch)
                                  .set("global_step", position.global_step)
                                  .set("rng", json::Value::object()
                                                  .set("words", std::move(words))
                                                  .set("has_spare_normal", position.rng.has_spare_normal)
                                                  .set("spare_normal_bits", hex_u64(spare_bits)))
                                  .set("extra", position.extra)
                                  .set("tensors", std::move(training_tensors))
                                  .dump();
  seal_and_write(path, file);
}

// Reads a checkpoint written by write_checkpoint_file: model, optimizer state and position,
// exactly as saved. file_error naming the file and, for the metadata, the path and field on
// anything invalid ("checkpoint \"run.checkpoint\": metadata \"training\"/rng: field
// \"has_spare_normal\" is missing").
template <class Scalar>
CheckpointFile<Scalar> read_checkpoint_file(const std::string& path, const ModelLoadOptions& options) {
  const safetensors::File file = open_seqlm_file(path, true);
  const TensorIndex tensors(file);
  const std::string where = "checkpoint \"" + path + "\": ";
  auto fail = [&where](const std::string& what) { throw file_error(where + what); };
  CheckpointFile<Scalar> checkpoint{read_model<Scalar>(file, tensors, where, true, options), {}, {}};

  auto metadata_json = [&](const char* key) { return detail::metadata_json(file, where, key); };

  // Optimizer state.
  const json::Value optimizer_json = metadata_json("optimizer");
  json::ObjectReader optimizer(optimizer_json, where + "metadata \"optimizer\"");
  OptimizerState& state = checkpoint.optimizer;
  state.name = optimizer.text("name");
  state.iterations = optimizer.count("iterations");
  json::ObjectReader hyperparameters = optimizer.object("hyperparameters");
  for (const auto& member : hyperparameters.members()) {
    state.hyperparameters[member.first] = hyperparameters.number(member.first);
  }
  json::ObjectReader scalars = optimizer.object("scalars");
  for (const auto& member : scalars.members()) state.scalars[member.first] = scalars.number(member.first);
  const json::ArrayReader slots = optimizer.array("slots");
  optimizer.finish();
  if (slots.size() > static_cast<std::size_t>(max_checkpoint_slots)) {
    slots.fail(make_message("lists ", slots.size(), " slots, more than the limit of ", max_checkpoint_slots));
  }
  const std::size_t optimizer_tensors = count_tensors_with_prefix(file, optimizer_prefix);
  if (optimizer_tensors != slots.size()) {
    fail(make_message("the optimizer lists ", slots.size(), " slots, the file has ", optimizer_tensors,
                      " optimizer tensors"));
  }
  std::unordered_set<std::string_view> slot_names;
  for (std::size_t k = 0; k < slots.size(); ++k) {
    const std::string& slot = slots.text(k);
    if (!slot_names.insert(slot).second) slots.fail(k, "is \"" + slot + "\", listed twice");
    state.slots.emplace_back(
        slot, read_f64_tensor<Scalar>(tensors, optimizer_prefix, slot, "optimizer slot", fail));
  }

  // Training position.
  const json::Value training_json = metadata_json("training");
  json::ObjectReader training(training_json, where + "metadata \"training\"");
  TrainingPosition& position = checkpoint.position;
  position.epoch = static_cast<Index>(training.count("epoch"));
  position.batch = static_cast<Index>(training.count("batch"));
  position.global_step = static_cast<Index>(training.count("global_step"));
  json::ObjectReader rng = training.object("rng");
  const json::ArrayReader words = rng.array("words");
  if (words.size() != position.rng.words.size()) {
    words.fail(make_message("has ", words.size(), " elements, expected ", position.rng.words.size()));
  }
  for (std::size_t k = 0; k < words.size(); ++k) {
    position.rng.words[k] =
        parse_hex_u64(words.text(k), [&](const std::string& problem) { words.fail(k, problem); });
  }
  position.rng.has_spare_normal = rng.flag("has_spare_normal");
  const std::uint64_t spare_bits =
      parse_hex_u64(rng.text("spare_normal_bits"),
                    [&](const std::string& problem) { rng.fail("spare_normal_bits", problem); });
  std::memcpy(&position.rng.spare_normal, &spare_bits, sizeof spare_bits);
  rng.finish();
  position.extra = training.value("extra");
  // "tensors" is absent in checkpoints written before it existed: none.
  if (const std::optional<json::ArrayReader> names = training.optional_array("tensors")) {
    if (names->size() > static_cast<std::size_t>(max_checkpoint_training_tensors)) {
      names->fail(make_message("lists ", names->size(), " tensors, more than the limit of ",
                               max_checkpoint_training_tensors));
    }
    std::unordered_set<std::string_view> listed;
    for (std::size_t k = 0; k < names->size(); ++k) {
      const std::string& name = names->text(k);
      if (!listed.insert(name).second) names->fail(k, "is \"" + name + "\", listed twice");
      position.tensors.emplace_back(
          name, read_f64_tensor<Scalar>(tensors, training_prefix, name, "training tensor", fail));
    }
  }
  training.finish();
  const std::size_t training_tensors = count_tensors_with_prefix(file, training_prefix);
  if (position.tensors.size() != training_tensors) {
    fail(make_message("the training position lists ", position.tensors.size(), " tensors, the file has ",
                      training_tensors, " training tensors"));
  }
  return checkpoint;
}

}  // namespace detail
}  // namespace seqlm
