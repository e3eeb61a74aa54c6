// Resuming fit() from a checkpoint FILE: a run interrupted mid-epoch and continued from the
// last file ModelCheckpoint wrote, with fresh model, optimizer, schedule and callbacks, ends
// with bit-identical weights, history and early-stopping epoch (1 and 2 threads). Also: exact
// round trips of the training state (inf, NaN, -0, subnormals), and corrupt or inconsistent
// training-state fields, each a file_error naming the field.
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <memory>
#include <seqlm/data/windows.hpp>
#include <seqlm/io/safetensors.hpp>
#include <seqlm/model/sequential.hpp>
#include <seqlm/optim/adam.hpp>
#include <seqlm/optim/make_optimizer.hpp>
#include <seqlm/train/checkpoint.hpp>
#include <seqlm/train/fit.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace checkpoint_resume_tests {

using namespace seqlm;
namespace st = seqlm::safetensors;

namespace {

std::string scratch_path(const std::string& name) {
  return "/tmp/seqlm_checkpoint_resume_" + std::to_string(::getpid()) + "_" + name;
}

// Removes the files at the end of a test.
struct ScratchFiles {
  std::vector<std::string> paths;
  std::string add(const std::string& name) {
    paths.push_back(scratch_path(name));
    return paths.back();
  }
  ~ScratchFiles() {
    for (const std::string& path : paths) ::unlink(path.c_str());
  }
};

// Tokens over 4 symbols: usually (token two places back) + 1 mod 4, otherwise (one time in
// four) a random one. A model learns the rule, then starts fitting the training noise, so
// validation loss stops improving within a few epochs and early stopping fires.
TokenStream noisy_language(Index length, std::uint64_t seed) {
  Rng rng(seed);
  auto tokens = std::make_shared<std::vector<TokenId>>();
  for (Index k = 0; k < length; ++k) {
    const bool random = k < 2 || rng.below(4) == 0;
    tokens->push_back(random ? static_cast<TokenId>(rng.below(4))
                             : ((*tokens)[static_cast<size_t>(k - 2)] + 1) % 4);
  }
  return TokenStream(std::make_shared<VectorTokenSource>(tokens));
}

// ids -> Embedding(4, 8) -> Dropout(0.2) -> GRU(12) -> Dense(4).
Sequential<float> gru_model(std::uint64_t seed) {
  Sequential<float> model(InputSpec::token_ids(4));
  model.add(layers::embedding<float>(4, 8));
  model.add(layers::dropout<float>(0.2));
  model.add(layers::gru<float>(8, 12));
  model.add(layers::dense<float>(12, 4));
  Rng rng(seed);
  model.initialize(rng);
  return model;
}

bool same_bits(const Matrix<float>& a, const Matrix<float>& b) {
  return a.rows() == b.rows() && a.cols() == b.cols() &&
         std::memcmp(a.data(), b.data(), sizeof(float) * static_cast<size_t>(a.size())) == 0;
}

bool same_weights(Sequential<float>& a, Sequential<float>& b) {
  const auto pa = a.parameters(), pb = b.parameters();
  if (pa.size() != pb.size()) return false;
  for (size_t k = 0; k < pa.size(); ++k) {
    if (pa[k].name != pb[k].name || !same_bits(*pa[k].value, *pb[k].value)) return false;
  }
  return true;
}

bool same_double(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0 || (a != a && b != b); }

// Every metric but the timings, value by value (NaN equals NaN).
void check_same_history(const History& resumed, const History& reference) {
  CHECK(resumed.epochs == reference.epochs);
  for (const auto& metric : reference.metrics) {
    const std::string& name = metric.first;  // not a structured binding: CAPTURE's lambda reads it
    const auto& values = metric.second;
    if (name == "seconds" || name == "tokens_per_second") continue;
    CAPTURE(name);
    REQUIRE(resumed.has(name));
    const std::vector<double>& other = resumed[name];
    REQUIRE(other.size() == values.size());
    for (size_t k = 0; k < values.size(); ++k) CHECK(same_double(other[k], values[k]));
  }
  CHECK(resumed.metrics.size() == reference.metrics.size());
}

// A CSV file without its timing columns (seconds, tokens_per_second).
std::vector<std::string> csv_without_timings(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  std::vector<bool> keep;
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> cells;
    std::stringstream stream(line);
    for (std::string cell; std::getline(stream, cell, ',');) cells.push_back(cell);
    if (keep.empty()) {
      for (const std::string& cell : cells) keep.push_back(cell != "seconds" && cell != "tokens_per_second");
    }
    std::string kept;
    for (size_t k = 0; k < cells.size() && k < keep.size(); ++k) {
      if (keep[k]) kept += cells[k] + ",";
    }
    lines.push_back(kept);
  }
  return lines;
}

