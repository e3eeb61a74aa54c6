// Tests of the example programs' n-gram baseline (ngram_baseline.hpp) and ExampleRange.
#include <doctest/doctest.h>

#include <cmath>
#include <map>
#include <seqlm/data/windows.hpp>
#include <utility>
#include <vector>

#include "example_range.hpp"
#include "ngram_baseline.hpp"

using examples::NGramBaseline;
using examples::NGramBaselineOptions;
using examples::ScoredTarget;
using seqlm::Index;
using seqlm::TokenId;

namespace {

NGramBaselineOptions with(Index order, double add_k) {
  NGramBaselineOptions options;
  options.order = order;
  options.add_k = add_k;
  return options;
}

// A deterministic pseudo-random text of `length` ids in [0, vocabulary).
std::vector<TokenId> noisy_text(Index length, Index vocabulary) {
  std::vector<TokenId> text;
  std::uint64_t state = 12345;
  for (Index k = 0; k < length; ++k) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    text.push_back(static_cast<TokenId>((state >> 33) % static_cast<std::uint64_t>(vocabulary)));
  }
  return text;
}

// (position, context length cut to order-1) -> weight, adding up duplicates.
std::map<std::pair<Index, Index>, Index> tally(const std::vector<ScoredTarget>& targets, Index order) {
  std::map<std::pair<Index, Index>, Index> counts;
  for (const ScoredTarget& t : targets)
    counts[{t.position, std::min(t.context_length, order - 1)}] += t.weight;
  return counts;
}

}  // namespace

TEST_CASE("the baseline's metrics match counts worked by hand (bigram, add-k 0.5, backoff)") {
  // Training 0 1 0 1 0 2, V = 3: after [0]: 1 twice, 2 once; after [1]: 0 twice.
  const NGramBaseline baseline({{0, 1, 0, 1, 0, 2}}, 3, with(2, 0.5));
  CHECK(baseline.add_k() == 0.5);
  CHECK_FALSE(baseline.add_k_was_chosen());
  const std::vector<TokenId> tokens = {0, 1, 0, 2};
  // P(1 | 0) = 2.5 / 4.5 (argmax 1: right), P(0 | 1) = 2.5 / 3.5 (right), P(2 | 0) = 1.5 / 4.5 (wrong).
  const seqlm::EvaluationResult r = baseline.score(tokens, {{1, 1, 1}, {2, 1, 1}, {3, 1, 1}});
  const double loss = -(std::log(2.5 / 4.5) + std::log(2.5 / 3.5) + std::log(1.5 / 4.5)) / 3.0;
  CHECK(r.loss == doctest::Approx(loss).epsilon(1e-12));
  CHECK(r.accuracy == doctest::Approx(2.0 / 3.0));
  CHECK(r.perplexity == doctest::Approx(std::exp(loss)));
  CHECK(r.bits_per_token == doctest::Approx(loss / std::log(2.0)));
  CHECK(r.tokens == 3);

  // A weight counts a target that many times.
  const seqlm::EvaluationResult weighted = baseline.score(tokens, {{1, 1, 3}, {3, 1, 1}});
  CHECK(weighted.loss ==
        doctest::Approx(-(3 * std::log(2.5 / 4.5) + std::log(1.5 / 4.5)) / 4).epsilon(1e-12));
  CHECK(weighted.accuracy == doctest::Approx(0.75));
  CHECK(weighted.tokens == 4);
  // A context of 0 tokens uses the unigram counts: P(0) = (3 + 0.5) / (6 + 1.5).
  CHECK(baseline.score(tokens, {{2, 0, 1}}).loss == doctest::Approx(-std::log(3.5 / 7.5)));
}

TEST_CASE("no probability is 0: unseen tokens, unseen contexts and unseen continuations stay finite") {
  // Vocabulary 5; token 4 never occurs in training, [3 3] never occurs as a context, and 2 never
  // follows [0 1].
  const std::vector<std::vector<TokenId>> training = {{0, 1, 0, 1, 0, 1, 3, 2, 0, 1, 0}};
  const std::vector<TokenId> tokens = {0, 1, 2, 3, 3, 4, 4, 4};
  const std::vector<ScoredTarget> targets = {{2, 2, 1}, {4, 2, 1}, {5, 2, 1}, {6, 2, 1}, {7, 2, 1}};
  for (const double k : {0.0, 1.0, 1e-4}) {  // 0: chosen on held-out data
    const NGramBaseline baseline(training, 5, with(3, k));
    CHECK(baseline.add_k() > 0);
    const seqlm::EvaluationResult r = baseline.score(tokens, targets);
    CHECK(std::isfinite(r.loss));
    CHECK(r.loss > 0);
    const std::vector<std::vector<TokenId>> contexts = {{0, 1}, {3, 3}, {4, 4}};
    for (const auto& context : contexts) {
      const std::vector<double> p = *baseline.model().next_distribution(context);
      for (const double probability : p) CHECK(probability > 0);
    }
  }
}

