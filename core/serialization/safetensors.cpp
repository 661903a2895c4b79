// .safetensors, Hugging Face's tensor file, from its public specification:
//
//   8 bytes   N: u64, little-endian, the length of the header
//   N bytes   the header: a UTF-8 JSON object that starts with '{' and may be padded
//             with trailing spaces:
//               {"<name>": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...,
//                "__metadata__": {"<key>": "<text>", ...}}        (__metadata__ optional)
//   the rest  the byte buffer: each tensor's values, row-major and little-endian, at
//             [begin, end) of the buffer; the ranges are contiguous, never overlap and
//             cover the buffer exactly.
//
// Reading accepts F32 F64 I64 BOOL as they are, F16 and BF16 as float32 and I8 I16 I32
// U8 as int64 (the nearest xgrad dtype, as load_npy does); any other dtype is an error
// naming it. Entries come back in buffer order, which is the state-dict order for files
// xgrad wrote. The header is parsed by a SAX handler that checks each value as it
// arrives (no document tree, so a header costs memory in proportion to its entries, not
// its nesting or numbers), and every size is checked against the file before anything
// is allocated.
//
// Writing stores the state dict in its order (header entries and byte buffer alike),
// with "__metadata__": {"format": "pt"} first (the layout and names are PyTorch's, and
// Hugging Face's loaders look for that key), and pads the header with spaces to a
// multiple of 8 bytes as the reference implementation does, so every tensor's data
// starts 8-byte aligned in the file.
#include <algorithm>
#include <bit>
#include <cstring>
#include <set>
#include <string_view>
#include <unordered_set>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/file_io.hpp"
#include "core/serialization/formats.hpp"

namespace xgrad::detail {

static_assert(std::endian::native == std::endian::little,
              ".safetensors holds little-endian values, read and written with memcpy: add byte swapping here");

namespace {

// The reference implementation refuses longer headers; a corrupted length must not
// make the reader allocate whatever it says.
constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;
constexpr std::size_t kMaxRank = 64;
constexpr std::string_view kMetadataKey = "__metadata__";

// A dtype of the file: its name, bytes per element, and the xgrad dtype it reads into.
struct FileDtype {
  std::string_view name;
  std::size_t size;
  Dtype dtype;
};

constexpr FileDtype kFileDtypes[] = {
    {"F32", 4, kFloat32}, {"F64", 8, kFloat64}, {"I64", 8, kInt64},  {"BOOL", 1, kBool},  {"F16", 2, kFloat32},
    {"BF16", 2, kFloat32}, {"I8", 1, kInt64},   {"I16", 2, kInt64},  {"I32", 4, kInt64}, {"U8", 1, kInt64},
};

// The name xgrad writes for each dtype (the first four rows above).
std::string_view file_dtype_name(Dtype dtype) {
  for (const FileDtype& row : kFileDtypes)
    if (row.dtype == dtype && row.size == element_size(dtype)) return row.name;
  fail("save .safetensors: dtype {} has no safetensors name", dtype);
}

// One tensor as the header describes it.
struct Entry {
  std::string name;
  const FileDtype* dtype = nullptr;
  Shape shape;
  std::uint64_t begin = 0, end = 0;
};

// Reads the header's JSON event by event (nlohmann's SAX interface), checking the
// structure the specification allows and nothing more: a top-level object whose values
// are entry objects {dtype, shape, data_offsets} or the __metadata__ object of strings.
// Any other structure, a duplicate key, a negative or fractional number is an
// xgrad::Error naming the entry.
class HeaderReader final : public nlohmann::json_sax<nlohmann::json> {
 public:
  HeaderReader(const std::string& path, const std::string& op) : path_(path), op_(op) {}

  bool finished() const { return where_ == Where::done; }
  std::vector<Entry> take_entries() { return std::move(entries_); }

  bool start_object(std::size_t) override {
    if (where_ == Where::start) {
      where_ = Where::top;
    } else if (where_ == Where::top_value) {
      where_ = key_ == kMetadataKey ? Where::metadata : Where::entry;
      entry_ = Entry();
      entry_.name = key_;
      keys_.clear();
    } else {
      unexpected("an object");
    }
    return true;
  }

