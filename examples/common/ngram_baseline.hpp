// The n-gram baseline of the example programs: how well does a count-based model do on exactly
// the split and the targets that the neural model is scored on?
//
// Fitting. seqlm::NGramModel (seqlm/ngram.hpp) of order n counts the training split only: every
// position of the training text, or of every training line. Smoothing: backoff to the longest
// suffix c' of the context c (at most n-1 tokens) that was seen in training, then add-k on its
// counts (V = vocabulary size, ngram.hpp's backoff + add_k options together):
//
//   P(w | c) = (count(c', w) + k) / (count(c') + k V)
//
// Backoff alone gives 0 to a token never seen after c' (log 0 = -inf); add-k alone answers every
// unseen long context with the uniform 1/V. Together every probability is at least
// k / (N + k V) > 0, so the cross-entropy is always finite, and an unseen long context still
// uses what its shorter suffixes know. Unless given, k is the candidate of add_k_candidates()
// with the lowest cross-entropy on the last 10% of the training split (the end of the text, or
// the last lines) counted without it; the model is then counted on the whole training split.
// The validation split is never looked at while fitting.
//
// Scoring. A ScoredTarget asks: predict tokens[position] from the context_length tokens just
// before it, and count that `weight` times. Over all targets, with the metric names of fit():
//
//   loss            sum w * -ln P(target | context) / sum w          (nats per target)
//   accuracy        sum of w where argmax_v P(v | context) == target, / sum w
//                   (ties: the smallest id, deterministic)
//   perplexity      exp(loss)
//   bits_per_token  loss / ln 2                                      (bits per character)
//
// window_targets() and line_targets() list the targets of the example programs' datasets.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iomanip>
#include <limits>
#include <optional>
#include <ostream>
#include <seqlm/data/line_sequences.hpp>
#include <seqlm/data/windows.hpp>
#include <seqlm/error.hpp>
#include <seqlm/ngram.hpp>
#include <seqlm/tensor.hpp>
#include <seqlm/train/metrics.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace examples {

// Predict tokens[position] from tokens[position - context_length, position); counted `weight`
// times (one entry for a prediction that several windows share).
struct ScoredTarget {
  seqlm::Index position = 0;
  seqlm::Index context_length = 0;  // the n-gram model uses at most its last order-1 tokens
  seqlm::Index weight = 1;
};

struct NGramBaselineOptions {
  seqlm::Index order = 5;  // n: contexts of n-1 tokens
  double add_k = 0.0;      // > 0: this k; 0: the best of add_k_candidates() on held-out training data
  // Set: contexts at the start of a line are left-padded with it (headlines: the padding id 0,
  // as the tutorial pre-pads). Unset: a context is as long as the tokens before the target.
  std::optional<seqlm::TokenId> begin_token;
};

// The values of k tried when none is given, largest first.
inline const std::vector<double>& add_k_candidates() {
  static const std::vector<double> candidates = {1.0, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001, 0.0003, 0.0001};
  return candidates;
}

class NGramBaseline {
 public:
  // Counts `training` (one text, or one entry per line; no entry may be empty as a whole) with
  // token ids in [0, vocabulary_size). value_error for an empty training split or add_k < 0.
  NGramBaseline(const std::vector<std::vector<seqlm::TokenId>>& training, seqlm::Index vocabulary_size,
                const NGramBaselineOptions& options)
      : model_(options.order, vocabulary_size, model_options(options)) {
    if (!(options.add_k >= 0.0) || !std::isfinite(options.add_k)) {
      throw seqlm::value_error(seqlm::detail::make_message(
          "n-gram baseline: add-k must be > 0 (or 0 to choose it), got ", options.add_k));
    }
    seqlm::Index tokens = 0;
    for (const auto& sequence : training) tokens += static_cast<seqlm::Index>(sequence.size());
    if (tokens == 0) throw seqlm::value_error("n-gram baseline: the training split has no tokens");
    if (options.add_k > 0.0) {
      add_k_ = options.add_k;
    } else {
      choose_add_k(training);
      chosen_ = true;
      model_ = seqlm::NGramModel(options.order, vocabulary_size, model_options(options));
    }
    for (const auto& sequence : training) model_.learn(sequence);
    model_.set_add_k(add_k_);
  }