// The run under test: everything that must come back after a resume.
struct Run {
  Run(Index threads, const std::string& csv_path)
      : model(gru_model(31)),
        optimizer(adam_options()),
        plateau(plateau_options()),
        stopping(stopping_options()),
        csv(csv_path) {
    options.epochs = 12;
    options.batch_size = 16;
    options.threads = threads;
    options.seed = 2024;
    options.verbosity = Verbosity::silent;
    options.schedule = &plateau;
  }

  static AdamOptions adam_options() {
    AdamOptions adam;
    adam.learning_rate = 0.01;
    return adam;
  }
  static PlateauOptions plateau_options() {
    PlateauOptions plateau;
    plateau.patience = 0;
    plateau.factor = 0.5;
    plateau.min_delta = 0.01;
    return plateau;
  }
  static EarlyStoppingOptions stopping_options() {
    EarlyStoppingOptions stopping;
    stopping.patience = 2;
    stopping.min_delta = 0.005;
    stopping.restore_best = true;
    return stopping;
  }

  Sequential<float> model;
  Adam<float> optimizer;
  ReduceLROnPlateau plateau;
  EarlyStopping<float> stopping;
  CsvLogger<float> csv;
  FitOptions<float> options;
};

struct SimulatedCrash {};

}  // namespace

