// Tensor ops, as free functions (xgrad::exp(t), xgrad::matmul(a, b)); each is
// also a Tensor member. Every op records its backward when an input requires
// grad. Binary ops follow NumPy broadcasting; both operands must have the same
// dtype (a scalar takes the tensor's dtype).
#pragma once

#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "core/tensor.hpp"

namespace xgrad {

// --- elementwise (core/ops/elementwise.cpp) ---
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor neg(const Tensor& a);
Tensor add(const Tensor& a, double b);
Tensor mul(const Tensor& a, double b);
Tensor rsub(const Tensor& a, double b);  // b - a
Tensor rdiv(const Tensor& a, double b);  // b / a
Tensor pow(const Tensor& a, double exponent);
Tensor exp(const Tensor& a);
Tensor log(const Tensor& a);
Tensor tanh(const Tensor& a);
Tensor sigmoid(const Tensor& a);
Tensor relu(const Tensor& a);
Tensor sqrt(const Tensor& a);
Tensor abs(const Tensor& a);
// Elementwise maximum / minimum of two tensors (broadcasting); the gradient
// goes to the larger (smaller) one, split evenly on ties, as PyTorch.
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);
// Clamp into [low, high]; the gradient is zero where clamped.
Tensor clamp(const Tensor& a, double low, double high);

Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator+(const Tensor& a, double b);
Tensor operator-(const Tensor& a, double b);
Tensor operator*(const Tensor& a, double b);
Tensor operator/(const Tensor& a, double b);
Tensor operator+(double a, const Tensor& b);
Tensor operator-(double a, const Tensor& b);
Tensor operator*(double a, const Tensor& b);
Tensor operator/(double a, const Tensor& b);

// --- reductions (core/ops/reduction.cpp) ---
Tensor sum(const Tensor& a);                                                          // all elements, 0-dim
Tensor sum(const Tensor& a, const std::vector<std::int64_t>& dims, bool keepdim = false);
Tensor mean(const Tensor& a);
Tensor mean(const Tensor& a, const std::vector<std::int64_t>& dims, bool keepdim = false);
// Largest value along `dim` and its index (the first one on ties). xgrad's
// tensors hold floating point only, so the indices come in the input's dtype
// (exact up to 2^24 in float32); read them with item<std::int64_t>() or
// to_xarray<std::int64_t>(). Gradients flow to the chosen elements.
std::tuple<Tensor, Tensor> max(const Tensor& a, std::int64_t dim, bool keepdim = false);

// --- shapes (core/ops/shape_ops.cpp) ---
// Repeats size-1 (or missing leading) dims to reach `shape`; the gradient sums back.
Tensor broadcast_to(const Tensor& a, const Shape& shape);
Tensor reshape(const Tensor& a, const Shape& shape);  // one dim may be -1
Tensor flatten(const Tensor& a, std::int64_t start_dim = 0, std::int64_t end_dim = -1);
Tensor transpose(const Tensor& a, std::int64_t dim0, std::int64_t dim1);
Tensor permute(const Tensor& a, const std::vector<std::int64_t>& dims);
Tensor unsqueeze(const Tensor& a, std::int64_t dim);
Tensor squeeze(const Tensor& a);
Tensor squeeze(const Tensor& a, std::int64_t dim);
Tensor narrow(const Tensor& a, std::int64_t dim, std::int64_t start, std::int64_t length);
// Elements start, start+step, ... < end along dim (Python's a[start:end:step]);
// start/end are clamped like Python slices, negative values count from the end.
Tensor slice(const Tensor& a, std::int64_t dim, std::int64_t start, std::int64_t end, std::int64_t step = 1);
Tensor cat(const std::vector<Tensor>& tensors, std::int64_t dim = 0);
// Constant padding of the last dims: pads = {left_last, right_last, left_second_last, ...}
// like torch.nn.functional.pad(mode="constant"). Negative pads crop.
Tensor pad(const Tensor& a, const std::vector<std::int64_t>& pads, double value = 0.0);

// --- linear algebra (core/ops/matmul.cpp) ---
// torch.matmul semantics: 1-D x 1-D dot, 2-D matrix product, batched with
// broadcast batch dimensions; 1-D operands are promoted and the dim removed.
Tensor matmul(const Tensor& a, const Tensor& b);

}  // namespace xgrad
