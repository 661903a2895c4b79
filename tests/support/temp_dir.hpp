// A fresh directory under the system temp dir, removed with everything in it at scope exit.
#pragma once

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <system_error>

#include <fmt/format.h>

namespace xgrad::testing {

struct TempDir {
  std::filesystem::path path;
  // `prefix` names the test in the directory's name, for whoever finds one left by a crash.
  explicit TempDir(const std::string& prefix = "xgrad") {
    static std::atomic<int> counter{0};
    path = std::filesystem::temp_directory_path() / fmt::format("{}_{}_{}", prefix, ::getpid(), counter++);
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return (path / name).string(); }
};

}  // namespace xgrad::testing
