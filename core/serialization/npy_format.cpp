// A strict .npy codec. xtensor ships xt::load_npy, but it trusts the header (a
// corrupted shape becomes a huge allocation) and its errors are not
// xgrad::Error; this one validates every field against the bytes first.
#include "core/serialization/npy_format.hpp"

#include <bit>
#include <cmath>
#include <cstring>

#include "core/error.hpp"
#include "core/shape.hpp"

namespace xgrad::detail {

namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr std::size_t kMagicSize = 6;

// IEEE half precision to float, exactly (every half is a float).
float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exponent = (h >> 10) & 0x1fu;
  const std::uint32_t mantissa = h & 0x3ffu;
  if (exponent == 0) {  // zero or subnormal: mantissa * 2^-24
    const float magnitude = std::ldexp(static_cast<float>(mantissa), -24);
    return sign ? -magnitude : magnitude;
  }
  if (exponent == 31) return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));  // inf, NaN
  return std::bit_cast<float>(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

// The raw bits of one stored element, in native (little-endian) order.
std::uint64_t load_bits(const unsigned char* p, const StoredType& type) {
  std::uint64_t bits = 0;
  for (int b = 0; b < type.size; ++b) {
    const int shift = 8 * (type.big_endian ? type.size - 1 - b : b);
    bits |= static_cast<std::uint64_t>(p[b]) << shift;
  }
  return bits;
}

template <class T>
T load_element(const unsigned char* p, const StoredType& type) {
  const std::uint64_t bits = load_bits(p, type);
  if constexpr (std::is_same_v<T, bool>) {
    return bits != 0;  // NumPy reads any nonzero byte as true
  } else if constexpr (std::is_same_v<T, std::int64_t>) {
    if (type.kind == 'u' || type.size == 8) return static_cast<std::int64_t>(bits);
    const int unused = 64 - 8 * type.size;  // sign-extend from the stored width
    return static_cast<std::int64_t>(bits << unused) >> unused;
  } else if constexpr (std::is_same_v<T, float>) {
    if (type.size == 2) return half_to_float(static_cast<std::uint16_t>(bits));
    return std::bit_cast<float>(static_cast<std::uint32_t>(bits));
  } else {
    return std::bit_cast<double>(bits);
  }
}

bool is_native(const StoredType& type) {
  const StoredType native = stored_type_of(type.dtype);
  return type.kind == native.kind && type.size == native.size && (!type.big_endian || type.size == 1);
}

// Value of 'key' in the header dict, as raw text up to the next top-level comma or brace.
std::string_view dict_value(std::string_view dict, std::string_view key, std::string_view where) {
  const std::string quoted_single = fmt::format("'{}'", key);
  const std::string quoted_double = fmt::format("\"{}\"", key);
  std::size_t pos = dict.find(quoted_single);
  std::size_t key_size = quoted_single.size();
  if (pos == std::string_view::npos) {
    pos = dict.find(quoted_double);
    key_size = quoted_double.size();
  }
  XGRAD_CHECK(pos != std::string_view::npos, "{} has no '{}' entry in its header", where, key);
  pos = dict.find(':', pos + key_size);
  XGRAD_CHECK(pos != std::string_view::npos, "{} has a malformed header (no ':' after '{}')", where, key);
  ++pos;
  while (pos < dict.size() && dict[pos] == ' ') ++pos;
  std::size_t end = pos;
  int depth = 0;
  while (end < dict.size()) {
    const char c = dict[end];
    if (c == '(' || c == '[') ++depth;
    if (c == ')' || c == ']') --depth;
    if (depth < 0 || (depth == 0 && (c == ',' || c == '}'))) break;
    ++end;
  }
  if (end < dict.size() && (dict[end] == ')' || dict[end] == ']')) ++end;
  return dict.substr(pos, end - pos);
}

// '<f4', '>i2', '|u1', '=f8' and the like; anything else is refused naming it.
StoredType parse_descr(std::string_view descr, std::string_view where) {
  auto refuse = [&]() -> StoredType {
    fail("{} holds dtype '{}'; xgrad reads float16/32/64 ('<f2' '<f4' '<f8'), int8/16/32/64 ('|i1' '<i2' '<i4' "
         "'<i8'), uint8 ('|u1') and bool ('|b1'), little- or big-endian ('>f4')",
         where, descr);
  };
  if (descr.size() != 3 || descr[2] < '1' || descr[2] > '8') return refuse();
  StoredType type;
  type.kind = descr[1];
  type.size = descr[2] - '0';
  const char order = descr[0];
  if (order == '|') {
    if (type.size != 1) return refuse();  // '|' is for types without a byte order
  } else if (order == '>') {
    type.big_endian = true;
  } else if (order != '<' && order != '=') {
    return refuse();
  }
  if (type.kind == 'f' && (type.size == 2 || type.size == 4)) {
    type.dtype = kFloat32;
  } else if (type.kind == 'f' && type.size == 8) {
    type.dtype = kFloat64;
  } else if (type.kind == 'i' && (type.size == 1 || type.size == 2 || type.size == 4 || type.size == 8)) {
    type.dtype = kInt64;
  } else if (type.kind == 'u' && type.size == 1) {
    type.dtype = kInt64;
  } else if (type.kind == 'b' && type.size == 1) {
    type.dtype = kBool;
  } else {
    return refuse();
  }
  return type;
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

}  // namespace

StoredType stored_type_of(Dtype dtype) {
  switch (dtype) {
    case Dtype::Float32: return {.kind = 'f', .size = 4, .dtype = dtype};
    case Dtype::Float64: return {.kind = 'f', .size = 8, .dtype = dtype};
    case Dtype::Int64: return {.kind = 'i', .size = 8, .dtype = dtype};
    case Dtype::Bool: break;
  }
  return {.kind = 'b', .size = 1, .dtype = kBool};
}

std::int64_t strided_extent(const Shape& shape, const std::vector<std::int64_t>& strides, std::int64_t offset) {
  if (strides.size() != shape.size() || offset < 0) return -1;
  __int128 last = offset;
  for (std::size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] < 0 || strides[d] < 0) return -1;
    if (shape[d] == 0) return 0;
  }
  for (std::size_t d = 0; d < shape.size(); ++d) {
    last += static_cast<__int128>(shape[d] - 1) * strides[d];
    if (last >= INT64_MAX) return -1;
  }
  return static_cast<std::int64_t>(last + 1);
}

