// fit() and evaluate() on real models: learning a tiny deterministic language, determinism
// across runs and thread counts (data-parallel and inside GEMMs), NaN handling, bit-identical
// resume, callback order.
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <memory>
#include <seqlm/data/split.hpp>
#include <seqlm/data/windows.hpp>
#include <seqlm/model/sequential.hpp>
#include <seqlm/optim/adam.hpp>
#include <seqlm/optim/sgd.hpp>
#include <seqlm/parallel.hpp>
#include <seqlm/train/fit.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace fit_tests {

using namespace seqlm;

namespace {

// "abcabd" repeated, as ids a=0, b=1, c=2, d=3: after "ab" comes c or d depending on what came
// three characters earlier, so the model needs memory, but every next token is determined by
// the previous six.
TokenStream repeating_language(Index length) {
  const std::vector<TokenId> period{0, 1, 2, 0, 1, 3};
  auto tokens = std::make_shared<std::vector<TokenId>>();
  for (Index k = 0; k < length; ++k) tokens->push_back(period[static_cast<size_t>(k % 6)]);
  return TokenStream(std::make_shared<VectorTokenSource>(tokens));
}

// ids -> [Embedding -> Dropout ->] LSTM(units) -> Dense(vocabulary), initialised from `seed`.
template <class S>
Sequential<S> char_model(Index vocabulary, Index units, std::uint64_t seed, bool with_dropout = false,
                         bool return_sequences = false) {
  Sequential<S> model(InputSpec::token_ids(vocabulary));
  LSTMOptions lstm_options;
  lstm_options.return_sequences = return_sequences;
  if (with_dropout) {
    model.add(layers::embedding<S>(vocabulary, 8));
    model.add(layers::dropout<S>(0.2));
    model.add(layers::lstm<S>(8, units, lstm_options));
  } else {
    model.add(layers::lstm<S>(vocabulary, units, lstm_options));
  }
  model.add(layers::dense<S>(units, vocabulary));
  Rng rng(seed);
  model.initialize(rng);
  return model;
}

template <class S>
std::vector<Matrix<S>> weights_of(Sequential<S>& model) {
  std::vector<Matrix<S>> weights;
  for (const auto& p : model.parameters()) weights.push_back(*p.value);
  return weights;
}

template <class S>
bool identical(const std::vector<Matrix<S>>& a, const std::vector<Matrix<S>>& b) {
  if (a.size() != b.size()) return false;
  for (size_t k = 0; k < a.size(); ++k) {
    if (a[k].rows() != b[k].rows() || a[k].cols() != b[k].cols() || a[k] != b[k]) return false;
  }
  return true;
}

template <class S>
double max_relative_difference(const std::vector<Matrix<S>>& a, const std::vector<Matrix<S>>& b) {
  double worst = 0;
  for (size_t k = 0; k < a.size(); ++k) {
    const double scale = std::max<double>(1e-3, a[k].cwiseAbs().maxCoeff());
    worst = std::max(worst, static_cast<double>((a[k] - b[k]).cwiseAbs().maxCoeff()) / scale);
  }
  return worst;
}

// Per-position targets with post-padding that depends on the example: sequence i has
// (i % steps) + 1 counted targets, so sub-batches carry different weights.
struct PaddedDataset {
  TokenStream tokens;
  Index steps;
  Index count;
  Index size() const { return count; }
  void fill(IndexSpan indices, Batch& batch) const {
    const Index B = indices.size;
    batch.reshape(steps, B, steps);
    for (Index b = 0; b < B; ++b) {
      const Index start = indices[b] * 2, counted = indices[b] % steps + 1;
      for (Index t = 0; t < steps; ++t) {
        const size_t at = static_cast<size_t>(t * B + b);
        batch.inputs[at] = tokens[start + t];
        batch.targets[at] = t < counted ? tokens[start + t + 1] : -1;
        batch.weights[at] = t < counted ? 1.0f : 0.0f;
      }
    }
  }
};

template <class S>
FitOptions<S> quiet_options(Index epochs, Index batch_size, Index threads = 1) {
  FitOptions<S> options;
  options.epochs = epochs;
  options.batch_size = batch_size;
  options.threads = threads;
  options.seed = 123;
  options.verbosity = Verbosity::silent;
  return options;
}

}  // namespace

