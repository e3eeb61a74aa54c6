// machado: the "Machado de Assis" tutorial -- a character-level language model of Portuguese
// prose: Embedding -> causal Conv1D -> GRU -> Dense, trained to predict every next character.
//
//   machado train  --data data/machado/machado.txt --out machado.safetensors
//   machado sample --model machado.safetensors --prompt "A menina estava " --length 200
//   machado baseline --data data/machado/machado.txt
//
// The defaults are the tutorial's (see docs/tutorials.md, section 2):
//   text      machado.txt lower-cased; one token per character, vocabulary in Keras
//             TextVectorization order (descending frequency, ties by descending code point)
//             without its two special tokens (the tutorial subtracts 2). The tutorial's
//             input.txt had 86 distinct characters; the substitute corpus has 82.
//   windows   128 + 1 characters with shift 1: x = window[:-1], y = window[1:] (a target at
//             every position); train = the first 1,000,000 characters, shuffled (seed 42),
//             validation = the next 60,000, test = the rest (not used here); batch 32
//   model     Embedding(V, 16) -> Conv1D(32, kernel 3, causal, relu) -> GRU(128, every step)
//             -> Dense(V) logits (softmax inside the loss)
//   training  sparse categorical cross-entropy, Nadam (Keras 3 defaults), accuracy, 10 epochs;
//             the model file is rewritten whenever val_accuracy improves (ModelCheckpoint with
//             save_best_only); every 1,000 batches 50 characters are sampled from
//             "A menina estava " at temperature 1
//   sampling  log-probabilities / temperature, categorical draw
//
// Where the tutorial is wasteful, this program does better:
//   * characters are token ids read straight into each batch; a window is never copied;
//   * `sample` is streaming by default: the prompt is read once and every new character costs
//     one step of each layer (the Conv1D keeps its last 2 inputs, the GRU its state).
//     --windowed reproduces the tutorial's loop, which re-runs the whole text through the
//     model for every new character (O(length) work per character).
// --log-csv FILE writes every epoch's metrics (loss, accuracy, val_loss, val_accuracy, ...).
//
// `baseline` reads the text, the vocabulary and the --train-size/--valid-size splits exactly as
// `train` does, fits an n-gram model (--order, default 5 characters;
// examples/common/ngram_baseline.hpp) on the training split only, and scores the same targets
// as the network: every position of every window of each split, predicted from the characters
// of its own window before it (the last order-1 of them). It prints loss (nats), accuracy,
// perplexity and bits per character for both splits.
#include <fstream>
#include <iostream>
#include <optional>
#include <seqlm/data/split.hpp>
#include <seqlm/data/windows.hpp>
#include <seqlm/files/model_file.hpp>
#include <seqlm/model/generate.hpp>
#include <seqlm/model/sequential.hpp>
#include <seqlm/optim/nadam.hpp>
#include <seqlm/text/char_tokenizer.hpp>
#include <seqlm/train/callbacks.hpp>
#include <seqlm/train/fit.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "../common/cli.hpp"
#include "../common/ngram_baseline.hpp"
#include "../common/training.hpp"

namespace {

using seqlm::Index;
using seqlm::TokenId;
using Model = seqlm::Sequential<float>;

// The whole file as one string (file_error pointing to scripts/fetch-data.sh when missing).
std::string read_text(const std::string& path) {
  examples::doing("reading --data");
  examples::check_data_file(path);
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw seqlm::file_error(
        "cannot read the corpus \"" + path +
        "\" (scripts/fetch-data.sh writes data/machado/machado.txt; or pass --data FILE)");
  }
  std::ostringstream text;
  text << in.rdbuf();
  examples::check_utf8_lines(text.str(), path);
  return text.str();
}

// Keras TextVectorization(split="character", standardize="lower") after adapt(), minus its two
// special tokens: ids 0 .. V-1 by descending frequency, ties by descending code point.
seqlm::CharTokenizer build_tokenizer(const std::string& text) {
  seqlm::CharTokenizerOptions options;
  options.order = seqlm::VocabularyOrder::frequency;
  options.lower = seqlm::LowerCase::unicode;
  options.reserve_special_tokens = false;
  options.unknown = seqlm::UnknownPolicy::error;
  return seqlm::CharTokenizer::build(text, options);
}

