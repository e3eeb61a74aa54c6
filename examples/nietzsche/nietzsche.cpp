// nietzsche: Chollet's character-level LSTM ("Deep Learning with Python", section 8.1) that
// learns to write like Nietzsche.
//
//   nietzsche train  --data data/nietzsche/nietzsche.txt --out nietzsche.safetensors
//   nietzsche sample --model nietzsche.safetensors --prompt "the meaning of life is " --temperature 0.5
//   nietzsche baseline --data data/nietzsche/nietzsche.txt --validation-split 0.1
//
// The tutorial, step by step (the defaults), and what this program does differently:
//
//   text      nietzsche.txt lower-cased: 600,893 characters, 57 distinct; the sorted set of
//             characters gives the ids 0..56.
//   windows   maxlen 60, step 3 -> 200,278 windows; the target is the character after the window.
//             The tutorial one-hot encodes them into a 200,278 x 60 x 57 array (685 MB as bytes).
//             Here a batch reads its windows as ids straight from the text, and the LSTM's input
//             projection W x_t of a one-hot x_t is a gather of one kernel column: the same maths
//             without the one-hot array.
//   model     LSTM(128) -> Dense(57), softmax cross-entropy
//             (4 * (128 * 57 + 128 * 128 + 128) + 128 * 57 + 57 = 102,585 parameters).
//   training  RMSprop lr 0.01, batch 128, 60 epochs (the tutorial calls fit one epoch at a time).
//   samples   after every epoch: a random 60-character seed from the text, then 400 characters at
//             temperatures 0.2, 0.5, 1.0 and 1.2 (p_i^(1/T), normalised, one draw). The tutorial
//             re-runs the model over the last 60 characters for every new one (--windowed does
//             that too); by default the LSTM state is primed once on the seed and every new
//             character costs a single step.
//
// Options beyond the tutorial: --every-position puts a loss on all 60 positions of a window
// (LSTM with return_sequences -> Dense at every step; same parameters, 60 times the targets per
// forward pass), --threads trains data-parallel (and --distributed over the ranks of
// `mpirun -np N nietzsche train --distributed`, docs/distributed.md; built with MPI only, the
// model equals one process's with --threads N x threads), --max-batches stops an epoch early (tests),
// --validation-split F holds out the last fraction F of the windows (Keras's validation_split;
// fit reports val_loss, val_accuracy, ...), --log-csv FILE writes every epoch's metrics.
//
// `baseline` reads the text and cuts the windows and the split exactly as `train` does, then
// fits an n-gram model (--order, default 5 characters; examples/common/ngram_baseline.hpp) on
// the training windows' text only and scores the same targets as the LSTM: the character after
// each window (or every position with --every-position), from the window's last order-1
// characters. It prints loss (nats), accuracy, perplexity and bits per character for both splits.
// The model file (save_model) holds the weights, the tokenizer and a seed window, so `sample`
// needs only the model.
//
// Keras files (examples/common/keras_files.hpp, docs/keras.md): --model and --resume-from also
// take a Keras `.keras` or `.h5` character model (its vocabulary comes from --data), and an
// --out name ending in .keras saves the model for Keras 3 with its RMSprop state.
#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <seqlm/data/split.hpp>
#include <seqlm/data/token_source.hpp>
#include <seqlm/data/windows.hpp>
#include <seqlm/files/model_file.hpp>
#include <seqlm/model/generate.hpp>
#include <seqlm/model/sequential.hpp>
#include <seqlm/optim/make_optimizer.hpp>
#include <seqlm/optim/rmsprop.hpp>
#include <seqlm/text/char_tokenizer.hpp>
#include <seqlm/train/fit.hpp>
#include <string>
#include <vector>

#include "../common/cli.hpp"
#include "../common/distributed.hpp"
#include "../common/keras_files.hpp"
#include "../common/model_metadata.hpp"
#include "../common/ngram_baseline.hpp"
#include "../common/training.hpp"

