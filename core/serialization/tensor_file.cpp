// Tensor files: see the format in core/serialization/tensor_file.hpp.
#include "core/serialization/tensor_file.hpp"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <set>
#include <vector>

#include "core/file_io.hpp"

namespace xgrad {

static_assert(std::endian::native == std::endian::little,
              "xgrad checkpoints store little-endian values with memcpy; add byte swapping for this host");

namespace {

constexpr char kMagic[8] = {'X', 'G', 'R', 'A', 'D', 'C', 'K', 'P'};
constexpr std::uint32_t kMaxNameLength = 4096;
constexpr std::uint8_t kMaxRank = 16;
// The dtype codes of the format, in code order.
constexpr Dtype kDtypes[] = {kFloat32, kFloat64, kInt64, kBool};

std::uint8_t dtype_code(Dtype dtype) {
  for (std::uint8_t code = 0; code < 4; ++code)
    if (kDtypes[code] == dtype) return code;
  fail("save: dtype {} has no checkpoint code", dtype);
}
constexpr std::size_t kHeaderBytes = sizeof(kMagic) + 8;  // magic, version, entry count
constexpr std::size_t kCrcBytes = 4;
// The smallest entry: name length, a 1-byte name, dtype, rank 0, data size.
constexpr std::uint64_t kMinEntryBytes = 4 + 1 + 1 + 1 + 8;
// Data is read and checksummed in pieces of this size, while they are in cache.
constexpr std::size_t kReadChunk = std::size_t{1} << 22;

// Slicing-by-8 tables: table[0] is the classic byte table, table[k] advances k more bytes.
std::array<std::array<std::uint32_t, 256>, 8> make_crc_tables() {
  std::array<std::array<std::uint32_t, 256>, 8> table{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    table[0][i] = c;
  }
  for (std::size_t k = 1; k < 8; ++k) {
    for (std::uint32_t i = 0; i < 256; ++i) table[k][i] = (table[k - 1][i] >> 8) ^ table[0][table[k - 1][i] & 0xFFu];
  }
  return table;
}

#if defined(__x86_64__)
// CRC-32 by carry-less multiplication (Intel's "Fast CRC Computation for Generic
// Polynomials Using PCLMULQDQ", the bit-reflected variant): four 128-bit lanes fold
// 64 bytes per step, then fold to 128, 64 and 32 bits with a Barrett reduction.
// About ten times the table's speed, so checking a checkpoint costs little more
// than reading it. `crc` is the running (inverted) value; size >= 64, a multiple of 16.
#define XGRAD_CLMUL __attribute__((target("pclmul,sse4.1")))
XGRAD_CLMUL inline __m128i load16(const unsigned char* at) {
  return _mm_loadu_si128(reinterpret_cast<const __m128i*>(at));
}
// x * k folded 128 bits forward, plus the next 16 bytes.
XGRAD_CLMUL inline __m128i fold(__m128i x, __m128i k, __m128i next) {
  return _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(x, k, 0x11), _mm_clmulepi64_si128(x, k, 0x00)), next);
}