Tensor gather_elements(std::string_view storage, const StoredType& type, const Shape& shape,
                       const std::vector<std::int64_t>& strides, std::int64_t offset, std::string_view op) {
  Tensor out = make_uninitialized(shape, type.dtype, op);
  const std::int64_t numel = out.numel();
  if (numel == 0) return out;
  const auto* bytes = reinterpret_cast<const unsigned char*>(storage.data());
  // Row-major strides of `shape`: where a view is already laid out so, one copy does.
  bool row_major = true;
  std::int64_t expected = 1;
  for (std::size_t d = shape.size(); d-- > 0;) {
    if (shape[d] != 1 && strides[d] != expected) row_major = false;
    expected *= shape[d];
  }
  void* destination = out.impl()->storage->data();
  if (row_major && is_native(type) && type.dtype != kBool) {
    std::memcpy(destination, bytes + offset * type.size, static_cast<std::size_t>(numel) * type.size);
    return out;
  }
  dispatch_all(type.dtype, [&](auto tag) {
    using T = decltype(tag);
    T* values = static_cast<T*>(destination);
    const std::size_t rank = shape.size();
    std::vector<std::int64_t> index(rank, 0);
    std::int64_t position = offset;
    for (std::int64_t i = 0; i < numel; ++i) {
      values[i] = load_element<T>(bytes + position * type.size, type);
      for (std::size_t d = rank; d-- > 0;) {  // advance the row-major multi-index
        position += strides[d];
        if (++index[d] < shape[d]) break;
        position -= strides[d] * shape[d];
        index[d] = 0;
      }
    }
  });
  return out;
}

NpyPreamble parse_npy_preamble(std::string_view bytes, std::string_view where) {
  XGRAD_CHECK(bytes.size() >= kNpyPreambleSize, "{} is not a .npy file (too short: {} bytes)", where, bytes.size());
  XGRAD_CHECK(std::memcmp(bytes.data(), kMagic, kMagicSize) == 0, "{} is not a .npy file (bad magic)", where);
  const auto byte = [&](std::size_t i) { return static_cast<std::uint64_t>(static_cast<unsigned char>(bytes[i])); };
  const std::uint64_t major = byte(6);
  if (major == 1) return {.header_start = 10, .header_size = byte(8) | (byte(9) << 8)};
  XGRAD_CHECK(major == 2 || major == 3, "{} has unsupported .npy format version {}", where, major);
  if (bytes.size() < 12) return {.header_start = 12, .header_size = 0};  // ask for the 2 more bytes
  return {.header_start = 12, .header_size = byte(8) | (byte(9) << 8) | (byte(10) << 16) | (byte(11) << 24)};
}

