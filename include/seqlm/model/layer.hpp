/// \file
/// Layer: the run-time face of any layer that follows the layer contract (layers/contract.hpp),
/// so that a model can be a list of layers chosen at run time (read from a model file) instead
/// of one fixed C++ type.
///
/// There is one adapter, LayerAdapter<Scalar, L>, for every layer class L: it forwards each
/// virtual call to the member of the same name, and type-erases L::State behind LayerState.
///
/// ```text
///   layer      reads                  writes                  time axis
///   Embedding  token ids              D x T*B                 kept
///   LSTM, GRU  token ids or features  H x T*B (or H x B)      kept iff return_sequences
///   Conv1D     features               filters x T*B           kept (causal)
///   Dropout    features               same as input           kept (identity at inference)
///   Dense      features               units x columns         kept (applied per column)
/// ```
///
/// Building one: `layers::lstm<float>(57, 128)`, or `make_layer<LSTM<float>>(config)` for any
/// class that follows the contract (a layer of your own included). See docs/models.md.
#pragma once

#include <memory>
#include <string>
#include <type_traits>
#include <utility>

#include "../error.hpp"
#include "../layers/contract.hpp"
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

/// A layer's State behind a common base: made by Layer::make_state, passed back to Layer::step
/// and Layer::forward. Each adapter holds its own layer's State in it.
struct LayerState {
  virtual ~LayerState() = default;
  virtual std::unique_ptr<LayerState> clone() const = 0;
};

template <class Scalar>
class Layer {
 public:
  virtual ~Layer() = default;

  /// A copy of the configuration and weights (not of the caches; gradients start at zero).
  virtual std::unique_ptr<Layer> clone() const = 0;
  /// The layer class's type_name: "Embedding", "LSTM", "GRU", "Conv1D", "Dropout", "Dense", ...
  virtual std::string type() const = 0;
  virtual LayerTraits traits() const = 0;
  virtual Index input_size() const = 0;  ///< features, or the vocabulary size for token ids
  virtual Index output_size() const = 0;
  virtual bool keeps_time_axis() const = 0;
  /// For a layer sized by its input (traits().sized_by_input): takes the incoming size.
  virtual void set_input_size(Index size) = 0;

  virtual void initialize(Rng& rng) = 0;
  virtual Index parameter_count() const = 0;
  virtual ParameterList<Scalar> parameters() = 0;
  virtual ConstParameterList<Scalar> parameters() const = 0;

  /// Full-sequence pass from `initial` (null: the zero state); caches what backward needs.
  virtual const Matrix<Scalar>& forward(const LayerInput<Scalar>& input, const LayerContext& context,
                                        const LayerState* initial = nullptr) = 0;
  /// The state after the last forward's last step, written into a state made by make_state.
  virtual void copy_final_state(LayerState& state) const = 0;
  /// d_output has the shape of the last forward's output; parameter gradients ACCUMULATE.
  virtual void backward(ConstMatrixRef<Scalar> d_output, const LayerContext& context) = 0;
  /// dL/dinput of the last backward, or null when the input was token ids.
  virtual const Matrix<Scalar>* input_gradient() const = 0;

  /// Streaming: a zero state for `batch` sequences, then one step at a time; out becomes
  /// output_size x batch (allocated only when its shape changes).
  virtual std::unique_ptr<LayerState> make_state(Index batch) const = 0;
  virtual void step(const LayerInput<Scalar>& one_step, LayerState& state, Matrix<Scalar>& out) const = 0;
  /// Sequence from_b of `from` becomes sequence to_b of `to` (states of this layer, any batch sizes).
  virtual void copy_sequence(const LayerState& from, Index from_b, LayerState& to, Index to_b) const = 0;
};

namespace detail {
// Whether L defines copy_sequence(const State&, Index, State&, Index) const.
template <class L, class = void>
struct has_copy_sequence : std::false_type {};
template <class L>
struct has_copy_sequence<
    L, std::void_t<decltype(std::declval<const L&>().copy_sequence(
           std::declval<const typename L::State&>(), Index{}, std::declval<typename L::State&>(), Index{}))>>
    : std::true_type {};
}  // namespace detail

/// The one adapter: L is any class that follows the layer contract.
template <class Scalar, class L>
class LayerAdapter final : public Layer<Scalar> {
 public:
  struct State final : LayerState {
    typename L::State value;
    std::unique_ptr<LayerState> clone() const override { return std::make_unique<State>(*this); }
  };

  explicit LayerAdapter(const typename L::Config& config) : layer_(config) {}

  std::unique_ptr<Layer<Scalar>> clone() const override {
    auto copy = std::make_unique<LayerAdapter>(layer_.config());
    ParameterList<Scalar> target = copy->layer_.parameters();
    ConstParameterList<Scalar> source = layer_.parameters();
    for (size_t k = 0; k < source.size(); ++k) *target[k].value = *source[k].value;
    return copy;
  }
  std::string type() const override { return L::type_name; }
  LayerTraits traits() const override { return L::traits; }
  Index input_size() const override { return layer_.input_size(); }
  Index output_size() const override { return layer_.output_size(); }
  bool keeps_time_axis() const override { return layer_.keeps_time_axis(); }
  void set_input_size(Index size) override {
    if constexpr (L::traits.sized_by_input) {
      layer_.set_input_size(size);
    } else if (size != layer_.input_size()) {
      throw shape_error(detail::make_message(L::type_name, ": input size is ", layer_.input_size(),
                                             ", cannot become ", size));
    }
  }

