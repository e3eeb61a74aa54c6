/// \file
/// A count-based n-gram language model over token ids, any order n >= 2.
///
/// The model predicts token w from the n-1 tokens before it (its context) by counting:
/// ```text
///   P(w | c) = count(c, w) / count(c)                                    (maximum likelihood)
///   P(w | c) = (count(c, w) + k) / (count(c) + k V)                      (add-k smoothing, k > 0)
/// ```
/// where V is the vocabulary size. With add-k an unseen context gives the uniform 1/V.
///
/// Sequence boundaries. learn(s) counts every position of s:
///   * begin_token set: s is read as [begin]*(n-1) + s, so the first tokens are predicted from
///     contexts padded with the begin token (the classic `<s>` padding);
///   * begin_token unset: a position with fewer than n-1 tokens before it uses the SHORTER
///     context of the tokens it has (the first token of s gets the empty context);
///   * end_token set: it is appended to s and predicted like any token, so the model learns
///     where sequences end, and generation stops when it is produced.
///
/// To make both shorter contexts and backoff possible, every event is counted under all the
/// suffixes of its context, of length 0 .. n-1. A query context longer than n-1 is cut to
/// its last n-1 tokens; a shorter one is left-padded with begin_token if that is set, and
/// otherwise looked up as it is.
///
/// Unseen contexts. Without smoothing an unseen context has no distribution:
/// next_distribution() returns std::nullopt, generate() stops with
/// StopReason::no_continuation and probability() returns 0 (so perplexity() is +inf). With
/// backoff enabled the model first retries with shorter suffixes of the context (dropping the
/// oldest token) and uses the longest one that was seen ("stupid backoff" without the
/// discount: each answer is still one normalised distribution).
///
/// Storage: one hash map from a context (its tokens, length 0 .. n-1) to the counts of the
/// tokens that followed it, kept as a small vector sorted by token id.
///
/// Files: save() writes JSON atomically (io/atomic_file.hpp), contexts sorted so that the same
/// model always gives the same bytes:
/// ```text
///   {"format": "seqlm.ngram", "version": 1, "order": 3, "vocabulary_size": 40,
///    "begin_token": 0 | null, "end_token": 1 | null, "add_k": 0.0, "backoff": false,
///    "contexts": [[[context ids...], [next id, count, next id, count, ...]], ...]}
/// ```
/// load() checks every field (types, ranges, sorted unique next ids, positive counts, no
/// duplicate context) and reports any problem as a file_error naming the path. A file states
/// only V, not the tokens themselves, so V is checked against max_vocabulary_size (2^22)
/// before anything is allocated, and every id the file names must be below it.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "error.hpp"
#include "io/atomic_file.hpp"
#include "io/json.hpp"
#include "random.hpp"
#include "sampling.hpp"
#include "tensor.hpp"

namespace seqlm {

struct NGramOptions {
  std::optional<TokenId> begin_token;  ///< pad the start of every sequence with n-1 of it
  std::optional<TokenId> end_token;    ///< appended to every learned sequence
  double add_k = 0.0;                  ///< >= 0; 0 = maximum likelihood
  bool backoff = false;                ///< fall back to shorter contexts when one is unseen
};

namespace detail {

struct ContextHash {
  size_t operator()(const std::vector<TokenId>& context) const {
    std::uint64_t h = 0x9E3779B97F4A7C15ULL ^ context.size();
    for (TokenId id : context) {
      h ^= static_cast<std::uint32_t>(id);
      h *= 0xBF58476D1CE4E5B9ULL;
      h ^= h >> 31;
    }
    return static_cast<size_t>(h);
  }
};

// The tokens seen after one context and how often: sorted by token id.
struct NextTokenCounts {
  std::int64_t total = 0;
  std::vector<std::pair<TokenId, std::int64_t>> counts;

  std::int64_t count(TokenId token) const {
    const auto at = std::lower_bound(counts.begin(), counts.end(), token,
                                     [](const auto& entry, TokenId id) { return entry.first < id; });
    return (at != counts.end() && at->first == token) ? at->second : 0;
  }
  void add(TokenId token, std::int64_t amount) {
    auto at = std::lower_bound(counts.begin(), counts.end(), token,
                               [](const auto& entry, TokenId id) { return entry.first < id; });
    if (at != counts.end() && at->first == token) {
      at->second += amount;
    } else {
      counts.insert(at, {token, amount});
    }
    total += amount;
  }
};

}  // namespace detail

class NGramModel {
 public:
  using Context = std::vector<TokenId>;
  using CountTable = std::unordered_map<Context, detail::NextTokenCounts, detail::ContextHash>;

