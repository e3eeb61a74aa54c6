// greetings: the "super small language model" tutorial -- an n-gram model that answers short
// Portuguese greetings and learns new sentences while it runs.
//
//   greetings train --data data/greetings/dataset.txt --out greetings.json
//   greetings reply --model greetings.json Olá!
//   greetings chat  --model greetings.json --data data/greetings/dataset.txt
//
// As in the tutorial: words are whitespace-separated tokens with ids in order of first
// appearance; the model counts transitions between consecutive words (order 2, or longer
// contexts with --order); a reply continues from the last word(s) of the message until a
// training line would end; an unknown word gets "Desculpe, não entendi sua mensagem.".
// Learning a sentence appends it to the dataset file (one fsync'ed write) and updates the
// model online; the model file is rewritten atomically. The two change together or not at all:
// when either cannot be written, neither changes (see learn_sentence).
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iostream>
#include <optional>
#include <seqlm/seqlm.hpp>
#include <string>
#include <vector>

#include "../common/cli.hpp"

namespace {

const char* const sorry = "Desculpe, não entendi sua mensagem.";

// The vocabulary and the n-gram counts, saved together in one JSON file.
struct GreetingsModel {
  seqlm::WhitespaceVocabulary vocabulary;
  seqlm::NGramModel ngram;

  static seqlm::NGramModel empty_ngram(seqlm::Index order) {
    seqlm::NGramOptions options;
    options.end_token = seqlm::WhitespaceVocabulary::reserved_id;  // a training line ends here
    options.backoff = true;  // longer orders fall back to shorter contexts
    return seqlm::NGramModel(order, 1, options);
  }

  void learn(const std::string& line) {
    const std::vector<seqlm::TokenId> ids = vocabulary.add(line);
    if (ids.empty()) return;
    ngram.grow_vocabulary(vocabulary.size());
    ngram.learn(ids);
  }

  std::string reply(const std::string& message, const seqlm::GenerationOptions& options,
                    seqlm::Rng& rng) const {
    const std::vector<std::string> words = seqlm::WhitespaceVocabulary::split(message);
    const size_t context_length = static_cast<size_t>(ngram.order() - 1);
    std::vector<seqlm::TokenId> context;
    for (size_t k = words.size() > context_length ? words.size() - context_length : 0; k < words.size();
         ++k) {
      const auto id = vocabulary.find(words[k]);
      if (!id) {
        context.clear();  // only the known words at the end of the message form the context
        continue;
      }
      context.push_back(*id);
    }
    if (context.empty() || !vocabulary.find(words.back())) return sorry;
    const seqlm::GenerationResult more = ngram.generate(context, options, rng);
    if (more.reason == seqlm::StopReason::no_continuation && more.tokens.empty()) return sorry;
    std::vector<seqlm::TokenId> response = {context.back()};
    response.insert(response.end(), more.tokens.begin(), more.tokens.end());
    return vocabulary.decode(response);
  }

  // The model file's contents (JSON).
  std::string to_text() const {
    seqlm::json::Value out = seqlm::json::Value::object();
    out.set("format", "seqlm.greetings")
        .set("version", 1)
        .set("vocabulary", vocabulary.to_json())
        .set("ngram", ngram.to_json());
    return out.dump() + "\n";
  }

  void save(const std::string& path) const { seqlm::write_file_atomically(path, to_text()); }

  static GreetingsModel load(const std::string& path) {
    return seqlm::json::load_file(path, "greetings model", [](const seqlm::json::Value& in) {
      if (in.get_string("format") != "seqlm.greetings" || in.get_int64("version") != 1) {
        throw seqlm::value_error("not a version 1 seqlm.greetings model");
      }
      GreetingsModel model{seqlm::WhitespaceVocabulary::from_json(in.at("vocabulary")),
                           seqlm::NGramModel::from_json(in.at("ngram"))};
      if (model.ngram.vocabulary_size() != model.vocabulary.size()) {
        throw seqlm::value_error("the n-gram model and the vocabulary disagree on the vocabulary size");
      }
      return model;
    });
  }
};

std::vector<std::string> read_lines(const std::string& path) {
  examples::doing("reading --data");
  examples::check_data_file(path);
  std::ifstream in(path);
  if (!in) {
    throw seqlm::file_error("cannot read dataset \"" + path +
                            "\" (scripts/fetch-data.sh writes data/greetings/dataset.txt)");
  }
  std::vector<std::string> lines;
  std::string line;
  for (std::size_t number = 1; std::getline(in, line); ++number) {
    try {
      seqlm::utf8::validate(line);
    } catch (const seqlm::text_error& e) {
      throw seqlm::text_error("dataset \"" + path + "\" line " + std::to_string(number) + ": " + e.what());
    }
    if (!seqlm::WhitespaceVocabulary::split(line).empty()) lines.push_back(line);
  }
  if (lines.empty()) throw seqlm::file_error("dataset \"" + path + "\" has no lines");
  return lines;
}

std::string join(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : " ") + w;
  return out;
}

// The size of the file at `path`, or -1 when it does not exist.
off_t file_size(const std::string& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0 ? info.st_size : -1;
}