XGRAD_CLMUL std::uint32_t crc32_clmul(const unsigned char* p, std::size_t size, std::uint32_t crc) {
  const __m128i k1k2 = _mm_set_epi64x(0x01c6e41596, 0x0154442bd4);
  const __m128i k3k4 = _mm_set_epi64x(0x00ccaa009e, 0x01751997d0);
  const __m128i k5k0 = _mm_set_epi64x(0x0000000000, 0x0163cd6124);
  const __m128i poly = _mm_set_epi64x(0x01f7011641, 0x01db710641);
  __m128i x1 = _mm_xor_si128(load16(p), _mm_cvtsi32_si128(static_cast<int>(crc)));
  __m128i x2 = load16(p + 16), x3 = load16(p + 32), x4 = load16(p + 48);
  p += 64;
  size -= 64;
  for (; size >= 64; p += 64, size -= 64) {
    x1 = fold(x1, k1k2, load16(p));
    x2 = fold(x2, k1k2, load16(p + 16));
    x3 = fold(x3, k1k2, load16(p + 32));
    x4 = fold(x4, k1k2, load16(p + 48));
  }
  x1 = fold(x1, k3k4, x2);
  x1 = fold(x1, k3k4, x3);
  x1 = fold(x1, k3k4, x4);
  for (; size >= 16; p += 16, size -= 16) x1 = fold(x1, k3k4, load16(p));
  // 128 -> 64 bits.
  const __m128i low32 = _mm_setr_epi32(~0, 0, ~0, 0);
  __m128i x2b = _mm_clmulepi64_si128(x1, k3k4, 0x10);
  x1 = _mm_xor_si128(_mm_srli_si128(x1, 8), x2b);
  x2b = _mm_srli_si128(x1, 4);
  x1 = _mm_xor_si128(_mm_clmulepi64_si128(_mm_and_si128(x1, low32), k5k0, 0x00), x2b);
  // Barrett reduction to 32 bits.
  x2b = _mm_clmulepi64_si128(_mm_and_si128(x1, low32), poly, 0x10);
  x2b = _mm_clmulepi64_si128(_mm_and_si128(x2b, low32), poly, 0x00);
  x1 = _mm_xor_si128(x1, x2b);
  return static_cast<std::uint32_t>(_mm_extract_epi32(x1, 1));
}
#undef XGRAD_CLMUL
#endif

template <class T>
void put(std::string& out, T value) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  out.append(bytes, sizeof(T));
}

// A tensor's contiguous bytes, whatever its dtype.
const void* bytes_of(const Tensor& tensor) { return tensor.impl()->storage->data(); }

void* bytes_of(Tensor& tensor) { return tensor.impl()->storage->data(); }

// Checks every entry, then streams header, entries and CRC through one AtomicFile:
// no copy of the tensors is made.
void write_checkpoint(const std::string& path, const StateDict& tensors, const std::string& op) {
  std::set<std::string> names;
  for (const auto& [name, tensor] : tensors) {
    XGRAD_CHECK(!name.empty() && name.size() <= kMaxNameLength, "{}: entry name '{}' must have 1 to {} bytes", op, name,
                kMaxNameLength);
    XGRAD_CHECK(names.insert(name).second, "{}: entry '{}' appears twice", op, name);
    XGRAD_CHECK(tensor.defined(), "{}: entry '{}' is an undefined tensor", op, name);
    XGRAD_CHECK(tensor.dim() <= kMaxRank, "{}: entry '{}' has rank {}, more than {}", op, name, tensor.dim(), kMaxRank);
  }
  AtomicFile file(path, op);
  std::uint32_t crc = 0;
  auto emit = [&](const void* data, std::size_t size) {
    crc = crc32(data, size, crc);
    file.write(data, size);
  };
  std::string header(kMagic, sizeof(kMagic));
  put<std::uint32_t>(header, kCheckpointVersion);
  put<std::uint32_t>(header, static_cast<std::uint32_t>(tensors.size()));
  for (const auto& [name, tensor] : tensors) {
    put<std::uint32_t>(header, static_cast<std::uint32_t>(name.size()));
    header += name;
    put<std::uint8_t>(header, dtype_code(tensor.dtype()));
    put<std::uint8_t>(header, static_cast<std::uint8_t>(tensor.dim()));
    for (std::int64_t extent : tensor.shape()) put<std::int64_t>(header, extent);
    const std::uint64_t bytes = static_cast<std::uint64_t>(tensor.numel()) * element_size(tensor.dtype());
    put<std::uint64_t>(header, bytes);
    emit(header.data(), header.size());
    header.clear();
    if (bytes > 0) emit(bytes_of(tensor), static_cast<std::size_t>(bytes));
  }
  emit(header.data(), header.size());  // the header of an empty state
  const std::uint32_t checksum = crc;
  file.write(&checksum, sizeof(checksum));
  file.commit();
}

