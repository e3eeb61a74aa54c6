// Sequential: a language model as a stack of layers, Keras-style.
//
//   Sequential<float> model(InputSpec::token_ids(57));
//   model.add(layers::lstm<float>(57, 128));          // "lstm"
//   model.add(layers::dense<float>(128, 57));         // "dense": logits over the 57 characters
//   model.initialize(rng);
//   std::cout << model.summary(40);                   // "Total params: 102,585"
//   CrossEntropyResult r = model.train_step(batch, {true, &rng});   // forward + loss + backward
//
// Shapes (time-major, column t*B + b = step t of sequence b):
//   input    token ids T*B (TokenView) or features F x T*B
//   layer i  output_size_i x T*B, or output_size_i x B after a recurrent layer without
//            return_sequences dropped the time axis (the layers after it see steps == 1)
//   logits   V x T*B (output_keeps_time_axis(): a prediction at every step) or V x B (last step)
//
// Streaming inference (make_step_state + step) pushes one token of B sequences through every
// layer's step(): O(1) work per token, and at every step the logits equal those of a full
// forward over the prefix read so far. See docs/models.md.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "../data/batching.hpp"
#include "../error.hpp"
#include "../io/json.hpp"
#include "../loss.hpp"
#include "../parameter.hpp"
#include "../random.hpp"
#include "../tensor.hpp"
#include "../io/utf8.hpp"
#include "layer.hpp"

namespace seqlm {

// What the model reads: token ids from a vocabulary, or feature vectors of a fixed size.
struct InputSpec {
  bool tokens = true;
  Index size = 0;  // vocabulary size, or the number of features
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

// Keras's name of a layer type: "Conv1D" -> "conv1d".
inline std::string keras_layer_name(const std::string& type) { return to_lower(type, LowerCase::ascii); }

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

  // Deep copy: every layer is cloned (weights; caches and gradients start empty).
  Sequential(const Sequential& other) : input_(other.input_) { copy_layers_from(other); }
  Sequential& operator=(const Sequential& other) {
    if (this != &other) {
      input_ = other.input_;
      layers_.clear();
      names_.clear();
      parameters_.clear();
      copy_layers_from(other);
    }
    return *this;
  }
  Sequential(Sequential&&) = default;
  Sequential& operator=(Sequential&&) = default;

  // Appends a layer. shape_error when it cannot read what the previous layer (or the input)
  // produces: token ids vs dense, input_size vs the previous output size, or a recurrent /
  // convolution layer after the time axis was dropped. Returns *this so calls chain.
  Sequential& add(std::unique_ptr<Layer<Scalar>> layer) {
    if (layer == nullptr) throw value_error("Sequential::add: null layer");
    const std::string where =
        detail::make_message("Sequential::add: layer ", layers_.size(), " (", layer->type(), ")");
    const bool reads_tokens = layers_.empty() && input_.tokens;
    const Index incoming = layers_.empty() ? input_.size : layers_.back()->output_size();
    if (auto* dropout = dynamic_cast<DropoutLayer<Scalar>*>(layer.get())) {
      if (reads_tokens) throw shape_error(where + " cannot read token ids");
      dropout->set_size(incoming);
    }
    if (reads_tokens && !layer->accepts_tokens()) {
      throw shape_error(where + " cannot read token ids; start with Embedding, LSTM or GRU");
    }
    if (!reads_tokens && !layer->accepts_dense()) {
      throw shape_error(where + " reads token ids only, but its input is a dense matrix");
    }
    if (layer->input_size() != incoming) {
      throw shape_error(detail::make_message(where, " has input size ", layer->input_size(), ", expected ",
                                             incoming, reads_tokens ? " (the vocabulary size)" : ""));
    }
    if (!output_keeps_time_axis() && layer->needs_time_axis()) {
      throw shape_error(where +
                        " needs a time axis, but the previous recurrent layer dropped it"
                        " (set return_sequences on it)");
    }
    names_.push_back(unique_name(detail::keras_layer_name(layer->type())));
    append_parameters(*layer, names_.back());
    layers_.push_back(std::move(layer));
    return *this;
  }

