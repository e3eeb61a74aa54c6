// The headline tutorial's "at equal final loss" check: trains the headline model for --epochs
// epochs both ways -- the tutorial's pre-padded prefix examples, and prefix sharing (one masked
// sequence per headline, a loss at every position) -- and prints, per epoch, the time and the
// loss of the model over all (context, next word) pairs of the data, measured the same way for
// both: inference (no dropout), the mean cross-entropy over the 8,057 pairs.
//
//   seqlm_headline_loss --epochs 20 [--threads 1] [--sharing-batch-size 32] [--data ArticlesMarch2018.csv]
//   [--json]
//
// The tutorial trains on batches of 32 prefix examples (252 optimizer steps per epoch); prefix
// sharing puts every prefix of a headline in one sequence, so batches of 32 headlines give only
// 40 steps per epoch. --sharing-batch-size 5 gives prefix sharing as many steps as the tutorial
// (250), which is how it reaches the tutorial's loss in as many epochs.
//
// Every pair (the words t[0..k-1] of a headline, the next word t[k]) is one prefix example and
// one position of the headline's sequence, so the two evaluations average the same terms
// (prefix examples see leading padding, prefix sharing does not).
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <seqlm/io/json.hpp>
#include <seqlm/train/fit.hpp>
#include <string>

#include "tutorial_models.hpp"

namespace {

using seqlm::Index;

struct Arguments {
  Index epochs = 10;
  Index threads = 1;
  Index sharing_batch_size = 32;
  std::string data;
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
    if (option == "--epochs" && has_value) {
      arguments.epochs = positive_integer(option, argv[++k]);
    } else if (option == "--threads" && has_value) {
      arguments.threads = positive_integer(option, argv[++k]);
    } else if (option == "--sharing-batch-size" && has_value) {
      arguments.sharing_batch_size = positive_integer(option, argv[++k]);
    } else if (option == "--data" && has_value) {
      arguments.data = argv[++k];
    } else if (option == "--json") {
      arguments.json = true;
    } else {
      throw seqlm::value_error(
          "unknown or incomplete option \"" + option +
          "\" (options: --epochs N, --threads N, --sharing-batch-size N, --data FILE, --json)");
    }
  }
  return arguments;
}

// Trains one way for `epochs` epochs (Adam, batch 32 or --sharing-batch-size, seed 0) and returns, per epoch,
// the seconds of training and the inference loss over every pair.
template <class TrainSet, class EvalSet>
seqlm::json::Value train(const TrainSet& train_set, const EvalSet& eval_set, Index vocabulary,
                         bool prefix_sharing, const Arguments& arguments) {
  seqlm::bench::Model model = seqlm::bench::build_headlines(vocabulary, prefix_sharing);
  seqlm::Rng init_rng(0);
  model.initialize(init_rng);
  seqlm::Adam<float> optimizer(seqlm::AdamOptions{});
  seqlm::FitOptions<float> options;
  options.batch_size = prefix_sharing ? arguments.sharing_batch_size : 32;
  options.threads = arguments.threads;
  options.verbosity = seqlm::Verbosity::silent;
  seqlm::TrainingState state;  // fit continues from it: epoch k+1 after epoch k
  seqlm::json::Value epochs = seqlm::json::Value::array();
  double total_seconds = 0.0;
  for (Index epoch = 1; epoch <= arguments.epochs; ++epoch) {
    options.epochs = epoch;
    const auto start = std::chrono::steady_clock::now();
    seqlm::fit(model, optimizer, train_set, options, static_cast<const seqlm::NoValidation*>(nullptr),
               &state);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    total_seconds += seconds;
    const seqlm::EvaluationResult evaluation = seqlm::evaluate(model, eval_set, 256);
    epochs.push_back(seqlm::json::Value::object()
                         .set("epoch", epoch)
                         .set("seconds", seconds)
                         .set("train_loss", state.history.last("loss"))
                         .set("loss", evaluation.loss));
  }
  return seqlm::json::Value::object()
      .set("mode", prefix_sharing ? "prefix_sharing" : "tutorial")
      .set("examples", train_set.size())
      .set("batch_size", options.batch_size)
      .set("total_seconds", total_seconds)
      .set("epochs", epochs);
}

}  // namespace

int main(int argc, char** argv) try {
  const Arguments arguments = parse_arguments(argc, argv);
  const std::string path = arguments.data.empty() ? seqlm::bench::headlines_csv() : arguments.data;
  const seqlm::bench::HeadlineData data = seqlm::bench::read_headline_data(path);
  const seqlm::PrefixSequences prefixes(data.corpus);
  const seqlm::LineSequences lines(data.corpus);

  const seqlm::json::Value tutorial = train(prefixes, prefixes, data.vocabulary, false, arguments);
  const seqlm::json::Value sharing = train(lines, lines, data.vocabulary, true, arguments);
  if (arguments.json) {
    std::cout << seqlm::json::Value::object()
                     .set("data", path)
                     .set("threads", arguments.threads)
                     .set("sharing_batch_size", arguments.sharing_batch_size)
                     .set("pairs", prefixes.size())
                     .set("runs", seqlm::json::Value(seqlm::json::Value::Array{tutorial, sharing}))
                     .dump()
              << "\n";
    return 0;
  }
  std::cout << path << ": " << data.headlines << " headlines, " << prefixes.size()
            << " (context, next word) pairs, " << arguments.threads << " thread(s)\n";
  for (const seqlm::json::Value* run : {&tutorial, &sharing}) {
    std::cout << run->at("mode").as_string() << " (" << run->at("examples").as_int64()
              << " examples per epoch, batches of " << run->at("batch_size").as_int64() << "):\n";
    const seqlm::json::Value& epochs = run->at("epochs");
    for (size_t k = 0; k < epochs.size(); ++k) {
      const seqlm::json::Value& epoch = epochs.at(k);
      std::cout << "  epoch " << epoch.at("epoch").as_int64() << ": " << epoch.at("seconds").as_double()
                << " s, training loss " << epoch.at("train_loss").as_double() << ", loss over all pairs "
                << epoch.at("loss").as_double() << "\n";
    }
    std::cout << "  total " << run->at("total_seconds").as_double() << " s\n";
  }
  return 0;
} catch (const std::exception& e) {
  std::cerr << "seqlm_headline_loss: " << e.what() << "\n";
  return 1;
}
