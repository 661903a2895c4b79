// Tensor ops, as free functions (xgrad::exp(t), xgrad::matmul(a, b)); each is
// also a Tensor member. Every op records its backward when an input requires
// grad. Binary ops follow NumPy broadcasting; both tensor operands must have the
// same dtype.
//
// Dtypes, as PyTorch: a Scalar operand keeps a floating tensor's dtype; with an
// int64 tensor an integer scalar keeps int64 and a floating one gives float32
// (see result_type in core/scalar.hpp). int64 add/sub/mul/neg/abs/relu/
// maximum/minimum/clamp stay int64 (wrapping on overflow); division and
// exp/log/tanh/sigmoid/sqrt compute int64 and bool inputs as float32. On bool,
// add is "or" and mul is "and"; sub, neg, abs, relu and clamp refuse bool.
// pow, matmul and mean take floating-point tensors only. Every refusal is an
// xgrad::Error naming the op and the dtype.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "ops/indexing.hpp"
#include "core/scalar.hpp"
#include "core/tensor.hpp"

namespace xgrad {

// --- elementwise (ops/elementwise.cpp) ---
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor neg(const Tensor& a);
Tensor add(const Tensor& a, Scalar b);
Tensor sub(const Tensor& a, Scalar b);
Tensor mul(const Tensor& a, Scalar b);
Tensor div(const Tensor& a, Scalar b);
Tensor rsub(const Tensor& a, Scalar b);  // b - a
Tensor rdiv(const Tensor& a, Scalar b);  // b / a
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
Tensor clamp(const Tensor& a, Scalar low, Scalar high);

Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator+(const Tensor& a, Scalar b);
Tensor operator-(const Tensor& a, Scalar b);
Tensor operator*(const Tensor& a, Scalar b);
Tensor operator/(const Tensor& a, Scalar b);
Tensor operator+(Scalar a, const Tensor& b);
Tensor operator-(Scalar a, const Tensor& b);
Tensor operator*(Scalar a, const Tensor& b);
Tensor operator/(Scalar a, const Tensor& b);

// --- comparisons and masks (ops/comparison.cpp) ---
// Elementwise, broadcasting, any dtype (tensor operands of the same dtype); the
// result is kBool and never requires grad.
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);
Tensor eq(const Tensor& a, Scalar b);
Tensor ne(const Tensor& a, Scalar b);
Tensor lt(const Tensor& a, Scalar b);
Tensor le(const Tensor& a, Scalar b);
Tensor gt(const Tensor& a, Scalar b);
Tensor ge(const Tensor& a, Scalar b);
Tensor operator==(const Tensor& a, const Tensor& b);
Tensor operator!=(const Tensor& a, const Tensor& b);
Tensor operator<(const Tensor& a, const Tensor& b);
Tensor operator<=(const Tensor& a, const Tensor& b);
Tensor operator>(const Tensor& a, const Tensor& b);
Tensor operator>=(const Tensor& a, const Tensor& b);
Tensor operator==(const Tensor& a, Scalar b);
Tensor operator!=(const Tensor& a, Scalar b);
Tensor operator<(const Tensor& a, Scalar b);
Tensor operator<=(const Tensor& a, Scalar b);
Tensor operator>(const Tensor& a, Scalar b);
Tensor operator>=(const Tensor& a, Scalar b);
Tensor operator==(Scalar a, const Tensor& b);
Tensor operator!=(Scalar a, const Tensor& b);
Tensor operator<(Scalar a, const Tensor& b);
Tensor operator<=(Scalar a, const Tensor& b);
Tensor operator>(Scalar a, const Tensor& b);
Tensor operator>=(Scalar a, const Tensor& b);
// Logical ops on any dtype (nonzero is true) giving kBool; ~, & and | take kBool masks.
Tensor logical_not(const Tensor& a);
Tensor logical_and(const Tensor& a, const Tensor& b);
Tensor logical_or(const Tensor& a, const Tensor& b);
Tensor operator~(const Tensor& mask);
Tensor operator&(const Tensor& a, const Tensor& b);
Tensor operator|(const Tensor& a, const Tensor& b);
// a where condition (kBool) holds, b elsewhere; condition, a and b broadcast
// together. Differentiable in a and b (each gets the gradient where it was chosen).
// A Scalar side converts as in arithmetic (an int64 tensor with 0.5 gives float32).
Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b);
Tensor where(const Tensor& condition, const Tensor& a, Scalar b);
Tensor where(const Tensor& condition, Scalar a, const Tensor& b);
// a with `value` (converted to a's dtype, as PyTorch) where mask (kBool) is
// true; mask and a broadcast together. Differentiable in a.
Tensor masked_fill(const Tensor& a, const Tensor& mask, Scalar value);

