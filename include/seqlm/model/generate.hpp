/// \file
/// Text generation with a trained Sequential language model.
///
/// Two ways to get the next-token distribution p(x_{t+1} | x_0..x_t):
///
/// ```text
///   generate()           streaming: the prompt is fed once through Sequential::step (one
///                        token at a time, recurrent state and convolution history kept), then
///                        each generated token costs ONE step: O(layers) work per token,
///                        independent of how long the text already is.
///   generate_windowed()  the tutorials' loop: every token re-runs a full forward over the last
///                        `window` ids (the model sees at most `window` tokens of context, like a
///                        model trained on fixed windows). O(window) work per token.
/// ```
///
/// Both turn the logits z (V values) into p = softmax(z) in double precision and pick the token
/// with choose_next_token (sampling.hpp: temperature, top-k, top-p, greedy at temperature 0).
/// The same seed gives the same text. A stop token ends generation without being returned.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "../error.hpp"
#include "../random.hpp"
#include "../sampling.hpp"
#include "../tensor.hpp"
#include "sequential.hpp"

namespace seqlm {

/// What to do with prompt ids outside the model's vocabulary.
enum class PromptPolicy {
  error,  ///< value_error naming the id and its position
  skip,   ///< leave them out
};

/// The next-token distribution of a logits column z (V values), in double precision:
/// p_v = exp(z_v - max z) / sum_u exp(z_u - max z), written into `probabilities` (resized to V).
/// numeric_error when a logit is not finite. What generate() samples from, for streams of your own.
template <class Derived>
void softmax_to_double(const Eigen::MatrixBase<Derived>& column, std::vector<double>& probabilities) {
  const Index V = column.size();
  probabilities.resize(static_cast<size_t>(V));
  double max = -std::numeric_limits<double>::infinity();
  for (Index v = 0; v < V; ++v) max = std::max(max, static_cast<double>(column(v)));
  if (!std::isfinite(max)) throw numeric_error("generate: the model produced non-finite logits");
  double total = 0.0;
  for (Index v = 0; v < V; ++v) {
    const double e = std::exp(static_cast<double>(column(v)) - max);
    probabilities[static_cast<size_t>(v)] = e;
    total += e;
  }
  for (double& p : probabilities) p /= total;
}

namespace detail {

// The prompt with every id checked against the vocabulary (or out-of-range ids dropped).
template <class Scalar>
std::vector<TokenId> checked_prompt(const char* where, const Sequential<Scalar>& model,
                                    const std::vector<TokenId>& prompt, PromptPolicy policy) {
  if (!model.input_spec().tokens)
    throw value_error(make_message(where, ": the model does not read token ids"));
  if (model.size() == 0) throw value_error(make_message(where, ": the model has no layers"));
  const Index vocabulary = model.input_spec().size;
  std::vector<TokenId> ids;
  ids.reserve(prompt.size());
  for (size_t k = 0; k < prompt.size(); ++k) {
    const TokenId id = prompt[k];
    if (id >= 0 && id < vocabulary) {
      ids.push_back(id);
    } else if (policy == PromptPolicy::error) {
      throw value_error(make_message(where, ": prompt token ", id, " at position ", k,
                                     " is outside the vocabulary [0, ", vocabulary, ")"));
    }
  }
  if (ids.empty())
    throw value_error(make_message(where, ": the prompt is empty (the model needs a context)"));
  return ids;
}

// The generation loop shared by both modes. next_logits(token) feeds one chosen token and
// returns the logits column of the following position.
template <class Column, class Feed>
GenerationResult sample_tokens(Column first_logits, Feed&& feed, const GenerationOptions& options, Rng& rng,
                               const TokenCallback& on_token) {
  GenerationResult result;
  std::vector<double> probabilities;
  if (options.max_tokens == 0) return result;
  result.tokens.reserve(static_cast<size_t>(options.max_tokens));
  softmax_to_double(first_logits, probabilities);
  while (true) {
    const TokenId next = choose_next_token(probabilities, options, rng);
    if (options.stop_token && next == *options.stop_token) {
      result.reason = StopReason::stop_token;
      return result;
    }
    result.tokens.push_back(next);
    if (on_token) on_token(next);
    if (static_cast<Index>(result.tokens.size()) >= options.max_tokens) {
      result.reason = StopReason::max_tokens;
      return result;
    }
    softmax_to_double(feed(next), probabilities);
  }
}

}  // namespace detail

/// Streaming generation: primes a step state with the prompt (prompt.size() steps), then one step
/// per generated token. on_token is called with each token as soon as it is chosen.
/// value_error: empty prompt, ids outside the vocabulary (policy error), bad options.
template <class Scalar>
GenerationResult generate(const Sequential<Scalar>& model, const std::vector<TokenId>& prompt,
                          const GenerationOptions& options, Rng& rng, const TokenCallback& on_token = {},
                          PromptPolicy policy = PromptPolicy::error) {
  check_generation_options("generate", options);
  const std::vector<TokenId> ids = detail::checked_prompt("generate", model, prompt, policy);
  auto state = model.make_state(1);
  const Matrix<Scalar>* logits = nullptr;
  for (const TokenId id : ids) logits = &model.step(&id, state);
  auto feed = [&](TokenId next) { return model.step(&next, state).col(0); };
  return detail::sample_tokens(logits->col(0), feed, options, rng, on_token);
}

/// The same with a fresh Rng(options.seed): the same seed gives the same text.
template <class Scalar>
GenerationResult generate(const Sequential<Scalar>& model, const std::vector<TokenId>& prompt,
                          const GenerationOptions& options, const TokenCallback& on_token = {},
                          PromptPolicy policy = PromptPolicy::error) {
  Rng rng(options.seed);
  return generate(model, prompt, options, rng, on_token, policy);
}

/// Windowed generation (the tutorials' loop): for every token, a full forward over the last
/// `window` ids of prompt + generated text, keeping the distribution of the last position.
/// The model is copied once per call (forward needs its own buffers).
template <class Scalar>
GenerationResult generate_windowed(const Sequential<Scalar>& model, const std::vector<TokenId>& prompt,
                                   Index window, const GenerationOptions& options, Rng& rng,
                                   const TokenCallback& on_token = {},
                                   PromptPolicy policy = PromptPolicy::error) {
  check_generation_options("generate_windowed", options);
  detail::check_positive("generate_windowed", "window", window);
  std::vector<TokenId> context = detail::checked_prompt("generate_windowed", model, prompt, policy);
  Sequential<Scalar> runner = model;
  const LayerContext inference;
  auto last_logits = [&]() {
    const Index length = std::min<Index>(window, static_cast<Index>(context.size()));
    const TokenView view(context.data() + (static_cast<Index>(context.size()) - length), length, 1);
    const Matrix<Scalar>& logits = runner.forward(view, inference);
    return logits.col(logits.cols() - 1);
  };
  auto feed = [&](TokenId next) {
    context.push_back(next);
    return last_logits();
  };
  return detail::sample_tokens(last_logits(), feed, options, rng, on_token);
}

/// The same with a fresh Rng(options.seed).
template <class Scalar>
GenerationResult generate_windowed(const Sequential<Scalar>& model, const std::vector<TokenId>& prompt,
                                   Index window, const GenerationOptions& options,
                                   const TokenCallback& on_token = {},
                                   PromptPolicy policy = PromptPolicy::error) {
  Rng rng(options.seed);
  return generate_windowed(model, prompt, window, options, rng, on_token, policy);
}

/// p(next token | context) from one full forward over the whole context (batch 1): the softmax of
/// the last position's logits, in double. value_error for an empty context or ids out of range.
template <class Scalar>
std::vector<double> next_token_distribution(const Sequential<Scalar>& model,
                                            const std::vector<TokenId>& context) {
  const std::vector<TokenId> ids =
      detail::checked_prompt("next_token_distribution", model, context, PromptPolicy::error);
  Sequential<Scalar> runner = model;
  const Matrix<Scalar>& logits =
      runner.forward(TokenView(ids, static_cast<Index>(ids.size()), 1), LayerContext{});
  std::vector<double> probabilities;
  softmax_to_double(logits.col(logits.cols() - 1), probabilities);
  return probabilities;
}

}  // namespace seqlm
