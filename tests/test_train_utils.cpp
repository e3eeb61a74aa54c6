// Training utilities that need no model: metrics, history, monitors, learning-rate schedules,
// callbacks (early stopping, checkpoints, CSV logger, lambdas), progress formatting, the
// worker pool.
#include <doctest/doctest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <future>
#include <seqlm/train/callbacks.hpp>
#include <seqlm/train/history.hpp>
#include <seqlm/train/metrics.hpp>
#include <seqlm/train/progress.hpp>
#include <seqlm/train/schedules.hpp>
#include <seqlm/train/worker_pool.hpp>
#include <sstream>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace train_utils_tests {

using namespace seqlm;

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string scratch_path(const std::string& name) {
  return "/tmp/seqlm_test_train_utils_" + std::to_string(::getpid()) + "_" + name;
}

Index count_of(const std::string& text, const std::string& what) {
  Index n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

}  // namespace

TEST_CASE("MetricTotals weights each batch by its counted targets; perplexity and bits per token") {
  MetricTotals totals;
  CrossEntropyResult a;
  a.loss = 1.0;
  a.correct = 3;
  a.counted = 4;
  a.counted_weight = 4.0;
  CrossEntropyResult b;
  b.loss = 2.0;
  b.correct = 0;
  b.counted = 1;
  b.counted_weight = 1.0;
  CHECK(std::isnan(totals.loss()));
  totals.add(a);
  totals.add(b);
  const EvaluationResult r = totals.result();
  CHECK(r.loss == doctest::Approx(6.0 / 5.0));
  CHECK(r.accuracy == doctest::Approx(0.6));
  CHECK(r.perplexity == doctest::Approx(std::exp(1.2)));
  CHECK(r.bits_per_token == doctest::Approx(1.2 / std::log(2.0)));
  CHECK(r.tokens == 5);
  CHECK(r.batches == 2);
  const Logs logs = r.to_logs("val_");
  CHECK(logs.size() == 4);
  CHECK(logs.at("val_perplexity") == r.perplexity);
  CHECK(bits_per_token_of(std::log(2.0)) == doctest::Approx(1.0));
}

TEST_CASE("History keeps every metric aligned with the epochs") {
  History h;
  h.record(0, {{"loss", 2.0}});
  h.record(1, {{"loss", 1.5}, {"val_loss", 1.7}});
  h.record(2, {{"val_loss", 1.6}});
  CHECK(h.size() == 3);
  CHECK(h.epochs == std::vector<Index>{0, 1, 2});
  REQUIRE(h["loss"].size() == 3);
  REQUIRE(h["val_loss"].size() == 3);
  CHECK(h["loss"][1] == 1.5);
  CHECK(std::isnan(h["loss"][2]));
  CHECK(std::isnan(h["val_loss"][0]));
  CHECK(h.last("val_loss") == 1.6);
  CHECK(h.epoch_logs(1) == Logs{{"loss", 1.5}, {"val_loss", 1.7}});
  CHECK(h.epoch_logs(2) == Logs{{"val_loss", 1.6}});
  CHECK_THROWS_AS(h["accuracy"], value_error);
  CHECK_THROWS_WITH_AS(h["acc"], doctest::Contains("loss, val_loss"), value_error);
  CHECK_THROWS_AS(h.epoch_logs(3), value_error);
}

TEST_CASE("Monitor: automatic mode, min_delta, missing metrics") {
  CHECK(Monitor("val_loss").mode() == MonitorMode::min);
  CHECK(Monitor("perplexity").mode() == MonitorMode::min);
  CHECK(Monitor("val_accuracy").mode() == MonitorMode::max);
  CHECK(Monitor("val_loss", MonitorMode::max).mode() == MonitorMode::max);

  const Monitor loss("loss", MonitorMode::automatic, 0.1);
  CHECK(loss.improves(1.0, loss.initial_best()));
  CHECK(loss.improves(0.89, 1.0));
  CHECK_FALSE(loss.improves(0.9, 1.0));  // needs more than min_delta
  const Monitor accuracy("accuracy");
  CHECK(accuracy.improves(0.0, accuracy.initial_best()));
  CHECK(accuracy.improves(0.6, 0.5));
  CHECK_FALSE(accuracy.improves(0.5, 0.5));

  CHECK_THROWS_WITH_AS(Monitor("val_loss").value("EarlyStopping", {{"loss", 1.0}}),
                       doctest::Contains("'val_loss' is not in the logs (available: loss)"), value_error);
  CHECK_THROWS_AS(Monitor(""), value_error);
  CHECK_THROWS_AS(Monitor("loss", MonitorMode::min, -1.0), value_error);
}

