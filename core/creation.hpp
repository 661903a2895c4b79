// Creation functions, like torch::zeros & co. Each takes a shape and options:
//   Tensor w = randn({33, 16, 3}, {.dtype = kFloat64, .requires_grad = true});
#pragma once

#include "core/random.hpp"
#include "core/tensor.hpp"

namespace xgrad {

Tensor empty(const Shape& shape, TensorOptions options = {});   // uninitialized values
Tensor zeros(const Shape& shape, TensorOptions options = {});
Tensor ones(const Shape& shape, TensorOptions options = {});
Tensor full(const Shape& shape, double value, TensorOptions options = {});
Tensor rand(const Shape& shape, TensorOptions options = {});    // U[0, 1)
Tensor randn(const Shape& shape, TensorOptions options = {});   // N(0, 1)
// 1-D [start, start + step, ...) up to (excluding) end, like torch::arange.
Tensor arange(double end, TensorOptions options = {});
Tensor arange(double start, double end, double step = 1.0, TensorOptions options = {});
// Same shape and dtype as `like`.
Tensor zeros_like(const Tensor& like);
Tensor ones_like(const Tensor& like);
// A 0-dim tensor holding `value`.
Tensor scalar_tensor(double value, TensorOptions options = {});

}  // namespace xgrad
