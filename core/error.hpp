// xgrad::Error and the one helper every check goes through.
#pragma once

#include <stdexcept>
#include <string>
#include <utility>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace xgrad {

// Every misuse of the library throws this. Messages are full sentences that
// name the operation and the offending values:
//   "conv1d: expected input with 4 channels (groups=1, weight [2, 4, 3]), got input [2, 5, 10]"
class Error : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// Formats with fmt and throws xgrad::Error.
template <class... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace xgrad

// XGRAD_CHECK(condition, "op: message {}", values...): throws xgrad::Error when
// the condition is false. A macro so the message is only formatted on failure.
#define XGRAD_CHECK(condition, ...)   \
  do {                                \
    if (!(condition)) {               \
      ::xgrad::fail(__VA_ARGS__);     \
    }                                 \
  } while (false)
