/// \file
/// Keras model configurations (config.json of a `.keras` file, the model_config attribute of a
/// legacy `.h5` file) read into a seqlm Sequential, and a seqlm Sequential written as Keras 3's
/// config.json. docs/keras.md has the full table of how each Keras option maps.
///
/// Reading is strict: every option a layer states is either mapped (units, return_sequences,
/// reset_after, ...), checked to have the one value seqlm computes (activation "tanh",
/// go_backwards false, recurrent_dropout 0, no regularizers, ...), or known not to change what
/// the layer computes (initializers, seed, unroll, implementation). Anything else, or a value
/// seqlm cannot compute exactly, is a file_error naming the layer, the option and its value:
///
/// ```text
///   model.keras: config.json: layer 1 "gru" (GRU): option "recurrent_dropout" is 0.2; seqlm's
///   GRU has no recurrent dropout (expected 0)
/// ```
///
/// The input: Input(T, V) feeding an LSTM or GRU reads one-hot vectors, so it becomes a model of
/// token ids over V (InputSpec::token_ids(V)): a recurrent layer reading token id v uses column v
/// of its kernel, exactly the product with the one-hot vector. Input(T) feeding an Embedding
/// reads token ids too. A final Dense with softmax becomes seqlm's Dense producing logits: seqlm
/// applies the softmax inside the loss and in sampling, so the probabilities are the same.
///
/// Part of the optional seqlm::keras component (needs no library itself; keras.hpp uses it).
#pragma once

#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "../error.hpp"
#include "../files/layer_table.hpp"
#include "../io/json.hpp"
#include "../layers/conv1d.hpp"
#include "../model/layer.hpp"
#include "../model/sequential.hpp"
#include "../tensor.hpp"

namespace seqlm::keras {

/// How one Keras layer became one seqlm layer.
struct KerasLayer {
  std::string class_name;    ///< the Keras class: "GRU"
  std::string name;          ///< the Keras layer name, also the seqlm layer name: "gru_1"
  std::string weights_path;  ///< its group in a Keras 3 weights file: "layers/gru_1"
  bool cell = false;         ///< a recurrent layer: its variables are under `<weights_path>/cell/vars`
};

/// A Keras model configuration as seqlm reads it.
template <class Scalar>
struct Architecture {
  Sequential<Scalar> model;                ///< uninitialised: the weights come from the weights file
  std::vector<KerasLayer> layers;          ///< one per seqlm layer, in order
  std::optional<Index> sequence_length;    ///< the Input's steps T; nullopt when Keras says None
  bool one_hot_input = false;              ///< Input(T, V) of one-hot vectors, read as token ids
  bool softmax_output = false;             ///< the last Dense has activation "softmax"
  std::string model_class = "Sequential";  ///< or "Functional" (a chain of layers)
  std::string dtype = "float32";           ///< the model's dtype policy
};

namespace detail {

// Keras's group name for a layer class in a weights file (naming.to_snake_case).
inline std::string snake_case(const std::string& class_name) {
  static const std::map<std::string, std::string> names = {
      {"InputLayer", "input_layer"}, {"Embedding", "embedding"}, {"LSTM", "lstm"},   {"GRU", "gru"},
      {"Conv1D", "conv1d"},          {"Dropout", "dropout"},     {"Dense", "dense"},
  };
  const auto found = names.find(class_name);
  return found != names.end() ? found->second : class_name;
}

// The Keras 3 weights paths of a list of layer classes: "layers/<snake>", then "<snake>_1", ...
inline std::vector<std::string> weights_paths(const std::vector<std::string>& classes) {
  std::map<std::string, int> used;
  std::vector<std::string> paths;
  for (const std::string& class_name : classes) {
    const std::string base = snake_case(class_name);
    const auto found = used.find(base);
    if (found == used.end()) {
      used[base] = 0;
      paths.push_back("layers/" + base);
    } else {
      paths.push_back("layers/" + base + "_" + std::to_string(++found->second));
    }
  }
  return paths;
}

inline bool same_json(const json::Value& a, const json::Value& b) {
  if (a.is_number() && b.is_number()) return a.as_double() == b.as_double();
  return a == b;
}

// The options of one Keras layer (or optimizer, or loss), read one by one; finish() refuses
// every option nobody asked about. Messages: "<where>: option \"<name>\" <problem>".
class KerasOptions {
 public:
  KerasOptions(const json::Value& config, std::string where) : config_(config), where_(std::move(where)) {
    if (!config.is_object())
      fail("has a config that is " + std::string(config.type_name()) + ", expected an object");
  }

  const std::string& where() const { return where_; }

  const json::Value* find(const std::string& name) {
    known_.insert(name);
    return config_.find(name);
  }
  const json::Value& need(const std::string& name) {
    const json::Value* value = find(name);
    if (value == nullptr) fail_option(name, "is missing");
    return *value;
  }
  // A dimension in [1, 2^24].
  Index size(const std::string& name) {
    const json::Value& value = need(name);
    if (!value.is_integer() || value.as_int64() < 1 || value.as_int64() > (std::int64_t{1} << 24)) {
      fail_option(name, "is " + value.dump() + ", expected an integer in [1, 16777216]");
    }
    return static_cast<Index>(value.as_int64());
  }
  bool flag(const std::string& name) {
    const json::Value& value = need(name);
    if (!value.is_bool()) fail_option(name, "is " + value.dump() + ", expected true or false");
    return value.as_bool();
  }
  std::optional<bool> optional_flag(const std::string& name) {
    if (config_.find(name) == nullptr) {
      known_.insert(name);
      return std::nullopt;
    }
    return flag(name);
  }
  double number(const std::string& name) {
    const json::Value& value = need(name);
    if (!value.is_number() || !std::isfinite(value.as_double())) {
      fail_option(name, "is " + value.dump() + ", expected a number");
    }
    return value.as_double();
  }
  const std::string& text(const std::string& name) {
    const json::Value& value = need(name);
    if (!value.is_string()) fail_option(name, "is " + value.dump() + ", expected a string");
    return value.as_string();
  }

