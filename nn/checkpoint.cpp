// Checkpoint files: see the format in nn/checkpoint.hpp.
#include "nn/checkpoint.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "core/creation.hpp"
#include "optim/lr_scheduler.hpp"
#include "optim/optimizer.hpp"

namespace xgrad::nn {

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

std::array<std::uint32_t, 256> make_crc_table() {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    table[i] = c;
  }
  return table;
}

template <class T>
void put(std::string& out, T value) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  out.append(bytes, sizeof(T));
}

// Bounds-checked reads over the loaded bytes.
class Reader {
 public:
  Reader(const std::string& bytes, std::size_t end, const std::string& path) : bytes_(bytes), end_(end), path_(path) {}
  template <class T>
  T get(const char* what) {
    need(sizeof(T), what);
    T value;
    std::memcpy(&value, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return value;
  }
  const char* take(std::size_t n, const char* what) {
    need(n, what);
    const char* p = bytes_.data() + pos_;
    pos_ += n;
    return p;
  }
  std::size_t position() const { return pos_; }

 private:
  void need(std::size_t n, const char* what) {
    XGRAD_CHECK(n <= end_ - pos_, "load: '{}' is truncated or corrupted: {} needs {} bytes at offset {} but only {} remain",
                path_, what, n, pos_, end_ - pos_);
  }
  const std::string& bytes_;
  std::size_t end_;
  std::size_t pos_ = 0;
  const std::string& path_;
};

std::string serialize(const StateDict& tensors) {
  std::string out(kMagic, sizeof(kMagic));
  put<std::uint32_t>(out, kCheckpointVersion);
  put<std::uint32_t>(out, static_cast<std::uint32_t>(tensors.size()));
  std::set<std::string> names;
  for (const auto& [name, tensor] : tensors) {
    XGRAD_CHECK(!name.empty() && name.size() <= kMaxNameLength, "save: entry name '{}' must have 1 to {} bytes", name,
                kMaxNameLength);
    XGRAD_CHECK(names.insert(name).second, "save: entry '{}' appears twice", name);
    XGRAD_CHECK(tensor.defined(), "save: entry '{}' is an undefined tensor", name);
    XGRAD_CHECK(tensor.dim() <= kMaxRank, "save: entry '{}' has rank {}, more than {}", name, tensor.dim(), kMaxRank);
    put<std::uint32_t>(out, static_cast<std::uint32_t>(name.size()));
    out += name;
    put<std::uint8_t>(out, dtype_code(tensor.dtype()));
    put<std::uint8_t>(out, static_cast<std::uint8_t>(tensor.dim()));
    for (std::int64_t extent : tensor.shape()) put<std::int64_t>(out, extent);
    const std::uint64_t bytes = static_cast<std::uint64_t>(tensor.numel()) * element_size(tensor.dtype());
    put<std::uint64_t>(out, bytes);
    out.append(static_cast<const char*>(tensor.impl()->storage->data()), bytes);
  }
  put<std::uint32_t>(out, crc32(out.data(), out.size()));
  return out;
}

StateDict parse(const std::string& bytes, const std::string& path) {
  constexpr std::size_t header = sizeof(kMagic) + 8;
  XGRAD_CHECK(bytes.size() >= sizeof(kMagic) && std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) == 0,
              "load: '{}' is not an xgrad checkpoint (no 'XGRADCKP' magic at its start; {} bytes)", path, bytes.size());
  XGRAD_CHECK(bytes.size() >= header + 4, "load: '{}' is truncated ({} bytes, shorter than a header)", path,
              bytes.size());
  std::uint32_t version;
  std::memcpy(&version, bytes.data() + sizeof(kMagic), 4);
  XGRAD_CHECK(version == kCheckpointVersion, "load: '{}' has format version {}, this build reads version {}", path,
              version, kCheckpointVersion);
  const std::size_t body = bytes.size() - 4;
  std::uint32_t stored_crc;
  std::memcpy(&stored_crc, bytes.data() + body, 4);
  const std::uint32_t actual_crc = crc32(bytes.data(), body);
  XGRAD_CHECK(stored_crc == actual_crc,
              "load: '{}' is truncated or corrupted (CRC-32 {:08x} stored, {:08x} computed over {} bytes)", path,
              stored_crc, actual_crc, body);

