// What the fuzz targets share: a scratch file to hand bytes to readers that take
// a path, and the rule every target enforces: an input either works or throws
// xgrad::Error. Any other exception escapes LLVMFuzzerTestOneInput and libFuzzer
// reports it as a crash, like a signal or a sanitizer report.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/error.hpp"

namespace xgrad::fuzz {

// One scratch file per process (in /dev/shm when available: no disk I/O),
// removed at exit. Rewritten for every input.
inline const std::string& scratch_path() {
  static const std::string path = [] {
    const char* dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    std::string name = std::string(dir) + "/xgrad_fuzz_" + std::to_string(getpid()) + ".bin";
    static std::string to_remove;
    to_remove = name;
    std::atexit([] { std::remove(to_remove.c_str()); });
    return name;
  }();
  return path;
}

inline const std::string& write_scratch(const std::uint8_t* data, std::size_t size) {
  const std::string& path = scratch_path();
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr) std::abort();
  if (size > 0 && std::fwrite(data, 1, size, file) != size) std::abort();
  std::fclose(file);
  return path;
}

// Reads fixed-size values off the front of the fuzzer's bytes (zeros once they run out).
class ByteReader {
 public:
  ByteReader(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  std::uint8_t u8() { return position_ < size_ ? data_[position_++] : 0; }
  std::uint64_t u64() {
    std::uint64_t value = 0;
    for (int i = 0; i < 8; ++i) value |= static_cast<std::uint64_t>(u8()) << (8 * i);
    return value;
  }
  // A small value in [0, limit] most of the time, occasionally anything (to hit overflow checks).
  std::int64_t size_like(std::int64_t limit) {
    const std::uint8_t kind = u8();
    if (kind < 240) return static_cast<std::int64_t>(u8()) % (limit + 1);
    if (kind < 248) return -static_cast<std::int64_t>(u8() % 4);
    return static_cast<std::int64_t>(u64());
  }
  std::size_t remaining() const { return size_ - position_; }
  const std::uint8_t* rest() const { return data_ + position_; }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t position_ = 0;
};

}  // namespace xgrad::fuzz
