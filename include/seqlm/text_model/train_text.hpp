/// \file
/// train_text(): a language model for any text in one call, with a modern recipe (what
/// `seqlm train` runs). docs/cli.md shows what it reaches, and against what.
///
/// ```cpp
///   TrainTextOptions options;
///   options.minutes = 10;                       // or options.epochs
///   options.threads = 2;
///   TrainTextResult result = train_text(text, options);
///   save_text_model("lyrics.safetensors", result.model);
///   std::cout << result.history.last("val_loss");
/// ```
///
/// The recipe (recipe = streams, the default):
/// ```text
///   tokens      the text as characters (or words), a tokenizer fitted on the whole text
///   held out    the last validation_split of the tokens (a contiguous tail, never trained on)
///   data        S parallel streams over the rest, read in chunks of T = context steps, the
///               recurrent state carried from chunk to chunk (stateful truncated BPTT,
///               data/streams.hpp): every token is read once per epoch, every position is a
///               target
///   model       [Embedding(E)] -> (LSTM|GRU)(H) x N with Dropout(p) between -> Dense(V)
///   optimizer   Adam; the rate warms up linearly for warmup_steps, then decays on a half cosine
///               to min_rate_fraction x peak over the run (the steps of `epochs`, or the wall time
///               of `minutes`); gradients clipped to global norm clip_norm
///   validation  the held-out tail read the same way (S' streams, state carried), every epoch
/// ```
///
/// recipe = windows is the tutorials' regime, for comparison: windows of `context` tokens
/// every `window_step` tokens, one target after each window, shuffled, no carried state, the
/// last recurrent layer returning its last step only (Chollet's Nietzsche LSTM), RMSprop. With
/// window_targets = every_position each window is scored at every position instead (the target
/// is the window shifted by one, the Machado tutorial's regime), and the last recurrent layer
/// keeps the time axis. `optimizer` replaces either recipe's optimizer by name.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "../data/streams.hpp"
#include "../data/token_source.hpp"
#include "../data/windows.hpp"
#include "../error.hpp"
#include "../files/layer_table.hpp"
#include "../model/sequential.hpp"
#include "../optim/make_optimizer.hpp"
#include "../random.hpp"
#include "../tensor.hpp"
#include "../text/char_tokenizer.hpp"
#include "../text/word_tokenizer.hpp"
#include "../train/callbacks.hpp"
#include "../train/checkpoint.hpp"
#include "../train/fit.hpp"
#include "../train/history.hpp"
#include "../train/schedules.hpp"
#include "text_model.hpp"

