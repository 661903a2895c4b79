// .npz: NumPy's np.savez archive, a zip of "<name>.npy" entries. Reading also
// takes np.savez_compressed's deflated entries; writing stores them, as np.savez
// does. Each entry goes through the .npy codec that load_npy/save_npy use.
#include <unordered_set>

#include "core/error.hpp"
#include "core/file_io.hpp"
#include "core/serialization/formats.hpp"
#include "core/serialization/npy_format.hpp"
#include "core/serialization/zip_archive.hpp"

namespace xgrad::detail {

namespace {

constexpr std::string_view kNpySuffix = ".npy";

}  // namespace

StateDict read_npz(const std::string& path, const std::string& op) {
  return with_file_errors(op, path, [&] {
    const std::string where = fmt::format("{}: '{}'", op, path);
    ZipReader zip(read_file_bytes(path, op), where);
    StateDict state_dict;
    std::unordered_set<std::string> seen;
    for (std::size_t i = 0; i < zip.size(); ++i) {
      const std::string& entry = zip.name(i);
      XGRAD_CHECK(entry.size() > kNpySuffix.size() && entry.ends_with(kNpySuffix),
                  "{}: entry '{}' is not a .npy file (an .npz holds only '<name>.npy' entries)", where, entry);
      std::string name = entry.substr(0, entry.size() - kNpySuffix.size());
      XGRAD_CHECK(seen.insert(name).second, "{}: the archive holds '{}' twice", where, entry);
      const std::string bytes = zip.read(i, "a .npy file");
      state_dict.emplace_back(std::move(name), decode_npy(bytes, fmt::format("{} entry '{}'", where, entry)));
    }
    return state_dict;
  });
}

void write_npz(const std::string& path, const StateDict& state_dict, const std::string& op) {
  with_file_errors(op, path, [&] {
    const std::string where = fmt::format("{}: '{}'", op, path);
    ZipWriter zip(where);
    std::unordered_set<std::string> seen;
    for (const auto& [name, tensor] : state_dict) {
      XGRAD_CHECK(!name.empty(), "{}: a tensor has an empty name", where);
      XGRAD_CHECK(seen.insert(name).second, "{}: the state dict holds '{}' twice", where, name);
      XGRAD_CHECK(tensor.defined(), "{}: tensor '{}' is undefined", where, name);
      zip.add(name + std::string(kNpySuffix), encode_npy(tensor, fmt::format("{} tensor '{}'", where, name)));
    }
    write_file_atomically(path, zip.finish(), op);
  });
}

}  // namespace xgrad::detail
