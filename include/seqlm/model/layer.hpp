// Layer: the runtime-polymorphic face of one seqlm layer, so that a model can be a list of
// layers chosen at run time (read from a model file) instead of a fixed C++ type.
//
// The concrete layers in include/seqlm/layers/ stay plain class templates with their own
// forward/backward/step signatures. This header wraps each in a small adapter that speaks
// one common language:
//
//   LayerInput   what flows into a layer: token ids (TokenView, time-major) or a dense
//                matrix (features x T*B, or features x B once a recurrent layer without
//                return_sequences dropped the time axis: then steps == 1)
//   forward      full-sequence pass, caches what backward needs, returns the output
//   backward     accumulates parameter gradients, computes input_gradient()
//   step         streaming inference: one time step of B sequences, state owned by the caller
//   config       the constructor arguments as JSON, so make_layer() can rebuild the layer
//
//   adapter            wraps        accepts            output                 time axis
//   EmbeddingLayer     Embedding    token ids          D x T*B                kept
//   LSTMLayer          LSTM         ids or dense       H x T*B (or H x B)     kept iff return_sequences
//   GRULayer           GRU          ids or dense       H x T*B (or H x B)     kept iff return_sequences
//   Conv1DLayer        Conv1D       dense              filters x T*B          kept (causal)
//   DropoutLayer       Dropout      dense              same as input          kept (identity at inference)
//   DenseLayer         Dense        dense              units x columns        kept (applied per column)
//
// See docs/models.md.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "../error.hpp"
#include "../io/json.hpp"
#include "../layers/conv1d.hpp"
#include "../layers/dense.hpp"
#include "../layers/dropout.hpp"
#include "../layers/embedding.hpp"
#include "../layers/gru.hpp"
#include "../layers/lstm.hpp"
#include "../parameter.hpp"
#include "../random.hpp"
#include "../tensor.hpp"

namespace seqlm {

// What a layer receives: token ids (dense == nullptr) or a dense matrix whose columns are
// time-major (steps * batch columns; steps == 1 after the time axis was dropped).
template <class Scalar>
struct LayerInput {
  const Matrix<Scalar>* dense = nullptr;  // null => tokens
  TokenView tokens;
  Index steps = 0, batch = 0;
  bool is_tokens() const { return dense == nullptr; }
};

// How a pass runs. training: dropout masks are drawn (from rng). truncate: TBPTT length for
// the recurrent layers' backward (0 = full backpropagation through time).
struct LayerContext {
  bool training = false;
  Rng* rng = nullptr;
  Index truncate = 0;
};

// A layer's streaming state (recurrent h/c, a convolution's ring buffer); each adapter
// derives its own. Made by Layer::make_step_state, passed back to Layer::step.
struct LayerStepState {
  virtual ~LayerStepState() = default;
};

template <class Scalar>
class Layer {
 public:
  virtual ~Layer() = default;

  // A deep copy of the layer's configuration and weights (not its caches or gradients).
  virtual std::unique_ptr<Layer> clone() const = 0;
  // "Embedding", "LSTM", "GRU", "Conv1D", "Dropout" or "Dense".
  virtual std::string type() const = 0;
  // The constructor arguments and options as a JSON object: make_layer(type(), config())
  // builds an identical (uninitialised) layer.
  virtual json::Value config() const = 0;

  virtual bool accepts_tokens() const = 0;
  // False only for Embedding (token ids only).
  virtual bool accepts_dense() const { return true; }
  // True for layers that look along time (recurrent, convolution): they cannot follow a layer
  // that dropped the time axis.
  virtual bool needs_time_axis() const { return false; }
  virtual Index input_size() const = 0;  // features, or the vocabulary size for token input
  virtual Index output_size() const = 0;
  virtual bool keeps_time_axis() const = 0;  // false only for recurrent layers without return_sequences

  virtual void initialize(Rng&) = 0;
  // Name (the layer's own, e.g. "kernel"), value and gradient of every weight, fixed order.
  virtual ParameterList<Scalar> parameters() = 0;
  Index parameter_count() const { return count_parameters(const_cast<Layer*>(this)->parameters()); }