struct Architecture {
  Index vocabulary = 0;
  Index embedding = 16;
  Index filters = 32;
  Index kernel = 3;
  Index units = 128;
};

// Embedding(V, 16) -> Conv1D(32, 3, causal, relu) -> GRU(128, return_sequences) -> Dense(V).
Model build_model(const Architecture& a) {
  Model model(seqlm::InputSpec::token_ids(a.vocabulary));
  seqlm::Conv1DOptions convolution;
  convolution.activation = seqlm::Activation::relu;
  seqlm::GRUOptions recurrent;
  recurrent.return_sequences = true;  // a prediction at every position
  model.add(seqlm::layers::embedding<float>(a.vocabulary, a.embedding))
      .add(seqlm::layers::conv1d<float>(a.embedding, a.filters, a.kernel, convolution))
      .add(seqlm::layers::gru<float>(a.filters, a.units, recurrent))
      .add(seqlm::layers::dense<float>(a.units, a.vocabulary));
  return model;
}

// The tutorial's extend_text: `length` characters after `prompt`, printed as they come.
// Streaming (one step per character) unless `window` > 0, which re-runs the last `window`
// characters through the model for every new one (the tutorial's loop, window = everything).
void extend_text(const Model& model, const seqlm::CharTokenizer& tokenizer, const std::string& prompt,
                 Index length, double temperature, Index window, seqlm::Rng& rng) {
  const std::vector<TokenId> ids = tokenizer.encode(prompt);
  seqlm::GenerationOptions options;
  options.max_tokens = length;
  options.temperature = temperature;
  std::cout << prompt << std::flush;
  const seqlm::TokenCallback print = [&](TokenId id) { std::cout << tokenizer.token_text(id) << std::flush; };
  if (window > 0) {
    seqlm::generate_windowed(model, ids, window, options, rng, print);
  } else {
    seqlm::generate(model, ids, options, rng, print);
  }
  std::cout << "\n";
}

// The lower-cased corpus, its vocabulary, and the windows of the training and validation splits
// (train = the first --train-size characters, validation = the next --valid-size, test = the rest).
struct Corpus {
  seqlm::CharTokenizer tokenizer;
  std::vector<TokenId> encoded;
  seqlm::StreamSplit split;
  seqlm::WindowDataset train_windows;
  seqlm::WindowDataset valid_windows;
};

Corpus read_corpus(const examples::CommandLine& cli) {
  const std::string text = read_text(cli.text("data"));
  seqlm::CharTokenizer tokenizer = build_tokenizer(text);
  std::vector<TokenId> encoded = tokenizer.encode(text);
  const Index n = static_cast<Index>(encoded.size());
  std::cout << cli.text("data") << ": " << n << " characters, " << tokenizer.vocabulary_size()
            << " distinct after lower-casing (the tutorial's input.txt: 1782290 and 86)\n";

  // Splits: train = [0, 1,000,000), validation = the next 60,000, test = the rest.
  const Index window = cli.positive("window");
  const Index train_size = cli.integer("train-size");
  const Index valid_size = cli.integer("valid-size");
  if (train_size <= window || valid_size <= window || train_size + valid_size > n) {
    throw seqlm::value_error(seqlm::detail::make_message(
        "--train-size ", train_size, " and --valid-size ", valid_size, " must each exceed --window ", window,
        " and together fit in the ", n, " characters of the corpus"));
  }
  const seqlm::StreamSplit split =
      seqlm::split_by_counts(seqlm::TokenStream(encoded), train_size, valid_size);
  Corpus corpus{std::move(tokenizer), std::move(encoded), split,
                seqlm::WindowDataset(split.train, window, 1, seqlm::WindowTargets::every_position),
                seqlm::WindowDataset(split.validation, window, 1, seqlm::WindowTargets::every_position)};
  std::cout << "windows of " << window << "+1: " << corpus.train_windows.size() << " for training, "
            << corpus.valid_windows.size() << " for validation, test split of " << split.test.size()
            << " characters not used\n";
  return corpus;
}

