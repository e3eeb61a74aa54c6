/// \file
/// Keras interop: import a trained Keras text model into seqlm in one call, and export a seqlm
/// model as a Keras 3 `.keras` file. docs/keras.md is the guide.
///
/// ```cpp
///   auto vocabulary = keras::Vocabulary::sorted_characters_of(text, {LowerCase::unicode, {"@\n"}});
///   keras::KerasModel<float> imported = keras::load<float>("poems.keras", vocabulary);
///   generate(imported.model, prompt, options);                          // sample, stream, evaluate
///   auto optimizer = restore_optimizer<float>(*imported.optimizer);     // Keras's RMSprop state
///   fit(imported.model, *optimizer, windows, fit_options);              // and keep training
///   save_model("poems.safetensors", imported.model, imported.model_file_contents());
/// ```
///
/// ```cpp
///   keras::save(model, "out.keras", save_options);                     // and back to Keras 3
/// ```
///
/// What is read:
/// ```text
///   .keras   Keras 3's ZIP archive: metadata.json, config.json (the architecture and, after
///            compile(), the optimizer and loss) and model.weights.h5 (HDF5: the weights under
///            layers/<layer>/vars/<k> or layers/<layer>/cell/vars/<k>, the optimizer's variables
///            under optimizer/vars/<k>)
///   .h5      a legacy Keras 2 full model (attribute model_config, group model_weights); its
///            optimizer state is not imported (only the model)
///   weights  load_weights(): Keras 3's .weights.h5, a legacy weights .h5, or the weights of a
///            .keras archive, into a seqlm model of the same architecture
/// ```
///
/// Every problem is a seqlm::file_error naming the file, the entry or HDF5 path, the layer and
/// option, and what was expected vs found. Nothing is guessed: options seqlm cannot compute
/// exactly are refused (architecture.hpp lists the rules).
///
/// This header, with hdf5.hpp and zip.hpp, is the only part of seqlm that needs HDF5 and libzip:
/// link the optional seqlm::keras target (find_package(seqlm COMPONENTS keras)). The HDF5 C
/// library is not thread-safe: call these functions from one thread at a time.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "../error.hpp"
#include "../files/model_file.hpp"
#include "../io/atomic_file.hpp"
#include "../io/json.hpp"
#include "../model/sequential.hpp"
#include "../optim/make_optimizer.hpp"
#include "../optim/optimizer.hpp"
#include "../tensor.hpp"
#include "architecture.hpp"
#include "hdf5.hpp"
#include "vocabulary.hpp"
#include "zip.hpp"

namespace seqlm::keras {

struct LoadOptions {
  /// Input(T, V) feeding an LSTM or GRU: a model of token ids over V (true: exact for one-hot
  /// inputs, and what generate() needs) or of V features (false).
  bool one_hot_as_token_ids = true;
  /// Import the optimizer (compile_config) and its state (optimizer/vars) when the file has
  /// them. false: read the model only, whatever the file says about training.
  bool optimizer = true;
  /// Largest config.json / metadata.json, and largest model.weights.h5, read from an archive.
  std::uint64_t max_json_bytes = std::uint64_t{64} << 20;
  std::uint64_t max_weights_bytes = std::uint64_t{4} << 30;
  /// Largest layer and model the configuration may describe, checked before anything is
  /// allocated (the limits of seqlm's own model files).
  ArchitectureLimits limits;
};

/// An imported Keras model.
template <class Scalar>
struct KerasModel {
  Sequential<Scalar> model;                 ///< weights loaded; ready for forward, step, fit
  Vocabulary vocabulary;                    ///< as given to load()
  std::optional<OptimizerState> optimizer;  ///< Keras's optimizer and its state, when the file has them
  std::vector<KerasLayer> layers;           ///< how each Keras layer became a seqlm layer
  std::string format;                       ///< "keras" (Keras 3 archive) or "h5" (legacy Keras 2 file)
  std::string keras_version;                ///< the Keras that wrote the file ("" when not stated)
  std::string date_saved;                   ///< metadata.json's date ("" for .h5)
  std::optional<Index> sequence_length;     ///< the Input's steps: the window the model was built for
  bool one_hot_input = false;               ///< Input(T, V) of one-hot vectors, read as token ids
  bool softmax_output = false;              ///< the last Dense applied a softmax (seqlm: in the loss)
  json::Value loss;                         ///< compile_config's loss as written (null when none)
  json::Value config;                       ///< the whole configuration as read
  std::vector<std::string> notes;           ///< what was read but not imported, in words

