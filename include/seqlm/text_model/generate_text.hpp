/// \file
/// generate_text(): a TextModel continues a prompt, in one call -- what `seqlm sample` prints --
/// and beam_search() over a model's tokens.
///
/// ```cpp
///   TextModel<float> m = load_text_model("model.safetensors");
///   GenerateTextOptions options;
///   options.sampling.max_tokens = 200;
///   options.sampling.temperature = 0.7;
///   options.on_text = [](const std::string& piece) { std::cout << piece << std::flush; };
///   std::string continuation = generate_text(m, "The meaning of life is ", options);
/// ```
///
/// The prompt is encoded with options.oov and the continuation is chosen by model/generate.hpp:
/// ```text
///   context = 0   generate(): the prompt is read once through the streaming state, then one
///                 step per token (models that keep the time axis)
///   context = N   generate_windowed(): every token re-runs the model over the last N tokens
///                 (the tutorials' loop; needed by a model that drops the time axis)
///   beam = W > 0  beam_search() of width W (word models): the continuation of max_tokens words
///                 with the highest total log-probability that the W best partial continuations
///                 lead to; temperature, top-k, top-p and the seed play no part
/// ```
/// The result is the generated text as it continues the prompt: characters as they are, or for
/// a word model each word preceded by a space (the first one too, unless the prompt is empty).
/// on_text receives the same pieces one token at a time, as soon as each is chosen (after the
/// search for beam search).
///
/// An empty prompt starts from the padding id 0 when the tokenizer reserves one (every word
/// tokenizer, a character tokenizer with reserve_special_tokens), as sequences padded at the
/// front start; a character model without it has nothing to start from (value_error). With such
/// a tokenizer and a context, a prompt shorter than the context is padded at the front to fill
/// the window (Keras's pad_sequences, as the headline tutorial generates). A word
/// model never emits the padding id: with sampling it is the stop token (its probability is
/// near zero after training, where it is never a target), beam search leaves it out.
#pragma once

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "../error.hpp"
#include "../model/generate.hpp"
#include "../model/sequential.hpp"
#include "../sampling.hpp"
#include "../tensor.hpp"
#include "text_model.hpp"