TEST_CASE("Epoch schedules: constant, step decay, exponential decay, lambda") {
  ConstantSchedule constant(0.05);
  CHECK(constant.on_epoch_begin(7, 1.0) == 0.05);

  StepDecay step(0.1, 0.5, 3);
  const std::vector<double> expected_step{0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025};
  for (Index e = 0; e < 7; ++e) CHECK(step.on_epoch_begin(e, 99.0) == doctest::Approx(expected_step[e]));
  CHECK(step.on_epoch_end(0, {}, 0.3) == 0.3);
  CHECK(step.state().empty());

  ExponentialDecay smooth(0.1, 0.5, 2.0);
  CHECK(smooth.on_epoch_begin(0, 0) == doctest::Approx(0.1));
  CHECK(smooth.on_epoch_begin(1, 0) == doctest::Approx(0.1 * std::sqrt(0.5)));
  CHECK(smooth.on_epoch_begin(4, 0) == doctest::Approx(0.025));
  ExponentialDecay stairs(0.1, 0.5, 2.0, true);
  CHECK(stairs.on_epoch_begin(1, 0) == doctest::Approx(0.1));
  CHECK(stairs.on_epoch_begin(3, 0) == doctest::Approx(0.05));

  LambdaSchedule halve([](Index, double lr) { return lr / 2; });
  CHECK(halve.on_epoch_begin(0, 0.4) == doctest::Approx(0.2));
  LambdaSchedule broken([](Index, double) { return -1.0; });
  CHECK_THROWS_AS(broken.on_epoch_begin(0, 0.4), value_error);

  CHECK_THROWS_AS(ConstantSchedule(-0.1), value_error);
  CHECK_THROWS_AS(ConstantSchedule(std::nan("")), value_error);
  CHECK_THROWS_AS(StepDecay(0.1, 0.5, 0), value_error);
  CHECK_THROWS_AS(ExponentialDecay(0.1, 0.5, 0.0), value_error);
  CHECK_THROWS_AS(LambdaSchedule(nullptr), value_error);
}

TEST_CASE("ReduceLROnPlateau follows Keras: patience, min_delta, cooldown, min_lr, resumable state") {
  PlateauOptions options;
  options.monitor = "val_loss";
  options.factor = 0.5;
  options.patience = 2;
  options.min_delta = 0.01;
  options.cooldown = 1;
  options.min_lr = 0.03;
  ReduceLROnPlateau plateau(options);
  // Traced by hand with Keras 2.11's ReduceLROnPlateau.on_epoch_end:
  //   epoch  val_loss  best   wait  cooldown  lr
  //   0      1.000     1.000  0     0         0.1
  //   1      0.995     1.000  1     0         0.1    (not better by min_delta)
  //   2      0.999     1.000  2->0  1         0.05   (reduced)
  //   3      0.999     1.000  0     0         0.05   (cooldown: wait stays 0)
  //   4      0.999     1.000  1     0         0.05
  //   5      0.998     1.000  2->0  1         0.03   (0.025 clipped to min_lr)
  //   6      0.500     0.500  0     0         0.03   (improved)
  //   7..9   0.9       0.500  ...             0.03   (lr == min_lr: never below)
  const std::vector<double> losses{1.0, 0.995, 0.999, 0.999, 0.999, 0.998, 0.5, 0.9, 0.9, 0.9};
  const std::vector<double> expected{0.1, 0.1, 0.05, 0.05, 0.05, 0.03, 0.03, 0.03, 0.03, 0.03};
  double lr = 0.1;
  std::map<std::string, double> saved;
  for (size_t e = 0; e < losses.size(); ++e) {
    lr = plateau.on_epoch_end(static_cast<Index>(e), {{"val_loss", losses[e]}}, lr);
    CHECK(lr == doctest::Approx(expected[e]));
    if (e == 2) saved = plateau.state();
  }
  CHECK(plateau.best() == 0.5);

  // A fresh schedule restored from the state after epoch 2 continues identically.
  ReduceLROnPlateau resumed(options);
  resumed.restore_state(saved);
  double lr2 = 0.05;
  for (size_t e = 3; e < losses.size(); ++e) {
    lr2 = resumed.on_epoch_end(static_cast<Index>(e), {{"val_loss", losses[e]}}, lr2);
    CHECK(lr2 == doctest::Approx(expected[e]));
  }

  CHECK_THROWS_AS(plateau.on_epoch_end(0, {{"loss", 1.0}}, 0.1), value_error);
  CHECK_THROWS_AS(resumed.restore_state({{"best", 1.0}}), value_error);
  PlateauOptions bad;
  bad.factor = 1.0;
  CHECK_THROWS_AS(ReduceLROnPlateau{bad}, value_error);
  bad.factor = 0.5;
  bad.patience = -1;
  CHECK_THROWS_AS(ReduceLROnPlateau{bad}, value_error);
  ConstantSchedule stateless(0.1);
  CHECK_THROWS_AS(stateless.restore_state({{"x", 1.0}}), value_error);
}