  /// Orders above this are refused. Counting is quadratic in the order: learn() stores every
  /// context length up to order - 1 at every position, about order^2 / 2 token ids per token
  /// learned: 2,016 at 64. At the former limit of 1000, a 192-byte file of order 877 made one
  /// learn() of a one-token sequence store some 770,000 token ids, and a 10,000-token text would
  /// need about 5 * 10^9. Useful character n-grams stop well below 64.
  static constexpr Index max_order = 64;
  /// Vocabulary sizes above this (2^22 = 4,194,304 tokens) are refused: next_distribution()
  /// and generate() hold V doubles (32 MiB at the limit), and a file only states V, so a
  /// corrupt one could otherwise ask for any amount of memory (16 GiB for V = 2^31 - 1).
  static constexpr Index max_vocabulary_size = Index(1) << 22;

  /// order n in [2, max_order] (2 = bigram); vocabulary_size in [1, max_vocabulary_size];
  /// token ids must be in [0, vocabulary_size).
  NGramModel(Index order, Index vocabulary_size, NGramOptions options = {})
      : order_(order), vocabulary_size_(vocabulary_size), options_(options) {
    if (order < 2 || order > max_order) {
      throw value_error(
          detail::make_message("NGramModel: order must be in [2, ", max_order, "], got ", order));
    }
    check_vocabulary_size(vocabulary_size);
    if (!(options.add_k >= 0.0) || !std::isfinite(options.add_k)) {
      throw value_error(
          detail::make_message("NGramModel: add_k must be finite and >= 0, got ", options.add_k));
    }
    if (options.begin_token) check_token("begin token", *options.begin_token);
    if (options.end_token) check_token("end token", *options.end_token);
  }

  Index order() const { return order_; }
  Index context_length() const { return order_ - 1; }
  Index vocabulary_size() const { return vocabulary_size_; }
  const NGramOptions& options() const { return options_; }
  const CountTable& counts() const { return table_; }

  /// Smoothing and backoff can be changed at any time; counts do not depend on them.
  void set_add_k(double k) {
    if (!(k >= 0.0) || !std::isfinite(k)) {
      throw value_error(detail::make_message("NGramModel: add_k must be finite and >= 0, got ", k));
    }
    options_.add_k = k;
  }
  void set_backoff(bool on) { options_.backoff = on; }

  /// Lets later sequences use ids up to new_size - 1 (online learning of new words);
  /// new_size <= max_vocabulary_size.
  void grow_vocabulary(Index new_size) {
    if (new_size < vocabulary_size_) {
      throw value_error(detail::make_message("NGramModel: vocabulary can only grow, from ", vocabulary_size_,
                                             " to ", new_size, " requested"));
    }
    check_vocabulary_size(new_size);
    vocabulary_size_ = new_size;
  }

  /// Adds the counts of one sequence (online: call it again any time). Each predicted position
  /// j adds 1 to count(context suffix of length m, s[j]) for m = 0 .. min(n-1, tokens before j).
  void learn(const std::vector<TokenId>& sequence) {
    for (size_t j = 0; j < sequence.size(); ++j) check_token("learn: sequence", sequence[j], j);
    const std::vector<TokenId> padded = with_boundaries(sequence);
    for (size_t j = first_predicted(); j < padded.size(); ++j) {
      const size_t longest = std::min(static_cast<size_t>(context_length()), j);
      for (size_t m = 0; m <= longest; ++m) {
        Context context(padded.begin() + static_cast<std::ptrdiff_t>(j - m),
                        padded.begin() + static_cast<std::ptrdiff_t>(j));
        table_[std::move(context)].add(padded[j], 1);
      }
    }
  }

  /// Raw counts for an exact context (no padding, no backoff): count(c, w) and count(c).
  std::int64_t count(const Context& context, TokenId next) const {
    const auto at = table_.find(context);
    return at == table_.end() ? 0 : at->second.count(next);
  }
  std::int64_t context_count(const Context& context) const {
    const auto at = table_.find(context);
    return at == table_.end() ? 0 : at->second.total;
  }