TEST_CASE("A char LSTM learns a tiny deterministic language to near-zero loss") {
  const WindowDataset train(repeating_language(400), 6, 1, WindowTargets::next_token_after_window);
  Sequential<float> model = char_model<float>(4, 32, 7);
  AdamOptions adam;
  adam.learning_rate = 0.02;
  Adam<float> optimizer(adam);
  FitOptions<float> options = quiet_options<float>(30, 32);
  LambdaCallback<float> stop_when_learned;  // a few epochs suffice (about 0.1 s)
  stop_when_learned.epoch_end = [](Index, const Logs& logs, TrainingContext<float>& context) {
    if (logs.at("loss") < 0.01) context.stop_training = true;
  };
  options.callbacks = {&stop_when_learned};

  const History history = fit(model, optimizer, train, options);
  REQUIRE(history.size() >= 2);
  CHECK(history["loss"].front() > 0.5);
  CHECK(history.last("loss") < 0.05);
  CHECK(history.last("accuracy") == 1.0);
  CHECK(history["perplexity"].back() == doctest::Approx(std::exp(history.last("loss"))));
  CHECK(history["bits_per_token"].back() == doctest::Approx(history.last("loss") / std::log(2.0)));
  CHECK(history.has("tokens_per_second"));
  CHECK(history.has("seconds"));
  CHECK(history.last("lr") == doctest::Approx(0.02));

  const EvaluationResult result = evaluate(model, train, 64);
  CHECK(result.loss < 0.05);
  CHECK(result.accuracy == 1.0);
  CHECK(result.tokens == train.size());
}

TEST_CASE("evaluate() is independent of the batch size (weighted by counted targets)") {
  const PaddedDataset data{repeating_language(200), 5, 40};
  Sequential<double> model = char_model<double>(4, 6, 3, false, true);
  const EvaluationResult one = evaluate(model, data, 1);
  const EvaluationResult seven = evaluate(model, data, 7);
  const EvaluationResult all = evaluate(model, data, 1000);
  CHECK(one.loss == doctest::Approx(all.loss).epsilon(1e-12));
  CHECK(seven.loss == doctest::Approx(all.loss).epsilon(1e-12));
  CHECK(one.accuracy == all.accuracy);
  CHECK(all.tokens == 40 / 5 * (1 + 2 + 3 + 4 + 5));
  CHECK(seven.batches == 6);
  CHECK_THROWS_AS(evaluate(model, data, 0), value_error);
  const PaddedDataset empty{repeating_language(200), 5, 0};
  CHECK_THROWS_AS(evaluate(model, empty, 4), value_error);
}

TEST_CASE("Threads: two runs are bit-identical; 1, 2 and 3 threads agree") {
  const WindowDataset windows(repeating_language(300), 8, 3, WindowTargets::next_token_after_window);
  SUBCASE("float with dropout, 2 threads, twice") {
    std::vector<std::vector<Matrix<float>>> results;
    for (int run = 0; run < 2; ++run) {
      Sequential<float> model = char_model<float>(4, 12, 5, /*with_dropout=*/true);
      Adam<float> optimizer;
      fit(model, optimizer, windows, quiet_options<float>(2, 16, 2));
      results.push_back(weights_of(model));
    }
    CHECK(identical(results[0], results[1]));
  }
  SUBCASE("padded batches in double: the gradient weighting is exact") {
    const PaddedDataset data{repeating_language(400), 6, 60};
    std::vector<std::vector<Matrix<double>>> results;
    std::vector<double> losses;
    for (Index threads : {1, 2, 3}) {
      Sequential<double> model = char_model<double>(4, 10, 9, false, true);
      SgdOptions sgd;
      sgd.learning_rate = 0.5;
      SGD<double> optimizer(sgd);
      const History history = fit(model, optimizer, data, quiet_options<double>(2, 13, threads));
      results.push_back(weights_of(model));
      losses.push_back(history.last("loss"));
    }
    CHECK(max_relative_difference(results[0], results[1]) < 1e-10);
    CHECK(max_relative_difference(results[0], results[2]) < 1e-10);
    CHECK(losses[1] == doctest::Approx(losses[0]).epsilon(1e-10));
    CHECK(losses[2] == doctest::Approx(losses[0]).epsilon(1e-10));
  }
  SUBCASE("float without dropout: 1 vs 2 threads to ~1e-5 relative") {
    std::vector<std::vector<Matrix<float>>> results;
    for (Index threads : {1, 2}) {
      Sequential<float> model = char_model<float>(4, 12, 5);
      SGD<float> optimizer;
      fit(model, optimizer, windows, quiet_options<float>(1, 16, threads));
      results.push_back(weights_of(model));
    }
    CHECK(max_relative_difference(results[0], results[1]) < 1e-5);
  }
  SUBCASE("more threads than sequences in a batch") {
    Sequential<float> model = char_model<float>(4, 4, 5);
    SGD<float> optimizer;
    const History history = fit(model, optimizer, windows, quiet_options<float>(1, 2, 4));
    CHECK(std::isfinite(history.last("loss")));
  }
}