  void initialize(Rng& rng) override { layer_.initialize(rng); }
  Index parameter_count() const override { return layer_.parameter_count(); }
  ParameterList<Scalar> parameters() override { return layer_.parameters(); }
  ConstParameterList<Scalar> parameters() const override { return layer_.parameters(); }

  const Matrix<Scalar>& forward(const LayerInput<Scalar>& input, const LayerContext& context,
                                const LayerState* initial) override {
    return layer_.forward(input, context, initial != nullptr ? &own(initial)->value : nullptr);
  }
  void copy_final_state(LayerState& state) const override { layer_.copy_final_state(own(&state)->value); }
  void backward(ConstMatrixRef<Scalar> d_output, const LayerContext& context) override {
    layer_.backward(d_output, context);
  }
  const Matrix<Scalar>* input_gradient() const override {
    return layer_.has_input_gradient() ? &layer_.input_gradient() : nullptr;
  }

  std::unique_ptr<LayerState> make_state(Index batch) const override {
    auto state = std::make_unique<State>();
    state->value = layer_.make_state(batch);
    return state;
  }
  void step(const LayerInput<Scalar>& one_step, LayerState& state, Matrix<Scalar>& out) const override {
    layer_.step(one_step, own(&state)->value, out);
  }
  /// copy_sequence is optional in the contract: a layer without memory (StatelessState) need
  /// not define it; a layer with memory that does not is refused at run time, by name.
  void copy_sequence(const LayerState& from, Index from_b, LayerState& to, Index to_b) const override {
    if constexpr (detail::has_copy_sequence<L>::value) {
      layer_.copy_sequence(own(&from)->value, from_b, own(&to)->value, to_b);
    } else if constexpr (std::is_same<typename L::State, StatelessState>::value) {
      detail::copy_stateless_sequence(L::type_name, own(&from)->value, from_b, own(&to)->value, to_b);
    } else {
      throw value_error(detail::make_message(L::type_name,
                                             ": the layer does not define copy_sequence "
                                             "(layers/contract.hpp), so its streams cannot be copied"));
    }
  }

  L& layer() { return layer_; }
  const L& layer() const { return layer_; }

 private:
  // This adapter's own State, or a value_error when `state` was made by another layer.
  template <class Base>
  static auto own(Base* state) {
    using Own = std::conditional_t<std::is_const<Base>::value, const State, State>;
    auto* mine = dynamic_cast<Own*>(state);
    if (mine == nullptr) {
      throw value_error(detail::make_message(L::type_name, ": the state was made by a different layer"));
    }
    return mine;
  }

  L layer_;
};

namespace detail {
// The scalar type of a layer class template instance: float for LSTM<float>.
template <class L>
struct scalar_of;
template <template <class> class L, class S>
struct scalar_of<L<S>> {
  using type = S;
};
}  // namespace detail

/// A run-time layer of class L (any class that follows the contract) built from its Config.
template <class L>
std::unique_ptr<Layer<typename detail::scalar_of<L>::type>> make_layer(const typename L::Config& config) {
  return std::make_unique<LayerAdapter<typename detail::scalar_of<L>::type, L>>(config);
}

/// The concrete layer inside a run-time layer, or null when it is of another class.
template <class L, class Scalar>
L* layer_cast(Layer<Scalar>& layer) {
  auto* adapter = dynamic_cast<LayerAdapter<Scalar, L>*>(&layer);
  return adapter != nullptr ? &adapter->layer() : nullptr;
}
template <class L, class Scalar>
const L* layer_cast(const Layer<Scalar>& layer) {
  auto* adapter = dynamic_cast<const LayerAdapter<Scalar, L>*>(&layer);
  return adapter != nullptr ? &adapter->layer() : nullptr;
}

/// model.add(layers::lstm<float>(57, 128, options)) and friends.
namespace layers {

template <class Scalar>
std::unique_ptr<Layer<Scalar>> embedding(Index vocabulary_size, Index dimension) {
  return make_layer<Embedding<Scalar>>({vocabulary_size, dimension});
}
template <class Scalar>
std::unique_ptr<Layer<Scalar>> lstm(Index input_size, Index units, LSTMOptions options = {}) {
  return make_layer<LSTM<Scalar>>({input_size, units, options});
}
template <class Scalar>
std::unique_ptr<Layer<Scalar>> gru(Index input_size, Index units, GRUOptions options = {}) {
  return make_layer<GRU<Scalar>>({input_size, units, options});
}
template <class Scalar>
std::unique_ptr<Layer<Scalar>> conv1d(Index input_size, Index filters, Index kernel_size,
                                      Conv1DOptions options = {}) {
  return make_layer<Conv1D<Scalar>>({input_size, filters, kernel_size, options});
}
/// The size is filled in by Sequential::add from the previous layer.
template <class Scalar>
std::unique_ptr<Layer<Scalar>> dropout(double rate) {
  return make_layer<Dropout<Scalar>>({rate, 0});
}
template <class Scalar>
std::unique_ptr<Layer<Scalar>> dense(Index input_size, Index units) {
  return make_layer<Dense<Scalar>>({input_size, units});
}

}  // namespace layers
}  // namespace seqlm
