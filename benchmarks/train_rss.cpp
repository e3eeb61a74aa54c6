// Peak memory of training the Nietzsche model: trains the tutorial's LSTM(128) -> Dense(57)
// (windows of 60 every 3 characters, batch 128, RMSprop 0.01) with fit() for --batches batches
// and prints the process's peak resident set size at four points: at start, after reading the
// text, with the model and data set built, and after training.
//
// The peak is VmHWM from /proc/self/status (the high-water mark of this program's memory). The
// final getrusage ru_maxrss is printed too, but on Linux it survives execve: a program started
// by a large process (a Python interpreter holding torch, say) reports that process's peak
// when it is larger.
//
//   seqlm_train_rss                          # the mirror's nietzsche.txt, else synthetic text
//   seqlm_train_rss --batches 200 --threads 2 --data data/nietzsche/nietzsche.txt
//   seqlm_train_rss --synthetic --json       # 600,893 random ids of 57; one JSON object
//
// Synthetic text has the tutorial's size (600,893 characters, 57 distinct), so the data set
// occupies what the real one does.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <seqlm/data/token_source.hpp>
#include <seqlm/data/windows.hpp>
#include <seqlm/io/json.hpp>
#include <seqlm/optim/rmsprop.hpp>
#include <seqlm/text/char_tokenizer.hpp>
#include <seqlm/train/callbacks.hpp>
#include <seqlm/train/fit.hpp>
#include <string>
#include <vector>

#include "tutorial_models.hpp"

namespace {

using seqlm::Index;
using seqlm::TokenId;

// getrusage's peak resident set size, in MiB (Linux reports ru_maxrss in KiB).
double ru_maxrss_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;
}

// The peak resident set size of this program so far, in MiB: VmHWM ("VmHWM:  1234 kB") from
// /proc/self/status, or ru_maxrss where that file does not exist.
double peak_rss_mib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::strtod(line.c_str() + 6, nullptr) / 1024.0;
  }
  return ru_maxrss_mib();
}

struct Arguments {
  Index batches = 100;
  Index threads = 1;
  std::string data;  // empty: the mirror's nietzsche.txt when present
  bool synthetic = false;
  bool json = false;
};

Index positive_integer(const std::string& option, const char* text) {
  char* end = nullptr;
  const long long value = std::strtoll(text, &end, 10);
  if (end == text || *end != '\0' || value <= 0) {
    throw seqlm::value_error(option + " needs a positive integer, got \"" + text + "\"");
  }
  return static_cast<Index>(value);
}

Arguments parse_arguments(int argc, char** argv) {
  Arguments arguments;
  for (int k = 1; k < argc; ++k) {
    const std::string option = argv[k];
    const bool has_value = k + 1 < argc;
    if (option == "--batches" && has_value) {
      arguments.batches = positive_integer(option, argv[++k]);
    } else if (option == "--threads" && has_value) {
      arguments.threads = positive_integer(option, argv[++k]);
    } else if (option == "--data" && has_value) {
      arguments.data = argv[++k];
    } else if (option == "--synthetic") {
      arguments.synthetic = true;
    } else if (option == "--json") {
      arguments.json = true;
    } else {
      throw seqlm::value_error("unknown or incomplete option \"" + option +
                               "\" (options: --batches N, --threads N, --data FILE, --synthetic, --json)");
    }
  }
  return arguments;
}