namespace {

// Two "weights" owned by the test, seen by the callbacks as a ParameterList.
struct FakeModel {
  Matrix<double> w = Matrix<double>::Zero(2, 3), w_grad = Matrix<double>::Zero(2, 3);
  Matrix<double> b = Matrix<double>::Zero(2, 1), b_grad = Matrix<double>::Zero(2, 1);
  TrainingState state;
  TrainingContext<double> context() {
    TrainingContext<double> c;
    c.parameters = {{"dense/kernel", &w, &w_grad}, {"dense/bias", &b, &b_grad}};
    c.state = &state;
    return c;
  }
};

}  // namespace

TEST_CASE("EarlyStopping: patience, min_delta, restore_best, baseline (Keras semantics)") {
  FakeModel model;
  TrainingContext<double> context = model.context();
  EarlyStoppingOptions options;
  options.monitor = "val_loss";
  options.patience = 2;
  options.restore_best = true;
  EarlyStopping<double> stopper(options);
  stopper.on_train_begin(context);

  const std::vector<double> losses{1.0, 0.8, 0.9, 0.85, 0.7};
  Index epoch = 0;
  for (; epoch < static_cast<Index>(losses.size()) && !context.stop_training; ++epoch) {
    model.w.setConstant(static_cast<double>(epoch));  // "training" changes the weights
    model.b.setConstant(-static_cast<double>(epoch));
    stopper.on_epoch_end(epoch, {{"val_loss", losses[static_cast<size_t>(epoch)]}}, context);
  }
  CHECK(context.stop_training);
  CHECK(epoch == 4);  // stopped at the end of epoch 3: two epochs without improving on 0.8
  CHECK(stopper.stopped_epoch() == 3);
  CHECK(stopper.best_epoch() == 1);
  CHECK(stopper.best() == 0.8);
  CHECK((model.w.array() == 1.0).all());  // the weights of epoch 1 are back
  CHECK((model.b.array() == -1.0).all());

  // Without restore_best the weights stay; min_delta makes small gains not count; patience 0
  // stops at the first epoch > 0 without improvement.
  FakeModel other;
  TrainingContext<double> c2 = other.context();
  EarlyStoppingOptions strict;
  strict.monitor = "accuracy";
  strict.min_delta = 0.05;
  strict.patience = 0;
  EarlyStopping<double> stopper2(strict);
  stopper2.on_train_begin(c2);
  stopper2.on_epoch_end(0, {{"accuracy", 0.5}}, c2);
  CHECK_FALSE(c2.stop_training);  // epoch 0 never stops
  stopper2.on_epoch_end(1, {{"accuracy", 0.6}}, c2);
  CHECK_FALSE(c2.stop_training);
  other.w.setConstant(5.0);
  stopper2.on_epoch_end(2, {{"accuracy", 0.64}}, c2);  // +0.04 < min_delta
  CHECK(c2.stop_training);
  CHECK((other.w.array() == 5.0).all());

  // A baseline that is never beaten: improvements do not reset the wait.
  FakeModel third;
  TrainingContext<double> c3 = third.context();
  EarlyStoppingOptions with_baseline;
  with_baseline.monitor = "loss";
  with_baseline.patience = 2;
  with_baseline.baseline = 0.1;
  EarlyStopping<double> stopper3(with_baseline);
  stopper3.on_train_begin(c3);
  stopper3.on_epoch_end(0, {{"loss", 3.0}}, c3);
  stopper3.on_epoch_end(1, {{"loss", 2.0}}, c3);
  CHECK(c3.stop_training);

  CHECK_THROWS_AS(stopper3.on_epoch_end(2, {{"val_loss", 1.0}}, c3), value_error);
  EarlyStoppingOptions negative;
  negative.patience = -1;
  CHECK_THROWS_AS(EarlyStopping<double>{negative}, value_error);
}