  /// P(next | context), with add-k when add_k > 0. Without smoothing, an unseen context
  /// (after backoff, if enabled) gives 0.
  double probability(const Context& context, TokenId next) const {
    check_token("probability: next token", next);
    const detail::NextTokenCounts* seen = resolve(context);
    const double c = seen ? static_cast<double>(seen->count(next)) : 0.0;
    const double total = seen ? static_cast<double>(seen->total) : 0.0;
    const double k = options_.add_k;
    if (k > 0.0) return (c + k) / (total + k * static_cast<double>(vocabulary_size_));
    return total > 0.0 ? c / total : 0.0;
  }

  /// The distribution over the vocabulary after `context`, or std::nullopt when the model has
  /// none (unseen context, no smoothing, backoff off or exhausted).
  std::optional<std::vector<double>> next_distribution(const Context& context) const {
    const detail::NextTokenCounts* seen = resolve(context);
    const double k = options_.add_k;
    if (!seen && k == 0.0) return std::nullopt;
    const double total =
        (seen ? static_cast<double>(seen->total) : 0.0) + k * static_cast<double>(vocabulary_size_);
    std::vector<double> probabilities(static_cast<size_t>(vocabulary_size_), k / total);
    if (seen) {
      for (const auto& [token, c] : seen->counts) {
        probabilities[static_cast<size_t>(token)] = (static_cast<double>(c) + k) / total;
      }
    }
    return probabilities;
  }

  /// Sum of log P over every predicted token of the sequences (with the same boundary
  /// handling as learn(): begin padding, end token), and how many tokens that was.
  struct Evaluation {
    double log_likelihood = 0.0;  ///< natural log; -inf when some token has probability 0
    Index predicted_tokens = 0;
  };
  Evaluation evaluate(const std::vector<std::vector<TokenId>>& sequences) const {
    Evaluation result;
    for (const auto& sequence : sequences) {
      for (size_t j = 0; j < sequence.size(); ++j) check_token("evaluate: sequence", sequence[j], j);
      const std::vector<TokenId> padded = with_boundaries(sequence);
      for (size_t j = first_predicted(); j < padded.size(); ++j) {
        const size_t length = std::min(static_cast<size_t>(context_length()), j);
        const Context context(padded.begin() + static_cast<std::ptrdiff_t>(j - length),
                              padded.begin() + static_cast<std::ptrdiff_t>(j));
        result.log_likelihood += std::log(probability(context, padded[j]));
        ++result.predicted_tokens;
      }
    }
    return result;
  }

  /// exp(-log_likelihood / predicted_tokens) on held-out sequences. +infinity when a token has
  /// probability 0 (use add_k > 0 to avoid it); value_error when there is nothing to predict.
  double perplexity(const std::vector<std::vector<TokenId>>& sequences) const {
    const Evaluation e = evaluate(sequences);
    if (e.predicted_tokens == 0) throw value_error("NGramModel: perplexity of no tokens");
    if (std::isinf(e.log_likelihood)) return std::numeric_limits<double>::infinity();
    return std::exp(-e.log_likelihood / static_cast<double>(e.predicted_tokens));
  }

  /// Continues `prompt` one token at a time: next_distribution of the last n-1 tokens, then
  /// choose_next_token (sampling.hpp). Stops after options.max_tokens tokens, when the stop
  /// token is chosen (options.stop_token, or else the model's end token), or when there is no
  /// continuation. An empty result with reason no_continuation means the model cannot answer
  /// the prompt at all. on_token is called with each token as it is generated.
  GenerationResult generate(const std::vector<TokenId>& prompt, const GenerationOptions& options, Rng& rng,
                            const TokenCallback& on_token = {}) const {
    check_generation_options("NGramModel::generate", options);
    for (size_t j = 0; j < prompt.size(); ++j) check_token("generate: prompt", prompt[j], j);
    const std::optional<TokenId> stop = options.stop_token ? options.stop_token : options_.end_token;
    GenerationResult result;
    Context context(prompt.end() - std::min<std::ptrdiff_t>(static_cast<std::ptrdiff_t>(prompt.size()),
                                                            static_cast<std::ptrdiff_t>(context_length())),
                    prompt.end());
    while (static_cast<Index>(result.tokens.size()) < options.max_tokens) {
      std::optional<std::vector<double>> probabilities = next_distribution(context);
      if (!probabilities) {
        result.reason = StopReason::no_continuation;
        return result;
      }
      const TokenId next = choose_next_token(*probabilities, options, rng);
      if (stop && next == *stop) {
        result.reason = StopReason::stop_token;
        return result;
      }
      result.tokens.push_back(next);
      if (on_token) on_token(next);
      context.push_back(next);
      if (static_cast<Index>(context.size()) > context_length()) context.erase(context.begin());
    }
    result.reason = StopReason::max_tokens;
    return result;
  }

