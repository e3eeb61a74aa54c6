// The training set-up the four neural examples share: fit options from the command line,
// the model's seeded initialisation, the --max-batches stop and the --log-csv logger.
//
//   examples::TrainingSetup setup(cli, seed);   // --epochs, --batch-size, --threads, --max-batches,
//   --log-csv setup.initialize(model, window);            // initialize(seed) and print the summary
//   setup.use_callbacks({&checkpoint});         // --max-batches stop first, the CSV logger last
//   seqlm::fit(model, optimizer, data, setup.options);
#pragma once

#include <cstdint>
#include <iostream>
#include <optional>
#include <seqlm/train/callbacks.hpp>
#include <seqlm/train/fit.hpp>
#include <vector>

#include "cli.hpp"

namespace examples {

class TrainingSetup {
 public:
  // Reads --epochs, --batch-size, --threads and --max-batches; --log-csv when given.
  TrainingSetup(const CommandLine& cli, std::uint64_t seed) : seed_(seed) {
    options.epochs = static_cast<seqlm::Index>(cli.integer("epochs"));
    options.batch_size = cli.positive("batch-size");
    options.threads = cli.positive("threads");
    options.seed = seed;
    const seqlm::Index max_batches = static_cast<seqlm::Index>(cli.integer("max-batches"));
    // --max-batches: end the run after that many batches (the epoch still finishes normally).
    batch_limit_.batch_end = [max_batches](seqlm::Index, const seqlm::Logs&,
                                           seqlm::TrainingContext<float>& context) {
      if (max_batches > 0 && context.state->global_step >= max_batches) context.stop_training = true;
    };
    if (cli.has("log-csv")) csv_.emplace(cli.text("log-csv"));  // one row of metrics per epoch
  }
  TrainingSetup(const TrainingSetup&) = delete;
  TrainingSetup& operator=(const TrainingSetup&) = delete;

  // Keras's initialisers from the run's seed, then the model's summary for sequences of `length`.
  template <class Model>
  void initialize(Model& model, seqlm::Index length) const {
    model.initialize(seed_);
    std::cout << model.summary(length);
  }

  // options.callbacks = the --max-batches stop, then `callbacks` in order, then the CSV logger.
  void use_callbacks(const std::vector<seqlm::Callback<float>*>& callbacks) {
    options.callbacks = {&batch_limit_};
    options.callbacks.insert(options.callbacks.end(), callbacks.begin(), callbacks.end());
    if (csv_) options.callbacks.push_back(&*csv_);
  }

  seqlm::FitOptions<float> options;

 private:
  std::uint64_t seed_;
  seqlm::LambdaCallback<float> batch_limit_;
  std::optional<seqlm::CsvLogger<float>> csv_;
};

}  // namespace examples