TEST_CASE("ModelCheckpoint saves the best epochs, every epoch, or every N batches") {
  FakeModel model;
  TrainingContext<double> context = model.context();
  std::vector<Index> saved_epochs;
  auto save = [&](TrainingContext<double>& c, Index epoch, const Logs&) {
    CHECK(c.state == &model.state);
    saved_epochs.push_back(epoch);
  };
  ModelCheckpoint<double> best(save, CheckpointOptions{"val_accuracy", MonitorMode::automatic, true, 0});
  best.on_train_begin(context);
  const std::vector<double> accuracy{0.5, 0.4, 0.6, 0.6, 0.7};
  for (size_t e = 0; e < accuracy.size(); ++e) {
    best.on_epoch_end(static_cast<Index>(e), {{"val_accuracy", accuracy[e]}}, context);
  }
  CHECK(saved_epochs == std::vector<Index>{0, 2, 4});
  CHECK(best.saves() == 3);
  CHECK(best.best() == 0.7);

  saved_epochs.clear();
  ModelCheckpoint<double> every(save, CheckpointOptions{"val_loss", MonitorMode::automatic, false, 3});
  every.on_train_begin(context);
  every.on_epoch_end(0, {}, context);  // no monitor needed
  every.on_epoch_end(1, {}, context);
  CHECK(saved_epochs == std::vector<Index>{0, 1});
  saved_epochs.clear();
  for (Index step = 1; step <= 7; ++step) {
    model.state.global_step = step;
    every.on_batch_end(step - 1, {}, context);
  }
  CHECK(saved_epochs.size() == 2);  // after global steps 3 and 6

  CHECK_THROWS_AS(best.on_epoch_end(5, {{"loss", 1.0}}, context), value_error);
  CHECK_THROWS_AS(ModelCheckpoint<double>(nullptr), value_error);
  CHECK_THROWS_AS(ModelCheckpoint<double>(save, CheckpointOptions{"loss", MonitorMode::min, true, -1}),
                  value_error);
}

TEST_CASE("SamplingCallback counts batches over the run and needs a model") {
  FakeModel model;
  TrainingContext<double> context = model.context();
  SamplingCallback<double> sampler(2, [](Sequential<double>&, TrainingContext<double>&) {});
  model.state.global_step = 1;
  sampler.on_batch_end(0, {}, context);  // not due
  CHECK(sampler.calls() == 0);
  model.state.global_step = 2;
  CHECK_THROWS_WITH_AS(sampler.on_batch_end(1, {}, context), doctest::Contains("no model"), value_error);
  CHECK_THROWS_AS(SamplingCallback<double>(-1, [](Sequential<double>&, TrainingContext<double>&) {}),
                  value_error);
  CHECK_THROWS_AS(SamplingCallback<double>(1, nullptr), value_error);
}