  /// The same with a fresh Rng(options.seed): the same seed gives the same text.
  GenerationResult generate(const std::vector<TokenId>& prompt, const GenerationOptions& options,
                            const TokenCallback& on_token = {}) const {
    Rng rng(options.seed);
    return generate(prompt, options, rng, on_token);
  }

  // ---- files ----------------------------------------------------------------------------------

  json::Value to_json() const {
    std::vector<const CountTable::value_type*> entries;
    for (const auto& entry : table_) entries.push_back(&entry);
    std::sort(entries.begin(), entries.end(), [](const auto* a, const auto* b) {
      if (a->first.size() != b->first.size()) return a->first.size() < b->first.size();
      return a->first < b->first;
    });
    json::Value contexts = json::Value::array();
    for (const auto* entry : entries) {
      json::Value context = json::Value::array();
      for (TokenId id : entry->first) context.push_back(id);
      json::Value next = json::Value::array();
      for (const auto& [token, c] : entry->second.counts) {
        next.push_back(token);
        next.push_back(c);
      }
      json::Value pair = json::Value::array();
      pair.push_back(std::move(context));
      pair.push_back(std::move(next));
      contexts.push_back(std::move(pair));
    }
    auto optional_id = [](const std::optional<TokenId>& id) { return id ? json::Value(*id) : json::Value(); };
    json::Value out = json::Value::object();
    out.set("format", "seqlm.ngram")
        .set("version", 1)
        .set("order", order_)
        .set("vocabulary_size", vocabulary_size_);
    out.set("begin_token", optional_id(options_.begin_token))
        .set("end_token", optional_id(options_.end_token));
    out.set("add_k", options_.add_k).set("backoff", options_.backoff).set("contexts", std::move(contexts));
    return out;
  }

  /// Rebuilds a model from to_json()'s value; value_error describing the first problem.
  static NGramModel from_json(const json::Value& in) {
    if (in.get_string("format") != "seqlm.ngram") {
      throw value_error("NGramModel: format is \"" + in.get_string("format") +
                        "\", expected \"seqlm.ngram\"");
    }
    if (in.get_int64("version") != 1) {
      throw value_error(
          detail::make_message("NGramModel: version ", in.get_int64("version"), ", expected 1"));
    }
    auto optional_id = [&](const char* key) -> std::optional<TokenId> {
      const json::Value& value = in.at(key);
      if (value.is_null()) return std::nullopt;
      return checked_id(value.as_int64(), key);
    };
    NGramOptions options;
    options.begin_token = optional_id("begin_token");
    options.end_token = optional_id("end_token");
    options.add_k = in.get_double("add_k");
    options.backoff = in.get_bool("backoff");
    const std::int64_t vocabulary_size = in.get_int64("vocabulary_size");
    if (vocabulary_size < 1 || vocabulary_size > max_vocabulary_size) {
      throw value_error(detail::make_message("NGramModel: vocabulary_size ", vocabulary_size,
                                             " is out of range: it must be in [1, ", max_vocabulary_size,
                                             "] (at most ", max_vocabulary_size, " tokens)"));
    }
    NGramModel model(checked_size(in.get_int64("order"), "order"), static_cast<Index>(vocabulary_size),
                     options);
    for (const json::Value& pair : in.get_array("contexts")) {
      if (pair.size() != 2) throw value_error("NGramModel: a context entry must be [context, next counts]");
      Context context;
      for (const json::Value& id : pair.at(0).as_array())
        context.push_back(model.checked_token(id, "context"));
      if (static_cast<Index>(context.size()) > model.context_length()) {
        throw value_error(detail::make_message("NGramModel: a context has ", context.size(),
                                               " tokens, the model's order allows ", model.context_length()));
      }
      const json::Value::Array& next = pair.at(1).as_array();
      if (next.empty() || next.size() % 2 != 0) {
        throw value_error("NGramModel: next counts must be a non-empty list of (token, count) pairs");
      }
      detail::NextTokenCounts counts;
      for (size_t k = 0; k < next.size(); k += 2) {
        const TokenId token = model.checked_token(next[k], "next token");
        const std::int64_t c = next[k + 1].as_int64();
        if (c <= 0) throw value_error(detail::make_message("NGramModel: count ", c, " is not positive"));
        if (c > std::numeric_limits<std::int64_t>::max() - counts.total) {
          throw value_error("NGramModel: the counts of a context overflow a 64-bit total");
        }
        if (!counts.counts.empty() && token <= counts.counts.back().first) {
          throw value_error("NGramModel: next tokens of a context must be strictly increasing");
        }
        counts.counts.push_back({token, c});
        counts.total += c;
      }
      if (!model.table_.emplace(std::move(context), std::move(counts)).second) {
        throw value_error("NGramModel: a context appears twice");
      }
    }
    return model;
  }

