// Data-parallel training over a ProcessGroup without MPI: the "processes" are threads of this
// test sharing memory, so the ordered gradient sum, the share of each batch every process
// fills, the parallel validation and the consistency checks run under the sanitizers too.
// (tests/mpi/ runs the same over real MPI ranks.)
#include <doctest/doctest.h>

#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <exception>
#include <fstream>
#include <memory>
#include <mutex>
#include <seqlm/data/line_sequences.hpp>
#include <seqlm/data/windows.hpp>
#include <seqlm/model/sequential.hpp>
#include <seqlm/optim/adam.hpp>
#include <seqlm/train/checkpoint.hpp>
#include <seqlm/train/fit.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

namespace process_group_tests {

using namespace seqlm;

namespace {

// The rendezvous of `size` threads: allgather() copies every thread's part into everyone's buffer.
class SharedMemory {
 public:
  explicit SharedMemory(Index size) : size_(size), parts_(static_cast<size_t>(size)) {}

  void allgather(Index rank, std::vector<unsigned char>& all, const std::vector<size_t>& offsets) {
    std::unique_lock<std::mutex> lock(mutex_);
    parts_[static_cast<size_t>(rank)] = std::vector<unsigned char>(
        all.begin() + static_cast<std::ptrdiff_t>(offsets[static_cast<size_t>(rank)]),
        all.begin() + static_cast<std::ptrdiff_t>(offsets[static_cast<size_t>(rank) + 1]));
    wait_for_all(lock);  // every part is in
    for (Index p = 0; p < size_; ++p) {
      const auto& part = parts_[static_cast<size_t>(p)];
      if (!part.empty()) std::memcpy(all.data() + offsets[static_cast<size_t>(p)], part.data(), part.size());
    }
    wait_for_all(lock);  // everyone has copied: the parts may be overwritten
  }

 private:
  void wait_for_all(std::unique_lock<std::mutex>& lock) {
    const Index generation = generation_;
    if (++arrived_ == size_) {
      arrived_ = 0;
      ++generation_;
      changed_.notify_all();
    } else {
      changed_.wait(lock, [&] { return generation_ != generation; });
    }
  }

  Index size_;
  std::vector<std::vector<unsigned char>> parts_;
  std::mutex mutex_;
  std::condition_variable changed_;
  Index arrived_ = 0, generation_ = 0;
};

class ThreadGroup final : public ProcessGroup {
 public:
  ThreadGroup(SharedMemory& memory, Index rank, Index size) : memory_(memory), rank_(rank), size_(size) {}
  Index rank() const override { return rank_; }
  Index size() const override { return size_; }
  void allgather(std::vector<unsigned char>& all, const std::vector<size_t>& offsets,
                 const std::string&) override {
    REQUIRE(offsets.size() == static_cast<size_t>(size_) + 1);
    REQUIRE(offsets.back() <= all.size());
    memory_.allgather(rank_, all, offsets);
  }

