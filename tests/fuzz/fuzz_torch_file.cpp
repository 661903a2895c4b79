// Fuzzes the .pt reader (torch.save zip + weights-only unpickler): any byte string
// is a state dict (which then round-trips through the .pt writer bitwise) or an
// xgrad::Error; never a crash, a hang, a leak, a huge allocation or a sanitizer report.
//
// First byte odd: the rest is a pickle, zipped here with storages "0".."3" of 8, 16,
// 32 and 64 bytes, so that mutations reach the unpickler instead of the zip's CRC-32.
#include "core/serialization/zip_archive.hpp"
#include "fuzz_support.hpp"
#include "fuzz_weight_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string zipped;
  if (size > 0 && (data[0] & 1) != 0) {
    xgrad::detail::ZipWriter zip("fuzz");
    zip.add("archive/data.pkl", std::string(reinterpret_cast<const char*>(data) + 1, size - 1));
    for (int k = 0; k < 4; ++k) zip.add("archive/data/" + std::to_string(k), std::string(std::size_t{8} << k, char(k + 1)));
    zipped = zip.finish();
    data = reinterpret_cast<const std::uint8_t*>(zipped.data());
    size = zipped.size();
  }
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