  /// Writes the model to `path` atomically (the old file stays intact on failure).
  void save(const std::string& path) const { write_file_atomically(path, to_json().dump()); }

  /// Reads a model written by save(); file_error naming the path for unreadable, malformed or
  /// inconsistent files.
  static NGramModel load(const std::string& path) { return json::load_file(path, "NGramModel", from_json); }

 private:
  static void check_vocabulary_size(Index size) {
    if (size < 1 || size > max_vocabulary_size) {
      throw value_error(detail::make_message("NGramModel: vocabulary size must be in [1, ",
                                             max_vocabulary_size, "] (at most ", max_vocabulary_size,
                                             " tokens), got ", size));
    }
  }

  void check_token(const char* what, TokenId id, size_t position = 0) const {
    if (id < 0 || id >= vocabulary_size_) {
      throw value_error(detail::make_message("NGramModel: ", what, " has token id ", id, " at position ",
                                             position, ", outside the vocabulary [0, ", vocabulary_size_,
                                             ")"));
    }
  }

  static Index checked_size(std::int64_t value, const char* what) {
    if (value < 1 || value > std::numeric_limits<TokenId>::max()) {
      throw value_error(detail::make_message("NGramModel: ", what, " ", value, " is out of range"));
    }
    return static_cast<Index>(value);
  }
  static TokenId checked_id(std::int64_t value, const char* what) {
    if (value < 0 || value > std::numeric_limits<TokenId>::max()) {
      throw value_error(detail::make_message("NGramModel: ", what, " ", value, " is not a token id"));
    }
    return static_cast<TokenId>(value);
  }
  TokenId checked_token(const json::Value& value, const char* what) const {
    const TokenId id = checked_id(value.as_int64(), what);
    check_token(what, id);
    return id;
  }

  // [begin]*(n-1) + sequence + [end], as configured.
  std::vector<TokenId> with_boundaries(const std::vector<TokenId>& sequence) const {
    std::vector<TokenId> padded;
    padded.reserve(sequence.size() + static_cast<size_t>(order_));
    if (options_.begin_token) padded.assign(static_cast<size_t>(context_length()), *options_.begin_token);
    padded.insert(padded.end(), sequence.begin(), sequence.end());
    if (options_.end_token) padded.push_back(*options_.end_token);
    return padded;
  }
  size_t first_predicted() const { return options_.begin_token ? static_cast<size_t>(context_length()) : 0; }

  // The counts to use for a query context: its last n-1 tokens (left-padded with the begin
  // token when that is set), then shorter suffixes if backoff is on. nullptr when unseen.
  const detail::NextTokenCounts* resolve(const Context& context) const {
    const size_t n_1 = static_cast<size_t>(context_length());
    Context key;
    if (options_.begin_token && context.size() < n_1) key.assign(n_1 - context.size(), *options_.begin_token);
    const size_t take = std::min(context.size(), n_1 - key.size());
    key.insert(key.end(), context.end() - static_cast<std::ptrdiff_t>(take), context.end());
    while (true) {
      const auto at = table_.find(key);
      if (at != table_.end() && at->second.total > 0) return &at->second;
      if (!options_.backoff || key.empty()) return nullptr;
      key.erase(key.begin());
    }
  }

  Index order_;
  Index vocabulary_size_;
  NGramOptions options_;
  CountTable table_;
};

}  // namespace seqlm