  const seqlm::NGramModel& model() const { return model_; }
  double add_k() const { return add_k_; }
  bool add_k_was_chosen() const { return chosen_; }
  // Cross-entropy (nats) of the chosen k on the held-out part (NaN when k was given).
  double held_out_loss() const { return held_out_loss_; }

  // The metrics of the top of this file over `targets`, positions in `tokens`. value_error for a
  // target outside `tokens` or the vocabulary, a context longer than what precedes the target,
  // a weight < 1, or no target at all.
  seqlm::EvaluationResult score(const std::vector<seqlm::TokenId>& tokens,
                                const std::vector<ScoredTarget>& targets) const {
    double nats = 0.0;
    seqlm::Index counted = 0;
    seqlm::Index correct = 0;
    seqlm::NGramModel::Context context;
    for (size_t i = 0; i < targets.size(); ++i) {
      const ScoredTarget& target = targets[i];
      check_target(tokens, target, i);
      const seqlm::Index length = std::min(target.context_length, model_.context_length());
      context.assign(tokens.begin() + (target.position - length), tokens.begin() + target.position);
      // Never empty: add_k > 0 gives every context a distribution.
      const std::vector<double> p = *model_.next_distribution(context);
      const auto expected = static_cast<size_t>(tokens[static_cast<size_t>(target.position)]);
      const auto predicted = static_cast<size_t>(std::max_element(p.begin(), p.end()) - p.begin());
      nats -= static_cast<double>(target.weight) * std::log(p[expected]);
      counted += target.weight;
      if (predicted == expected) correct += target.weight;
    }
    if (counted == 0) throw seqlm::value_error("n-gram baseline: no target to score");
    seqlm::EvaluationResult result;
    result.loss = nats / static_cast<double>(counted);
    result.accuracy = static_cast<double>(correct) / static_cast<double>(counted);
    result.perplexity = seqlm::perplexity_of(result.loss);
    result.bits_per_token = seqlm::bits_per_token_of(result.loss);
    result.tokens = counted;
    return result;
  }

 private:
  static seqlm::NGramOptions model_options(const NGramBaselineOptions& options) {
    seqlm::NGramOptions ngram;
    ngram.begin_token = options.begin_token;
    ngram.backoff = true;
    return ngram;
  }

  void check_target(const std::vector<seqlm::TokenId>& tokens, const ScoredTarget& target, size_t i) const {
    const seqlm::Index size = static_cast<seqlm::Index>(tokens.size());
    if (target.position < 0 || target.position >= size || target.context_length < 0 ||
        target.context_length > target.position || target.weight < 1) {
      throw seqlm::value_error(seqlm::detail::make_message(
          "n-gram baseline: target ", i, " (position ", target.position, ", context ", target.context_length,
          ", weight ", target.weight, ") does not fit ", size, " tokens"));
    }
    const seqlm::TokenId id = tokens[static_cast<size_t>(target.position)];
    if (id < 0 || id >= model_.vocabulary_size()) {
      throw seqlm::value_error(seqlm::detail::make_message("n-gram baseline: target ", i, " is token id ", id,
                                                           ", outside the vocabulary [0, ",
                                                           model_.vocabulary_size(), ")"));
    }
  }