  virtual const Matrix<Scalar>& forward(const LayerInput<Scalar>& input, const LayerContext& context) = 0;
  // d_output has the shape of the last forward's output; gradients are ACCUMULATED.
  virtual void backward(const Matrix<Scalar>& d_output, const LayerContext& context) = 0;
  // dL/dinput of the last backward (shape of the dense input), or null when the input was token ids.
  virtual const Matrix<Scalar>* input_gradient() const = 0;

  // Streaming: a fresh state for `batch` sequences, then one step at a time. out is resized to
  // (output_size x batch) when needed.
  virtual std::unique_ptr<LayerStepState> make_step_state(Index batch) const = 0;
  virtual void step(const LayerInput<Scalar>& one_step, LayerStepState& state, Matrix<Scalar>& out) const = 0;
};

namespace detail {

// Copies every parameter value of `from` into `to` (same layer type and configuration).
template <class Scalar>
void copy_parameter_values(const Layer<Scalar>& from, Layer<Scalar>& to) {
  const ParameterList<Scalar> source = const_cast<Layer<Scalar>&>(from).parameters();
  const ParameterList<Scalar> target = to.parameters();
  for (size_t k = 0; k < source.size(); ++k) *target[k].value = *source[k].value;
}

// The adapter's own step state, or a value_error naming the layer when `state` is another kind.
template <class State>
State& cast_step_state(const char* where, LayerStepState& state) {
  State* own = dynamic_cast<State*>(&state);
  if (own == nullptr) {
    throw value_error(make_message(where, " step: the state was made by a different layer"));
  }
  return *own;
}

template <class Scalar>
const Matrix<Scalar>& dense_input(const char* where, const LayerInput<Scalar>& input) {
  if (input.is_tokens()) throw value_error(make_message(where, ": expects a dense input, got token ids"));
  return *input.dense;
}

inline void check_step_batch(const char* where, Index batch, Index state_batch) {
  if (batch != state_batch) {
    throw shape_error(
        make_message(where, " step: input has ", batch, " sequences, the state was made for ", state_batch));
  }
}

}  // namespace detail

// ---- Embedding: token ids -> D x T*B ------------------------------------------------------------

template <class Scalar>
class EmbeddingLayer final : public Layer<Scalar> {
 public:
  EmbeddingLayer(Index vocabulary_size, Index dimension) : layer_(vocabulary_size, dimension) {}

  std::unique_ptr<Layer<Scalar>> clone() const override {
    auto copy = std::make_unique<EmbeddingLayer>(layer_.vocabulary_size(), layer_.dim());
    detail::copy_parameter_values<Scalar>(*this, *copy);
    return copy;
  }
  std::string type() const override { return "Embedding"; }
  json::Value config() const override {
    return json::Value::object()
        .set("vocabulary_size", layer_.vocabulary_size())
        .set("dimension", layer_.dim());
  }
  bool accepts_tokens() const override { return true; }
  bool accepts_dense() const override { return false; }
  Index input_size() const override { return layer_.vocabulary_size(); }
  Index output_size() const override { return layer_.dim(); }
  bool keeps_time_axis() const override { return true; }
  void initialize(Rng& rng) override { layer_.initialize(rng); }
  ParameterList<Scalar> parameters() override { return layer_.parameters(); }

  const Matrix<Scalar>& forward(const LayerInput<Scalar>& input, const LayerContext&) override {
    if (!input.is_tokens()) throw value_error("Embedding: expects token ids, got a dense input");
    return layer_.forward(input.tokens);
  }
  void backward(const Matrix<Scalar>& d_output, const LayerContext&) override { layer_.backward(d_output); }
  const Matrix<Scalar>* input_gradient() const override { return nullptr; }

  struct StepState final : LayerStepState {
    Index batch = 0;
  };
  std::unique_ptr<LayerStepState> make_step_state(Index batch) const override {
    detail::check_positive("Embedding step", "batch size", batch);
    auto state = std::make_unique<StepState>();
    state->batch = batch;
    return state;
  }
  void step(const LayerInput<Scalar>& input, LayerStepState& state, Matrix<Scalar>& out) const override {
    const Index batch = detail::cast_step_state<StepState>("Embedding", state).batch;
    if (!input.is_tokens()) throw value_error("Embedding step: expects token ids, got a dense input");
    detail::check_step_batch("Embedding", input.batch, batch);
    if (out.rows() != layer_.dim() || out.cols() != batch) out.resize(layer_.dim(), batch);
    layer_.step(input.tokens.ids, batch, out);
  }