// Reads the body of a checkpoint front to back, bounded by the file's size (no
// field can claim more bytes than the file has) and checksummed as it goes.
class BodyReader {
 public:
  BodyReader(InputFile& file, std::uint64_t end) : file_(file), end_(end) {}
  template <class T>
  T get(const char* what) {
    T value;
    read_into(&value, sizeof(T), what);
    return value;
  }
  std::string get_string(std::size_t size, const char* what) {
    std::string out(size, '\0');
    read_into(out.data(), size, what);
    return out;
  }
  // Reads `size` bytes into `out`, checksumming each piece while it is in cache.
  void read_into(void* out, std::uint64_t size, const char* what) {
    need(size, what);
    auto* bytes = static_cast<char*>(out);
    while (size > 0) {
      const std::size_t step = static_cast<std::size_t>(std::min<std::uint64_t>(size, kReadChunk));
      file_.read_exact(bytes, step, what);
      crc_ = crc32(bytes, step, crc_);
      bytes += step;
      size -= step;
    }
  }
  void need(std::uint64_t size, const char* what) const {
    XGRAD_CHECK(size <= remaining(),
                "{}: '{}' is truncated or corrupted: {} needs {} bytes at offset {} but only {} remain before the "
                "checksum",
                file_.op(), file_.path(), what, size, file_.position(), remaining());
  }
  std::uint64_t remaining() const { return end_ - file_.position(); }
  std::uint64_t position() const { return file_.position(); }
  std::uint32_t crc() const { return crc_; }
  void add_to_crc(const void* data, std::size_t size) { crc_ = crc32(data, size, crc_); }

 private:
  InputFile& file_;
  std::uint64_t end_;
  std::uint32_t crc_ = 0;
};

StateDict read_checkpoint(const std::string& path, const std::string& op) {
  InputFile file(path, op);
  const std::uint64_t size = file.size();
  char magic[sizeof(kMagic)] = {};
  const std::size_t got = file.read(magic, sizeof(magic));
  XGRAD_CHECK(got == sizeof(magic) && std::memcmp(magic, kMagic, sizeof(kMagic)) == 0,
              "{}: '{}' is not an xgrad checkpoint (no 'XGRADCKP' magic at its start; {} bytes)", op, path, size);
  XGRAD_CHECK(size >= kHeaderBytes + kCrcBytes, "{}: '{}' is truncated ({} bytes, shorter than a header)", op, path,
              size);
  const std::uint64_t body = size - kCrcBytes;
  BodyReader in(file, body);
  in.add_to_crc(magic, sizeof(magic));
  const auto version = in.get<std::uint32_t>("the format version");
  const auto count = in.get<std::uint32_t>("the entry count");
  auto stored_crc = [&] {
    std::uint32_t stored = 0;
    file.read_exact(&stored, sizeof(stored), "the CRC-32");
    return stored;
  };
  if (version != kCheckpointVersion) {
    // Only an intact file may claim another version: a flipped bit in the version
    // field is corruption, and the checksum tells the two apart.
    std::vector<char> scratch(kReadChunk);
    while (in.remaining() > 0) {
      in.read_into(scratch.data(), std::min<std::uint64_t>(in.remaining(), scratch.size()), "the body");
    }
    const std::uint32_t stored = stored_crc();
    XGRAD_CHECK(stored == in.crc(),
                "{}: '{}' is corrupted (CRC-32 {:08x} stored, {:08x} computed over {} bytes; its version field reads "
                "{})",
                op, path, stored, in.crc(), body, version);
    fail("{}: '{}' has format version {}, this build reads version {}", op, path, version, kCheckpointVersion);
  }
  XGRAD_CHECK(count <= (body - kHeaderBytes) / kMinEntryBytes,
              "{}: '{}' is corrupted: it says it has {} entries but its {} bytes hold at most {}", op, path, count, size,
              (body - kHeaderBytes) / kMinEntryBytes);

  StateDict out;
  std::set<std::string> names;
  for (std::uint32_t e = 0; e < count; ++e) {
    const auto length = in.get<std::uint32_t>("a name length");
    XGRAD_CHECK(length >= 1 && length <= kMaxNameLength, "{}: '{}' is corrupted: entry {} has a name of {} bytes", op,
                path, e, length);
    std::string name = in.get_string(length, "a name");
    XGRAD_CHECK(names.insert(name).second, "{}: '{}' is corrupted: entry '{}' appears twice", op, path, name);
    const auto code = in.get<std::uint8_t>("a dtype");
    XGRAD_CHECK(code <= 3, "{}: '{}' is corrupted: entry '{}' has dtype code {}", op, path, name, code);
    const Dtype dtype = kDtypes[code];
    const auto rank = in.get<std::uint8_t>("a rank");
    XGRAD_CHECK(rank <= kMaxRank, "{}: '{}' is corrupted: entry '{}' has rank {}", op, path, name, rank);
    Shape shape(rank);
    for (auto& extent : shape) extent = in.get<std::int64_t>("an extent");
    const auto data_bytes = in.get<std::uint64_t>("a data size");
    // checked_numel rejects negative or overflowing shapes; the size must match the
    // shape exactly and fit in what is left of the file before anything is allocated.
    const std::int64_t numel = checked_numel(shape, op);
    XGRAD_CHECK(static_cast<std::uint64_t>(numel) <= (std::uint64_t{1} << 40) &&
                    data_bytes == static_cast<std::uint64_t>(numel) * element_size(dtype),
                "{}: '{}' is corrupted: entry '{}' of shape {} {} says it has {} data bytes", op, path, name, shape,
                dtype, data_bytes);
    in.need(data_bytes, "tensor data");
    Tensor tensor = make_uninitialized(shape, dtype, op);
    if (data_bytes > 0) in.read_into(bytes_of(tensor), data_bytes, "tensor data");
    if (dtype == kBool) {
      // Only 0 and 1 are C++ bools: any other byte reads as true.
      auto* flags = static_cast<unsigned char*>(tensor.impl()->storage->data());
      for (std::int64_t i = 0; i < numel; ++i) flags[i] = flags[i] != 0;
    }
    out.emplace_back(std::move(name), std::move(tensor));
  }
  XGRAD_CHECK(in.remaining() == 0, "{}: '{}' is corrupted: {} unexpected bytes after the last entry", op, path,
              in.remaining());
  const std::uint32_t stored = stored_crc();
  XGRAD_CHECK(stored == in.crc(),
              "{}: '{}' is truncated or corrupted (CRC-32 {:08x} stored, {:08x} computed over {} bytes)", op, path,
              stored, in.crc(), body);
  return out;
}

}  // namespace