  // Counts all but the last 10% of the training split and keeps the k that predicts that last
  // part best: every token of it, each from the tokens before it (in its text or line).
  void choose_add_k(const std::vector<std::vector<seqlm::TokenId>>& training) {
    std::vector<seqlm::TokenId> held_out_tokens;
    std::vector<ScoredTarget> held_out;
    if (training.size() == 1) {  // one text: hold out its end, contexts reach back into the rest
      const std::vector<seqlm::TokenId>& text = training.front();
      const auto cut = static_cast<seqlm::Index>(0.9 * static_cast<double>(text.size()));
      model_.learn(std::vector<seqlm::TokenId>(text.begin(), text.begin() + cut));
      held_out_tokens = text;
      for (seqlm::Index p = cut; p < static_cast<seqlm::Index>(text.size()); ++p)
        held_out.push_back({p, p, 1});
    } else {  // lines: hold out the last lines
      const auto cut = static_cast<size_t>(0.9 * static_cast<double>(training.size()));
      for (size_t line = 0; line < cut; ++line) model_.learn(training[line]);
      for (size_t line = cut; line < training.size(); ++line) {
        const seqlm::Index start = static_cast<seqlm::Index>(held_out_tokens.size());
        held_out_tokens.insert(held_out_tokens.end(), training[line].begin(), training[line].end());
        for (seqlm::Index j = 0; j < static_cast<seqlm::Index>(training[line].size()); ++j) {
          held_out.push_back({start + j, j, 1});
        }
      }
    }
    if (held_out.empty()) {
      throw seqlm::value_error(
          "n-gram baseline: the held-out end of the training split is empty; give add-k");
    }
    held_out_loss_ = std::numeric_limits<double>::infinity();
    for (const double k : add_k_candidates()) {
      model_.set_add_k(k);
      const double loss = score(held_out_tokens, held_out).loss;
      if (loss < held_out_loss_) {
        held_out_loss_ = loss;
        add_k_ = k;
      }
    }
  }

  seqlm::NGramModel model_;
  double add_k_ = 0.0;
  bool chosen_ = false;
  double held_out_loss_ = std::numeric_limits<double>::quiet_NaN();
};

// ---- the targets of the example programs' datasets ---------------------------------------------

// Windows [first, first + count) of `windows`; positions in windows.tokens(). Each target is
// predicted from the tokens of its own window before it (what the neural model sees):
//   next_token_after_window  window i (start s) scores tokens[s + L] from its L tokens;
//   every_position           window i scores tokens[s + t + 1] from t + 1 tokens, t = 0 .. L-1.
// Only the last order-1 tokens of a context matter, so the predictions that overlapping windows
// share (the same position from a context of order-1 tokens or more) are listed once, with the
// number of windows as weight: for Machado's ~1,000,000 windows of 128 that is ~4 million targets
// instead of 128 million, with the same sums.
inline std::vector<ScoredTarget> window_targets(const seqlm::WindowDataset& windows, seqlm::Index first,
                                                seqlm::Index count, seqlm::Index order) {
  if (first < 0 || count < 0 || first + count > windows.size() || order < 2) {
    throw seqlm::value_error(seqlm::detail::make_message("window_targets: windows [", first, ", ",
                                                         first + count, ") of ", windows.size(),
                                                         " with order ", order));
  }
  const seqlm::Index length = windows.length();
  std::vector<ScoredTarget> targets;
  if (windows.targets() == seqlm::WindowTargets::next_token_after_window) {
    for (seqlm::Index i = first; i < first + count; ++i) {
      targets.push_back({windows.window_start(i) + length, std::min(length, order - 1), 1});
    }
    return targets;
  }
  // every_position. Short contexts (m < order-1 tokens: the window's first targets) are unique to
  // their window; full ones are counted per position with a difference array:
  // full[p] - full[p-1] = windows whose full-context targets start at p minus those that ended.
  const seqlm::Index context = order - 1;
  std::vector<seqlm::Index> full(static_cast<size_t>(windows.tokens().size() + 2), 0);
  for (seqlm::Index i = first; i < first + count; ++i) {
    const seqlm::Index start = windows.window_start(i);
    for (seqlm::Index m = 1; m <= std::min(length, context - 1); ++m) targets.push_back({start + m, m, 1});
    if (length >= context) {
      ++full[static_cast<size_t>(start + context)];
      --full[static_cast<size_t>(start + length + 1)];
    }
  }
  seqlm::Index windows_here = 0;
  for (size_t p = 0; p + 1 < full.size(); ++p) {
    windows_here += full[p];
    if (windows_here > 0) targets.push_back({static_cast<seqlm::Index>(p), context, windows_here});
  }
  return targets;
}