  Reader in(bytes, body, path);
  in.take(sizeof(kMagic) + 4, "the header");
  const auto count = in.get<std::uint32_t>("the entry count");
  StateDict out;
  std::set<std::string> names;
  for (std::uint32_t e = 0; e < count; ++e) {
    const auto length = in.get<std::uint32_t>("a name length");
    XGRAD_CHECK(length >= 1 && length <= kMaxNameLength, "load: '{}' is corrupted: entry {} has a name of {} bytes",
                path, e, length);
    std::string name(in.take(length, "a name"), length);
    XGRAD_CHECK(names.insert(name).second, "load: '{}' is corrupted: entry '{}' appears twice", path, name);
    const auto dtype_code = in.get<std::uint8_t>("a dtype");
    XGRAD_CHECK(dtype_code <= 3, "load: '{}' is corrupted: entry '{}' has dtype code {}", path, name, dtype_code);
    const Dtype dtype = kDtypes[dtype_code];
    const auto rank = in.get<std::uint8_t>("a rank");
    XGRAD_CHECK(rank <= kMaxRank, "load: '{}' is corrupted: entry '{}' has rank {}", path, name, rank);
    Shape shape(rank);
    for (auto& extent : shape) extent = in.get<std::int64_t>("an extent");
    const auto data_bytes = in.get<std::uint64_t>("a data size");
    // checked_numel rejects negative or overflowing shapes before any allocation.
    const std::int64_t numel = checked_numel(shape, "load");
    XGRAD_CHECK(static_cast<std::uint64_t>(numel) <= (std::uint64_t{1} << 40) &&
                    data_bytes == static_cast<std::uint64_t>(numel) * element_size(dtype),
                "load: '{}' is corrupted: entry '{}' of shape {} {} says it has {} data bytes", path, name, shape, dtype,
                data_bytes);
    const char* data = in.take(static_cast<std::size_t>(data_bytes), "tensor data");
    Tensor tensor = empty(shape, {.dtype = dtype});
    if (data_bytes > 0) std::memcpy(tensor.impl()->storage->data(), data, static_cast<std::size_t>(data_bytes));
    if (dtype == kBool) {
      // Only 0 and 1 are C++ bools: any other byte reads as true.
      auto* bytes = static_cast<unsigned char*>(tensor.impl()->storage->data());
      for (std::int64_t i = 0; i < numel; ++i) bytes[i] = bytes[i] != 0;
    }
    out.emplace_back(std::move(name), std::move(tensor));
  }
  XGRAD_CHECK(in.position() == body, "load: '{}' is corrupted: {} unexpected bytes after the last entry", path,
              body - in.position());
  return out;
}

std::string errno_text() { return std::strerror(errno); }

// Writes all of `bytes` to `fd`, retrying short writes and EINTR.
bool write_all(int fd, const std::string& bytes) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) errno = EIO;
      return false;
    }
    done += static_cast<std::size_t>(n);
  }
  return true;
}

void write_atomically(const std::string& path, const std::string& bytes) {
  namespace fs = std::filesystem;
  XGRAD_CHECK(!path.empty(), "save: the path is empty");
  const fs::path target(path);
  XGRAD_CHECK(!fs::is_directory(target), "save: '{}' is a directory", path);
  const fs::path directory = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::string temp = (directory / fmt::format(".{}.tmp.XXXXXX", target.filename().string())).string();
  const int fd = ::mkstemp(temp.data());
  XGRAD_CHECK(fd >= 0, "save: cannot create a temporary file in '{}' to write '{}': {}", directory.string(), path,
              errno_text());
  auto give_up = [&](const char* step) {
    const std::string reason = errno_text();
    ::close(fd);
    ::unlink(temp.c_str());
    fail("save: {} '{}' failed: {}; '{}' was left as it was", step, temp, reason, path);
  };
  if (!write_all(fd, bytes)) give_up("writing");
  if (::fsync(fd) != 0) give_up("flushing (fsync)");
  if (::close(fd) != 0) {
    const std::string reason = errno_text();
    ::unlink(temp.c_str());
    fail("save: closing '{}' failed: {}; '{}' was left as it was", temp, reason, path);
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    const std::string reason = errno_text();
    ::unlink(temp.c_str());
    fail("save: renaming '{}' to '{}' failed: {}; '{}' was left as it was", temp, path, reason, path);
  }
  // Make the rename itself durable.
  const int dir_fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
}

std::string read_file(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  XGRAD_CHECK(file.good(), "load: cannot open '{}': {}", path, errno_text());
  std::string bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  XGRAD_CHECK(!file.bad(), "load: reading '{}' failed: {}", path, errno_text());
  return bytes;
}