  /// What save_model() needs to keep the import: the vocabulary's tokenizer, the Keras origin
  /// (user metadata "keras_*") and the optimizer's configuration as the training config.
  ModelFileContents model_file_contents() const {
    ModelFileContents contents;
    contents.tokenizer = vocabulary.to_json();
    contents.metadata["keras_format"] = format;
    if (!keras_version.empty()) contents.metadata["keras_version"] = keras_version;
    if (!date_saved.empty()) contents.metadata["keras_date_saved"] = date_saved;
    if (sequence_length) contents.metadata["window"] = std::to_string(*sequence_length);
    json::Value training = json::Value::object().set("source", "keras").set("loss", loss);
    if (optimizer) {
      json::Value hyperparameters = json::Value::object();
      for (const auto& [key, value] : optimizer->hyperparameters) hyperparameters.set(key, value);
      training.set("optimizer", optimizer->name)
          .set("hyperparameters", std::move(hyperparameters))
          .set("iterations", optimizer->iterations);
    }
    contents.training_config = std::move(training);
    return contents;
  }
};

namespace detail {

// The shape Keras gives a seqlm parameter. seqlm keeps a matrix column-major and Keras keeps
// its array row-major with the axes reversed, so the two hold the same numbers in the same
// order: a (rows x 1) bias is (rows,), an (out x in) kernel is (in, out), GRU's (3H x 2) bias
// is (2, 3H), an Embedding's (D x V) table is (V, D), and a Conv1D kernel (F x k*I), tap j
// in column block j, is (k, I, F).
template <class Scalar>
std::vector<std::int64_t> keras_shape(const Layer<Scalar>& layer, const Matrix<Scalar>& value) {
  if (const auto* conv = layer_cast<Conv1D<Scalar>>(layer); conv != nullptr && &value == &conv->kernel()) {
    return {conv->config().kernel_size, conv->config().input_size, conv->config().filters};
  }
  if (value.cols() == 1) return {value.rows()};
  return {value.cols(), value.rows()};
}

// Copies a Keras array into a seqlm matrix (same order of numbers, see keras_shape), refusing
// NaN and infinity.
template <class Scalar>
void assign_array(Matrix<Scalar>& target, const hdf5::Array& array, const std::string& where) {
  const Index count = target.size();
  for (Index k = 0; k < count; ++k) {
    const double value = array.values[static_cast<std::size_t>(k)];
    if (!std::isfinite(value)) {
      throw file_error(seqlm::detail::make_message(where, " holds ", value, " at flat index ", k,
                                                   "; weights must be finite"));
    }
    target.data()[k] = static_cast<Scalar>(value);
  }
}

// Reads the dataset at `path`, checking that it holds floats of the expected shape.
inline hdf5::Array read_float_array(const hdf5::File& file, const std::string& path,
                                    const std::vector<std::int64_t>& shape, const std::string& what) {
  hdf5::Array array = file.read(path);
  if (array.dtype != "float32" && array.dtype != "float64") {
    throw file_error(file.name() + ": \"" + path + "\" (" + what + ") holds " + array.dtype +
                     ", expected float32 or float64");
  }
  if (array.shape != shape) {
    throw file_error(file.name() + ": \"" + path + "\" (" + what + ") has shape " +
                     hdf5::shape_text(array.shape) + ", expected " + hdf5::shape_text(shape));
  }
  return array;
}

// The members of a Keras 3 vars group must be exactly "0", "1", ..., "n-1".
inline void check_var_names(const hdf5::File& file, const std::string& group, std::size_t count,
                            const std::string& what) {
  const hdf5::File::Kind kind = file.kind(group);
  if (kind == hdf5::File::Kind::missing) {
    if (count == 0) return;
    throw file_error(file.name() + ": \"" + group + "\" is missing (" + what + ": expected " +
                     std::to_string(count) + " variables)");
  }
  if (kind != hdf5::File::Kind::group) throw file_error(file.name() + ": \"" + group + "\" is not a group");
  std::vector<std::string> names = file.members(group);
  for (std::size_t k = 0; k < count; ++k) {
    if (std::find(names.begin(), names.end(), std::to_string(k)) == names.end()) {
      throw file_error(file.name() + ": \"" + group + "/" + std::to_string(k) + "\" is missing (" + what +
                       ": expected " + std::to_string(count) + " variables, 0 to " +
                       std::to_string(count - 1) + ")");
    }
  }
  if (names.size() != count) {
    for (const std::string& name : names) {
      bool expected = false;
      for (std::size_t k = 0; k < count; ++k) expected = expected || name == std::to_string(k);
      if (!expected) {
        throw file_error(file.name() + ": \"" + group + "/" + name + "\" is not expected (" + what + " has " +
                         std::to_string(count) + " variables)");
      }
    }
  }
}

// Keras 3 layout: the weights of every layer under <root>/<layer>/[cell/]vars/<k>. Refuses
// layer groups the model does not have, so a weights file of another model cannot half-load.
template <class Scalar>
void read_keras3_weights(const hdf5::File& file, Sequential<Scalar>& model,
                         const std::vector<KerasLayer>& layers) {
  std::string root = "layers";
  if (file.kind(root) != hdf5::File::Kind::group) {
    if (file.kind("_layer_checkpoint_dependencies") == hdf5::File::Kind::group) {
      root = "_layer_checkpoint_dependencies";  // .keras files of Keras 2.13 - 2.15
    } else {
      throw file_error(file.name() +
                       ": \"layers\" is missing (expected the layers' weights, Keras 3 layout)");
    }
  }
  std::vector<std::string> expected_groups;
  for (Index i = 0; i < model.size(); ++i) {
    const KerasLayer& info = layers[static_cast<std::size_t>(i)];
    const std::string group = root + info.weights_path.substr(std::string("layers").size());
    expected_groups.push_back(group.substr(root.size() + 1));
    const std::string vars = group + (info.cell ? "/cell/vars" : "/vars");
    const std::string what = "layer \"" + info.name + "\" (" + info.class_name + ")";
    ParameterList<Scalar> parameters = model.layer(i).parameters();
    if (parameters.empty() && file.kind(group) == hdf5::File::Kind::missing) continue;
    check_var_names(file, vars, parameters.size(), what);
    if (info.cell) check_var_names(file, group + "/vars", 0, what);
    for (std::size_t k = 0; k < parameters.size(); ++k) {
      const std::string path = vars + "/" + std::to_string(k);
      const std::string weight = what + " " + parameters[k].name;
      const hdf5::Array array =
          read_float_array(file, path, keras_shape(model.layer(i), *parameters[k].value), weight);
      assign_array(*parameters[k].value, array, file.name() + ": \"" + path + "\" (" + weight + ")");
    }
  }
  for (const std::string& member : file.members(root)) {
    if (std::find(expected_groups.begin(), expected_groups.end(), member) != expected_groups.end()) continue;
    if (member == "input_layer" && file.kind(root + "/input_layer/vars") != hdf5::File::Kind::dataset) {
      check_var_names(file, root + "/input_layer/vars", 0, "the InputLayer");
      continue;
    }
    throw file_error(file.name() + ": \"" + root + "/" + member +
                     "\" holds weights of a layer the model's configuration does not have");
  }
  if (file.kind("vars") == hdf5::File::Kind::group) check_var_names(file, "vars", 0, "the model itself");
}

// A legacy attribute that Keras 2 splits into name0, name1, ... when it is too large.
inline std::optional<std::vector<std::string>> legacy_strings(const hdf5::File& file,
                                                              const std::string& object,
                                                              const std::string& name) {
  if (auto whole = file.strings_attribute(object, name)) return whole;
  std::vector<std::string> joined;
  bool any = false;
  for (int chunk = 0;; ++chunk) {
    auto part = file.strings_attribute(object, name + std::to_string(chunk));
    if (!part) break;
    any = true;
    joined.insert(joined.end(), part->begin(), part->end());
  }
  if (!any) return std::nullopt;
  return joined;
}

// "lstm/lstm_cell/kernel:0" -> "kernel".
inline std::string legacy_weight_kind(const std::string& name) {
  std::string last =
      name.substr(name.find_last_of('/') == std::string::npos ? 0 : name.find_last_of('/') + 1);
  const std::size_t colon = last.find(':');
  return colon == std::string::npos ? last : last.substr(0, colon);
}

// Legacy (Keras 2) layout: group <root>/<layer name> with attribute weight_names, each a path
// to a dataset under that group.
template <class Scalar>
void read_legacy_weights(const hdf5::File& file, const std::string& root, Sequential<Scalar>& model) {
  const std::string prefix = root.empty() ? "" : root + "/";
  const std::optional<std::vector<std::string>> layer_names = legacy_strings(file, root, "layer_names");
  if (!layer_names) {
    throw file_error(file.name() + ": " +
                     (root.empty() ? std::string("the root group") : "\"" + root + "\"") +
                     " has no attribute \"layer_names\" (expected Keras 2 weights)");
  }
  std::vector<std::string> used;
  for (Index i = 0; i < model.size(); ++i) {
    const std::string& name = model.layer_name(i);
    const std::string what = "layer \"" + name + "\" (" + model.layer(i).type() + ")";
    ParameterList<Scalar> parameters = model.layer(i).parameters();
    used.push_back(name);
    if (std::find(layer_names->begin(), layer_names->end(), name) == layer_names->end()) {
      if (parameters.empty()) continue;
      throw file_error(file.name() + ": layer_names does not list \"" + name + "\" (" + what + ")");
    }
    const std::string group = prefix + name;
    const std::vector<std::string> weight_names =
        legacy_strings(file, group, "weight_names").value_or(std::vector<std::string>{});
    if (weight_names.size() != parameters.size()) {
      throw file_error(file.name() + ": \"" + group + "\" lists " + std::to_string(weight_names.size()) +
                       " weights in weight_names, " + what + " has " + std::to_string(parameters.size()));
    }
    for (std::size_t k = 0; k < parameters.size(); ++k) {
      const std::string kind = legacy_weight_kind(weight_names[k]);
      if (kind != parameters[k].name) {
        throw file_error(file.name() + ": \"" + group + "\" weight " + std::to_string(k) + " is \"" +
                         weight_names[k] + "\", expected the " + parameters[k].name + " of " + what);
      }
      const std::string path = group + "/" + weight_names[k];
      const std::string weight = what + " " + parameters[k].name;
      const hdf5::Array array =
          read_float_array(file, path, keras_shape(model.layer(i), *parameters[k].value), weight);
      assign_array(*parameters[k].value, array, file.name() + ": \"" + path + "\" (" + weight + ")");
    }
  }
  for (const std::string& listed : *layer_names) {
    if (std::find(used.begin(), used.end(), listed) != used.end()) continue;
    const auto weights = legacy_strings(file, prefix + listed, "weight_names");
    if (weights && !weights->empty()) {
      throw file_error(file.name() + ": \"" + prefix + listed +
                       "\" holds weights of a layer the model's configuration does not have");
    }
  }
}

// ---- compile_config: the optimizer and the loss ------------------------------------------------

struct CompileSpec {
  std::string optimizer;                          // seqlm's name: "RMSprop", ...; empty when none
  std::map<std::string, double> hyperparameters;  // seqlm's keys (make_optimizer)
  json::Value loss;
};

// Keras 3's optimizer config -> seqlm's optimizer name and hyperparameters.
inline void read_optimizer_config(const json::Value& value, const std::string& where, CompileSpec& spec) {
  if (value.is_string()) {  // compile(optimizer="adam") kept as a name: Keras's defaults
    static const std::map<std::string, std::string> names = {
        {"rmsprop", "RMSprop"}, {"adam", "Adam"}, {"nadam", "Nadam"}, {"sgd", "SGD"}};
    const auto found = names.find(ascii_lower(value.as_string()));
    if (found == names.end()) {
      throw file_error(where + ": optimizer \"" + value.as_string() +
                       "\" is not one seqlm has (SGD, RMSprop, Adam, Nadam)");
    }
    spec.optimizer = found->second;
    spec.hyperparameters = make_optimizer<double>(spec.optimizer)->hyperparameters();
    return;
  }
  KerasOptions outer(value, where + ": optimizer");
  const std::string& class_name = outer.text("class_name");
  outer.expect("module", "keras.optimizers", "the optimizer is not one of Keras's own classes");
  outer.expect_null("registered_name", "the optimizer is a registered custom class");
  const json::Value& config = outer.need("config");
  outer.finish();
  if (class_name != "RMSprop" && class_name != "Adam" && class_name != "Nadam" && class_name != "SGD") {
    outer.fail_option("class_name", "is \"" + class_name + "\"; seqlm has SGD, RMSprop, Adam and Nadam");
  }
  KerasOptions options(config, where + ": optimizer " + class_name);
  spec.optimizer = class_name;
  std::map<std::string, double>& h = spec.hyperparameters;
  options.ignore({"name"});
  const json::Value& rate = options.need("learning_rate");
  if (!rate.is_number()) {
    options.fail_option(
        "learning_rate",
        "is " + rate.dump() + "; seqlm imports a constant learning rate (set a schedule in seqlm)");
  }
  h["learning_rate"] = rate.as_double();
  options.expect_null("weight_decay", "seqlm's optimizers have no weight decay", /*zero_ok=*/true);
  for (const auto& [keras, seqlm] : {std::pair<const char*, const char*>{"clipnorm", "clip_norm"},
                                     {"global_clipnorm", "global_clip_norm"},
                                     {"clipvalue", "clip_value"}}) {
    const json::Value* clip = options.find(keras);
    if (clip != nullptr && !clip->is_null()) h[seqlm] = options.number(keras);
  }
  options.expect("use_ema", false, "seqlm keeps no moving average of the weights");
  options.ignore({"ema_momentum", "ema_overwrite_frequency"});  // used only with use_ema
  options.expect_null("loss_scale_factor", "seqlm does not scale the loss");
  options.expect_null("gradient_accumulation_steps", "seqlm applies every batch's gradient at once");
  options.expect("is_legacy_optimizer", false, "a legacy optimizer's state has another layout");
  options.ignore({"jit_compile"});
  if (class_name == "RMSprop") {
    h["rho"] = options.number("rho");
    h["momentum"] = options.number("momentum");
    h["epsilon"] = options.number("epsilon");
    h["centered"] = options.flag("centered") ? 1 : 0;
  } else if (class_name == "Adam") {
    h["beta_1"] = options.number("beta_1");
    h["beta_2"] = options.number("beta_2");
    h["epsilon"] = options.number("epsilon");
    h["amsgrad"] = options.flag("amsgrad") ? 1 : 0;
  } else if (class_name == "Nadam") {
    h["beta_1"] = options.number("beta_1");
    h["beta_2"] = options.number("beta_2");
    h["epsilon"] = options.number("epsilon");
  } else {
    h["momentum"] = options.number("momentum");
    h["nesterov"] = options.flag("nesterov") ? 1 : 0;
  }
  options.finish();
  try {
    make_optimizer<double>(spec.optimizer, h);  // seqlm's own range checks
  } catch (const value_error& e) {
    throw file_error(where + ": optimizer " + class_name + ": " + e.what());
  }
}

// The loss must be the cross-entropy seqlm trains with: of the softmax output (from_logits
// false) or of the logits (a linear last layer, from_logits true).
inline void check_loss(const json::Value& loss, const std::string& where, bool softmax_output) {
  const std::string expected = softmax_output ? "from_logits false, the model ends in a softmax"
                                              : "from_logits true, the model ends in logits";
  auto refuse = [&](const std::string& what) {
    throw file_error(where + ": loss " + loss.dump() + " " + what +
                     "; seqlm trains with the softmax cross-entropy of the next token (" + expected +
                     "). Load with LoadOptions::optimizer = false to import the model only");
  };
  if (loss.is_string()) {
    const std::string& name = loss.as_string();
    if (name != "categorical_crossentropy" && name != "sparse_categorical_crossentropy")
      refuse("is not supported");
    if (!softmax_output) refuse("applies to probabilities, but the last layer is linear");
    return;
  }
  if (!loss.is_object()) refuse("is not supported");
  KerasOptions outer(loss, where + ": loss");
  const std::string& class_name = outer.text("class_name");
  outer.expect("module", "keras.losses", "the loss is not one of Keras's own");
  if (class_name == "function") {  // a loss function rather than a Loss object
    outer.ignore({"registered_name"});
    const json::Value& config = outer.need("config");
    outer.finish();
    check_loss(config, where, softmax_output);
    return;
  }
  outer.expect_null("registered_name", "the loss is a registered custom class");
  const json::Value& config = outer.need("config");
  outer.finish();
  if (class_name != "CategoricalCrossentropy" && class_name != "SparseCategoricalCrossentropy") {
    refuse("is not supported");
  }
  KerasOptions options(config, where + ": loss " + class_name);
  options.ignore({"name", "fn"});
  options.expect("reduction", "sum_over_batch_size", "seqlm averages the loss over the batch");
  options.expect("from_logits", !softmax_output, "it does not match the model's last layer");
  options.expect("label_smoothing", 0.0, "seqlm does not smooth labels");
  options.expect("axis", -1, "seqlm's classes are the last axis");
  options.expect_null("ignore_class", "seqlm scores every target");
  options.expect_null("dtype", "seqlm computes the loss in the model's precision");
  options.finish();
}

inline CompileSpec read_compile_config(const json::Value& compile, const std::string& where,
                                       bool softmax_output) {
  CompileSpec spec;
  KerasOptions options(compile, where + ": compile_config");
  const json::Value* optimizer = options.find("optimizer");
  const json::Value* loss = options.find("loss");
  options.expect_null("loss_weights", "seqlm has one loss");
  // Metrics are reported, not trained on; the rest chooses how Keras runs the same step.
  options.ignore({"metrics", "weighted_metrics", "run_eagerly", "steps_per_execution", "jit_compile",
                  "auto_scale_loss"});
  options.finish();
  if (optimizer == nullptr || optimizer->is_null()) return spec;
  spec.loss = loss != nullptr ? *loss : json::Value();
  check_loss(spec.loss, where + ": compile_config", softmax_output);
  read_optimizer_config(*optimizer, where + ": compile_config", spec);
  return spec;
}

// Where Keras 3 keeps slot `s` (in seqlm's slot order) of parameter k among its optimizer
// variables, after `header` scalars (iterations, learning_rate, Nadam's u_product). RMSprop and
// SGD add one block of P variables per slot kind; Adam and Nadam add (momentum, velocity) per
// parameter, then Adam's velocity_hat block.
inline std::size_t keras_slot_index(const std::string& optimizer, std::size_t header, std::size_t parameters,
                                    std::size_t slot, std::size_t k) {
  if (optimizer == "Adam" || optimizer == "Nadam") {
    if (slot < 2) return header + 2 * k + slot;
    return header + 2 * parameters + k;  // Adam's velocity_hat
  }
  return header + slot * parameters + k;
}

// The slots of one weight, in seqlm's order (the optimizers' slot_names()).
inline std::vector<std::string> slot_names(const CompileSpec& spec) {
  const auto& h = spec.hyperparameters;
  auto on = [&h](const char* key) { return h.count(key) > 0 && h.at(key) != 0; };
  if (spec.optimizer == "RMSprop") {
    std::vector<std::string> names{"velocity"};
    if (h.count("momentum") > 0 && h.at("momentum") > 0) names.push_back("momentum");
    if (on("centered")) names.push_back("average_gradient");
    return names;
  }
  if (spec.optimizer == "Adam") {
    if (on("amsgrad")) return {"momentum", "velocity", "velocity_hat"};
    return {"momentum", "velocity"};
  }
  if (spec.optimizer == "Nadam") return {"momentum", "velocity"};
  if (on("momentum")) return {"momentum"};
  return {};
}

// The optimizer's state from Keras 3's optimizer/vars: iterations, learning rate, Nadam's
// u_product, and the slots, rearranged into seqlm's parameter-major order and layout.
template <class Scalar>
OptimizerState read_optimizer_state(const hdf5::File& file, const Sequential<Scalar>& model,
                                    const CompileSpec& spec) {
  std::unique_ptr<Optimizer<Scalar>> optimizer;
  try {
    optimizer = make_optimizer<Scalar>(spec.optimizer, spec.hyperparameters);
  } catch (const value_error& e) {
    throw file_error(file.name() + ": optimizer " + spec.optimizer + ": " + e.what());
  }
  OptimizerState state = optimizer->export_state();  // name, hyperparameters, scalars of a new optimizer
  const std::string group = "optimizer/vars";
  if (file.kind(group) != hdf5::File::Kind::group) {
    throw file_error(file.name() + ": \"" + group + "\" is missing (config.json compiles the model with " +
                     spec.optimizer + ", so Keras saved its variables there)");
  }
  const std::vector<std::string> names = file.members(group);
  // Every weight with the layer it belongs to, in model order (Keras's trainable_variables).
  std::vector<std::pair<const Layer<Scalar>*, ConstParameter<Scalar>>> weights;
  for (Index i = 0; i < model.size(); ++i) {
    for (ConstParameter<Scalar> p : model.layer(i).parameters()) {
      p.name = model.layer_name(i) + "/" + p.name;
      weights.emplace_back(&model.layer(i), std::move(p));
    }
  }
  const std::size_t P = weights.size();
  const std::vector<std::string> slot_kinds = slot_names(spec);
  const std::size_t scalars = spec.optimizer == "Nadam" ? 3 : 2;
  const std::size_t built = scalars + slot_kinds.size() * P;
  const bool unbuilt = names.size() == 2;  // compiled, never trained: iterations and learning_rate only
  const std::string what = "optimizer " + spec.optimizer;
  if (!unbuilt) {
    check_var_names(file, group, built, what + " for " + std::to_string(P) + " weights");
  } else {
    check_var_names(file, group, 2, what + " before its first step");
  }

  const hdf5::Array iterations = file.read(group + "/0");
  if (iterations.dtype.rfind("int", 0) != 0 || !iterations.shape.empty() || iterations.values[0] < 0 ||
      iterations.values[0] > 9007199254740992.0) {
    throw file_error(file.name() + ": \"" + group + "/0\" (the iteration count) is " + iterations.dtype +
                     " " + hdf5::shape_text(iterations.shape) + ", expected a non-negative integer scalar");
  }
  state.iterations = static_cast<std::int64_t>(iterations.values[0]);
  const hdf5::Array rate = read_float_array(file, group + "/1", {}, "the learning rate");
  if (!(rate.values[0] >= 0) || !std::isfinite(rate.values[0])) {
    throw file_error(file.name() + ": \"" + group + "/1\" (the learning rate) is " +
                     std::to_string(rate.values[0]));
  }
  // The variable holds the rate in float32; when it is the config's rate rounded to float32, the
  // config keeps the digits float32 lost (a rate set in double by seqlm), so take the config's.
  const double configured = spec.hyperparameters.at("learning_rate");
  const bool rounded = rate.dtype == "float32" && double(float(configured)) == rate.values[0];
  state.hyperparameters["learning_rate"] = rounded ? configured : rate.values[0];
  if (unbuilt) {
    if (state.iterations != 0 && !slot_kinds.empty()) {
      throw file_error(file.name() + ": \"" + group + "\" holds no slots but " +
                       std::to_string(state.iterations) + " iterations");
    }
    return state;
  }
  if (spec.optimizer == "Nadam") {
    const hdf5::Array product = read_float_array(file, group + "/2", {}, "Nadam's u_product");
    state.scalars["u_product"] = product.values[0];
  }
  state.slots.clear();
  for (std::size_t k = 0; k < P; ++k) {
    const auto& [owner, p] = weights[k];
    for (std::size_t s = 0; s < slot_kinds.size(); ++s) {
      const std::size_t index = keras_slot_index(spec.optimizer, scalars, P, s, k);
      const std::string path = group + "/" + std::to_string(index);
      const std::string slot = spec.optimizer + " " + slot_kinds[s] + " of " + p.name;
      const hdf5::Array array = read_float_array(file, path, keras_shape(*owner, *p.value), slot);
      Matrix<double> value(p.value->rows(), p.value->cols());
      assign_array(value, array, file.name() + ": \"" + path + "\" (" + slot + ")");
      state.slots.emplace_back(std::to_string(k) + "/" + p.name + "/" + slot_kinds[s], std::move(value));
    }
  }
  try {
    restore_optimizer<Scalar>(state);  // everything consistent
  } catch (const error& e) {
    throw file_error(file.name() + ": " + what + ": " + e.what());
  }
  return state;
}

// The first bytes of a file: a ZIP archive ("PK\3\4"), an HDF5 file, or neither.
inline std::string sniff(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw file_error("\"" + path + "\": cannot be opened for reading");
  char head[8] = {};
  in.read(head, 8);
  const std::string bytes(head, static_cast<std::size_t>(in.gcount()));
  if (bytes.size() >= 4 && bytes.compare(0, 4, "PK\x03\x04") == 0) return "zip";
  if (bytes.size() >= 4 && bytes.compare(0, 4, "PK\x05\x06") == 0) return "zip";  // an empty archive
  if (bytes.size() == 8 && bytes == std::string("\x89HDF\r\n\x1a\n", 8)) return "hdf5";
  return "";
}

inline json::Value parse_entry(const std::string& text, const std::string& where) {
  try {
    return json::parse(text);
  } catch (const value_error& e) {
    throw file_error(where + ": " + e.what());
  }
}

template <class Scalar>
void check_vocabulary(const Sequential<Scalar>& model, const Vocabulary& vocabulary,
                      const std::string& where) {
  if (vocabulary.empty()) throw value_error(where + ": the vocabulary is empty");
  const Index size = vocabulary.size();
  const InputSpec& input = model.input_spec();
  if (input.size != size) {
    throw file_error(seqlm::detail::make_message(
        where, ": the model reads ", input.size, input.tokens ? " token ids" : " features",
        " (its input size), the vocabulary has ", vocabulary.description()));
  }
  if (model.output_size() != size) {
    throw file_error(seqlm::detail::make_message(
        where, ": the model's last layer \"", model.layer_name(model.size() - 1), "\" has ",
        model.output_size(), " outputs, the vocabulary has ", vocabulary.description()));
  }
}

}  // namespace detail

/// Imports a Keras model: a Keras 3 `.keras` archive or a legacy Keras 2 full-model `.h5` file
/// (chosen by the file's first bytes), with the vocabulary its training script used. See the
/// top of this file; every problem is a file_error (value_error for an empty vocabulary).
template <class Scalar = float>
KerasModel<Scalar> load(const std::string& path, const Vocabulary& vocabulary,
                        const LoadOptions& options = {}) {
  const std::string kind = detail::sniff(path);
  if (kind.empty()) {
    throw file_error("\"" + path +
                     "\": not a Keras file (neither a .keras ZIP archive nor an HDF5 .h5 file)");
  }
  if (kind == "zip") {
    zip::Reader archive(path);
    for (const std::string& name : archive.names()) {
      if (name != "metadata.json" && name != "config.json" && name != "model.weights.h5") {
        archive.fail(
            "holds the entry \"" + name + "\"; seqlm reads metadata.json, config.json and model.weights.h5" +
            (name == "model.weights.npz" ? " (save the model with Keras's default h5 weights format)" : ""));
      }
    }
    for (const char* needed : {"metadata.json", "config.json", "model.weights.h5"}) {
      if (!archive.has(needed))
        archive.fail(std::string("has no entry \"") + needed + "\" (a Keras 3 .keras file has it)");
    }
    const std::string where = path;
    const json::Value metadata =
        detail::parse_entry(archive.read("metadata.json", options.max_json_bytes), where + ": metadata.json");
    json::ObjectReader meta(metadata, where + ": metadata.json");
    const std::string keras_version = meta.optional_text("keras_version").value_or("");
    const std::string date_saved = meta.optional_text("date_saved").value_or("");
    const json::Value config =
        detail::parse_entry(archive.read("config.json", options.max_json_bytes), where + ": config.json");
    Architecture<Scalar> architecture = read_architecture<Scalar>(
        config, where + ": config.json", options.one_hot_as_token_ids, options.limits);
    detail::check_vocabulary(architecture.model, vocabulary, where);
    detail::CompileSpec compile;
    if (options.optimizer && config.is_object() && config.find("compile_config") != nullptr &&
        !config.at("compile_config").is_null()) {
      compile = detail::read_compile_config(config.at("compile_config"), where + ": config.json",
                                            architecture.softmax_output);
    }
    const hdf5::File weights = hdf5::File::open_image(
        archive.read("model.weights.h5", options.max_weights_bytes), where + ": model.weights.h5");
    detail::read_keras3_weights(weights, architecture.model, architecture.layers);
    architecture.model.set_weights_initialized();
    KerasModel<Scalar> result{std::move(architecture.model),
                              vocabulary,
                              std::nullopt,
                              std::move(architecture.layers),
                              "keras",
                              keras_version,
                              date_saved,
                              architecture.sequence_length,
                              architecture.one_hot_input,
                              architecture.softmax_output,
                              compile.loss,
                              config,
                              {}};
    if (!compile.optimizer.empty()) {
      result.optimizer = detail::read_optimizer_state(weights, result.model, compile);
    } else if (!options.optimizer) {
      result.notes.push_back("the optimizer was not read (LoadOptions::optimizer is false)");
    }
    return result;
  }

  // A legacy .h5 file: model_config + model_weights.
  const hdf5::File file = hdf5::File::open(path);
  const std::optional<std::string> model_config = file.string_attribute("/", "model_config");
  if (!model_config) {
    throw file_error("\"" + path +
                     "\": has no attribute \"model_config\": a weights-only file; build the model and use "
                     "keras::load_weights()");
  }
  const json::Value config = detail::parse_entry(*model_config, path + ": model_config");
  Architecture<Scalar> architecture = read_architecture<Scalar>(config, path + ": model_config",
                                                                options.one_hot_as_token_ids, options.limits);
  detail::check_vocabulary(architecture.model, vocabulary, path);
  if (file.kind("model_weights") != hdf5::File::Kind::group) {
    throw file_error("\"" + path + "\": \"model_weights\" is missing (a Keras 2 full-model file has it)");
  }
  detail::read_legacy_weights(file, "model_weights", architecture.model);
  architecture.model.set_weights_initialized();
  KerasModel<Scalar> result{std::move(architecture.model),
                            vocabulary,
                            std::nullopt,
                            std::move(architecture.layers),
                            "h5",
                            file.string_attribute("/", "keras_version").value_or(""),
                            "",
                            architecture.sequence_length,
                            architecture.one_hot_input,
                            architecture.softmax_output,
                            json::Value(),
                            config,
                            {}};
  if (const auto training = file.string_attribute("/", "training_config")) {
    const json::Value parsed = detail::parse_entry(*training, path + ": training_config");
    if (parsed.is_object() && parsed.find("loss") != nullptr) result.loss = parsed.at("loss");
    result.notes.push_back(
        "legacy .h5: the optimizer's configuration and state are not imported (only the model)");
  }
  return result;
}

/// Loads Keras weights into `model`, whose layers must be those of the Keras model in order
/// (Keras 3 names the weight groups by layer class, Keras 2 by layer name: keep seqlm's
/// layer names equal to Keras's for legacy files). Reads a Keras 3 .weights.h5, a legacy Keras 2
/// weights or full-model .h5, or the weights of a .keras archive. file_error for any mismatch;
/// on success the model is marked initialised.
template <class Scalar>
void load_weights(Sequential<Scalar>& model, const std::string& path, const LoadOptions& options = {}) {
  std::vector<std::string> classes;
  for (Index i = 0; i < model.size(); ++i) classes.push_back(model.layer(i).type());
  const std::vector<std::string> paths = detail::weights_paths(classes);
  std::vector<KerasLayer> layers;
  for (Index i = 0; i < model.size(); ++i) {
    const std::string& type = classes[static_cast<std::size_t>(i)];
    layers.push_back(KerasLayer{type, model.layer_name(i), paths[static_cast<std::size_t>(i)],
                                type == "LSTM" || type == "GRU"});
  }
  Sequential<Scalar> staged = model;  // the model changes only when everything was read
  const std::string kind = detail::sniff(path);
  if (kind == "zip") {
    zip::Reader archive(path);
    const hdf5::File file = hdf5::File::open_image(
        archive.read("model.weights.h5", options.max_weights_bytes), path + ": model.weights.h5");
    detail::read_keras3_weights(file, staged, layers);
  } else if (kind == "hdf5") {
    const hdf5::File file = hdf5::File::open(path);
    if (file.kind("model_weights") == hdf5::File::Kind::group) {
      detail::read_legacy_weights(file, "model_weights", staged);
    } else if (detail::legacy_strings(file, "/", "layer_names")) {
      detail::read_legacy_weights(file, "", staged);
    } else {
      detail::read_keras3_weights(file, staged, layers);
    }
  } else {
    throw file_error("\"" + path + "\": not a Keras weights file (neither HDF5 nor a .keras ZIP archive)");
  }
  ParameterList<Scalar> target = model.parameters();
  ParameterList<Scalar> source = staged.parameters();
  for (std::size_t k = 0; k < target.size(); ++k) *target[k].value = *source[k].value;
  model.set_weights_initialized();
}

// ---- export ------------------------------------------------------------------------------------

struct SaveOptions {
  std::optional<Index> sequence_length;  ///< the Input's steps (the training window); nullopt: None
  bool softmax_output = true;            ///< the last Dense gets activation "softmax" (Keras's usual LM)
  /// The optimizer's state (Optimizer::export_state()): written as compile_config and
  /// optimizer/vars so that Keras can continue training. nullopt: an uncompiled model.
  std::optional<OptimizerState> optimizer;
  std::string keras_version = "3.5.0";  ///< the Keras version whose layout the file follows
  std::string date_saved;               ///< metadata.json's date; "" = now, local time
};

namespace detail {

// Keras 3.5's config of a seqlm optimizer state (value_error for what Keras 3 cannot express).
inline json::Value keras_optimizer_config(const OptimizerState& state) {
  auto get = [&state](const char* key) {
    const auto found = state.hyperparameters.find(key);
    if (found == state.hyperparameters.end()) {
      throw value_error(std::string("keras::save: the optimizer state lacks hyperparameter ") + key);
    }
    return found->second;
  };
  auto optional = [&state](const char* key) {
    const auto found = state.hyperparameters.find(key);
    return found == state.hyperparameters.end() ? json::Value() : json::Value(found->second);
  };
  static const std::map<std::string, std::string> names = {
      {"RMSprop", "rmsprop"}, {"Adam", "adam"}, {"Nadam", "nadam"}, {"SGD", "SGD"}};
  const auto name = names.find(state.name);
  if (name == names.end()) throw value_error("keras::save: unknown optimizer \"" + state.name + "\"");
  json::Value config = json::Value::object()
                           .set("name", name->second)
                           .set("learning_rate", get("learning_rate"))
                           .set("weight_decay", nullptr)
                           .set("clipnorm", optional("clip_norm"))
                           .set("global_clipnorm", optional("global_clip_norm"))
                           .set("clipvalue", optional("clip_value"))
                           .set("use_ema", false)
                           .set("ema_momentum", 0.99)
                           .set("ema_overwrite_frequency", nullptr)
                           .set("loss_scale_factor", nullptr)
                           .set("gradient_accumulation_steps", nullptr);
  if (state.name == "RMSprop") {
    config.set("rho", get("rho"))
        .set("momentum", get("momentum"))
        .set("epsilon", get("epsilon"))
        .set("centered", get("centered") != 0);
  } else if (state.name == "Adam") {
    config.set("beta_1", get("beta_1"))
        .set("beta_2", get("beta_2"))
        .set("epsilon", get("epsilon"))
        .set("amsgrad", get("amsgrad") != 0);
  } else if (state.name == "Nadam") {
    if (get("legacy_schedule") != 0) {
      throw value_error("keras::save: Nadam with the legacy schedule has no Keras 3 counterpart");
    }
    config.set("beta_1", get("beta_1")).set("beta_2", get("beta_2")).set("epsilon", get("epsilon"));
  } else {
    config.set("momentum", get("momentum")).set("nesterov", get("nesterov") != 0);
  }
  return keras_object("keras.optimizers", state.name.c_str(), std::move(config));
}

inline std::string local_time(std::time_t when, const char* format) {
  std::tm parts{};
  localtime_r(&when, &parts);
  char text[64];
  std::strftime(text, sizeof text, format, &parts);
  return text;
}

}  // namespace detail

/// Writes `model` as a Keras 3 `.keras` archive, atomically: metadata.json, config.json (a
/// Sequential named like the seqlm model, compile_config when options.optimizer is given) and
/// model.weights.h5 with the groups, dtypes and shapes Keras 3 writes. A .keras file carries no
/// vocabulary: keep the tokenizer next to it. value_error for a model or optimizer Keras cannot
/// express, file_error when writing fails.
template <class Scalar>
void save(const Sequential<Scalar>& model, const std::string& path, const SaveOptions& options = {}) {
  static_assert(std::is_same_v<Scalar, float> || std::is_same_v<Scalar, double>, "float or double models");
  const char* dtype = sizeof(Scalar) == 4 ? "float32" : "float64";
  const std::time_t now = std::time(nullptr);
  ConfigOptions config_options;
  config_options.sequence_length = options.sequence_length;
  config_options.softmax_output = options.softmax_output;
  if (options.optimizer) {
    const bool embedding_first = model.size() > 0 && model.layer(0).type() == "Embedding";
    json::Value loss;
    if (options.softmax_output) {
      loss = embedding_first ? "sparse_categorical_crossentropy" : "categorical_crossentropy";
    } else {
      const char* class_name = embedding_first ? "SparseCategoricalCrossentropy" : "CategoricalCrossentropy";
      json::Value config =
          json::Value::object()
              .set("name", embedding_first ? "sparse_categorical_crossentropy" : "categorical_crossentropy")
              .set("reduction", "sum_over_batch_size")
              .set("from_logits", true);
      if (embedding_first) {
        config.set("ignore_class", nullptr);
      } else {
        config.set("label_smoothing", 0.0).set("axis", -1);
      }
      loss = detail::keras_object("keras.losses", class_name, std::move(config));
    }
    config_options.compile_config = json::Value::object()
                                        .set("optimizer", detail::keras_optimizer_config(*options.optimizer))
                                        .set("loss", std::move(loss))
                                        .set("loss_weights", nullptr)
                                        .set("metrics", nullptr)
                                        .set("weighted_metrics", nullptr)
                                        .set("run_eagerly", false)
                                        .set("steps_per_execution", 1)
                                        .set("jit_compile", false);
  }
  const json::Value config = keras_config(model, config_options);

  // model.weights.h5, in the order Keras visits: the model's own vars, the layers, the optimizer.
  std::vector<std::string> classes;
  for (Index i = 0; i < model.size(); ++i) classes.push_back(model.layer(i).type());
  const std::vector<std::string> paths = detail::weights_paths(classes);
  hdf5::File weights = hdf5::File::create_image(path + ": model.weights.h5");
  weights.create_group("vars");
  weights.create_group("layers");
  std::vector<std::vector<std::int64_t>> shapes;  // every parameter's Keras shape, in order
  for (Index i = 0; i < model.size(); ++i) {
    const std::string& group = paths[static_cast<std::size_t>(i)];
    const bool cell =
        classes[static_cast<std::size_t>(i)] == "LSTM" || classes[static_cast<std::size_t>(i)] == "GRU";
    weights.create_group(group);
    weights.create_group(group + "/vars");
    std::string vars = group + "/vars";
    if (cell) {
      weights.create_group(group + "/cell");
      weights.create_group(group + "/cell/vars");
      vars = group + "/cell/vars";
    }
    const ConstParameterList<Scalar> parameters = model.layer(i).parameters();
    for (std::size_t k = 0; k < parameters.size(); ++k) {
      shapes.push_back(detail::keras_shape(model.layer(i), *parameters[k].value));
      weights.write(vars + "/" + std::to_string(k), dtype, shapes.back(), parameters[k].value->data());
    }
  }
  if (options.optimizer) {
    const OptimizerState& state = *options.optimizer;
    restore_optimizer<Scalar>(state);  // a consistent state (file_error otherwise)
    const ConstParameterList<Scalar> parameters = model.parameters();
    const std::size_t P = parameters.size();
    std::vector<std::string> slot_kinds;
    if (!state.slots.empty()) {
      if (state.slots.size() % P != 0) {
        throw value_error(
            seqlm::detail::make_message("keras::save: the optimizer state has ", state.slots.size(),
                                        " slots, not a whole number per weight of the model's ", P));
      }
      for (std::size_t s = 0; s < state.slots.size() / P; ++s) {
        const std::string& key = state.slots[s].first;
        slot_kinds.push_back(key.substr(key.rfind('/') + 1));
      }
      for (std::size_t k = 0; k < P; ++k) {
        for (std::size_t s = 0; s < slot_kinds.size(); ++s) {
          const auto& [key, value] = state.slots[k * slot_kinds.size() + s];
          const std::string expected = std::to_string(k) + "/" + parameters[k].name + "/" + slot_kinds[s];
          if (key != expected || value.rows() != parameters[k].value->rows() ||
              value.cols() != parameters[k].value->cols()) {
            throw value_error("keras::save: optimizer slot \"" + key +
                              "\" does not fit the model (expected \"" + expected +
                              "\" shaped like the weight)");
          }
        }
      }
    }
    weights.create_group("optimizer");
    weights.create_group("optimizer/vars");
    const std::int64_t iterations = state.iterations;
    weights.write("optimizer/vars/0", "int64", {}, &iterations);
    const float rate = static_cast<float>(state.hyperparameters.at("learning_rate"));
    weights.write("optimizer/vars/1", "float32", {}, &rate);
    const std::size_t header = state.name == "Nadam" ? 3 : 2;
    if (!slot_kinds.empty()) {
      if (state.name == "Nadam") {
        // Keras keeps u_product in the model's dtype; seqlm keeps it in double, and writes it
        // so (Keras casts it on loading) to make the round trip exact.
        const double product = state.scalars.at("u_product");
        weights.write("optimizer/vars/2", "float64", {}, &product);
      }
      for (std::size_t k = 0; k < P; ++k) {
        for (std::size_t s = 0; s < slot_kinds.size(); ++s) {
          const Matrix<Scalar> value = state.slots[k * slot_kinds.size() + s].second.template cast<Scalar>();
          const std::size_t index = detail::keras_slot_index(state.name, header, P, s, k);
          weights.write("optimizer/vars/" + std::to_string(index), dtype, shapes[k], value.data());
        }
      }
    }
  }

  const std::string date =
      options.date_saved.empty() ? detail::local_time(now, "%Y-%m-%d@%H:%M:%S") : options.date_saved;
  const json::Value metadata =
      json::Value::object().set("keras_version", options.keras_version).set("date_saved", date);
  std::vector<zip::Entry> entries;
  entries.push_back({"metadata.json", python_json(metadata), zip::earliest_time()});
  entries.push_back({"config.json", python_json(config), zip::earliest_time()});
  entries.push_back({"model.weights.h5", weights.image(), now});
  const std::string archive = zip::write_stored(entries, path);
  write_file_atomically(path, archive);
}

}  // namespace seqlm::keras