// The tokens that windows [first, first + count) read, inputs and targets: from the first
// window's start to the last window's target. (Empty for no window.)
inline std::vector<seqlm::TokenId> window_tokens(const seqlm::WindowDataset& windows, seqlm::Index first,
                                                 seqlm::Index count) {
  if (count <= 0) return {};
  const seqlm::Index begin = windows.window_start(first);
  const seqlm::Index end = windows.window_start(first + count - 1) + windows.length() + 1;
  return windows.tokens().slice(begin, end - begin).to_vector();
}

// The headline tutorial's targets for lines [first, first + count) of `corpus`: every token
// after the first of a line, from the tokens before it in its line (the prefix expansion's
// examples, and LineSequences' too). Positions in corpus.tokens().
inline std::vector<ScoredTarget> line_targets(const seqlm::LineCorpus& corpus, seqlm::Index first,
                                              seqlm::Index count) {
  if (first < 0 || count < 0 || first + count > corpus.line_count()) {
    throw seqlm::value_error(seqlm::detail::make_message("line_targets: lines [", first, ", ", first + count,
                                                         ") of ", corpus.line_count()));
  }
  seqlm::Index start = 0;  // where line `first` starts in corpus.tokens()
  for (seqlm::Index line = 0; line < first; ++line) start += corpus.line_length(line);
  std::vector<ScoredTarget> targets;
  for (seqlm::Index line = first; line < first + count; ++line) {
    const seqlm::Index length = corpus.line_length(line);
    for (seqlm::Index k = 1; k < length; ++k) targets.push_back({start + k, k, 1});
    start += length;
  }
  return targets;
}

// ---- what `baseline` prints ----------------------------------------------------------------------

// One split's tokens and the targets scored in it.
struct ScoredSplit {
  std::vector<seqlm::TokenId> tokens;
  std::vector<ScoredTarget> targets;
};

// "1234567" -> "1,234,567"
inline std::string with_thousands(seqlm::Index n) {
  std::string digits = std::to_string(n);
  for (seqlm::Index at = static_cast<seqlm::Index>(digits.size()) - 3; at > (n < 0 ? 1 : 0); at -= 3) {
    digits.insert(static_cast<size_t>(at), ",");
  }
  return digits;
}

// "loss 1.23456  accuracy 0.51234  perplexity 3.4371  bits_per_token 1.7811  targets 180,250", the
// names prefixed by `prefix` ("val_" for validation, like fit's logs).
inline std::string format_scores(const seqlm::EvaluationResult& r, const std::string& prefix) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(5) << prefix << "loss " << r.loss << "  " << prefix << "accuracy "
      << r.accuracy << "  " << std::setprecision(4) << prefix << "perplexity " << r.perplexity << "  "
      << prefix << "bits_per_token " << r.bits_per_token << "  targets " << with_thousands(r.tokens);
  return out.str();
}

// Fits the baseline on `training`, scores `train` and (when it has targets) `validation`, and
// prints the settings, both splits' metrics and the time taken to `out`.
inline void run_ngram_baseline(const std::vector<std::vector<seqlm::TokenId>>& training,
                               seqlm::Index vocabulary_size, const NGramBaselineOptions& options,
                               const ScoredSplit& train, const ScoredSplit& validation, std::ostream& out) {
  const auto start = std::chrono::steady_clock::now();
  const NGramBaseline baseline(training, vocabulary_size, options);
  out << "n-gram baseline: order " << options.order << " (contexts of " << options.order - 1
      << " tokens), backoff to the longest context seen in training, add-k " << baseline.add_k();
  if (baseline.add_k_was_chosen()) {
    out << " (chosen on the last 10% of the training split: held-out loss " << std::fixed
        << std::setprecision(5) << baseline.held_out_loss() << std::defaultfloat << ")";
  }
  out << "\n" << baseline.model().counts().size() << " distinct contexts counted on the training split\n";
  out << "train       " << format_scores(baseline.score(train.tokens, train.targets), "") << "\n";
  if (!validation.targets.empty()) {
    out << "validation  " << format_scores(baseline.score(validation.tokens, validation.targets), "val_")
        << "\n";
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  out << "baseline took " << std::fixed << std::setprecision(1) << seconds << " s\n" << std::defaultfloat;
}

}  // namespace examples
