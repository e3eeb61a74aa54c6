/// \file
/// Sequential: a language model as a stack of layers, Keras-style.
///
/// ```cpp
///   Sequential<float> model(InputSpec::token_ids(57));
///   model.add(layers::lstm<float>(57, 128));          // "lstm"
///   model.add(layers::dense<float>(128, 57));         // "dense": logits over the 57 characters
///   model.initialize(rng);                            // required before forward()
///   std::cout << model.summary(40);                   // "Total params: 102,585"
///   const Matrix<float>& logits = model.forward(tokens, {});
/// ```
///
/// Sequential is the container: layers in order, their forward and backward, streaming steps,
/// states and the summary. The loss and the training step live in train/ (train/step.hpp).
///
/// Shapes (time-major, column t*B + b = step t of sequence b):
/// ```text
///   input    token ids T*B (TokenView) or features F x T*B
///   layer i  output_size_i x T*B, or output_size_i x B after a recurrent layer without
///            return_sequences dropped the time axis (the layers after it see steps == 1)
///   logits   V x T*B (output_keeps_time_axis(): a prediction at every step) or V x B (last step)
/// ```
///
/// States: make_state(B) gives every layer's state for B sequences (zeros: the start of a text).
/// Streaming inference (step) pushes one token of B sequences through every layer's step():
/// O(1) work per token, and at every step the logits equal those of a full forward over the
/// prefix read so far. A full-sequence forward given a state starts from it and leaves the final
/// state in it, so a long text run as chunks with one carried state (stateful training, truncated
/// BPTT) gives the same logits as one forward over the whole text. See docs/models.md.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "../error.hpp"
#include "../layers/contract.hpp"
#include "../parameter.hpp"
#include "../random.hpp"
#include "../tensor.hpp"
#include "layer.hpp"

namespace seqlm {

/// What the model reads: token ids from a vocabulary, or feature vectors of a fixed size.
struct InputSpec {
  bool tokens = true;
  Index size = 0;  ///< vocabulary size, or the number of features
  static InputSpec token_ids(Index vocabulary) { return {true, vocabulary}; }
  static InputSpec features(Index n) { return {false, n}; }
};

namespace detail {

// 102585 -> "102,585".
inline std::string with_thousands_separators(Index value) {
  std::string digits = std::to_string(value < 0 ? -value : value);
  std::string out;
  for (size_t k = 0; k < digits.size(); ++k) {
    if (k > 0 && (digits.size() - k) % 3 == 0) out += ',';
    out += digits[k];
  }
  return value < 0 ? "-" + out : out;
}

// Keras's name of a layer type: "Conv1D" -> "conv1d" (ASCII lower case).
inline std::string keras_layer_name(std::string type) {
  for (char& c : type) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return type;
}

inline std::string pad_right(std::string text, size_t width) {
  if (text.size() < width) text.append(width - text.size(), ' ');
  return text;
}

}  // namespace detail

template <class Scalar>
class Sequential {
 public:
  explicit Sequential(InputSpec input) : input_(input) {
    detail::check_positive("Sequential", input.tokens ? "vocabulary size" : "input size", input.size);
  }

  /// Deep copy: every layer is cloned (weights; caches and gradients start empty).
  Sequential(const Sequential& other) : input_(other.input_), initialized_(other.initialized_) {
    copy_layers_from(other);
  }
  Sequential& operator=(const Sequential& other) {
    if (this != &other) {
      input_ = other.input_;
      initialized_ = other.initialized_;
      layers_.clear();
      names_.clear();
      parameters_.clear();
      copy_layers_from(other);
    }
    return *this;
  }
  Sequential(Sequential&&) = default;
  Sequential& operator=(Sequential&&) = default;

