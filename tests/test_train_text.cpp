// train_text(): the one-call training of `seqlm train` — model specs, the streams and windows
// recipes on a tiny text, held-out text, architecture JSON, bit-identical resume from a
// checkpoint, and the options it refuses.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <seqlm/text_model/text_model.hpp>
#include <seqlm/text_model/train_text.hpp>
#include <string>
#include <vector>

namespace train_text_tests {

using namespace seqlm;

namespace {

// A text with structure to learn: a few sentences repeated.
std::string tiny_text(int repeats) {
  std::string text;
  for (int k = 0; k < repeats; ++k) text += "the cat sat on the mat. the dog sat on the log.\n";
  return text;
}

TrainTextOptions small_options() {
  TrainTextOptions options;
  options.model = parse_model_spec("lstm:16x2");
  options.context = 12;
  options.streams = 4;
  options.epochs = 3;
  options.learning_rate = 0.01;
  options.warmup_steps = 2;
  options.verbosity = Verbosity::silent;
  return options;
}

std::string temporary_path(const char* name) {
  return "/tmp/seqlm_test_train_text_" + std::to_string(::getpid()) + "_" + name;
}

}  // namespace

TEST_CASE("Model specs name the cell, the units and the layers") {
  const ModelSpec a = parse_model_spec("lstm:512x2");
  CHECK(a.cell == "lstm");
  CHECK(a.units == 512);
  CHECK(a.layers == 2);
  const ModelSpec b = parse_model_spec("gru:128");
  CHECK(b.cell == "gru");
  CHECK(b.units == 128);
  CHECK(b.layers == 1);
  for (const char* bad : {"lstm", "rnn:10", "lstm:", "lstm:0", "lstm:12x", "lstm:12x0", "lstm:-3", "lstm:1e3",
                          "gru:99999999", "lstm:10x1000"}) {
    CHECK_THROWS_WITH_AS(parse_model_spec(bad), doctest::Contains("model spec"), value_error);
  }
}

TEST_CASE("The streams recipe learns a tiny text and validates on its held-out tail") {
  const std::string text = tiny_text(60);
  const TrainTextOptions options = small_options();
  const TrainTextResult result = train_text(text, options);
  CHECK(result.model.level() == TokenLevel::character);
  CHECK(result.model.vocabulary_size() == 15);  // "\n", " ", "." and 12 letters
  const Index n = static_cast<Index>(text.size());
  CHECK(result.validation_tokens == static_cast<Index>(static_cast<double>(n) * 0.1));
  CHECK(result.training_tokens + result.validation_tokens == n);
  REQUIRE(result.history.size() == 3);
  const std::vector<double>& loss = result.history["loss"];
  CHECK(loss.back() < loss.front());
  CHECK(result.history.last("val_loss") < std::log(15.0));  // better than uniform
  // The model predicts every position: its output keeps the time axis.
  CHECK(result.model.model.output_keeps_time_axis());

  // The same options give the same model.
  const TrainTextResult again = train_text(text, options);
  CHECK(again.history["val_loss"] == result.history["val_loss"]);
}

TEST_CASE("The windows recipe is the tutorials' regime: one target after each window") {
  TrainTextOptions options = small_options();
  options.recipe = TrainingRecipe::windows;
  options.model = parse_model_spec("gru:16");
  options.batch_size = 32;
  options.epochs = 1;
  const TrainTextResult result = train_text(tiny_text(30), options);
  CHECK_FALSE(result.model.model.output_keeps_time_axis());
  CHECK(result.history.has("val_loss"));
}

TEST_CASE("Windows may be scored at every position, with an optimizer chosen by name") {
  TrainTextOptions options = small_options();
  options.recipe = TrainingRecipe::windows;
  CHECK(optimizer_name(options) == "RMSprop");
  options.window_targets = WindowTargets::every_position;
  options.optimizer = "Nadam";
  CHECK(optimizer_name(options) == "Nadam");
  options.model = parse_model_spec("gru:16");
  options.batch_size = 16;
  options.window_step = 2;
  options.checkpoint = temporary_path("nadam.checkpoint");
  const TrainTextResult result = train_text(tiny_text(30), options);
  CHECK(result.model.model.output_keeps_time_axis());  // every position is predicted
  const std::vector<double>& loss = result.history["loss"];
  CHECK(loss.back() < loss.front());
  CHECK(load_checkpoint<float>(options.checkpoint).optimizer.name == "Nadam");
  std::remove(options.checkpoint.c_str());

  options.optimizer = "Adagrad";
  CHECK_THROWS_WITH_AS(train_text(tiny_text(5), options), doctest::Contains("unknown optimizer 'Adagrad'"),
                       value_error);
  options.optimizer.clear();
  options.recipe = TrainingRecipe::streams;
  CHECK(optimizer_name(options) == "Adam");
}

TEST_CASE("Word level, a separate validation text, and an embedding") {
  TrainTextOptions options = small_options();
  options.level = TokenLevel::word;
  options.embedding = 8;
  options.validation_split = 0.0;
  options.validation_text = std::string("the dog sat on the mat.\n");
  options.context = 4;
  options.streams = 2;
  const TrainTextResult result = train_text(tiny_text(20), options);
  CHECK(result.model.level() == TokenLevel::word);
  CHECK(result.validation_tokens == 6);
  CHECK(result.history.has("val_loss"));

  options.validation_split = 0.1;
  CHECK_THROWS_WITH_AS(train_text(tiny_text(20), options), doctest::Contains("not both"), value_error);
}

TEST_CASE("An architecture JSON may write \"vocabulary\" for the sizes the text decides") {
  TrainTextOptions options = small_options();
  options.epochs = 1;
  options.architecture = json::parse(R"({"format": "seqlm.sequential",
      "input": {"kind": "token_ids", "size": "vocabulary"},
      "layers": [
        {"type": "GRU", "name": "gru", "config": {"input_size": "vocabulary", "units": 8, "return_sequences": true, "reset_after": true}},
        {"type": "Dense", "name": "dense", "config": {"input_size": 8, "units": "vocabulary"}}]})");
  const TrainTextResult result = train_text(tiny_text(20), options);
  CHECK(result.model.model.size() == 2);
  CHECK(result.model.model.layer(1).output_size() == result.model.vocabulary_size());

