/// \file
/// evaluate_text(): the loss, accuracy, perplexity and bits per token of a language model on a
/// text, in one call -- what `seqlm eval` prints.
///
/// ```cpp
///   TextModel<float> m = load_text_model("model.safetensors");
///   EvaluationResult r = evaluate_text(m, read_text_file("valid.txt"), {});   // streaming
///   std::cout << r.loss << " nats/token over " << r.tokens << " tokens\n";
/// ```
///
/// Two ways to score a text of n tokens x_0 .. x_{n-1}:
/// ```text
///   streaming (the default)  the tokens are cut into S contiguous streams (options.streams,
///       fewer when the text is short: each stream has at least 2 tokens); stream s is
///       [b_s, b_{s+1}) with b_s = floor(s n / S) (stream_boundaries()). The S streams are read
///       side by side as one batch, from the zero state, options.chunk steps at a time, the
///       recurrent state carried from chunk to chunk (Sequential::forward with a State), so
///       every token is predicted from everything before it in its stream: the target of x_i
///       is x_{i+1}, and the first token of a stream is only an input (n - S tokens scored).
///       streams = 1 is the exact whole-text evaluation.
///   windows (options.context = N > 0)  every window of N tokens, starting every
///       options.stride tokens, predicts the token after it: data/windows.hpp's WindowDataset
///       (next_token_after_window) scored by fit.hpp's evaluate() in batches of
///       options.batch_size windows -- the numbers fit() reports as val_* for the same windows.
/// ```
/// A model whose recurrent layer drops the time axis (return_sequences = false: one prediction
/// after the last step of a window) can only be scored in windows mode; streaming refuses it.
/// The loss is the mean over the scored tokens, in nats; bits_per_token = loss / ln 2.
#pragma once

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "../data/batching.hpp"
#include "../data/token_source.hpp"
#include "../data/windows.hpp"
#include "../error.hpp"
#include "../model/sequential.hpp"
#include "../tensor.hpp"
#include "../train/fit.hpp"
#include "../train/metrics.hpp"
#include "../train/step.hpp"
#include "text_model.hpp"

