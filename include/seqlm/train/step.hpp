/// \file
/// The training step of a Sequential language model: forward, softmax cross-entropy over the
/// batch's scored positions (fused, include/seqlm/loss.hpp), backward.
///
/// ```cpp
///   TrainStep<float> step(model);                     // owns the loss and its buffers
///   zero_gradients(model.parameters());
///   CrossEntropyResult r = step.train(batch, {true, &rng});   // gradients ACCUMULATE
///   optimizer.step(model.parameters());
/// ```
///
/// Which logits are scored (Batch: inputs steps x B, targets and weights target_steps x B):
/// ```text
///   the model predicts every step (V x T*B) and target_steps == steps   every position counts
///   the model predicts every step and target_steps == 1                 only the last step counts
///   the model dropped the time axis (V x B) and target_steps == 1       its one prediction counts
/// ```
/// The loss is sum_n w_n loss_n / sum_n w_n over the scored positions n.
///
/// Scoring only some columns (padding, or only the last step): when the last layer is
/// columnwise (Dense: column k of its output depends only on column k of its input) and some
/// scored positions have weight 0, the step runs the last layer and the loss on the M counted
/// columns only. With F (width x N) the input of the last layer:
/// ```text
///   forward:  F = layers[0 .. L-2](x);  Fc = F(:, counted)  (width x M);  Zc = last(Fc)
///   backward: dFc = last'(dZc);  dF = 0, dF(:, counted) = dFc;  layers[L-2 .. 0] backward from dF
/// ```
/// The loss, accuracy and every gradient are those of the full computation (the sums run over the
/// same counted terms, in the same column order), without the work of the ignored columns:
/// the headline model's masked prefixes score one column in 17.
#pragma once

#include <vector>

#include "../data/batching.hpp"
#include "../error.hpp"
#include "../loss.hpp"
#include "../model/sequential.hpp"
#include "../parameter.hpp"
#include "../tensor.hpp"

namespace seqlm {

template <class Scalar>
class TrainStep {
 public:
  using State = typename Sequential<Scalar>::State;

  /// The model must outlive the step.
  explicit TrainStep(Sequential<Scalar>& model) : model_(model) {}

  /// Forward, loss and, when context.training, backward of one batch of token ids; the
  /// parameter gradients ACCUMULATE (zero them between batches). state (optional): the
  /// sequences continue from it and it receives their final state (stateful training).
  CrossEntropyResult train(const Batch& batch, const LayerContext& context, State* state = nullptr) {
    check_batch(batch);
    if (uses_counted_columns(batch)) return train_on_counted_columns(batch, context, state);
    const Matrix<Scalar>& logits = model_.forward(batch.input_view(), context, state);
    const bool last_step_only = select_scored_logits(batch);
    load_weights(batch);
    const TokenView targets = batch.target_view();
    const Index first = last_step_only ? logits.cols() - batch.batch : 0;
    const auto scored = logits.middleCols(first, logits.cols() - first);
    if (!context.training) return cross_entropy(scored, targets, weights_);
    const CrossEntropyResult result = loss_.forward(scored, targets, weights_);
    if (last_step_only) {
      // Only the last B columns were scored: the other steps get a zero gradient.
      d_logits_.resize(logits.rows(), logits.cols());
      d_logits_.leftCols(first).setZero();
      d_logits_.rightCols(batch.batch) = loss_.logits_gradient();
      model_.backward(d_logits_, context);
    } else {
      model_.backward(loss_.logits_gradient(), context);
    }
    return result;
  }

  /// Forward (inference: no dropout) and the loss/accuracy of one batch; no gradients.
  CrossEntropyResult evaluate(const Batch& batch, State* state = nullptr) {
    return train(batch, LayerContext{}, state);
  }

  Sequential<Scalar>& model() { return model_; }

 private:
  void check_batch(const Batch& batch) const {
    if (!model_.input_spec().tokens) {
      throw value_error("TrainStep: the model reads features; a Batch holds token ids");
    }
    batch.check_shape("TrainStep");
  }