TEST_CASE("add-k is chosen from the candidates on the end of the training split, then all of it is counted") {
  // A text that repeats exactly favours the smallest k; noise favours a large one.
  std::vector<TokenId> periodic;
  for (int k = 0; k < 200; ++k) periodic.insert(periodic.end(), {0, 1, 2, 3, 4});
  const NGramBaseline sharp({periodic}, 5, with(3, 0.0));
  CHECK(sharp.add_k_was_chosen());
  CHECK(sharp.add_k() == examples::add_k_candidates().back());
  CHECK(std::isfinite(sharp.held_out_loss()));
  CHECK(sharp.model().context_count({}) == 1000);  // the whole text is counted in the end

  const NGramBaseline noisy({noisy_text(2000, 6)}, 6, with(5, 0.0));
  CHECK(noisy.add_k() >= 0.1);
  // The chosen k is the best candidate on the held-out end: no other one does better there.
  const std::vector<TokenId> text = noisy_text(2000, 6);
  const std::vector<TokenId> counted(text.begin(), text.begin() + 1800);
  std::vector<ScoredTarget> held_out;
  for (Index p = 1800; p < 2000; ++p) held_out.push_back({p, p, 1});
  for (const double k : examples::add_k_candidates()) {
    const NGramBaseline fixed({counted}, 6, with(5, k));
    CHECK(fixed.score(text, held_out).loss >= noisy.held_out_loss() - 1e-12);
  }

  // Lines: the last 10% of the lines are held out.
  const NGramBaseline lines({{1, 2, 3}, {1, 2, 4}, {2, 3}, {1, 2, 3}}, 5, with(2, 0.0));
  CHECK(lines.add_k_was_chosen());
  CHECK(lines.model().context_count({}) == 11);
}

TEST_CASE("every_position window targets merge shared predictions and keep every window's sums") {
  const std::vector<TokenId> tokens = noisy_text(60, 5);
  const NGramBaseline baseline({std::vector<TokenId>(tokens.begin(), tokens.begin() + 30)}, 5, with(3, 0.1));
  for (const Index step : {1, 3}) {
    for (const Index order : {2, 3, 5, 12}) {
      CAPTURE(step);
      CAPTURE(order);
      const seqlm::WindowDataset windows(seqlm::TokenStream(tokens), 8, step,
                                         seqlm::WindowTargets::every_position);
      const Index first = 2;
      const Index count = windows.size() - 4;
      // Brute force: every window, every position, context = the window's tokens before it.
      std::vector<ScoredTarget> each;
      for (Index i = first; i < first + count; ++i) {
        for (Index t = 0; t < 8; ++t) each.push_back({windows.window_start(i) + t + 1, t + 1, 1});
      }
      const std::vector<ScoredTarget> merged = examples::window_targets(windows, first, count, order);
      CHECK(tally(merged, order) == tally(each, order));
      CHECK(merged.size() <= each.size());
      if (order == 3) {  // the model's own order: the same sums
        const seqlm::EvaluationResult a = baseline.score(tokens, merged);
        const seqlm::EvaluationResult b = baseline.score(tokens, each);
        CHECK(a.loss == doctest::Approx(b.loss).epsilon(1e-12));
        CHECK(a.accuracy == doctest::Approx(b.accuracy).epsilon(1e-12));
        CHECK(a.tokens == b.tokens);
      }
    }
  }
}

