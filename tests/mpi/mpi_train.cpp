// A tiny training run over MPI ranks (or, with --single, in one process without MPI) for the
// tests in tests/mpi/CMakeLists.txt: it writes the final weights and the history's losses as
// raw bytes, so that two runs can be compared byte for byte.
//
//   mpi_train --single --threads 6 --out reference.bin
//   mpirun -np 2 mpi_train --threads 3 --out two.bin              # == reference.bin
//   mpirun -np 2 mpi_train --threads 3 --checkpoint-every 5 --checkpoint 'run-{step}.ckpt' --out a.bin
//   mpirun -np 3 mpi_train --threads 2 --resume run-5.ckpt --out b.bin  # == reference.bin
//   mpirun -np 2 mpi_train --fail-rank 1 --fail-step 4 --fail exit|hang --timeout 5
//   mpi_train --single --threads 2 --token-file corpus.tok --out a.bin   # writes corpus.tok
//   mpirun -np 2 mpi_train --threads 1 --token-file corpus.tok --out b.bin  # reads it: == a.bin
//
// The data is made here: a deterministic token sequence cut into windows, validation_split 0.2.
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <seqlm/data/token_file.hpp>
#include <seqlm/data/windows.hpp>
#include <seqlm/distributed/mpi.hpp>
#include <seqlm/model/sequential.hpp>
#include <seqlm/optim/adam.hpp>
#include <seqlm/train/checkpoint.hpp>
#include <seqlm/train/fit.hpp>
#include <string>
#include <thread>
#include <vector>

using namespace seqlm;

namespace {

struct Arguments {
  bool single = false;
  Index threads = 1, epochs = 2, batch_size = 13, checkpoint_every = 0, fail_rank = -1, fail_step = -1;
  double timeout = 60.0;
  std::string out, checkpoint, resume, fail, token_file;
};

Arguments parse(int argc, char** argv) {
  Arguments a;
  for (int k = 1; k < argc; ++k) {
    const std::string name = argv[k];
    if (name == "--single") {
      a.single = true;
      continue;
    }
    if (k + 1 >= argc) throw value_error("mpi_train: " + name + " needs a value");
    const std::string value = argv[++k];
    if (name == "--threads")
      a.threads = std::stol(value);
    else if (name == "--epochs")
      a.epochs = std::stol(value);
    else if (name == "--batch-size")
      a.batch_size = std::stol(value);
    else if (name == "--checkpoint-every")
      a.checkpoint_every = std::stol(value);
    else if (name == "--checkpoint")
      a.checkpoint = value;
    else if (name == "--resume")
      a.resume = value;
    else if (name == "--out")
      a.out = value;
    else if (name == "--timeout")
      a.timeout = std::stod(value);
    else if (name == "--fail-rank")
      a.fail_rank = std::stol(value);
    else if (name == "--fail-step")
      a.fail_step = std::stol(value);
    else if (name == "--fail")
      a.fail = value;
    else if (name == "--token-file")
      a.token_file = value;
    else
      throw value_error("mpi_train: unknown option " + name);
  }
  return a;
}

TokenStream made_up_text(Index length) {
  auto tokens = std::make_shared<std::vector<TokenId>>();
  for (Index k = 0; k < length; ++k) tokens->push_back(static_cast<TokenId>((k * k + k / 3) % 7));
  return TokenStream(std::make_shared<VectorTokenSource>(tokens));
}

// ids -> Embedding(8) -> Dropout(0.2) -> LSTM(16) -> Dense(7).
Sequential<float> tiny_model() {
  Sequential<float> model(InputSpec::token_ids(7));
  model.add(layers::embedding<float>(7, 8));
  model.add(layers::dropout<float>(0.2));
  model.add(layers::lstm<float>(8, 16));
  model.add(layers::dense<float>(16, 7));
  Rng rng(3);
  model.initialize(rng);
  return model;
}

void write_result(const std::string& path, Sequential<float>& model, const History& history) {
  std::ofstream out(path, std::ios::binary);
  for (const auto& p : model.parameters()) {
    out.write(reinterpret_cast<const char*>(p.value->data()),
              static_cast<std::streamsize>(sizeof(float) * static_cast<size_t>(p.value->size())));
  }
  for (const char* metric : {"loss", "accuracy", "val_loss", "val_accuracy"}) {
    const double value = history.last(metric);
    out.write(reinterpret_cast<const char*>(&value), sizeof value);
  }
  if (!out) throw file_error("mpi_train: cannot write " + path);
}

int run(const Arguments& a, ProcessGroup* group) {
  const bool root = group == nullptr || group->rank() == 0;
  // --token-file: the same text read from a token file, window by window (each rank reads only
  // the windows of its share); --single writes the file first.
  if (!a.token_file.empty() && a.single) write_token_file(a.token_file, made_up_text(900).to_vector());
  const TokenStream text = a.token_file.empty() ? made_up_text(900) : open_token_file(a.token_file, 7);
  const WindowDataset data(text, 10, 3, WindowTargets::next_token_after_window);

  std::optional<LoadedCheckpoint<float>> saved;
  std::unique_ptr<Optimizer<float>> optimizer;
  Sequential<float> fresh = tiny_model();
  Sequential<float>* model = &fresh;
  TrainingState* state = nullptr;
  if (!a.resume.empty()) {
    saved.emplace(load_checkpoint<float>(a.resume));
    optimizer = restore_optimizer<float>(saved->optimizer);
    model = &saved->model.model;
    state = &saved->state;
  } else {
    AdamOptions adam;
    adam.learning_rate = 0.01;
    optimizer = std::make_unique<Adam<float>>(adam);
  }

  FitOptions<float> options;
  options.epochs = a.epochs;
  options.batch_size = a.batch_size;
  options.threads = a.threads;
  options.seed = 9;
  options.validation_split = 0.2;
  options.verbosity = Verbosity::lines;
  options.process_group = group;

  // --fail: the test's dead or stuck rank, after `fail_step` batches.
  LambdaCallback<float> failure;
  failure.batch_end = [&](Index, const Logs&, TrainingContext<float>& context) {
    if (group == nullptr || group->rank() != a.fail_rank || context.state->global_step != a.fail_step) return;
    if (a.fail == "exit") _exit(3);
    std::cerr << "mpi_train: rank " << a.fail_rank << " hangs now\n";
    for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
  };
  // --checkpoint-every N: the same callback on every rank; rank 0 alone writes the file.
  CheckpointOptions every;
  every.every_batches = a.checkpoint_every;
  every.save_best_only = false;
  ModelCheckpoint<float> checkpoint(checkpoint_writer<float>(a.checkpoint.empty() ? "unused" : a.checkpoint),
                                    every);
  options.callbacks = {&failure};
  if (a.checkpoint_every > 0) options.callbacks.push_back(&checkpoint);

  const History history =
      fit(*model, *optimizer, data, options, static_cast<const WindowDataset*>(nullptr), state);
  if (root && !a.out.empty()) write_result(a.out, *model, history);
  return 0;
}

}  // namespace

int main(int argc, char** argv) try {
  const Arguments a = parse(argc, argv);
  if (a.single) return run(a, nullptr);
  mpi::Environment environment(argc, argv);
  mpi::Options options;
  options.timeout_seconds = a.timeout;
  mpi::Communicator ranks(options);
  return run(a, &ranks);
} catch (const std::exception& e) {
  std::cerr << "mpi_train: " << e.what() << "\n";
  return 1;
}
