/// \file
/// \details A small persistent pool of threads for data-parallel training: run(task) calls task(k) for
/// k = 0 .. workers-1 at the same time, task(0) on the calling thread, and returns when all are
/// done. The threads live as long as the pool, so no thread is created per batch.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

#include "../error.hpp"
#include "../tensor.hpp"

namespace seqlm::detail {

class WorkerPool {
 public:
  // Starts a thread running `body`; throws std::system_error when the system cannot create
  // one. The default is std::thread's constructor; tests inject a starter that fails.
  using ThreadStarter = std::function<std::thread(std::function<void()>)>;

  // workers >= 1: starts workers - 1 threads (the calling thread is worker 0). Throws
  // value_error when workers < 1, or when the system refuses to start one of the threads
  // (a process or user thread limit): the message says how many threads were asked for and
  // how many could be started, and every thread already started is joined first.
  explicit WorkerPool(Index workers, const ThreadStarter& start_thread = {})
      : errors_(checked_worker_count(workers)) {
    threads_.reserve(static_cast<size_t>(workers - 1));  // push_back below cannot throw
    for (Index k = 1; k < workers; ++k) {
      std::function<void()> body = [this, k] { work(k); };
      try {
        threads_.push_back(start_thread ? start_thread(std::move(body)) : std::thread(std::move(body)));
      } catch (const std::system_error& e) {
        stop_and_join();
        throw value_error(detail::make_message("WorkerPool: ", workers, " threads were asked for, but only ",
                                               k, " could be started (the system refused another one: ",
                                               e.what(), "); use at most ", k, " threads"));
      }
    }
  }
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  ~WorkerPool() { stop_and_join(); }

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
  static size_t checked_worker_count(Index workers) {
    check_positive("WorkerPool", "worker count", workers);
    return static_cast<size_t>(workers);
  }

  // Wakes every started thread with stopping_ set and waits for it to return.
  void stop_and_join() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    start_.notify_all();
    for (std::thread& thread : threads_) thread.join();
    threads_.clear();
  }

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