TEST_CASE("CsvLogger: atomic rewrite, append with header check, file errors") {
  FakeModel model;
  TrainingContext<double> context = model.context();
  const std::string path = scratch_path("history.csv");
  std::remove(path.c_str());

  CsvLogger<double> rewrite(path);
  rewrite.on_train_begin(context);
  rewrite.on_epoch_end(0, {{"loss", 1.25}, {"accuracy", 0.5}, {"lr", 0.001}}, context);
  CHECK(read_file(path) == "epoch,accuracy,loss,lr\n0,0.5,1.25,0.001\n");
  rewrite.on_epoch_end(1, {{"loss", 1.0 / 3.0}, {"accuracy", 0.75}}, context);
  CHECK(read_file(path) == "epoch,accuracy,loss,lr\n0,0.5,1.25,0.001\n1,0.75,0.3333333333,NA\n");
  CHECK_THROWS_WITH_AS(rewrite.on_epoch_end(2, {{"loss", 1.0}, {"val_loss", 2.0}}, context),
                       doctest::Contains("'val_loss' is not among the columns"), value_error);

  // Append: a new file gets the header; a second run appends rows under the same header.
  std::remove(path.c_str());
  for (int run = 0; run < 2; ++run) {
    CsvLogger<double> append(path, CsvMode::append);
    append.on_train_begin(context);
    append.on_epoch_end(run, {{"loss", 2.0 - run}}, context);
  }
  CHECK(read_file(path) == "epoch,loss\n0,2\n1,1\n");
  // ... but not under a different one.
  CsvLogger<double> mismatch(path, CsvMode::append);
  mismatch.on_train_begin(context);
  CHECK_THROWS_WITH_AS(mismatch.on_epoch_end(0, {{"accuracy", 0.5}}, context),
                       doctest::Contains("starts with the header 'epoch,loss'"), file_error);
  std::remove(path.c_str());

  CsvLogger<double> nowhere("/nonexistent-seqlm-directory/history.csv");
  CHECK_THROWS_AS(nowhere.on_epoch_end(0, {{"loss", 1.0}}, context), file_error);
  CsvLogger<double> nowhere_append("/nonexistent-seqlm-directory/history.csv", CsvMode::append);
  CHECK_THROWS_AS(nowhere_append.on_epoch_end(0, {{"loss", 1.0}}, context), file_error);
  CHECK_THROWS_AS(CsvLogger<double>(""), file_error);
  CHECK(CsvLogger<double>::format_number(std::nan("")) == "nan");
}

TEST_CASE("LambdaCallback forwards every hook that is set") {
  FakeModel model;
  TrainingContext<double> context = model.context();
  std::string calls;
  LambdaCallback<double> lambda;
  lambda.train_begin = [&](TrainingContext<double>&) { calls += "T"; };
  lambda.epoch_begin = [&](Index e, TrainingContext<double>&) { calls += "E" + std::to_string(e); };
  lambda.batch_end = [&](Index b, const Logs&, TrainingContext<double>&) {
    calls += "b" + std::to_string(b);
  };
  lambda.epoch_end = [&](Index e, const Logs&, TrainingContext<double>& c) {
    calls += "e" + std::to_string(e);
    c.stop_training = true;
  };
  lambda.on_train_begin(context);
  lambda.on_epoch_begin(0, context);
  lambda.on_batch_end(0, {}, context);
  lambda.on_epoch_end(0, {}, context);
  lambda.on_train_end({}, context);  // not set: nothing happens
  CHECK(calls == "TE0b0e0");
  CHECK(context.stop_training);
}

TEST_CASE("Progress formatting: durations, counts, bar, lines") {
  CHECK(format_duration(7.4) == "7s");
  CHECK(format_duration(187) == "3:07");
  CHECK(format_duration(3723) == "1:02:03");
  CHECK(format_duration(std::nan("")) == "?");
  CHECK(format_count(950) == "950");
  CHECK(format_count(8123) == "8.1k");
  CHECK(format_count(81234) == "81k");
  CHECK(format_count(2.5e6) == "2.5M");
  CHECK(format_bar(0, 10, 10) == "[>.........]");
  CHECK(format_bar(5, 10, 10) == "[=====>....]");
  CHECK(format_bar(10, 10, 10) == "[==========]");

  ProgressSnapshot s;
  s.epoch = 2;
  s.epochs = 20;
  s.batch = 57;
  s.batches = 120;
  s.elapsed_seconds = 5.7;
  s.tokens = 46170;
  s.batches_timed = 57;
  s.loss = 1.23454;
  s.accuracy = 0.61234;
  CHECK(eta_seconds(s) == doctest::Approx(6.3));
  CHECK(format_bar_line(s, 10) ==
        " 57/120 [====>.....] - ETA: 6s - 8.1k tok/s - loss: 1.2345 - accuracy: 0.6123");
  CHECK(format_progress_line(s) ==
        "epoch 3/20 - batch 57/120 (47%) - ETA 6s - 8.1k tok/s - loss: 1.2345 - accuracy: 0.6123");
  CHECK(format_epoch_summary(s, {{"loss", 1.0}, {"val_loss", 2.0}, {"lr", 0.001}, {"seconds", 5.7}}) ==
        "6s - 8.1k tok/s - loss: 1.0000 - val_loss: 2.0000 - lr: 0.001");
}

