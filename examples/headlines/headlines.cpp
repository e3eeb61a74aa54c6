// headlines: the "New York Times headlines" tutorial -- a word-level LSTM that continues a
// headline one word at a time.
//
//   headlines train  --data data/headlines/ArticlesMarch2018.csv --out headlines.safetensors
//   headlines sample --model headlines.safetensors                       (the tutorial's prompts)
//   headlines sample --model headlines.safetensors --prompt "new york" --words 9
//   headlines baseline --data data/headlines/ArticlesMarch2018.csv --validation-split 0.1
//
// The defaults are the tutorial's (see docs/tutorials.md, section 1):
//   data      column `headline` of ArticlesMarch2018.csv without the "Unknown" rows (1,250),
//             cleaned: ASCII punctuation removed, lower-cased, non-ASCII dropped
//   words     Keras Tokenizer(): index by descending count (ties: first seen), 0 = padding
//             -> 3,581 words, vocabulary 3,582
//   examples  every prefix t[0..k] (k >= 1) of every headline, pre-padded with 0 to the longest
//             headline (18): x = the first 17 ids, y = the last one
//   model     Embedding(3582, 10) -> LSTM(100) -> Dropout(0.1) -> Dense(3582) logits
//             (442,002 parameters; softmax inside the loss)
//   training  categorical cross-entropy, Adam (Keras defaults), 100 epochs, batch 32, no
//             validation
//   sampling  greedy: the most probable next word, appended to the text, N times; the text
//             re-tokenised, pre-padded to 17 and re-run each time; output title-cased
//
// --prefix-sharing trains the efficient equivalent: one sequence per headline with a loss at
// EVERY position (the output after k words is scored against word k+1, masks instead of
// padding). It sees the same (context, next word) pairs as the prefix expansion -- without
// the leading padding -- for O(n) instead of O(n^2) steps per headline. The LSTM then returns
// every step (return_sequences); the parameter count is unchanged (442,002). Such a model
// samples by streaming: the prompt is read once, then one step per word.
//
// --validation-split F holds out the last fraction F of the HEADLINES (split_at = floor(n (1-F)),
// Keras's rule, applied to headlines so that no headline is cut in two): their prefix examples
// (or their sequences with --prefix-sharing) validate, padded to the same 17 steps as training;
// fit then reports val_loss, val_accuracy, ... The tokenizer is still fitted on all headlines, as
// the tutorial does. --log-csv FILE writes every epoch's metrics.
//
// `baseline` reads, cleans, tokenizes and splits the headlines exactly as `train` does, fits a
// word n-gram model (--order, default 3; examples/common/ngram_baseline.hpp) on the training
// headlines only, and scores what the tutorial's expansion predicts: every word of a headline
// after the first, from the words before it in its headline (the last order-1 of them,
// left-padded with the padding id 0 like the tutorial's pre-padding). It prints loss (nats),
// accuracy, perplexity and bits per word for the training and the validation headlines.
#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <optional>
#include <seqlm/data/line_sequences.hpp>
#include <seqlm/data/split.hpp>
#include <seqlm/files/model_file.hpp>
#include <seqlm/model/generate.hpp>
#include <seqlm/model/sequential.hpp>
#include <seqlm/optim/adam.hpp>
#include <seqlm/text/csv.hpp>
#include <seqlm/text/word_tokenizer.hpp>
#include <seqlm/train/callbacks.hpp>
#include <seqlm/train/fit.hpp>
#include <string>
#include <utility>
#include <vector>

#include "../common/cli.hpp"
#include "../common/example_range.hpp"
#include "../common/ngram_baseline.hpp"
#include "../common/training.hpp"