  Embedding<Scalar>& layer() { return layer_; }
  const Embedding<Scalar>& layer() const { return layer_; }

 private:
  Embedding<Scalar> layer_;
};

// ---- LSTM and GRU: one adapter for both recurrent layers ----------------------------------------

// Shared code of LSTMLayer and GRULayer; Recurrent is LSTM<Scalar> or GRU<Scalar>, whose
// forward/backward/step signatures agree.
template <class Scalar, class Recurrent>
class RecurrentLayer : public Layer<Scalar> {
 public:
  RecurrentLayer(const char* name, Index input_size, Index units, typename Recurrent::Options options)
      : name_(name), layer_(input_size, units, options) {}

  bool accepts_tokens() const override { return true; }
  bool needs_time_axis() const override { return true; }
  Index input_size() const override { return layer_.input_size(); }
  Index output_size() const override { return layer_.units(); }
  bool keeps_time_axis() const override { return layer_.options().return_sequences; }
  void initialize(Rng& rng) override { layer_.initialize(rng); }
  ParameterList<Scalar> parameters() override { return layer_.parameters(); }

  // Token ids (one-hot meaning: a gather of kernel columns) or dense x (I x T*B).
  const Matrix<Scalar>& forward(const LayerInput<Scalar>& input, const LayerContext&) override {
    input_was_tokens_ = input.is_tokens();
    if (input_was_tokens_) return layer_.forward(input.tokens);
    return layer_.forward(*input.dense, input.batch);
  }
  void backward(const Matrix<Scalar>& d_output, const LayerContext& context) override {
    layer_.backward(d_output, nullptr, context.truncate);
  }
  const Matrix<Scalar>* input_gradient() const override {
    return input_was_tokens_ ? nullptr : &layer_.input_gradient();
  }

  struct StepState final : LayerStepState {
    typename Recurrent::StepState state;
  };
  std::unique_ptr<LayerStepState> make_step_state(Index batch) const override {
    auto state = std::make_unique<StepState>();
    state->state = layer_.make_step_state(batch);
    return state;
  }
  // out = h_t (units x B), whether or not the layer returns sequences: streaming always
  // produces the latest step.
  void step(const LayerInput<Scalar>& input, LayerStepState& state, Matrix<Scalar>& out) const override {
    auto& own = detail::cast_step_state<StepState>(name_, state).state;
    detail::check_step_batch(name_, input.batch, own.h.cols());
    if (input.is_tokens()) {
      layer_.step(input.tokens.ids, own);
    } else {
      layer_.step(*input.dense, own);
    }
    out = own.h;  // no allocation once out has the shape
  }

  Recurrent& layer() { return layer_; }
  const Recurrent& layer() const { return layer_; }

 protected:
  const char* name_;
  Recurrent layer_;
  bool input_was_tokens_ = false;
};

template <class Scalar>
class LSTMLayer final : public RecurrentLayer<Scalar, LSTM<Scalar>> {
  using Base = RecurrentLayer<Scalar, LSTM<Scalar>>;

 public:
  LSTMLayer(Index input_size, Index units, LSTMOptions options = {})
      : Base("LSTM", input_size, units, options) {}

  std::unique_ptr<Layer<Scalar>> clone() const override {
    auto copy = std::make_unique<LSTMLayer>(this->input_size(), this->output_size(), this->layer_.options());
    detail::copy_parameter_values<Scalar>(*this, *copy);
    return copy;
  }
  std::string type() const override { return "LSTM"; }
  json::Value config() const override {
    const LSTMOptions& options = this->layer_.options();
    return json::Value::object()
        .set("input_size", this->input_size())
        .set("units", this->output_size())
        .set("return_sequences", options.return_sequences)
        .set("unit_forget_bias", options.unit_forget_bias);
  }
};

template <class Scalar>
class GRULayer final : public RecurrentLayer<Scalar, GRU<Scalar>> {
  using Base = RecurrentLayer<Scalar, GRU<Scalar>>;