  bool key(string_t& key) override {
    if (where_ == Where::top) {
      check(names_.insert(key).second, "the name '{}' appears twice", key);
      key_ = key;
      where_ = Where::top_value;
      return true;
    }
    // The parser calls key() only inside an object: here an entry or __metadata__.
    check(keys_.insert(key).second, "{} has the key '{}' twice", context(), key);
    field_ = key;
    check(where_ == Where::metadata || field_ == "dtype" || field_ == "shape" || field_ == "data_offsets",
          "{} has an unknown field '{}' (an entry has exactly dtype, shape and data_offsets)", context(), key);
    return true;
  }

  bool string(string_t& value) override {
    if (where_ == Where::metadata) return true;  // free-form text, which a StateDict has no place for
    if (where_ != Where::entry || field_ != "dtype") unexpected(fmt::format("the string '{}'", value));
    const auto row = std::find_if(std::begin(kFileDtypes), std::end(kFileDtypes),
                                  [&](const FileDtype& candidate) { return candidate.name == value; });
    check(row != std::end(kFileDtypes),
          "entry '{}' holds dtype '{}', which xgrad does not read (it reads F32, F64, I64 and BOOL as they are, F16 "
          "and BF16 as float32, I8, I16, I32 and U8 as int64)",
          entry_.name, value);
    entry_.dtype = &*row;
    return true;
  }

  bool number_unsigned(number_unsigned_t value) override {
    if (where_ == Where::shape) {
      check(entry_.shape.size() < kMaxRank, "entry '{}' has more than {} dimensions", entry_.name, kMaxRank);
      check(value <= static_cast<std::uint64_t>(INT64_MAX), "entry '{}' has a dimension of {}, beyond 64-bit sizes",
            entry_.name, value);
      entry_.shape.push_back(static_cast<std::int64_t>(value));
    } else if (where_ == Where::offsets) {
      check(offsets_seen_ < 2, "entry '{}' has more than two data_offsets", entry_.name);
      (offsets_seen_ == 0 ? entry_.begin : entry_.end) = value;
      ++offsets_seen_;
    } else {
      unexpected(fmt::format("the number {}", value));
    }
    return true;
  }
  // Only negative integers arrive here (nlohmann reports the others as unsigned).
  bool number_integer(number_integer_t value) override {
    unexpected(fmt::format("the negative number {}", value));
  }
  // Fractions, exponents and integers beyond 64 bits.
  bool number_float(number_float_t, const string_t& text) override {
    unexpected(fmt::format("the number {} (not an integer below 2^64)", text));
  }
  bool null() override { unexpected("null"); }
  bool boolean(bool value) override { unexpected(value ? "true" : "false"); }
  bool binary(binary_t&) override { unexpected("binary data"); }

  bool start_array(std::size_t) override {
    if (where_ != Where::entry || (field_ != "shape" && field_ != "data_offsets")) unexpected("an array");
    where_ = field_ == "shape" ? Where::shape : Where::offsets;
    offsets_seen_ = 0;
    return true;
  }
  bool end_array() override {
    if (where_ == Where::offsets) {
      check(offsets_seen_ == 2, "entry '{}' has {} data_offsets, not two", entry_.name, offsets_seen_);
      check(entry_.end >= entry_.begin, "entry '{}' has data_offsets [{}, {}] that end before they begin", entry_.name,
            entry_.begin, entry_.end);
    }
    where_ = Where::entry;
    return true;
  }

  bool end_object() override {
    if (where_ == Where::entry) {
      for (const char* field : {"dtype", "shape", "data_offsets"})
        check(keys_.count(field) == 1, "entry '{}' has no {} (an entry has dtype, shape and data_offsets)",
              entry_.name, field);
      entries_.push_back(std::move(entry_));
    }
    where_ = where_ == Where::top ? Where::done : Where::top;
    return true;
  }

  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& error) override {
    fail("{}: '{}' has a malformed JSON header: {}", op_, path_, error.what());
  }

