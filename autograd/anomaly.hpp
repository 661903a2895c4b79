// Anomaly detection, like PyTorch's torch.autograd.detect_anomaly: while enabled,
// the first op whose forward output or backward gradient holds NaN or Inf throws
// xgrad::Error naming the op and where it was recorded (its op number and the
// modules whose forward was running, e.g. "Net > Sequential > Conv1d").
// It costs a scan of every tensor an op produces, so it is off by default.
#pragma once

#include <cstdint>
#include <string>

#include "core/tensor.hpp"

namespace xgrad::autograd {

void set_detect_anomaly(bool enabled);
bool is_anomaly_enabled();

// Enables anomaly detection in its scope (RAII).
class DetectAnomalyGuard {
 public:
  DetectAnomalyGuard() : previous_(is_anomaly_enabled()) { set_detect_anomaly(true); }
  ~DetectAnomalyGuard() { set_detect_anomaly(previous_); }
  DetectAnomalyGuard(const DetectAnomalyGuard&) = delete;
  DetectAnomalyGuard& operator=(const DetectAnomalyGuard&) = delete;

 private:
  bool previous_;
};

// Names the code running in its scope (Module::operator() opens one per module)
// so that anomaly reports can say where an op was recorded. Cheap when anomaly
// detection is off.
class AnomalyScope {
 public:
  explicit AnomalyScope(const std::string& label);
  ~AnomalyScope();
  AnomalyScope(const AnomalyScope&) = delete;
  AnomalyScope& operator=(const AnomalyScope&) = delete;

 private:
  bool active_;
};

// "op #12 recorded in Net > Sequential > Conv1d" for the op being recorded now.
std::string current_anomaly_context();
// Throws when `values` has a NaN or Inf: `what` says which op and which tensor.
void check_finite(const Tensor& values, const std::string& what);

}  // namespace xgrad::autograd