// The text as ids: nietzsche.txt lower-cased, ids of its sorted character set (as the example
// reads it), or 600,893 uniform random ids of 57.
std::vector<TokenId> read_ids(const Arguments& arguments, std::string& source) {
  const std::string path =
      arguments.data.empty() ? seqlm::bench::data_file("nietzsche/nietzsche.txt") : arguments.data;
  if (arguments.synthetic || (arguments.data.empty() && !seqlm::bench::file_exists(path))) {
    source = arguments.synthetic ? "synthetic (requested)" : "synthetic (" + path + " absent)";
    seqlm::Rng rng(7);
    std::vector<TokenId> ids(600'893);
    for (TokenId& id : ids) id = static_cast<TokenId>(rng.below(57));
    return ids;
  }
  source = path;
  const std::string text = seqlm::read_text_file(path);
  seqlm::CharTokenizerOptions options;
  options.order = seqlm::VocabularyOrder::sorted;
  options.lower = seqlm::LowerCase::unicode;
  const seqlm::CharTokenizer tokenizer = seqlm::CharTokenizer::build(text, options);
  return tokenizer.encode(text);
}

}  // namespace

int main(int argc, char** argv) try {
  const Arguments arguments = parse_arguments(argc, argv);
  const double rss_start = peak_rss_mib();

  std::string source;
  std::vector<TokenId> ids = read_ids(arguments, source);
  const Index characters = static_cast<Index>(ids.size());
  Index vocabulary = 0;
  for (const TokenId id : ids) vocabulary = std::max<Index>(vocabulary, id + 1);
  const double rss_text = peak_rss_mib();

  const seqlm::WindowDataset windows(seqlm::TokenStream(std::move(ids)), 60, 3,
                                     seqlm::WindowTargets::next_token_after_window);
  seqlm::bench::Model model = seqlm::bench::build_nietzsche(vocabulary);
  seqlm::Rng init_rng(0);
  model.initialize(init_rng);
  seqlm::RmspropOptions rmsprop;
  rmsprop.learning_rate = 0.01;
  seqlm::RMSprop<float> optimizer(rmsprop);
  const double rss_model = peak_rss_mib();

  seqlm::FitOptions<float> options;
  options.epochs = 1;
  options.batch_size = 128;
  options.threads = arguments.threads;
  options.verbosity = seqlm::Verbosity::silent;
  seqlm::LambdaCallback<float> limit;  // end the epoch after --batches batches
  const Index batches = arguments.batches;
  limit.batch_end = [batches](Index, const seqlm::Logs&, seqlm::TrainingContext<float>& context) {
    if (context.state->global_step >= batches) context.stop_training = true;
  };
  options.callbacks = {&limit};
  const auto start = std::chrono::steady_clock::now();
  const seqlm::History history = seqlm::fit(model, optimizer, windows, options);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double rss_trained = peak_rss_mib();
  const Index batches_run = std::min<Index>(batches, (windows.size() + 127) / 128);

  if (arguments.json) {
    const seqlm::json::Value report = seqlm::json::Value::object()
                                          .set("source", source)
                                          .set("characters", characters)
                                          .set("vocabulary", vocabulary)
                                          .set("windows", windows.size())
                                          .set("batches", batches_run)
                                          .set("threads", arguments.threads)
                                          .set("seconds", seconds)
                                          .set("loss", history.last("loss"))
                                          .set("peak_rss_mib_start", rss_start)
                                          .set("peak_rss_mib_text", rss_text)
                                          .set("peak_rss_mib_model", rss_model)
                                          .set("peak_rss_mib", rss_trained)
                                          .set("ru_maxrss_mib", ru_maxrss_mib());
    std::cout << report.dump() << "\n";
  } else {
    std::cout << "text: " << source << ", " << characters << " characters, " << vocabulary << " distinct, "
              << windows.size() << " windows\n"
              << "trained " << batches_run << " batches of 128 on " << arguments.threads << " thread(s) in "
              << seconds << " s, loss " << history.last("loss") << "\n"
              << "peak RSS (VmHWM): " << rss_start << " MiB at start, " << rss_text
              << " MiB after reading the text, " << rss_model << " MiB with the model and data set, "
              << rss_trained << " MiB after training (getrusage ru_maxrss: " << ru_maxrss_mib() << " MiB)\n";
  }
  return 0;
} catch (const std::exception& e) {
  std::cerr << "seqlm_train_rss: " << e.what() << "\n";
  return 1;
}
