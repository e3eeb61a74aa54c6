// The training set-up the four neural examples share: fit options from the command line,
// the model's seeded initialisation, the --max-batches stop and the --log-csv and
// --log-batches loggers.
//
//   examples::TrainingSetup setup(cli, seed);   // --epochs, --batch-size, --threads, --max-batches,
//                                               // --log-csv, --log-batches
//   setup.initialize(model, window);            // initialize(seed) and print the summary
//   setup.use_callbacks({&checkpoint});         // --max-batches stop first, the loggers last
//   seqlm::fit(model, optimizer, data, setup.options);
#pragma once

#include <cstdint>
#include <iostream>
#include <optional>
#include <seqlm/io/atomic_file.hpp>
#include <seqlm/train/callbacks.hpp>
#include <seqlm/train/fit.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli.hpp"

namespace examples {

// --log-batches FILE: one row per batch, "step,epoch,batch,batch_loss,loss,lr" (step counts
// batches from 1 over the whole run; loss is the epoch's running mean, as the progress line
// shows it). The whole file is rewritten atomically at the end of every epoch and of the run,
// so it is always a complete CSV (a run killed mid-epoch keeps the epochs before).
class BatchLossLog final : public seqlm::Callback<float> {
 public:
  explicit BatchLossLog(std::string path) : path_(std::move(path)) {}

  void on_batch_end(seqlm::Index batch, const seqlm::Logs& logs,
                    seqlm::TrainingContext<float>& context) override {
    rows_ << context.state->global_step << ',' << context.state->epoch + 1 << ',' << batch + 1 << ','
          << logs.at("batch_loss") << ',' << logs.at("loss") << ',' << logs.at("lr") << '\n';
  }
  // Only where the context writes files (rank 0 of a --distributed run).
  void on_epoch_end(seqlm::Index, const seqlm::Logs&, seqlm::TrainingContext<float>& context) override {
    if (context.writes_files) write();
  }
  void on_train_end(const seqlm::Logs&, seqlm::TrainingContext<float>& context) override {
    if (context.writes_files) write();
  }

 private:
  void write() const {
    seqlm::write_file_atomically(path_, "step,epoch,batch,batch_loss,loss,lr\n" + rows_.str());
  }

  std::string path_;
  std::ostringstream rows_;
};

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
    if (cli.has("log-batches")) batch_log_.emplace(cli.text("log-batches"));
  }
  TrainingSetup(const TrainingSetup&) = delete;
  TrainingSetup& operator=(const TrainingSetup&) = delete;

  // Keras's initialisers from the run's seed, then the model's summary for sequences of `length`.
  template <class Model>
  void initialize(Model& model, seqlm::Index length) const {
    model.initialize(seed_);
    std::cout << model.summary(length);
  }

  // options.callbacks = the --max-batches stop, then `callbacks` in order, then the loggers.
  void use_callbacks(const std::vector<seqlm::Callback<float>*>& callbacks) {
    options.callbacks = {&batch_limit_};
    options.callbacks.insert(options.callbacks.end(), callbacks.begin(), callbacks.end());
    if (csv_) options.callbacks.push_back(&*csv_);
    if (batch_log_) options.callbacks.push_back(&*batch_log_);
  }

  seqlm::FitOptions<float> options;

 private:
  std::uint64_t seed_;
  seqlm::LambdaCallback<float> batch_limit_;
  std::optional<seqlm::CsvLogger<float>> csv_;
  std::optional<BatchLossLog> batch_log_;
};

}  // namespace examples