TEST_CASE("ProgressReporter: plain lines every 10%, throttled bar, silence") {
  ProgressSnapshot s;
  s.epochs = 1;
  s.batches = 50;

  std::ostringstream lines_out;
  ProgressReporter lines({Verbosity::lines, &lines_out});
  CHECK(lines.style() == Verbosity::lines);
  lines.begin_epoch(s);
  for (Index k = 1; k <= 50; ++k) {
    s.batch = k;
    s.batches_timed = k;
    s.elapsed_seconds = 0.01 * k;
    lines.update(s);
  }
  lines.end_epoch(s, {{"loss", 0.5}});
  CHECK(count_of(lines_out.str(), "\n") == 10);  // 10%, ..., 90%, then the summary
  CHECK(count_of(lines_out.str(), "\r") == 0);
  CHECK(lines_out.str().find("epoch 1/1 - batch 5/50 (10%)") == 0);
  CHECK(lines_out.str().find("epoch 1/1 - 50 batches - ") != std::string::npos);

  // Lines are also due when line_interval_seconds passed without a 10% step.
  std::ostringstream slow_out;
  ProgressOptions slow_options{Verbosity::lines, &slow_out};
  slow_options.line_interval_seconds = 1.0;
  ProgressReporter slow(slow_options);
  s.batches = 1000;
  slow.begin_epoch(s);
  for (Index k = 1; k <= 20; ++k) {
    s.batch = k;
    s.elapsed_seconds = 0.5 * k;
    slow.update(s);
  }
  CHECK(count_of(slow_out.str(), "\n") == 10);

  std::ostringstream bar_out;
  ProgressReporter bar({Verbosity::progress_bar, &bar_out});
  s.batches = 100;
  s.batch = 0;
  bar.begin_epoch(s);
  for (Index k = 1; k <= 100; ++k) {
    s.batch = k;
    s.elapsed_seconds = 0.01 * k;  // one second: at most ~10 redraws + the first and last
    bar.update(s);
  }
  bar.end_epoch(s, {{"loss", 0.5}, {"val_loss", 0.6}});
  const std::string text = bar_out.str();
  CHECK(text.find("Epoch 1/1\n") == 0);
  CHECK(count_of(text, "\r") >= 10);
  CHECK(count_of(text, "\r") <= 13);
  CHECK(count_of(text, "\n") == 2);
  CHECK(text.find("val_loss: 0.6000") != std::string::npos);

  std::ostringstream silent_out;
  ProgressReporter silent({Verbosity::silent, &silent_out});
  silent.begin_epoch(s);
  silent.update(s);
  silent.end_epoch(s, {{"loss", 0.5}});
  CHECK(silent_out.str().empty());

  // Not std::cout: automatic means lines.
  std::ostringstream automatic_out;
  CHECK(ProgressReporter({Verbosity::automatic, &automatic_out}).style() == Verbosity::lines);
  ProgressOptions bad;
  bad.line_percent = 0;
  CHECK_THROWS_AS(ProgressReporter{bad}, value_error);
}

TEST_CASE("The first progress frame, before any batch, shows no loss instead of nan") {
  ProgressSnapshot s;  // as fit() starts an epoch: no batch done, the running metrics are 0/0
  s.epochs = 3;
  s.batches = 40;
  s.loss = std::nan("");
  s.accuracy = std::nan("");
  CHECK(format_bar_line(s, 10) == " 0/40 [>.........] - ETA: ? - 0 tok/s");
  CHECK(format_progress_line(s) == "epoch 1/3 - batch 0/40 (0%) - ETA ? - 0 tok/s");

  std::ostringstream bar_out;
  ProgressOptions bar_options{Verbosity::progress_bar, &bar_out};
  bar_options.bar_width = 10;
  ProgressReporter bar(bar_options);
  bar.begin_epoch(s);
  CHECK(bar_out.str() == "Epoch 1/3\n\r 0/40 [>.........] - ETA: ? - 0 tok/s");

  // Once a batch is done the running metrics appear.
  s.batch = 1;
  s.batches_timed = 1;
  s.elapsed_seconds = 0.5;
  s.tokens = 100;
  s.loss = 2.5;
  s.accuracy = 0.25;
  CHECK(format_bar_line(s, 10) ==
        " 1/40 [>.........] - ETA: 20s - 200 tok/s - loss: 2.5000 - accuracy: 0.2500");
}

