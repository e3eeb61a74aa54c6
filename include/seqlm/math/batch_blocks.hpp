/// \file
/// Splitting a batch of independent sequences over threads, for the recurrent time loops.
///
/// In a recurrent layer the state of sequence b at step t depends only on the state of the
/// same sequence at step t-1: the B columns of a batch never meet inside the time loop (only
/// the weight gradients after it sum over them). So the time loop can run on a few blocks of
/// sequences at once, each block from the first step to the last with no synchronisation
/// between the steps:
///
/// ```cpp
///   for_each_batch_block(B, [&](Index first, Index count) {
///     for (t ...) { Z_t(:, first .. first+count) += U h_{t-1}(:, first .. first+count); gates; }
///   });
/// ```
///
/// body(first, count) is called for contiguous blocks [first, first + count) that cover
/// [0, B): in a build with OpenMP, one block per GEMM thread (Eigen::nbThreads(), the number
/// that seqlm::set_gemm_threads sets), each at least min_block_sequences wide, run on OpenMP
/// threads; otherwise one block, [0, B), on the calling thread. The split depends only on B
/// and the thread count, and what a layer computes for a sequence does not depend on the
/// split at all (math/gemm.hpp: a column's products do not depend on the other columns), so
/// the results are the same bits for every thread count. body must not throw.
#pragma once

#include <algorithm>

#include "../tensor.hpp"

namespace seqlm::detail {

// Below this many sequences per block a thread has too little work per step to pay for itself.
inline constexpr Index min_block_sequences = 8;

// How many blocks for_each_batch_block splits a batch of B sequences into.
inline Index batch_blocks(Index batch) {
#if defined(EIGEN_HAS_OPENMP)
  const Index threads = Eigen::nbThreads();
#else
  const Index threads = 1;
#endif
  return std::max<Index>(1, std::min<Index>(threads, batch / min_block_sequences));
}

template <class Body>
void for_each_batch_block(Index batch, Body&& body) {
  const Index blocks = batch_blocks(batch);
  if (blocks == 1) {
    body(Index(0), batch);
    return;
  }
#if defined(EIGEN_HAS_OPENMP)
#pragma omp parallel for num_threads(static_cast <int>(blocks)) schedule(static, 1)
  for (Index block = 0; block < blocks; ++block) {
    const Index first = block * batch / blocks, end = (block + 1) * batch / blocks;
    body(first, end - first);
  }
#endif
}

}  // namespace seqlm::detail