std::uint32_t crc32(const void* data, std::size_t size, std::uint32_t crc) {
  static const auto table = make_crc_tables();
  const auto* p = static_cast<const unsigned char*>(data);
  crc = ~crc;
#if defined(__x86_64__)
  static const bool clmul = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
  if (clmul && size >= 64) {
    const std::size_t folded = size & ~std::size_t{15};
    crc = crc32_clmul(p, folded, crc);
    p += folded;
    size -= folded;
  }
#endif
  for (; size >= 8; size -= 8, p += 8) {
    std::uint32_t low, high;
    std::memcpy(&low, p, 4);
    std::memcpy(&high, p + 4, 4);
    low ^= crc;
    crc = table[7][low & 0xFFu] ^ table[6][(low >> 8) & 0xFFu] ^ table[5][(low >> 16) & 0xFFu] ^ table[4][low >> 24] ^
          table[3][high & 0xFFu] ^ table[2][(high >> 8) & 0xFFu] ^ table[1][(high >> 16) & 0xFFu] ^ table[0][high >> 24];
  }
  for (; size > 0; --size, ++p) crc = table[0][(crc ^ *p) & 0xFFu] ^ (crc >> 8);
  return ~crc;
}

void save_tensors(const std::string& path, const StateDict& tensors, const std::string& op) {
  with_file_errors(op, path, [&] { write_checkpoint(path, tensors, op); });
}

StateDict load_tensors(const std::string& path, const std::string& op) {
  return with_file_errors(op, path, [&] { return read_checkpoint(path, op); });
}

}  // namespace xgrad