  /// Appends a layer, named like Keras ("lstm", "lstm_1", ...) or `name` when given (unique,
  /// not empty, no '/'). shape_error when it cannot read what the previous layer (or the input)
  /// produces: token ids vs features, input_size vs the previous output size, or a recurrent /
  /// convolution layer after the time axis was dropped. Returns *this so calls chain.
  Sequential& add(std::unique_ptr<Layer<Scalar>> layer, const std::string& name = "") {
    if (layer == nullptr) throw value_error("Sequential::add: null layer");
    const std::string where =
        detail::make_message("Sequential::add: layer ", layers_.size(), " (", layer->type(), ")");
    const bool reads_tokens = layers_.empty() && input_.tokens;
    const Index incoming = layers_.empty() ? input_.size : layers_.back()->output_size();
    const LayerTraits traits = layer->traits();
    if (traits.sized_by_input) layer->set_input_size(incoming);
    if (reads_tokens && !traits.reads_tokens) {
      throw shape_error(where + " cannot read token ids; start with Embedding, LSTM or GRU");
    }
    if (!reads_tokens && !traits.reads_features) {
      throw shape_error(where + " reads token ids only, but its input is a matrix of features");
    }
    if (layer->input_size() != incoming) {
      throw shape_error(detail::make_message(where, " has input size ", layer->input_size(), ", expected ",
                                             incoming, reads_tokens ? " (the vocabulary size)" : ""));
    }
    if (!output_keeps_time_axis() && traits.needs_time_axis) {
      throw shape_error(where +
                        " needs a time axis, but the previous recurrent layer dropped it"
                        " (set return_sequences on it)");
    }
    if (!name.empty() && (name.find('/') != std::string::npos || has_name(name))) {
      throw value_error(where + ": name \"" + name + "\" contains '/' or is already taken");
    }
    names_.push_back(name.empty() ? unique_name(detail::keras_layer_name(layer->type())) : name);
    append_parameters(*layer, names_.back());
    layers_.push_back(std::move(layer));
    initialized_ = false;  // the new layer's weights are zeros
    return *this;
  }

  Index size() const { return static_cast<Index>(layers_.size()); }
  Layer<Scalar>& layer(Index i) { return *layers_.at(checked(i)); }
  const Layer<Scalar>& layer(Index i) const { return *layers_.at(checked(i)); }
  /// Keras-like unique names: "lstm", "lstm_1", "dense".
  const std::string& layer_name(Index i) const { return names_.at(checked(i)); }
  const InputSpec& input_spec() const { return input_; }

  /// The vocabulary of the logits (the last layer's output size).
  Index output_size() const { return layers_.empty() ? input_.size : layers_.back()->output_size(); }
  /// True when the logits have a column per step (loss at every step), false when a recurrent
  /// layer without return_sequences reduced them to the last step.
  bool output_keeps_time_axis() const {
    for (const auto& layer : layers_) {
      if (!layer->keeps_time_axis()) return false;
    }
    return true;
  }

  /// Keras's default initialisers, layer by layer in order from one generator. Required before
  /// forward() (a model of all-zero weights would train silently into nothing), unless the
  /// weights were set otherwise (a model file, or set_weights_initialized after writing them).
  void initialize(Rng& rng) {
    for (auto& layer : layers_) layer->initialize(rng);
    initialized_ = true;
  }
  /// Seeded form: initialize(Rng(seed)).
  void initialize(std::uint64_t seed) {
    Rng rng(seed);
    initialize(rng);
  }
  bool initialized() const { return initialized_; }
  /// Declares the weights set by other means (a loader, or values written through parameters()).
  void set_weights_initialized() { initialized_ = true; }

  /// Every weight with its gradient, named "<layer name>/<param name>" ("lstm/kernel"), in
  /// layer order. The pointers stay valid as long as the model lives.
  ParameterList<Scalar> parameters() { return parameters_; }
  ConstParameterList<Scalar> parameters() const {
    ConstParameterList<Scalar> list;
    for (const auto& p : parameters_) list.push_back({p.name, p.value, p.gradient});
    return list;
  }
  Index parameter_count() const { return count_parameters(parameters_); }

