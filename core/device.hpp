// Devices. This build computes on the CPU only; naming another device is an error
// at the point where it is named, not later.
#pragma once

#include <string>
#include <string_view>

#include <fmt/format.h>

namespace xgrad {

class Device {
 public:
  // "cpu" (or "cpu:0"). Any other name throws xgrad::Error: a known accelerator
  // ("cuda", "cuda:1", "mps", ...) is "not available in this build", anything else "unknown".
  Device(std::string_view name = "cpu");  // NOLINT: implicit, like torch::Device("cpu")
  Device(const char* name) : Device(std::string_view(name)) {}  // NOLINT
  Device(const std::string& name) : Device(std::string_view(name)) {}  // NOLINT

  const std::string& str() const { return name_; }
  bool operator==(const Device&) const = default;

 private:
  std::string name_;
};

}  // namespace xgrad

template <>
struct fmt::formatter<xgrad::Device> : fmt::formatter<std::string_view> {
  auto format(const xgrad::Device& device, fmt::format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(device.str(), ctx);
  }
};