  // True when the counted-columns path applies: the last of at least two layers is columnwise
  // and the counted positions (nonzero weight, among the scored ones) are neither none nor all
  // of the logits' columns. Fills counted_columns_ with their logits column indices.
  bool uses_counted_columns(const Batch& batch) {
    if (model_.size() < 2 || !model_.layer(model_.size() - 1).traits().columnwise) return false;
    const Index logits_columns = (model_.output_keeps_time_axis() ? batch.steps : 1) * batch.batch;
    const Index scored = batch.target_steps * batch.batch;
    if (scored > logits_columns) return false;    // select_scored_logits reports the shape error
    const Index first = logits_columns - scored;  // the last step only, or every column
    counted_columns_.clear();
    for (Index k = 0; k < scored; ++k) {
      if (batch.weights[static_cast<size_t>(k)] != 0.0) counted_columns_.push_back(first + k);
    }
    const Index counted = static_cast<Index>(counted_columns_.size());
    return counted > 0 && counted < logits_columns;
  }

  CrossEntropyResult train_on_counted_columns(const Batch& batch, const LayerContext& context, State* state) {
    const Index last = model_.size() - 1;
    const Matrix<Scalar>& features = model_.forward_first(batch.input_view(), context, last, state);
    select_scored_logits(batch);  // checks the target shape (the last layer keeps the time axis)
    load_weights(batch);

    // The same checks and messages as the loss over all scored columns.
    Layer<Scalar>& last_layer = model_.layer(last);
    const Index vocabulary_size = last_layer.output_size();
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
    const Matrix<Scalar>& logits =
        last_layer.forward(LayerInput<Scalar>::of_features(counted_features_, counted), context);
    const TokenView targets(counted_targets_.data(), 1, counted);
    if (!context.training) return cross_entropy(logits, targets, counted_weights_);

    const CrossEntropyResult result = loss_.forward(logits, targets, counted_weights_);
    last_layer.backward(loss_.logits_gradient(), context);
    const Matrix<Scalar>& d_counted = *last_layer.input_gradient();
    d_features_.setZero(features.rows(), features.cols());
    for (Index j = 0; j < counted; ++j)
      d_features_.col(counted_columns_[static_cast<size_t>(j)]) = d_counted.col(j);
    model_.backward_from(last - 1, d_features_, context);
    return result;
  }

  // Checks the batch's target shape against the logits; true when only the last step is scored.
  bool select_scored_logits(const Batch& batch) const {
    const Index steps = model_.output_steps();
    if (batch.target_steps == steps) return false;
    if (batch.target_steps == 1 && steps > 1) return true;
    throw shape_error(detail::make_message("TrainStep: the batch has ", batch.target_steps,
                                           " target steps, the model predicts ", steps, " steps of ",
                                           batch.batch, " sequences (expected ", steps, " or 1)"));
  }

  void load_weights(const Batch& batch) {
    const Index n = batch.target_steps * batch.batch;
    if (weights_.size() != n) weights_.resize(n);
    for (Index k = 0; k < n; ++k) weights_[k] = static_cast<Scalar>(batch.weights[static_cast<size_t>(k)]);
  }

  Sequential<Scalar>& model_;
  Vector<Scalar> weights_;  // the batch's weights in the model's precision
  Matrix<Scalar> d_logits_;
  SoftmaxCrossEntropy<Scalar> loss_;
  // The counted-columns path: logits columns that count, and the gathered features, targets and
  // weights of those columns; the features' gradient scattered back.
  std::vector<Index> counted_columns_;
  Matrix<Scalar> counted_features_;
  std::vector<TokenId> counted_targets_;
  Vector<Scalar> counted_weights_;
  Matrix<Scalar> d_features_;
};

/// One training step with buffers made for this call (convenient; in a loop keep a TrainStep).
template <class Scalar>
CrossEntropyResult train_on_batch(Sequential<Scalar>& model, const Batch& batch, const LayerContext& context,
                                  typename Sequential<Scalar>::State* state = nullptr) {
  TrainStep<Scalar> step(model);
  return step.train(batch, context, state);
}

/// The loss and accuracy of one batch (inference), with buffers made for this call.
template <class Scalar>
CrossEntropyResult evaluate_batch(Sequential<Scalar>& model, const Batch& batch,
                                  typename Sequential<Scalar>::State* state = nullptr) {
  TrainStep<Scalar> step(model);
  return step.evaluate(batch, state);
}

}  // namespace seqlm
