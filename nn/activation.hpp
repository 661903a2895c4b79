// Activation modules: ReLU, Tanh, Sigmoid, Softmax, LogSoftmax (torch.nn names
// and reprs). Each is its elementwise op as a module, for nn::Sequential.
#pragma once

#include <cstdint>

#include "core/tensor.hpp"
#include "nn/module.hpp"

namespace xgrad::nn {

// max(x, 0). Any shape.
class ReLU : public Module {
 public:
  Tensor forward(const Tensor& input) override;
  std::string type_name() const override { return "ReLU"; }
};

// tanh(x). Any shape.
class Tanh : public Module {
 public:
  Tensor forward(const Tensor& input) override;
  std::string type_name() const override { return "Tanh"; }
};

// 1 / (1 + exp(-x)). Any shape.
class Sigmoid : public Module {
 public:
  Tensor forward(const Tensor& input) override;
  std::string type_name() const override { return "Sigmoid"; }
};

// softmax along dim.
class Softmax : public Module {
 public:
  explicit Softmax(std::int64_t dimension) : dim(dimension) {}
  Tensor forward(const Tensor& input) override;
  std::string type_name() const override { return "Softmax"; }
  std::string extra_repr() const override;
  std::int64_t dim;
};

// log(softmax) along dim, computed stably.
class LogSoftmax : public Module {
 public:
  explicit LogSoftmax(std::int64_t dimension) : dim(dimension) {}
  Tensor forward(const Tensor& input) override;
  std::string type_name() const override { return "LogSoftmax"; }
  std::string extra_repr() const override;
  std::int64_t dim;
};

}  // namespace xgrad::nn
