/// \file
/// Data-parallel training over MPI ranks (the optional component seqlm::mpi; docs/distributed.md).
///
/// ```cpp
///   #include <seqlm/distributed/mpi.hpp>
///
///   int main(int argc, char** argv) {
///     seqlm::mpi::Environment mpi(argc, argv);         // MPI_Init ... MPI_Finalize
///     seqlm::mpi::Communicator ranks;                  // all ranks of the job
///     seqlm::FitOptions<float> options;
///     options.process_group = &ranks;                  // every rank runs the same fit()
///     options.callbacks = {&early_stopping, &csv_logger};   // the same everywhere; files: rank 0
///     seqlm::fit(model, optimizer, data, options);
///   }
///   // mpirun -np 4 ./train ...
/// ```
///
/// Every rank fills only its share of each batch, the per-worker gradients are gathered with one
/// MPI_Iallgatherv per step and summed in the fixed worker order (train/data_parallel.hpp), so N
/// ranks x T threads give the weights of one process with N x T threads, bit for bit.
///
/// Failure: every exchange is a non-blocking collective polled against a deadline
/// (Options::timeout_seconds). When it fails or the deadline passes (a rank died, hangs, or is
/// far behind), the rank prints one line naming itself and the exchange, e.g.
///
/// ```text
///   seqlm: rank 0 of 2: no answer within 5 s in the exchange of the gradients of epoch 0,
///   batch 7 (another rank died, hangs or runs a different job); aborting the job
/// ```
///
/// and ends the whole job with MPI_Abort (exit status 1), or throws distributed_error when
/// Options::abort_on_failure is false. A rank that exits makes mpirun end the job as well.
#pragma once

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <thread>
#include <vector>

#include "../error.hpp"
#include "../train/process_group.hpp"

namespace seqlm::mpi {

/// MPI for the whole program: MPI_Init_thread in the constructor (MPI_THREAD_FUNNELED: only the
/// main thread calls MPI; fit()'s worker threads never do), MPI_Finalize in the destructor.
/// While an exception unwinds, the destructor does not finalize: the process exits with an
/// error and mpirun ends the job (MPI_Finalize would wait for ranks that may never arrive).
class Environment {
 public:
  Environment(int& argc, char**& argv) { init(&argc, &argv); }
  Environment() { init(nullptr, nullptr); }
  Environment(const Environment&) = delete;
  Environment& operator=(const Environment&) = delete;
  ~Environment() {
    if (std::uncaught_exceptions() == 0) MPI_Finalize();
  }

 private:
  static void init(int* argc, char*** argv) {
    int provided = 0;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
      throw distributed_error("mpi::Environment: MPI_Init_thread failed");
    }
    if (provided < MPI_THREAD_FUNNELED) {
      throw distributed_error("mpi::Environment: this MPI library does not support MPI_THREAD_FUNNELED");
    }
  }
};

struct Options {
  /// How long one exchange waits for the other ranks before the job is ended (seconds, > 0).
  /// Longer than any step's compute time, including the first (allocation) and the validation.
  double timeout_seconds = 60.0;
  /// On failure: print one line to stderr and MPI_Abort the job (true), or throw distributed_error.
  bool abort_on_failure = true;
};

/// Where the time and the bytes of the exchanges went (for benchmarks and logs).
struct Statistics {
  long long exchanges = 0;      ///< allgather calls
  double seconds = 0.0;         ///< wall time inside them (waiting for slower ranks included)
  double bytes_sent = 0.0;      ///< this rank's parts, once per exchange
  double bytes_received = 0.0;  ///< the other ranks' parts
};

/// A ProcessGroup over an MPI communicator: a duplicate of `comm` (MPI_COMM_WORLD by default),
/// so that its traffic never mixes with the program's own, with MPI_ERRORS_RETURN. Construct
/// it after the Environment and let it go before (it frees its communicator).
class Communicator final : public ProcessGroup {
 public:
  explicit Communicator(Options options = {}, MPI_Comm comm = MPI_COMM_WORLD) : options_(options) {
    if (!(options_.timeout_seconds > 0.0)) {
      throw value_error(detail::make_message("mpi::Communicator: timeout_seconds must be > 0, got ",
                                             options_.timeout_seconds));
    }
    if (MPI_Comm_dup(comm, &comm_) != MPI_SUCCESS)
      throw distributed_error("mpi::Communicator: MPI_Comm_dup failed");
    MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
    int rank = 0, size = 0;
    MPI_Comm_rank(comm_, &rank);
    MPI_Comm_size(comm_, &size);
    rank_ = rank;
    size_ = size;
  }
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;
  ~Communicator() override {
    if (std::uncaught_exceptions() == 0) MPI_Comm_free(&comm_);
  }

