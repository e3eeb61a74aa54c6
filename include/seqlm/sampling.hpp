/// \file
/// Choosing the next token from a model's distribution, shared by every generator in seqlm
/// (the n-gram model and the neural language models), and the options and result of a
/// generation run.
///
/// From a distribution p over the vocabulary the next token is chosen in this order:
/// ```text
///   1. temperature T:  p_i <- exp(log p_i / T) / Z          (p_i = 0 stays 0: log 0 is guarded)
///        T = 1 leaves p unchanged, T < 1 sharpens it, T > 1 flattens it, and T = 0 means
///        greedy: the argmax (lowest id on ties), no random draw at all.
///   2. top-k (k > 0):  keep the k most probable tokens, renormalise
///   3. top-p (p < 1):  keep the smallest set of most probable tokens whose mass reaches p
///        (nucleus sampling; at least one token is kept), renormalise
///   4. sample:         u ~ Uniform[0, 1) from seqlm::Rng, the first i with cumsum_i > u * sum
/// ```
/// Ties in ranking (top-k, top-p, argmax) are broken by the lower token id, so results are
/// reproducible everywhere for a seed.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <numeric>
#include <optional>
#include <vector>

#include "error.hpp"
#include "random.hpp"
#include "tensor.hpp"

namespace seqlm {

struct GenerationOptions {
  Index max_tokens = 100;             ///< generate at most this many tokens
  double temperature = 1.0;           ///< >= 0; 0 = greedy (argmax)
  Index top_k = 0;                    ///< 0 = off
  double top_p = 1.0;                 ///< in (0, 1]; 1 = off
  std::optional<TokenId> stop_token;  ///< stop after sampling it (it is not part of the result)
  std::uint64_t seed = 0;             ///< used by the generate() overloads that take no Rng
};

enum class StopReason {
  max_tokens,       ///< max_tokens were generated
  stop_token,       ///< the stop token was chosen
  no_continuation,  ///< the model has no distribution for the context (e.g. unseen n-gram context)
};

struct GenerationResult {
  std::vector<TokenId> tokens;  ///< the generated tokens, without the prompt and the stop token
  StopReason reason = StopReason::max_tokens;
};

/// Called with each generated token as soon as it is chosen (streaming output).
using TokenCallback = std::function<void(TokenId)>;

namespace detail {

inline void check_distribution(const char* where, const std::vector<double>& probabilities) {
  if (probabilities.empty()) throw value_error(make_message(where, ": empty distribution"));
  double total = 0.0;
  for (size_t i = 0; i < probabilities.size(); ++i) {
    const double p = probabilities[i];
    if (!(p >= 0.0) || !std::isfinite(p)) {
      throw value_error(
          make_message(where, ": probability of token ", i, " is ", p, ", expected a finite value >= 0"));
    }
    total += p;
  }
  if (!(total > 0.0)) throw value_error(make_message(where, ": probabilities sum to 0"));
}

inline void normalize(std::vector<double>& probabilities) {
  const double total = std::accumulate(probabilities.begin(), probabilities.end(), 0.0);
  for (double& p : probabilities) p /= total;
}

// Token ids sorted by decreasing probability, lower id first on ties.
inline std::vector<Index> rank_by_probability(const std::vector<double>& probabilities) {
  std::vector<Index> order(probabilities.size());
  std::iota(order.begin(), order.end(), Index{0});
  std::stable_sort(order.begin(), order.end(), [&](Index a, Index b) {
    return probabilities[static_cast<size_t>(a)] > probabilities[static_cast<size_t>(b)];
  });
  return order;
}

}  // namespace detail

/// The most probable token, the lowest id on ties.
inline TokenId argmax(const std::vector<double>& probabilities) {
  detail::check_distribution("argmax", probabilities);
  return static_cast<TokenId>(std::max_element(probabilities.begin(), probabilities.end()) -
                              probabilities.begin());
}

/// p_i <- exp(log p_i / T) / Z for T > 0 (computed as exp((log p_i - log p_max) / T) so that
/// small T cannot underflow everything); zeros stay zero. T = 0 makes p one-hot at argmax.
inline void apply_temperature(std::vector<double>& probabilities, double temperature) {
  detail::check_distribution("apply_temperature", probabilities);
  if (!(temperature >= 0.0) || !std::isfinite(temperature)) {
    throw value_error(
        detail::make_message("apply_temperature: temperature must be finite and >= 0, got ", temperature));
  }
  if (temperature == 0.0) {
    const TokenId best = argmax(probabilities);
    std::fill(probabilities.begin(), probabilities.end(), 0.0);
    probabilities[static_cast<size_t>(best)] = 1.0;
    return;
  }
  const double log_max = std::log(*std::max_element(probabilities.begin(), probabilities.end()));
  for (double& p : probabilities) {
    p = (p > 0.0) ? std::exp((std::log(p) - log_max) / temperature) : 0.0;
  }
  detail::normalize(probabilities);
}

/// Keeps the k most probable tokens (lowest ids on ties) and renormalises. k = 0 or k >= the
/// vocabulary size leaves p unchanged.
inline void apply_top_k(std::vector<double>& probabilities, Index k) {
  detail::check_distribution("apply_top_k", probabilities);
  if (k < 0) throw value_error(detail::make_message("apply_top_k: k must be >= 0, got ", k));
  if (k == 0 || k >= static_cast<Index>(probabilities.size())) return;
  const std::vector<Index> order = detail::rank_by_probability(probabilities);
  for (size_t r = static_cast<size_t>(k); r < order.size(); ++r)
    probabilities[static_cast<size_t>(order[r])] = 0.0;
  detail::normalize(probabilities);
}

/// Nucleus filtering: keeps the most probable tokens, in order, until their mass reaches
/// top_p (the token that crosses top_p is kept, so at least one is), and renormalises.
/// top_p = 1 leaves p unchanged.
inline void apply_top_p(std::vector<double>& probabilities, double top_p) {
  detail::check_distribution("apply_top_p", probabilities);
  if (!(top_p > 0.0 && top_p <= 1.0)) {
    throw value_error(detail::make_message("apply_top_p: top_p must be in (0, 1], got ", top_p));
  }
  if (top_p == 1.0) return;
  detail::normalize(probabilities);
  const std::vector<Index> order = detail::rank_by_probability(probabilities);
  double mass = 0.0;
  size_t kept = 0;
  while (kept < order.size() && mass < top_p) mass += probabilities[static_cast<size_t>(order[kept++])];
  for (size_t r = kept; r < order.size(); ++r) probabilities[static_cast<size_t>(order[r])] = 0.0;
  detail::normalize(probabilities);
}

/// Draws token i with probability p_i / sum(p): the first i whose running sum exceeds
/// u * sum(p) for u ~ Uniform[0, 1). Zero-probability tokens are never drawn.
inline TokenId sample_from_probabilities(const std::vector<double>& probabilities, Rng& rng) {
  detail::check_distribution("sample_from_probabilities", probabilities);
  const double total = std::accumulate(probabilities.begin(), probabilities.end(), 0.0);
  const double threshold = rng.uniform() * total;
  double running = 0.0;
  TokenId last_possible = 0;
  for (size_t i = 0; i < probabilities.size(); ++i) {
    if (probabilities[i] <= 0.0) continue;
    running += probabilities[i];
    last_possible = static_cast<TokenId>(i);
    if (running > threshold) return last_possible;
  }
  return last_possible;  // rounding left threshold just above the running sum
}

/// Temperature, then top-k, then top-p, in place (steps 1-3 above).
inline void filter_distribution(std::vector<double>& probabilities, const GenerationOptions& options) {
  apply_temperature(probabilities, options.temperature);
  apply_top_k(probabilities, options.top_k);
  apply_top_p(probabilities, options.top_p);
}

/// The next token under `options`: argmax when temperature == 0 (the Rng is not used),
/// otherwise filter_distribution and sample. `probabilities` is used as scratch.
inline TokenId choose_next_token(std::vector<double>& probabilities, const GenerationOptions& options,
                                 Rng& rng) {
  if (options.temperature == 0.0) return argmax(probabilities);
  filter_distribution(probabilities, options);
  return sample_from_probabilities(probabilities, rng);
}

/// Checks the options a generator receives (value_error naming `where`).
inline void check_generation_options(const char* where, const GenerationOptions& options) {
  if (options.max_tokens < 0) {
    throw value_error(detail::make_message(where, ": max_tokens must be >= 0, got ", options.max_tokens));
  }
  if (!(options.temperature >= 0.0) || !std::isfinite(options.temperature)) {
    throw value_error(
        detail::make_message(where, ": temperature must be finite and >= 0, got ", options.temperature));
  }
  if (options.top_k < 0)
    throw value_error(detail::make_message(where, ": top_k must be >= 0, got ", options.top_k));
  if (!(options.top_p > 0.0 && options.top_p <= 1.0)) {
    throw value_error(detail::make_message(where, ": top_p must be in (0, 1], got ", options.top_p));
  }
}

}  // namespace seqlm
