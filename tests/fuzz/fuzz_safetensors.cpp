// Fuzzes the .safetensors reader: any byte string is either a state dict (which then
// round-trips through save_state_dict_file to the same entries, and saves to the same
// bytes again) or an xgrad::Error; never a crash, a hang, a huge allocation or a
// sanitizer report.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "core/serialization/state_dict_file.hpp"
#include "fuzz_support.hpp"

namespace {

// The reader is chosen by the extension: the scratch file needs ".safetensors".
const std::string& scratch_safetensors(int which) {
  static const std::string paths[2] = {xgrad::fuzz::scratch_path() + ".a.safetensors",
                                       xgrad::fuzz::scratch_path() + ".b.safetensors"};
  static const bool registered = [] {
    std::atexit([] {
      std::remove(paths[0].c_str());
      std::remove(paths[1].c_str());
    });
    return true;
  }();
  (void)registered;
  return paths[which];
}

std::string read_all(const std::string& path) {
  std::string out;
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) std::abort();
  char buffer[4096];
  for (std::size_t got; (got = std::fread(buffer, 1, sizeof(buffer), file)) > 0;) out.append(buffer, got);
  std::fclose(file);
  return out;
}

std::size_t byte_size(const xgrad::Tensor& tensor) {
  return static_cast<std::size_t>(tensor.numel()) * xgrad::element_size(tensor.dtype());
}

bool same_entries(const xgrad::StateDict& a, const xgrad::StateDict& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const xgrad::Tensor& x = a[i].second;
    const xgrad::Tensor& y = b[i].second;
    if (a[i].first != b[i].first || x.dtype() != y.dtype() || x.shape() != y.shape()) return false;
    const std::size_t bytes = byte_size(x);
    if (bytes > 0 && std::memcmp(x.impl()->storage->data(), y.impl()->storage->data(), bytes) != 0) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string& path = scratch_safetensors(0);
  {
    std::FILE* file = std::fopen(path.c_str(), "wb");
    if (file == nullptr) std::abort();
    if (size > 0 && std::fwrite(data, 1, size, file) != size) std::abort();
    std::fclose(file);
  }
  xgrad::StateDict state;
  try {
    state = xgrad::load_state_dict_file(path);
  } catch (const xgrad::Error&) {
    return 0;  // a clear error is a fine outcome
  }
  // The reader allocates no more than the file holds, times 8 where it widens
  // (I8 and U8 become int64).
  std::size_t allocated = 0;
  for (const auto& entry : state) allocated += byte_size(entry.second);
  if (allocated > 8 * size) std::abort();
  // Whatever loads saves, loads back the same, and saves to the same bytes.
  const std::string& copy = scratch_safetensors(1);
  xgrad::save_state_dict_file(copy, state);
  const std::string written = read_all(copy);
  const xgrad::StateDict again = xgrad::load_state_dict_file(copy);
  if (!same_entries(state, again)) std::abort();
  xgrad::save_state_dict_file(copy, again);
  if (read_all(copy) != written) std::abort();
  return 0;
}