 private:
  SharedMemory& memory_;
  Index rank_, size_;
};

TokenStream counting_text(Index length) {
  auto tokens = std::make_shared<std::vector<TokenId>>();
  for (Index k = 0; k < length; ++k) tokens->push_back(static_cast<TokenId>((k * k + k / 3) % 5));
  return TokenStream(std::make_shared<VectorTokenSource>(tokens));
}

// ids -> Embedding(6) -> Dropout -> LSTM(7) -> Dense(5): dropout makes the per-worker
// generators matter. every_step: the LSTM returns sequences (a target at every step).
Sequential<float> tiny_model(bool every_step = false) {
  Sequential<float> model(InputSpec::token_ids(5));
  model.add(layers::embedding<float>(5, 6));
  model.add(layers::dropout<float>(0.25));
  LSTMOptions lstm;
  lstm.return_sequences = every_step;
  model.add(layers::lstm<float>(6, 7, lstm));
  model.add(layers::dense<float>(7, 5));
  Rng rng(11);
  model.initialize(rng);
  return model;
}

std::vector<Matrix<float>> weights_of(Sequential<float>& model) {
  std::vector<Matrix<float>> weights;
  for (const auto& p : model.parameters()) weights.push_back(*p.value);
  return weights;
}

bool identical(const std::vector<Matrix<float>>& a, const std::vector<Matrix<float>>& b) {
  if (a.size() != b.size()) return false;
  for (size_t k = 0; k < a.size(); ++k) {
    if (a[k].rows() != b[k].rows() || a[k].cols() != b[k].cols()) return false;
    if (std::memcmp(a[k].data(), b[k].data(), sizeof(float) * static_cast<size_t>(a[k].size())) != 0)
      return false;
  }
  return true;
}

FitOptions<float> options_for(Index threads, Index batch_size) {
  FitOptions<float> options;
  options.epochs = 2;
  options.batch_size = batch_size;
  options.threads = threads;
  options.seed = 5;
  options.verbosity = Verbosity::silent;
  options.validation_split = 0.2;
  return options;
}

AdamOptions adam_options() {
  AdamOptions options;
  options.learning_rate = 0.01;
  return options;
}

struct Run {
  std::vector<Matrix<float>> weights;
  History history;
};

template <class Dataset>
Run one_process(const Dataset& data, Index threads, Index batch_size) {
  Sequential<float> model = tiny_model(std::is_same_v<Dataset, LineSequences>);
  Adam<float> optimizer(adam_options());
  Run run;
  run.history = fit(model, optimizer, data, options_for(threads, batch_size));
  run.weights = weights_of(model);
  return run;
}

// Runs body(group, p) on `processes` threads, thread p being rank p of one ThreadGroup; once all
// have finished, rethrows the first exception a rank let escape (in rank order).
template <class Body>
void on_ranks(Index processes, const Body& body) {
  SharedMemory memory(processes);
  std::vector<std::exception_ptr> errors(static_cast<size_t>(processes));
  std::vector<std::thread> ranks;
  for (Index p = 0; p < processes; ++p) {
    ranks.emplace_back([&, p] {
      try {
        ThreadGroup group(memory, p, processes);
        body(group, p);
      } catch (...) {
        errors[static_cast<size_t>(p)] = std::current_exception();
      }
    });
  }
  for (auto& rank : ranks) rank.join();
  for (const auto& error : errors) {
    if (error) std::rethrow_exception(error);
  }
}

// `processes` threads, each fit() with `threads` workers on its own model; every rank's result.
template <class Dataset>
std::vector<Run> in_group(const Dataset& data, Index processes, Index threads, Index batch_size) {
  std::vector<Run> runs(static_cast<size_t>(processes));
  on_ranks(processes, [&](ThreadGroup& group, Index p) {
    Sequential<float> model = tiny_model(std::is_same_v<Dataset, LineSequences>);
    Adam<float> optimizer(adam_options());
    FitOptions<float> options = options_for(threads, batch_size);
    options.process_group = &group;
    runs[static_cast<size_t>(p)].history = fit(model, optimizer, data, options);
    runs[static_cast<size_t>(p)].weights = weights_of(model);
  });
  return runs;
}

}  // namespace

TEST_CASE("Processes x threads train bit-identically to one process with as many threads") {
  const WindowDataset data(counting_text(400), 6, 2, WindowTargets::next_token_after_window);  // 198 windows
  struct Layout {
    Index processes, threads, batch_size;
  };
  // 1 x 2: a group of one process; 3 x 1 with batches of 10: shares of 3, 3, 4 sequences;
  // 2 x 2 = 4 workers; batch 3 on 4 workers leaves worker 0 without sequences (its gradient
  // must not leak in).
  for (const Layout layout :
       {Layout{1, 2, 16}, Layout{2, 1, 16}, Layout{3, 1, 10}, Layout{2, 2, 13}, Layout{2, 2, 3}}) {
    CAPTURE(layout.processes);
    CAPTURE(layout.threads);
    CAPTURE(layout.batch_size);
    const Run reference = one_process(data, layout.processes * layout.threads, layout.batch_size);
    const std::vector<Run> runs = in_group(data, layout.processes, layout.threads, layout.batch_size);
    for (const Run& run : runs) {
      CHECK(identical(run.weights, reference.weights));
      CHECK(run.history.last("loss") == reference.history.last("loss"));
      CHECK(run.history.last("val_loss") == reference.history.last("val_loss"));
      CHECK(run.history.last("val_accuracy") == reference.history.last("val_accuracy"));
    }
  }
}

TEST_CASE("Padded line sequences are padded to the whole batch's longest line on every process") {
  std::vector<std::vector<TokenId>> lines;
  for (Index k = 0; k < 40; ++k) {
    std::vector<TokenId> line;
    for (Index t = 0; t < 3 + (k * 7) % 9; ++t) line.push_back(static_cast<TokenId>((k + t * t) % 5));
    lines.push_back(line);
  }
  const LineSequences data{LineCorpus(lines)};
  const Run reference = one_process(data, 3, 8);
  for (const Run& run : in_group(data, 3, 1, 8)) CHECK(identical(run.weights, reference.weights));
}

TEST_CASE("Processes that run different jobs are refused at the start of fit()") {
  const WindowDataset data(counting_text(200), 6, 2, WindowTargets::next_token_after_window);
  std::vector<std::string> messages(2);
  on_ranks(2, [&](ThreadGroup& group, Index p) {
    Sequential<float> model = tiny_model();
    Adam<float> optimizer(adam_options());
    FitOptions<float> options = options_for(1, p == 0 ? 8 : 9);
    options.process_group = &group;
    try {
      fit(model, optimizer, data, options);
    } catch (const distributed_error& e) {
      messages[static_cast<size_t>(p)] = e.what();
    }
  });
  for (const std::string& message : messages) {
    CHECK(message ==
          "fit: batch_size is 8 on process 0 but 9 on process 1; every process must run the same job");
  }
}

// A CsvLogger's rows without the timing columns (each process times its own run).
std::vector<std::string> untimed_rows(const CsvLogger<float>& log) {
  const CallbackState state = log.export_state();
  std::vector<std::string> columns{"epoch"}, rows;
  for (const json::Value& column : state.values.get_array("columns")) columns.push_back(column.as_string());
  for (const json::Value& row : state.values.get_array("rows")) {
    std::string kept, field;
    std::istringstream fields(row.as_string());
    for (size_t k = 0; std::getline(fields, field, ','); ++k) {
      if (columns.at(k) != "seconds" && columns.at(k) != "tokens_per_second") kept += field + ",";
    }
    rows.push_back(kept);
  }
  return rows;
}

TEST_CASE("Only rank 0 writes the CSV log and the checkpoints; every rank keeps their state") {
  const WindowDataset data(counting_text(200), 6, 2, WindowTargets::next_token_after_window);
  const auto path = [](const char* what, Index rank) {
    return std::string("test_process_group_") + what + "_" + std::to_string(rank);
  };
  const auto exists = [](const std::string& file) { return static_cast<bool>(std::ifstream(file)); };
  const auto remove_files = [&] {
    for (Index p = 0; p < 2; ++p) {
      std::remove(path("log.csv", p).c_str());
      std::remove(path("run.checkpoint", p).c_str());
    }
  };
  remove_files();
  std::vector<std::vector<std::string>> rows(2);
  on_ranks(2, [&](ThreadGroup& group, Index p) {
    Sequential<float> model = tiny_model();
    Adam<float> optimizer(adam_options());
    CsvLogger<float> log(path("log.csv", p));
    CheckpointOptions every_epoch;
    every_epoch.save_best_only = false;
    ModelCheckpoint<float> checkpoint(checkpoint_writer<float>(path("run.checkpoint", p)), every_epoch);
    FitOptions<float> options = options_for(1, 8);
    options.process_group = &group;
    options.callbacks = {&log, &checkpoint};
    fit(model, optimizer, data, options);
    rows[static_cast<size_t>(p)] = untimed_rows(log);
  });
  CHECK(exists(path("log.csv", 0)));
  CHECK(exists(path("run.checkpoint", 0)));
  CHECK_FALSE(exists(path("log.csv", 1)));
  CHECK_FALSE(exists(path("run.checkpoint", 1)));
  CHECK(rows[0].size() == 2);
  CHECK(rows[0] == rows[1]);
  remove_files();
}

}  // namespace process_group_tests
