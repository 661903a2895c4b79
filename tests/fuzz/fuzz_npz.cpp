// Fuzzes the .npz reader (zip of .npy entries, stored or deflated): any byte string
// is a state dict (which then round-trips through the .npz writer bitwise) or an
// xgrad::Error; never a crash, a hang, a leak, a huge allocation or a sanitizer report.
#include "fuzz_support.hpp"
#include "fuzz_weight_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string& path = xgrad::fuzz::write_scratch(data, size);
  xgrad::StateDict state;
  try {
    state = xgrad::detail::read_npz(path, "fuzz");
  } catch (const xgrad::Error&) {
    return 0;  // a clear error is a fine outcome
  }
  // Deflate expands at most 1032:1 and an int8 element becomes 8 bytes.
  xgrad::fuzz::check_round_trip(state, size, 1032 * 8, path, xgrad::detail::read_npz, xgrad::detail::write_npz);
  return 0;
}