 private:
  enum class Where { start, top, top_value, entry, shape, offsets, metadata, done };

  template <class... Args>
  void check(bool ok, fmt::format_string<Args...> format, Args&&... args) const {
    if (!ok) fail("{}: '{}' has a corrupted header: {}", op_, path_, fmt::format(format, std::forward<Args>(args)...));
  }
  std::string context() const {
    return where_ == Where::metadata ? std::string("__metadata__") : fmt::format("entry '{}'", entry_.name);
  }
  // A value the structure does not allow where it stands: an error saying where.
  [[noreturn]] void unexpected(const std::string& what) const {
    std::string where;
    switch (where_) {
      case Where::start: where = "the header is " + what + ", not a JSON object"; break;
      case Where::top_value: where = fmt::format("'{}' is {}, not an object", key_, what); break;
      case Where::metadata: where = fmt::format("__metadata__ value '{}' is {}, not a string", field_, what); break;
      case Where::shape: where = fmt::format("entry '{}' has {} in its shape", entry_.name, what); break;
      case Where::offsets: where = fmt::format("entry '{}' has {} in its data_offsets", entry_.name, what); break;
      case Where::entry: where = fmt::format("entry '{}' has {} as its {}", entry_.name, what, field_); break;
      case Where::top: case Where::done: where = "unexpected " + what; break;
    }
    fail("{}: '{}' has a corrupted header: {}", op_, path_, where);
  }