namespace {

using seqlm::Index;
using seqlm::TokenId;
using Model = seqlm::Sequential<float>;

// The lower-cased text as ids of its sorted character set.
struct Corpus {
  seqlm::CharTokenizer tokenizer;
  std::vector<TokenId> ids;
};

Corpus read_corpus(const std::string& path) {
  examples::doing("reading --data");
  examples::check_data_file(path);
  std::string text;
  try {
    text = seqlm::read_text_file(path);
  } catch (const seqlm::file_error& e) {
    throw seqlm::file_error(
        std::string(e.what()) +
        " (scripts/fetch-data.sh downloads data/nietzsche/nietzsche.txt; or pass --data FILE)");
  }
  examples::check_utf8_lines(text, path);
  seqlm::CharTokenizerOptions options;
  options.order = seqlm::VocabularyOrder::sorted;  // Chollet: chars = sorted(list(set(text)))
  options.lower = seqlm::LowerCase::unicode;       // text = open(path).read().lower()
  Corpus corpus{seqlm::CharTokenizer::build(text, options), {}};
  corpus.ids = corpus.tokenizer.encode(text);
  return corpus;
}

// The windows of `train` and `baseline` (--window, --step, --every-position) and Keras's
// validation split of them (--validation-split): windows [0, split_at) train, the rest validate.
struct Windows {
  seqlm::WindowDataset all;
  Index split_at = 0;

