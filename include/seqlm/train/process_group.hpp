/// \file
/// The processes of a data-parallel job as fit() sees them: a rank, a size and one collective
/// operation, an all-gather of bytes. The core library knows nothing of MPI; an MPI
/// implementation is the optional component <seqlm/distributed/mpi.hpp> (seqlm::mpi).
///
/// With FitOptions::process_group set, fit() runs `threads` data-parallel workers on each of the
/// group's processes, W = size() x threads workers in all, and the weights after training are
/// bit-identical to one process with threads = W (data_parallel.hpp says why).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "../error.hpp"
#include "../tensor.hpp"

namespace seqlm {

/// A collective operation of a ProcessGroup failed: a process died, hangs past the deadline,
/// or the processes disagree (different data, options or models on different ranks).
class distributed_error : public error {
 public:
  using error::error;
};

/// A fixed set of processes that run the same training loop (MPI ranks, or threads in a test).
class ProcessGroup {
 public:
  virtual ~ProcessGroup() = default;

  /// This process's number, 0 <= rank() < size(); rank 0 writes the files and the logs.
  virtual Index rank() const = 0;
  /// The number of processes (>= 1).
  virtual Index size() const = 0;

  /// Collective, called by every process in the same order: process p has written its part,
  /// bytes [offsets[p], offsets[p + 1]) of `all`, and on return `all` holds every process's
  /// part. offsets has size() + 1 entries and is the same on every process. `what` names the
  /// exchange in error messages ("the gradients of epoch 2, batch 17"). Throws
  /// distributed_error, or ends the job, when the exchange fails or times out.
  virtual void allgather(std::vector<unsigned char>& all, const std::vector<size_t>& offsets,
                         const std::string& what) = 0;
};

namespace detail {

// offsets[p] = p * bytes_each for p = 0..processes: equal parts of `bytes_each` bytes.
inline std::vector<size_t> equal_offsets(Index processes, size_t bytes_each) {
  std::vector<size_t> offsets(static_cast<size_t>(processes) + 1);
  for (size_t p = 0; p < offsets.size(); ++p) offsets[p] = p * bytes_each;
  return offsets;
}

}  // namespace detail
}  // namespace seqlm