namespace {

using seqlm::Index;
using seqlm::TokenId;
using Model = seqlm::Sequential<float>;

// How a model was trained; stored in the model file, `sample` generates accordingly.
const char* const prefix_mode = "prefix";                  // the tutorial's pre-padded prefixes
const char* const prefix_sharing_mode = "prefix-sharing";  // one sequence per headline

// The cleaned headlines of `column`, without the rows whose headline is "Unknown".
std::vector<std::string> read_headlines(const std::string& path, const std::string& column) {
  examples::doing("reading --data");
  examples::check_data_file(path);
  if (!std::ifstream(path)) {
    throw seqlm::file_error("cannot read \"" + path +
                            "\" (scripts/fetch-data.sh writes data/headlines/ArticlesMarch2018.csv; or pass "
                            "--data FILE)");
  }
  std::vector<std::string> headlines;
  std::vector<std::size_t> lines;  // where each row starts, for messages
  const std::vector<std::string> column_values = seqlm::read_csv_column(path, column, &lines);
  for (std::size_t k = 0; k < column_values.size(); ++k) {
    if (column_values[k] == "Unknown") continue;
    try {
      headlines.push_back(seqlm::clean_headline(column_values[k]));
    } catch (const seqlm::text_error& e) {
      throw seqlm::text_error("CSV \"" + path + "\" line " + std::to_string(lines[k]) + ": column \"" +
                              column + "\": " + e.what());
    }
  }
  if (headlines.empty()) throw seqlm::file_error("\"" + path + "\" has no headlines");
  return headlines;
}

// Embedding(V, 10) -> LSTM(100) -> Dropout(0.1) -> Dense(V). With every_position the LSTM
// returns every step (a prediction after each word), otherwise only the last.
Model build_model(Index vocabulary, Index embedding, Index units, double dropout, bool every_position) {
  Model model(seqlm::InputSpec::token_ids(vocabulary));
  seqlm::LSTMOptions lstm;
  lstm.return_sequences = every_position;
  model.add(seqlm::layers::embedding<float>(vocabulary, embedding))
      .add(seqlm::layers::lstm<float>(embedding, units, lstm))
      .add(seqlm::layers::dropout<float>(dropout))
      .add(seqlm::layers::dense<float>(units, vocabulary));
  return model;
}

// Python's str.title() for ASCII text: a letter after a non-letter is upper-cased, any other
// letter lower-cased ("new york" -> "New York", "80s" -> "80S").
std::string title_case(const std::string& text) {
  std::string out = text;
  bool after_letter = false;
  for (char& c : out) {
    const bool letter = std::isalpha(static_cast<unsigned char>(c)) != 0;
    if (letter) c = static_cast<char>(after_letter ? std::tolower(c) : std::toupper(c));
    after_letter = letter;
  }
  return out;
}

// The tutorial's generate_text: `words` times, the most probable next word is appended to the
// text; returns prompt + words, title-cased. A prefix model re-runs the text pre-padded to
// `input_steps` ids (the tutorial's loop, a window of the last input_steps ids); a
// prefix-sharing model streams (one LSTM step per word).
std::string continue_headline(const Model& model, const seqlm::WordTokenizer& tokenizer,
                              const std::string& mode, Index input_steps, const std::string& prompt,
                              Index words) {
  const std::vector<TokenId> ids = tokenizer.text_to_sequence(seqlm::clean_headline(prompt));
  if (ids.empty()) {
    throw seqlm::value_error("no word of the prompt \"" + prompt + "\" is in the vocabulary");
  }
  seqlm::GenerationOptions greedy;
  greedy.max_tokens = words;
  greedy.temperature = 0;  // argmax
  seqlm::Rng unused(0);
  seqlm::GenerationResult result;
  if (mode == prefix_mode) {
    std::vector<TokenId> padded(static_cast<size_t>(std::max<Index>(input_steps - Index(ids.size()), 0)),
                                seqlm::WordTokenizer::padding_id);
    padded.insert(padded.end(), ids.begin(), ids.end());
    result = seqlm::generate_windowed(model, padded, input_steps, greedy, unused);
  } else {
    result = seqlm::generate(model, ids, greedy, unused);
  }
  // sequence_to_text drops a predicted padding id, as the tutorial's word lookup does.
  const std::string continuation = tokenizer.sequence_to_text(result.tokens);
  return title_case(continuation.empty() ? prompt : prompt + " " + continuation);
}

// The cleaned headlines as word ids (the tokenizer fitted on all of them, as the tutorial does)
// and the split of --validation-split: headlines [0, split_at) train, the rest validate.
struct Headlines {
  seqlm::WordTokenizer tokenizer;  // Keras's Tokenizer() defaults
  std::vector<std::vector<TokenId>> lines;
  seqlm::LineCorpus corpus;
  Index split_at = 0;