  /// A Keras-like table: name (type), output shape with "None" for the batch (and for the
  /// length when sequence_length == 0), parameter count, then "Total params: 102,585".
  std::string summary(Index sequence_length = 0) const {
    const std::string length = sequence_length > 0 ? std::to_string(sequence_length) : "None";
    const std::string rule(65, '_'), double_rule(65, '=');
    std::string out = "Model: \"sequential\"\n" + rule + "\n";
    out += " " + detail::pad_right("Layer (type)", 28) + detail::pad_right("Output Shape", 26) + "Param #\n";
    out += double_rule + "\n";
    bool time_axis = true;
    for (size_t i = 0; i < layers_.size(); ++i) {
      const Layer<Scalar>& layer = *layers_[i];
      time_axis = time_axis && layer.keeps_time_axis();
      const std::string features = std::to_string(layer.output_size());
      const std::string shape =
          time_axis ? "(None, " + length + ", " + features + ")" : "(None, " + features + ")";
      out += " " + detail::pad_right(names_[i] + " (" + layer.type() + ")", 28) +
             detail::pad_right(shape, 26) + std::to_string(layer.parameter_count()) + "\n";
      out += (i + 1 < layers_.size() ? std::string() : double_rule) + "\n";
    }
    if (layers_.empty()) out += double_rule + "\n";
    const std::string total = detail::with_thousands_separators(parameter_count());
    out += "Total params: " + total + "\n";
    out += "Trainable params: " + total + "\n";
    out += "Non-trainable params: 0\n" + rule + "\n";
    return out;
  }

  // ---- states ------------------------------------------------------------------------------------------

  /// The state of B independent sequences: every layer's State and output buffer.
  struct State {
    std::vector<std::unique_ptr<LayerState>> layers;
    std::vector<Matrix<Scalar>> outputs;  ///< layer i's output of the last step; back() = logits (V x B)
    Matrix<Scalar> features;              ///< the input of a feature model's step
    Index batch = 0;

    State() = default;
    State(State&&) = default;
    State& operator=(State&&) = default;
    State(const State& other) : outputs(other.outputs), features(other.features), batch(other.batch) {
      for (const auto& layer : other.layers) layers.push_back(layer->clone());
    }
    State& operator=(const State& other) {
      if (this != &other) *this = State(other);
      return *this;
    }
  };

  /// Zeros for `batch` sequences: the start of a text.
  State make_state(Index batch) const {
    detail::check_positive("Sequential::make_state", "batch size", batch);
    State state;
    state.batch = batch;
    for (const auto& layer : layers_) {
      state.layers.push_back(layer->make_state(batch));
      state.outputs.emplace_back(layer->output_size(), batch);
    }
    return state;
  }

  /// Back to zeros (Keras's reset_states), for the same batch size.
  void reset_states(State& state) const { state = make_state(state.batch); }

  /// Sequence from_b of `from` becomes sequence to_b of `to`: every layer's memory and the last
  /// step's outputs. The states may hold different numbers of sequences, so independent streams
  /// kept apart (one state each) can be gathered into one batch state, stepped together with one
  /// matrix product per layer, and scattered back. Allocates nothing. value_error: an index out
  /// of range, a state not made by this model.
  void copy_sequence(const State& from, Index from_b, State& to, Index to_b) const {
    check_state("Sequential::copy_sequence", from);
    check_state("Sequential::copy_sequence", to);
    detail::check_sequence_index("Sequential", "source", from_b, from.batch);
    detail::check_sequence_index("Sequential", "target", to_b, to.batch);
    for (size_t i = 0; i < layers_.size(); ++i) {
      layers_[i]->copy_sequence(*from.layers[i], from_b, *to.layers[i], to_b);
      const Matrix<Scalar>& source = from.outputs[i];
      Matrix<Scalar>& target = to.outputs[i];
      if (source.rows() == target.rows() && source.cols() == from.batch && target.cols() == to.batch) {
        target.col(to_b) = source.col(from_b);
      }
    }
  }

  // ---- full-sequence passes ------------------------------------------------------------------------

  /// Token-id input (InputSpec::token_ids): tokens.steps x tokens.batch ids, time-major.
  /// Returns the logits, V x T*B or V x B (see output_keeps_time_axis()).
  /// state (optional, made by make_state for tokens.batch sequences): the sequences continue
  /// from it, and it receives the state after their last step (stateful; the gradient does not
  /// flow back into the carried state: truncated BPTT across chunks).
  const Matrix<Scalar>& forward(const TokenView& tokens, const LayerContext& context,
                                State* state = nullptr) {
    if (!input_.tokens) throw value_error("Sequential::forward: the model reads features, not token ids");
    return run_forward(LayerInput<Scalar>::of_tokens(tokens), context, state, layers_.size());
  }