  Index size() const { return static_cast<Index>(layers_.size()); }
  Layer<Scalar>& layer(Index i) { return *layers_.at(checked(i)); }
  const Layer<Scalar>& layer(Index i) const { return *layers_.at(checked(i)); }
  // Keras-like unique names: "lstm", "lstm_1", "dense".
  const std::string& layer_name(Index i) const { return names_.at(checked(i)); }
  const InputSpec& input_spec() const { return input_; }

  // The vocabulary of the logits (the last layer's output size).
  Index output_size() const { return layers_.empty() ? input_.size : layers_.back()->output_size(); }
  // True when the logits have a column per step (loss at every step), false when a recurrent
  // layer without return_sequences reduced them to the last step.
  bool output_keeps_time_axis() const {
    for (const auto& layer : layers_) {
      if (!layer->keeps_time_axis()) return false;
    }
    return true;
  }

  // Keras's default initialisers, layer by layer in order from one generator.
  void initialize(Rng& rng) {
    for (auto& layer : layers_) layer->initialize(rng);
  }

  // Every weight with its gradient, named "<layer name>/<param name>" ("lstm/kernel"), in
  // layer order. The pointers stay valid as long as the model lives.
  ParameterList<Scalar> parameters() { return parameters_; }
  Index parameter_count() const { return count_parameters(parameters_); }

  // A Keras-like table: name (type), output shape with "None" for the batch (and for the
  // length when sequence_length == 0), parameter count, then "Total params: 102,585".
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

  // ---- full-sequence passes ------------------------------------------------------------------------

  // Token-id input (InputSpec::token_ids): tokens.steps x tokens.batch ids, time-major.
  // Returns the logits, V x T*B or V x B (see output_keeps_time_axis()).
  const Matrix<Scalar>& forward(const TokenView& tokens, const LayerContext& context) {
    if (!input_.tokens) throw value_error("Sequential::forward: the model reads features, not token ids");
    return run_forward(token_input(tokens), context);
  }

  // Feature input (InputSpec::features): x is F x T*B, time-major.
  const Matrix<Scalar>& forward(ConstMatrixRef<Scalar> x, Index batch, const LayerContext& context) {
    if (input_.tokens) throw value_error("Sequential::forward: the model reads token ids, not features");
    detail::check_rows("Sequential", "input", x.rows(), input_.size);
    const Index steps = detail::steps_of("Sequential", x.cols(), batch);
    features_ = x;  // a layer reads a Matrix; no allocation once the shape is known
    LayerInput<Scalar> input;
    input.dense = &features_;
    input.steps = steps;
    input.batch = batch;
    return run_forward(input, context);
  }

  // Backpropagates dL/dlogits (the shape of the last forward's logits) through every layer,
  // ACCUMULATING parameter gradients. context.truncate limits BPTT in the recurrent layers.
  void backward(const Matrix<Scalar>& d_logits, const LayerContext& context) {
    if (!has_forward_) throw value_error("Sequential::backward: called before forward()");
    backward_from(layers_.size() - 1, d_logits, context);
  }

  // ---- one batch ---------------------------------------------------------------------------------------

  // Forward, fused softmax cross-entropy with the batch's weights, and (when context.training)
  // zeroed gradients + backward. Targets are time-major: target_steps x batch. With a time axis
  // the model predicts every step (target_steps == steps) or, when target_steps == 1, only the
  // last step counts; without one, target_steps must be 1.
  //
  // When the last layer is Dense and some of the scored positions have weight 0 (padding: the
  // headline model's masked prefixes), the Dense layer and the loss run only on the positions
  // that count -- the same loss and gradients without the work of the ignored columns.
  CrossEntropyResult train_step(const Batch& batch, const LayerContext& context) {
    if (select_counted_columns(batch)) return train_step_on_counted_columns(batch, context);
    const Matrix<Scalar>& logits = forward(batch.input_view(), context);
    const bool last_step_only = select_scored_logits(batch);
    load_weights(batch);
    const TokenView targets = batch.target_view();
    if (!context.training)
      return cross_entropy(scored_logits(logits, batch, last_step_only), targets, weights_);
    zero_gradients(parameters_);
    const CrossEntropyResult result =
        loss_.forward(scored_logits(logits, batch, last_step_only), targets, weights_);
    if (last_step_only) {
      // Only the last B columns were scored: the other steps get a zero gradient.
      d_logits_.resize(logits.rows(), logits.cols());
      d_logits_.leftCols(logits.cols() - batch.batch).setZero();
      d_logits_.rightCols(batch.batch) = loss_.logits_gradient();
      backward(d_logits_, context);
    } else {
      backward(loss_.logits_gradient(), context);
    }
    return result;
  }

