// A persistent thread pool behind parallel_for.
//
// get_num_threads() - 1 workers sleep on a condition variable; parallel_for publishes one job (the
// function and its chunk boundaries), wakes them, and runs chunks itself too. Chunks are claimed
// from an atomic counter, so a late-waking worker simply finds nothing left. After a job, workers
// spin briefly before sleeping again: a training step calls the kernels back to back, and a futex
// wake costs tens of microseconds on a VM. Only one parallel_for owns the pool at a time; a call
// made while it is busy (nested, or from another user thread) runs serially instead of waiting.
//
// Creating a thread can fail (a process or memory limit): the pool then keeps the workers it could
// start and the thread count becomes what it really has. set_num_threads says so with an
// xgrad::Error; parallel_for, growing the pool on its own, says it once on stderr and carries on.
#include "core/parallel.hpp"

#include "core/error.hpp"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace xgrad {
namespace {

void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}

// True on threads currently running a chunk, so that nested parallel_for calls run serially.
thread_local bool inside_parallel_region = false;

// One parallel_for call. Workers hold it by shared_ptr, so one that wakes late finds no chunk
// left instead of touching the next call's state.
struct Job {
  const std::function<void(int64_t, int64_t)>* fn;
  int64_t n, chunk_count;
  std::atomic<int64_t> next_chunk{0}, unfinished_chunks;
  std::exception_ptr error;  // first exception thrown by fn, guarded by ThreadPool::mutex_
  Job(const std::function<void(int64_t, int64_t)>* f, int64_t size, int64_t chunks)
      : fn(f), n(size), chunk_count(chunks), unfinished_chunks(chunks) {}
};

// What resize() reached: the thread count the pool has now (the caller included), and why it is
// short of the count asked for (empty when it is not).
struct Resized {
  int threads = 1;
  std::string failure;
};

class ThreadPool {
 public:
  ThreadPool() = default;  // the calling thread only; resize() adds workers
  ~ThreadPool() { stop_workers(); }

  int num_threads() const { return num_threads_.load(std::memory_order_acquire); }

  Resized resize(int threads) {
    std::lock_guard owner(owner_mutex_);
    stop_workers();
    return start_workers(threads - 1);
  }

  // Runs fn over chunk_count chunks of [0, n); false when the pool is busy (the caller goes serial).
  bool try_run(int64_t n, int64_t chunk_count, const std::function<void(int64_t, int64_t)>& fn) {
    std::unique_lock owner(owner_mutex_, std::try_to_lock);
    if (!owner.owns_lock()) return false;
    auto job = std::make_shared<Job>(&fn, n, chunk_count);
    {
      std::lock_guard lock(mutex_);
      job_ = job;
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    run_chunks(*job);
    // Wait for chunks claimed by workers; spin first, they are usually nearly done.
    for (int spin = 0; job->unfinished_chunks.load(std::memory_order_acquire) != 0; ++spin) {
      if (spin < 2000) {
        cpu_relax();
      } else {
        std::unique_lock lock(mutex_);
        done_.wait(lock, [&] { return job->unfinished_chunks.load(std::memory_order_acquire) == 0; });
      }
    }
    std::exception_ptr error;
    {
      std::lock_guard lock(mutex_);
      error = job->error;
      job_.reset();
    }
    if (error) std::rethrow_exception(error);
    return true;
  }

 private:
  // Starts up to `count` workers; a thread that cannot be created ends the attempt, keeping the
  // ones already running (never an exception: a std::thread left unjoined would terminate).
  Resized start_workers(int count) {
    uint64_t generation;
    {
      std::lock_guard lock(mutex_);
      stopping_ = false;
      generation = generation_.load(std::memory_order_relaxed);
    }
    Resized result;
    workers_.reserve(static_cast<std::size_t>(count));
    for (int i = 0; i < count; ++i) {
      try {
        workers_.emplace_back([this, generation] { worker_loop(generation); });
      } catch (const std::system_error& e) {
        result.failure = e.what();
        break;
      }
    }
    result.threads = static_cast<int>(workers_.size()) + 1;
    num_threads_.store(result.threads, std::memory_order_release);
    return result;
  }

  void stop_workers() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    for (std::thread& worker : workers_) worker.join();
    workers_.clear();
    num_threads_.store(1, std::memory_order_release);
  }