TEST_CASE("A run resumed from the last checkpoint file matches the uninterrupted run bit for bit") {
  const WindowDataset train(noisy_language(400, 1), 6, 3, WindowTargets::next_token_after_window);
  const WindowDataset validation(noisy_language(150, 2), 6, 4, WindowTargets::next_token_after_window);
  REQUIRE(train.size() == 132);  // 9 batches of 16 (the last has 4)

  for (const Index threads : {1, 2}) {
    CAPTURE(threads);
    ScratchFiles files;
    const std::string reference_csv = files.add("reference.csv");

    // The uninterrupted run.
    Run reference(threads, reference_csv);
    reference.options.callbacks = {&reference.stopping, &reference.csv};
    const History reference_history =
        fit(reference.model, reference.optimizer, train, reference.options, &validation);
    // Early stopping fired well before the last epoch, and the plateau lowered the rate.
    REQUIRE(reference.stopping.stopped_epoch() >= 5);
    REQUIRE(reference.stopping.stopped_epoch() < reference.options.epochs - 1);
    REQUIRE(reference_history["lr"].back() < reference_history["lr"].front());

    // Crashes at several points; each time the run goes on from the last file written:
    // mid-epoch (the file is 1 to 4 batches older), at the first batch of an epoch (the file is
    // the previous epoch's end), and no crash at all (the file is the end of the run, where
    // early stopping asked to stop).
    const Index batches = 9;
    const Index last_step = (reference.stopping.stopped_epoch() + 1) * batches;
    for (const Index crash_step :
         {Index{8}, 2 * batches + 5, 3 * batches + 1, last_step - 1, last_step + 1}) {
      CAPTURE(crash_step);
      const std::string checkpoint_path = files.add("run.checkpoint");
      const std::string csv_path = files.add("interrupted.csv");
      std::remove(checkpoint_path.c_str());
      std::remove(csv_path.c_str());

      Run interrupted(threads, csv_path);
      LambdaCallback<float> crash;
      crash.batch_end = [&](Index, const Logs&, TrainingContext<float>& context) {
        if (context.state->global_step == crash_step) throw SimulatedCrash{};
      };
      CheckpointOptions every_4;
      every_4.every_batches = 4;
      every_4.save_best_only = false;  // and at every epoch end
      ModelCheckpoint<float> checkpoint(checkpoint_writer<float>(checkpoint_path), every_4);
      interrupted.options.callbacks = {&interrupted.stopping, &interrupted.csv, &crash, &checkpoint};
      bool crashed = false;
      try {
        fit(interrupted.model, interrupted.optimizer, train, interrupted.options, &validation);
      } catch (const SimulatedCrash&) {
        crashed = true;
      }
      CHECK(crashed == (crash_step <= last_step));

      // A new process: everything rebuilt from the file and the program's own settings.
      LoadedCheckpoint<float> saved = load_checkpoint<float>(checkpoint_path);
      CHECK(saved.state.global_step < std::min(crash_step, last_step + 1));
      CHECK(saved.state.global_step >= std::min(crash_step, last_step + 1) - 4);
      CHECK(saved.state.stop_training == !crashed);
      CHECK(saved.state.batches_per_epoch == batches);
      std::unique_ptr<Optimizer<float>> optimizer = restore_optimizer<float>(saved.optimizer);
      Run resumed(threads, csv_path);
      ModelCheckpoint<float> resumed_checkpoint(checkpoint_writer<float>(checkpoint_path), every_4);
      LambdaCallback<float> no_crash;
      resumed.options.callbacks = {&resumed.stopping, &resumed.csv, &no_crash, &resumed_checkpoint};
      const History history =
          fit(saved.model.model, *optimizer, train, resumed.options, &validation, &saved.state);

      CHECK(same_weights(saved.model.model, reference.model));
      CHECK(optimizer->iterations() == reference.optimizer.iterations());
      const OptimizerState a = optimizer->export_state(), b = reference.optimizer.export_state();
      REQUIRE(a.slots.size() == b.slots.size());
      for (size_t k = 0; k < a.slots.size(); ++k) CHECK(a.slots[k].second == b.slots[k].second);
      check_same_history(history, reference_history);
      CHECK(resumed.stopping.stopped_epoch() == reference.stopping.stopped_epoch());
      CHECK(resumed.stopping.best_epoch() == reference.stopping.best_epoch());
      CHECK(same_double(resumed.stopping.best(), reference.stopping.best()));
      CHECK(resumed.plateau.state() == reference.plateau.state());
      CHECK(csv_without_timings(csv_path) == csv_without_timings(reference_csv));
      CHECK(saved.state.stop_training);
      CHECK(saved.state.callback_states.count("early_stopping") == 1);
    }
  }
}