 public:
  GRULayer(Index input_size, Index units, GRUOptions options = {})
      : Base("GRU", input_size, units, options) {}

  std::unique_ptr<Layer<Scalar>> clone() const override {
    auto copy = std::make_unique<GRULayer>(this->input_size(), this->output_size(), this->layer_.options());
    detail::copy_parameter_values<Scalar>(*this, *copy);
    return copy;
  }
  std::string type() const override { return "GRU"; }
  json::Value config() const override {
    const GRUOptions& options = this->layer_.options();
    return json::Value::object()
        .set("input_size", this->input_size())
        .set("units", this->output_size())
        .set("return_sequences", options.return_sequences)
        .set("reset_after", options.reset_after);
  }
};

// ---- Conv1D: causal convolution, keeps the time axis --------------------------------------------

template <class Scalar>
class Conv1DLayer final : public Layer<Scalar> {
 public:
  Conv1DLayer(Index input_size, Index filters, Index kernel_size, Conv1DOptions options = {})
      : layer_(input_size, filters, kernel_size, options) {}

  std::unique_ptr<Layer<Scalar>> clone() const override {
    auto copy = std::make_unique<Conv1DLayer>(layer_.input_size(), layer_.filters(), layer_.kernel_size(),
                                              layer_.options());
    detail::copy_parameter_values<Scalar>(*this, *copy);
    return copy;
  }
  std::string type() const override { return "Conv1D"; }
  json::Value config() const override {
    const Conv1DOptions& options = layer_.options();
    return json::Value::object()
        .set("input_size", layer_.input_size())
        .set("filters", layer_.filters())
        .set("kernel_size", layer_.kernel_size())
        .set("dilation", options.dilation)
        .set("activation", options.activation == Activation::relu ? "relu" : "linear");
  }
  bool accepts_tokens() const override { return false; }
  bool needs_time_axis() const override { return true; }
  Index input_size() const override { return layer_.input_size(); }
  Index output_size() const override { return layer_.filters(); }
  bool keeps_time_axis() const override { return true; }
  void initialize(Rng& rng) override { layer_.initialize(rng); }
  ParameterList<Scalar> parameters() override { return layer_.parameters(); }

  const Matrix<Scalar>& forward(const LayerInput<Scalar>& input, const LayerContext&) override {
    return layer_.forward(detail::dense_input("Conv1D", input), input.batch);
  }
  void backward(const Matrix<Scalar>& d_output, const LayerContext&) override { layer_.backward(d_output); }
  const Matrix<Scalar>* input_gradient() const override { return &layer_.input_gradient(); }

  struct StepState final : LayerStepState {
    typename Conv1D<Scalar>::StepState state;  // ring buffer of the last (k-1)*d inputs
  };
  std::unique_ptr<LayerStepState> make_step_state(Index batch) const override {
    auto state = std::make_unique<StepState>();
    state->state = layer_.make_step_state(batch);
    return state;
  }
  void step(const LayerInput<Scalar>& input, LayerStepState& state, Matrix<Scalar>& out) const override {
    auto& own = detail::cast_step_state<StepState>("Conv1D", state).state;
    detail::check_step_batch("Conv1D", input.batch, own.batch);
    if (out.rows() != layer_.filters() || out.cols() != own.batch) out.resize(layer_.filters(), own.batch);
    layer_.step(detail::dense_input("Conv1D step", input), own, out);
  }

  Conv1D<Scalar>& layer() { return layer_; }
  const Conv1D<Scalar>& layer() const { return layer_; }

 private:
  Conv1D<Scalar> layer_;
};

// ---- Dropout: masks when training, identity otherwise ---------------------------------------------

template <class Scalar>
class DropoutLayer final : public Layer<Scalar> {
 public:
  // size: the number of features passing through (set by Sequential::add; 0 = not yet known).
  explicit DropoutLayer(double rate, Index size = 0) : layer_(rate), size_(size) {}