  // The option, when present, must equal `expected`; `why` says what seqlm computes instead.
  void expect(const std::string& name, const json::Value& expected, const std::string& why) {
    const json::Value* value = find(name);
    if (value != nullptr && !same_json(*value, expected)) {
      fail_option(name, "is " + value->dump() + "; " + why + " (expected " + expected.dump() + ")");
    }
  }
  // The option, when present, must be null (or, for `zero_ok`, 0).
  void expect_null(const std::string& name, const std::string& why, bool zero_ok = false) {
    const json::Value* value = find(name);
    if (value == nullptr || value->is_null()) return;
    if (zero_ok && value->is_number() && value->as_double() == 0) return;
    fail_option(name, "is " + value->dump() + "; " + why + " (expected null)");
  }
  // Options that do not change what the layer computes (initializers, seeds, speed settings).
  void ignore(std::initializer_list<const char*> names) {
    for (const char* name : names) known_.insert(name);
  }
  // Refuses every option not asked about.
  void finish() const {
    for (const json::Value::Member& member : config_.as_object()) {
      if (known_.count(member.first) > 0) continue;
      fail_option(member.first, "is " + member.second.dump() +
                                    ", an option seqlm's Keras importer does not know (refused rather than "
                                    "guessing what it does)");
    }
  }

  [[noreturn]] void fail_option(const std::string& name, const std::string& problem) const {
    throw file_error(where_ + ": option \"" + name + "\" " + problem);
  }
  [[noreturn]] void fail(const std::string& problem) const { throw file_error(where_ + ": " + problem); }

 private:
  const json::Value& config_;
  std::string where_;
  std::set<std::string> known_;
};

// The dtype policy of a layer or model: Keras 3's {"class_name": "DTypePolicy", "config":
// {"name": "float32"}}, Keras 2's "float32" or {"class_name": "Policy", ...}. Only float32 and
// float64 are computed as Keras does; mixed precision is refused.
inline std::string read_dtype(KerasOptions& options) {
  const json::Value* value = options.find("dtype");
  if (value == nullptr || value->is_null()) return "float32";
  std::string name;
  if (value->is_string()) {
    name = value->as_string();
  } else if (value->is_object() && value->find("config") != nullptr && value->at("config").is_object() &&
             value->at("config").find("name") != nullptr && value->at("config").at("name").is_string()) {
    name = value->at("config").at("name").as_string();
  } else {
    options.fail_option("dtype", "is " + value->dump() + ", expected a dtype policy");
  }
  if (name != "float32" && name != "float64") {
    options.fail_option("dtype",
                        "is \"" + name + "\"; seqlm computes in float32 or float64, not in mixed precision");
  }
  return name;
}

// The options every layer may state: name, trainable, dtype, activity_regularizer.
inline void read_common(KerasOptions& options) {
  options.ignore({"name"});
  options.expect("trainable", true, "seqlm trains every layer (no frozen layers)");
  read_dtype(options);
  options.expect_null("activity_regularizer", "seqlm adds no activity regularization to the loss");
}

// A shape [null, 60, 60] (a Keras batch shape): each entry a size or null.
inline std::vector<std::optional<Index>> read_shape(const json::Value& value, const std::string& where) {
  if (!value.is_array()) throw file_error(where + " is " + value.dump() + ", expected a shape list");
  std::vector<std::optional<Index>> shape;
  for (std::size_t k = 0; k < value.size(); ++k) {
    const json::Value& d = value.at(k);
    if (d.is_null()) {
      shape.push_back(std::nullopt);
    } else if (d.is_integer() && d.as_int64() >= 1 && d.as_int64() <= (std::int64_t{1} << 24)) {
      shape.push_back(static_cast<Index>(d.as_int64()));
    } else {
      throw file_error(where + " is " + value.dump() + ", expected sizes in [1, 16777216] or null");
    }
  }
  return shape;
}

// An integer option that Keras writes as a one-element list ([3]) or as a number (Keras 2).
inline Index read_single(KerasOptions& options, const std::string& name) {
  const json::Value& value = options.need(name);
  const json::Value& single = value.is_array() && value.size() == 1 ? value.at(0) : value;
  if (!single.is_integer() || single.as_int64() < 1 || single.as_int64() > (std::int64_t{1} << 24)) {
    options.fail_option(name, "is " + value.dump() + ", expected one integer in [1, 16777216]");
  }
  return static_cast<Index>(single.as_int64());
}

// One layer entry of the config, with what is needed to build it.
struct LayerEntry {
  std::string class_name;
  std::string name;
  const json::Value* config = nullptr;
  std::optional<std::vector<std::optional<Index>>> build_input_shape;  // build_config/input_shape
  std::size_t index = 0;                                               // position in the config
};

inline const char* const recurrent_rules =
    "seqlm's recurrent layers compute tanh / sigmoid gates over the whole sequence, forwards";

// The options shared by LSTM and GRU; returns return_sequences.
inline bool read_recurrent(KerasOptions& options, const std::string& class_name) {
  read_common(options);
  options.expect("activation", "tanh", "seqlm's " + class_name + " uses tanh");
  options.expect("recurrent_activation", "sigmoid", "seqlm's " + class_name + " uses the exact sigmoid");
  options.expect("use_bias", true, "seqlm's " + class_name + " always has a bias");
  options.expect("return_state", false, "seqlm's " + class_name + " returns only its output");
  options.expect("go_backwards", false, "seqlm's " + class_name + " reads the sequence forwards");
  options.expect("stateful", false,
                 "a seqlm model carries state only when the caller passes one (Sequential::State)");
  options.expect("time_major", false, "Keras's batch-major layout is the one seqlm imports");
  options.expect("dropout", 0.0, "seqlm's " + class_name + " has no input dropout (use a Dropout layer)");
  options.expect("recurrent_dropout", 0.0, "seqlm's " + class_name + " has no recurrent dropout");
  for (const char* name : {"kernel_regularizer", "recurrent_regularizer", "bias_regularizer"}) {
    options.expect_null(name, "seqlm adds no weight regularization to the loss");
  }
  for (const char* name : {"kernel_constraint", "recurrent_constraint", "bias_constraint"}) {
    options.expect_null(name, "seqlm applies no weight constraints");
  }
  // Initialisers only set the starting weights; unroll, implementation and use_cudnn only choose
  // how the same function is computed; zero_output_for_mask matters only with a mask, and
  // masks are refused (Embedding mask_zero); seed only drives dropout, which must be 0.
  options.ignore({"kernel_initializer", "recurrent_initializer", "bias_initializer", "unroll",
                  "implementation", "use_cudnn", "zero_output_for_mask", "seed", "batch_input_shape",
                  "input_shape", "batch_size"});
  return options.flag("return_sequences");
}

// The parameters a configuration may allocate (ArchitectureLimits, as for seqlm's own model
// files): each layer's declared count is checked, and added to the model's, before the layer
// is built, so a config.json of a few bytes cannot make load() allocate gigabytes.
class ParameterBudget {
 public:
  explicit ParameterBudget(const ArchitectureLimits& limits) : limits_(limits) {}

