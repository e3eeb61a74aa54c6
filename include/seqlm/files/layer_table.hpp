/// \file
/// The layer table and the architecture of a Sequential model as JSON: how model files name,
/// configure and rebuild layers. Loading lives here, apart from the layers and the model.
///
/// ```text
///   {"format": "seqlm.sequential",
///    "input": {"kind": "token_ids" | "features", "size": N},
///    "layers": [{"type": "LSTM", "name": "lstm", "config": {"input_size": 57, "units": 128, ...}}, ...]}
/// ```
///
/// Each layer type has one entry in a LayerTable: `read` turns a JSON config into a pending
/// layer (its declared parameter count and a function that builds it), `write` turns a layer
/// back into its JSON config. The six built-in layers are in layer_table<Scalar>(); a layer of
/// your own (any class that follows layers/contract.hpp) joins with
///
/// ```cpp
///   layer_table<float>().add("MyLayer", {read_my_layer, write_my_layer});
/// ```
///
/// Loading refuses, as a file_error naming the layer and the field, anything it cannot build
/// exactly: an unknown type, a missing, unknown or mistyped field, a size outside [1, 2^24]
/// (json::ObjectReader::max_size), more than `max_layers` layers (1024), a layer of more than
/// `max_layer_parameters` parameters (2^28), a model of more than `max_parameters` in all
/// (2^29), a Conv1D whose streaming history exceeds max_conv1d_history (2^28). The counts are
/// summed from the configurations BEFORE any layer is allocated, so a small hostile file cannot
/// make the loader allocate gigabytes (`docs/file-format.md#limits`).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "../error.hpp"
#include "../io/json.hpp"
#include "../model/layer.hpp"
#include "../model/sequential.hpp"
#include "../tensor.hpp"

namespace seqlm {

/// A layer read from its configuration but not built yet.
template <class Scalar>
struct PendingLayer {
  Index parameter_count = 0;  ///< what building it will allocate (twice: values and gradients)
  std::function<std::unique_ptr<Layer<Scalar>>()> build;
};

/// How one layer type is read from and written to JSON.
template <class Scalar>
struct LayerCreator {
  /// Reads the config (every field; unknown fields are refused by the caller's finish()).
  std::function<PendingLayer<Scalar>(json::ObjectReader& config)> read;
  /// The config of a layer of this type (the inverse of read).
  std::function<json::Value(const Layer<Scalar>& layer)> write;
};

template <class Scalar>
class LayerTable {
 public:
  void add(const std::string& type, LayerCreator<Scalar> creator) {
    if (type.empty()) throw value_error("LayerTable::add: empty layer type");
    if (!creator.read || !creator.write)
      throw value_error("LayerTable::add: " + type + ": read or write is empty");
    creators_[type] = std::move(creator);
  }
  const LayerCreator<Scalar>* find(const std::string& type) const {
    const auto it = creators_.find(type);
    return it == creators_.end() ? nullptr : &it->second;
  }
  /// "Conv1D, Dense, ..." for messages.
  std::string types() const {
    std::string list;
    for (const auto& entry : creators_) list += (list.empty() ? "" : ", ") + entry.first;
    return list;
  }