TEST_CASE("GEMM threads: the setting, fit's gemm_threads, determinism and agreement with one thread") {
  CHECK(gemm_threads() == 1);  // every program starts with one (parallel.hpp)
  CHECK_THROWS_WITH_AS(set_gemm_threads(0), doctest::Contains("threads must be >= 1, got 0"), value_error);
  {
    const ScopedGemmThreads two(2);
    CHECK(gemm_threads() == (gemm_threads_supported ? 2 : 1));
  }
  CHECK(gemm_threads() == 1);

  // Products large enough to be split: the input projection (32 x 8 by 8 x 512),
  // the weight gradients over 512 columns and the Dense layer over every position.
  const WindowDataset windows(repeating_language(1200), 16, 2, WindowTargets::every_position);
  const auto run = [&](Index threads, int gemm, bool allow_oversubscription = false) {
    Sequential<float> model = char_model<float>(4, 32, 11, /*with_dropout=*/true, /*return_sequences=*/true);
    Adam<float> optimizer;
    FitOptions<float> options = quiet_options<float>(1, 32, threads);
    options.gemm_threads = gemm;
    options.allow_oversubscription = allow_oversubscription;
    int seen = 0;
    LambdaCallback<float> probe;
    probe.batch_end = [&](Index, const Logs&, TrainingContext<float>&) { seen = gemm_threads(); };
    options.callbacks = {&probe};
    fit(model, optimizer, windows, options);
    CHECK(seen == (gemm_threads_supported ? gemm : 1));  // applied during the run
    CHECK(gemm_threads() == 1);                          // and put back afterwards
    return weights_of(model);
  };
  const auto one = run(1, 1);
  const auto two = run(1, 2);
  CHECK(identical(two, run(1, 2)));  // same seed, same thread counts: same bits
  CHECK(identical(one, two));        // a product cut over threads sums each element in the same order

  // Data-parallel workers each use gemm_threads: their product may not exceed the machine.
  const unsigned hardware = std::thread::hardware_concurrency();
  if (gemm_threads_supported && hardware > 0) {
    const int too_many = std::max(2, static_cast<int>(hardware));  // 2 x too_many > hardware
    CHECK_THROWS_WITH_AS(run(2, too_many), doctest::Contains("busy threads, but this machine has"),
                         value_error);
    CHECK(gemm_threads() == 1);
  }
  const auto oversubscribed = run(2, 2, /*allow_oversubscription=*/true);
  CHECK(identical(oversubscribed, run(2, 2, true)));
  CHECK(max_relative_difference(oversubscribed, run(2, 1)) < 1e-5);

  Sequential<float> model = char_model<float>(4, 4, 2);
  SGD<float> optimizer;
  FitOptions<float> options = quiet_options<float>(1, 8);
  options.gemm_threads = 0;
  CHECK_THROWS_WITH_AS(fit(model, optimizer, windows, options),
                       doctest::Contains("gemm_threads must be >= 1"), value_error);
}