  const std::string& path_;
  const std::string& op_;
  Where where_ = Where::start;
  std::string key_;                        // the top-level key whose value comes next
  std::string field_;                      // the current key inside an entry or __metadata__
  std::unordered_set<std::string> names_;  // top-level keys so far
  std::set<std::string> keys_;             // keys of the current entry or __metadata__
  Entry entry_;
  int offsets_seen_ = 0;
  std::vector<Entry> entries_;
};

// Elements of `shape` (whose extents are non-negative), or an error when the product of
// its non-zero extents does not fit in 64 bits (as checked_numel requires of every shape).
std::int64_t entry_numel(const Entry& entry, const std::string& path, const std::string& op) {
  std::int64_t nonzero = 1;
  bool empty = false;
  for (std::int64_t extent : entry.shape) {
    if (extent == 0) {
      empty = true;
      continue;
    }
    XGRAD_CHECK(!__builtin_mul_overflow(nonzero, extent, &nonzero),
                "{}: '{}' has a corrupted header: entry '{}' has shape {}, more elements than 64 bits can count", op,
                path, entry.name, entry.shape);
  }
  return empty ? 0 : nonzero;
}

// Converts `count` elements stored as `from` (little-endian, unaligned) into `out`.
void convert_elements(const FileDtype& from, const unsigned char* raw, std::int64_t count, Tensor& out) {
  auto load = [&](auto tag, std::int64_t i) {
    decltype(tag) value;
    std::memcpy(&value, raw + static_cast<std::size_t>(i) * sizeof(value), sizeof(value));
    return value;
  };
  if (from.name == "F16") {
    float* data = out.data_ptr<float>();
    for (std::int64_t i = 0; i < count; ++i) {
      // IEEE binary16: 1 sign, 5 exponent (bias 15), 10 fraction bits; exact in binary32.
      const std::uint16_t half = load(std::uint16_t{}, i);
      const std::uint32_t sign = static_cast<std::uint32_t>(half & 0x8000u) << 16;
      const std::uint32_t exponent = (half >> 10) & 0x1Fu, fraction = half & 0x3FFu;
      std::uint32_t bits;
      if (exponent == 0x1F) {
        bits = sign | 0x7F800000u | (fraction << 13);  // infinity, or NaN with its payload
      } else if (exponent != 0) {
        bits = sign | ((exponent + 112) << 23) | (fraction << 13);  // rebias 15 -> 127
      } else {
        const float magnitude = std::ldexp(static_cast<float>(fraction), -24);  // zero or subnormal
        bits = sign | std::bit_cast<std::uint32_t>(magnitude);
      }
      data[i] = std::bit_cast<float>(bits);
    }
  } else if (from.name == "BF16") {
    // bfloat16 is the upper half of a binary32.
    float* data = out.data_ptr<float>();
    for (std::int64_t i = 0; i < count; ++i)
      data[i] = std::bit_cast<float>(static_cast<std::uint32_t>(load(std::uint16_t{}, i)) << 16);
  } else {
    std::int64_t* data = out.data_ptr<std::int64_t>();
    for (std::int64_t i = 0; i < count; ++i) {
      if (from.name == "I8") data[i] = load(std::int8_t{}, i);
      else if (from.name == "I16") data[i] = load(std::int16_t{}, i);
      else if (from.name == "I32") data[i] = load(std::int32_t{}, i);
      else data[i] = load(std::uint8_t{}, i);  // U8
    }
  }
}

StateDict read_file(const std::string& path, const std::string& op) {
  InputFile file(path, op);
  const std::uint64_t size = file.size();
  XGRAD_CHECK(size >= 8, "{}: '{}' is not a .safetensors file: {} bytes, shorter than the 8-byte header length", op,
              path, size);
  unsigned char length_bytes[8];
  file.read_exact(length_bytes, 8, "the header length");
  std::uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = header_size << 8 | length_bytes[i];
  XGRAD_CHECK(header_size <= size - 8, "{}: '{}' is truncated or corrupted: its header length is {} bytes, the {} "
              "bytes after the length field cannot hold it", op, path, header_size, size - 8);
  XGRAD_CHECK(header_size <= kMaxHeaderBytes, "{}: '{}' has a header of {} bytes, more than the {} the format allows",
              op, path, header_size, kMaxHeaderBytes);
  std::string header(static_cast<std::size_t>(header_size), '\0');
  file.read_exact(header.data(), header.size(), "the header");
  XGRAD_CHECK(!header.empty() && header.front() == '{',
              "{}: '{}' is not a .safetensors file: its header does not start with '{{'", op, path);
  // JSON text never holds a raw NUL (strings escape it), and nlohmann's parser would take
  // one for the end of the input, accepting whatever follows.
  const std::size_t nul = header.find('\0');
  XGRAD_CHECK(nul == std::string::npos, "{}: '{}' has a malformed JSON header: a NUL byte at offset {}", op, path,
              nul);

  HeaderReader reader(path, op);
  nlohmann::json::sax_parse(header, &reader);
  XGRAD_CHECK(reader.finished(), "{}: '{}' has a malformed JSON header", op, path);
  std::vector<Entry> entries = reader.take_entries();

  // The ranges must tile the buffer: sorted by offset, each starts where the last ended.
  const std::uint64_t buffer_size = size - 8 - header_size;
  std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  std::uint64_t covered = 0;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const Entry& entry = entries[i];
    const std::int64_t numel = entry_numel(entry, path, op);
    const unsigned __int128 bytes = static_cast<unsigned __int128>(numel) * entry.dtype->size;
    XGRAD_CHECK(bytes == entry.end - entry.begin,
                "{}: '{}' has a corrupted header: entry '{}' of shape {} and dtype {} ({} elements of {} bytes) "
                "does not fit its data_offsets [{}, {}], which span {} bytes",
                op, path, entry.name, entry.shape, entry.dtype->name, numel, entry.dtype->size, entry.begin, entry.end,
                entry.end - entry.begin);
    XGRAD_CHECK(entry.begin >= covered,
                "{}: '{}' has a corrupted header: entries '{}' [{}, {}] and '{}' [{}, {}] overlap", op, path,
                entries[i - 1].name, entries[i - 1].begin, entries[i - 1].end, entry.name, entry.begin, entry.end);
    XGRAD_CHECK(entry.begin == covered,
                "{}: '{}' has a corrupted header: bytes [{}, {}) of the data buffer belong to no entry", op, path,
                covered, entry.begin);
    XGRAD_CHECK(entry.end <= buffer_size,
                "{}: '{}' is truncated: entry '{}' ends at byte {} of the data buffer, which has {} bytes", op, path,
                entry.name, entry.end, buffer_size);
    covered = entry.end;
  }
  XGRAD_CHECK(covered == buffer_size,
              "{}: '{}' is corrupted: its entries cover {} bytes of data but {} bytes follow the header", op, path,
              covered, buffer_size);

