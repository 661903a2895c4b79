// Fuzzes the .pt reader (torch.save zip + weights-only unpickler): any byte string
// is a state dict (which then round-trips through the .pt writer bitwise) or an
// xgrad::Error; never a crash, a hang, a leak, a huge allocation or a sanitizer report.
#include "fuzz_support.hpp"
#include "fuzz_weight_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string& path = xgrad::fuzz::write_scratch(data, size);
  xgrad::StateDict state;
  try {
    state = xgrad::detail::read_torch_file(path, "fuzz");
  } catch (const xgrad::Error&) {
    return 0;  // a clear error is a fine outcome
  }
  // The reader's budget: 8 times the file (overlapping views, float16 widened).
  xgrad::fuzz::check_round_trip(state, size, 8, path, xgrad::detail::read_torch_file, xgrad::detail::write_torch_file);
  return 0;
}