  Index validation_size() const { return all.size() - split_at; }
};

Windows cut_windows(const Corpus& corpus, const examples::CommandLine& cli) {
  const Index window = cli.positive("window");
  const Index step = cli.positive("step");
  const bool every_position = cli.has("every-position");
  const double validation_fraction = cli.real("validation-split");
  Windows windows{seqlm::WindowDataset(seqlm::TokenStream(corpus.ids), window, step,
                                       every_position ? seqlm::WindowTargets::every_position
                                                      : seqlm::WindowTargets::next_token_after_window),
                  0};
  windows.split_at = seqlm::keras_split_point(windows.all.size(), validation_fraction);
  std::cout << "corpus length: " << corpus.ids.size() << " characters, " << corpus.tokenizer.vocabulary_size()
            << " distinct\n"
            << "number of sequences: " << windows.all.size() << " (window " << window << ", step " << step
            << ")\n";
  if (validation_fraction > 0) {
    std::cout << "validation split " << validation_fraction << ": " << windows.split_at << " for training, "
              << windows.validation_size() << " for validation\n";
  }
  if (windows.split_at == 0) {
    throw seqlm::value_error("the text has " + std::to_string(corpus.ids.size()) +
                             " characters; it needs more than --window " + std::to_string(window) +
                             " for one training window");
  }
  if (validation_fraction > 0 && windows.validation_size() == 0) {
    throw seqlm::value_error("--validation-split leaves no validation window");
  }
  return windows;
}

// LSTM(units) -> Dense(V) on character ids. With every_position the LSTM returns its whole
// sequence and Dense predicts at every step (the parameters are the same).
Model build_model(Index vocabulary, Index units, bool every_position) {
  Model model(seqlm::InputSpec::token_ids(vocabulary));
  seqlm::LSTMOptions lstm;
  lstm.return_sequences = every_position;
  model.add(seqlm::layers::lstm<float>(vocabulary, units, lstm));
  model.add(seqlm::layers::dense<float>(units, vocabulary));
  return model;
}

// Writes `length` characters that continue `seed` to standard output as they are chosen.
// window > 0: the tutorial's loop (a full forward over the last `window` characters per
// character); window == 0: streaming (one LSTM step per character).
void write_continuation(const Model& model, const seqlm::CharTokenizer& tokenizer,
                        const std::vector<TokenId>& seed, double temperature, Index length, Index window,
                        seqlm::Rng& rng) {
  seqlm::GenerationOptions options;
  options.temperature = temperature;
  options.max_tokens = length;
  const auto print = [&tokenizer](TokenId id) { std::cout << tokenizer.token_text(id) << std::flush; };
  if (window > 0) {
    seqlm::generate_windowed(model, seed, window, options, rng, print);
  } else {
    seqlm::generate(model, seed, options, rng, print);
  }
}

// Chollet's end-of-epoch report: a random seed window, then one continuation per temperature.
void print_samples(const Model& model, const Corpus& corpus, Index window,
                   const std::vector<double>& temperatures, Index length, bool windowed, seqlm::Rng& rng) {
  const Index start = static_cast<Index>(rng.below(corpus.ids.size() - static_cast<size_t>(window)));
  const std::vector<TokenId> seed(corpus.ids.begin() + start, corpus.ids.begin() + start + window);
  const std::string seed_text = corpus.tokenizer.decode(seed);
  std::cout << "--- Generating with seed: \"" << seed_text << "\"\n";
  for (const double temperature : temperatures) {
    std::cout << "------ temperature: " << temperature << "\n" << seed_text;
    write_continuation(model, corpus.tokenizer, seed, temperature, length, windowed ? window : 0, rng);
    std::cout << "\n";
  }
}

// The model file (tokenizer, seed, test vectors), or a Keras 3 archive with the optimizer's
// state when `path` ends in .keras.
void save(const std::string& path, const Model& model, const seqlm::Optimizer<float>& optimizer,
          const Corpus& corpus, const seqlm::json::Value& config, Index window) {
  if (examples::is_keras_path(path)) {
    examples::export_keras(model, path, window, optimizer.export_state());
    return;
  }
  seqlm::ModelFileContents contents;
  contents.tokenizer = corpus.tokenizer.to_json();
  contents.training_config = config;
  contents.metadata["example"] = "nietzsche";
  contents.metadata["window"] = std::to_string(window);
  // A seed for `sample` without --prompt: the first window of the text.
  const std::vector<TokenId> seed(corpus.ids.begin(), corpus.ids.begin() + window);
  contents.metadata["seed_text"] = corpus.tokenizer.decode(seed);
  // Re-checked when the file is loaded: the logits of the first 8 characters.
  const Index checked = std::min<Index>(8, window);
  contents.test_vectors = seqlm::TestVectors::token_ids(
      std::vector<TokenId>(corpus.ids.begin(), corpus.ids.begin() + checked), checked, 1);
  seqlm::save_model(path, model, contents);
}

int train(const examples::CommandLine& cli) {
  examples::check_output_file(cli, "out");  // before the training, not after it
  examples::check_output_file(cli, "log-csv");
  const Index window = cli.positive("window");
  const Index step = cli.positive("step");
  const Index units = cli.positive("units");
  const bool every_position = cli.has("every-position");
  const std::vector<double> temperatures = cli.numbers("temperatures");
  const Index sample_length = static_cast<Index>(cli.integer("sample-length"));
  const auto seed = static_cast<std::uint64_t>(cli.integer("seed"));

  examples::Distributed distributed(cli);  // --distributed: MPI ranks; rank 0 alone prints and saves
  const Corpus corpus = read_corpus(cli.text("data"));
  const Index vocabulary = corpus.tokenizer.vocabulary_size();
  const Windows windows = cut_windows(corpus, cli);
  const bool validate = windows.validation_size() > 0;

  examples::TrainingSetup setup(cli, seed);
  seqlm::RmspropOptions rmsprop;
  rmsprop.learning_rate = cli.real("learning-rate");
  std::unique_ptr<seqlm::Optimizer<float>> optimizer = std::make_unique<seqlm::RMSprop<float>>(rmsprop);
  std::optional<Model> built;
  const std::string resume_from = cli.text("resume-from");
  if (resume_from.empty()) {
    examples::doing("building the model");
    built.emplace(build_model(vocabulary, units, every_position));
    setup.initialize(*built, window);
  } else {
    examples::doing("reading --resume-from");
    built.emplace(examples::resume_model(resume_from, corpus.tokenizer, optimizer, cli.has("reset-optimizer"),
                                         "use the --data it was trained with"));
    std::cout << built->summary(window);
  }
  Model& model = *built;

  seqlm::FitOptions<float>& options = setup.options;
  options.process_group = distributed.group();

  seqlm::json::Value config = seqlm::json::Value::object();
  config.set("tutorial", "Chollet, Deep Learning with Python, 8.1 (nietzsche.txt)")
      .set("data", cli.text("data"))
      .set("window", window)
      .set("step", step)
      .set("targets", every_position ? "every_position" : "next_token_after_window")
      .set("validation_split", cli.real("validation-split"))
      .set("units", units)
      .set("resumed_from", resume_from)
      .set("optimizer", optimizer->name())
      .set("learning_rate", optimizer->learning_rate())
      .set("batch_size", options.batch_size)
      .set("epochs", options.epochs)
      .set("seed", static_cast<std::int64_t>(seed));

  // After every epoch: save the model (an interrupted run keeps its latest epoch), then sample.
  const std::string out = cli.text("out");
  seqlm::LambdaCallback<float> after_epoch;
  after_epoch.epoch_end = [&](Index, const seqlm::Logs&, seqlm::TrainingContext<float>& context) {
    if (context.writes_files) save(out, *context.model, *context.optimizer, corpus, config, window);
    if (sample_length > 0) {
      print_samples(*context.model, corpus, window, temperatures, sample_length, cli.has("windowed"),
                    *context.rng);
    }
  };
  setup.use_callbacks({&after_epoch});  // after the --max-batches stop, before the --log-csv logger

  examples::doing("training");
  // --validation-split: fit holds out windows [split_at, n), the split cut_windows printed.
  options.validation_split = cli.real("validation-split");
  const seqlm::History history = seqlm::fit(model, *optimizer, windows.all, options);
  if (!history.empty()) {
    std::cout << "last epoch: loss " << history.last("loss") << ", accuracy " << history.last("accuracy");
    if (validate) {
      std::cout << ", val_loss " << history.last("val_loss") << ", val_accuracy "
                << history.last("val_accuracy");
    }
    std::cout << ", " << history.last("seconds") << " s\n";
  }
  if (distributed.root()) save(out, model, *optimizer, corpus, config, window);
  std::cout << "saved " << out << "\n";
  return 0;
}

// The n-gram baseline on the windows and split of `train` (see the top of this file).
int baseline(const examples::CommandLine& cli) {
  const Corpus corpus = read_corpus(cli.text("data"));
  const Windows windows = cut_windows(corpus, cli);
  examples::NGramBaselineOptions options;
  options.order = cli.positive("order");
  options.add_k = cli.real("add-k");
  // Counted: the text the training windows read. Scored: the windows' targets in the whole text.
  const std::vector<std::vector<TokenId>> training = {
      examples::window_tokens(windows.all, 0, windows.split_at)};
  const examples::ScoredSplit train{
      corpus.ids, examples::window_targets(windows.all, 0, windows.split_at, options.order)};
  const examples::ScoredSplit validation{
      corpus.ids,
      examples::window_targets(windows.all, windows.split_at, windows.validation_size(), options.order)};
  examples::doing("computing the n-gram baseline");
  examples::run_ngram_baseline(training, corpus.tokenizer.vocabulary_size(), options, train, validation,
                               std::cout);
  return 0;
}

int sample(const examples::CommandLine& cli) {
  examples::doing("sampling");
  const std::string model_path = cli.text("model");
  examples::check_data_file(model_path, "model");
  std::optional<Model> model;
  std::optional<seqlm::CharTokenizer> tokenizer;
  std::string seed_text;    // the stored seed, for sampling without --prompt
  Index stored_window = 0;  // the window of --windowed
  if (examples::is_keras_path(model_path)) {
    // A Keras model: the vocabulary (and a seed, the text's first window) from --data.
    const Corpus corpus = read_corpus(cli.text("data"));
    examples::KerasImport imported = examples::import_keras(model_path, corpus.tokenizer);
    stored_window = imported.window.value_or(cli.positive("window"));
    model.emplace(std::move(imported.model));
    tokenizer.emplace(corpus.tokenizer);
    const auto seed_end =
        corpus.ids.begin() + std::min<Index>(stored_window, static_cast<Index>(corpus.ids.size()));
    seed_text = corpus.tokenizer.decode(std::vector<TokenId>(corpus.ids.begin(), seed_end));
  } else {
    seqlm::LoadedModel<float> loaded = seqlm::load_model<float>(model_path);
    tokenizer.emplace(seqlm::CharTokenizer::from_json(loaded.tokenizer));
    if (tokenizer->vocabulary_size() != loaded.model.input_spec().size) {
      throw seqlm::file_error("\"" + model_path + "\": the tokenizer has " +
                              std::to_string(tokenizer->vocabulary_size()) + " characters, the model reads " +
                              std::to_string(loaded.model.input_spec().size));
    }
    const auto stored = loaded.metadata.find("seed_text");
    if (stored != loaded.metadata.end()) seed_text = stored->second;
    if (cli.has("windowed")) stored_window = examples::stored_window(loaded.metadata, model_path);
    model.emplace(std::move(loaded.model));
  }
  std::string prompt = cli.text("prompt");
  if (prompt.empty()) {
    if (seed_text.empty()) throw seqlm::value_error("the model has no stored seed; give --prompt");
    prompt = seed_text;
  }
  const std::vector<TokenId> ids = tokenizer->encode(prompt);  // lower-cases like the training text
  const Index window = cli.has("windowed") ? stored_window : 0;
  const Index length = static_cast<Index>(cli.integer("length"));
  if (length < 0) throw seqlm::value_error("--length must be >= 0");
  seqlm::Rng rng(static_cast<std::uint64_t>(cli.integer("seed")));
  const std::vector<double> temperatures = cli.numbers("temperature");
  for (const double temperature : temperatures) {
    if (temperatures.size() > 1) std::cout << "------ temperature: " << temperature << "\n";
    std::cout << tokenizer->decode(ids);
    write_continuation(*model, *tokenizer, ids, temperature, length, window, rng);
    std::cout << "\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) try {
  examples::CommandLine cli("nietzsche", "Chollet's character-level LSTM that writes like Nietzsche");
  cli.subcommand("train", "train on --data, print samples after every epoch, save the model to --out");
  cli.subcommand("sample", "continue --prompt with a model saved by train (needs only --model)");
  cli.subcommand("baseline", "an n-gram model's loss and accuracy on the windows and split of train");
  cli.option("data", "data/nietzsche/nietzsche.txt", "the training text (UTF-8)");
  cli.option("out", "nietzsche.safetensors",
             "train: where the model is saved (after every epoch; a .keras name: for Keras 3)");
  cli.option("model", "nietzsche.safetensors",
             "sample: the model file, or a Keras .keras/.h5 file (vocabulary from --data)");
  cli.option("resume-from", "", "train: continue training this model file or Keras .keras/.h5 file");
  cli.flag("reset-optimizer",
           "train: with a Keras --resume-from, start from a new RMSprop, not Keras's state");
  cli.option("epochs", "60", "train: epochs", examples::Range{0, examples::max_epochs});
  cli.option("batch-size", "128", "train: windows per batch", examples::Range{1, examples::max_batch_size});
  cli.option("learning-rate", "0.01", "train: RMSprop learning rate");
  cli.option("window", "60", "train, baseline: characters per window (Chollet's maxlen)",
             examples::Range{1, examples::max_window});
  cli.option("step", "3", "train, baseline: distance between window starts",
             examples::Range{1, examples::max_window});
  cli.option("validation-split", "0",
             "train, baseline: last fraction of the windows held out for validation");
  cli.option("units", "128", "train: LSTM units", examples::Range{1, examples::max_width});
  cli.option("threads", "1", "train: data-parallel threads (per rank with --distributed)",
             examples::Range{1, examples::max_threads});
  cli.flag("distributed", "train: data-parallel over the ranks of `mpirun -np N` (docs/distributed.md)");
  cli.option("seed", "0", "random seed (initial weights, shuffling, sampling)");
  cli.option("max-batches", "0", "train: stop after this many batches in all (0 = no limit)",
             examples::Range{0, examples::max_batches});
  cli.option("log-csv", "", "train: write the per-epoch metrics to this CSV file");
  cli.option("log-batches", "", "train: write every batch's loss to this CSV file");
  cli.flag("every-position", "train, baseline: a loss at every position of a window, not only after it");
  cli.option("order", "5", "baseline: n of the n-gram model (contexts of n-1 characters)");
  cli.option("add-k", "0",
             "baseline: add-k smoothing after backoff (0 = choose k on held-out training text)");
  cli.option("temperatures", "0.2,0.5,1.0,1.2", "train: temperatures of the end-of-epoch samples");
  cli.option("sample-length", "400", "train: characters per end-of-epoch sample (0 = no samples)",
             examples::Range{0, examples::max_generated});
  cli.option("prompt", "", "sample: the text to continue (default: the seed stored in the model)");
  cli.option("temperature", "0.5", "sample: temperature, or several separated by commas; 0 = greedy");
  cli.option("length", "400", "sample: characters to generate", examples::Range{0, examples::max_generated});
  cli.flag("windowed", "re-run the model over the last --window characters per character (the tutorial)");
  cli.parse(argc, argv);
  if (cli.command() == "train") return train(cli);
  if (cli.command() == "baseline") return baseline(cli);
  return sample(cli);
} catch (...) {
  return examples::report_error("nietzsche", "; try smaller --units, --batch-size, --window or --threads");
}