  // Forward (inference: no dropout) and the loss/accuracy of one batch; no gradients.
  CrossEntropyResult evaluate_batch(const Batch& batch) { return train_step(batch, LayerContext{}); }

  // ---- streaming inference ---------------------------------------------------------------------------

  // The state of B independent streams: every layer's LayerStepState and output buffer.
  struct StepState {
    std::vector<std::unique_ptr<LayerStepState>> layers;
    std::vector<Matrix<Scalar>> outputs;  // layer i's output of the last step; back() = logits (V x B)
    Matrix<Scalar> features;              // the input of a feature model's step
    Index batch = 0;
  };

  StepState make_step_state(Index batch) const {
    detail::check_positive("Sequential::make_step_state", "batch size", batch);
    StepState state;
    state.batch = batch;
    for (const auto& layer : layers_) {
      state.layers.push_back(layer->make_step_state(batch));
      state.outputs.emplace_back(layer->output_size(), batch);
    }
    return state;
  }

  // Feeds one token id of each of the B streams (ids[b]) and returns the logits V x B of the
  // next token. O(1) work per token; allocates nothing.
  const Matrix<Scalar>& step(const TokenId* ids, StepState& state) const {
    if (!input_.tokens) throw value_error("Sequential::step: the model reads features, not token ids");
    if (ids == nullptr) throw value_error("Sequential::step: ids is null");
    check_step_state(state);
    LayerInput<Scalar> input;
    input.tokens = TokenView(ids, 1, state.batch);
    input.steps = 1;
    input.batch = state.batch;
    return run_step(input, state);
  }

  // The same for a feature model: x is F x B.
  const Matrix<Scalar>& step(ConstMatrixRef<Scalar> x, StepState& state) const {
    if (input_.tokens) throw value_error("Sequential::step: the model reads token ids, not features");
    check_step_state(state);
    detail::check_shape("Sequential::step", "input", x, input_.size, state.batch);
    state.features = x;
    LayerInput<Scalar> input;
    input.dense = &state.features;
    input.steps = 1;
    input.batch = state.batch;
    return run_step(input, state);
  }

  // ---- architecture as JSON ----------------------------------------------------------------------------

  // {"format": "seqlm.sequential", "input": {"kind": "token_ids"|"features", "size": N},
  //  "layers": [{"type": "LSTM", "name": "lstm", "config": {...}}, ...]}
  json::Value architecture() const {
    json::Value layer_list = json::Value::array();
    for (size_t i = 0; i < layers_.size(); ++i) {
      layer_list.push_back(json::Value::object()
                               .set("type", layers_[i]->type())
                               .set("name", names_[i])
                               .set("config", layers_[i]->config()));
    }
    return json::Value::object()
        .set("format", architecture_format)
        .set("input", json::Value::object()
                          .set("kind", input_.tokens ? "token_ids" : "features")
                          .set("size", input_.size))
        .set("layers", std::move(layer_list));
  }

  // Rebuilds an (uninitialised) model from architecture(). Anything invalid -- wrong format,
  // unknown layer type, missing or bad field, sizes that do not chain, duplicate names -- is a
  // file_error, since architectures come from model files.
  // Refuses (file_error) a model of more than `max_parameters` parameters before building it all.
  static Sequential from_architecture(const json::Value& architecture,
                                      Index max_parameters = max_architecture_parameters) {
    try {
      return build_from_architecture(architecture, max_parameters);
    } catch (const file_error&) {
      throw;
    } catch (const error& e) {
      throw file_error(std::string("model architecture: ") + e.what());
    }
  }