  options.architecture = json::parse(R"({"format": "seqlm.sequential",
      "input": {"kind": "token_ids", "size": "vocabulary"},
      "layers": [{"type": "GRU", "name": "gru", "config": {"input_size": "vocabulary", "units": 5,
                  "return_sequences": true, "reset_after": true}}]})");
  CHECK_THROWS_WITH_AS(train_text(tiny_text(20), options), doctest::Contains("predict"), value_error);
}

TEST_CASE("A run resumed from an epoch's checkpoint ends with the uninterrupted run's weights") {
  const std::string text = tiny_text(40);
  const std::string checkpoint = temporary_path("run.checkpoint"), copy = temporary_path("epoch2.checkpoint");
  TrainTextOptions options = small_options();
  options.checkpoint = checkpoint;
  // Keep the checkpoint written at the end of epoch 2 (index 1): copy it when epoch 3 begins.
  LambdaCallback<float> keep;
  keep.epoch_begin = [&](Index epoch, TrainingContext<float>&) {
    if (epoch == 2) REQUIRE(std::rename(checkpoint.c_str(), copy.c_str()) == 0);
  };
  options.callbacks = {&keep};
  const TrainTextResult full = train_text(text, options);

  TrainTextOptions resumed_options = small_options();
  resumed_options.resume = copy;
  const TrainTextResult resumed = train_text(text, resumed_options);
  CHECK(resumed.history["val_loss"] == full.history["val_loss"]);
  const auto a = full.model.model.parameters(), b = resumed.model.model.parameters();
  for (size_t k = 0; k < a.size(); ++k) CHECK(*a[k].value == *b[k].value);

  // Another text gives another vocabulary: refused.
  CHECK_THROWS_WITH_AS(train_text("xyz xyz xyz xyz xyz xyz xyz xyz\n", resumed_options),
                       doctest::Contains("another vocabulary"), value_error);
  std::remove(checkpoint.c_str());
  std::remove(copy.c_str());
}

TEST_CASE("train_text refuses options that cannot train") {
  TrainTextOptions options = small_options();
  CHECK_THROWS_WITH_AS(train_text("", options), doctest::Contains("empty"), value_error);
  options.epochs = 0;
  CHECK_THROWS_WITH_AS(train_text(tiny_text(5), options), doctest::Contains("epochs or minutes"),
                       value_error);
  options = small_options();
  options.validation_split = 1.0;
  CHECK_THROWS_AS(train_text(tiny_text(5), options), value_error);
  options = small_options();
  options.streams = 10000;
  CHECK_THROWS_WITH_AS(train_text(tiny_text(5), options), doctest::Contains("streams"), value_error);
  options = small_options();
  options.dropout = 1.0;
  CHECK_THROWS_AS(train_text(tiny_text(5), options), value_error);
  options = small_options();
  CHECK_THROWS_AS(train_text("caf\xC3", options), text_error);  // invalid UTF-8
}

}  // namespace train_text_tests
