// What the weight-file fuzz targets (.pt, .npz) check on an input that loads: the
// reader allocated within its budget, and the state dict survives the writer and
// the reader again unchanged.
#pragma once

#include <cstdlib>
#include <cstring>
#include <string>

#include "core/serialization/formats.hpp"

namespace xgrad::fuzz {

using Reader = StateDict (*)(const std::string&, const std::string&);
using Writer = void (*)(const std::string&, const StateDict&, const std::string&);

inline void check_round_trip(const StateDict& state, std::size_t input_size, std::size_t expansion,
                             const std::string& path, Reader read, Writer write) {
  std::size_t bytes = 0;
  for (const auto& entry : state) bytes += static_cast<std::size_t>(entry.second.numel()) * element_size(entry.second.dtype());
  if (bytes > input_size * expansion + (std::size_t{1} << 20)) std::abort();  // more than the file can justify
  write(path, state, "fuzz");
  const StateDict again = read(path, "fuzz");
  if (again.size() != state.size()) std::abort();
  for (std::size_t i = 0; i < state.size(); ++i) {
    const Tensor& a = state[i].second;
    const Tensor& b = again[i].second;
    if (again[i].first != state[i].first || a.shape() != b.shape() || a.dtype() != b.dtype()) std::abort();
    const std::size_t size = static_cast<std::size_t>(a.numel()) * element_size(a.dtype());
    if (size > 0 && std::memcmp(a.impl()->storage->data(), b.impl()->storage->data(), size) != 0) std::abort();
  }
}

}  // namespace xgrad::fuzz