  static constexpr const char* architecture_format = "seqlm.sequential";
  // The largest model from_architecture() builds: 2^29 parameters (2 GiB of floats).
  static constexpr Index max_architecture_parameters = Index{1} << 29;

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

  // What the first layer of a token model reads: the ids, steps x batch.
  static LayerInput<Scalar> token_input(const TokenView& tokens) {
    LayerInput<Scalar> input;
    input.tokens = tokens;
    input.steps = tokens.steps;
    input.batch = tokens.batch;
    return input;
  }

  const Matrix<Scalar>& run_forward(LayerInput<Scalar> input, const LayerContext& context) {
    if (layers_.empty()) throw value_error("Sequential::forward: the model has no layers");
    has_forward_ = false;
    const Matrix<Scalar>& output = run_layers(input, context, layers_.size());
    has_forward_ = true;
    output_steps_ = input.steps;
    return output;
  }

  // Runs layers [0, count), count >= 1, and returns the output of the last of them; `input`
  // becomes the input of layer `count`.
  const Matrix<Scalar>& run_layers(LayerInput<Scalar>& input, const LayerContext& context, size_t count) {
    const Matrix<Scalar>* output = nullptr;
    for (size_t i = 0; i < count; ++i) {
      output = &layers_[i]->forward(input, context);
      input.dense = output;
      input.tokens = TokenView();
      if (!layers_[i]->keeps_time_axis()) input.steps = 1;
    }
    return *output;
  }

  // Backpropagates dL/d(output of layer `last`) through layers last, ..., 0.
  void backward_from(size_t last, const Matrix<Scalar>& d_output, const LayerContext& context) {
    const Matrix<Scalar>* gradient = &d_output;
    for (size_t i = last + 1; i-- > 0;) {
      layers_[i]->backward(*gradient, context);
      if (i == 0) break;
      gradient = layers_[i]->input_gradient();
      if (gradient == nullptr) {
        throw value_error(
            detail::make_message("Sequential::backward: layer ", names_[i], " has no input gradient"));
      }
    }
  }

  // ---- the counted-columns path of train_step ----------------------------------------------------------
  //
  // With the scored logits Z (V x N) = W F + b of a last Dense layer on features F, the loss
  // sum_n w_n loss_n(Z[:, n]) / sum_n w_n does not depend on the columns with w_n = 0, and
  // their gradient is zero. So train_step gathers the M counted columns of F (M < N), runs the
  // Dense layer and the loss on those, and scatters the Dense layer's input gradient back into
  // an F-shaped matrix that is zero elsewhere:
  //   forward:  F = layers[0 .. L-2](x);  Fc = F(:, counted)  (width x M);  Zc = W Fc + b
  //   backward: dFc = W^T dZc;  dF = 0, dF(:, counted) = dFc;  layers[L-2 .. 0] backward from dF
  // The loss, accuracy and every gradient are those of the full computation (the sums run over
  // the same counted terms; the order of the columns is kept).

  // True when the counted-columns path applies to `batch`: the last of at least two layers is
  // Dense and the counted positions (nonzero weight, among the scored ones) are neither none
  // nor all of the logits' columns. Fills counted_columns_ with their logits column indices.
  bool select_counted_columns(const Batch& batch) {
    if (layers_.size() < 2 || dynamic_cast<DenseLayer<Scalar>*>(layers_.back().get()) == nullptr)
      return false;
    if (!input_.tokens || batch.batch <= 0 || batch.steps <= 0) return false;  // train_step's checks decide
    const Index logits_columns = (output_keeps_time_axis() ? batch.steps : 1) * batch.batch;
    const Index scored = batch.target_steps * batch.batch;
    if (scored > logits_columns || static_cast<Index>(batch.weights.size()) != scored) return false;
    const Index first = logits_columns - scored;  // the last step only, or every column
    counted_columns_.clear();
    for (Index k = 0; k < scored; ++k) {
      if (batch.weights[static_cast<size_t>(k)] != 0.0f) counted_columns_.push_back(first + k);
    }
    const Index counted = static_cast<Index>(counted_columns_.size());
    return counted > 0 && counted < logits_columns;
  }