// Throws unless `state` has exactly the module's names, shapes and dtypes.
void check_module_state(const Module& module, const StateDict& state, const std::string& path) {
  const StateDict own = module.state_dict();
  std::vector<std::string> problems;
  std::set<std::string> seen;
  for (const auto& [name, tensor] : state) {
    seen.insert(name);
    const std::string& key = name;  // clang 14 cannot capture a structured binding in a lambda
    auto it = std::find_if(own.begin(), own.end(), [&](const auto& entry) { return entry.first == key; });
    if (it == own.end()) {
      problems.push_back(fmt::format("unexpected entry '{}'", name));
    } else if (tensor.shape() != it->second.shape() || tensor.dtype() != it->second.dtype()) {
      problems.push_back(fmt::format("'{}' is {} {} in the file but {} {} in the module", name, tensor.dtype(),
                                     tensor.shape(), it->second.dtype(), it->second.shape()));
    }
  }
  for (const auto& [name, tensor] : own) {
    if (seen.count(name) == 0) problems.push_back(fmt::format("missing entry '{}'", name));
  }
  if (problems.empty()) return;
  const bool training_checkpoint = std::any_of(state.begin(), state.end(), [](const auto& entry) {
    return entry.first.rfind("optimizer.", 0) == 0;
  });
  fail("load: '{}' does not match {} ({}){}; nothing was changed", path, module.type_name(), fmt::join(problems, "; "),
       training_checkpoint ? " (it looks like a save_checkpoint file: use nn::load_checkpoint)" : "");
}

// Entries of `state` starting with `prefix`, with the prefix removed.
StateDict section(const StateDict& state, const std::string& prefix) {
  StateDict out;
  for (const auto& [name, tensor] : state) {
    if (name.rfind(prefix, 0) == 0) out.emplace_back(name.substr(prefix.size()), tensor);
  }
  return out;
}

}  // namespace

std::uint32_t crc32(const void* data, std::size_t size, std::uint32_t crc) {
  static const std::array<std::uint32_t, 256> table = make_crc_table();
  const auto* p = static_cast<const unsigned char*>(data);
  crc = ~crc;
  for (std::size_t i = 0; i < size; ++i) crc = table[(crc ^ p[i]) & 0xFFu] ^ (crc >> 8);
  return ~crc;
}

void save_tensors(const std::string& path, const StateDict& tensors) { write_atomically(path, serialize(tensors)); }

StateDict load_tensors(const std::string& path) { return parse(read_file(path), path); }

void Module::save(const std::string& path) const { save_tensors(path, state_dict()); }

void Module::load(const std::string& path) {
  const StateDict state = load_tensors(path);
  check_module_state(*this, state, path);
  load_state_dict(state);
}

void save_checkpoint(const std::string& path, const Module& module, const optim::Optimizer& optimizer,
                     const optim::LRScheduler* scheduler) {
  StateDict all;
  for (auto& [name, tensor] : module.state_dict()) all.emplace_back("model." + name, tensor);
  for (auto& [name, tensor] : optimizer.state_dict()) all.emplace_back("optimizer." + name, tensor);
  if (scheduler != nullptr) {
    for (auto& [name, tensor] : scheduler->state_dict()) all.emplace_back("scheduler." + name, tensor);
  }
  save_tensors(path, all);
}

void load_checkpoint(const std::string& path, Module& module, optim::Optimizer& optimizer,
                     optim::LRScheduler* scheduler) {
  const StateDict state = load_tensors(path);
  for (const auto& [name, tensor] : state) {
    XGRAD_CHECK(name.rfind("model.", 0) == 0 || name.rfind("optimizer.", 0) == 0 || name.rfind("scheduler.", 0) == 0,
                "load_checkpoint: '{}' has entry '{}', which is not from save_checkpoint (use Module::load for "
                "Module::save files); nothing was changed",
                path, name);
  }
  const StateDict model_state = section(state, "model.");
  const StateDict optimizer_state = section(state, "optimizer.");
  const StateDict scheduler_state = section(state, "scheduler.");
  XGRAD_CHECK(scheduler_state.empty() || scheduler != nullptr,
              "load_checkpoint: '{}' holds a scheduler's state; pass the scheduler to load it; nothing was changed",
              path);
  XGRAD_CHECK(!scheduler_state.empty() || scheduler == nullptr,
              "load_checkpoint: '{}' holds no scheduler state but a scheduler was given; nothing was changed", path);
  // Validate everything, then change everything.
  check_module_state(module, model_state, path);
  try {
    optimizer.check_state_dict(optimizer_state);
    if (scheduler != nullptr) scheduler->check_state_dict(scheduler_state);
  } catch (const Error& error) {
    fail("load_checkpoint: '{}': {}", path, error.what());
  }
  module.load_state_dict(model_state);
  optimizer.load_state_dict(optimizer_state);
  if (scheduler != nullptr) scheduler->load_state_dict(scheduler_state);
}

}  // namespace xgrad::nn
