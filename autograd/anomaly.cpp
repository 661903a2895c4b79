#include "autograd/anomaly.hpp"

#include <atomic>
#include <cmath>
#include <vector>

namespace xgrad::autograd {

namespace {
std::atomic<bool> anomaly_enabled{false};
thread_local std::vector<std::string> scopes;
thread_local std::uint64_t recorded_ops = 0;
}  // namespace

void set_detect_anomaly(bool enabled) { anomaly_enabled.store(enabled); }
bool is_anomaly_enabled() { return anomaly_enabled.load(std::memory_order_relaxed); }

AnomalyScope::AnomalyScope(const std::string& label) : active_(is_anomaly_enabled()) {
  if (active_) scopes.push_back(label);
}

AnomalyScope::~AnomalyScope() {
  if (active_ && !scopes.empty()) scopes.pop_back();
}

std::string current_anomaly_context() {
  ++recorded_ops;
  if (scopes.empty()) return fmt::format("op #{} recorded outside any module", recorded_ops);
  return fmt::format("op #{} recorded in {}", recorded_ops, fmt::join(scopes, " > "));
}

void check_finite(const Tensor& values, const std::string& what) {
  if (!values.defined()) return;
  dispatch(values.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* data = values.data_ptr<T>();
    for (std::int64_t i = 0; i < values.numel(); ++i) {
      if (!std::isfinite(data[i])) {
        fail("detect_anomaly: {} holds {} at flat index {} (shape {})", what,
             std::isnan(data[i]) ? "NaN" : "Inf", i, values.shape());
      }
    }
  });
}

}  // namespace xgrad::autograd