  /// Feature input (InputSpec::features): x is F x T*B, time-major.
  const Matrix<Scalar>& forward(ConstMatrixRef<Scalar> x, Index batch, const LayerContext& context,
                                State* state = nullptr) {
    if (input_.tokens) throw value_error("Sequential::forward: the model reads token ids, not features");
    detail::check_rows("Sequential", "input", x.rows(), input_.size);
    features_ = x;  // a layer reads a Matrix; no allocation once the shape is known
    return run_forward(LayerInput<Scalar>::of_features(features_, batch), context, state, layers_.size());
  }

  /// The first `count` layers only (1 <= count <= size()): returns layer count-1's output.
  /// With backward_from(count - 1, ...) this lets a training step run the last layer itself
  /// (train/step.hpp runs a columnwise last layer on the scored columns only).
  const Matrix<Scalar>& forward_first(const TokenView& tokens, const LayerContext& context, Index count,
                                      State* state = nullptr) {
    if (!input_.tokens) throw value_error("Sequential::forward: the model reads features, not token ids");
    if (count < 1 || count > size()) {
      throw value_error(
          detail::make_message("Sequential::forward_first: count ", count, " is outside [1, ", size(), "]"));
    }
    return run_forward(LayerInput<Scalar>::of_tokens(tokens), context, state, static_cast<size_t>(count));
  }

  /// Backpropagates dL/dlogits (the shape of the last forward's logits) through every layer,
  /// ACCUMULATING parameter gradients. context.truncate limits BPTT in the recurrent layers.
  void backward(ConstMatrixRef<Scalar> d_logits, const LayerContext& context) {
    if (!has_forward_ || forward_count_ != layers_.size()) {
      throw value_error("Sequential::backward: called before a forward() through every layer");
    }
    backward_from(static_cast<Index>(layers_.size()) - 1, d_logits, context);
  }

  /// Backpropagates dL/d(output of layer `last`) through layers last, ..., 0 (after a forward
  /// that ran at least through layer `last`).
  void backward_from(Index last, ConstMatrixRef<Scalar> d_output, const LayerContext& context) {
    if (!has_forward_ || last < 0 || static_cast<size_t>(last) >= forward_count_) {
      throw value_error(detail::make_message("Sequential::backward_from: layer ", last,
                                             " did not run in the last forward"));
    }
    layers_[static_cast<size_t>(last)]->backward(d_output, context);
    for (Index i = last; i > 0; --i) {
      const Matrix<Scalar>* gradient = layers_[static_cast<size_t>(i)]->input_gradient();
      if (gradient == nullptr) {
        throw value_error(detail::make_message("Sequential::backward: layer ", names_[static_cast<size_t>(i)],
                                               " has no input gradient"));
      }
      layers_[static_cast<size_t>(i - 1)]->backward(*gradient, context);
    }
  }

  /// How many steps the last forward's logits cover: its T, or 1 after the time axis was dropped.
  Index output_steps() const { return output_steps_; }

  // ---- streaming inference ---------------------------------------------------------------------------

  /// Feeds one token id of each of the B streams (ids[b]) and returns the logits V x B of the
  /// next token. O(1) work per token; allocates nothing.
  const Matrix<Scalar>& step(const TokenId* ids, State& state) const {
    if (!input_.tokens) throw value_error("Sequential::step: the model reads features, not token ids");
    if (ids == nullptr) throw value_error("Sequential::step: ids is null");
    check_state("Sequential::step", state);
    return run_step(LayerInput<Scalar>::of_tokens(TokenView(ids, 1, state.batch)), state);
  }

  /// The same for a feature model: x is F x B.
  const Matrix<Scalar>& step(ConstMatrixRef<Scalar> x, State& state) const {
    if (input_.tokens) throw value_error("Sequential::step: the model reads token ids, not features");
    check_state("Sequential::step", state);
    detail::check_shape("Sequential::step", "input", x, input_.size, state.batch);
    state.features = x;
    return run_step(LayerInput<Scalar>::of_features(state.features, state.batch), state);
  }