namespace seqlm {

enum class TrainingRecipe {
  streams,  ///< stateful truncated BPTT over parallel streams, a loss at every position
  windows,  ///< the tutorials' sliding windows, one target per window
};

/// The recurrent layers of a model spec such as "lstm:512x2" (kind:units x layers).
struct ModelSpec {
  std::string cell = "lstm";  ///< "lstm" or "gru"
  Index units = 256;
  Index layers = 2;
};

/// Parses "lstm:512x2", "gru:128", "lstm:256x3": value_error naming the spec otherwise.
inline ModelSpec parse_model_spec(const std::string& text) {
  const auto fail = [&text](const std::string& why) -> ModelSpec {
    throw value_error("model spec \"" + text + "\": " + why +
                      " (expected KIND:UNITS or KIND:UNITSxLAYERS, KIND lstm or gru, e.g. lstm:512x2)");
  };
  const std::size_t colon = text.find(':');
  if (colon == std::string::npos) return fail("no ':'");
  ModelSpec spec;
  spec.cell = text.substr(0, colon);
  if (spec.cell != "lstm" && spec.cell != "gru") return fail("unknown kind \"" + spec.cell + "\"");
  const std::string sizes = text.substr(colon + 1);
  const std::size_t x = sizes.find('x');
  const auto number = [&](const std::string& digits, const char* what, Index max) -> Index {
    if (digits.empty() || digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string::npos) {
      fail(std::string(what) + " \"" + digits + "\" is not a whole number");
    }
    const Index value = static_cast<Index>(std::stoll(digits));
    if (value < 1 || value > max) {
      fail(detail::make_message(what, " must be from 1 to ", max, ", got ", value));
    }
    return value;
  };
  spec.units = number(sizes.substr(0, x), "units", 8192);
  spec.layers = x == std::string::npos ? 1 : number(sizes.substr(x + 1), "layers", 64);
  return spec;
}

struct TrainTextOptions {
  TokenLevel level = TokenLevel::character;
  TrainingRecipe recipe = TrainingRecipe::streams;
  ModelSpec model;       ///< the recurrent stack (ignored when `architecture` is given)
  Index embedding = 0;   ///< Embedding width before the first recurrent layer (0: none)
  double dropout = 0.1;  ///< Dropout between recurrent layers and before the Dense (0: none)
  /// A complete architecture instead (files/layer_table.hpp's JSON, "seqlm.sequential"); the
  /// string "vocabulary" may stand for any size that must equal the vocabulary (input size,
  /// embedding input, the Dense's units), which is known only once the text is read.
  json::Value architecture;
  Index context = 32;      ///< T: chunk length (streams) or window length (windows)
  Index streams = 32;      ///< S: parallel streams, the batch size (streams)
  Index batch_size = 128;  ///< windows per batch (windows)
  Index window_step = 3;   ///< distance between window starts (windows)
  /// windows: one target after each window, or a target at every position (the window shifted
  /// by one)
  WindowTargets window_targets = WindowTargets::next_token_after_window;
  /// The optimizer by make_optimizer's name ("Adam", "Nadam", "RMSprop", "SGD"), with Keras's
  /// defaults but for the rate and clipping given here; empty: the recipe's own (Adam for
  /// streams, RMSprop for windows). The streams recipe's schedule drives whichever it is.
  std::string optimizer;
  Index epochs = 0;                 ///< passes over the training part (0: until `minutes`)
  double minutes = 0.0;             ///< wall-time budget of the training (0: the epochs decide)
  double validation_split = 0.1;    ///< the held-out tail, in [0, 1)
  double learning_rate = 2e-2;      ///< the peak rate (streams) or the constant one (windows)
  double min_rate_fraction = 0.05;  ///< the rate at the end of the decay, x learning_rate
  Index warmup_steps = 20;
  double clip_norm = 1.0;  ///< global gradient norm (0: no clipping)
  /// Held-out text from elsewhere instead of the tail (then validation_split must be 0). The
  /// tokenizer is fitted on the training and the validation text together.
  std::optional<std::string> validation_text;
  /// Written atomically at the end of every epoch: a checkpoint (train/checkpoint.hpp) with the
  /// tokenizer, from which `resume` continues. Empty: none.
  std::string checkpoint;
  /// A checkpoint of this recipe on the same text to continue from (empty: a fresh run). Its
  /// tokenizer must be the one this text gives; the run goes on to `epochs` (counted from the
  /// first run) or for `minutes` more. `callbacks` must be the same kinds as in the first run
  /// (those with a state_name(): their state is in the checkpoint).
  std::string resume;
  Index threads = 1;
  std::uint64_t seed = 0;
  Verbosity verbosity = Verbosity::automatic;
  std::ostream* output = nullptr;           ///< progress (null: std::cout)
  std::vector<Callback<float>*> callbacks;  ///< run after the recipe's own ones
};

struct TrainTextResult {
  TextModel<float> model;
  History history;
  Index training_tokens = 0;    ///< tokens trained on (the part before the held-out tail)
  Index validation_tokens = 0;  ///< tokens held out
};

namespace detail {

// The tokenizer of the whole text, at the requested level.
inline std::variant<CharTokenizer, WordTokenizer> fit_tokenizer(std::string_view text, TokenLevel level) {
  if (level == TokenLevel::character) {
    return CharTokenizer::build(text);  // sorted characters, unknown ones refused
  }
  WordTokenizer tokenizer;
  tokenizer.fit_on_texts(std::vector<std::string>{std::string(text)});
  return tokenizer;
}

// Replaces every JSON string "vocabulary" in `value` by `size` (see TrainTextOptions::architecture).
inline json::Value with_vocabulary(const json::Value& value, Index size) {
  if (value.is_string() && value.as_string() == "vocabulary") return json::Value(size);
  if (value.is_array()) {
    json::Value out = json::Value::array();
    for (const json::Value& item : value.as_array()) out.push_back(with_vocabulary(item, size));
    return out;
  }
  if (value.is_object()) {
    json::Value out = json::Value::object();
    for (const auto& [key, item] : value.as_object()) out.set(key, with_vocabulary(item, size));
    return out;
  }
  return value;
}

// The recipe's model for a vocabulary of V tokens (see the top of this file).
inline Sequential<float> build_text_model(const TrainTextOptions& options, Index V) {
  if (!options.architecture.is_null()) {
    Sequential<float> model = sequential_from_architecture<float>(with_vocabulary(options.architecture, V));
    if (!model.input_spec().tokens || model.input_spec().size != V ||
        model.layer(model.size() - 1).output_size() != V) {
      throw value_error(make_message("the architecture must read token ids of a vocabulary of ", V,
                                     " and predict ", V, " logits (write \"vocabulary\" for those sizes)"));
    }
    return model;
  }
  Sequential<float> model(InputSpec::token_ids(V));
  Index width = V;
  if (options.embedding > 0) {
    model.add(layers::embedding<float>(V, options.embedding));
    width = options.embedding;
  }
  for (Index k = 0; k < options.model.layers; ++k) {
    const bool last = k + 1 == options.model.layers;
    const bool sequences = options.recipe == TrainingRecipe::streams || !last ||
                           options.window_targets == WindowTargets::every_position;
    if (options.model.cell == "lstm") {
      LSTMOptions lstm;
      lstm.return_sequences = sequences;
      model.add(layers::lstm<float>(width, options.model.units, lstm));
    } else {
      GRUOptions gru;
      gru.return_sequences = sequences;
      model.add(layers::gru<float>(width, options.model.units, gru));
    }
    width = options.model.units;
    if (options.dropout > 0.0) model.add(layers::dropout<float>(options.dropout));
  }
  model.add(layers::dense<float>(width, V));
  return model;
}

inline void check_train_text_options(const TrainTextOptions& o) {
  check_positive("train_text", "context", o.context);
  check_positive("train_text", "streams", o.streams);
  check_positive("train_text", "batch_size", o.batch_size);
  check_positive("train_text", "window_step", o.window_step);
  check_positive("train_text", "threads", o.threads);
  if (o.epochs < 0) throw value_error(make_message("train_text: epochs must be >= 0, got ", o.epochs));
  if (!(o.minutes >= 0.0) || !std::isfinite(o.minutes)) {
    throw value_error(make_message("train_text: minutes must be >= 0, got ", o.minutes));
  }
  if (o.epochs == 0 && o.minutes == 0.0) throw value_error("train_text: give epochs or minutes (or both)");
  if (!(o.validation_split >= 0.0 && o.validation_split < 1.0)) {
    throw value_error(
        make_message("train_text: validation_split must be in [0, 1), got ", o.validation_split));
  }
  if (!(o.dropout >= 0.0 && o.dropout < 1.0)) {
    throw value_error(make_message("train_text: dropout must be in [0, 1), got ", o.dropout));
  }
  if (!(o.learning_rate > 0.0) || !std::isfinite(o.learning_rate)) {
    throw value_error(make_message("train_text: learning_rate must be > 0, got ", o.learning_rate));
  }
  if (!(o.clip_norm >= 0.0) || !std::isfinite(o.clip_norm)) {
    throw value_error(make_message("train_text: clip_norm must be >= 0, got ", o.clip_norm));
  }
  if (o.embedding < 0)
    throw value_error(make_message("train_text: embedding must be >= 0, got ", o.embedding));
  if (!o.optimizer.empty()) (void)make_optimizer<float>(o.optimizer);  // value_error for an unknown name
}

}  // namespace detail

/// The optimizer train_text uses: options.optimizer, or the recipe's own when that is empty.
inline std::string optimizer_name(const TrainTextOptions& options) {
  if (!options.optimizer.empty()) return options.optimizer;
  return options.recipe == TrainingRecipe::windows ? "RMSprop" : "Adam";
}

namespace detail {

// That optimizer with the options' rate and clipping (Keras's defaults for the rest).
inline std::unique_ptr<Optimizer<float>> make_text_optimizer(const TrainTextOptions& options) {
  std::map<std::string, double> hyperparameters{{"learning_rate", options.learning_rate}};
  if (options.clip_norm > 0.0) hyperparameters["global_clip_norm"] = options.clip_norm;
  return make_optimizer<float>(optimizer_name(options), hyperparameters);
}

// Stops training once `seconds` of wall time have passed since the first batch.
class TimeBudget final : public Callback<float> {
 public:
  explicit TimeBudget(double seconds) : seconds_(seconds) {}
  void on_train_begin(TrainingContext<float>&) override { start_ = std::chrono::steady_clock::now(); }
  void on_batch_end(Index, const Logs&, TrainingContext<float>& context) override {
    if (seconds_ > 0.0 && elapsed() >= seconds_) context.stop_training = true;
  }
  double elapsed() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }
  double fraction() const { return seconds_ > 0.0 ? elapsed() / seconds_ : 0.0; }