  CrossEntropyResult train_step_on_counted_columns(const Batch& batch, const LayerContext& context) {
    LayerInput<Scalar> input = token_input(batch.input_view());
    has_forward_ = false;  // the last layer sees only the counted columns: backward() would not match
    const size_t last = layers_.size() - 1;
    const Matrix<Scalar>& features = run_layers(input, context, last);
    output_steps_ = input.steps;  // Dense keeps the time axis
    select_scored_logits(batch);  // checks the target shape; select_counted_columns took the scored columns
    load_weights(batch);

    // The same checks and messages as the loss over all scored columns.
    const Index vocabulary_size = layers_.back()->output_size();
    const Index scored = batch.target_steps * batch.batch;
    const char* where = context.training ? "SoftmaxCrossEntropy" : "cross_entropy";
    detail::checked_total_weight<Scalar>(where, vocabulary_size, scored, batch.target_view(), weights_.data(),
                                         weights_.size());

    // Gather the counted columns, their targets and weights.
    const Index counted = static_cast<Index>(counted_columns_.size());
    const Index first = features.cols() - scored;
    counted_features_.resize(features.rows(), counted);
    counted_targets_.resize(static_cast<size_t>(counted));
    counted_weights_.resize(counted);
    for (Index j = 0; j < counted; ++j) {
      const Index column = counted_columns_[static_cast<size_t>(j)];
      counted_features_.col(j) = features.col(column);
      counted_targets_[static_cast<size_t>(j)] = batch.targets[static_cast<size_t>(column - first)];
      counted_weights_[j] = weights_[column - first];
    }
    LayerInput<Scalar> dense_input;
    dense_input.dense = &counted_features_;
    dense_input.steps = 1;
    dense_input.batch = counted;
    const Matrix<Scalar>& logits = layers_.back()->forward(dense_input, context);
    const TokenView targets(counted_targets_.data(), 1, counted);
    if (!context.training) return cross_entropy(logits, targets, counted_weights_);

    zero_gradients(parameters_);
    const CrossEntropyResult result = loss_.forward(logits, targets, counted_weights_);
    layers_.back()->backward(loss_.logits_gradient(), context);
    const Matrix<Scalar>& d_counted = *layers_.back()->input_gradient();
    d_features_.setZero(features.rows(), features.cols());
    for (Index j = 0; j < counted; ++j)
      d_features_.col(counted_columns_[static_cast<size_t>(j)]) = d_counted.col(j);
    backward_from(last - 1, d_features_, context);
    return result;
  }

  const Matrix<Scalar>& run_step(LayerInput<Scalar> input, StepState& state) const {
    for (size_t i = 0; i < layers_.size(); ++i) {
      layers_[i]->step(input, *state.layers[i], state.outputs[i]);
      input.dense = &state.outputs[i];
      input.tokens = TokenView();
    }
    return state.outputs.back();
  }

  void check_step_state(const StepState& state) const {
    if (layers_.empty()) throw value_error("Sequential::step: the model has no layers");
    if (state.layers.size() != layers_.size() || state.outputs.size() != layers_.size() || state.batch <= 0) {
      throw value_error("Sequential::step: the state was not made by this model's make_step_state()");
    }
  }

  // Checks the batch's target shape against the logits; true when only the last step is scored.
  bool select_scored_logits(const Batch& batch) const {
    const Index B = batch.batch;
    if (batch.target_steps == output_steps_) return false;
    if (batch.target_steps == 1 && output_steps_ > 1) return true;
    throw shape_error(detail::make_message("Sequential::train_step: the batch has ", batch.target_steps,
                                           " target steps, the model predicts ", output_steps_, " steps of ",
                                           B, " sequences (expected ", output_steps_, " or 1)"));
  }
  // The scored columns: all of them, or the last step's B.
  static auto scored_logits(const Matrix<Scalar>& logits, const Batch& batch, bool last_step_only) {
    const Index first = last_step_only ? logits.cols() - batch.batch : 0;
    return logits.middleCols(first, logits.cols() - first);
  }

