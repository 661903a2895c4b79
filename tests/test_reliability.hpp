// Helpers shared by the reliability tests (tests/test_reliability_*.cpp):
// how much smaller sanitizer builds make the long tests, and the process's
// resident memory.
#pragma once

#include <cstdint>
#include <cstdio>
#include <unistd.h>

namespace xgrad::testing {

// ASan/TSan builds run ~10x slower; long tests divide their sizes by this so the
// sanitizer runs stay short, while the Release run keeps the full sizes.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool kSanitized = true;
inline constexpr std::int64_t kSanitizerScale = 10;
#else
inline constexpr bool kSanitized = false;
inline constexpr std::int64_t kSanitizerScale = 1;
#endif

// Resident set size in bytes, from /proc/self/statm (second field, in pages).
inline std::int64_t resident_bytes() {
  std::FILE* file = std::fopen("/proc/self/statm", "r");
  if (file == nullptr) return -1;
  long long size_pages = 0, resident_pages = 0;
  const int read = std::fscanf(file, "%lld %lld", &size_pages, &resident_pages);
  std::fclose(file);
  return read == 2 ? resident_pages * static_cast<std::int64_t>(sysconf(_SC_PAGESIZE)) : -1;
}

}  // namespace xgrad::testing