  std::unique_ptr<Layer<Scalar>> clone() const override {
    return std::make_unique<DropoutLayer>(layer_.rate(), size_);
  }
  std::string type() const override { return "Dropout"; }
  json::Value config() const override { return json::Value::object().set("rate", layer_.rate()); }
  bool accepts_tokens() const override { return false; }
  Index input_size() const override { return size_; }
  Index output_size() const override { return size_; }
  bool keeps_time_axis() const override { return true; }
  void initialize(Rng&) override {}
  ParameterList<Scalar> parameters() override { return {}; }

  // Dropout has no size of its own; Sequential tells it the size of what flows through.
  void set_size(Index size) { size_ = size; }

  // Training with rate > 0 draws the mask from context.rng (value_error when it is null).
  const Matrix<Scalar>& forward(const LayerInput<Scalar>& input, const LayerContext& context) override {
    const Matrix<Scalar>& x = detail::dense_input("Dropout", input);
    const bool masks = context.training && layer_.rate() > 0.0;
    if (masks && context.rng == nullptr) {
      throw value_error(
          "Dropout: training with rate > 0 needs a random generator (LayerContext::rng is null)");
    }
    return layer_.forward(x, masks, masks ? *context.rng : unused_rng_);
  }
  void backward(const Matrix<Scalar>& d_output, const LayerContext&) override { layer_.backward(d_output); }
  const Matrix<Scalar>* input_gradient() const override { return &layer_.input_gradient(); }

  struct StepState final : LayerStepState {
    Index batch = 0;
  };
  std::unique_ptr<LayerStepState> make_step_state(Index batch) const override {
    detail::check_positive("Dropout step", "batch size", batch);
    auto state = std::make_unique<StepState>();
    state->batch = batch;
    return state;
  }
  // Inference: the identity.
  void step(const LayerInput<Scalar>& input, LayerStepState& state, Matrix<Scalar>& out) const override {
    const Index batch = detail::cast_step_state<StepState>("Dropout", state).batch;
    detail::check_step_batch("Dropout", input.batch, batch);
    out = detail::dense_input("Dropout step", input);
  }

  Dropout<Scalar>& layer() { return layer_; }
  const Dropout<Scalar>& layer() const { return layer_; }

 private:
  Dropout<Scalar> layer_;
  Index size_;
  Rng unused_rng_;  // Dropout::forward wants an Rng even when it draws nothing
};

// ---- Dense: y = W x + b on every column -------------------------------------------------------------

template <class Scalar>
class DenseLayer final : public Layer<Scalar> {
 public:
  DenseLayer(Index input_size, Index units) : layer_(input_size, units) {}

  std::unique_ptr<Layer<Scalar>> clone() const override {
    auto copy = std::make_unique<DenseLayer>(layer_.input_size(), layer_.units());
    detail::copy_parameter_values<Scalar>(*this, *copy);
    return copy;
  }
  std::string type() const override { return "Dense"; }
  json::Value config() const override {
    return json::Value::object().set("input_size", layer_.input_size()).set("units", layer_.units());
  }
  bool accepts_tokens() const override { return false; }
  Index input_size() const override { return layer_.input_size(); }
  Index output_size() const override { return layer_.units(); }
  bool keeps_time_axis() const override { return true; }
  void initialize(Rng& rng) override { layer_.initialize(rng); }
  ParameterList<Scalar> parameters() override { return layer_.parameters(); }

  const Matrix<Scalar>& forward(const LayerInput<Scalar>& input, const LayerContext&) override {
    return layer_.forward(detail::dense_input("Dense", input));
  }
  void backward(const Matrix<Scalar>& d_output, const LayerContext&) override { layer_.backward(d_output); }
  const Matrix<Scalar>* input_gradient() const override { return &layer_.input_gradient(); }

  struct StepState final : LayerStepState {
    Index batch = 0;
  };
  std::unique_ptr<LayerStepState> make_step_state(Index batch) const override {
    detail::check_positive("Dense step", "batch size", batch);
    auto state = std::make_unique<StepState>();
    state->batch = batch;
    return state;
  }
  // out = W x + b (a matrix-vector product for one sequence).
  void step(const LayerInput<Scalar>& input, LayerStepState& state, Matrix<Scalar>& out) const override {
    const Index batch = detail::cast_step_state<StepState>("Dense", state).batch;
    detail::check_step_batch("Dense", input.batch, batch);
    if (out.rows() != layer_.units() || out.cols() != batch) out.resize(layer_.units(), batch);
    layer_.apply(detail::dense_input("Dense step", input), out);
  }