  // `seen` is the generation when the worker was started: it runs every job published after.
  void worker_loop(uint64_t seen) {
    for (;;) {
      // Spin a little for the next job before sleeping.
      for (int spin = 0; spin < 2000 && generation_.load(std::memory_order_acquire) == seen; ++spin) cpu_relax();
      std::shared_ptr<Job> job;
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [&] { return stopping_ || generation_.load(std::memory_order_acquire) != seen; });
        seen = generation_.load(std::memory_order_acquire);
        if (stopping_) return;
        job = job_;
      }
      if (job) run_chunks(*job);
    }
  }

  // Claims and runs chunks of the job until none are left.
  void run_chunks(Job& job) {
    inside_parallel_region = true;
    for (;;) {
      const int64_t chunk = job.next_chunk.fetch_add(1, std::memory_order_acq_rel);
      if (chunk >= job.chunk_count) break;
      const int64_t begin = job.n * chunk / job.chunk_count, end = job.n * (chunk + 1) / job.chunk_count;
      try {
        (*job.fn)(begin, end);
      } catch (...) {
        std::lock_guard lock(mutex_);
        if (!job.error) job.error = std::current_exception();
      }
      if (job.unfinished_chunks.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard lock(mutex_);
        done_.notify_all();
      }
    }
    inside_parallel_region = false;
  }

  std::mutex owner_mutex_;  // held by the one parallel_for (or resize) using the pool
  std::mutex mutex_;        // guards job_, stopping_, Job::error and the condition variables
  std::condition_variable wake_, done_;
  std::vector<std::thread> workers_;
  bool stopping_ = false;
  std::atomic<uint64_t> generation_{0};  // bumped for each job and for shutdown
  std::atomic<int> num_threads_{1};      // workers_.size() + 1, readable without owner_mutex_
  std::shared_ptr<Job> job_;
};

// Read once: glibc's hardware_concurrency() opens and reads a /sys file on every
// call, and every elementwise op asks for the thread count.
int default_num_threads() {
  static const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return cores;
}

std::atomic<int> requested_threads{0};  // 0: not set, use default_num_threads()

ThreadPool& pool() {
  static ThreadPool instance;
  return instance;
}

}  // namespace

void set_num_threads(int n) {
  XGRAD_CHECK(n >= 1 && n <= 1024, "set_num_threads: expected a positive thread count (at most 1024), got {}", n);
  requested_threads.store(n);
  if (inside_parallel_region || pool().num_threads() == n) return;  // inside: the next parallel_for resizes
  const Resized resized = pool().resize(n);
  if (resized.threads == n) return;
  // The pool keeps the threads it could start, and the count says so.
  requested_threads.store(resized.threads);
  fail("set_num_threads: could start only {} of the {} threads asked for ({}); xgrad now runs with {}",
       resized.threads, n, resized.failure, resized.threads);
}

int get_num_threads() {
  const int n = requested_threads.load();
  return n > 0 ? n : default_num_threads();
}

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t begin, int64_t end)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  if (n < 2 * grain) {  // too small to split: skip the pool entirely
    fn(0, n);
    return;
  }
  const int threads_wanted = get_num_threads();
  if (threads_wanted <= 1 || inside_parallel_region) {
    fn(0, n);
    return;
  }
  // Up to 4 chunks per thread, claimed dynamically: on a shared machine one core is often slowed
  // by other work, and with one chunk per thread the whole call would wait for it.
  const int64_t chunk_count = std::min<int64_t>(int64_t{4} * threads_wanted, n / grain);
  if (chunk_count <= 1) {
    fn(0, n);
    return;
  }
  ThreadPool& threads = pool();
  if (threads.num_threads() != threads_wanted) {
    const Resized resized = threads.resize(threads_wanted);
    if (resized.threads != threads_wanted) {
      // Carry on with the threads there are, and say so once (a warning on every op would drown
      // the program's output; an error here would fail an op that can run serially).
      requested_threads.store(resized.threads);
      static std::atomic<bool> said{false};
      if (!said.exchange(true)) {
        std::fprintf(stderr, "xgrad: could start only %d of the %d threads wanted (%s); running with %d\n",
                     resized.threads, threads_wanted, resized.failure.c_str(), resized.threads);
      }
    }
    if (resized.threads <= 1) {
      fn(0, n);
      return;
    }
  }
  if (!threads.try_run(n, chunk_count, fn)) fn(0, n);
}

}  // namespace xgrad
