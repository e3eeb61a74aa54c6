// seqlm_mpi_step_time: one training step of a tutorial model over MPI ranks (seqlm::mpi):
// the step time, the time inside the gradient exchange, the bytes exchanged per step, and the
// exchange alone (ranks in step, no compute) for the same bytes. docs/distributed.md builds its
// scaling model from these numbers.
//
//   mpirun -np 1 --bind-to core seqlm_mpi_step_time --model nietzsche --steps 40 > one.json
//   mpirun -np 2 --bind-to core seqlm_mpi_step_time --model nietzsche --steps 40 > two.json
//
// Models (tutorial_models.hpp; RMSprop, batches of 128 windows of 60 characters, the loss
// after the window): nietzsche LSTM(128) -> Dense(57), 102,585 parameters; poems GRU(128) ->
// GRU(128) -> Dense(60); --units U changes the width (U = 460: about 10x the Nietzsche
// parameters), --batch the batch (64 on one rank: what each of 2 ranks computes). The data are
// random ids of the tutorial's shape. One worker thread per rank.
// Rank 0 prints one JSON object.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <seqlm/data/windows.hpp>
#include <seqlm/distributed/mpi.hpp>
#include <seqlm/optim/rmsprop.hpp>
#include <seqlm/train/fit.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "tutorial_models.hpp"

using namespace seqlm;

namespace {

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string one, five, fifteen;
  in >> one >> five >> fifteen;
  return one + " " + five + " " + fifteen;
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values.empty() ? 0.0 : values[values.size() / 2];
}

}  // namespace

int main(int argc, char** argv) try {
  mpi::Environment environment(argc, argv);
  mpi::Communicator ranks;
  std::string which = "nietzsche";
  Index steps = 40, warmup = 5, units = 128, batch = 128;
  for (int k = 1; k + 1 < argc; k += 2) {
    const std::string name = argv[k], value = argv[k + 1];
    if (name == "--model") {
      which = value;
    } else if (name == "--steps" || name == "--warmup" || name == "--units" || name == "--batch") {
      (name == "--steps"    ? steps
       : name == "--warmup" ? warmup
       : name == "--units"  ? units
                            : batch) = std::stol(value);
    } else {
      throw value_error("seqlm_mpi_step_time: unknown option " + name);
    }
  }
  const bool poems = which == "poems";
  if (!poems && which != "nietzsche") throw value_error("--model must be nietzsche or poems");
  const Index vocabulary = poems ? 60 : 57, window = 60;
  const std::string load_before = load_average();

  Sequential<float> model =
      poems ? bench::build_poems(vocabulary, units) : bench::build_nietzsche(vocabulary, units);
  Rng init(1);
  model.initialize(init);
  Index parameters = 0;
  for (const auto& p : model.parameters()) parameters += p.value->size();

  // Random ids, (warmup + steps) batches of 128 windows of 60 (step 1 between windows).
  auto ids = std::make_shared<std::vector<TokenId>>();
  Rng rng(2);
  for (Index k = 0; k < (warmup + steps) * batch + window; ++k)
    ids->push_back(static_cast<TokenId>(rng.below(vocabulary)));
  const WindowDataset data(TokenStream(std::make_shared<VectorTokenSource>(ids)), window, 1,
                           WindowTargets::next_token_after_window);

  RmspropOptions rmsprop;
  rmsprop.learning_rate = poems ? 0.001 : 0.01;
  RMSprop<float> optimizer(rmsprop);
  FitOptions<float> options;
  options.epochs = 1;
  options.batch_size = batch;
  options.threads = 1;
  options.verbosity = Verbosity::silent;
  options.process_group = &ranks;

  std::vector<double> step_seconds;
  auto last = std::chrono::steady_clock::now();
  LambdaCallback<float> timer;
  timer.batch_end = [&](Index k, const Logs&, TrainingContext<float>&) {
    const auto now = std::chrono::steady_clock::now();
    if (k >= warmup) step_seconds.push_back(std::chrono::duration<double>(now - last).count());
    if (k + 1 == warmup) ranks.reset_statistics();
    last = now;
  };
  options.callbacks = {&timer};
  fit(model, optimizer, data, options);
  const mpi::Statistics during = ranks.statistics();

  // The exchange alone: the same bytes as a step's gradient exchange, ranks in step (a
  // barrier-like empty exchange first), so no waiting for a slower rank is counted.
  const size_t block = 8 * sizeof(double) + static_cast<size_t>(parameters) * sizeof(float);
  std::vector<unsigned char> buffer(block * static_cast<size_t>(ranks.size()));
  const std::vector<size_t> offsets = detail::equal_offsets(ranks.size(), block);
  std::vector<unsigned char> empty(0);
  const std::vector<size_t> none(static_cast<size_t>(ranks.size()) + 1, 0);
  std::vector<double> exchange_seconds;
  for (int k = 0; k < 25; ++k) {
    ranks.allgather(empty, none, "a barrier");
    const auto start = std::chrono::steady_clock::now();
    ranks.allgather(buffer, offsets, "a gradient-sized exchange");
    exchange_seconds.push_back(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }

  // Every rank's numbers to rank 0 (one more allgather): step median and the time in exchanges.
  std::vector<unsigned char> all(3 * sizeof(double) * static_cast<size_t>(ranks.size()));
  const double mine[3] = {median(step_seconds),
                          during.seconds / static_cast<double>(std::max<long long>(1, during.exchanges)),
                          median(exchange_seconds)};
  std::memcpy(all.data() + sizeof mine * static_cast<size_t>(ranks.rank()), mine, sizeof mine);
  ranks.allgather(all, detail::equal_offsets(ranks.size(), sizeof mine), "the results");
  if (ranks.rank() == 0) {
    std::ostringstream per_rank;
    for (Index p = 0; p < ranks.size(); ++p) {
      double values[3];
      std::memcpy(values, all.data() + sizeof values * static_cast<size_t>(p), sizeof values);
      per_rank << (p ? ", " : "") << "{\"rank\": " << p << ", \"step_seconds_median\": " << values[0]
               << ", \"exchange_seconds_per_step\": " << values[1]
               << ", \"exchange_only_seconds_median\": " << values[2] << "}";
    }
    const double exchanges = static_cast<double>(std::max<long long>(1, during.exchanges));
    std::cout << "{\"model\": \"" << which << "\", \"units\": " << units << ", \"parameters\": " << parameters
              << ", \"gradient_bytes\": " << parameters * 4 << ", \"ranks\": " << ranks.size()
              << ", \"threads_per_rank\": 1, \"batch\": " << batch << ", \"window\": " << window
              << ", \"steps_timed\": " << step_seconds.size()
              << ", \"step_seconds_median\": " << median(step_seconds) << ", \"exchanges_per_step\": "
              << during.exchanges / std::max<Index>(1, static_cast<Index>(step_seconds.size()))
              << ", \"bytes_sent_per_step\": " << during.bytes_sent / exchanges
              << ", \"bytes_received_per_step\": " << during.bytes_received / exchanges
              << ", \"exchange_seconds_per_step\": " << during.seconds / exchanges
              << ", \"exchange_only_seconds_median\": " << median(exchange_seconds) << ", \"per_rank\": ["
              << per_rank.str() << "]"
              << ", \"loadavg_before\": \"" << load_before << "\", \"loadavg_after\": \"" << load_average()
              << "\"}\n";
  }
  return 0;
} catch (const std::exception& e) {
  std::cerr << "seqlm_mpi_step_time: " << e.what() << "\n";
  return 1;
}