 private:
  std::map<std::string, LayerCreator<Scalar>> creators_;
};

namespace detail {

// The concrete layer of a run-time layer that the table says is of class L.
template <class L, class Scalar>
const L& concrete_layer(const Layer<Scalar>& layer) {
  const L* concrete = layer_cast<L>(layer);
  if (concrete == nullptr) {
    throw value_error(
        make_message("layer table: a layer of type \"", layer.type(), "\" is not a ", L::type_name));
  }
  return *concrete;
}

// The entry of a layer class L whose Config is read and written by the given functions.
template <class L, class Scalar = typename scalar_of<L>::type>
LayerCreator<Scalar> creator_for(std::function<typename L::Config(json::ObjectReader&)> read_config,
                                 std::function<json::Value(const typename L::Config&)> write_config) {
  LayerCreator<Scalar> creator;
  creator.read = [read_config](json::ObjectReader& reader) {
    const typename L::Config config = read_config(reader);
    PendingLayer<Scalar> pending;
    pending.parameter_count = L::parameter_count(config);
    pending.build = [config] { return make_layer<L>(config); };
    return pending;
  };
  creator.write = [write_config](const Layer<Scalar>& layer) {
    return write_config(concrete_layer<L>(layer).config());
  };
  return creator;
}

}  // namespace detail

/// A Conv1D keeps the last (kernel_size - 1) * dilation inputs of each sequence for step();
/// a configuration whose history holds more numbers than this is refused.
inline constexpr Index max_conv1d_history = Index{1} << 28;

namespace detail {

// A count computed in double (so that it cannot overflow) as a message shows it: all its
// digits while it fits in int64, else in scientific notation.
inline std::string count_text(double count) {
  return count < 9.0e18 ? std::to_string(static_cast<std::int64_t>(count)) : make_message(count);
}

inline Index read_size(json::ObjectReader& read, const char* field) {
  return static_cast<Index>(read.size(field));
}

template <class Scalar>
LayerTable<Scalar> built_in_layers() {
  LayerTable<Scalar> table;
  table.add("Embedding", creator_for<Embedding<Scalar>>(
                             [](json::ObjectReader& read) {
                               typename Embedding<Scalar>::Config config;
                               config.vocabulary_size = read_size(read, "vocabulary_size");
                               config.dimension = read_size(read, "dimension");
                               return config;
                             },
                             [](const typename Embedding<Scalar>::Config& config) {
                               return json::Value::object()
                                   .set("vocabulary_size", config.vocabulary_size)
                                   .set("dimension", config.dimension);
                             }));
  table.add("LSTM", creator_for<LSTM<Scalar>>(
                        [](json::ObjectReader& read) {
                          typename LSTM<Scalar>::Config config;
                          config.input_size = read_size(read, "input_size");
                          config.units = read_size(read, "units");
                          config.options.return_sequences = read.flag("return_sequences");
                          config.options.unit_forget_bias = read.flag("unit_forget_bias");
                          return config;
                        },
                        [](const typename LSTM<Scalar>::Config& config) {
                          return json::Value::object()
                              .set("input_size", config.input_size)
                              .set("units", config.units)
                              .set("return_sequences", config.options.return_sequences)
                              .set("unit_forget_bias", config.options.unit_forget_bias);
                        }));
  table.add("GRU", creator_for<GRU<Scalar>>(
                       [](json::ObjectReader& read) {
                         typename GRU<Scalar>::Config config;
                         config.input_size = read_size(read, "input_size");
                         config.units = read_size(read, "units");
                         config.options.return_sequences = read.flag("return_sequences");
                         config.options.reset_after = read.flag("reset_after");
                         return config;
                       },
                       [](const typename GRU<Scalar>::Config& config) {
                         return json::Value::object()
                             .set("input_size", config.input_size)
                             .set("units", config.units)
                             .set("return_sequences", config.options.return_sequences)
                             .set("reset_after", config.options.reset_after);
                       }));
  table.add(
      "Conv1D",
      creator_for<Conv1D<Scalar>>(
          [](json::ObjectReader& read) {
            typename Conv1D<Scalar>::Config config;
            config.input_size = read_size(read, "input_size");
            config.filters = read_size(read, "filters");
            config.kernel_size = read_size(read, "kernel_size");
            config.options.dilation = read_size(read, "dilation");
            const std::string& activation = read.text("activation");
            if (activation == "relu") {
              config.options.activation = Activation::relu;
            } else if (activation != "linear") {
              read.fail("activation", "is \"" + activation + "\", expected \"relu\" or \"linear\"");
            }
            // The streaming state holds (k-1)*d inputs of each sequence.
            const double history =
                double(config.kernel_size - 1) * double(config.options.dilation) * double(config.input_size);
            if (history > double(max_conv1d_history)) {
              read.fail("kernel_size",
                        make_message("and dilation give a streaming history of ", count_text(history),
                                     " numbers per sequence, more than the limit of ", max_conv1d_history));
            }
            return config;
          },
          [](const typename Conv1D<Scalar>::Config& config) {
            return json::Value::object()
                .set("input_size", config.input_size)
                .set("filters", config.filters)
                .set("kernel_size", config.kernel_size)
                .set("dilation", config.options.dilation)
                .set("activation", config.options.activation == Activation::relu ? "relu" : "linear");
          }));
  table.add("Dropout", creator_for<Dropout<Scalar>>(
                           [](json::ObjectReader& read) {
                             typename Dropout<Scalar>::Config config;
                             config.rate = read.number("rate");
                             if (!(config.rate >= 0.0 && config.rate < 1.0)) {
                               read.fail("rate", make_message("is ", config.rate, ", expected [0, 1)"));
                             }
                             return config;  // the size comes from the previous layer
                           },
                           [](const typename Dropout<Scalar>::Config& config) {
                             return json::Value::object().set("rate", config.rate);
                           }));
  table.add(
      "Dense",
      creator_for<Dense<Scalar>>(
          [](json::ObjectReader& read) {
            typename Dense<Scalar>::Config config;
            config.input_size = read_size(read, "input_size");
            config.units = read_size(read, "units");
            return config;
          },
          [](const typename Dense<Scalar>::Config& config) {
            return json::Value::object().set("input_size", config.input_size).set("units", config.units);
          }));
  return table;
}

}  // namespace detail

/// The process-wide table: the six built-in layers, plus whatever a program adds (add entries
/// at start-up, before models are loaded on other threads).
template <class Scalar>
LayerTable<Scalar>& layer_table() {
  static LayerTable<Scalar> table = detail::built_in_layers<Scalar>();
  return table;
}

inline constexpr const char* architecture_format = "seqlm.sequential";

/// What sequential_from_architecture() accepts. Building a model allocates every parameter
/// twice (value and gradient), so a model at the limits takes 2^29 x 2 x sizeof(Scalar) bytes.
struct ArchitectureLimits {
  Index max_layer_parameters = Index{1} << 28;  ///< one layer (1 GiB of floats)
  Index max_parameters = Index{1} << 29;        ///< the whole model (2 GiB of floats, 4 with gradients)
  Index max_layers = 1024;                      ///< layers in the model
};

/// The architecture of `model` as JSON (see the top of this file).
template <class Scalar>
json::Value architecture_of(const Sequential<Scalar>& model,
                            const LayerTable<Scalar>& table = layer_table<Scalar>()) {
  json::Value layers = json::Value::array();
  for (Index i = 0; i < model.size(); ++i) {
    const Layer<Scalar>& layer = model.layer(i);
    const LayerCreator<Scalar>* creator = table.find(layer.type());
    if (creator == nullptr) {
      throw value_error("architecture_of: layer type \"" + layer.type() + "\" is not in the layer table");
    }
    layers.push_back(json::Value::object()
                         .set("type", layer.type())
                         .set("name", model.layer_name(i))
                         .set("config", creator->write(layer)));
  }
  const InputSpec& input = model.input_spec();
  return json::Value::object()
      .set("format", architecture_format)
      .set("input",
           json::Value::object().set("kind", input.tokens ? "token_ids" : "features").set("size", input.size))
      .set("layers", std::move(layers));
}

/// Rebuilds an (uninitialised) model from architecture_of()'s JSON. Every problem is a
/// file_error naming the layer and the field ("model architecture/layers[2]/config: field
/// \"units\" is 0, expected an integer in [1, 16777216]").
template <class Scalar>
Sequential<Scalar> sequential_from_architecture(const json::Value& architecture,
                                                ArchitectureLimits limits = {},
                                                const LayerTable<Scalar>& table = layer_table<Scalar>()) {
  json::ObjectReader read(architecture, "model architecture");
  const std::string& format = read.text("format");
  if (format != architecture_format) {
    read.fail("format", "is \"" + format + "\", expected \"" + architecture_format + "\"");
  }
  json::ObjectReader input = read.object("input");
  const std::string& kind = input.text("kind");
  if (kind != "token_ids" && kind != "features") {
    input.fail("kind", "is \"" + kind + "\", expected \"token_ids\" or \"features\"");
  }
  const Index input_size = static_cast<Index>(input.size("size"));
  input.finish();
  json::ArrayReader layer_list = read.array("layers");
  read.finish();
  if (layer_list.empty()) read.fail("layers", "is empty, expected at least one layer");
  if (layer_list.size() > static_cast<std::size_t>(limits.max_layers)) {
    read.fail("layers", detail::make_message("has ", layer_list.size(), " layers, more than the limit of ",
                                             limits.max_layers));
  }

  // First every configuration and the total count, then the layers.
  struct Entry {
    PendingLayer<Scalar> pending;
    std::string name;
    std::string type;
  };
  std::vector<Entry> entries;
  Index total = 0;
  for (std::size_t i = 0; i < layer_list.size(); ++i) {
    json::ObjectReader entry = layer_list.object(i);
    Entry parsed;
    parsed.type = entry.text("type");
    const LayerCreator<Scalar>* creator = table.find(parsed.type);
    if (creator == nullptr) {
      entry.fail("type", "is \"" + parsed.type + "\", expected one of: " + table.types());
    }
    if (const json::Value* name = entry.find("name")) {
      parsed.name = entry.text("name");
      if (parsed.name.empty() || parsed.name.find('/') != std::string::npos) {
        entry.fail("name", "is \"" + parsed.name + "\", expected a non-empty name without '/'");
      }
      (void)name;
    }
    json::ObjectReader config = entry.object("config");
    parsed.pending = creator->read(config);
    config.finish();
    entry.finish();
    if (parsed.pending.parameter_count > limits.max_layer_parameters) {
      entry.fail("config", detail::make_message("describes ", parsed.pending.parameter_count,
                                                " parameters, more than the limit of ",
                                                limits.max_layer_parameters, " for one layer"));
    }
    total += parsed.pending.parameter_count;
    if (total > limits.max_parameters) {
      entry.fail("config",
                 detail::make_message("brings the model to ", total, " parameters, more than the limit of ",
                                      limits.max_parameters));
    }
    entries.push_back(std::move(parsed));
  }

  Sequential<Scalar> model(kind == "token_ids" ? InputSpec::token_ids(input_size)
                                               : InputSpec::features(input_size));
  for (std::size_t i = 0; i < entries.size(); ++i) {
    try {
      model.add(entries[i].pending.build(), entries[i].name);
    } catch (const file_error&) {
      throw;
    } catch (const error& e) {
      throw file_error(
          detail::make_message("model architecture/layers[", i, "] (", entries[i].type, "): ", e.what()));
    }
  }
  return model;
}

}  // namespace seqlm