  Dense<Scalar>& layer() { return layer_; }
  const Dense<Scalar>& layer() const { return layer_; }

 private:
  Dense<Scalar> layer_;
};

// ---- builders -----------------------------------------------------------------------------------------

// model.add(layers::lstm<float>(57, 128, options)) and friends.
namespace layers {

template <class Scalar>
std::unique_ptr<Layer<Scalar>> embedding(Index vocabulary_size, Index dimension) {
  return std::make_unique<EmbeddingLayer<Scalar>>(vocabulary_size, dimension);
}
template <class Scalar>
std::unique_ptr<Layer<Scalar>> lstm(Index input_size, Index units, LSTMOptions options = {}) {
  return std::make_unique<LSTMLayer<Scalar>>(input_size, units, options);
}
template <class Scalar>
std::unique_ptr<Layer<Scalar>> gru(Index input_size, Index units, GRUOptions options = {}) {
  return std::make_unique<GRULayer<Scalar>>(input_size, units, options);
}
template <class Scalar>
std::unique_ptr<Layer<Scalar>> conv1d(Index input_size, Index filters, Index kernel_size,
                                      Conv1DOptions options = {}) {
  return std::make_unique<Conv1DLayer<Scalar>>(input_size, filters, kernel_size, options);
}
// The size is filled in by Sequential::add from the previous layer.
template <class Scalar>
std::unique_ptr<Layer<Scalar>> dropout(double rate) {
  return std::make_unique<DropoutLayer<Scalar>>(rate);
}
template <class Scalar>
std::unique_ptr<Layer<Scalar>> dense(Index input_size, Index units) {
  return std::make_unique<DenseLayer<Scalar>>(input_size, units);
}

}  // namespace layers

// ---- make_layer: rebuild a layer from type() and config() ----------------------------------------

namespace detail {

// Reads a layer configuration strictly: every field must be present with the right type and
// range, and no unknown field may appear. Every problem is a file_error naming the layer type
// and the field, because configurations come from model files.
class LayerConfigReader {
 public:
  // Sizes larger than this are refused (a hostile file could otherwise ask for terabytes).
  static constexpr std::int64_t max_size = std::int64_t{1} << 24;
  static constexpr double max_count = 268435456.0;  // 2^28

  LayerConfigReader(const std::string& type, const json::Value& config) : type_(type), config_(config) {
    if (!config.is_object()) {
      throw file_error(
          make_message("layer config of ", type, ": expected a JSON object, got ", config.type_name()));
    }
  }

  Index size(const char* field) {
    const json::Value& value = field_value(field);
    if (!value.is_integer()) fail(field, make_message("is not an integer (", value.dump(), ")"));
    const std::int64_t n = value.as_int64();
    if (n <= 0 || n > max_size)
      fail(field, make_message("is ", n, ", expected an integer in [1, ", max_size, "]"));
    return static_cast<Index>(n);
  }
  bool flag(const char* field) {
    const json::Value& value = field_value(field);
    if (!value.is_bool()) fail(field, make_message("is a ", value.type_name(), ", expected a boolean"));
    return value.as_bool();
  }
  double number(const char* field) {
    const json::Value& value = field_value(field);
    if (!value.is_number()) fail(field, make_message("is a ", value.type_name(), ", expected a number"));
    return value.as_double();
  }
  const std::string& text(const char* field) {
    const json::Value& value = field_value(field);
    if (!value.is_string()) fail(field, make_message("is a ", value.type_name(), ", expected a string"));
    return value.as_string();
  }
  // Refuses a layer whose weights (or streaming buffer) would hold more than 2^28 numbers,
  // before anything is allocated.
  void check_count(const char* what, double count) const {
    if (count > max_count) {
      throw file_error(make_message("layer config of ", type_, ": ", what, " would hold ", count,
                                    " numbers, more than the limit of 2^28"));
    }
  }
  [[noreturn]] void fail(const char* field, const std::string& problem) const {
    throw file_error(make_message("layer config of ", type_, ": field \"", field, "\" ", problem));
  }
  // Every member of the config must have been read (no unknown or misspelt fields).
  void finish() const {
    for (const auto& member : config_.as_object()) {
      if (member.first.empty() || !read(member.first)) {
        throw file_error(make_message("layer config of ", type_, ": unknown field \"", member.first, "\""));
      }
    }
  }