 private:
  double seconds_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

}  // namespace detail

/// Trains a new model on `text` with `options` (see the top of this file). value_error for bad
/// options or a text too short for them; text_error for invalid UTF-8.
inline TrainTextResult train_text(std::string_view text, const TrainTextOptions& options) {
  detail::check_train_text_options(options);
  if (text.empty()) throw value_error("train_text: the text is empty");
  if (options.validation_text && options.validation_split > 0.0) {
    throw value_error("train_text: give validation_split or validation_text, not both");
  }
  if (options.validation_text && options.validation_text->empty()) {
    throw value_error("train_text: the validation text is empty");
  }
  const std::string all_text = options.validation_text ? std::string(text) + *options.validation_text : "";
  TrainTextResult result{
      TextModel<float>{Sequential<float>(InputSpec::token_ids(1)),
                       detail::fit_tokenizer(options.validation_text ? all_text : text, options.level),
                       json::Value::object(),
                       {}},
      History{}, 0, 0};
  TextModel<float>& text_model = result.model;
  const std::vector<TokenId> ids = text_model.encode(text);
  const Index V = text_model.vocabulary_size();
  const Index n = static_cast<Index>(ids.size());
  const Index held_out = static_cast<Index>(static_cast<double>(n) * options.validation_split);
  const TokenStream all(ids);
  const TokenStream train = all.slice(0, n - held_out);
  const TokenStream tail = options.validation_text ? TokenStream(text_model.encode(*options.validation_text))
                                                   : all.slice(n - held_out, held_out);
  result.training_tokens = train.size();
  result.validation_tokens = tail.size();
  if (train.size() < 2)
    throw value_error(detail::make_message("train_text: ", train.size(), " training tokens are too few"));

  // A fresh model, or the checkpoint's model, optimizer state and position.
  std::optional<LoadedCheckpoint<float>> resumed;
  if (!options.resume.empty()) {
    resumed.emplace(load_checkpoint<float>(options.resume));
    const json::Value tokenizer_json =
        std::visit([](const auto& tokenizer) { return tokenizer.to_json(); }, text_model.tokenizer);
    if (resumed->model.tokenizer.dump() != tokenizer_json.dump()) {
      throw value_error(
          "train_text: checkpoint \"" + options.resume +
          "\" was trained with another vocabulary (another text or level) than this text gives");
    }
    text_model.model = std::move(resumed->model.model);
  } else {
    text_model.model = detail::build_text_model(options, V);
    Rng init(options.seed);
    text_model.model.initialize(init);
  }
  ModelFileContents checkpoint_contents;
  checkpoint_contents.tokenizer =
      std::visit([](const auto& tokenizer) { return tokenizer.to_json(); }, text_model.tokenizer);
  CheckpointOptions every_epoch;
  every_epoch.save_best_only = false;
  ModelCheckpoint<float> checkpoint(
      options.checkpoint.empty()
          ? typename ModelCheckpoint<float>::SaveFunction([](TrainingContext<float>&, Index, const Logs&) {})
          : checkpoint_writer<float>(options.checkpoint, checkpoint_contents),
      every_epoch);
  TrainingState* state = resumed ? &resumed->state : nullptr;

  detail::TimeBudget budget(options.minutes * 60.0);
  FitOptions<float> fit_options;
  fit_options.epochs = options.epochs > 0 ? options.epochs : until_stopped;
  fit_options.threads = options.threads;
  fit_options.seed = options.seed;
  fit_options.verbosity = options.verbosity;
  fit_options.output = options.output;
  fit_options.callbacks.push_back(&budget);
  for (Callback<float>* callback : options.callbacks) fit_options.callbacks.push_back(callback);
  // Always there (saving nothing without a path), so that a checkpoint's callback states match.
  fit_options.callbacks.push_back(&checkpoint);  // the last one: the file holds every callback's work

  const std::unique_ptr<Optimizer<float>> made_optimizer = detail::make_text_optimizer(options);
  Optimizer<float>& optimizer = *made_optimizer;
  if (resumed) optimizer.import_state(resumed->optimizer);
  if (options.recipe == TrainingRecipe::windows) {
    const WindowDataset windows(train, options.context, options.window_step, options.window_targets);
    fit_options.batch_size = options.batch_size;
    fit_options.shuffle = true;
    if (tail.size() > options.context) {
      const WindowDataset validation(tail, options.context, options.window_step, options.window_targets);
      result.history = fit(text_model.model, optimizer, windows, fit_options, &validation, state);
    } else {
      result.history = fit(text_model.model, optimizer, windows, fit_options,
                           static_cast<const WindowDataset*>(nullptr), state);
    }
  } else {
    const StreamDataset streams(train, options.streams, options.context);
    WarmupCosineOptions schedule_options;
    schedule_options.peak_rate = options.learning_rate;
    schedule_options.min_rate = options.learning_rate * options.min_rate_fraction;
    schedule_options.warmup_steps = options.warmup_steps;
    if (options.epochs > 0 && options.minutes == 0.0) {
      schedule_options.total_steps = std::max(options.epochs * streams.chunks(), options.warmup_steps + 1);
    } else {
      schedule_options.progress = [&budget](Index) { return budget.fraction(); };
    }
    WarmupCosineDecay schedule(schedule_options);
    fit_options.batch_size = options.streams;
    fit_options.shuffle = false;
    fit_options.stateful = true;
    fit_options.schedule = &schedule;
    // The tail as streams of about `context` x 8 tokens each, at most `streams` of them.
    const Index validation_streams =
        std::max<Index>(1, std::min(options.streams, tail.size() / (options.context * 8)));
    if (tail.size() >= validation_streams + 1) {
      const StreamDataset validation(tail, validation_streams, options.context);
      fit_options.validation_batch_size = validation_streams;
      result.history = fit(text_model.model, optimizer, streams, fit_options, &validation, state);
    } else {
      result.history = fit(text_model.model, optimizer, streams, fit_options,
                           static_cast<const StreamDataset*>(nullptr), state);
    }
  }
  return result;
}

}  // namespace seqlm