TEST_CASE("Every checkpoint file of a run resumes to the same end") {
  const WindowDataset train(noisy_language(200, 3), 6, 3, WindowTargets::next_token_after_window);
  const WindowDataset validation(noisy_language(100, 4), 6, 4, WindowTargets::next_token_after_window);
  ScratchFiles files;
  Run reference(1, files.add("reference.csv"));
  reference.options.epochs = 4;
  // One file per save: "{step}" is the global step.
  CheckpointOptions every_2;
  every_2.every_batches = 2;
  every_2.save_best_only = false;
  const std::string pattern = scratch_path("step-{step}.checkpoint");
  ModelCheckpoint<float> checkpoint(checkpoint_writer<float>(pattern), every_2);
  reference.options.callbacks = {&reference.stopping, &reference.csv, &checkpoint};
  const History reference_history =
      fit(reference.model, reference.optimizer, train, reference.options, &validation);
  const Index batches = 5;  // 65 windows in batches of 16
  Index resumed_runs = 0;
  for (Index step = 1; step <= 4 * batches; ++step) {
    const std::string path = scratch_path("step-" + std::to_string(step) + ".checkpoint");
    if (!std::ifstream(path)) continue;
    files.paths.push_back(path);
    CAPTURE(step);
    LoadedCheckpoint<float> saved = load_checkpoint<float>(path);
    // This time the run goes on without the checkpoint callback: drop its state on purpose
    // (fit() refuses state that no callback claims).
    REQUIRE(saved.state.callback_states.erase("model_checkpoint") == 1);
    auto optimizer = restore_optimizer<float>(saved.optimizer);
    Run resumed(1, files.add("resumed.csv"));
    resumed.options.epochs = 4;
    resumed.options.callbacks = {&resumed.stopping, &resumed.csv};
    const History history =
        fit(saved.model.model, *optimizer, train, resumed.options, &validation, &saved.state);
    CHECK(same_weights(saved.model.model, reference.model));
    check_same_history(history, reference_history);
    ++resumed_runs;
  }
  // Early stopping ends the run after epoch 2 (step 15): files at steps 2, 4, ..., 14 and at
  // the epoch ends 5 and 15 (the end of epoch 1, step 10, replaced the batch file of step 10).
  CHECK(reference.stopping.stopped_epoch() == 2);
  CHECK(resumed_runs == 9);
}

TEST_CASE("The training state round-trips exactly, non-finite numbers and callback tensors included") {
  TrainingState state;
  state.epoch = 3;
  state.batch = 2;
  state.global_step = 29;
  state.skipped_batches = 1;
  state.epoch_tokens = 96;
  state.batches_per_epoch = 9;
  state.stop_training = true;
  state.rng = Rng(5).snapshot();
  state.schedule_state = {
      {"best", std::numeric_limits<double>::infinity()}, {"wait", 2}, {"cooldown_counter", 0}};
  state.epoch_totals.weighted_loss = 0.1 + 0.2;         // not a short decimal
  state.epoch_totals.weight = 4.9406564584124654e-324;  // the smallest subnormal
  state.epoch_totals.correct = 7;
  state.epoch_totals.counted = 16;
  state.epoch_totals.batches = 1;
  state.history.record(0, {{"loss", 1.0 / 3.0}, {"lr", 0.001}});
  state.history.record(
      2, {{"loss", -0.0}, {"val_loss", std::nan("")}, {"lr", -std::numeric_limits<double>::infinity()}});
  CallbackState callback;
  callback.values.set("wait", 1).set("best", 2.5);
  callback.tensors.emplace_back("best_weights/dense/kernel", Matrix<double>::Constant(2, 3, 1.0 / 7.0));
  state.callback_states["early_stopping"] = callback;

  // Through JSON text, as in a file.
  detail::TrainingPosition position = detail::training_position(state);
  position.extra = json::parse(position.extra.dump());
  const TrainingState back = detail::training_state_from(position);
  CHECK(back.epoch == 3);
  CHECK(back.batch == 2);
  CHECK(back.global_step == 29);
  CHECK(back.skipped_batches == 1);
  CHECK(back.epoch_tokens == 96);
  CHECK(back.batches_per_epoch == 9);
  CHECK(back.stop_training);
  CHECK(back.rng.words == state.rng.words);
  CHECK(back.schedule_state == state.schedule_state);
  CHECK(same_double(back.epoch_totals.weighted_loss, 0.1 + 0.2));
  CHECK(same_double(back.epoch_totals.weight, 4.9406564584124654e-324));
  CHECK(back.epoch_totals.correct == 7);
  CHECK(back.epoch_totals.counted == 16);
  CHECK(back.epoch_totals.batches == 1);
  CHECK(back.history.epochs == state.history.epochs);
  REQUIRE(back.history.metrics.size() == 3);
  for (const auto& metric : state.history.metrics) {
    const std::string& name = metric.first;  // not a structured binding: CAPTURE's lambda reads it
    const auto& values = metric.second;
    CAPTURE(name);
    REQUIRE(back.history[name].size() == values.size());
    for (size_t k = 0; k < values.size(); ++k) CHECK(same_double(back.history[name][k], values[k]));
  }
  CHECK(std::signbit(back.history["loss"][1]));
  REQUIRE(back.callback_states.count("early_stopping") == 1);
  const CallbackState& restored = back.callback_states.at("early_stopping");
  CHECK(restored.values == callback.values);
  REQUIRE(restored.tensors.size() == 1);
  CHECK(restored.tensors[0].first == "best_weights/dense/kernel");
  CHECK(restored.tensors[0].second == callback.tensors[0].second);

  // And through a file.
  ScratchFiles files;
  const std::string path = files.add("state.checkpoint");
  Sequential<float> model = gru_model(1);
  Adam<float> optimizer;
  save_checkpoint(path, model, optimizer, state);
  const LoadedCheckpoint<float> loaded = load_checkpoint<float>(path);
  CHECK(loaded.state.callback_states.at("early_stopping").tensors[0].second == callback.tensors[0].second);
  CHECK(same_double(loaded.state.epoch_totals.weight, state.epoch_totals.weight));
  CHECK(loaded.optimizer.name == "Adam");
}