 private:
  const json::Value& field_value(const char* field) {
    const json::Value* value = config_.find(field);
    if (value == nullptr) fail(field, "is missing");
    read_.emplace_back(field);
    return *value;
  }
  bool read(const std::string& field) const {
    for (const auto& name : read_) {
      if (name == field) return true;
    }
    return false;
  }

  const std::string& type_;
  const json::Value& config_;
  std::vector<std::string> read_;
};

}  // namespace detail

// Builds an uninitialised layer of `type` from its config() (for Dropout the size is set by
// Sequential::add). Throws file_error naming the field for anything invalid: unknown type,
// missing/unknown/mistyped field, size outside [1, 2^24], rate outside [0, 1), a layer of more
// than 2^28 weights.
template <class Scalar>
std::unique_ptr<Layer<Scalar>> make_layer(const std::string& type, const json::Value& config) {
  detail::LayerConfigReader read(type, config);
  std::unique_ptr<Layer<Scalar>> layer;
  if (type == "Embedding") {
    const Index vocabulary_size = read.size("vocabulary_size");
    const Index dimension = read.size("dimension");
    read.check_count("the embeddings", double(vocabulary_size) * double(dimension));
    layer = layers::embedding<Scalar>(vocabulary_size, dimension);
  } else if (type == "LSTM") {
    const Index input_size = read.size("input_size");
    const Index units = read.size("units");
    LSTMOptions options;
    options.return_sequences = read.flag("return_sequences");
    options.unit_forget_bias = read.flag("unit_forget_bias");
    read.check_count("the weights", 4.0 * double(units) * double(input_size + units + 1));
    layer = layers::lstm<Scalar>(input_size, units, options);
  } else if (type == "GRU") {
    const Index input_size = read.size("input_size");
    const Index units = read.size("units");
    GRUOptions options;
    options.return_sequences = read.flag("return_sequences");
    options.reset_after = read.flag("reset_after");
    read.check_count("the weights", 3.0 * double(units) * double(input_size + units + 2));
    layer = layers::gru<Scalar>(input_size, units, options);
  } else if (type == "Conv1D") {
    const Index input_size = read.size("input_size");
    const Index filters = read.size("filters");
    const Index kernel_size = read.size("kernel_size");
    Conv1DOptions options;
    options.dilation = read.size("dilation");
    const std::string& activation = read.text("activation");
    if (activation == "relu") {
      options.activation = Activation::relu;
    } else if (activation == "linear") {
      options.activation = Activation::none;
    } else {
      read.fail("activation",
                detail::make_message("is \"", activation, "\", expected \"relu\" or \"linear\""));
    }
    read.check_count("the weights", double(filters) * double(kernel_size * input_size + 1));
    read.check_count("the streaming history",
                     double(kernel_size - 1) * double(options.dilation) * double(input_size));
    layer = layers::conv1d<Scalar>(input_size, filters, kernel_size, options);
  } else if (type == "Dropout") {
    const double rate = read.number("rate");
    if (!(rate >= 0.0 && rate < 1.0))
      read.fail("rate", detail::make_message("is ", rate, ", expected [0, 1)"));
    layer = layers::dropout<Scalar>(rate);
  } else if (type == "Dense") {
    const Index input_size = read.size("input_size");
    const Index units = read.size("units");
    read.check_count("the weights", double(units) * double(input_size + 1));
    layer = layers::dense<Scalar>(input_size, units);
  } else {
    throw file_error(detail::make_message("unknown layer type \"", type,
                                          "\" (expected Embedding, LSTM, GRU, Conv1D, Dropout or Dense)"));
  }
  read.finish();
  return layer;
}

}  // namespace seqlm