int train(const examples::CommandLine& cli) {
  examples::check_output_file(cli, "out");  // before the training, not after it
  examples::check_output_file(cli, "log-csv");
  const Corpus corpus = read_corpus(cli);
  const seqlm::CharTokenizer& tokenizer = corpus.tokenizer;
  const std::vector<TokenId>& encoded = corpus.encoded;
  const Index n = static_cast<Index>(encoded.size());
  const seqlm::WindowDataset& train_windows = corpus.train_windows;
  const seqlm::WindowDataset& valid_windows = corpus.valid_windows;
  const Index window = train_windows.length();
  const Index train_size = corpus.split.train.size();
  const Index valid_size = corpus.split.validation.size();

  Architecture architecture;
  architecture.vocabulary = tokenizer.vocabulary_size();
  architecture.embedding = cli.integer("embedding");
  architecture.filters = cli.integer("filters");
  architecture.units = cli.integer("units");
  examples::doing("building the model");
  Model model = build_model(architecture);
  const auto seed = static_cast<std::uint64_t>(cli.integer("seed"));
  examples::TrainingSetup setup(cli, seed);
  setup.initialize(model, window);

  seqlm::NadamOptions nadam;  // Keras 3 defaults
  nadam.learning_rate = cli.real("learning-rate");
  seqlm::Nadam<float> optimizer(nadam);

  seqlm::FitOptions<float>& options = setup.options;

  // The model file: tokenizer, training configuration, and test vectors (the first characters
  // of the corpus with their logits) that load_model re-checks.
  seqlm::ModelFileContents contents;
  contents.tokenizer = tokenizer.to_json();
  contents.training_config = seqlm::json::Value::object()
                                 .set("example", "machado")
                                 .set("optimizer", "nadam")
                                 .set("learning_rate", nadam.learning_rate)
                                 .set("epochs", options.epochs)
                                 .set("batch_size", options.batch_size)
                                 .set("window", window)
                                 .set("train_size", train_size)
                                 .set("valid_size", valid_size)
                                 .set("seed", cli.integer("seed"));
  contents.metadata["dataset"] = cli.text("data");
  const Index test_steps = std::min<Index>(16, n);
  contents.test_vectors = seqlm::TestVectors::token_ids(
      std::vector<TokenId>(encoded.begin(), encoded.begin() + test_steps), test_steps, 1);

  // ModelCheckpoint(save_best_only, monitor="val_accuracy") writes the model file.
  const std::string out = cli.text("out");
  seqlm::CheckpointOptions checkpoint_options;
  checkpoint_options.monitor = "val_accuracy";
  seqlm::ModelCheckpoint<float> checkpoint(
      [&](seqlm::TrainingContext<float>& context, Index epoch, const seqlm::Logs& logs) {
        seqlm::save_model(out, *context.model, contents);
        std::cout << "epoch " << epoch + 1 << ": val_accuracy improved to " << logs.at("val_accuracy")
                  << ", saved " << out << "\n";
      },
      checkpoint_options);

  // Every 1,000 batches: 50 characters from "A menina estava " at temperature 1.
  const std::string sample_prompt = cli.text("sample-prompt");
  seqlm::SamplingCallback<float> sampler(
      cli.integer("sample-every"), [&](Model& current, seqlm::TrainingContext<float>& context) {
        std::cout << "\n--> batch " << context.state->global_step << ", generated text:\n";
        extend_text(current, tokenizer, sample_prompt, 50, 1.0, 0, *context.rng);
      });

  setup.use_callbacks({&sampler, &checkpoint});  // after the --max-batches stop, before the --log-csv logger

  examples::doing("training");
  const seqlm::History history = seqlm::fit(model, optimizer, train_windows, options, &valid_windows);
  if (checkpoint.saves() == 0) seqlm::save_model(out, model, contents);  // e.g. NaN validation metrics
  std::cout << "trained " << history.size() << " epoch(s): loss " << history.last("loss") << ", accuracy "
            << history.last("accuracy") << ", val_loss " << history.last("val_loss") << ", val_accuracy "
            << history.last("val_accuracy") << "; best model in " << out << "\n";
  return 0;
}