namespace {

// A valid checkpoint with a few epochs of history and an EarlyStopping state with best weights.
std::string good_checkpoint(ScratchFiles& files) {
  const WindowDataset train(noisy_language(120, 5), 6, 3, WindowTargets::next_token_after_window);
  Sequential<float> model = gru_model(3);
  Adam<float> optimizer;
  EarlyStoppingOptions stopping_options;
  stopping_options.monitor = "loss";
  stopping_options.restore_best = true;
  stopping_options.patience = 10;
  EarlyStopping<float> stopping(stopping_options);
  const std::string path = files.add("good.checkpoint");
  CheckpointOptions every_3;
  every_3.every_batches = 3;
  every_3.save_best_only = false;
  ModelCheckpoint<float> checkpoint(checkpoint_writer<float>(path), every_3);
  FitOptions<float> options;
  options.epochs = 2;
  options.batch_size = 8;
  options.verbosity = Verbosity::silent;
  options.callbacks = {&stopping, &checkpoint};
  fit(model, optimizer, train, options);
  return path;
}

// Rewrites the checkpoint with its training metadata changed by `change` (checksum resealed).
template <class Change>
void change_training(const std::string& from, const std::string& to, const Change& change) {
  st::File file = st::read(from);
  json::Value training = json::parse(file.metadata.at("training"));
  change(training);
  file.metadata["training"] = training.dump();
  file.metadata["checksum"] = format_crc32(detail::model_file_checksum(file));
  st::write(to, file);
}

json::Value& member(json::Value& object, const std::string& key) {
  for (auto& entry : object.as_object()) {
    if (entry.first == key) return entry.second;
  }
  FAIL("no member " << key);
  return object;
}

void check_file_error_contains(const std::string& path, const std::vector<std::string>& parts) {
  try {
    load_checkpoint<float>(path);
    FAIL("no error for " << parts.front());
  } catch (const file_error& e) {
    const std::string message = e.what();
    CAPTURE(message);
    CHECK(message.find("checkpoint \"" + path + "\"") != std::string::npos);
    for (const std::string& part : parts) CHECK(message.find(part) != std::string::npos);
  }
}

}  // namespace

