#include "npy.hpp"

#include <fmt/core.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>

namespace xgrad_examples {
namespace {

static_assert(std::endian::native == std::endian::little, "the .npy code writes native little-endian data");

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;
constexpr size_t kPreambleSize = 10;  // magic, 2 version bytes, 2-byte header length

std::string shape_text(const std::vector<int64_t>& shape) {
  if (shape.size() == 1) return fmt::format("({},)", shape[0]);
  return fmt::format("({})", fmt::join(shape, ", "));
}

// The product of the dimensions, or -1 if it would not fit (a damaged header must not overflow).
int64_t element_count(const std::vector<int64_t>& shape) {
  int64_t count = 1;
  for (int64_t dim : shape) {
    if (dim != 0 && count > std::numeric_limits<int64_t>::max() / 8 / dim) return -1;
    count *= dim;
  }
  return count;
}

template <typename T>
void write_array(const std::string& path, const std::vector<T>& data, const std::vector<int64_t>& shape,
                 const char* descr) {
  if (static_cast<int64_t>(data.size()) != element_count(shape)) {
    throw NpyError(fmt::format("write_npy('{}'): {} values do not fill shape {}.", path, data.size(), shape_text(shape)));
  }
  std::string header = fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}", descr, shape_text(shape));
  // The format pads the header with spaces so the data starts on a 64-byte boundary.
  size_t unpadded = kPreambleSize + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';

  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  if (!file) throw NpyError(fmt::format("Could not open '{}' for writing: {}.", path, std::strerror(errno)));
  auto header_size = static_cast<uint16_t>(header.size());
  file.write(kMagic, kMagicSize);
  file.put('\x01').put('\x00');
  file.write(reinterpret_cast<const char*>(&header_size), 2);
  file.write(header.data(), static_cast<std::streamsize>(header.size()));
  file.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size() * sizeof(T)));
  file.close();
  if (!file) throw NpyError(fmt::format("Could not write '{}' (disk full?).", path));
}

// Parses "(8000,)" / "(12, 8000)" / "()" into dimensions; throws on anything else.
std::vector<int64_t> parse_shape(const std::string& path, const std::string& text) {
  std::vector<int64_t> shape;
  size_t i = 1;
  while (i < text.size() && text[i] != ')') {
    while (i < text.size() && (text[i] == ' ' || text[i] == ',')) ++i;
    if (i < text.size() && text[i] == ')') break;
    size_t end = i;
    while (end < text.size() && text[end] >= '0' && text[end] <= '9') ++end;
    if (end == i || end - i > 15) throw NpyError(fmt::format("'{}' has a malformed shape {}.", path, text));
    shape.push_back(std::stoll(text.substr(i, end - i)));
    i = end;
  }
  return shape;
}

template <typename T>
std::vector<T> read_array(const std::string& path, std::vector<int64_t>& shape, const char* descr) {
  std::ifstream file(path, std::ios::binary | std::ios::ate);
  if (!file) throw NpyError(fmt::format("Could not open '{}': {}.", path, std::strerror(errno)));
  auto file_size = static_cast<int64_t>(file.tellg());
  file.seekg(0);
  char preamble[kPreambleSize] = {};
  if (file_size < static_cast<int64_t>(kPreambleSize) || !file.read(preamble, kPreambleSize) ||
      std::memcmp(preamble, kMagic, kMagicSize) != 0) {
    throw NpyError(fmt::format("'{}' is not a .npy file (bad magic or too short).", path));
  }
  if (preamble[6] != 1) throw NpyError(fmt::format("'{}' has .npy version {}, only 1.0 is read.", path, int(preamble[6])));
  uint16_t header_size = 0;
  std::memcpy(&header_size, preamble + 8, 2);
  std::string header(header_size, '\0');
  if (!file.read(header.data(), header_size)) throw NpyError(fmt::format("'{}' ends inside its header.", path));

  if (header.find(fmt::format("'descr': '{}'", descr)) == std::string::npos) {
    throw NpyError(fmt::format("'{}' does not hold dtype {}: header {}", path, descr, header));
  }
  if (header.find("'fortran_order': False") == std::string::npos) {
    throw NpyError(fmt::format("'{}' is not in C order: header {}", path, header));
  }
  size_t shape_start = header.find("'shape': (");
  size_t shape_end = header.find(')', shape_start);
  if (shape_start == std::string::npos || shape_end == std::string::npos) {
    throw NpyError(fmt::format("'{}' has no shape in its header {}", path, header));
  }
  shape = parse_shape(path, header.substr(shape_start + 9, shape_end - shape_start - 8));
  int64_t count = element_count(shape);
  int64_t expected_size = static_cast<int64_t>(kPreambleSize + header_size) + std::max<int64_t>(count, 0) * static_cast<int64_t>(sizeof(T));
  if (count < 0 || file_size != expected_size) {
    throw NpyError(fmt::format("'{}' is {} bytes but its header (shape {}) needs {}: truncated or damaged.", path,
                               file_size, shape_text(shape), expected_size));
  }
  std::vector<T> data(static_cast<size_t>(count));
  if (!file.read(reinterpret_cast<char*>(data.data()), static_cast<std::streamsize>(count * sizeof(T)))) {
    throw NpyError(fmt::format("Could not read the data of '{}'.", path));
  }
  return data;
}

}  // namespace

void write_npy(const std::string& path, const std::vector<float>& data, const std::vector<int64_t>& shape) {
  write_array(path, data, shape, "<f4");
}
void write_npy(const std::string& path, const std::vector<int64_t>& data, const std::vector<int64_t>& shape) {
  write_array(path, data, shape, "<i8");
}
std::vector<float> read_npy_float32(const std::string& path, std::vector<int64_t>& shape) {
  return read_array<float>(path, shape, "<f4");
}
std::vector<int64_t> read_npy_int64(const std::string& path, std::vector<int64_t>& shape) {
  return read_array<int64_t>(path, shape, "<i8");
}

}  // namespace xgrad_examples