TEST_CASE("next-token window targets: the token after each window, from the window") {
  const std::vector<TokenId> tokens = noisy_text(30, 4);
  const seqlm::WindowDataset windows(seqlm::TokenStream(tokens), 6, 3,
                                     seqlm::WindowTargets::next_token_after_window);
  REQUIRE(windows.size() == 8);  // ceil((30 - 6) / 3)
  const std::vector<ScoredTarget> targets = examples::window_targets(windows, 5, 3, 5);
  REQUIRE(targets.size() == 3);
  for (Index k = 0; k < 3; ++k) {
    CHECK(targets[static_cast<size_t>(k)].position == (5 + k) * 3 + 6);
    CHECK(targets[static_cast<size_t>(k)].context_length == 4);
    CHECK(targets[static_cast<size_t>(k)].weight == 1);
  }
  // The tokens the first 5 windows read: [0, 4 * 3 + 6 + 1).
  CHECK(examples::window_tokens(windows, 0, 5) == std::vector<TokenId>(tokens.begin(), tokens.begin() + 19));
  CHECK(examples::window_tokens(windows, 0, 0).empty());
  CHECK_THROWS_AS(examples::window_targets(windows, 5, 4, 5), seqlm::value_error);
  CHECK_THROWS_AS(examples::window_targets(windows, 0, 1, 1), seqlm::value_error);
}

TEST_CASE("line targets: every token after the first of each line, from its own line") {
  const seqlm::LineCorpus corpus({{5, 8, 2, 7}, {3}, {4, 6}, {1, 2, 3}});
  const std::vector<ScoredTarget> all = examples::line_targets(corpus, 0, 4);
  const std::vector<std::pair<Index, Index>> expected = {{1, 1}, {2, 2}, {3, 3}, {6, 1}, {8, 1}, {9, 2}};
  REQUIRE(all.size() == expected.size());
  for (size_t k = 0; k < all.size(); ++k) {
    CHECK(all[k].position == expected[k].first);
    CHECK(all[k].context_length == expected[k].second);
  }
  const std::vector<ScoredTarget> last = examples::line_targets(corpus, 2, 2);
  REQUIRE(last.size() == 3);
  CHECK(last.front().position == 6);
  CHECK_THROWS_AS(examples::line_targets(corpus, 3, 2), seqlm::value_error);
}

TEST_CASE("bad settings and bad targets are value_errors") {
  CHECK_THROWS_AS(NGramBaseline({{0, 1}}, 2, with(2, -1.0)), seqlm::value_error);
  CHECK_THROWS_AS(NGramBaseline({{}}, 2, with(2, 1.0)), seqlm::value_error);
  CHECK_THROWS_AS(NGramBaseline({}, 2, with(2, 0.0)), seqlm::value_error);
  CHECK_THROWS_AS(NGramBaseline({{0, 1}}, 2, with(1, 1.0)), seqlm::value_error);
  const NGramBaseline baseline({{0, 1, 0}}, 2, with(2, 1.0));
  const std::vector<TokenId> tokens = {0, 1, 5};
  CHECK_THROWS_AS(baseline.score(tokens, {}), seqlm::value_error);           // nothing to score
  CHECK_THROWS_AS(baseline.score(tokens, {{3, 1, 1}}), seqlm::value_error);  // past the end
  CHECK_THROWS_AS(baseline.score(tokens, {{1, 2, 1}}), seqlm::value_error);  // context before the start
  CHECK_THROWS_AS(baseline.score(tokens, {{1, 1, 0}}), seqlm::value_error);  // weight 0
  CHECK_THROWS_AS(baseline.score(tokens, {{2, 1, 1}}), seqlm::value_error);  // id 5 outside V = 2
}

TEST_CASE("ExampleRange fills the examples of its range, renumbered from 0") {
  const std::vector<TokenId> tokens = noisy_text(40, 7);
  const seqlm::WindowDataset windows(seqlm::TokenStream(tokens), 5, 2,
                                     seqlm::WindowTargets::next_token_after_window);
  const examples::ExampleRange<seqlm::WindowDataset> tail{&windows, 10, windows.size() - 10, {}};
  CHECK(tail.size() == windows.size() - 10);
  seqlm::Batch from_range;
  seqlm::Batch direct;
  tail.fill(std::vector<Index>{0, 3}, from_range);
  windows.fill(std::vector<Index>{10, 13}, direct);
  CHECK(from_range.inputs == direct.inputs);
  CHECK(from_range.targets == direct.targets);
  CHECK_THROWS_AS(tail.fill(std::vector<Index>{tail.size()}, from_range), seqlm::value_error);
}

TEST_CASE("numbers are printed with thousands separators") {
  CHECK(examples::with_thousands(0) == "0");
  CHECK(examples::with_thousands(999) == "999");
  CHECK(examples::with_thousands(180250) == "180,250");
  CHECK(examples::with_thousands(127987456) == "127,987,456");
}
