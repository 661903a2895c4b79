#include "core/device.hpp"

#include <array>

#include "core/error.hpp"

namespace xgrad {

Device::Device(std::string_view name) : name_(name) {
  if (name == "cpu" || name == "cpu:0") {
    name_ = "cpu";
    return;
  }
  const std::string_view type = name.substr(0, name.find(':'));
  constexpr std::array<std::string_view, 8> accelerators = {"cuda", "mps", "xpu", "hip", "xla", "vulkan", "meta", "ipu"};
  for (std::string_view known : accelerators) {
    if (type == known) {
      fail("Device: device '{}' is not available in this build (xgrad computes on 'cpu' only)", name);
    }
  }
  fail("Device: unknown device '{}' (expected 'cpu')", name);
}

}  // namespace xgrad
