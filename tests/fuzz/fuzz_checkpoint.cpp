// Fuzzes the checkpoint reader (xgrad::load_tensors, Module::load): any byte string
// is either a valid state (which then round-trips through save_tensors bitwise)
// or an xgrad::Error; never a crash, hang, huge allocation or sanitizer report.
// Inputs whose CRC-32 is wrong are mostly refused early, so half of the runs
// fix the checksum first to let the fuzzer reach the entry parser.
#include <cstring>
#include <fstream>
#include <iterator>

#include "fuzz_support.hpp"
#include "optim/checkpoint.hpp"
#include "nn/conv1d.hpp"

namespace {

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  // First byte: 0 = use the bytes as they are, 1 = rewrite the trailing CRC-32 to match.
  const bool fix_crc = data[0] % 2 == 1;
  std::string bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  if (fix_crc && bytes.size() >= 4) {
    const std::uint32_t crc = xgrad::crc32(bytes.data(), bytes.size() - 4);
    std::memcpy(bytes.data() + bytes.size() - 4, &crc, 4);
  }
  const std::string& path = xgrad::fuzz::write_scratch(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());

  xgrad::nn::StateDict state;
  try {
    state = xgrad::load_tensors(path);
  } catch (const xgrad::Error&) {
    return 0;
  }
  std::size_t total = 0;
  for (const auto& [name, tensor] : state) total += static_cast<std::size_t>(tensor.numel()) * xgrad::element_size(tensor.dtype());
  if (total > bytes.size()) std::abort();  // allocated more than the file holds

  // A file that loads writes back to the very same bytes.
  xgrad::save_tensors(path, state);
  if (read_all(path) != bytes) std::abort();

  // Loading it into a module either fits exactly or is refused without changes.
  xgrad::nn::Conv1d model(2, 3, 2);
  const std::vector<double> before(model.weight.data_ptr<float>(), model.weight.data_ptr<float>() + model.weight.numel());
  try {
    model.load(path);
  } catch (const xgrad::Error&) {
    const std::vector<double> after(model.weight.data_ptr<float>(), model.weight.data_ptr<float>() + model.weight.numel());
    if (after != before) std::abort();  // a refused load changed the model
  }
  return 0;
}