 private:
  Index checked(Index i) const {
    if (i < 0 || i >= size()) {
      throw value_error(detail::make_message("Sequential: layer index ", i, " is outside [0, ", size(), ")"));
    }
    return i;
  }

  // "lstm", then "lstm_1", "lstm_2", ... for further layers of the same type.
  std::string unique_name(const std::string& base) const {
    Index count = 0;
    for (const auto& layer : layers_) {
      if (detail::keras_layer_name(layer->type()) == base) ++count;
    }
    std::string name = count == 0 ? base : base + "_" + std::to_string(count);
    while (has_name(name)) name = base + "_" + std::to_string(++count);
    return name;
  }
  bool has_name(const std::string& name) const {
    for (const auto& existing : names_) {
      if (existing == name) return true;
    }
    return false;
  }

  void append_parameters(Layer<Scalar>& layer, const std::string& name) {
    for (Parameter<Scalar> p : layer.parameters()) {
      p.name = name + "/" + p.name;
      parameters_.push_back(std::move(p));
    }
  }

  void rebuild_parameters() {
    parameters_.clear();
    for (size_t i = 0; i < layers_.size(); ++i) append_parameters(*layers_[i], names_[i]);
  }

  void copy_layers_from(const Sequential& other) {
    for (const auto& layer : other.layers_) layers_.push_back(layer->clone());
    names_ = other.names_;
    rebuild_parameters();
  }

  // Runs layers [0, count) from `input` (continuing from `state` when given, which then
  // receives each layer's final state) and returns the output of the last of them.
  const Matrix<Scalar>& run_forward(LayerInput<Scalar> input, const LayerContext& context, State* state,
                                    size_t count) {
    if (layers_.empty()) throw value_error("Sequential::forward: the model has no layers");
    if (!initialized_) {
      throw value_error(
          "Sequential::forward: the weights were never initialised; call initialize(rng) (or load a model "
          "file) first");
    }
    if (state != nullptr) {
      check_state("Sequential::forward", *state);
      if (state->batch != input.batch) {
        throw shape_error(detail::make_message("Sequential::forward: the state holds ", state->batch,
                                               " sequences, the input ", input.batch));
      }
    }
    has_forward_ = false;
    const Matrix<Scalar>* output = nullptr;
    for (size_t i = 0; i < count; ++i) {
      const LayerState* initial = state != nullptr ? state->layers[i].get() : nullptr;
      output = &layers_[i]->forward(input, context, initial);
      if (state != nullptr) layers_[i]->copy_final_state(*state->layers[i]);
      input.features = output;
      input.tokens = TokenView();
      if (!layers_[i]->keeps_time_axis()) input.steps = 1;
    }
    has_forward_ = true;
    forward_count_ = count;
    output_steps_ = input.steps;
    return *output;
  }

  const Matrix<Scalar>& run_step(LayerInput<Scalar> input, State& state) const {
    if (!initialized_) {
      throw value_error(
          "Sequential::step: the weights were never initialised; call initialize(rng) (or load a model file) "
          "first");
    }
    for (size_t i = 0; i < layers_.size(); ++i) {
      layers_[i]->step(input, *state.layers[i], state.outputs[i]);
      input.features = &state.outputs[i];
      input.tokens = TokenView();
    }
    return state.outputs.back();
  }

  void check_state(const char* where, const State& state) const {
    if (layers_.empty()) throw value_error(detail::make_message(where, ": the model has no layers"));
    if (state.layers.size() != layers_.size() || state.outputs.size() != layers_.size() || state.batch <= 0) {
      throw value_error(detail::make_message(where, ": the state was not made by this model's make_state()"));
    }
  }

  InputSpec input_;
  std::vector<std::unique_ptr<Layer<Scalar>>> layers_;
  std::vector<std::string> names_;
  ParameterList<Scalar> parameters_;  // cached: pointers into the layers, names prefixed

  bool initialized_ = false;

  // The last full-sequence pass: whether it completed, through how many layers, its output steps.
  bool has_forward_ = false;
  size_t forward_count_ = 0;
  Index output_steps_ = 0;
  Matrix<Scalar> features_;  // a feature model's input, copied (layers read a Matrix)
};

}  // namespace seqlm