  // Everything is consistent with the file: now allocate and read, front to back.
  StateDict out;
  out.reserve(entries.size());
  for (Entry& entry : entries) {
    const FileDtype& from = *entry.dtype;
    const std::int64_t numel = entry_numel(entry, path, op);
    const std::size_t bytes = static_cast<std::size_t>(entry.end - entry.begin);
    Tensor tensor = make_uninitialized(entry.shape, from.dtype, op);
    if (from.size == element_size(from.dtype)) {  // F32 F64 I64 BOOL: stored as xgrad holds them
      if (bytes > 0) file.read_exact(tensor.impl()->storage->data(), bytes, "tensor data");
      if (from.dtype == kBool) {
        // Only 0 and 1 are C++ bools: any other byte reads as true.
        auto* flags = static_cast<unsigned char*>(tensor.impl()->storage->data());
        for (std::int64_t i = 0; i < numel; ++i) flags[i] = flags[i] != 0;
      }
    } else {
      std::vector<unsigned char> raw(bytes);
      if (bytes > 0) file.read_exact(raw.data(), bytes, "tensor data");
      convert_elements(from, raw.data(), numel, tensor);
    }
    out.emplace_back(std::move(entry.name), std::move(tensor));
  }
  return out;
}

void write_file(const std::string& path, const StateDict& state_dict, const std::string& op) {
  std::unordered_set<std::string_view> names;
  std::string header = R"({"__metadata__":{"format":"pt"})";
  std::uint64_t offset = 0;
  for (const auto& [name, tensor] : state_dict) {
    XGRAD_CHECK(name != kMetadataKey, "{}: '{}': an entry cannot be called '{}', the format's key for metadata", op,
                path, name);
    XGRAD_CHECK(names.insert(name).second, "{}: '{}': entry '{}' appears twice", op, path, name);
    XGRAD_CHECK(tensor.defined(), "{}: '{}': entry '{}' is an undefined tensor", op, path, name);
    XGRAD_CHECK(tensor.shape().size() <= kMaxRank,
                "{}: '{}': entry '{}' has {} dimensions, more than the {} xgrad reads", op, path, name,
                tensor.shape().size(), kMaxRank);
    std::string quoted;
    try {
      quoted = nlohmann::json(name).dump();
    } catch (const nlohmann::json::exception&) {
      fail("{}: '{}': entry name '{}' is not valid UTF-8, which a JSON header cannot hold", op, path, name);
    }
    const std::uint64_t bytes = static_cast<std::uint64_t>(tensor.numel()) * element_size(tensor.dtype());
    header += fmt::format(R"(,{}:{{"dtype":"{}","shape":[{}],"data_offsets":[{},{}]}})", quoted,
                          file_dtype_name(tensor.dtype()), fmt::join(tensor.shape(), ","), offset, offset + bytes);
    offset += bytes;
  }
  header += '}';
  header.append((8 - header.size() % 8) % 8, ' ');

  AtomicFile file(path, op);
  unsigned char length_bytes[8];
  for (int i = 0; i < 8; ++i) length_bytes[i] = static_cast<unsigned char>(header.size() >> (8 * i));
  file.write(length_bytes, sizeof(length_bytes));
  file.write(header);
  for (const auto& [name, tensor] : state_dict) {
    const std::size_t bytes = static_cast<std::size_t>(tensor.numel()) * element_size(tensor.dtype());
    if (bytes > 0) file.write(tensor.impl()->storage->data(), bytes);
  }
  file.commit();
}

}  // namespace

StateDict read_safetensors(const std::string& path, const std::string& op) {
  return with_file_errors(op, path, [&] { return read_file(path, op); });
}

void write_safetensors(const std::string& path, const StateDict& state_dict, const std::string& op) {
  with_file_errors(op, path, [&] { write_file(path, state_dict, op); });
}

}  // namespace xgrad::detail
