// --distributed: train data-parallel over the ranks of an MPI job (docs/distributed.md):
//
//   mpirun -np 2 nietzsche train --distributed --threads 1 ...
//
// Every rank reads the data and builds the model alike; fit() gives each rank its share of every
// batch and sums the gradients in one fixed order, so the weights equal one process trained with
// --threads ranks x threads. Rank 0 alone writes files (the model, --log-csv, --log-batches:
// TrainingContext::writes_files in callbacks) and prints; the other ranks' standard output is
// discarded. Built with MPI only (the program then
// links seqlm::mpi and defines SEQLM_EXAMPLES_WITH_MPI); otherwise --distributed is refused.
//
//   examples::Distributed distributed(cli);        // starts MPI when --distributed is given
//   options.process_group = distributed.group();   // null without --distributed
//   if (distributed.root()) save(...);
#pragma once

#include <iostream>
#include <memory>
#include <seqlm/error.hpp>
#include <seqlm/train/process_group.hpp>
#include <streambuf>

#ifdef SEQLM_EXAMPLES_WITH_MPI
#include <seqlm/distributed/mpi.hpp>
#endif

#include "cli.hpp"

namespace examples {

class Distributed {
 public:
  explicit Distributed(const CommandLine& cli) {
    if (!cli.has("distributed")) return;
#ifdef SEQLM_EXAMPLES_WITH_MPI
    environment_ = std::make_unique<seqlm::mpi::Environment>();
    communicator_ = std::make_unique<seqlm::mpi::Communicator>();
    if (communicator_->rank() != 0) saved_ = std::cout.rdbuf(nullptr);  // rank 0 alone prints
#else
    throw seqlm::value_error(
        "--distributed: this program was built without MPI (install Open MPI, e.g. scripts/install-deps.sh, "
        "and configure again)");
#endif
  }
  Distributed(const Distributed&) = delete;
  Distributed& operator=(const Distributed&) = delete;
  ~Distributed() {
    if (saved_ != nullptr) std::cout.rdbuf(saved_);
  }

  // The ranks, or null without --distributed.
  seqlm::ProcessGroup* group() {
#ifdef SEQLM_EXAMPLES_WITH_MPI
    return communicator_.get();
#else
    return nullptr;
#endif
  }
  // Whether this process writes the files: rank 0, or the only process.
  bool root() { return group() == nullptr || group()->rank() == 0; }

 private:
#ifdef SEQLM_EXAMPLES_WITH_MPI
  std::unique_ptr<seqlm::mpi::Environment> environment_;  // declared first: finalized last
  std::unique_ptr<seqlm::mpi::Communicator> communicator_;
#endif
  std::streambuf* saved_ = nullptr;
};

}  // namespace examples