TEST_CASE("NaN in the loss or a gradient: numeric_error naming epoch and batch, or skip the batch") {
  const WindowDataset windows(repeating_language(200), 6, 2, WindowTargets::next_token_after_window);
  SUBCASE("a poisoned weight stops training with numeric_error; the optimizer is untouched") {
    Sequential<float> model = char_model<float>(4, 8, 1);
    (*model.parameters()[0].value)(0, 0) = std::nanf("");
    Adam<float> optimizer;
    CHECK_THROWS_WITH_AS(fit(model, optimizer, windows, quiet_options<float>(1, 16)),
                         doctest::Contains("in epoch 0, batch 0 of 7"), numeric_error);
    CHECK(optimizer.iterations() == 0);
  }
  SUBCASE("a poisoned batch is skipped and counted; training goes on") {
    Sequential<float> model = char_model<float>(4, 8, 1);
    Adam<float> optimizer;
    FitOptions<float> options = quiet_options<float>(1, 16);
    options.on_nan = NanPolicy::skip_batch;
    // Poison a weight after batch 2 and repair it after batch 3: only batch 3 sees the NaN.
    Matrix<float>& kernel = *model.parameters()[0].value;
    float saved = 0;
    LambdaCallback<float> poison;
    std::vector<double> batch_losses;
    poison.batch_end = [&](Index batch, const Logs& logs, TrainingContext<float>&) {
      batch_losses.push_back(logs.at("batch_loss"));
      if (batch == 2) {
        saved = kernel(0, 0);
        kernel(0, 0) = std::nanf("");
      }
      if (batch == 3) kernel(0, 0) = saved;
    };
    options.callbacks = {&poison};
    const History history = fit(model, optimizer, windows, options);
    CHECK(history.last("skipped_batches") == 1.0);
    CHECK(optimizer.iterations() == 6);  // 7 batches, one skipped
    CHECK(std::isnan(batch_losses[3]));
    CHECK(std::isfinite(history.last("loss")));
    for (const auto& w : weights_of(model)) CHECK(w.allFinite());
  }
  SUBCASE("an infinite bias makes the loss NaN: reported with the batch") {
    Sequential<float> model = char_model<float>(4, 8, 1);
    Adam<float> optimizer;
    LambdaCallback<float> poison;
    poison.batch_end = [](Index batch, const Logs&, TrainingContext<float>& context) {
      if (context.state->epoch == 1 && batch == 4) {
        (*context.parameters.back().value)(1, 0) = std::numeric_limits<float>::infinity();
      }
    };
    FitOptions<float> options = quiet_options<float>(3, 16);
    options.callbacks = {&poison};
    CHECK_THROWS_WITH_AS(fit(model, optimizer, windows, options),
                         doctest::Contains("the loss is NaN in epoch 1, batch 5 of 7"), numeric_error);
    CHECK(optimizer.iterations() == 7 + 5);
  }
}

