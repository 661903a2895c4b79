// Thread creation that fails (a process or memory limit) is an xgrad::Error from set_num_threads
// or fewer threads (said once) inside parallel_for; never std::terminate, never std::system_error.
// Each scenario runs in a new process (the pool must not already exist, and thread creation is
// made to fail for the whole process); the driver cases check how that process ended.
#include <doctest/doctest.h>
#include <grp.h>
#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <string>
#include <system_error>
#include <thread>

#include "core/creation.hpp"
#include "ops/ops.hpp"
#include "core/parallel.hpp"
#include "support/isolated_process.hpp"
#include "support/testing.hpp"

using namespace xgrad;
using testing::contains;

namespace {

bool a_thread_starts() {
  try {
    std::thread probe([] {});
    probe.join();
    return true;
  } catch (const std::system_error&) {
    return false;
  }
}

// Makes every later thread creation in this process fail with EAGAIN (std::thread throws
// std::system_error), as an exhausted limit does. First a default thread stack no mmap can
// reserve (32 TiB); if this machine still starts a thread (vm.overcommit_memory = 1), a process
// limit of zero, as user nobody (root is exempt from RLIMIT_NPROC).
void forbid_new_threads() {
  pthread_attr_t attr;
  REQUIRE(pthread_attr_init(&attr) == 0);
  REQUIRE(pthread_attr_setstacksize(&attr, std::size_t{1} << 45) == 0);
  REQUIRE(pthread_setattr_default_np(&attr) == 0);
  pthread_attr_destroy(&attr);
  if (!a_thread_starts()) return;
  if (::geteuid() == 0) {
    REQUIRE(::setgroups(0, nullptr) == 0);
    REQUIRE(::setgid(65534) == 0);
    REQUIRE(::setuid(65534) == 0);
  }
  const rlimit none{0, 0};
  REQUIRE(::setrlimit(RLIMIT_NPROC, &none) == 0);
  REQUIRE_MESSAGE(!a_thread_starts(), "could not make thread creation fail on this machine");
}

// A sum big enough to go through parallel_for (several blocks of 8K on the pool).
void check_a_parallel_op_works() {
  const Tensor x = ones({1 << 20}, {.dtype = kFloat64});
  CHECK(x.sum().item<double>() == static_cast<double>(1 << 20));
}

}  // namespace

// ---- scenarios, each run by a driver below in a process of its own

TEST_CASE("threads scenario first call" * doctest::skip()) {
  forbid_new_threads();
  const std::string message = testing::error_of([] { set_num_threads(64); });
  CHECK(contains(message, "set_num_threads: could start only 1 of the 64 threads asked for"));
  CHECK(get_num_threads() == 1);  // the count says what there is
  check_a_parallel_op_works();
}

TEST_CASE("threads scenario pool already up" * doctest::skip()) {
  set_num_threads(2);
  check_a_parallel_op_works();
  forbid_new_threads();
  const std::string message = testing::error_of([] { set_num_threads(64); });
  CHECK(contains(message, "set_num_threads: could start only 1 of the 64 threads asked for"));
  CHECK(get_num_threads() == 1);
  check_a_parallel_op_works();
  // Asking for what there is needs no new thread and works; asking for more fails again, cleanly.
  CHECK_NOTHROW(set_num_threads(1));
  CHECK(contains(testing::error_of([] { set_num_threads(3); }), "could start only 1 of the 3 threads"));
  check_a_parallel_op_works();
}

TEST_CASE("threads scenario default pool" * doctest::skip()) {
  // No set_num_threads: the first parallel op starts the default pool (one thread per core).
  forbid_new_threads();
  check_a_parallel_op_works();
  check_a_parallel_op_works();
  CHECK(get_num_threads() == 1);
}

// ---- drivers

TEST_CASE("set_num_threads as the first call when no thread can be created: xgrad::Error, then serial") {
  const testing::isolated::ProcessOutcome outcome = testing::isolated::run_test_case_in_new_process("threads scenario first call");
  CHECK_MESSAGE(outcome.passed(), outcome.describe());
}

TEST_CASE("set_num_threads with the pool up when no thread can be created: xgrad::Error, the pool still works") {
  const testing::isolated::ProcessOutcome outcome = testing::isolated::run_test_case_in_new_process("threads scenario pool already up");
  CHECK_MESSAGE(outcome.passed(), outcome.describe());
}

TEST_CASE("parallel ops when the default pool cannot start: they run serially, and it is said once") {
  const testing::isolated::ProcessOutcome outcome = testing::isolated::run_test_case_in_new_process("threads scenario default pool");
  CHECK_MESSAGE(outcome.passed(), outcome.describe());
  const std::string warning = "xgrad: could start only 1 of the";
  std::size_t count = 0;
  for (std::size_t at = outcome.output.find(warning); at != std::string::npos; at = outcome.output.find(warning, at + 1))
    ++count;
  // One thread per core is the default: on one core there is no pool to start, nothing to say.
  CHECK_MESSAGE(count == (std::thread::hardware_concurrency() > 1 ? 1u : 0u), outcome.output);
}