  // Admits a layer of `count` parameters or fails naming the layer.
  void admit(Index count, KerasOptions& options) {
    if (count > limits_.max_layer_parameters) {
      options.fail(seqlm::detail::make_message("describes ", count, " parameters, more than the limit of ",
                                               limits_.max_layer_parameters, " for one layer"));
    }
    total_ += count;
    if (total_ > limits_.max_parameters) {
      options.fail(seqlm::detail::make_message(
          "brings the model to ", total_, " parameters, more than the limit of ", limits_.max_parameters));
    }
  }

 private:
  ArchitectureLimits limits_;
  Index total_ = 0;
};

// The layer in a weights-free form: its seqlm layer, built for `input_size` features once
// `budget` admits its parameter count.
template <class Scalar>
std::unique_ptr<Layer<Scalar>> read_layer(KerasOptions& options, const std::string& class_name,
                                          Index input_size, bool last, bool& softmax,
                                          ParameterBudget& budget) {
  if (class_name == "LSTM") {
    LSTMOptions lstm;
    lstm.return_sequences = read_recurrent(options, class_name);
    const Index units = options.size("units");
    lstm.unit_forget_bias = options.optional_flag("unit_forget_bias").value_or(true);  // initialisation only
    options.finish();
    budget.admit(LSTM<Scalar>::parameter_count({input_size, units, lstm}), options);
    return layers::lstm<Scalar>(input_size, units, lstm);
  }
  if (class_name == "GRU") {
    GRUOptions gru;
    gru.return_sequences = read_recurrent(options, class_name);
    const Index units = options.size("units");
    gru.reset_after = options.optional_flag("reset_after").value_or(true);  // Keras's default since 2.3
    options.finish();
    budget.admit(GRU<Scalar>::parameter_count({input_size, units, gru}), options);
    return layers::gru<Scalar>(input_size, units, gru);
  }
  if (class_name == "Dense") {
    read_common(options);
    const Index units = options.size("units");
    const json::Value* activation = options.find("activation");
    const std::string name = activation == nullptr || activation->is_null()
                                 ? "linear"
                                 : (activation->is_string() ? activation->as_string() : activation->dump());
    if (name == "softmax" && last) {
      softmax = true;
    } else if (name != "linear") {
      options.fail_option("activation", "is " + (activation != nullptr ? activation->dump() : name) +
                                            "; seqlm's Dense is linear (a softmax only as the last layer, "
                                            "where seqlm applies it in the loss and in sampling)");
    }
    options.expect("use_bias", true, "seqlm's Dense always has a bias");
    options.expect_null("kernel_regularizer", "seqlm adds no weight regularization to the loss");
    options.expect_null("bias_regularizer", "seqlm adds no weight regularization to the loss");
    options.expect_null("kernel_constraint", "seqlm applies no weight constraints");
    options.expect_null("bias_constraint", "seqlm applies no weight constraints");
    options.expect_null("lora_rank", "seqlm's Dense has no LoRA adapter");
    options.ignore(
        {"kernel_initializer", "bias_initializer", "batch_input_shape", "input_shape", "batch_size"});
    options.finish();
    budget.admit(Dense<Scalar>::parameter_count({input_size, units}), options);
    return layers::dense<Scalar>(input_size, units);
  }
  if (class_name == "Conv1D") {
    read_common(options);
    typename Conv1D<Scalar>::Config config;
    config.input_size = input_size;
    config.filters = options.size("filters");
    config.kernel_size = read_single(options, "kernel_size");
    config.options.dilation = read_single(options, "dilation_rate");
    const std::string strides = options.need("strides").dump();
    if (strides != "[1]" && strides != "1") {
      options.fail_option("strides",
                          "is " + strides + "; seqlm's Conv1D moves one step at a time (expected [1])");
    }
    options.expect("padding", "causal",
                   "seqlm's Conv1D is causal (left padding, the output keeps every step)");
    options.expect("data_format", "channels_last",
                   "Keras's (batch, steps, channels) layout is the one seqlm imports");
    options.expect("groups", 1, "seqlm's Conv1D connects every input channel to every filter");
    const json::Value* activation = options.find("activation");
    const std::string name = activation == nullptr || activation->is_null()
                                 ? "linear"
                                 : (activation->is_string() ? activation->as_string() : activation->dump());
    if (name == "relu") {
      config.options.activation = Activation::relu;
    } else if (name != "linear") {
      options.fail_option("activation", "is " + activation->dump() + "; seqlm's Conv1D is linear or relu");
    }
    options.expect("use_bias", true, "seqlm's Conv1D always has a bias");
    options.expect_null("kernel_regularizer", "seqlm adds no weight regularization to the loss");
    options.expect_null("bias_regularizer", "seqlm adds no weight regularization to the loss");
    options.expect_null("kernel_constraint", "seqlm applies no weight constraints");
    options.expect_null("bias_constraint", "seqlm applies no weight constraints");
    options.expect_null("lora_rank", "seqlm's Conv1D has no LoRA adapter");
    options.ignore(
        {"kernel_initializer", "bias_initializer", "batch_input_shape", "input_shape", "batch_size"});
    options.finish();
    budget.admit(Conv1D<Scalar>::parameter_count(config), options);
    return make_layer<Conv1D<Scalar>>(config);
  }
  if (class_name == "Dropout") {
    read_common(options);
    const double rate = options.number("rate");
    if (!(rate >= 0.0 && rate < 1.0))
      options.fail_option("rate", "is " + std::to_string(rate) + ", expected [0, 1)");
    options.expect_null("noise_shape", "seqlm's Dropout draws an independent mask value per element");
    options.ignore(
        {"seed", "batch_input_shape", "input_shape", "batch_size"});  // seqlm draws from its own Rng
    options.finish();
    auto layer = layers::dropout<Scalar>(rate);
    layer->set_input_size(input_size);
    return layer;
  }
  if (class_name == "Embedding") {
    read_common(options);
    const Index vocabulary = options.size("input_dim");
    const Index dimension = options.size("output_dim");
    options.expect("mask_zero", false, "seqlm does not mask padding ids");
    options.expect("sparse", false, "seqlm's Embedding gradient is dense");
    options.expect_null("embeddings_regularizer", "seqlm adds no weight regularization to the loss");
    options.expect_null("embeddings_constraint", "seqlm applies no weight constraints");
    options.expect_null("lora_rank", "seqlm's Embedding has no LoRA adapter");
    options.ignore(
        {"embeddings_initializer", "input_length", "batch_input_shape", "input_shape", "batch_size"});
    options.finish();
    budget.admit(Embedding<Scalar>::parameter_count({vocabulary, dimension}), options);
    return layers::embedding<Scalar>(vocabulary, dimension);
  }
  options.fail(
      "is a layer class seqlm does not have (it imports InputLayer, Embedding, LSTM, GRU, Conv1D, "
      "Dropout and Dense)");
}

// The predecessor of a functional layer: the name of the one layer whose output it reads.
inline std::string read_inbound(const json::Value& entry, const std::string& where) {
  const json::Value* nodes = entry.find("inbound_nodes");
  auto branches = [&where](const std::string& what) {
    throw file_error(where + ": " + what +
                     "; seqlm imports functional models that are a single chain of layers (no branches, "
                     "no shared layers, one input)");
  };
  if (nodes == nullptr || !nodes->is_array()) branches("has no inbound_nodes list");
  if (nodes->size() != 1) branches("is called " + std::to_string(nodes->size()) + " times");
  const json::Value& node = nodes->at(0);
  if (node.is_object()) {  // Keras 3: {"args": [keras tensor], "kwargs": {...}}
    const json::Value* args = node.find("args");
    if (args == nullptr || !args->is_array() || args->size() != 1 || !args->at(0).is_object()) {
      branches("reads " + (args != nullptr ? args->dump() : std::string("nothing")) +
               ", expected one tensor");
    }
    const json::Value* kwargs = node.find("kwargs");
    if (kwargs != nullptr && kwargs->is_object()) {
      for (const json::Value::Member& member : kwargs->as_object()) {
        const bool harmless =
            (member.first == "mask" && member.second.is_null()) ||
            (member.first == "training" && (member.second.is_bool() || member.second.is_null()));
        if (!harmless) branches("is called with " + member.first + " = " + member.second.dump());
      }
    }
    const json::Value& tensor = args->at(0);
    const json::Value* config = tensor.find("config");
    const json::Value* history =
        config != nullptr && config->is_object() ? config->find("keras_history") : nullptr;
    if (history == nullptr || !history->is_array() || history->size() != 3 || !history->at(0).is_string()) {
      branches("reads " + tensor.dump() + ", expected one Keras tensor");
    }
    if (!history->at(2).is_integer() || history->at(2).as_int64() != 0)
      branches("reads a second output of a layer");
    return history->at(0).as_string();
  }
  // Keras 2: [[["input_1", 0, 0, {}]]]
  if (!node.is_array() || node.size() != 1) branches("reads " + node.dump() + ", expected one tensor");
  const json::Value& inbound = node.at(0);
  if (!inbound.is_array() || inbound.size() < 3 || !inbound.at(0).is_string()) {
    branches("reads " + inbound.dump() + ", expected one tensor");
  }
  if (!inbound.at(2).is_integer() || inbound.at(2).as_int64() != 0)
    branches("reads a second output of a layer");
  if (inbound.size() > 3 && inbound.at(3).is_object() && inbound.at(3).size() > 0) {
    branches("is called with " + inbound.at(3).dump());
  }
  return inbound.at(0).as_string();
}

// The one layer name in input_layers / output_layers: [["name", 0, 0]] or ["name", 0, 0].
inline std::string read_endpoint(const json::Value* value, const std::string& where, const char* field) {
  if (value != nullptr && value->is_array() && value->size() == 1 && value->at(0).is_array()) {
    value = &value->at(0);
  }
  if (value == nullptr || !value->is_array() || value->size() != 3 || !value->at(0).is_string()) {
    throw file_error(where + ": " + field + " is " +
                     (value != nullptr ? value->dump() : std::string("missing")) +
                     "; seqlm imports functional models with one input and one output");
  }
  return value->at(0).as_string();
}

}  // namespace detail

/// Reads a Keras model configuration (Keras 3's config.json, or a legacy .h5 file's
/// model_config) into a seqlm model without weights. `where` names the source in messages
/// ("model.keras: config.json"). one_hot_as_token_ids: Input(T, V) feeding an LSTM or GRU
/// becomes a model of token ids (true, exact for one-hot inputs) or of V features (false).
template <class Scalar>
Architecture<Scalar> read_architecture(const json::Value& document, const std::string& where,
                                       bool one_hot_as_token_ids = true,
                                       const ArchitectureLimits& limits = {}) {
  using detail::KerasOptions;
  KerasOptions top(document, where);
  const std::string& model_class = top.text("class_name");
  top.expect("module", "keras", "the model is not one of Keras's own classes");
  top.expect_null("registered_name", "the model is a registered custom class");
  top.ignore({"build_config", "compile_config", "keras_version", "backend"});
  const json::Value& model_config = top.need("config");
  top.finish();
  const bool functional = model_class == "Functional" || model_class == "Model";
  if (model_class != "Sequential" && !functional) {
    top.fail_option("class_name", "is \"" + model_class +
                                      "\"; seqlm imports Sequential models and functional chains of layers");
  }

  KerasOptions model_options(model_config, where + ": model \"" + model_class + "\"");
  model_options.ignore({"name"});
  model_options.expect("trainable", true, "seqlm trains every layer");
  const std::string dtype = detail::read_dtype(model_options);
  std::optional<std::vector<std::optional<Index>>> input_shape;
  if (const json::Value* shape = model_options.find("build_input_shape");
      shape != nullptr && !shape->is_null()) {
    input_shape = detail::read_shape(*shape, where + ": build_input_shape");
  }
  const json::Value& layer_list = model_options.need("layers");
  if (!layer_list.is_array() || layer_list.size() == 0) {
    model_options.fail_option("layers",
                              "is " + std::string(layer_list.type_name()) + ", expected a list of layers");
  }

  // Every entry's class, name, config and build shape; the InputLayer apart.
  std::vector<detail::LayerEntry> entries;
  std::map<std::string, std::size_t> by_name;
  std::optional<std::size_t> input_entry;
  for (std::size_t k = 0; k < layer_list.size(); ++k) {
    const std::string entry_where = where + ": layers[" + std::to_string(k) + "]";
    KerasOptions entry(layer_list.at(k), entry_where);
    detail::LayerEntry parsed;
    parsed.index = k;
    parsed.class_name = entry.text("class_name");
    entry.expect("module", "keras.layers", "the layer is not one of Keras's own classes");
    entry.expect_null("registered_name", "the layer is a registered custom class");
    parsed.config = &entry.need("config");
    if (!parsed.config->is_object()) entry.fail_option("config", "is not an object");
    const json::Value* name = parsed.config->find("name");
    if (const json::Value* outer = entry.find("name"); outer != nullptr) name = outer;
    if (name == nullptr || !name->is_string() || name->as_string().empty() ||
        name->as_string().find('/') != std::string::npos) {
      entry.fail("has no usable layer name (a non-empty string without '/')");
    }
    parsed.name = name->as_string();
    if (const json::Value* build = entry.find("build_config"); build != nullptr && build->is_object()) {
      if (const json::Value* shape = build->find("input_shape"); shape != nullptr && shape->is_array()) {
        parsed.build_input_shape = detail::read_shape(*shape, entry_where + ": build_config/input_shape");
      }
    }
    entry.ignore({"inbound_nodes"});
    entry.finish();
    if (!by_name.emplace(parsed.name, entries.size()).second) {
      entry.fail("repeats the layer name \"" + parsed.name + "\"");
    }
    if (parsed.class_name == "InputLayer") {
      if (input_entry) entry.fail("is a second InputLayer; seqlm models have one input");
      input_entry = entries.size();
    }
    entries.push_back(std::move(parsed));
  }

  // The order in which the layers run: the list itself for Sequential, the chain for Functional.
  std::vector<std::size_t> order;
  if (functional) {
    const std::string input_name =
        detail::read_endpoint(model_options.find("input_layers"), where + ": model", "input_layers");
    const std::string output_name =
        detail::read_endpoint(model_options.find("output_layers"), where + ": model", "output_layers");
    std::map<std::string, std::string> next;  // layer -> the one layer reading its output
    for (const detail::LayerEntry& entry : entries) {
      if (entry.class_name == "InputLayer") continue;
      const std::string layer_where = where + ": layer " + std::to_string(entry.index) + " \"" + entry.name +
                                      "\" (" + entry.class_name + ")";
      const std::string from = detail::read_inbound(layer_list.at(entry.index), layer_where);
      if (by_name.count(from) == 0)
        throw file_error(layer_where + ": reads layer \"" + from + "\", which is not in the model");
      if (!next.emplace(from, entry.name).second) {
        throw file_error(layer_where + ": reads layer \"" + from + "\", which \"" + next[from] +
                         "\" reads too (a functional model with branches; seqlm imports single chains)");
      }
    }
    std::string current = input_name;
    if (by_name.count(current) == 0 || entries[by_name[current]].class_name != "InputLayer") {
      throw file_error(where + ": model: input_layers names \"" + current + "\", which is not an InputLayer");
    }
    while (next.count(current) > 0) {
      current = next[current];
      order.push_back(by_name[current]);
    }
    if (current != output_name || order.size() + 1 != entries.size()) {
      throw file_error(where + ": model: the layers from \"" + input_name + "\" do not form one chain to \"" +
                       output_name + "\"; seqlm imports single chains of layers");
    }
  } else {
    for (std::size_t k = 0; k < entries.size(); ++k) {
      if (entries[k].class_name == "InputLayer") {
        if (k != 0)
          throw file_error(where + ": layers[" + std::to_string(k) + "] is an InputLayer after other layers");
        continue;
      }
      order.push_back(k);
    }
  }
  model_options.ignore({"input_layers", "output_layers"});
  model_options.finish();
  if (order.empty()) throw file_error(where + ": the model has no layers besides its input");

  // The input: InputLayer, build_input_shape, or the first layer's own statement of it.
  if (input_entry) {
    const detail::LayerEntry& entry = entries[*input_entry];
    KerasOptions options(*entry.config, where + ": layer " + std::to_string(entry.index) + " \"" +
                                            entry.name + "\" (InputLayer)");
    const json::Value* shape = options.find("batch_shape");
    if (shape == nullptr) shape = options.find("batch_input_shape");
    if (shape == nullptr) options.fail_option("batch_shape", "is missing");
    input_shape = detail::read_shape(*shape, options.where() + ": option \"batch_shape\"");
    options.expect("sparse", false, "seqlm reads dense inputs");
    options.expect("ragged", false, "seqlm reads dense inputs");
    options.expect("optional", false, "seqlm models have one required input");
    options.ignore({"name", "dtype"});  // float one-hot vectors or integer ids: both read as ids
    options.finish();
  }
  const detail::LayerEntry& first = entries[order.front()];
  if (!input_shape) {
    if (const json::Value* shape = first.config->find("batch_input_shape");
        shape != nullptr && shape->is_array()) {
      input_shape = detail::read_shape(*shape, where + ": layer \"" + first.name + "\": batch_input_shape");
    } else if (first.build_input_shape) {
      input_shape = first.build_input_shape;
    }
  }
  if (!input_shape)
    throw file_error(where + ": the model states no input shape (no InputLayer, no build_input_shape)");
  if (input_shape->size() < 2 || input_shape->size() > 3 || (*input_shape)[0].has_value()) {
    std::string text = "[";
    for (std::size_t k = 0; k < input_shape->size(); ++k) {
      text += (k > 0 ? ", " : "") +
              ((*input_shape)[k] ? std::to_string(*(*input_shape)[k]) : std::string("null"));
    }
    throw file_error(
        where + ": the input shape is " + text +
        "]; seqlm imports (batch, steps) token ids or (batch, steps, features) inputs with any batch size");
  }

  // The input spec: ids for Embedding, one-hot ids for a recurrent first layer, else features.
  InputSpec spec = InputSpec::token_ids(1);
  bool one_hot = false;
  const bool recurrent_first = first.class_name == "LSTM" || first.class_name == "GRU";
  if (input_shape->size() == 2) {
    if (first.class_name != "Embedding") {
      throw file_error(where + ": the input is (batch, steps) and its first layer \"" + first.name +
                       "\" is " + first.class_name +
                       "; seqlm reads token ids through an Embedding (or one-hot vectors " +
                       "of shape (batch, steps, vocabulary))");
    }
    const json::Value* dim = first.config->find("input_dim");
    if (dim == nullptr || !dim->is_integer() || dim->as_int64() < 1 ||
        dim->as_int64() > (std::int64_t{1} << 24)) {
      throw file_error(where + ": layer \"" + first.name +
                       "\" (Embedding): option \"input_dim\" is missing or invalid");
    }
    spec = InputSpec::token_ids(static_cast<Index>(dim->as_int64()));
  } else {
    if (!(*input_shape)[2]) throw file_error(where + ": the input's feature size is null; seqlm needs it");
    const Index features = *(*input_shape)[2];
    if (first.class_name == "Embedding") {
      throw file_error(where + ": layer \"" + first.name +
                       "\" (Embedding) reads a 3-D input; seqlm's Embedding reads ids");
    }
    one_hot = recurrent_first && one_hot_as_token_ids;
    spec = one_hot ? InputSpec::token_ids(features) : InputSpec::features(features);
  }

  Architecture<Scalar> result{Sequential<Scalar>(spec),
                              {},
                              (*input_shape)[1],
                              one_hot,
                              false,
                              functional ? std::string("Functional") : std::string("Sequential"),
                              dtype};
  std::vector<std::string> classes;
  for (const std::size_t k : order) classes.push_back(entries[k].class_name);
  if (functional) classes.insert(classes.begin(), "InputLayer");
  std::vector<std::string> paths = detail::weights_paths(classes);
  if (functional) paths.erase(paths.begin());

  detail::ParameterBudget budget(limits);
  for (std::size_t i = 0; i < order.size(); ++i) {
    const detail::LayerEntry& entry = entries[order[i]];
    const std::string layer_where = where + ": layer " + std::to_string(entry.index) + " \"" + entry.name +
                                    "\" (" + entry.class_name + ")";
    if (entry.class_name == "Embedding" && i != 0) {
      throw file_error(layer_where +
                       ": an Embedding after other layers; seqlm's Embedding reads the model's token ids");
    }
    KerasOptions options(*entry.config, layer_where);
    const Index incoming =
        result.model.size() == 0 ? spec.size : result.model.layer(result.model.size() - 1).output_size();
    bool softmax = false;
    std::unique_ptr<Layer<Scalar>> layer = detail::read_layer<Scalar>(options, entry.class_name, incoming,
                                                                      i + 1 == order.size(), softmax, budget);
    result.softmax_output = softmax;
    try {
      result.model.add(std::move(layer), entry.name);
    } catch (const error& e) {
      throw file_error(layer_where + ": " + e.what());
    }
    result.layers.push_back(KerasLayer{entry.class_name, entry.name, paths[i],
                                       entry.class_name == "LSTM" || entry.class_name == "GRU"});
  }
  return result;
}

// ---- writing ---------------------------------------------------------------------------------

/// What Keras needs beyond the layers to describe a seqlm model.
struct ConfigOptions {
  std::optional<Index> sequence_length;  ///< the Input's steps; nullopt writes None
  bool softmax_output = true;            ///< the last Dense gets activation "softmax"
  json::Value compile_config;            ///< written as "compile_config" unless null
};

namespace detail {

// Keras 3's serialized form of a Keras object: module, class_name, config, registered_name.
inline json::Value keras_object(const char* module, const char* class_name, json::Value config) {
  return json::Value::object()
      .set("module", module)
      .set("class_name", class_name)
      .set("config", std::move(config))
      .set("registered_name", nullptr);
}

// Keras marks an object serialized more than once (the dtype policy every layer shares, the
// initializers a recurrent layer shares with its cell) with one id per object.
class SharedIds {
 public:
  json::Value next() { return json::Value(base_ + 16 * count_++); }