TEST_CASE("WorkerPool runs every task once per call and rethrows the lowest failing task") {
  detail::WorkerPool pool(3);
  CHECK(pool.workers() == 3);
  std::vector<int> hits(3, 0);
  for (int round = 0; round < 100; ++round) {
    pool.run([&](Index k) { ++hits[static_cast<size_t>(k)]; });
  }
  CHECK(hits == std::vector<int>{100, 100, 100});
  CHECK_THROWS_WITH_AS(pool.run([](Index k) {
    if (k >= 1) throw value_error("task " + std::to_string(k));
  }),
                       "task 1", value_error);
  std::atomic<int> after{0};
  pool.run([&](Index) { ++after; });  // still usable after an exception
  CHECK(after == 3);
  CHECK_THROWS_AS(detail::WorkerPool(0), value_error);
}

TEST_CASE("WorkerPool reports threads the system cannot start as an error and joins the others") {
  // The system refuses the third worker thread (as pthread_create does with EAGAIN when a
  // process or user thread limit is reached).
  int started = 0;
  const detail::WorkerPool::ThreadStarter refuse_third = [&](std::function<void()> body) {
    if (started == 2)
      throw std::system_error(std::make_error_code(std::errc::resource_unavailable_try_again));
    ++started;
    return std::thread(std::move(body));
  };
  // Before the fix the constructor hung: the started threads waited on the pool's condition
  // variable while it was destroyed. Run it on another thread so that a hang fails the test.
  auto construct = std::async(std::launch::async, [&] {
    try {
      detail::WorkerPool pool(5, refuse_third);
      return std::string("no error");
    } catch (const value_error& e) {
      return std::string(e.what());
    }
  });
  REQUIRE(construct.wait_for(std::chrono::seconds(20)) == std::future_status::ready);
  const std::string message = construct.get();
  INFO(message);
  CHECK(message.find("5 threads") != std::string::npos);
  CHECK(message.find("only 3 could be started") != std::string::npos);
  CHECK(started == 2);

  // A pool of the size the system allows works.
  started = 0;
  detail::WorkerPool small(3, refuse_third);
  std::atomic<int> calls{0};
  small.run([&](Index) { ++calls; });
  CHECK(calls == 3);
}

TEST_CASE("ProgressReporter: an epoch stopped early reports the batches actually run") {
  ProgressSnapshot s;
  s.epochs = 1;
  s.batches = 50;
  s.batch = 7;  // a callback stopped the epoch after 7 of 50 batches
  s.batches_timed = 7;
  s.elapsed_seconds = 0.5;

  std::ostringstream lines_out;
  ProgressReporter lines({Verbosity::lines, &lines_out});
  lines.begin_epoch(s);
  lines.end_epoch(s, {{"loss", 0.5}});
  CHECK(lines_out.str().find("epoch 1/1 - 7 batches - ") != std::string::npos);

  std::ostringstream bar_out;
  ProgressReporter bar({Verbosity::progress_bar, &bar_out});
  bar.begin_epoch(s);
  bar.end_epoch(s, {{"loss", 0.5}});
  CHECK(bar_out.str().find("7/50 ") != std::string::npos);
}

TEST_CASE("A run without a fixed number of epochs shows the epoch without a total") {
  ProgressSnapshot s;
  s.epoch = 2;
  s.epochs = until_stopped;  // trained for a time budget, or until early stopping
  s.batches = 40;
  s.loss = std::nan("");
  s.accuracy = std::nan("");
  CHECK(format_progress_line(s) == "epoch 3 - batch 0/40 (0%) - ETA ? - 0 tok/s");
  s.epochs = 5;
  CHECK(format_progress_line(s) == "epoch 3/5 - batch 0/40 (0%) - ETA ? - 0 tok/s");
}

}  // namespace train_utils_tests