// The n-gram baseline on the splits and windows of `train` (see the top of this file).
int baseline(const examples::CommandLine& cli) {
  const Corpus corpus = read_corpus(cli);
  examples::NGramBaselineOptions options;
  options.order = cli.positive("order");
  options.add_k = cli.real("add-k");
  // Counted: the training split. Scored: every position of every window of each split.
  const std::vector<TokenId> train_tokens = corpus.split.train.to_vector();
  const examples::ScoredSplit train{
      train_tokens,
      examples::window_targets(corpus.train_windows, 0, corpus.train_windows.size(), options.order)};
  const examples::ScoredSplit validation{
      corpus.split.validation.to_vector(),
      examples::window_targets(corpus.valid_windows, 0, corpus.valid_windows.size(), options.order)};
  examples::doing("computing the n-gram baseline");
  examples::run_ngram_baseline({train_tokens}, corpus.tokenizer.vocabulary_size(), options, train, validation,
                               std::cout);
  return 0;
}

int sample(const examples::CommandLine& cli) {
  examples::doing("sampling");
  examples::check_data_file(cli.text("model"), "model");
  const seqlm::LoadedModel<float> loaded = seqlm::load_model<float>(cli.text("model"));
  const seqlm::CharTokenizer tokenizer = seqlm::CharTokenizer::from_json(loaded.tokenizer);
  seqlm::Rng rng(static_cast<std::uint64_t>(cli.integer("seed")));
  const std::string prompt = cli.text("prompt");
  const Index length = cli.integer("length");
  // The tutorial re-runs the whole text: a window as long as prompt + generated text.
  const Index window = cli.has("windowed") ? static_cast<Index>(prompt.size()) + length : 0;
  extend_text(loaded.model, tokenizer, prompt, length, cli.real("temperature"), window, rng);
  return 0;
}

}  // namespace

int main(int argc, char** argv) try {
  examples::CommandLine cli("machado", "a character-level Conv1D + GRU language model of Machado de Assis");
  cli.subcommand("train", "train on --data and save the best model (val_accuracy) to --out");
  cli.subcommand("sample", "continue --prompt with a model saved by train (needs only --model)");
  cli.subcommand("baseline", "an n-gram model's loss and accuracy on the splits and windows of train");
  cli.option("data", "data/machado/machado.txt", "UTF-8 text to learn");
  cli.option("out", "machado.safetensors", "where train saves the model");
  cli.option("model", "machado.safetensors", "the model file sample reads");
  cli.option("epochs", "10", "training epochs", examples::Range{0, examples::max_epochs});
  cli.option("batch-size", "32", "windows per batch", examples::Range{1, examples::max_batch_size});
  cli.option("threads", "1", "data-parallel training threads", examples::Range{1, examples::max_threads});
  cli.option("seed", "42", "seed of the weights, the shuffling and the sampler");
  cli.option("window", "128", "characters per training window (targets: the window shifted by one)",
             examples::Range{1, examples::max_window});
  cli.option("train-size", "1000000", "characters of the training split (the first ones)");
  cli.option("valid-size", "60000", "characters of the validation split (the next ones)");
  cli.option("embedding", "16", "embedding dimension", examples::Range{1, examples::max_width});
  cli.option("filters", "32", "Conv1D filters", examples::Range{1, examples::max_width});
  cli.option("units", "128", "GRU units", examples::Range{1, examples::max_width});
  cli.option("learning-rate", "0.001", "Nadam learning rate");
  cli.option("sample-every", "1000", "print a sample every N batches (0: never)");
  cli.option("sample-prompt", "A menina estava ", "the prompt of the samples printed while training");
  cli.option("max-batches", "0", "stop training after N batches (0: no limit)",
             examples::Range{0, examples::max_batches});
  cli.option("log-csv", "", "train: write the per-epoch metrics to this CSV file");
  cli.option("log-batches", "", "train: write every batch's loss to this CSV file");
  cli.option("order", "5", "baseline: n of the n-gram model (contexts of n-1 characters)");
  cli.option("add-k", "0",
             "baseline: add-k smoothing after backoff (0 = choose k on held-out training text)");
  cli.option("prompt", "A menina estava ", "text to continue (sample)");
  cli.option("length", "50", "characters to generate (sample)", examples::Range{0, examples::max_generated});
  cli.option("temperature", "1", "sampling temperature; 0 = always the most probable character");
  cli.flag("windowed", "re-run the whole text for every character, as the tutorial (sample)");
  cli.parse(argc, argv);
  if (cli.command() == "train") return train(cli);
  if (cli.command() == "baseline") return baseline(cli);
  return sample(cli);
} catch (...) {
  return examples::report_error(
      "machado", "; try smaller --units, --filters, --embedding, --batch-size, --window or --threads");
}