  Index validation_size() const { return corpus.line_count() - split_at; }
};

Headlines read_and_split(const examples::CommandLine& cli) {
  const std::vector<std::string> texts = read_headlines(cli.text("data"), cli.text("column"));
  Headlines headlines;
  headlines.tokenizer.fit_on_texts(texts);
  const Index vocabulary = headlines.tokenizer.vocabulary_size();
  std::cout << cli.text("data") << ": " << texts.size() << " headlines, " << vocabulary - 1
            << " distinct words, vocabulary " << vocabulary << " with the padding id 0 (the tutorial: 1250, "
            << "3581, 3582)\n";
  headlines.lines = headlines.tokenizer.texts_to_sequences(texts);
  headlines.corpus = seqlm::LineCorpus(headlines.lines);
  const double validation_fraction = cli.real("validation-split");
  headlines.split_at = seqlm::keras_split_point(headlines.corpus.line_count(), validation_fraction);
  if (validation_fraction > 0) {
    std::cout << "validation split " << validation_fraction << ": " << headlines.split_at
              << " headlines for training, " << headlines.validation_size() << " for validation\n";
  }
  return headlines;
}

// Prefix examples are numbered headline by headline, n-1 for a headline of n words: the examples
// of headlines [0, line) are [0, first_prefix_example(line)).
Index first_prefix_example(const seqlm::LineCorpus& corpus, Index line) {
  Index examples = 0;
  for (Index l = 0; l < line; ++l) examples += std::max<Index>(corpus.line_length(l) - 1, 0);
  return examples;
}

// The headlines [first, first + count) as a corpus of their own (--prefix-sharing's datasets).
seqlm::LineCorpus some_lines(const Headlines& headlines, Index first, Index count) {
  return seqlm::LineCorpus(std::vector<std::vector<TokenId>>(headlines.lines.begin() + first,
                                                             headlines.lines.begin() + first + count));
}

int train(const examples::CommandLine& cli) {
  examples::check_output_file(cli, "out");  // before the training, not after it
  examples::check_output_file(cli, "log-csv");
  const Headlines headlines = read_and_split(cli);
  const seqlm::WordTokenizer& tokenizer = headlines.tokenizer;
  const Index vocabulary = tokenizer.vocabulary_size();
  const seqlm::LineCorpus& corpus = headlines.corpus;

  const bool sharing = cli.has("prefix-sharing");
  const std::string mode = sharing ? prefix_sharing_mode : prefix_mode;
  // Prefix examples of all headlines (so that every example is padded to the same length, as the
  // tutorial pads before any split), then the examples of the training and validation headlines.
  const seqlm::PrefixSequences prefixes(corpus);
  const Index prefix_split = first_prefix_example(corpus, headlines.split_at);
  const examples::ExampleRange<seqlm::PrefixSequences> train_prefixes{&prefixes, 0, prefix_split, {}};
  const examples::ExampleRange<seqlm::PrefixSequences> validation_prefixes{
      &prefixes, prefix_split, prefixes.size() - prefix_split, {}};
  const seqlm::LineSequences train_lines(some_lines(headlines, 0, headlines.split_at));
  const seqlm::LineSequences validation_lines(
      some_lines(headlines, headlines.split_at, headlines.validation_size()));
  std::cout << prefixes.size() << " prefix examples of " << prefixes.input_steps()
            << " steps (longest headline " << prefixes.sequence_length() << " words)";
  if (headlines.validation_size() > 0) {
    std::cout << ", " << train_prefixes.size() << " for training and " << validation_prefixes.size()
              << " for validation";
  }
  if (sharing) {
    std::cout << "; training instead on " << train_lines.size() << " headlines, a loss at every position";
  }
  std::cout << "\n";
  if (train_prefixes.size() == 0) throw seqlm::value_error("no training headline has two words or more");
  const bool validate = cli.real("validation-split") > 0;
  if (validate && validation_prefixes.size() == 0) {
    throw seqlm::value_error("--validation-split leaves no validation headline of two words or more");
  }

  examples::doing("building the model");
  Model model =
      build_model(vocabulary, cli.integer("embedding"), cli.integer("units"), cli.real("dropout"), sharing);
  const auto seed = static_cast<std::uint64_t>(cli.integer("seed"));
  examples::TrainingSetup setup(cli, seed);
  setup.initialize(model, sharing ? 0 : prefixes.input_steps());

  seqlm::AdamOptions adam;  // Keras defaults
  adam.learning_rate = cli.real("learning-rate");
  seqlm::Adam<float> optimizer(adam);
  seqlm::FitOptions<float>& options = setup.options;
  setup.use_callbacks({});  // the --max-batches stop and the --log-csv logger

  examples::doing("training");
  seqlm::History history;
  if (sharing) {
    history = validate ? seqlm::fit(model, optimizer, train_lines, options, &validation_lines)
                       : seqlm::fit(model, optimizer, train_lines, options);
  } else {
    history = validate ? seqlm::fit(model, optimizer, train_prefixes, options, &validation_prefixes)
                       : seqlm::fit(model, optimizer, train_prefixes, options);
  }
  std::cout << "trained " << history.size() << " epoch(s): loss " << history.last("loss") << ", accuracy "
            << history.last("accuracy");
  if (validate) {
    std::cout << ", val_loss " << history.last("val_loss") << ", val_accuracy "
              << history.last("val_accuracy");
  }
  std::cout << "\n";

  // The model file: tokenizer, how it was trained, and test vectors (the first headline).
  seqlm::ModelFileContents contents;
  contents.tokenizer = tokenizer.to_json();
  contents.training_config = seqlm::json::Value::object()
                                 .set("example", "headlines")
                                 .set("mode", mode)
                                 .set("optimizer", "adam")
                                 .set("learning_rate", adam.learning_rate)
                                 .set("epochs", options.epochs)
                                 .set("batch_size", options.batch_size)
                                 .set("validation_split", cli.real("validation-split"))
                                 .set("seed", cli.integer("seed"));
  contents.metadata["dataset"] = cli.text("data");
  contents.metadata["mode"] = mode;
  contents.metadata["input_steps"] = std::to_string(prefixes.input_steps());
  const std::vector<TokenId> first = corpus.line(0);
  if (!first.empty()) {
    contents.test_vectors = seqlm::TestVectors::token_ids(first, static_cast<Index>(first.size()), 1);
  }
  seqlm::save_model(cli.text("out"), model, contents);
  std::cout << "saved " << cli.text("out") << "\n";
  return 0;
}

// The n-gram baseline on the headlines and split of `train` (see the top of this file). The
// targets are the same in both training modes.
int baseline(const examples::CommandLine& cli) {
  const Headlines headlines = read_and_split(cli);
  examples::NGramBaselineOptions options;
  options.order = cli.positive("order");
  options.add_k = cli.real("add-k");
  options.begin_token = seqlm::WordTokenizer::padding_id;  // the tutorial pre-pads with 0
  // Counted: the training headlines. Scored: every word after the first of each headline.
  const std::vector<std::vector<TokenId>> training(headlines.lines.begin(),
                                                   headlines.lines.begin() + headlines.split_at);
  const std::vector<TokenId> tokens = headlines.corpus.tokens().to_vector();
  const examples::ScoredSplit train{tokens, examples::line_targets(headlines.corpus, 0, headlines.split_at)};
  const examples::ScoredSplit validation{
      tokens, examples::line_targets(headlines.corpus, headlines.split_at, headlines.validation_size())};
  if (train.targets.empty()) throw seqlm::value_error("no training headline has two words or more");
  if (cli.real("validation-split") > 0 && validation.targets.empty()) {
    throw seqlm::value_error("--validation-split leaves no validation headline of two words or more");
  }
  examples::doing("computing the n-gram baseline");
  examples::run_ngram_baseline(training, headlines.tokenizer.vocabulary_size(), options, train, validation,
                               std::cout);
  return 0;
}

// The metadata entry `key` of a headlines model file, or a file_error.
const std::string& required(const seqlm::LoadedModel<float>& loaded, const std::string& key,
                            const std::string& path) {
  const auto found = loaded.metadata.find(key);
  if (found == loaded.metadata.end()) {
    throw seqlm::file_error("\"" + path + "\" is not a headlines model (no \"" + key + "\" metadata)");
  }
  return found->second;
}

int sample(const examples::CommandLine& cli) {
  examples::doing("sampling");
  const std::string path = cli.text("model");
  examples::check_data_file(path, "model");
  const seqlm::LoadedModel<float> loaded = seqlm::load_model<float>(path);
  const std::string mode = required(loaded, "mode", path);
  if (mode != prefix_mode && mode != prefix_sharing_mode) {
    throw seqlm::file_error("\"" + path + "\": unknown training mode \"" + mode + "\"");
  }
  const std::string& steps_text = required(loaded, "input_steps", path);
  const Index input_steps = std::strtol(steps_text.c_str(), nullptr, 10);
  if (input_steps <= 0 || steps_text != std::to_string(input_steps)) {
    throw seqlm::file_error("\"" + path + "\": bad \"input_steps\" metadata \"" + steps_text + "\"");
  }
  const seqlm::WordTokenizer tokenizer = seqlm::WordTokenizer::from_json(loaded.tokenizer);

  // The tutorial's three demonstrations, unless a prompt is given.
  std::vector<std::pair<std::string, Index>> prompts = {
      {"president trump", 10}, {"New York", 9}, {"United States", 12}};
  if (cli.has("prompt")) prompts = {{cli.text("prompt"), cli.integer("words")}};
  for (const auto& [prompt, words] : prompts) {
    std::cout << continue_headline(loaded.model, tokenizer, mode, input_steps, prompt, words) << "\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) try {
  examples::CommandLine cli("headlines", "a word-level LSTM that continues New York Times headlines");
  cli.subcommand("train", "train on the headlines of --data and save the model to --out");
  cli.subcommand("sample", "continue headlines greedily with a model saved by train (needs only --model)");
  cli.subcommand("baseline", "a word n-gram model's loss and accuracy on the headlines and split of train");
  cli.option("data", "data/headlines/ArticlesMarch2018.csv", "CSV file of NYT articles");
  cli.option("column", "headline", "the CSV column holding the headlines");
  cli.option("out", "headlines.safetensors", "where train saves the model");
  cli.option("model", "headlines.safetensors", "the model file sample reads");
  cli.option("epochs", "100", "training epochs", examples::Range{0, examples::max_epochs});
  cli.option("batch-size", "32", "examples per batch", examples::Range{1, examples::max_batch_size});
  cli.option("threads", "1", "data-parallel training threads", examples::Range{1, examples::max_threads});
  cli.option("seed", "1", "seed of the weights, the shuffling and dropout");
  cli.option("embedding", "10", "embedding dimension", examples::Range{1, examples::max_width});
  cli.option("units", "100", "LSTM units", examples::Range{1, examples::max_width});
  cli.option("dropout", "0.1", "dropout rate after the LSTM");
  cli.option("learning-rate", "0.001", "Adam learning rate");
  cli.option("max-batches", "0", "stop training after N batches (0: no limit)",
             examples::Range{0, examples::max_batches});
  cli.option("validation-split", "0",
             "train, baseline: last fraction of the headlines held out for validation");
  cli.option("log-csv", "", "train: write the per-epoch metrics to this CSV file");
  cli.option("log-batches", "", "train: write every batch's loss to this CSV file");
  cli.option("order", "3", "baseline: n of the n-gram model (contexts of n-1 words)");
  cli.option("add-k", "0",
             "baseline: add-k smoothing after backoff (0 = choose k on held-out training headlines)");
  cli.flag("prefix-sharing",
           "one sequence per headline, a loss at every position (the efficient equivalent)");
  cli.option("prompt", "", "the start of a headline (default: the tutorial's three prompts)");
  cli.option("words", "10", "words to add to --prompt", examples::Range{0, examples::max_generated});
  cli.parse(argc, argv);
  if (cli.command() == "train") return train(cli);
  if (cli.command() == "baseline") return baseline(cli);
  return sample(cli);
} catch (...) {
  return examples::report_error("headlines", "; try smaller --units, --embedding, --batch-size or --threads");
}