  Index rank() const override { return rank_; }
  Index size() const override { return size_; }
  const Options& options() const { return options_; }
  const Statistics& statistics() const { return statistics_; }
  void reset_statistics() { statistics_ = Statistics{}; }

  /// One MPI_Iallgatherv in place, polled until it completes or the deadline passes.
  void allgather(std::vector<unsigned char>& all, const std::vector<size_t>& offsets,
                 const std::string& what) override {
    const auto start = std::chrono::steady_clock::now();
    if (offsets.size() != static_cast<size_t>(size_) + 1 || offsets.back() > all.size()) {
      throw value_error(detail::make_message("mpi::Communicator::allgather: ", offsets.size(),
                                             " offsets for ", size_, " ranks and ", all.size(), " bytes"));
    }
    counts_.resize(static_cast<size_t>(size_));
    displacements_.resize(static_cast<size_t>(size_));
    for (size_t p = 0; p < counts_.size(); ++p) {
      if (offsets[p + 1] > static_cast<size_t>(INT_MAX)) {
        fail(detail::make_message("the exchange of ", what, " needs ", offsets[p + 1],
                                  " bytes, more than MPI's int counts hold"));
      }
      displacements_[p] = static_cast<int>(offsets[p]);
      counts_[p] = static_cast<int>(offsets[p + 1] - offsets[p]);
    }
    MPI_Request request = MPI_REQUEST_NULL;
    check(MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, all.data(), counts_.data(),
                          displacements_.data(), MPI_BYTE, comm_, &request),
          what);
    // Poll: spin briefly (a step's exchange on a fast network takes microseconds), then sleep
    // between tests so that a waiting rank leaves the core to others.
    auto pause = std::chrono::microseconds(0);
    for (int done = 0;;) {
      check(MPI_Test(&request, &done, MPI_STATUS_IGNORE), what);
      if (done) break;
      const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (waited > options_.timeout_seconds) {
        fail(detail::make_message("no answer within ", options_.timeout_seconds, " s in the exchange of ",
                                  what, " (another rank died, hangs or runs a different job)"));
      }
      if (waited > 200e-6) {
        pause = std::min(std::chrono::microseconds(200), pause + std::chrono::microseconds(10));
        std::this_thread::sleep_for(pause);
      }
    }
    const size_t mine = offsets[static_cast<size_t>(rank_) + 1] - offsets[static_cast<size_t>(rank_)];
    ++statistics_.exchanges;
    statistics_.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    statistics_.bytes_sent += static_cast<double>(mine);
    statistics_.bytes_received += static_cast<double>(offsets.back() - offsets.front() - mine);
  }

  /// Prints "seqlm: rank r of n: <message>; aborting the job" and ends every rank (MPI_Abort).
  [[noreturn]] void abort(const std::string& message, int code = 1) const {
    std::fprintf(stderr, "seqlm: rank %ld of %ld: %s; aborting the job\n", static_cast<long>(rank_),
                 static_cast<long>(size_), message.c_str());
    std::fflush(stderr);
    MPI_Abort(comm_, code);
    std::_Exit(code);  // MPI_Abort does not return; if it ever did, do not hang
  }

 private:
  void check(int code, const std::string& what) const {
    if (code == MPI_SUCCESS) return;
    char text[MPI_MAX_ERROR_STRING] = {};
    int length = 0;
    MPI_Error_string(code, text, &length);
    fail(detail::make_message("MPI error in the exchange of ", what, ": ",
                              std::string(text, static_cast<size_t>(length))));
  }

  [[noreturn]] void fail(const std::string& message) const {
    if (options_.abort_on_failure) abort(message);
    throw distributed_error(detail::make_message("rank ", rank_, " of ", size_, ": ", message));
  }

  Options options_;
  MPI_Comm comm_ = MPI_COMM_NULL;
  Index rank_ = 0, size_ = 1;
  Statistics statistics_;
  std::vector<int> counts_, displacements_;
};

}  // namespace seqlm::mpi
