#include "optim/sgd.hpp"

#include <cmath>
#include <set>

#include "autograd/grad_mode.hpp"
#include "core/creation.hpp"

namespace xgrad::optim {

namespace {

// Parses "momentum_buffer.<i>"; returns -1 when `name` has another form.
std::int64_t buffer_index(const std::string& name) {
  static const std::string prefix = "momentum_buffer.";
  if (name.rfind(prefix, 0) != 0 || name.size() == prefix.size() || name.size() > prefix.size() + 9) return -1;
  std::int64_t index = 0;
  for (std::size_t i = prefix.size(); i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9') return -1;
    index = index * 10 + (name[i] - '0');
  }
  return index;
}

// The learning rates PyTorch's SGD accepts: finite and non-negative.
bool valid_lr(double lr) { return lr >= 0.0 && std::isfinite(lr); }

}  // namespace

SGD::SGD(std::vector<Tensor> params, SGDOptions options) : Optimizer(std::move(params), "SGD"), options_(options) {
  XGRAD_CHECK(options.lr.has_value(), "SGD: the learning rate is required: SGD(params, {{.lr = 0.01}})");
  set_lr(*options.lr);
  XGRAD_CHECK(options.momentum >= 0.0 && std::isfinite(options.momentum), "SGD: Invalid momentum value: {}",
              options.momentum);
  XGRAD_CHECK(options.weight_decay >= 0.0 && std::isfinite(options.weight_decay), "SGD: Invalid weight_decay value: {}",
              options.weight_decay);
  XGRAD_CHECK(std::isfinite(options.dampening), "SGD: Invalid dampening value: {}", options.dampening);
  XGRAD_CHECK(!options.nesterov || (options.momentum > 0 && options.dampening == 0),
              "SGD: Nesterov momentum requires a momentum and zero dampening (got momentum={}, dampening={})",
              options.momentum, options.dampening);
  momentum_buffers_.resize(params_.size());
}

void SGD::set_lr(double lr) {
  XGRAD_CHECK(valid_lr(lr), "SGD: Invalid learning rate: {}", lr);
  options_.lr = lr;
}

void SGD::step() {
  NoGradGuard no_grad;
  const SGDOptions& o = options_;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    Tensor& param = params_[i];
    const Tensor& grad = param.grad();
    if (!grad.defined()) continue;
    XGRAD_CHECK(grad.shape() == param.shape() && grad.dtype() == param.dtype(),
                "SGD: parameter {} ({} {}) has a gradient of {} {}", i, param.dtype(), param.shape(), grad.dtype(),
                grad.shape());
    const bool first = o.momentum != 0 && !momentum_buffers_[i].defined();
    if (first) momentum_buffers_[i] = empty(param.shape(), {.dtype = param.dtype()});
    // The buffer follows its parameter's dtype (after module.to(kFloat64), say), as
    // PyTorch's SGD keeps working; the conversion is exact from float32 to float64.
    if (!first && o.momentum != 0 && momentum_buffers_[i].dtype() != param.dtype()) {
      momentum_buffers_[i] = momentum_buffers_[i].to(param.dtype());
    }
    dispatch(param.dtype(), [&](auto tag) {
      using T = decltype(tag);
      // Constants in the parameter's type, as PyTorch's scalar arguments.
      const T weight_decay = static_cast<T>(o.weight_decay), momentum = static_cast<T>(o.momentum);
      const T keep = static_cast<T>(1 - o.dampening), step = static_cast<T>(-*o.lr);
      T* p = param.data_ptr<T>();
      const T* g = grad.data_ptr<T>();
      T* buf = o.momentum != 0 ? momentum_buffers_[i].data_ptr<T>() : nullptr;
      const std::int64_t n = param.numel();
      for (std::int64_t j = 0; j < n; ++j) {
        T d = o.maximize ? -g[j] : g[j];
        if (o.weight_decay != 0) d = d + weight_decay * p[j];
        if (buf != nullptr) {
          buf[j] = first ? d : buf[j] * momentum + keep * d;
          d = o.nesterov ? d + momentum * buf[j] : buf[j];
        }
        p[j] = p[j] + step * d;
      }
    });
    param.impl()->storage->bump_version("SGD::step");  // an in-place update, like PyTorch's add_
  }
}

nn::StateDict SGD::state_dict() const {
  nn::StateDict state;
  state.emplace_back("lr", scalar_tensor(lr(), {.dtype = kFloat64}));
  for (std::size_t i = 0; i < momentum_buffers_.size(); ++i) {
    if (momentum_buffers_[i].defined()) state.emplace_back(fmt::format("momentum_buffer.{}", i), momentum_buffers_[i]);
  }
  return state;
}

void SGD::check_state_dict(const nn::StateDict& state) const {
  std::vector<std::string> problems;
  std::set<std::string> seen;
  bool has_lr = false;
  for (const auto& [name, tensor] : state) {
    if (!seen.insert(name).second) {
      problems.push_back(fmt::format("'{}' appears twice", name));
      continue;
    }
    if (!tensor.defined()) {
      problems.push_back(fmt::format("'{}' is an undefined tensor", name));
      continue;
    }
    if (name == "lr") {
      has_lr = true;
      if (tensor.numel() != 1 || tensor.dim() != 0 || tensor.dtype() != kFloat64) {
        problems.push_back(fmt::format("'lr' must be a 0-dim float64 tensor, got {} {}", tensor.dtype(), tensor.shape()));
      } else if (!valid_lr(tensor.item<double>())) {
        problems.push_back(fmt::format("'lr' is {}", tensor.item<double>()));
      }
      continue;
    }
    const std::int64_t index = buffer_index(name);
    if (index < 0 || index >= static_cast<std::int64_t>(params_.size())) {
      problems.push_back(fmt::format("unexpected entry '{}' (this SGD has {} parameters)", name, params_.size()));
      continue;
    }
    if (options_.momentum == 0) {
      problems.push_back(fmt::format("'{}' is a momentum buffer but this SGD has momentum=0", name));
      continue;
    }
    const Tensor& param = params_[static_cast<std::size_t>(index)];
    if (tensor.shape() != param.shape() || tensor.dtype() != param.dtype()) {
      problems.push_back(fmt::format("'{}' is {} {} but parameter {} is {} {}", name, tensor.dtype(), tensor.shape(),
                                     index, param.dtype(), param.shape()));
    }
  }
  if (!has_lr) problems.push_back("missing entry 'lr'");
  XGRAD_CHECK(problems.empty(), "SGD: cannot load state ({}); nothing was changed", fmt::join(problems, "; "));
}

void SGD::load_state_dict(const nn::StateDict& state) {
  check_state_dict(state);
  std::vector<Tensor> buffers(params_.size());
  for (const auto& [name, tensor] : state) {
    if (name == "lr") {
      options_.lr = tensor.item<double>();  // check_state_dict validated it
    } else {
      buffers[static_cast<std::size_t>(buffer_index(name))] = tensor.detach().clone();
    }
  }
  momentum_buffers_ = std::move(buffers);
}

}  // namespace xgrad::optim