TEST_CASE("Resume from a checkpoint taken after batch k gives bit-identical weights and history") {
  const WindowDataset train(repeating_language(260), 6, 2, WindowTargets::next_token_after_window);
  const WindowDataset validation(repeating_language(60), 6, 5, WindowTargets::next_token_after_window);
  PlateauOptions plateau_options;
  plateau_options.monitor = "val_loss";
  plateau_options.patience = 0;
  plateau_options.factor = 0.5;
  plateau_options.min_delta = 0.05;

  const auto make_options = [](LearningRateSchedule* schedule) {
    FitOptions<float> options = quiet_options<float>(3, 16, 2);
    options.schedule = schedule;
    return options;
  };

  // Uninterrupted run.
  Sequential<float> reference = char_model<float>(4, 10, 21, /*with_dropout=*/true);
  Adam<float> reference_optimizer;
  ReduceLROnPlateau reference_schedule(plateau_options);
  const History reference_history =
      fit(reference, reference_optimizer, train, make_options(&reference_schedule), &validation);

  // Same run, checkpointed in memory after batch 4 of epoch 1 (and after the last batch of
  // epoch 0, before its end-of-epoch work).
  for (const auto& checkpoint_at : {std::pair<Index, Index>{1, 4}, {0, 7}}) {
    const Index checkpoint_epoch = checkpoint_at.first, checkpoint_batch = checkpoint_at.second;
    CAPTURE(checkpoint_epoch);
    CAPTURE(checkpoint_batch);
    Sequential<float> model = char_model<float>(4, 10, 21, true);
    Adam<float> optimizer;
    ReduceLROnPlateau schedule(plateau_options);
    std::unique_ptr<Sequential<float>> saved_model;
    OptimizerState saved_optimizer;
    TrainingState saved_state;
    LambdaCallback<float> checkpoint;
    checkpoint.batch_end = [&](Index batch, const Logs&, TrainingContext<float>& context) {
      if (context.state->epoch == checkpoint_epoch && batch == checkpoint_batch) {
        saved_model = std::make_unique<Sequential<float>>(*context.model);
        saved_optimizer = context.optimizer->export_state();
        saved_state = *context.state;
      }
    };
    FitOptions<float> options = make_options(&schedule);
    options.callbacks = {&checkpoint};
    fit(model, optimizer, train, options, &validation);
    REQUIRE(saved_model != nullptr);
    CHECK(saved_state.batch == checkpoint_batch + 1);
    CHECK(identical(weights_of(model), weights_of(reference)));

    // Resume into fresh objects (as after loading a checkpoint file).
    Adam<float> resumed_optimizer;
    resumed_optimizer.import_state(saved_optimizer);
    ReduceLROnPlateau resumed_schedule(plateau_options);
    const History resumed_history = fit(*saved_model, resumed_optimizer, train,
                                        make_options(&resumed_schedule), &validation, &saved_state);
    CHECK(identical(weights_of(*saved_model), weights_of(reference)));
    CHECK(resumed_optimizer.iterations() == reference_optimizer.iterations());
    CHECK(resumed_history.epochs == reference_history.epochs);
    for (const char* metric : {"loss", "accuracy", "val_loss", "lr"}) {
      CAPTURE(metric);
      CHECK(resumed_history[metric] == reference_history[metric]);
    }
    CHECK(saved_state.epoch == 3);
    CHECK(saved_state.batch == 0);
  }
}

TEST_CASE("Callbacks run in order; stop_training ends the epoch early; schedules set the rate") {
  const WindowDataset windows(repeating_language(100), 6, 2, WindowTargets::next_token_after_window);
  CHECK(windows.size() == 47);  // 3 batches of 16
  Sequential<float> model = char_model<float>(4, 4, 2);
  SgdOptions sgd;
  sgd.learning_rate = 0.1;
  SGD<float> optimizer(sgd);
  StepDecay decay(0.1, 0.5, 1);
  std::string trace;
  std::vector<double> rates;
  LambdaCallback<float> first, second;
  first.train_begin = [&](TrainingContext<float>& c) {
    trace += "T";
    CHECK(c.batches_per_epoch == 3);
    CHECK(c.epochs == 3);
  };
  first.epoch_begin = [&](Index e, TrainingContext<float>& c) {
    trace += "E" + std::to_string(e);
    rates.push_back(c.optimizer->learning_rate());
  };
  first.batch_end = [&](Index b, const Logs& logs, TrainingContext<float>& c) {
    trace += "b" + std::to_string(b);
    CHECK(logs.count("batch_loss") == 1);
    if (c.state->epoch == 2 && b == 1) c.stop_training = true;
  };
  first.epoch_end = [&](Index e, const Logs& logs, TrainingContext<float>&) {
    trace += "e" + std::to_string(e);
    CHECK(logs.count("loss") == 1);
  };
  first.train_end = [&](const Logs&, TrainingContext<float>&) { trace += "X"; };
  second.epoch_end = [&](Index, const Logs&, TrainingContext<float>&) { trace += "!"; };
  FitOptions<float> options = quiet_options<float>(3, 16);
  options.schedule = &decay;
  options.callbacks = {&first, &second};
  const History history = fit(model, optimizer, windows, options);
  CHECK(trace == "TE0b0b1b2e0!E1b0b1b2e1!E2b0b1e2!X");
  CHECK(rates == std::vector<double>{0.1, 0.05, 0.025});
  CHECK(history["lr"] == std::vector<double>{0.1, 0.05, 0.025});
  CHECK(history.size() == 3);
}

