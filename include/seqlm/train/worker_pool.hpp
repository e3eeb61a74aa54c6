// A small persistent pool of threads for data-parallel training: run(task) calls task(k) for
// k = 0 .. workers-1 at the same time, task(0) on the calling thread, and returns when all are
// done. The threads live as long as the pool, so no thread is created per batch.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "../error.hpp"
#include "../tensor.hpp"

namespace seqlm::detail {

class WorkerPool {
 public:
  explicit WorkerPool(Index workers) : errors_(static_cast<size_t>(workers)) {
    check_positive("WorkerPool", "worker count", workers);
    for (Index k = 1; k < workers; ++k) threads_.emplace_back([this, k] { work(k); });
  }
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  ~WorkerPool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    start_.notify_all();
    for (std::thread& thread : threads_) thread.join();
  }

  Index workers() const { return static_cast<Index>(errors_.size()); }

  // Runs task(k) for every worker k; rethrows the exception of the lowest k that threw.
  void run(const std::function<void(Index)>& task) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      task_ = &task;
      pending_ = static_cast<Index>(threads_.size());
      ++generation_;
    }
    start_.notify_all();
    errors_[0] = nullptr;
    try {
      task(0);
    } catch (...) {
      errors_[0] = std::current_exception();
    }
    {
      std::unique_lock<std::mutex> lock(mutex_);
      done_.wait(lock, [this] { return pending_ == 0; });
      task_ = nullptr;
    }
    for (const std::exception_ptr& error : errors_) {
      if (error) std::rethrow_exception(error);
    }
  }

 private:
  void work(Index k) {
    std::uint64_t seen = 0;
    for (;;) {
      const std::function<void(Index)>* task = nullptr;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        start_.wait(lock, [&] { return stopping_ || generation_ != seen; });
        if (stopping_) return;
        seen = generation_;
        task = task_;
      }
      std::exception_ptr error;
      try {
        (*task)(k);
      } catch (...) {
        error = std::current_exception();
      }
      {
        std::lock_guard<std::mutex> lock(mutex_);
        errors_[static_cast<size_t>(k)] = error;
        if (--pending_ == 0) done_.notify_one();
      }
    }
  }

  std::vector<std::thread> threads_;
  std::vector<std::exception_ptr> errors_;
  std::mutex mutex_;
  std::condition_variable start_, done_;
  const std::function<void(Index)>* task_ = nullptr;
  std::uint64_t generation_ = 0;
  Index pending_ = 0;
  bool stopping_ = false;
};

}  // namespace seqlm::detail