TEST_CASE("Corrupt or inconsistent training-state fields are file_errors naming the field") {
  ScratchFiles files;
  const std::string good = good_checkpoint(files);
  const std::string bad = files.add("bad.checkpoint");
  const LoadedCheckpoint<float> loaded = load_checkpoint<float>(good);
  REQUIRE(loaded.state.epoch == 2);
  REQUIRE(loaded.state.callback_states.at("early_stopping").tensors.size() == 6);  // every weight

  const auto extra = [](json::Value& training) -> json::Value& { return member(training, "extra"); };
  struct Case {
    std::string name;
    std::function<void(json::Value&)> change;
    std::vector<std::string> message;
  };
  const std::vector<Case> cases = {
      {"a counter of the wrong type",
       [&](json::Value& t) { member(member(extra(t), "epoch_totals"), "correct") = "7"; },
       {"training state/epoch_totals: field \"correct\" is a string, expected an integer"}},
      {"a missing field",
       [&](json::Value& t) { extra(t).as_object().erase(extra(t).as_object().begin() + 9); },
       {"training state: field \"callbacks\" is missing"}},
      {"a missing history",
       [&](json::Value& t) {
         auto& members = extra(t).as_object();
         for (auto it = members.begin(); it != members.end(); ++it) {
           if (it->first == "history") {
             members.erase(it);
             break;
           }
         }
       },
       {"training state: field \"history\" is missing"}},
      {"a negative counter",
       [&](json::Value& t) { member(extra(t), "epoch_tokens") = -5; },
       {"training state: field \"epoch_tokens\" is -5, expected an integer >= 0"}},
      {"a fractional counter",
       [&](json::Value& t) { member(extra(t), "skipped_batches") = 1.5; },
       {"training state: field \"skipped_batches\" is 1.5, expected an integer"}},
      {"a batch beyond the epoch",
       [&](json::Value& t) {
         member(t, "batch") = 40;
         member(member(extra(t), "epoch_totals"), "batches") = 40;
       },
       {"training state: \"batch\" is 40, beyond the end of an epoch of 5 batches"}},
      {"running totals that do not add up",
       [&](json::Value& t) { member(member(extra(t), "epoch_totals"), "batches") = 3; },
       {"\"epoch_totals/batches\" (3) + \"skipped_batches\" (0) must equal \"batch\" (0)"}},
      {"a history metric of the wrong length",
       [&](json::Value& t) {
         member(member(member(extra(t), "history"), "metrics"), "loss").as_array().pop_back();
       },
       {"training state/history/metrics: field \"loss\" has 1 values for 2 epochs"}},
      {"a history value that is not a number",
       [&](json::Value& t) {
         member(member(member(extra(t), "history"), "metrics"), "loss").as_array()[1] = "banana";
       },
       {"training state/history/metrics: field \"loss[1]\" is the string \"banana\""}},
      {"history epochs out of order",
       [&](json::Value& t) { member(member(extra(t), "history"), "epochs").as_array()[1] = 0; },
       {"training state/history: field \"epochs[1]\" is 0, not after the epoch before it (0)"}},
      {"a non-boolean stop flag",
       [&](json::Value& t) { member(extra(t), "stop_training") = 0; },
       {"training state: field \"stop_training\" is a number, expected a boolean"}},
      {"a schedule state that is not a number",
       [&](json::Value& t) { member(extra(t), "schedule_state") = json::Value::object().set("best", true); },
       {"training state/schedule_state: field \"best\" is a boolean, expected a number"}},
      {"an unknown field",
       [&](json::Value& t) { extra(t).set("epoch_total", 1); },
       {"training state: unknown field \"epoch_total\""}},
      {"another format",
       [&](json::Value& t) { member(extra(t), "format") = "seqlm.other"; },
       {"field \"format\" is \"seqlm.other\", expected \"seqlm.training_state\""}},
      {"a newer version",
       [&](json::Value& t) { member(extra(t), "version") = 2; },
       {"field \"version\" is 2, newer than this seqlm reads (1)"}},
      {"a callback tensor that is not in the file",
       [&](json::Value& t) {
         member(member(member(extra(t), "callbacks"), "early_stopping"), "tensors")
             .push_back("best_weights/x");
       },
       {"training state/callbacks/early_stopping: field \"tensors\" lists \"best_weights/x\", but the "
        "checkpoint has no tensor \"callbacks/early_stopping/best_weights/x\""}},
      {"a callback tensor no callback lists",
       [&](json::Value& t) {
         member(member(member(extra(t), "callbacks"), "early_stopping"), "tensors").as_array().pop_back();
       },
       {"tensor \"callbacks/early_stopping/best_weights/dense/bias\" belongs to no callback state"}},
      {"callback values that are not an object",
       [&](json::Value& t) { member(member(member(extra(t), "callbacks"), "early_stopping"), "values") = 3; },
       {"training state/callbacks/early_stopping: field \"values\" is a number, expected an object"}},
      {"no training state at all",
       [&](json::Value& t) { member(t, "extra") = json::Value(); },
       {"no training state (the checkpoint's \"training\" metadata has a null \"extra\""}},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    change_training(good, bad, c.change);
    check_file_error_contains(bad, c.message);
  }
}

