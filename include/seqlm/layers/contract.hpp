/// \file
/// The layer contract: the one vocabulary every layer class in layers/ speaks.
///
/// A layer is a class template on the scalar type (float or double) with these members.
/// model/layer.hpp wraps any class that has them in one generic runtime adapter, so a layer
/// written to this contract works in a Sequential model, in fit() and in model files
/// (files/layer_table.hpp) without further glue.
///
/// ```text
///   identity and shape
///     static constexpr const char* type_name      "LSTM", "GRU", "Dense", ... (Keras's class name)
///     static constexpr LayerTraits traits         what the layer reads and how it treats time
///     struct Config; explicit L(const Config&)     the constructor arguments as one value
///     const Config& config() const
///     Index input_size() const                     features read (the vocabulary for token ids)
///     Index output_size() const                    features written
///     bool keeps_time_axis() const                 false only for a recurrent layer that returns
///                                                  only its last step
///   weights
///     static Index parameter_count(const Config&)  the declared count, known before allocating
///     Index parameter_count() const
///     void initialize(Rng&)                        Keras's default initialisers
///     ParameterList<Scalar> parameters()           name, value, gradient; fixed order
///     ConstParameterList<Scalar> parameters() const
///     plus named accessors, mutable and const: kernel(), recurrent_kernel(), bias(), embeddings()
///   full-sequence pass (training and evaluation)
///     const Matrix<Scalar>& forward(const LayerInput<Scalar>&, const LayerContext&,
///                                   const State* initial = nullptr)
///     void copy_final_state(State&) const          the state after the last forward's last step
///     void backward(ConstMatrixRef<Scalar> d_output, const LayerContext&)
///                                                  ACCUMULATES parameter gradients
///     bool has_input_gradient() const              false after a forward on token ids
///     const Matrix<Scalar>& input_gradient() const dL/dinput of the last backward
///   streaming (inference, one step of B sequences, state owned by the caller)
///     struct State; State make_state(Index batch) const      zeros: the start of a sequence
///     void step(const LayerInput<Scalar>&, State&, Matrix<Scalar>& out) const
///     void copy_sequence(const State& from, Index b, State& to, Index to_b) const
///                                                  sequence b's memory into sequence to_b of
///                                                  another state (batch sizes may differ): a
///                                                  server gathers its readers' streams into one
///                                                  batch, steps them together, scatters them back.
///                                                  Optional for a StatelessState layer
/// ```
///
/// The State of a layer is both what streaming carries from step to step and what a
/// full-sequence forward can start from (initial) and end in (copy_final_state): an LSTM's
/// (h, c), a GRU's h, a causal convolution's last (k-1)*d inputs; empty for layers without
/// memory. Running a long sequence as chunks with the state carried from one forward to the
/// next gives the same outputs as one forward over the whole sequence.
#pragma once

#include "../error.hpp"
#include "../parameter.hpp"
#include "../random.hpp"
#include "../tensor.hpp"

namespace seqlm {

/// What a layer reads and how it treats the time axis.
struct LayerTraits {
  bool reads_tokens = false;     ///< accepts token ids (meaning one-hot vectors; a gather, never built)
  bool reads_features = true;    ///< accepts a dense features x T*B matrix
  bool needs_time_axis = false;  ///< looks along time (recurrent, convolution)
  bool columnwise = false;       ///< output column k depends only on input column k (Dense, Dropout)
  bool sized_by_input = false;   ///< takes its size from its input when added to a model (Dropout)
};

/// What flows into a layer: token ids (time-major TokenView) or a dense matrix of features
/// (features x steps*batch, time-major). steps == 1 after a recurrent layer dropped the time axis.
template <class Scalar>
struct LayerInput {
  const Matrix<Scalar>* features = nullptr;  ///< null: the input is `tokens`
  TokenView tokens;
  Index steps = 0, batch = 0;

  bool is_tokens() const { return features == nullptr; }

  static LayerInput of_tokens(const TokenView& ids) {
    LayerInput input;
    input.tokens = ids;
    input.steps = ids.steps;
    input.batch = ids.batch;
    return input;
  }
  /// x: features x steps*batch. Throws shape_error when its columns are not a whole number of steps.
  static LayerInput of_features(const Matrix<Scalar>& x, Index batch) {
    LayerInput input;
    input.features = &x;
    input.steps = detail::steps_of("LayerInput", x.cols(), batch);
    input.batch = batch;
    return input;
  }
};

/// How a pass runs. training: dropout masks are drawn from rng. truncate = k > 0: truncated
/// BPTT in the recurrent layers' backward (the gradient carried from step t to t-1 stops at
/// every t % k == 0); 0 = full backpropagation through time.
struct LayerContext {
  bool training = false;
  Rng* rng = nullptr;
  Index truncate = 0;
};

/// The State of a layer without memory (Embedding, Dense, Dropout): only the batch size.
struct StatelessState {
  Index batch = 0;
};

namespace detail {

// The dense input of a layer that reads features only, or a value_error naming the layer.
template <class Scalar>
const Matrix<Scalar>& features_of(const char* where, const LayerInput<Scalar>& input) {
  if (input.is_tokens()) throw value_error(make_message(where, ": expects features, got token ids"));
  return *input.features;
}

// The token ids of a layer input, or a value_error naming the layer.
template <class Scalar>
const TokenView& tokens_of(const char* where, const LayerInput<Scalar>& input) {
  if (!input.is_tokens()) throw value_error(make_message(where, ": expects token ids, got features"));
  return input.tokens;
}

// A stateless layer's State for `batch` sequences.
inline StatelessState make_stateless_state(const char* where, Index batch) {
  check_positive(where, "batch size", batch);
  return StatelessState{batch};
}

// Checks that sequence `b` exists in a state of `batch` sequences (value_error otherwise).
inline void check_sequence_index(const char* where, const char* which, Index b, Index batch) {
  if (b < 0 || b >= batch) {
    throw value_error(make_message(where, " copy_sequence: ", which, " sequence ", b, " is outside [0, ", batch,
                                   ")"));
  }
}

// copy_sequence of a layer without memory: only the indices are checked.
inline void copy_stateless_sequence(const char* where, const StatelessState& from, Index b, StatelessState& to,
                                    Index to_b) {
  check_sequence_index(where, "source", b, from.batch);
  check_sequence_index(where, "target", to_b, to.batch);
}

// Checks that one streaming step's input has as many sequences as the state was made for.
inline void check_step_batch(const char* where, Index input_batch, Index state_batch) {
  if (input_batch != state_batch) {
    throw shape_error(make_message(where, " step: the input has ", input_batch,
                                   " sequences, the state was made for ", state_batch));
  }
}

// out resized to rows x cols when its shape differs (no allocation otherwise).
template <class Scalar>
void size_output(Matrix<Scalar>& out, Index rows, Index cols) {
  if (out.rows() != rows || out.cols() != cols) out.resize(rows, cols);
}

}  // namespace detail
}  // namespace seqlm