 private:
  std::int64_t base_ = 140000000000000;
  std::int64_t count_ = 0;
};

inline json::Value initializer(const char* class_name, json::Value config, const json::Value& shared_id) {
  json::Value value = keras_object("keras.initializers", class_name, std::move(config));
  if (!shared_id.is_null()) value.set("shared_object_id", shared_id);
  return value;
}

inline json::Value shape_json(std::initializer_list<std::optional<Index>> shape) {
  json::Value list = json::Value::array();
  for (const std::optional<Index>& d : shape) list.push_back(d ? json::Value(*d) : json::Value());
  return list;
}

}  // namespace detail

namespace detail {

// Options Keras reads as Python floats (an optimizer's learning_rate must be one).
inline bool is_float_option(const std::string& key) {
  static const std::set<std::string> names = {"learning_rate",
                                              "rho",
                                              "momentum",
                                              "epsilon",
                                              "beta_1",
                                              "beta_2",
                                              "ema_momentum",
                                              "dropout",
                                              "recurrent_dropout",
                                              "rate",
                                              "gain",
                                              "minval",
                                              "maxval",
                                              "label_smoothing",
                                              "clipnorm",
                                              "global_clipnorm",
                                              "clipvalue",
                                              "weight_decay"};
  return names.count(key) > 0;
}

inline void write_python_json(std::string& out, const json::Value& value, bool as_float) {
  if (value.is_number() && as_float) {
    std::string number = value.dump();
    if (number.find_first_of(".eE") == std::string::npos)
      number += ".0";  // 1 -> 1.0, as Python writes a float
    out += number;
  } else if (value.is_array()) {
    out += '[';
    for (std::size_t k = 0; k < value.size(); ++k) {
      if (k > 0) out += ", ";
      write_python_json(out, value.at(k), false);
    }
    out += ']';
  } else if (value.is_object()) {
    out += '{';
    bool first = true;
    for (const json::Value::Member& member : value.as_object()) {
      if (!first) out += ", ";
      first = false;
      out += json::Value(member.first).dump() + ": ";
      write_python_json(out, member.second, is_float_option(member.first));
    }
    out += '}';
  } else {
    out += value.dump();
  }
}

}  // namespace detail

/// `value` as Python's json.dumps writes what Keras serializes: ", " and ": " between items,
/// and the options Keras keeps as floats written as floats ("dropout": 0.0, not 0), so that
/// Keras reads back the types it wrote (its optimizers refuse an integer learning_rate).
inline std::string python_json(const json::Value& value) {
  std::string out;
  detail::write_python_json(out, value, false);
  return out;
}

/// The Keras 3 config.json of a seqlm model (as Keras 3.5 writes it): a Sequential of an
/// InputLayer and one Keras layer per seqlm layer, named like the seqlm layers. Token-id models
/// whose first layer is recurrent get Input(T, V) of one-hot vectors; Embedding models Input(T)
/// of int32 ids; feature models Input(T, F). value_error for a layer type Keras cannot express.
template <class Scalar>
json::Value keras_config(const Sequential<Scalar>& model, const ConfigOptions& options = {}) {
  if (model.size() == 0) throw value_error("keras::save: the model has no layers");
  const char* dtype_name = sizeof(Scalar) == 4 ? "float32" : "float64";
  detail::SharedIds ids;
  const json::Value policy_id = ids.next();
  const json::Value policy =
      detail::keras_object("keras", "DTypePolicy", json::Value::object().set("name", dtype_name))
          .set("shared_object_id", policy_id);
  const std::optional<Index> steps = options.sequence_length;
  const InputSpec& input = model.input_spec();
  const bool embedding_first = model.layer(0).type() == "Embedding";
  json::Value input_shape = embedding_first ? detail::shape_json({std::nullopt, steps})
                                            : detail::shape_json({std::nullopt, steps, input.size});

  json::Value layer_list = json::Value::array();
  layer_list.push_back(detail::keras_object("keras.layers", "InputLayer",
                                            json::Value::object()
                                                .set("batch_shape", input_shape)
                                                .set("dtype", embedding_first ? "int32" : dtype_name)
                                                .set("sparse", false)
                                                .set("name", "input_layer")));
  json::Value current_shape = input_shape;
  for (Index i = 0; i < model.size(); ++i) {
    const Layer<Scalar>& layer = model.layer(i);
    const std::string type = layer.type();
    const bool last = i + 1 == model.size();
    json::Value config =
        json::Value::object().set("name", model.layer_name(i)).set("trainable", true).set("dtype", policy);
    const json::Value glorot = json::Value::object().set("seed", nullptr);
    if (const auto* lstm = layer_cast<LSTM<Scalar>>(layer);
        lstm != nullptr || layer_cast<GRU<Scalar>>(layer) != nullptr) {
      const auto* gru = layer_cast<GRU<Scalar>>(layer);
      const bool sequences =
          lstm != nullptr ? lstm->config().options.return_sequences : gru->config().options.return_sequences;
      config.set("return_sequences", sequences)
          .set("return_state", false)
          .set("go_backwards", false)
          .set("stateful", false)
          .set("unroll", false)
          .set("zero_output_for_mask", false)
          .set("units", layer.output_size())
          .set("activation", "tanh")
          .set("recurrent_activation", "sigmoid")
          .set("use_bias", true)
          .set("kernel_initializer", detail::initializer("GlorotUniform", glorot, ids.next()))
          .set("recurrent_initializer",
               detail::initializer("OrthogonalInitializer",
                                   json::Value::object().set("gain", 1.0).set("seed", nullptr), ids.next()))
          .set("bias_initializer", detail::initializer("Zeros", json::Value::object(), ids.next()));
      if (lstm != nullptr) config.set("unit_forget_bias", lstm->config().options.unit_forget_bias);
      config.set("kernel_regularizer", nullptr)
          .set("recurrent_regularizer", nullptr)
          .set("bias_regularizer", nullptr)
          .set("activity_regularizer", nullptr)
          .set("kernel_constraint", nullptr)
          .set("recurrent_constraint", nullptr)
          .set("bias_constraint", nullptr)
          .set("dropout", 0.0)
          .set("recurrent_dropout", 0.0);
      if (gru != nullptr) config.set("reset_after", gru->config().options.reset_after);
      config.set("seed", nullptr);
    } else if (const auto* dense = layer_cast<Dense<Scalar>>(layer); dense != nullptr) {
      config.set("units", layer.output_size())
          .set("activation", last && options.softmax_output ? "softmax" : "linear")
          .set("use_bias", true)
          .set("kernel_initializer", detail::initializer("GlorotUniform", glorot, nullptr))
          .set("bias_initializer", detail::initializer("Zeros", json::Value::object(), nullptr))
          .set("kernel_regularizer", nullptr)
          .set("bias_regularizer", nullptr)
          .set("kernel_constraint", nullptr)
          .set("bias_constraint", nullptr);
    } else if (const auto* conv = layer_cast<Conv1D<Scalar>>(layer); conv != nullptr) {
      const auto& c = conv->config();
      config.set("filters", c.filters)
          .set("kernel_size", json::Value::Array{json::Value(c.kernel_size)})
          .set("strides", json::Value::Array{json::Value(1)})
          .set("padding", "causal")
          .set("data_format", "channels_last")
          .set("dilation_rate", json::Value::Array{json::Value(c.options.dilation)})
          .set("groups", 1)
          .set("activation", c.options.activation == Activation::relu ? "relu" : "linear")
          .set("use_bias", true)
          .set("kernel_initializer", detail::initializer("GlorotUniform", glorot, nullptr))
          .set("bias_initializer", detail::initializer("Zeros", json::Value::object(), nullptr))
          .set("kernel_regularizer", nullptr)
          .set("bias_regularizer", nullptr)
          .set("activity_regularizer", nullptr)
          .set("kernel_constraint", nullptr)
          .set("bias_constraint", nullptr);
    } else if (const auto* dropout = layer_cast<Dropout<Scalar>>(layer); dropout != nullptr) {
      config.set("rate", dropout->config().rate).set("seed", nullptr).set("noise_shape", nullptr);
    } else if (const auto* embedding = layer_cast<Embedding<Scalar>>(layer); embedding != nullptr) {
      config.set("input_dim", embedding->config().vocabulary_size)
          .set("output_dim", embedding->config().dimension)
          .set("embeddings_initializer",
               detail::initializer(
                   "RandomUniform",
                   json::Value::object().set("minval", -0.05).set("maxval", 0.05).set("seed", nullptr),
                   nullptr))
          .set("embeddings_regularizer", nullptr)
          .set("activity_regularizer", nullptr)
          .set("embeddings_constraint", nullptr)
          .set("mask_zero", false);
    } else {
      throw value_error("keras::save: layer " + std::to_string(i) + " \"" + model.layer_name(i) + "\" is a " +
                        type + ", which has no Keras counterpart in seqlm's exporter");
    }
    if (last && options.softmax_output && type != "Dense") {
      throw value_error("keras::save: softmax_output needs a Dense last layer, layer \"" +
                        model.layer_name(i) + "\" is a " + type);
    }
    layer_list.push_back(detail::keras_object("keras.layers", type.c_str(), std::move(config))
                             .set("build_config", json::Value::object().set("input_shape", current_shape)));
    // The shape the next layer is built for.
    const bool keeps_time = layer.keeps_time_axis() && current_shape.size() == 3;
    const bool had_time = current_shape.size() == 3 || (type == "Embedding");
    if (type == "Embedding") {
      current_shape = detail::shape_json({std::nullopt, steps, layer.output_size()});
    } else if (keeps_time && had_time) {
      current_shape = detail::shape_json({std::nullopt, steps, layer.output_size()});
    } else {
      current_shape = detail::shape_json({std::nullopt, layer.output_size()});
    }
  }

  json::Value config = json::Value::object()
                           .set("name", "sequential")
                           .set("trainable", true)
                           .set("dtype", policy)
                           .set("layers", std::move(layer_list))
                           .set("build_input_shape", input_shape);
  json::Value document = detail::keras_object("keras", "Sequential", std::move(config))
                             .set("build_config", json::Value::object().set("input_shape", input_shape));
  if (!options.compile_config.is_null()) document.set("compile_config", options.compile_config);
  return document;
}

}  // namespace seqlm::keras