namespace seqlm {

struct GenerateTextOptions {
  GenerationOptions sampling;  ///< max_tokens, temperature, top_k, top_p, seed, stop_token
  Index context = 0;           ///< > 0: windowed generation over the last `context` tokens
  Index beam = 0;              ///< > 0: beam search of this width (word models only)
  OovPolicy oov;               ///< for prompt text the vocabulary lacks
  std::function<void(const std::string&)> on_text;  ///< each token's text, as soon as it is chosen
};

struct BeamSearchOptions {
  Index width = 4;                ///< beams kept after every step (1: greedy)
  Index max_tokens = 20;          ///< tokens to generate
  Index context = 0;              ///< > 0: each step re-runs the model over the last `context` tokens
  std::vector<TokenId> excluded;  ///< ids never generated (e.g. the padding id of a word model)
};

struct BeamSearchResult {
  std::vector<TokenId> tokens;  ///< the generated tokens, without the prompt
  double log_probability = 0;   ///< sum of ln p(token | what precedes it) over `tokens`
};

namespace detail {

// ln softmax(z) of a logits column, in double.
template <class Derived>
void log_softmax_to_double(const Eigen::MatrixBase<Derived>& column, std::vector<double>& log_p) {
  const Index V = column.size();
  log_p.resize(static_cast<size_t>(V));
  double max = -std::numeric_limits<double>::infinity();
  for (Index v = 0; v < V; ++v) max = std::max(max, static_cast<double>(column(v)));
  if (!std::isfinite(max)) throw numeric_error("beam_search: the model produced non-finite logits");
  double total = 0.0;
  for (Index v = 0; v < V; ++v) total += std::exp(static_cast<double>(column(v)) - max);
  const double log_total = std::log(total);
  for (Index v = 0; v < V; ++v)
    log_p[static_cast<size_t>(v)] = static_cast<double>(column(v)) - max - log_total;
}

}  // namespace detail

/// Beam search: keeps the `width` continuations of the prompt with the highest total
/// log-probability after every step, each extended by every token not excluded, and returns the
/// best of them after max_tokens steps. Ties go to the earlier beam, then the lower id, so
/// width 1 is greedy decoding (argmax at every step, as generate() at temperature 0).
/// value_error: an empty prompt, prompt ids outside the vocabulary, width < 1, max_tokens < 0,
/// every token excluded, and context = 0 for a model that drops the time axis.
template <class Scalar>
BeamSearchResult beam_search(const Sequential<Scalar>& model, const std::vector<TokenId>& prompt,
                             const BeamSearchOptions& options) {
  detail::check_positive("beam_search", "width", options.width);
  if (options.max_tokens < 0 || options.context < 0) {
    throw value_error(detail::make_message("beam_search: max_tokens (", options.max_tokens, ") and context (",
                                           options.context, ") must be >= 0"));
  }
  const std::vector<TokenId> ids = detail::checked_prompt("beam_search", model, prompt, PromptPolicy::error);
  if (options.context == 0 && !model.output_keeps_time_axis()) {
    throw value_error(
        "beam_search: the model predicts only after the last step of a window; give a context (the window "
        "it was trained on)");
  }
  const Index V = model.output_size();
  std::vector<char> allowed(static_cast<size_t>(V), 1);
  for (const TokenId id : options.excluded) {
    if (id >= 0 && id < V) allowed[static_cast<size_t>(id)] = 0;
  }
  if (std::find(allowed.begin(), allowed.end(), char{1}) == allowed.end()) {
    throw value_error("beam_search: every token is excluded");
  }

  using State = typename Sequential<Scalar>::State;
  struct Beam {
    std::vector<TokenId> tokens;  // prompt + generated
    double log_p = 0;
    State state;                   // streaming: after reading `tokens`
    std::vector<double> log_next;  // ln p(next token | tokens)
  };
  Sequential<Scalar> runner(model);  // windowed forward passes need their own buffers
  const LayerContext inference;
  std::vector<Beam> beams(1);
  beams[0].tokens = ids;
  // Reads `token` (streaming; the beam has it already appended) or re-runs the window, and
  // leaves the next distribution in beam.log_next.
  auto advance = [&](Beam& beam, TokenId token) {
    if (options.context > 0) {
      const Index length = std::min<Index>(options.context, static_cast<Index>(beam.tokens.size()));
      const TokenView view(beam.tokens.data() + (static_cast<Index>(beam.tokens.size()) - length), length, 1);
      const Matrix<Scalar>& logits = runner.forward(view, inference);
      detail::log_softmax_to_double(logits.col(logits.cols() - 1), beam.log_next);
    } else {
      detail::log_softmax_to_double(model.step(&token, beam.state).col(0), beam.log_next);
    }
  };
  if (options.context > 0) {
    advance(beams[0], ids.back());
  } else {
    beams[0].state = model.make_state(1);
    for (const TokenId id : ids) advance(beams[0], id);
  }

  struct Candidate {
    double log_p;
    size_t beam;
    TokenId token;
  };
  std::vector<Candidate> candidates;
  for (Index k = 0; k < options.max_tokens; ++k) {
    candidates.clear();
    for (size_t b = 0; b < beams.size(); ++b) {
      for (Index v = 0; v < V; ++v) {
        if (!allowed[static_cast<size_t>(v)]) continue;
        candidates.push_back(
            {beams[b].log_p + beams[b].log_next[static_cast<size_t>(v)], b, static_cast<TokenId>(v)});
      }
    }
    const size_t keep = std::min(candidates.size(), static_cast<size_t>(options.width));
    std::partial_sort(candidates.begin(), candidates.begin() + static_cast<std::ptrdiff_t>(keep),
                      candidates.end(), [](const Candidate& a, const Candidate& b) {
                        if (a.log_p != b.log_p) return a.log_p > b.log_p;
                        if (a.beam != b.beam) return a.beam < b.beam;
                        return a.token < b.token;
                      });
    std::vector<Beam> next;
    next.reserve(keep);
    for (size_t c = 0; c < keep; ++c) {
      const Beam& parent = beams[candidates[c].beam];
      Beam child{parent.tokens, candidates[c].log_p, parent.state, {}};
      child.tokens.push_back(candidates[c].token);
      if (k + 1 < options.max_tokens) advance(child, candidates[c].token);  // the last step needs no next
      next.push_back(std::move(child));
    }
    beams = std::move(next);
  }
  BeamSearchResult result;
  result.tokens.assign(beams[0].tokens.begin() + static_cast<std::ptrdiff_t>(ids.size()),
                       beams[0].tokens.end());
  result.log_probability = beams[0].log_p;
  return result;
}

namespace detail {

// Whether the tokenizer reserves the padding id 0, which an empty prompt starts from.
inline bool has_padding_id(const std::variant<CharTokenizer, WordTokenizer>& tokenizer) {
  if (const auto* characters = std::get_if<CharTokenizer>(&tokenizer)) {
    return characters->options().reserve_special_tokens;
  }
  return true;
}

}  // namespace detail

/// Continues `prompt` with `model` (see the top of this file) and returns the generated text.
/// text_error: the prompt has text the vocabulary lacks (options.oov) or is not UTF-8.
/// value_error: a prompt that is empty (or encodes to nothing) for a character model without a
/// padding id, beam search with a character model, context = 0 for a model that drops the time
/// axis, options out of range.
template <class Scalar>
std::string generate_text(const TextModel<Scalar>& model, std::string_view prompt,
                          const GenerateTextOptions& options) {
  check_generation_options("generate_text", options.sampling);
  if (options.context < 0 || options.beam < 0) {
    throw value_error(detail::make_message("generate_text: context (", options.context, ") and beam (",
                                           options.beam, ") must be >= 0"));
  }
  const bool words = model.level() == TokenLevel::word;
  if (options.beam > 0 && !words) {
    throw value_error(
        "generate_text: beam search is for word models; this is a character model (sample it with a "
        "temperature, top-k or top-p instead)");
  }
  if (options.context == 0 && !model.model.output_keeps_time_axis()) {
    throw value_error(
        "generate_text: the model predicts only after the last step of a window (a recurrent layer without "
        "return_sequences); set the context (seqlm sample --context N) to the window it was trained on");
  }
  std::vector<TokenId> ids = model.encode(prompt, options.oov);
  const bool start_of_text = ids.empty();
  if (ids.empty()) {
    if (!detail::has_padding_id(model.tokenizer)) {
      throw value_error(std::string("generate_text: the prompt ") +
                        (prompt.empty() ? "is empty" : "has no token the model knows") +
                        ", and this character model has no start token (its tokenizer reserves no padding "
                        "id); give a prompt");
    }
    ids.push_back(0);  // the padding id: where sequences padded at the front start
  }
  if (options.context > 0 && detail::has_padding_id(model.tokenizer) &&
      static_cast<Index>(ids.size()) < options.context) {
    // A window model with a padding id reads a short prompt padded at the front to a full window.
    ids.insert(ids.begin(), static_cast<size_t>(options.context - static_cast<Index>(ids.size())),
               TokenId{0});
  }

  std::string text;
  bool first = true;
  auto emit = [&](TokenId id) {
    std::string piece;
    if (const auto* characters = std::get_if<CharTokenizer>(&model.tokenizer)) {
      piece = characters->token_text(id);
    } else if (id != WordTokenizer::padding_id) {
      piece = (first && start_of_text ? "" : " ") + std::get<WordTokenizer>(model.tokenizer).word_of(id);
      first = false;
    }
    text += piece;
    if (options.on_text) options.on_text(piece);
  };

  if (options.beam > 0) {
    BeamSearchOptions beam;
    beam.width = options.beam;
    beam.max_tokens = options.sampling.max_tokens;
    beam.context = options.context;
    beam.excluded = {WordTokenizer::padding_id};
    for (const TokenId id : beam_search(model.model, ids, beam).tokens) emit(id);
    return text;
  }
  GenerationOptions sampling = options.sampling;
  if (words && !sampling.stop_token) sampling.stop_token = WordTokenizer::padding_id;
  Rng rng(sampling.seed);
  if (options.context > 0) {
    generate_windowed(model.model, ids, options.context, sampling, rng, emit);
  } else {
    generate(model.model, ids, sampling, rng, emit);
  }
  return text;
}

}  // namespace seqlm