// --- reductions (ops/reduction.cpp) ---
Tensor sum(const Tensor& a);                                                          // all elements, 0-dim
Tensor sum(const Tensor& a, const std::vector<std::int64_t>& dims, bool keepdim = false);
Tensor mean(const Tensor& a);
Tensor mean(const Tensor& a, const std::vector<std::int64_t>& dims, bool keepdim = false);
// sum of int64 or bool gives int64 (as PyTorch); mean takes floating point only.
// Largest (smallest) value along `dim` and its int64 index (the first one on
// ties; a NaN wins, as in PyTorch). Gradients flow to the chosen elements.
std::tuple<Tensor, Tensor> max(const Tensor& a, std::int64_t dim, bool keepdim = false);
std::tuple<Tensor, Tensor> min(const Tensor& a, std::int64_t dim, bool keepdim = false);
// The int64 index of the largest (smallest) value along `dim`; without a dim,
// the flat index over all elements (a 0-dim tensor, or all dims of size 1 with keepdim).
Tensor argmax(const Tensor& a, std::optional<std::int64_t> dim = std::nullopt, bool keepdim = false);
Tensor argmin(const Tensor& a, std::optional<std::int64_t> dim = std::nullopt, bool keepdim = false);

// --- shapes (ops/shape_ops.cpp) ---
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
// Joins tensors of one shape along a new dim (torch.stack).
Tensor stack(const std::vector<Tensor>& tensors, std::int64_t dim = 0);
// Reverses the order of elements along each of `dims`.
Tensor flip(const Tensor& a, const std::vector<std::int64_t>& dims);
// Shifts elements along `dims` by `shifts` (one per dim), wrapping around; with
// no dims the tensor is rolled as if flattened (one shift). torch.roll.
Tensor roll(const Tensor& a, const std::vector<std::int64_t>& shifts, const std::vector<std::int64_t>& dims = {});

// --- indexing (ops/indexing.cpp) ---
// The entries of `a` at positions `index` (kInt64, 0-D or 1-D, each in
// [0, size(dim)) as in PyTorch) along `dim`; that dim becomes index.numel() long. Differentiable
// in a (the backward adds the gradient back at those positions).
Tensor index_select(const Tensor& a, std::int64_t dim, const Tensor& index);
// out[i][j][k] = a[index[i][j][k]][j][k] for dim 0 (likewise for other dims):
// index is kInt64 of a's rank, no larger than a outside `dim`; out has index's
// shape. Differentiable in a (the backward is a scatter-add).
Tensor gather(const Tensor& a, std::int64_t dim, const Tensor& index);
// Constant padding of the last dims: pads = {left_last, right_last, left_second_last, ...}
// like torch.nn.functional.pad(mode="constant"). Negative pads crop.
Tensor pad(const Tensor& a, const std::vector<std::int64_t>& pads, double value = 0.0);

// --- linear algebra (ops/matmul.cpp) ---
// torch.matmul semantics: 1-D x 1-D dot, 2-D matrix product, batched with
// broadcast batch dimensions; 1-D operands are promoted and the dim removed.
Tensor matmul(const Tensor& a, const Tensor& b);  // floating point only

}  // namespace xgrad
