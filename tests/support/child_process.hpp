// Runs risky test code in a forked child with a deadline, so that a crash, a hang
// or an abort fails the test that caused it instead of killing the whole run.
//
//   auto outcome = testing::run_in_child([&] { return describe_error([&] { load_npy(fifo); }); });
//   CHECK_MESSAGE(outcome.finished, outcome.status);
//   CHECK(contains(outcome.report, "is a FIFO"));
//
// The child runs `body` and sends back the string it returns; an exception escaping
// `body` is reported as text too. The child leaves with _exit, so no destructor or
// atexit handler of the parent's state runs twice.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <typeinfo>

#include <fmt/format.h>

#include "core/error.hpp"

namespace xgrad::testing {

struct ChildOutcome {
  std::string report;     // what body returned
  bool finished = false;  // the child ran body to its end and exited normally
  std::string status;     // "exit 0", "killed by signal 11", "timed out after 20 s"
};

// "xgrad::Error: <message>", "other exception <type>: <message>", or "no exception".
template <class F>
std::string describe_error(F&& fn) {
  try {
    fn();
  } catch (const Error& error) {
    return std::string("xgrad::Error: ") + error.what();
  } catch (const std::exception& error) {
    return fmt::format("other exception {}: {}", typeid(error).name(), error.what());
  } catch (...) {
    return "unknown exception";
  }
  return "no exception";
}

inline ChildOutcome run_in_child(const std::function<std::string()>& body,
                                 std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  ChildOutcome outcome;
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    outcome.status = "pipe failed";
    return outcome;
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    outcome.status = "fork failed";
    return outcome;
  }
  if (pid == 0) {
    ::close(fds[0]);
    std::string report;
    const std::string escaped = describe_error([&] { report = body(); });
    if (escaped != "no exception") report = "body threw " + escaped;
    std::size_t done = 0;
    while (done < report.size()) {
      const ssize_t n = ::write(fds[1], report.data() + done, report.size() - done);
      if (n <= 0) break;
      done += static_cast<std::size_t>(n);
    }
    ::_exit(0);
  }
  ::close(fds[1]);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool timed_out = false;
  char buffer[4096];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd poll_fd{fds[0], POLLIN, 0};
    const int ready = ::poll(&poll_fd, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;
    const ssize_t n = ::read(fds[0], buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    outcome.report.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  while (!timed_out && ::waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      timed_out = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (timed_out) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    outcome.status = fmt::format("timed out after {} ms (killed)", timeout.count());
    return outcome;
  }
  if (WIFEXITED(status)) {
    outcome.finished = WEXITSTATUS(status) == 0;
    outcome.status = fmt::format("exit {}", WEXITSTATUS(status));
  } else if (WIFSIGNALED(status)) {
    outcome.status = fmt::format("killed by signal {}", WTERMSIG(status));
  }
  return outcome;
}

}  // namespace xgrad::testing