TEST_CASE("Progress output, CSV history and the sampling callback inside fit") {
  const WindowDataset windows(repeating_language(100), 6, 2, WindowTargets::next_token_after_window);
  const WindowDataset validation(repeating_language(40), 6, 3, WindowTargets::next_token_after_window);
  Sequential<float> model = char_model<float>(4, 4, 2);
  SGD<float> optimizer;
  std::ostringstream out;
  FitOptions<float> options = quiet_options<float>(2, 8);
  options.verbosity = Verbosity::lines;
  options.output = &out;
  Index samples = 0;
  SamplingCallback<float> sampler(4, [&](Sequential<float>& m, TrainingContext<float>& c) {
    CHECK(&m == &model);
    CHECK(c.rng != nullptr);
    ++samples;
  });
  const std::string csv = "/tmp/seqlm_test_fit_" + std::to_string(::getpid()) + ".csv";
  CsvLogger<float> logger(csv);
  options.callbacks = {&sampler, &logger};
  fit(model, optimizer, windows, options, &validation);
  CHECK(samples == 3);  // 6 batches per epoch: global steps 4, 8, 12
  const std::string text = out.str();
  CHECK(text.find("epoch 1/2 - batch ") != std::string::npos);
  CHECK(text.find("epoch 2/2 - 6 batches - ") != std::string::npos);
  CHECK(text.find("val_loss: ") != std::string::npos);
  std::ifstream in(csv);
  std::string header, row;
  std::getline(in, header);
  CHECK(header ==
        "epoch,accuracy,bits_per_token,loss,lr,perplexity,seconds,tokens_per_second,val_accuracy,"
        "val_bits_per_token,val_loss,val_perplexity");
  Index rows = 0;
  while (std::getline(in, row)) ++rows;
  CHECK(rows == 2);
  std::remove(csv.c_str());
}

TEST_CASE("validation_split holds out the last sequences: the same run as passing them explicitly") {
  // 97 windows of 6 with step 2; validation_split 0.25 keeps floor(97 x 0.75) = 72 for training.
  const TokenStream tokens = repeating_language(200);
  const WindowDataset windows(tokens, 6, 2, WindowTargets::next_token_after_window);
  REQUIRE(windows.size() == 97);
  // The same two parts built by hand from slices of the stream: windows 0..71 and 72..96.
  const WindowDataset head(tokens.slice(0, 72 * 2 + 6), 6, 2, WindowTargets::next_token_after_window);
  const WindowDataset tail(tokens.slice(72 * 2, 200 - 72 * 2), 6, 2, WindowTargets::next_token_after_window);
  REQUIRE(head.size() == 72);
  REQUIRE(tail.size() == 25);

  FitOptions<float> options = quiet_options<float>(3, 16);  // shuffled: the split comes first
  Sequential<float> split_model = char_model<float>(4, 8, 5);
  Adam<float> split_optimizer;
  FitOptions<float> split_options = options;
  split_options.validation_split = 0.25;
  const History split = fit(split_model, split_optimizer, windows, split_options);

  Sequential<float> explicit_model = char_model<float>(4, 8, 5);
  Adam<float> explicit_optimizer;
  const History by_hand = fit(explicit_model, explicit_optimizer, head, options, &tail);

  REQUIRE(split.size() == 3);
  CHECK(split["val_loss"] == by_hand["val_loss"]);
  CHECK(split["val_accuracy"] == by_hand["val_accuracy"]);
  CHECK(split["loss"] == by_hand["loss"]);
  CHECK(identical(weights_of(split_model), weights_of(explicit_model)));
  CHECK(split_optimizer.iterations() == 3 * 5);  // ceil(72 / 16) = 5 batches per epoch

  // Any dataset type: a custom one's last 8 of 40 sequences validate.
  const PaddedDataset padded{repeating_language(200), 5, 40};
  Sequential<double> model = char_model<double>(4, 6, 3, false, true);
  Adam<double> optimizer;
  FitOptions<double> padded_options = quiet_options<double>(1, 8);
  padded_options.validation_split = 0.2;
  const History history = fit(model, optimizer, padded, padded_options);
  CHECK(optimizer.iterations() == 4);  // 32 training sequences
  CHECK(history.last("val_loss") == evaluate(model, DatasetRange<PaddedDataset>(padded, 32, 8), 8).loss);
}

