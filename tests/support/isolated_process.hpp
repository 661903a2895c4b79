// Runs a risky call in a forked child process with a time limit, so that a crash or a hang
// fails the test that made it (with what happened) instead of killing or stalling the run.
//
//   const ChildOutcome outcome = run_in_child([] { zeros({}).size(0); });
//   CHECK_MESSAGE(outcome.is_xgrad_error(), outcome.describe());
//   CHECK(contains(outcome.message, "no dimensions"));
//
// The child gets a copy of the process; only what the call reports comes back (its outcome and
// message). It ends with _exit, so it never runs doctest's reporting or flushes the parent's
// buffered output twice.
#pragma once

#include <doctest/doctest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <exception>
#include <functional>
#include <string>

#include <fmt/format.h>

#include "core/error.hpp"

namespace xgrad::testing::isolated {

struct ChildOutcome {
  enum class Kind { returned, xgrad_error, other_exception, crashed, timed_out, exited };
  Kind kind = Kind::exited;
  std::string message;  // the exception's what(), the signal's name, or the exit status

  bool is_xgrad_error() const { return kind == Kind::xgrad_error; }
  bool returned() const { return kind == Kind::returned; }
  std::string describe() const {
    switch (kind) {
      case Kind::returned: return "returned normally";
      case Kind::xgrad_error: return "threw xgrad::Error: " + message;
      case Kind::other_exception: return "threw an exception that is not xgrad::Error: " + message;
      case Kind::crashed: return "crashed: " + message;
      case Kind::timed_out: return "did not finish: " + message;
      case Kind::exited: return "the child exited on its own: " + message;
    }
    return "?";
  }
};

// fn() in a child; at most `limit` of wall time (then it is killed and the outcome is timed_out).
inline ChildOutcome run_in_child(const std::function<void()>& fn,
                                 std::chrono::milliseconds limit = std::chrono::seconds(20)) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::close(fds[0]);
    // The default action for fatal signals: doctest's handlers would report the crash as the
    // parent's test case, from the child, and run the parent's reporting.
    for (int fatal : {SIGSEGV, SIGFPE, SIGILL, SIGBUS, SIGABRT}) ::signal(fatal, SIG_DFL);
    char kind = 'R';
    std::string message;
    try {
      fn();
    } catch (const Error& e) {
      kind = 'X';
      message = e.what();
    } catch (const std::exception& e) {
      kind = 'O';
      message = e.what();
    } catch (...) {
      kind = 'O';
      message = "(not a std::exception)";
    }
    const std::string report = kind + message;
    for (std::size_t done = 0; done < report.size();) {
      const ssize_t n = ::write(fds[1], report.data() + done, report.size() - done);
      if (n <= 0) break;
      done += static_cast<std::size_t>(n);
    }
    ::_exit(0);
  }
  ::close(fds[1]);
  const auto deadline = std::chrono::steady_clock::now() + limit;
  std::string report;
  bool timed_out = false;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{.fd = fds[0], .events = POLLIN, .revents = 0};
    const int ready = ::poll(&p, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) {
      timed_out = ready == 0;
      break;
    }
    char buffer[4096];
    const ssize_t n = ::read(fds[0], buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // end of file: the child wrote everything or died
    report.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  if (timed_out) ::kill(child, SIGKILL);
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  ChildOutcome outcome;
  if (timed_out) {
    outcome.kind = ChildOutcome::Kind::timed_out;
    outcome.message = fmt::format("still running after {} ms (killed)", limit.count());
  } else if (WIFSIGNALED(status)) {
    outcome.kind = ChildOutcome::Kind::crashed;
    outcome.message = fmt::format("signal {} ({})", WTERMSIG(status), ::strsignal(WTERMSIG(status)));
  } else if (report.empty() || WEXITSTATUS(status) != 0) {
    outcome.kind = ChildOutcome::Kind::exited;
    outcome.message = fmt::format("exit status {} before reporting", WEXITSTATUS(status));
  } else {
    outcome.message = report.substr(1);
    outcome.kind = report[0] == 'R'   ? ChildOutcome::Kind::returned
                   : report[0] == 'X' ? ChildOutcome::Kind::xgrad_error
                                      : ChildOutcome::Kind::other_exception;
  }
  return outcome;
}

// What a test case run in a new process did: its exit status (0: every check passed), or the
// signal that ended it, or that it ran out of time; and everything it printed.
struct ProcessOutcome {
  bool finished = false;  // false: killed at the time limit
  bool signaled = false;
  int status = -1;        // exit status, or the signal's number when `signaled`
  std::string output;     // stdout and stderr, interleaved
  // Exit status 0 and doctest's summary of exactly one test case run and passed (a filter that
  // matched nothing would exit 0 too).
  bool passed() const {
    std::string compact;  // doctest pads its counts to a common width: "test cases:  1 |  1 passed"
    for (char c : output)
      if (c != ' ') compact += c;
    return finished && !signaled && status == 0 && compact.find("testcases:1|1passed") != std::string::npos;
  }
  std::string describe() const {
    const std::string how = !finished ? "did not finish in time (killed)"
                            : signaled ? fmt::format("was killed by signal {} ({})", status, ::strsignal(status))
                                       : fmt::format("exited with status {}", status);
    return how + "; its output:\n" + output;
  }
};

// Runs one test case of this test executable in a new process (exec'd afresh, so no thread, pool or
// cache of this process is inherited): `/proc/self/exe -tc=<name> --no-skip`. Scenarios that must
// start from a clean process are TEST_CASEs marked `* doctest::skip()`, run only this way.
inline ProcessOutcome run_test_case_in_new_process(const std::string& name,
                                                   std::chrono::milliseconds limit = std::chrono::seconds(60)) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const std::string filter = "-tc=" + name;
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::dup2(fds[1], 1);
    ::dup2(fds[1], 2);
    ::close(fds[0]);
    ::close(fds[1]);
    const char* argv[] = {"/proc/self/exe", filter.c_str(), "--no-skip", "--no-version", nullptr};
    ::execv("/proc/self/exe", const_cast<char* const*>(argv));
    ::_exit(127);
  }
  ::close(fds[1]);
  ProcessOutcome outcome;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{.fd = fds[0], .events = POLLIN, .revents = 0};
    const int ready = ::poll(&p, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) break;
    char buffer[4096];
    const ssize_t n = ::read(fds[0], buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      outcome.finished = true;
      break;
    }
    outcome.output.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  if (!outcome.finished) ::kill(child, SIGKILL);
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  outcome.signaled = WIFSIGNALED(status);
  outcome.status = outcome.signaled ? WTERMSIG(status) : WEXITSTATUS(status);
  return outcome;
}

// The message of the xgrad::Error that fn throws in a child; the test fails (saying what happened
// instead: a crash, a hang, another exception, no error) otherwise.
inline std::string child_error(const std::function<void()>& fn,
                               std::chrono::milliseconds limit = std::chrono::seconds(20)) {
  const ChildOutcome outcome = run_in_child(fn, limit);
  CHECK_MESSAGE(outcome.is_xgrad_error(), outcome.describe());
  return outcome.is_xgrad_error() ? outcome.message : "";
}

}  // namespace xgrad::testing::isolated