// Teaches `sentence`: appends it to the dataset file (unless data_path is empty) and saves the
// updated model to model_path, both or neither, so that a failed learn can simply be retried.
//   1. the new model is written to a temporary file beside the model file (nothing changes yet;
//      a model that cannot be written, e.g. in a read-only directory, fails here),
//   2. the sentence is appended to the dataset (a failure removes the temporary file),
//   3. the temporary file replaces the model file. If that rename fails the appended line is cut
//      off again (when no other learner appended after it).
// `model` is updated only when everything succeeded.
void learn_sentence(GreetingsModel& model, const std::string& sentence, const std::string& data_path,
                    const std::string& model_path) {
  try {
    seqlm::utf8::validate(sentence);
  } catch (const seqlm::text_error& e) {
    throw seqlm::text_error(std::string("the sentence to learn: ") + e.what());
  }
  if (seqlm::WhitespaceVocabulary::split(sentence).empty()) throw seqlm::value_error("nothing to learn");
  if (sentence.find_first_of("\r\n") != std::string::npos) {
    throw seqlm::value_error("the sentence to learn contains a line break");
  }
  GreetingsModel updated = model;
  updated.learn(sentence);
  const std::string unchanged = "; nothing was learned (the dataset and the model are unchanged)";

  std::optional<seqlm::PendingFile> pending;
  off_t size_before = -1;  // of the dataset; -1: it did not exist
  try {
    pending.emplace(seqlm::prepare_file_atomically(model_path, updated.to_text()));  // 1.
    if (!data_path.empty()) {
      size_before = file_size(data_path);
      seqlm::append_line(data_path, sentence);  // 2.
    }
  } catch (const seqlm::file_error& e) {
    throw seqlm::file_error(e.what() + unchanged);  // `pending` removes its temporary file
  }
  try {
    pending->commit();  // 3.
  } catch (const seqlm::file_error& e) {
    // Undo step 2, unless another learner has appended since.
    const off_t appended = static_cast<off_t>(sentence.size() + 1);
    const bool undone =
        data_path.empty() ||
        (file_size(data_path) == std::max<off_t>(size_before, 0) + appended &&
         (size_before < 0 ? ::unlink(data_path.c_str()) : ::truncate(data_path.c_str(), size_before)) == 0);
    if (undone) throw seqlm::file_error(e.what() + unchanged);
    throw seqlm::file_error(std::string(e.what()) + "; the sentence is now the last line of \"" + data_path +
                            "\" but the model has not learned it");
  }
  model = std::move(updated);
}

}  // namespace

int main(int argc, char** argv) try {
  examples::CommandLine cli("greetings", "an n-gram model that answers greetings and learns online");
  cli.subcommand("train", "count the n-grams of --data and save the model to --out");
  cli.subcommand("reply", "answer the message given as arguments (needs only --model)");
  cli.subcommand("chat", "answer lines from standard input; '/learn SENTENCE' teaches a sentence");
  cli.subcommand("learn", "append the sentence given as arguments to --data and to the model");
  cli.option("data", "data/greetings/dataset.txt", "UTF-8 text, one sentence per line");
  cli.option("out", "greetings.json", "where train saves the model");
  cli.option("model", "greetings.json", "the model file to answer with");
  cli.option("order", "2", "n of the n-gram model (2 = the tutorial's word bigrams)",
             examples::Range{2, seqlm::NGramModel::max_order});
  cli.option("temperature", "1", "sampling temperature; 0 = always the most frequent continuation");
  cli.option("max-words", "30", "longest reply", examples::Range{0, examples::max_generated});
  cli.option("seed", "0", "random seed of the sampler");
  cli.positional_arguments("[MESSAGE...]");
  cli.parse(argc, argv);

  seqlm::GenerationOptions options;
  options.temperature = cli.real("temperature");
  if (!(options.temperature >= 0) || !std::isfinite(options.temperature)) {
    // Checked here: a reply to an unknown word never samples, so the n-gram model would not see it.
    throw seqlm::value_error("--temperature must be a finite number >= 0, got " + cli.text("temperature"));
  }
  options.max_tokens = cli.integer("max-words");
  seqlm::Rng rng(static_cast<std::uint64_t>(cli.integer("seed")));

  if ((cli.command() == "reply" || cli.command() == "learn") && cli.positional().empty()) {
    throw seqlm::value_error(cli.command() + " needs the " +
                             (cli.command() == "reply" ? "message" : "sentence") +
                             " as arguments, e.g. greetings " + cli.command() + " Olá!");
  }
  if (cli.command() == "train") {
    examples::check_output_file(cli, "out");
    GreetingsModel model{seqlm::WhitespaceVocabulary(), GreetingsModel::empty_ngram(cli.integer("order"))};
    const std::vector<std::string> lines = read_lines(cli.text("data"));
    for (const std::string& line : lines) model.learn(line);
    std::cout << "NGramModel(order " << model.ngram.order() << "): " << lines.size() << " lines, "
              << model.vocabulary.word_count() << " distinct words\n";
    model.save(cli.text("out"));
    std::cout << "saved " << cli.text("out") << "\n";
    return 0;
  }

  examples::check_data_file(cli.text("model"), "model");
  GreetingsModel model = GreetingsModel::load(cli.text("model"));
  if (cli.command() == "reply") {
    std::cout << model.reply(join(cli.positional()), options, rng) << "\n";
  } else if (cli.command() == "learn") {
    learn_sentence(model, join(cli.positional()), cli.text("data"), cli.text("model"));
    std::cout << "learned; the model now knows " << model.vocabulary.word_count() << " words\n";
  } else {  // chat
    std::string line;
    while (std::cout << "> " << std::flush, std::getline(std::cin, line)) {
      if (line.rfind("/learn ", 0) == 0) {
        learn_sentence(model, line.substr(7), cli.text("data"), cli.text("model"));
        std::cout << "(learned)\n";
      } else if (!seqlm::WhitespaceVocabulary::split(line).empty()) {
        std::cout << model.reply(line, options, rng) << "\n";
      }
    }
    std::cout << "\n";
  }
  return 0;
} catch (...) {
  return examples::report_error("greetings");
}