TEST_CASE("validation_split refuses values outside [0, 1), a validation set as well, and empty parts") {
  const WindowDataset windows(repeating_language(200), 6, 2, WindowTargets::next_token_after_window);
  const WindowDataset other(repeating_language(50), 6, 2, WindowTargets::next_token_after_window);
  Sequential<float> model = char_model<float>(4, 4, 2);
  SGD<float> optimizer;
  const auto with_split = [](double fraction) {
    FitOptions<float> options = quiet_options<float>(1, 8);
    options.validation_split = fraction;
    return options;
  };
  CHECK_THROWS_WITH_AS(fit(model, optimizer, windows, with_split(-0.1)),
                       "fit: FitOptions::validation_split must be in [0, 1), got -0.1", value_error);
  CHECK_THROWS_WITH_AS(fit(model, optimizer, windows, with_split(1.0)),
                       "fit: FitOptions::validation_split must be in [0, 1), got 1", value_error);
  CHECK_THROWS_WITH_AS(fit(model, optimizer, windows, with_split(std::nan(""))),
                       doctest::Contains("validation_split must be in [0, 1), got nan"), value_error);
  CHECK_THROWS_WITH_AS(fit(model, optimizer, windows, with_split(0.2), &other),
                       "fit: FitOptions::validation_split is 0.2 and a validation dataset was given too; "
                       "use one of them",
                       value_error);
  // floor(97 x 0.005) = 0 sequences left to train on.
  CHECK_THROWS_WITH_AS(fit(model, optimizer, windows, with_split(0.995)),
                       doctest::Contains("validation_split = 0.995 holds out all 97 training sequences"),
                       value_error);
  // 1 - 1e-17 rounds to 1: nothing held out.
  CHECK_THROWS_WITH_AS(
      fit(model, optimizer, windows, with_split(1e-17)),
      doctest::Contains("validation_split = 1e-17 holds out none of the 97 training sequences"), value_error);
  CHECK(optimizer.iterations() == 0);
}

TEST_CASE("fit rejects bad options and impossible resume positions") {
  const WindowDataset windows(repeating_language(100), 6, 2, WindowTargets::next_token_after_window);
  Sequential<float> model = char_model<float>(4, 4, 2);
  SGD<float> optimizer;
  CHECK_THROWS_AS(fit(model, optimizer, windows, quiet_options<float>(1, 0)), value_error);
  CHECK_THROWS_AS(fit(model, optimizer, windows, quiet_options<float>(-1, 8)), value_error);
  CHECK_THROWS_AS(fit(model, optimizer, windows, quiet_options<float>(1, 8, 0)), value_error);
  FitOptions<float> options = quiet_options<float>(1, 8);
  options.callbacks = {nullptr};
  CHECK_THROWS_AS(fit(model, optimizer, windows, options), value_error);
  const WindowDataset empty(repeating_language(5), 6, 2, WindowTargets::next_token_after_window);
  CHECK_THROWS_AS(fit(model, optimizer, empty, quiet_options<float>(1, 8)), value_error);
  CHECK_THROWS_AS(fit(model, optimizer, windows, quiet_options<float>(1, 8), &empty), value_error);
  TrainingState beyond;
  beyond.batch = 100;
  CHECK_THROWS_WITH_AS(
      fit(model, optimizer, windows, quiet_options<float>(1, 8), (NoValidation*)nullptr, &beyond),
      doctest::Contains("cannot resume at epoch 0, batch 100"), value_error);
  // Nothing happened to the weights or the optimizer.
  CHECK(optimizer.iterations() == 0);
  // A finished state trains no more.
  TrainingState done;
  done.epoch = 1;
  done.rng = Rng(1).snapshot();
  const History history =
      fit(model, optimizer, windows, quiet_options<float>(1, 8), (NoValidation*)nullptr, &done);
  CHECK(history.empty());
  CHECK(optimizer.iterations() == 0);
}

}  // namespace fit_tests
