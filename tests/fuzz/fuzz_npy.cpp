// Fuzzes load_npy: any byte string is either a tensor (which then round-trips
// through save_npy bitwise, in the xgrad dtype it was read into) or an xgrad::Error; never a crash, a hang, a huge
// allocation or a sanitizer report.
#include <cstring>

#include "core/io.hpp"
#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string& path = xgrad::fuzz::write_scratch(data, size);
  xgrad::Tensor tensor;
  try {
    tensor = xgrad::load_npy(path);
  } catch (const xgrad::Error&) {
    return 0;  // a clear error is a fine outcome
  }
  // Whatever loads must be usable: write it back and read it again.
  // Every element takes at least one byte of the file (an int8 one widens to 8 in memory).
  if (static_cast<std::size_t>(tensor.numel()) > size) std::abort();  // the reader made up elements
  const std::size_t bytes = static_cast<std::size_t>(tensor.numel()) * xgrad::element_size(tensor.dtype());
  xgrad::save_npy(path, tensor);
  const xgrad::Tensor again = xgrad::load_npy(path);
  if (again.shape() != tensor.shape() || again.dtype() != tensor.dtype()) std::abort();
  if (bytes > 0 && std::memcmp(again.impl()->storage->data(), tensor.impl()->storage->data(), bytes) != 0) std::abort();
  return 0;
}