  void load_weights(const Batch& batch) {
    const Index n = batch.target_steps * batch.batch;
    if (static_cast<Index>(batch.weights.size()) != n) {
      throw shape_error(detail::make_message("Sequential::train_step: the batch has ", batch.weights.size(),
                                             " weights, expected ", n, " (target_steps x batch)"));
    }
    if (weights_.size() != n) weights_.resize(n);
    for (Index k = 0; k < n; ++k) weights_[k] = static_cast<Scalar>(batch.weights[static_cast<size_t>(k)]);
  }

  static Sequential build_from_architecture(const json::Value& architecture, Index max_parameters) {
    if (!architecture.is_object()) throw file_error("model architecture: expected a JSON object");
    if (!architecture.contains("format") || !architecture.at("format").is_string() ||
        architecture.get_string("format") != architecture_format) {
      throw file_error(
          detail::make_message("model architecture: field \"format\" must be \"", architecture_format, "\""));
    }
    const json::Value& input = architecture.get_object("input");
    const std::string& kind = input.get_string("kind");
    if (kind != "token_ids" && kind != "features") {
      throw file_error("model architecture: input kind must be \"token_ids\" or \"features\", got \"" + kind +
                       "\"");
    }
    if (!input.at("size").is_integer() || input.get_int64("size") <= 0 ||
        input.get_int64("size") > detail::LayerConfigReader::max_size) {
      throw file_error(detail::make_message("model architecture: input size must be an integer in [1, ",
                                            detail::LayerConfigReader::max_size, "]"));
    }
    const Index input_size = static_cast<Index>(input.get_int64("size"));
    Sequential model(kind == "token_ids" ? InputSpec::token_ids(input_size)
                                         : InputSpec::features(input_size));
    const json::Value::Array& layer_list = architecture.get_array("layers");
    if (layer_list.empty()) throw file_error("model architecture: no layers");
    for (size_t i = 0; i < layer_list.size(); ++i) {
      const json::Value& entry = layer_list[i];
      const std::string where = detail::make_message("model architecture: layer ", i);
      if (!entry.is_object()) throw file_error(where + ": expected a JSON object");
      model.add(make_layer<Scalar>(entry.get_string("type"), entry.get_object("config")));
      // make_layer caps each layer at 2^28 weights; cap the whole model too, so that a file
      // stacking many huge layers cannot exhaust memory while it is being loaded.
      if (model.parameter_count() > max_parameters) {
        throw file_error(
            detail::make_message(where, ": the model would have more than ", max_parameters, " parameters"));
      }
      if (entry.contains("name")) {
        const std::string& name = entry.get_string("name");
        model.names_.pop_back();
        if (name.empty() || name.find('/') != std::string::npos || model.has_name(name)) {
          throw file_error(where + ": name \"" + name + "\" is empty, contains '/' or is not unique");
        }
        model.names_.push_back(name);
      }
    }
    model.rebuild_parameters();
    return model;
  }

  InputSpec input_;
  std::vector<std::unique_ptr<Layer<Scalar>>> layers_;
  std::vector<std::string> names_;
  ParameterList<Scalar> parameters_;  // cached: pointers into the layers, names prefixed

  // Buffers of the full-sequence passes, reused from batch to batch.
  bool has_forward_ = false;
  Index output_steps_ = 0;
  Matrix<Scalar> features_;
  Vector<Scalar> weights_;
  Matrix<Scalar> d_logits_;
  SoftmaxCrossEntropy<Scalar> loss_;
  // The counted-columns path: logits columns that count, and the gathered features, targets
  // and weights of those columns; the features' gradient scattered back.
  std::vector<Index> counted_columns_;
  Matrix<Scalar> counted_features_;
  std::vector<TokenId> counted_targets_;
  Vector<Scalar> counted_weights_;
  Matrix<Scalar> d_features_;
};

}  // namespace seqlm