TEST_CASE("fit refuses callback states it cannot place and a checkpoint writer that is not last") {
  ScratchFiles files;
  const std::string good = good_checkpoint(files);
  const WindowDataset train(noisy_language(120, 5), 6, 3, WindowTargets::next_token_after_window);
  FitOptions<float> options;
  options.epochs = 3;
  options.batch_size = 8;
  options.verbosity = Verbosity::silent;
  EarlyStoppingOptions stopping_options;
  stopping_options.monitor = "loss";
  stopping_options.restore_best = true;

  // Loads the good checkpoint, lets `change` alter the saved state or the options, and resumes:
  // fit must refuse with `message`.
  auto resume_fails = [&](const auto& change, const char* message) {
    LoadedCheckpoint<float> saved = load_checkpoint<float>(good);
    auto optimizer = restore_optimizer<float>(saved.optimizer);
    EarlyStopping<float> stopping(stopping_options);
    options.callbacks = {&stopping};
    change(saved.state);
    CHECK_THROWS_WITH_AS(
        fit(saved.model.model, *optimizer, train, options, (NoValidation*)nullptr, &saved.state),
        doctest::Contains(message), value_error);
  };
  SUBCASE("state for a callback that is not there") {
    resume_fails([&](TrainingState&) { options.callbacks.clear(); },
                 "state for a callback named 'early_stopping', but no callback");
  }
  SUBCASE("a callback state of the wrong shape") {
    resume_fails(
        [](TrainingState& state) { state.callback_states["early_stopping"].values.set("wait", "two"); },
        "EarlyStopping 'early_stopping': import_state: field \"wait\" is a string, expected an integer");
  }
  SUBCASE("best weights without restore_best") {
    stopping_options.restore_best = false;
    resume_fails([](TrainingState&) {}, "best weights but restore_best is off");
  }
  SUBCASE("another batch count per epoch") {
    options.batch_size = 16;
    resume_fails([](TrainingState&) {}, "comes from a run with 5 batches per epoch, this one has 3");
  }
  SUBCASE("two callbacks with the same state name") {
    Sequential<float> model = gru_model(3);
    Adam<float> optimizer;
    EarlyStopping<float> a(stopping_options), b(stopping_options);
    options.callbacks = {&a, &b};
    CHECK_THROWS_WITH_AS(fit(model, optimizer, train, options),
                         doctest::Contains("state name 'early_stopping'"), value_error);
  }
  SUBCASE("the checkpoint writer must be the last callback") {
    Sequential<float> model = gru_model(3);
    Adam<float> optimizer;
    CheckpointOptions every_batch;
    every_batch.every_batches = 1;
    ModelCheckpoint<float> checkpoint(checkpoint_writer<float>(files.add("order.checkpoint")), every_batch);
    EarlyStopping<float> stopping(stopping_options);
    options.callbacks = {&checkpoint, &stopping};
    CHECK_THROWS_WITH_AS(fit(model, optimizer, train, options),
                         doctest::Contains("its ModelCheckpoint is callback 1 of 2; make it the last"),
                         value_error);
  }
}

}  // namespace checkpoint_resume_tests