namespace seqlm {

struct EvaluateTextOptions {
  Index streams = 32;      ///< streaming: parallel streams (fewer when the text is short)
  Index chunk = 256;       ///< streaming: steps per forward pass (the state is carried across)
  Index context = 0;       ///< > 0: windows mode, windows of this many tokens
  Index stride = 1;        ///< windows mode: distance between window starts
  Index batch_size = 128;  ///< windows mode: windows per forward pass (fit's validation batches)
  OovPolicy oov;           ///< for text the vocabulary lacks (the TextModel overloads)
};

/// Where the streams of streaming evaluation start: b_0 = 0 < b_1 < ... < b_S = n with
/// b_s = floor(s n / S) and S = min(streams, floor(n / 2)), so every stream has at least two
/// tokens. value_error when n < 2 or streams < 1.
inline std::vector<Index> stream_boundaries(Index token_count, Index streams) {
  detail::check_positive("stream_boundaries", "streams", streams);
  if (token_count < 2) {
    throw value_error(detail::make_message("evaluate_text: the text has ", token_count, " token",
                                           token_count == 1 ? "" : "s",
                                           "; at least 2 are needed (one to read, one to predict)"));
  }
  const Index count = std::min(streams, token_count / 2);
  std::vector<Index> boundaries(static_cast<size_t>(count + 1));
  for (Index s = 0; s <= count; ++s) boundaries[static_cast<size_t>(s)] = s * token_count / count;
  return boundaries;
}

namespace detail {

template <class Scalar>
void check_text_ids(const Sequential<Scalar>& model, const std::vector<TokenId>& ids) {
  if (!model.input_spec().tokens) throw value_error("evaluate_text: the model reads features, not token ids");
  const Index vocabulary = model.input_spec().size;
  if (model.output_size() != vocabulary) {
    throw value_error(make_message("evaluate_text: the model reads ", vocabulary, " tokens but predicts ",
                                   model.output_size()));
  }
  for (size_t k = 0; k < ids.size(); ++k) {
    if (ids[k] < 0 || ids[k] >= vocabulary) {
      throw value_error(make_message("evaluate_text: token ", ids[k], " at position ", k,
                                     " is outside the vocabulary [0, ", vocabulary, ")"));
    }
  }
}

template <class Scalar>
EvaluationResult evaluate_windows(const Sequential<Scalar>& model, const std::vector<TokenId>& ids,
                                  const EvaluateTextOptions& options) {
  check_positive("evaluate_text", "stride", options.stride);
  check_positive("evaluate_text", "batch size", options.batch_size);
  const Index n = static_cast<Index>(ids.size());
  if (n <= options.context) {
    throw value_error(make_message("evaluate_text: the text has ", n, " tokens; windows of context ",
                                   options.context, " need at least ", options.context + 1));
  }
  const WindowDataset windows(TokenStream(ids), options.context, options.stride,
                              WindowTargets::next_token_after_window);
  Sequential<Scalar> runner(model);
  return evaluate(runner, windows, options.batch_size);
}

template <class Scalar>
EvaluationResult evaluate_streams(const Sequential<Scalar>& model, const std::vector<TokenId>& ids,
                                  const EvaluateTextOptions& options) {
  check_positive("evaluate_text", "chunk", options.chunk);
  if (!model.output_keeps_time_axis()) {
    throw value_error(
        "evaluate_text: the model predicts only after the last step of a window (a recurrent layer "
        "without return_sequences), so it cannot score a text as streams; evaluate it on windows: set the "
        "context (seqlm eval --context N) to the window it was trained on");
  }
  const std::vector<Index> bounds = stream_boundaries(static_cast<Index>(ids.size()), options.streams);
  const Index S = static_cast<Index>(bounds.size()) - 1;
  Index longest = 0;
  for (Index s = 0; s < S; ++s) {
    longest = std::max(longest, bounds[static_cast<size_t>(s + 1)] - bounds[static_cast<size_t>(s)]);
  }
  const Index steps = longest - 1;  // the predictions of the longest stream

  Sequential<Scalar> runner(model);
  TrainStep<Scalar> step(runner);
  typename Sequential<Scalar>::State state = runner.make_state(S);
  Batch batch;
  MetricTotals totals;
  // Chunk [t0, t0 + T): step t of stream s reads x_{b_s + t} and predicts x_{b_s + t + 1}; a
  // shorter stream's steps past its last prediction read a valid token and count nothing.
  for (Index t0 = 0; t0 < steps; t0 += options.chunk) {
    const Index T = std::min(options.chunk, steps - t0);
    batch.reshape(T, S, T);
    for (Index t = 0; t < T; ++t) {
      for (Index s = 0; s < S; ++s) {
        const Index begin = bounds[static_cast<size_t>(s)], end = bounds[static_cast<size_t>(s + 1)];
        const Index position = std::min(begin + t0 + t, end - 1);
        const bool scored = begin + t0 + t + 1 < end;
        const auto k = static_cast<size_t>(t * S + s);
        batch.inputs[k] = ids[static_cast<size_t>(position)];
        batch.targets[k] = scored ? ids[static_cast<size_t>(position + 1)] : 0;
        batch.weights[k] = scored ? 1.0 : 0.0;
      }
    }
    totals.add(step.evaluate(batch, &state));
  }
  return totals.result();
}

}  // namespace detail

/// The metrics of `model` on the token ids of a text (see the top of this file). value_error
/// for ids outside the vocabulary, a text too short for one prediction, options out of range,
/// and streaming with a model that drops the time axis.
template <class Scalar>
EvaluationResult evaluate_text(const Sequential<Scalar>& model, const std::vector<TokenId>& ids,
                               const EvaluateTextOptions& options = {}) {
  detail::check_text_ids(model, ids);
  if (options.context < 0) {
    throw value_error(detail::make_message("evaluate_text: context must be >= 0, got ", options.context));
  }
  if (options.context > 0) return detail::evaluate_windows(model, ids, options);
  return detail::evaluate_streams(model, ids, options);
}

/// The same for a TextModel on ids it encoded.
template <class Scalar>
EvaluationResult evaluate_text(const TextModel<Scalar>& model, const std::vector<TokenId>& ids,
                               const EvaluateTextOptions& options = {}) {
  return evaluate_text(model.model, ids, options);
}

/// The same on UTF-8 text, encoded with options.oov (text_error as TextModel::encode).
template <class Scalar>
EvaluationResult evaluate_text(const TextModel<Scalar>& model, std::string_view text,
                               const EvaluateTextOptions& options = {}) {
  return evaluate_text(model.model, model.encode(text, options.oov), options);
}

}  // namespace seqlm