NpyHeader parse_npy_header(std::string_view dict, std::string_view where) {
  NpyHeader header;
  XGRAD_CHECK(!dict.empty() && dict.front() == '{', "{} has a malformed header (expected a dict)", where);
  std::string_view descr = dict_value(dict, "descr", where);
  if (descr.size() >= 2 && (descr.front() == '\'' || descr.front() == '"') && descr.back() == descr.front()) {
    descr = descr.substr(1, descr.size() - 2);
  }
  header.descr = std::string(descr.substr(0, 64));
  header.type = parse_descr(descr.substr(0, 64), where);
  const std::string_view order = dict_value(dict, "fortran_order", where);
  XGRAD_CHECK(order == "False" || order == "True", "{} has a malformed fortran_order '{}'", where, order);
  header.fortran_order = order == "True";
  std::string_view shape = dict_value(dict, "shape", where);
  XGRAD_CHECK(shape.size() >= 2 && shape.front() == '(' && shape.back() == ')', "{} has a malformed shape '{}'", where,
              shape);
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
      XGRAD_CHECK(value <= (INT64_MAX - 9) / 10, "{} has a dimension too large in shape ({})", where, shape);
      value = value * 10 + (shape[pos] - '0');
      ++pos;
      ++digits;
    }
    if (pos < shape.size() && shape[pos] == 'L') ++pos;  // Python 2 longs
    skip_spaces();
    XGRAD_CHECK(digits > 0 && (pos >= shape.size() || shape[pos] == ','), "{} has a malformed shape ({})", where, shape);
    header.shape.push_back(value);
    XGRAD_CHECK(header.shape.size() <= 64, "{} has more than 64 dimensions", where);
    if (pos < shape.size()) ++pos;  // the comma
    skip_spaces();
  }
  header.numel = checked_numel(header.shape, where);
  const auto element = static_cast<std::size_t>(header.type.size);
  header.data_size = static_cast<std::uint64_t>(header.numel) * element;
  XGRAD_CHECK(header.numel == 0 || header.data_size / element == static_cast<std::uint64_t>(header.numel),
              "{} is corrupted or too large: shape {} of '{}' needs {} bytes of data", where, header.shape,
              header.descr, byte_count(header.numel, element));
  return header;
}

Tensor decode_npy_data(const NpyHeader& header, std::string_view data, std::string_view where) {
  XGRAD_CHECK(data.size() >= header.data_size, "{} is truncated: shape {} of '{}' needs {} bytes of data, the file has {}",
              where, header.shape, header.descr, header.data_size, data.size());
  // Fortran order: element (i0, i1, ...) is at i0 + i1 * d0 + ...; C order the reverse.
  std::vector<std::int64_t> strides(header.shape.size());
  std::int64_t stride = 1;
  for (std::size_t k = 0; k < header.shape.size(); ++k) {
    const std::size_t d = header.fortran_order ? k : header.shape.size() - 1 - k;
    strides[d] = stride;
    stride *= std::max<std::int64_t>(header.shape[d], 1);
  }
  return gather_elements(data, header.type, header.shape, strides, 0, where);
}

Tensor decode_npy(std::string_view bytes, std::string_view where) {
  NpyPreamble preamble = parse_npy_preamble(bytes, where);
  XGRAD_CHECK(bytes.size() >= preamble.header_start, "{} is truncated (in the header length)", where);
  preamble = parse_npy_preamble(bytes, where);
  XGRAD_CHECK(bytes.size() - preamble.header_start >= preamble.header_size,
              "{} is truncated (header of {} bytes, file of {} bytes)", where, preamble.header_size, bytes.size());
  const NpyHeader header =
      parse_npy_header(bytes.substr(preamble.header_start, static_cast<std::size_t>(preamble.header_size)), where);
  return decode_npy_data(header, bytes.substr(preamble.header_start + static_cast<std::size_t>(preamble.header_size)),
                         where);
}

std::string encode_npy(const Tensor& tensor, std::string_view where) {
  XGRAD_CHECK(tensor.defined(), "{}: cannot save an undefined tensor", where);
  const Shape& shape = tensor.shape();
  std::string shape_text = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) shape_text += fmt::format("{}, ", shape[i]);
  if (shape.size() > 1) shape_text.resize(shape_text.size() - 2);
  if (shape.size() == 1) shape_text.resize(shape_text.size() - 1);
  shape_text += ")";
  const StoredType type = stored_type_of(tensor.dtype());
  const std::string descr = fmt::format("{}{}{}", type.size == 1 ? '|' : '<', type.kind, type.size);
  std::string dict = fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}", descr, shape_text);
  // Pad with spaces so the data starts on a 64-byte boundary; the header ends with '\n'.
  const std::size_t total = 10 + dict.size() + 1;
  dict.append((64 - total % 64) % 64, ' ');
  dict += '\n';
  XGRAD_CHECK(dict.size() <= 65535, "{}: shape {} makes a header too long for .npy version 1.0", where, shape);
  const std::size_t data_size = static_cast<std::size_t>(tensor.numel()) * element_size(tensor.dtype());
  std::string bytes;
  bytes.reserve(10 + dict.size() + data_size);
  bytes.append(kMagic, kMagicSize);
  bytes += '\x01';
  bytes += '\x00';
  bytes += static_cast<char>(dict.size() & 0xff);
  bytes += static_cast<char>(dict.size() >> 8);
  bytes += dict;
  bytes.append(static_cast<const char*>(tensor.impl()->storage->data()), data_size);  // contiguous, little-endian
  return bytes;
}

}  // namespace xgrad::detail
