// Tests of the datasets over token ids: windows, splits, batching, shuffling, and the
// prefix expansion versus its efficient per-position equivalent.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <seqlm/data/batching.hpp>
#include <seqlm/data/line_sequences.hpp>
#include <seqlm/data/split.hpp>
#include <seqlm/data/token_source.hpp>
#include <seqlm/data/windows.hpp>
#include <set>
#include <utility>
#include <vector>

namespace datasets_tests {

using namespace seqlm;

namespace {

// 0, 1, 2, ..., n-1 as token ids: token k is k, so every check can be computed by hand.
TokenStream counting_stream(Index n) {
  std::vector<TokenId> ids(static_cast<size_t>(n));
  for (Index k = 0; k < n; ++k) ids[static_cast<size_t>(k)] = static_cast<TokenId>(k);
  return TokenStream(std::move(ids));
}

std::vector<Index> all_indices(Index n) {
  std::vector<Index> indices(static_cast<size_t>(n));
  for (Index k = 0; k < n; ++k) indices[static_cast<size_t>(k)] = k;
  return indices;
}

// A (context, target) pair: the tokens a causal model has seen and the token it must predict.
using Pair = std::pair<std::vector<TokenId>, TokenId>;

// The weighted pairs of a per-position batch, sequence by sequence.
std::vector<std::vector<Pair>> per_position_pairs(const Batch& batch) {
  std::vector<std::vector<Pair>> pairs(static_cast<size_t>(batch.batch));
  for (Index b = 0; b < batch.batch; ++b) {
    std::vector<TokenId> seen;
    for (Index t = 0; t < batch.steps; ++t) {
      const size_t at = static_cast<size_t>(t * batch.batch + b);
      seen.push_back(batch.inputs[at]);
      if (batch.weights[at] != 0.0f) pairs[static_cast<size_t>(b)].push_back({seen, batch.targets[at]});
    }
  }
  return pairs;
}

}  // namespace

TEST_CASE("TokenStream shares its tokens, slices without copying, and checks ranges") {
  auto tokens = std::make_shared<const std::vector<TokenId>>(std::vector<TokenId>{5, 6, 7, 8, 9});
  TokenStream stream(tokens);
  CHECK(stream.size() == 5);
  CHECK(stream[2] == 7);
  const TokenStream middle = stream.slice(1, 3);
  CHECK(middle.to_vector() == std::vector<TokenId>{6, 7, 8});
  CHECK(middle.slice(1, 2).to_vector() == std::vector<TokenId>{7, 8});
  CHECK(middle.slice(1, 2).offset_in_source() == 2);
  CHECK(tokens.use_count() == 2);  // one vector, held by the source that every view shares
  CHECK_THROWS_AS(middle.slice(2, 2), value_error);
  CHECK_THROWS_AS(middle[3], value_error);
  CHECK_THROWS_AS(TokenStream(std::shared_ptr<const TokenSource>()), value_error);
}

TEST_CASE("window counts follow len(range(0, n - L, step))") {
  // Nietzsche: 600,893 characters, maxlen 60, step 3.
  CHECK(WindowDataset::window_count(600893, 60, 3) == 200278);
  const WindowDataset nietzsche(counting_stream(600893), 60, 3, WindowTargets::next_token_after_window);
  CHECK(nietzsche.size() == 200278);
  // The last window starts at 3 * 200277 = 600831 and its target 600891 is still in the text.
  CHECK(nietzsche.window_start(200277) + 60 < 600893);
  // Machado-style windows of 128 + 1 with shift 1: n - 128 windows.
  CHECK(WindowDataset::window_count(1000000, 128, 1) == 1000000 - 128);
  // Small cases against the Python formula, by brute force.
  for (Index n = 0; n < 20; ++n) {
    for (Index length = 1; length < 6; ++length) {
      for (Index step = 1; step < 5; ++step) {
        Index expected = 0;
        for (Index i = 0; i < n - length; i += step) ++expected;
        CHECK(WindowDataset::window_count(n, length, step) == expected);
      }
    }
  }
  CHECK_THROWS_AS(WindowDataset(counting_stream(10), 0, 1, WindowTargets::every_position), value_error);
  CHECK_THROWS_AS(WindowDataset(counting_stream(10), 3, 0, WindowTargets::every_position), value_error);
}

TEST_CASE("window batches are time-major with next-token or every-position targets") {
  const TokenStream tokens = counting_stream(20);
  const std::vector<Index> picked = {0, 4, 2};  // windows start at 0, 12, 6 (step 3)
  Batch batch;

  const WindowDataset last(tokens, 4, 3, WindowTargets::next_token_after_window);
  last.fill(picked, batch);
  CHECK(batch.steps == 4);
  CHECK(batch.batch == 3);
  CHECK(batch.target_steps == 1);
  for (Index t = 0; t < 4; ++t) {
    CHECK(batch.inputs[static_cast<size_t>(t * 3 + 0)] == t);
    CHECK(batch.inputs[static_cast<size_t>(t * 3 + 1)] == 12 + t);
    CHECK(batch.inputs[static_cast<size_t>(t * 3 + 2)] == 6 + t);
  }
  CHECK(batch.targets == std::vector<TokenId>{4, 16, 10});
  CHECK(batch.weights == std::vector<double>{1, 1, 1});
  const TokenView view = batch.input_view();
  CHECK(view(2, 1) == 14);

  const WindowDataset every(tokens, 4, 3, WindowTargets::every_position);
  every.fill(picked, batch);
  CHECK(batch.target_steps == 4);
  for (Index t = 0; t < 4; ++t) {
    for (Index b = 0; b < 3; ++b) {
      CHECK(batch.target_view()(t, b) == batch.input_view()(t, b) + 1);  // y is x shifted by one
    }
  }
  CHECK(batch.weighted_count() == 12);

  CHECK_THROWS_AS(every.fill(std::vector<Index>{every.size()}, batch), value_error);
  CHECK_THROWS_AS(every.fill(std::vector<Index>{}, batch), value_error);
}

TEST_CASE("filling batches of a repeated shape reuses the same memory") {
  const WindowDataset data(counting_stream(500), 16, 1, WindowTargets::every_position);
  Batch batch;
  data.fill(std::vector<Index>{0, 1, 2, 3}, batch);
  const TokenId* inputs = batch.inputs.data();
  const TokenId* targets = batch.targets.data();
  const double* weights = batch.weights.data();
  const TokenId* staging = batch.staging.data();
  for (Index k = 0; k < 50; ++k) {
    data.fill(std::vector<Index>{k, k + 7, k + 100, k + 300}, batch);
    CHECK(batch.inputs.data() == inputs);
    CHECK(batch.targets.data() == targets);
    CHECK(batch.weights.data() == weights);
    CHECK(batch.staging.data() == staging);
  }
  // A smaller last batch fits in the same memory too.
  data.fill(std::vector<Index>{5}, batch);
  CHECK(batch.inputs.data() == inputs);
  CHECK(batch.batch == 1);
}

TEST_CASE("splits by counts, by fractions and Keras's validation_split") {
  const TokenStream tokens = counting_stream(1100);
  const StreamSplit by_counts = split_by_counts(tokens, 1000, 60);
  CHECK(by_counts.train.size() == 1000);
  CHECK(by_counts.validation.size() == 60);
  CHECK(by_counts.test.size() == 40);
  CHECK(by_counts.validation[0] == 1000);
  CHECK(by_counts.test[0] == 1060);
  CHECK_THROWS_AS(split_by_counts(tokens, 1000, 101), value_error);
  CHECK_THROWS_AS(split_by_counts(tokens, -1, 10), value_error);

  // Windows are cut inside a split, never across: 1000 - 128 windows of 128 + 1 in train.
  const WindowDataset train(by_counts.train, 128, 1, WindowTargets::every_position);
  CHECK(train.size() == 872);
  Batch batch;
  train.fill(std::vector<Index>{871}, batch);
  CHECK(batch.targets.back() == 999);

  const StreamSplit by_fractions = split_by_fractions(counting_stream(10), 0.8, 0.1);
  CHECK(by_fractions.train.size() == 8);
  CHECK(by_fractions.validation.size() == 1);
  CHECK(by_fractions.test.size() == 1);
  CHECK_THROWS_AS(split_by_fractions(tokens, 0.8, 0.3), value_error);
  CHECK_THROWS_AS(split_by_fractions(tokens, -0.1, 0.3), value_error);

  // Keras: split_at = floor(n * (1 - fraction)); validation is the last part.
  const TrainValidationSplit keras = validation_split(counting_stream(10), 0.25);
  CHECK(keras.train.size() == 7);  // floor(10 * 0.75) = 7
  CHECK(keras.validation.to_vector() == std::vector<TokenId>{7, 8, 9});
  const ExampleSplit examples = validation_split_indices(200278, 0.1);
  CHECK(examples.train.size() == 180250);  // floor(200278 * 0.9) = 180250
  CHECK(examples.validation.front() == 180250);
  CHECK(examples.validation.back() == 200277);
  CHECK_THROWS_AS(validation_split(tokens, 1.0), value_error);
}

TEST_CASE("a DatasetRange is a renumbered view of a dataset's sequences, and split_sequences cuts two") {
  // Windows of 3 with step 1 over 0..19: window k is k, k+1, k+2 and predicts k+3 (17 windows).
  const WindowDataset windows(counting_stream(20), 3, 1, WindowTargets::next_token_after_window);
  REQUIRE(windows.size() == 17);
  const DatasetRange<WindowDataset> tail(windows, 12, 5);
  CHECK(tail.size() == 5);
  CHECK(tail.begin() == 12);
  Batch batch;
  tail.fill(std::vector<Index>{4, 0}, batch);  // windows 16 and 12 of the dataset
  CHECK(batch.inputs == std::vector<TokenId>{16, 12, 17, 13, 18, 14});
  CHECK(batch.targets == std::vector<TokenId>{19, 15});
  CHECK_THROWS_WITH_AS(tail.fill(std::vector<Index>{5}, batch), "DatasetRange: sequence 5 is outside [0, 5)",
                       value_error);
  CHECK_THROWS_WITH_AS(DatasetRange<WindowDataset>(windows, 12, 6),
                       "DatasetRange: sequences [12, 18) are outside the dataset of 17 sequences",
                       value_error);
  CHECK_THROWS_AS(DatasetRange<WindowDataset>(windows, -1, 2), value_error);

  // Keras's rule on sequences: split_at = floor(17 * 0.75) = 12.
  const DatasetSplit<WindowDataset> parts = split_sequences(windows, 0.25);
  CHECK(parts.train.size() == 12);
  CHECK(parts.validation.size() == 5);
  CHECK(parts.validation.begin() == 12);
  CHECK(split_sequences(windows, 0.0).validation.size() == 0);
  CHECK_THROWS_AS(split_sequences(windows, 1.0), value_error);
}

TEST_CASE("shuffling is a deterministic permutation for a seed and epoch") {
  const std::vector<Index> a = epoch_permutation(1000, 42, 0);
  CHECK(a == epoch_permutation(1000, 42, 0));
  CHECK(a != epoch_permutation(1000, 42, 1));
  CHECK(a != epoch_permutation(1000, 43, 0));
  std::vector<Index> sorted = a;
  std::sort(sorted.begin(), sorted.end());
  CHECK(sorted == all_indices(1000));  // a permutation: every index exactly once
  Index fixed_points = 0;
  for (Index k = 0; k < 1000; ++k) fixed_points += (a[static_cast<size_t>(k)] == k);
  CHECK(fixed_points < 10);  // about 1 expected for a random permutation

  // Fisher-Yates is uniform: each of the 6 permutations of 3 items about equally often.
  Rng rng(5);
  std::map<std::vector<int>, int> seen;
  for (int k = 0; k < 60000; ++k) {
    std::vector<int> items = {0, 1, 2};
    shuffle_in_place(items, rng);
    ++seen[items];
  }
  CHECK(seen.size() == 6);
  for (const auto& entry : seen) CHECK(std::abs(entry.second - 10000) < 500);
}

TEST_CASE("BatchSchedule: batch sizes, drop_remainder, epochs and subsets") {
  BatchOptions ordered;
  ordered.shuffle = false;
  BatchSchedule plain(10, 4, ordered);
  CHECK(plain.batch_count() == 3);
  CHECK(plain.batch(0).size == 4);
  CHECK(plain.batch(2).size == 2);  // the last partial batch
  CHECK(plain.batch(2)[1] == 9);
  CHECK_THROWS_AS(plain.batch(3), value_error);

  BatchOptions shuffled;
  shuffled.seed = 11;
  shuffled.drop_remainder = true;
  BatchSchedule schedule(10, 4, shuffled);
  CHECK(schedule.batch_count() == 2);
  std::set<Index> covered;
  for (Index k = 0; k < schedule.batch_count(); ++k) {
    for (Index i : schedule.batch(k)) covered.insert(i);
  }
  CHECK(covered.size() == 8);  // two full batches of distinct examples
  const std::vector<Index> epoch0 = schedule.order();
  CHECK(epoch0 == epoch_permutation(10, 11, 0));
  schedule.start_epoch(1);
  CHECK(schedule.order() != epoch0);
  schedule.start_epoch(0);
  CHECK(schedule.order() == epoch0);  // resuming an epoch reproduces its order

  // A schedule over the training part of a validation split shuffles only those examples.
  const ExampleSplit split = validation_split_indices(20, 0.25);
  BatchSchedule train(split.train, 6, shuffled);
  std::vector<Index> order = train.order();
  std::sort(order.begin(), order.end());
  CHECK(order == all_indices(15));
  CHECK_THROWS_AS(BatchSchedule(10, 0), value_error);
  CHECK_THROWS_AS(BatchSchedule(-1, 3), value_error);
}

TEST_CASE("prefix expansion reproduces the tutorial's pre-padded n-gram sequences") {
  // Two lines with Keras-Tokenizer-style ids (>= 1; 0 is the padding), and a one-word line
  // that gives no sequence.
  const LineCorpus corpus({{5, 8, 2, 7}, {3, 9}, {4}});
  const PrefixSequences prefixes(corpus);
  CHECK(prefixes.size() == 3 + 1);  // sum of (n - 1)
  CHECK(prefixes.sequence_length() == 4);
  CHECK(prefixes.input_steps() == 3);
  CHECK(prefixes.example(3).line == 1);
  CHECK(prefixes.example(3).prefix_length == 1);

  Batch batch;
  prefixes.fill(all_indices(4), batch);
  // Worked by hand: pad_sequences([[5,8],[5,8,2],[5,8,2,7],[3,9]], maxlen=4, padding='pre').
  const std::vector<std::vector<TokenId>> x = {{0, 0, 5}, {0, 5, 8}, {5, 8, 2}, {0, 0, 3}};
  const std::vector<TokenId> y = {8, 2, 7, 9};
  for (Index b = 0; b < 4; ++b) {
    for (Index t = 0; t < 3; ++t)
      CHECK(batch.input_view()(t, b) == x[static_cast<size_t>(b)][static_cast<size_t>(t)]);
  }
  CHECK(batch.targets == y);
  CHECK(batch.target_steps == 1);
  CHECK_THROWS_AS(prefixes.example(4), value_error);
  TokenId buffer[8];
  CHECK_THROWS_AS(corpus.read_line(1, 1, 2, buffer), value_error);  // past the end of line 1
  CHECK_THROWS_AS(corpus.line(3), value_error);
  CHECK_THROWS_AS(LineCorpus(TokenStream(std::vector<TokenId>{1, 2}), {0, 3}), value_error);
}

TEST_CASE("per-position line sequences give exactly the prefix expansion's (context, target) pairs") {
  Rng rng(9);
  std::vector<std::vector<TokenId>> lines;
  for (int l = 0; l < 40; ++l) {
    const Index n = static_cast<Index>(rng.below(12));  // lengths 0..11: some lines give nothing
    std::vector<TokenId> line;
    for (Index k = 0; k < n; ++k) line.push_back(static_cast<TokenId>(1 + rng.below(30)));
    lines.push_back(line);
  }
  const LineCorpus corpus(lines);
  const PrefixSequences prefixes(corpus);
  const LineSequences sequences(corpus);

  // The prefix expansion's pairs: strip the pre-padding (ids are >= 1) from x.
  std::multiset<Pair> expected;
  Batch batch;
  prefixes.fill(all_indices(prefixes.size()), batch);
  for (Index b = 0; b < batch.batch; ++b) {
    std::vector<TokenId> context;
    for (Index t = 0; t < batch.steps; ++t) {
      const TokenId id = batch.input_view()(t, b);
      if (id != 0) context.push_back(id);
    }
    CHECK(context == [&] {  // the context is exactly the line's prefix
      const auto e = prefixes.example(b);
      const auto line = corpus.line(e.line);
      return std::vector<TokenId>(line.begin(), line.begin() + e.prefix_length);
    }());
    expected.insert({context, batch.targets[static_cast<size_t>(b)]});
  }
  CHECK(static_cast<Index>(expected.size()) == prefixes.size());

  // The efficient dataset's weighted pairs, at several batch sizes (each pads differently).
  for (Index batch_size : {1, 3, 7, 64}) {
    std::multiset<Pair> found;
    BatchSchedule schedule(sequences.size(), batch_size, BatchOptions{true, 3, false});
    for (Index k = 0; k < schedule.batch_count(); ++k) {
      sequences.fill(schedule.batch(k), batch);
      for (const auto& pairs : per_position_pairs(batch)) found.insert(pairs.begin(), pairs.end());
    }
    CHECK(found == expected);
  }
  // Total steps: the prefix expansion computes (sum of n - 1) * (N - 1) steps, the
  // per-position form sum of (n - 1) (plus padding): O(L) per line instead of O(L^2).
  Index line_steps = 0;
  for (Index i = 0; i < sequences.size(); ++i) line_steps += sequences.steps_of(i);
  CHECK(line_steps == prefixes.size());
}

TEST_CASE("padding never changes which positions are counted") {
  const LineCorpus corpus({{1, 2, 3, 4, 5, 6, 7}, {8, 9}, {10, 11, 12}});
  const LineSequences sequences(corpus);
  Batch alone, together, extra;
  // Line 1 ({8, 9}) alone, batched with a long line, and with extra padding up to 20 steps.
  sequences.fill(std::vector<Index>{1}, alone);
  sequences.fill(std::vector<Index>{0, 1, 2}, together);
  sequences.fill(std::vector<Index>{1}, extra, 20);
  CHECK(alone.steps == 1);
  CHECK(together.steps == 6);
  CHECK(extra.steps == 20);
  const auto alone_pairs = per_position_pairs(alone)[0];
  CHECK(alone_pairs == std::vector<Pair>{{{8}, 9}});
  CHECK(per_position_pairs(together)[1] == alone_pairs);
  CHECK(per_position_pairs(extra)[0] == alone_pairs);
  // Post-padding: real tokens at the first steps, then pad id 0 with weight 0.
  CHECK(together.input_view()(0, 1) == 8);
  CHECK(together.input_view()(1, 1) == 0);
  CHECK(together.weights[static_cast<size_t>(1 * 3 + 1)] == 0.0f);
  CHECK(together.weighted_count() == 6 + 1 + 2);
}

TEST_CASE("length buckets cover every line once with little padding") {
  std::vector<std::vector<TokenId>> lines;
  for (int l = 0; l < 50; ++l)
    lines.push_back(std::vector<TokenId>(static_cast<size_t>(2 + (l * 7) % 13), 1));
  const LineSequences sequences{LineCorpus(lines)};
  Rng rng(4), same(4);
  const auto buckets = length_buckets(sequences, 8, rng);
  CHECK(buckets == length_buckets(sequences, 8, same));
  std::vector<Index> all;
  Index padded_steps = 0, real_steps = 0;
  Batch batch;
  for (const auto& bucket : buckets) {
    all.insert(all.end(), bucket.begin(), bucket.end());
    sequences.fill(bucket, batch);
    padded_steps += batch.steps * batch.batch;
    real_steps += batch.weighted_count();
  }
  std::sort(all.begin(), all.end());
  CHECK(all == all_indices(50));
  CHECK(padded_steps - real_steps <= 7 * 13 / 2);  // sorted by length: only bucket edges pad
}

}  // namespace datasets_tests
