// A strict .npy reader and writer. xtensor ships xt::load_npy, but it trusts the
// header (a corrupted shape becomes a huge allocation) and its errors are not
// xgrad::Error; this reader validates every field against the file first.
#include "core/io.hpp"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <string_view>
#include <vector>

#include "core/file_io.hpp"
#include "core/permute.hpp"

namespace xgrad {

namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr std::size_t kMagicSize = 6;

struct Header {
  Dtype dtype = kFloat32;
  bool fortran_order = false;
  Shape shape;
};

// Value of 'key' in the header dict, as raw text up to the next top-level comma or brace.
std::string_view dict_value(std::string_view dict, std::string_view key, const std::string& path) {
  const std::string quoted_single = fmt::format("'{}'", key);
  const std::string quoted_double = fmt::format("\"{}\"", key);
  std::size_t pos = dict.find(quoted_single);
  std::size_t key_size = quoted_single.size();
  if (pos == std::string_view::npos) {
    pos = dict.find(quoted_double);
    key_size = quoted_double.size();
  }
  XGRAD_CHECK(pos != std::string_view::npos, "load_npy: '{}' has no '{}' entry in its header", path, key);
  pos = dict.find(':', pos + key_size);
  XGRAD_CHECK(pos != std::string_view::npos, "load_npy: '{}' has a malformed header (no ':' after '{}')", path, key);
  ++pos;
  while (pos < dict.size() && dict[pos] == ' ') ++pos;
  std::size_t end = pos;
  int depth = 0;
  while (end < dict.size()) {
    const char c = dict[end];
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (depth < 0 || (depth == 0 && (c == ',' || c == '}'))) break;
    ++end;
  }
  if (end < dict.size() && dict[end] == ')') ++end;
  return dict.substr(pos, end - pos);
}

Header parse_header(std::string_view dict, const std::string& path) {
  Header header;
  XGRAD_CHECK(!dict.empty() && dict.front() == '{', "load_npy: '{}' has a malformed header (expected a dict)", path);
  std::string_view descr = dict_value(dict, "descr", path);
  if (descr.size() >= 2 && (descr.front() == '\'' || descr.front() == '"')) descr = descr.substr(1, descr.size() - 2);
  if (descr == "<f4" || descr == "=f4") {
    header.dtype = kFloat32;
  } else if (descr == "<f8" || descr == "=f8") {
    header.dtype = kFloat64;
  } else if (descr == "<i8" || descr == "=i8") {
    header.dtype = kInt64;
  } else if (descr == "|b1") {
    header.dtype = kBool;
  } else {
    fail("load_npy: '{}' holds dtype '{}'; xgrad reads little-endian float32 ('<f4'), float64 ('<f8'), int64 "
         "('<i8') and bool ('|b1')",
         path, descr);
  }
  const std::string_view order = dict_value(dict, "fortran_order", path);
  XGRAD_CHECK(order == "False" || order == "True", "load_npy: '{}' has a malformed fortran_order '{}'", path, order);
  header.fortran_order = order == "True";
  std::string_view shape = dict_value(dict, "shape", path);
  XGRAD_CHECK(shape.size() >= 2 && shape.front() == '(' && shape.back() == ')',
              "load_npy: '{}' has a malformed shape '{}'", path, shape);
  shape = shape.substr(1, shape.size() - 2);
  // Python's tuple repr: "d0, d1, ..." with an optional trailing comma. Anything
  // else ("2 3", "2,,3", "-1", "1.5") is corrupted text, not a shape.
  std::size_t pos = 0;
  auto skip_spaces = [&] {
    while (pos < shape.size() && shape[pos] == ' ') ++pos;
  };
  skip_spaces();
  while (pos < shape.size()) {
    std::int64_t value = 0;
    std::size_t digits = 0;
    while (pos < shape.size() && shape[pos] >= '0' && shape[pos] <= '9') {
      XGRAD_CHECK(value <= (INT64_MAX - 9) / 10, "load_npy: '{}' has a dimension too large in shape ({})", path, shape);
      value = value * 10 + (shape[pos] - '0');
      ++pos;
      ++digits;
    }
    if (pos < shape.size() && shape[pos] == 'L') ++pos;  // Python 2 longs
    skip_spaces();
    XGRAD_CHECK(digits > 0 && (pos >= shape.size() || shape[pos] == ','), "load_npy: '{}' has a malformed shape ({})",
                path, shape);
    header.shape.push_back(value);
    XGRAD_CHECK(header.shape.size() <= 64, "load_npy: '{}' has more than 64 dimensions", path);
    if (pos < shape.size()) ++pos;  // the comma
    skip_spaces();
  }
  return header;
}

// numel * element_size as decimal text, exact even where it exceeds 64 bits.
std::string byte_count(std::int64_t numel, std::size_t element) {
  unsigned __int128 bytes = static_cast<unsigned __int128>(numel) * element;
  std::string digits;
  do {
    digits.insert(digits.begin(), static_cast<char>('0' + static_cast<int>(bytes % 10)));
    bytes /= 10;
  } while (bytes > 0);
  return digits;
}

constexpr std::string_view npy_descr(Dtype dtype) {
  switch (dtype) {
    case Dtype::Float32: return "<f4";
    case Dtype::Float64: return "<f8";
    case Dtype::Int64: return "<i8";
    case Dtype::Bool: return "|b1";
  }
  return "";
}


Tensor read_npy(const std::string& path) {
  InputFile file(path, "load_npy", InputFile::Accept::regular_or_fifo);
  // A FIFO's size is unknown: its reads stop at the end of the stream instead.
  const bool sized = !file.is_fifo();
  char preamble[10] = {};
  const std::size_t got = file.read(preamble, sizeof(preamble));
  XGRAD_CHECK(got == sizeof(preamble), "load_npy: '{}' is not a .npy file (too short: {} bytes)", path, got);
  XGRAD_CHECK(std::memcmp(preamble, kMagic, kMagicSize) == 0, "load_npy: '{}' is not a .npy file (bad magic)", path);
  const int major = static_cast<unsigned char>(preamble[6]);
  std::uint64_t header_size = 0;
  if (major == 1) {
    header_size = static_cast<unsigned char>(preamble[8]) | (static_cast<unsigned char>(preamble[9]) << 8);
  } else if (major == 2 || major == 3) {
    unsigned char extra[2];
    file.read_exact(extra, 2, "the header length");
    header_size = static_cast<unsigned char>(preamble[8]) | (static_cast<unsigned char>(preamble[9]) << 8) |
                  (static_cast<std::uint64_t>(extra[0]) << 16) | (static_cast<std::uint64_t>(extra[1]) << 24);
  } else {
    fail("load_npy: '{}' has unsupported .npy format version {}", path, major);
  }
  const std::uint64_t data_start = file.position();
  XGRAD_CHECK(!sized || file.size() - data_start >= header_size,
              "load_npy: '{}' is truncated (header of {} bytes, file of {} bytes)", path, header_size, file.size());
  // A version 2 header may claim 4 GiB; from a stream, read it in pieces as it arrives.
  std::string dict;
  while (dict.size() < header_size) {
    const std::size_t step = static_cast<std::size_t>(std::min<std::uint64_t>(header_size - dict.size(), 1 << 16));
    const std::size_t old_size = dict.size();
    dict.resize(old_size + step);
    file.read_exact(dict.data() + old_size, step, "the header");
  }
  const Header header = parse_header(dict, path);
  const std::int64_t numel = checked_numel(header.shape, "load_npy");
  const std::size_t element = element_size(header.dtype);
  const std::uint64_t needed = static_cast<std::uint64_t>(numel) * element;
  XGRAD_CHECK(numel == 0 || needed / element == static_cast<std::uint64_t>(numel),
              "load_npy: '{}' is corrupted or too large: shape {} of {} needs {} bytes of data", path, header.shape,
              header.dtype, byte_count(numel, element));
  if (sized) {
    const std::uint64_t available = file.size() - file.position();
    XGRAD_CHECK(available >= needed, "load_npy: '{}' is truncated: shape {} of {} needs {} bytes of data, the file has {}",
                path, header.shape, header.dtype, needed, available);
  }
  Shape stored = header.shape;
  if (header.fortran_order) std::reverse(stored.begin(), stored.end());
  Tensor out;
  if (sized) {
    out = make_uninitialized(stored, header.dtype, "load_npy");
    file.read_exact(out.impl()->storage->data(), static_cast<std::size_t>(needed), "the data");
  } else {
    // From a stream, memory grows only as fast as data arrives: a header that
    // claims terabytes cannot make the reader allocate them.
    std::vector<char> data;
    while (data.size() < needed) {
      const std::size_t step = static_cast<std::size_t>(std::min<std::uint64_t>(needed - data.size(), 1 << 24));
      const std::size_t old_size = data.size();
      data.resize(old_size + step);
      const std::size_t got_now = file.read(data.data() + old_size, step);
      XGRAD_CHECK(got_now == step, "load_npy: '{}' is truncated: shape {} of {} needs {} bytes of data, the stream "
                  "ended after {}", path, header.shape, header.dtype, needed, old_size + got_now);
    }
    out = make_uninitialized(stored, header.dtype, "load_npy");
    if (needed > 0) std::memcpy(out.impl()->storage->data(), data.data(), static_cast<std::size_t>(needed));
  }
  if (header.dtype == kBool) {
    // A bool byte other than 0 or 1 is not a C++ bool: read as NumPy does, nonzero is true.
    auto* bytes = static_cast<unsigned char*>(out.impl()->storage->data());
    for (std::int64_t i = 0; i < numel; ++i) bytes[i] = bytes[i] != 0;
  }
  if (header.fortran_order && stored.size() > 1) {
    std::vector<std::int64_t> reversed(stored.size());
    std::iota(reversed.rbegin(), reversed.rend(), 0);
    out = detail::permute_values(out, reversed);
  }
  return out;
}

void write_npy(const std::string& path, const Tensor& tensor) {
  XGRAD_CHECK(tensor.defined(), "save_npy: cannot save an undefined tensor to '{}'", path);
  const Shape& shape = tensor.shape();
  std::string shape_text = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) shape_text += fmt::format("{}, ", shape[i]);
  if (shape.size() > 1) shape_text.resize(shape_text.size() - 2);
  if (shape.size() == 1) shape_text.resize(shape_text.size() - 1);
  shape_text += ")";
  std::string dict = fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}",
                                 npy_descr(tensor.dtype()), shape_text);
  // Pad with spaces so the data starts on a 64-byte boundary; the header ends with '\n'.
  const std::size_t total = 10 + dict.size() + 1;
  dict.append((64 - total % 64) % 64, ' ');
  dict += '\n';
  XGRAD_CHECK(dict.size() <= 65535, "save_npy: shape {} makes a header too long for .npy version 1.0", shape);
  AtomicFile file(path, "save_npy");
  file.write(kMagic, kMagicSize);
  const char version[2] = {1, 0};
  file.write(version, 2);
  const char size[2] = {static_cast<char>(dict.size() & 0xff), static_cast<char>(dict.size() >> 8)};
  file.write(size, 2);
  file.write(dict);
  const void* data = tensor.impl()->storage->data();  // contiguous, any dtype
  file.write(data, static_cast<std::size_t>(tensor.numel()) * element_size(tensor.dtype()));
  file.commit();
}

}  // namespace

Tensor load_npy(const std::string& path) {
  return with_file_errors("load_npy", path, [&] { return read_npy(path); });
}

void save_npy(const std::string& path, const Tensor& tensor) {
  with_file_errors("save_npy", path, [&] { write_npy(path, tensor); });
}

}  // namespace xgrad
