// headlines: the "New York Times headlines" tutorial -- a word-level LSTM that continues a
// headline one word at a time.
//
//   headlines train  --data data/headlines/ArticlesMarch2018.csv --out headlines.safetensors
//   headlines sample --model headlines.safetensors                       (the tutorial's prompts)
//   headlines sample --model headlines.safetensors --prompt "new york" --words 9
//
// The defaults are the tutorial's (see /work/shared/SEEDS.md, section 1):
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
#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <seqlm/data/line_sequences.hpp>
#include <seqlm/io/model_file.hpp>
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

namespace {

using seqlm::Index;
using seqlm::TokenId;
using Model = seqlm::Sequential<float>;

// How a model was trained; stored in the model file, `sample` generates accordingly.
const char* const prefix_mode = "prefix";                  // the tutorial's pre-padded prefixes
const char* const prefix_sharing_mode = "prefix-sharing";  // one sequence per headline

// The cleaned headlines of `column`, without the rows whose headline is "Unknown".
std::vector<std::string> read_headlines(const std::string& path, const std::string& column) {
  if (!std::ifstream(path)) {
    throw seqlm::file_error("cannot read \"" + path +
                            "\" (scripts/fetch-data.sh writes data/headlines/ArticlesMarch2018.csv; or pass "
                            "--data FILE)");
  }
  std::vector<std::string> headlines;
  for (const std::string& headline : seqlm::read_csv_column(path, column)) {
    if (headline != "Unknown") headlines.push_back(seqlm::clean_headline(headline));
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
    throw seqlm::value_error("headlines: no word of the prompt \"" + prompt + "\" is in the vocabulary");
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

int train(const examples::CommandLine& cli) {
  const std::vector<std::string> headlines = read_headlines(cli.text("data"), cli.text("column"));
  seqlm::WordTokenizer tokenizer;  // Keras's Tokenizer() defaults
  tokenizer.fit_on_texts(headlines);
  const Index vocabulary = tokenizer.vocabulary_size();
  std::cout << cli.text("data") << ": " << headlines.size() << " headlines, " << vocabulary - 1
            << " distinct words, vocabulary " << vocabulary << " with the padding id 0 (the tutorial: 1250, "
            << "3581, 3582)\n";
  const seqlm::LineCorpus corpus(tokenizer.texts_to_sequences(headlines));

  const bool sharing = cli.has("prefix-sharing");
  const std::string mode = sharing ? prefix_sharing_mode : prefix_mode;
  const seqlm::PrefixSequences prefixes(corpus);
  const seqlm::LineSequences lines(corpus);
  std::cout << prefixes.size() << " prefix examples of " << prefixes.input_steps()
            << " steps (longest headline " << prefixes.sequence_length() << " words)";
  if (sharing)
    std::cout << "; training instead on " << lines.size() << " headlines, a loss at every position";
  std::cout << "\n";
  if (prefixes.size() == 0) throw seqlm::value_error("headlines: no headline has two words or more");

  Model model =
      build_model(vocabulary, cli.integer("embedding"), cli.integer("units"), cli.real("dropout"), sharing);
  const auto seed = static_cast<std::uint64_t>(cli.integer("seed"));
  seqlm::Rng init_rng(seed);
  model.initialize(init_rng);
  std::cout << model.summary(sharing ? 0 : prefixes.input_steps());

  seqlm::AdamOptions adam;  // Keras defaults
  adam.learning_rate = cli.real("learning-rate");
  seqlm::Adam<float> optimizer(adam);
  seqlm::FitOptions<float> options;
  options.epochs = cli.integer("epochs");
  options.batch_size = cli.integer("batch-size");
  options.threads = cli.integer("threads");
  options.seed = seed;
  seqlm::LambdaCallback<float> limit;  // --max-batches: end early, for quick runs
  const Index max_batches = cli.integer("max-batches");
  limit.batch_end = [&](Index, const seqlm::Logs&, seqlm::TrainingContext<float>& context) {
    if (max_batches > 0 && context.state->global_step >= max_batches) context.stop_training = true;
  };
  options.callbacks = {&limit};

  const seqlm::History history = sharing ? seqlm::fit(model, optimizer, lines, options)
                                         : seqlm::fit(model, optimizer, prefixes, options);
  std::cout << "trained " << history.size() << " epoch(s): loss " << history.last("loss") << ", accuracy "
            << history.last("accuracy") << "\n";

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
  const std::string path = cli.text("model");
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
  cli.option("data", "data/headlines/ArticlesMarch2018.csv", "CSV file of NYT articles");
  cli.option("column", "headline", "the CSV column holding the headlines");
  cli.option("out", "headlines.safetensors", "where train saves the model");
  cli.option("model", "headlines.safetensors", "the model file sample reads");
  cli.option("epochs", "100", "training epochs");
  cli.option("batch-size", "32", "examples per batch");
  cli.option("threads", "1", "data-parallel training threads");
  cli.option("seed", "1", "seed of the weights, the shuffling and dropout");
  cli.option("embedding", "10", "embedding dimension");
  cli.option("units", "100", "LSTM units");
  cli.option("dropout", "0.1", "dropout rate after the LSTM");
  cli.option("learning-rate", "0.001", "Adam learning rate");
  cli.option("max-batches", "0", "stop training after N batches (0: no limit)");
  cli.flag("prefix-sharing",
           "one sequence per headline, a loss at every position (the efficient equivalent)");
  cli.option("prompt", "", "the start of a headline (default: the tutorial's three prompts)");
  cli.option("words", "10", "words to add to --prompt");
  cli.parse(argc, argv);
  return cli.command() == "train" ? train(cli) : sample(cli);
} catch (const std::exception& e) {
  std::cerr << "headlines: " << e.what() << "\n";
  return 1;
}
