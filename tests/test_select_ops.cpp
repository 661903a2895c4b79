// Comparisons, where/masked_fill, argmax/argmin, stack, index_select, gather,
// Tensor::index, flip and roll: forward values and shapes as PyTorch 1.13
// gives them, gradients by hand, and each documented misuse. (Gradients are
// also gradchecked to second order in test_gradcheck_ops.cpp.)
#include <doctest/doctest.h>

#include <xgrad.hpp>

#include "support/testing.hpp"

using namespace xgrad;
using namespace xgrad::indexing;
using doctest::Contains;
using testing::values;

namespace {
// 0, 1, ..., n-1 in float64, reshaped.
Tensor iota(const Shape& shape) { return arange(checked_numel(shape, "iota"), {.dtype = kFloat64}).reshape(shape); }
}  // namespace

TEST_CASE("comparisons: six ops, operators, broadcasting, scalars on either side") {
  Tensor a = testing::from_values({1, 2, 3}, false);
  Tensor b = testing::from_values({3, 2, 1}, false);
  CHECK(values(eq(a, b)) == std::vector<double>{0, 1, 0});
  CHECK(values(a != b) == std::vector<double>{1, 0, 1});
  CHECK(values(a < b) == std::vector<double>{1, 0, 0});
  CHECK(values(a.le(b)) == std::vector<double>{1, 1, 0});
  CHECK(values(gt(a, b)) == std::vector<double>{0, 0, 1});
  CHECK(values(a >= b) == std::vector<double>{0, 1, 1});
  CHECK((a == b).dtype() == kBool);
  // Broadcasting: (3, 1) against (3,) gives (3, 3).
  Tensor grid = a.reshape({3, 1}) < b;
  CHECK(grid.shape() == Shape{3, 3});
  CHECK(values(grid) == std::vector<double>{1, 1, 0, 1, 0, 0, 0, 0, 0});
  CHECK(values(a > 1.5) == std::vector<double>{0, 1, 1});
  CHECK(values(2 < a) == std::vector<double>{0, 0, 1});  // the scalar on the left mirrors the op
  CHECK(values(2 >= a) == std::vector<double>{1, 1, 0});
  CHECK(values(a.eq(2)) == std::vector<double>{0, 1, 0});
  // float32 compares with the scalar in float32, as PyTorch: 0.1f == 0.1.
  CHECK(values(full({1}, 0.1) == 0.1) == std::vector<double>{1});
  // int64 against a large integer compares exactly (not through double).
  Tensor big = testing::int64_values({(std::int64_t{1} << 53) + 1});
  CHECK(values(big == (std::int64_t{1} << 53)) == std::vector<double>{0});
  CHECK(values(big > (std::int64_t{1} << 53)) == std::vector<double>{1});
  // NaN compares false except with !=.
  Tensor nan = testing::from_values({std::nan("")}, false);
  CHECK(values(nan == nan) == std::vector<double>{0});
  CHECK(values(nan != 0.0) == std::vector<double>{1});
  // Logical ops.
  Tensor m = testing::bool_values({true, false, true});
  Tensor n = testing::bool_values({true, true, false});
  CHECK(values(~m) == std::vector<double>{0, 1, 0});
  CHECK(values(m & n) == std::vector<double>{1, 0, 0});
  CHECK(values(m | n) == std::vector<double>{1, 1, 1});
  CHECK(values(logical_and(a, testing::from_values({0, 1, 0}, false))) == std::vector<double>{0, 1, 0});
  CHECK(values(logical_or(a - 1, a - 2)) == std::vector<double>{1, 1, 1});
  // Misuse.
  CHECK_THROWS_WITH_AS(a == ones({3}), Contains("eq: operands have different dtypes (float64 [3] and float32 [3])"), Error);
  CHECK_THROWS_WITH_AS(a < ones({2}, {.dtype = kFloat64}), Contains("lt"), Error);
  CHECK_THROWS_WITH_AS(~a, Contains("operator~: the operand must be a kBool tensor, got float64"), Error);
  CHECK_THROWS_WITH_AS(m & a, Contains("operator&: the right operand must be a kBool tensor"), Error);
  CHECK_THROWS_WITH_AS(Tensor() > 0, Contains("gt: an operand is an undefined tensor"), Error);
}

TEST_CASE("where and masked_fill: values, broadcasting, gradients") {
  Tensor cond = testing::bool_values({true, false, true});
  Tensor a = testing::from_values({1, 2, 3});
  Tensor b = testing::from_values({10, 20, 30});
  Tensor out = where(cond, a, b);
  CHECK(values(out) == std::vector<double>{1, 20, 3});
  CHECK(out.grad_fn_name() == "WhereBackward");
  (out * testing::from_values({1, 2, 3}, false)).sum().backward();
  CHECK(values(a.grad()) == std::vector<double>{1, 0, 3});
  CHECK(values(b.grad()) == std::vector<double>{0, 2, 0});
  // Condition (2, 1), values (3,) and a scalar: shape (2, 3).
  Tensor w = where(testing::bool_values({true, false}).reshape({2, 1}), a, 0.5);
  CHECK(w.shape() == Shape{2, 3});
  CHECK(values(w) == std::vector<double>{1, 2, 3, 0.5, 0.5, 0.5});
  // An int64 tensor with a floating scalar is float32, as PyTorch's promotion.
  CHECK(where(cond, testing::int64_values({1, 2, 3}), 0.5).dtype() == kFloat32);
  CHECK(where(cond, testing::int64_values({1, 2, 3}), 7).dtype() == kInt64);
  // masked_fill: the value where the mask is true; gradient only where it is false.
  Tensor x = testing::from_values({1, 2, 3});
  Tensor filled = x.masked_fill(cond, -1);
  CHECK(values(filled) == std::vector<double>{-1, 2, -1});
  filled.sum().backward();
  CHECK(values(x.grad()) == std::vector<double>{0, 1, 0});
  // A mask larger than the input broadcasts the output, as PyTorch's out-of-place masked_fill.
  CHECK(masked_fill(x, testing::bool_values({true, false, false, true, true, true}).reshape({2, 3}), 0).shape() ==
        Shape{2, 3});
  // The mask is saved: changing it in place before backward is caught.
  Tensor mask = testing::bool_values({true, false, true});
  Tensor y = testing::from_values({1, 2, 3});
  Tensor z = y.masked_fill(mask, 0).sum();
  mask.fill_(0);
  CHECK_THROWS_WITH_AS(z.backward(), Contains("WhereBackward: a saved tensor (bool [3]), saved for backward at version 0"),
                       Error);
  // Misuse.
  CHECK_THROWS_WITH_AS(where(a > 1, a, ones({3})), Contains("where: the two value tensors have different dtypes"), Error);
  CHECK_THROWS_WITH_AS(where(a, a, b), Contains("where: the condition must be a kBool tensor, got float64"), Error);
  CHECK_THROWS_WITH_AS(where(cond, a, ones({2}, {.dtype = kFloat64})), Contains("where: shapes"), Error);
  CHECK_THROWS_WITH_AS(x.masked_fill(testing::int64_values({1, 0, 1}), 0), Contains("masked_fill: the mask must be a kBool tensor, got int64"), Error);
  CHECK_THROWS_WITH_AS(x.masked_fill(Tensor(), 0), Contains("masked_fill: the mask is an undefined tensor"), Error);
}

TEST_CASE("argmax, argmin, min: int64 indices, first on ties, NaN wins") {
  Tensor x = testing::from_values({1, 5, 5, -2, 0, -2}, false).reshape({2, 3});
  Tensor am = x.argmax(1);
  CHECK(am.dtype() == kInt64);
  CHECK(values(am) == std::vector<double>{1, 1});  // ties: the first
  CHECK(values(x.argmin(1)) == std::vector<double>{0, 0});
  CHECK(values(x.argmax(0, true)) == std::vector<double>{0, 0, 0});
  CHECK(x.argmax(0, true).shape() == Shape{1, 3});
  CHECK(x.argmax().shape() == Shape{});
  CHECK(x.argmax().item<std::int64_t>() == 1);  // flat index
  CHECK(x.argmin().item<std::int64_t>() == 3);
  CHECK(argmax(x, std::nullopt, true).shape() == Shape{1, 1});  // torch.argmax(x, keepdim=True)
  auto [low, where_low] = x.min(1);
  CHECK(values(low) == std::vector<double>{1, -2});
  CHECK(values(where_low) == std::vector<double>{0, 0});
  auto [top, top_index] = x.max(1);
  CHECK(top_index.dtype() == kInt64);
  Tensor with_nan = testing::from_values({1, std::nan(""), 3}, false);
  CHECK(with_nan.argmax().item<std::int64_t>() == 1);
  CHECK(with_nan.argmin().item<std::int64_t>() == 1);
  CHECK(std::isnan(std::get<0>(with_nan.min(0)).item<double>()));
  CHECK_THROWS_WITH_AS(zeros({0}).argmax(), Contains("argmax: cannot take the argmax of an empty tensor"), Error);
  CHECK_THROWS_WITH_AS(x.argmin(2), Contains("argmin: dimension 2 is out of range"), Error);
  CHECK_THROWS_WITH_AS(zeros({2, 0}).argmax(1), Contains("argmax: cannot reduce over dimension 1 of size 0"), Error);
}

TEST_CASE("stack: a new dim, every input gets its slab of the gradient") {
  Tensor a = testing::from_values({1, 2});
  Tensor b = testing::from_values({3, 4});
  Tensor s = stack({a, b}, 1);
  CHECK(s.shape() == Shape{2, 2});
  CHECK(values(s) == std::vector<double>{1, 3, 2, 4});
  CHECK(stack({a, b}, -1).shape() == Shape{2, 2});
  CHECK(stack({a, b}).shape() == Shape{2, 2});
  (s * testing::from_values({1, 2, 3, 4}, false).reshape({2, 2})).sum().backward();
  CHECK(values(a.grad()) == std::vector<double>{1, 3});
  CHECK(values(b.grad()) == std::vector<double>{2, 4});
  CHECK(stack({scalar_tensor(1), scalar_tensor(2)}).shape() == Shape{2});
  CHECK_THROWS_WITH_AS(stack({}), Contains("stack: expected a non-empty list of tensors"), Error);
  CHECK_THROWS_WITH_AS(stack({zeros({2}), zeros({3})}), Contains("stack: expects tensors of one shape, got [2] at entry 0 and [3] at entry 1"),
                       Error);
  CHECK_THROWS_WITH_AS(stack({zeros({2}), zeros({2})}, 2), Contains("stack: dimension 2 is out of range"), Error);
}

TEST_CASE("index_select and gather: values, scatter-add gradients, misuse") {
  Tensor x = iota({2, 3}).requires_grad_();
  Tensor picked = x.index_select(1, testing::int64_values({2, 0, 2}));
  CHECK(picked.shape() == Shape{2, 3});
  CHECK(values(picked) == std::vector<double>{2, 0, 2, 5, 3, 5});
  CHECK(picked.grad_fn_name() == "IndexSelectBackward");
  picked.sum().backward();
  CHECK(values(x.grad()) == std::vector<double>{1, 0, 2, 1, 0, 2});  // index 2 twice: its gradient adds up
  CHECK(index_select(x, 0, testing::int64_values({1}).reshape({})).shape() == Shape{1, 3});  // a 0-D index
  // gather: torch.gather(arange(6.).reshape(2, 3), 1, [[2, 0], [1, 1]]) == [[2, 0], [4, 4]]
  Tensor y = iota({2, 3}).requires_grad_();
  Tensor g = y.gather(1, testing::int64_values({2, 0, 1, 1}).reshape({2, 2}));
  CHECK(values(g) == std::vector<double>{2, 0, 4, 4});
  g.backward(testing::from_values({1, 2, 3, 4}, false).reshape({2, 2}));
  CHECK(values(y.grad()) == std::vector<double>{2, 0, 1, 0, 7, 0});
  // Labels (int64) can be selected too: shuffling a dataset.
  CHECK(values(testing::int64_values({7, 8, 9}).index_select(0, testing::int64_values({2, 0}))) ==
        std::vector<double>{9, 7});
  // Misuse.
  const Tensor i = testing::int64_values({0, 3});
  CHECK_THROWS_WITH_AS(x.index_select(1, i), Contains("index_select: index 3 is out of range for dimension 1 of size 3"), Error);
  CHECK_THROWS_WITH_AS(x.index_select(1, testing::int64_values({-1})), Contains("index -1 is out of range"), Error);
  CHECK_THROWS_WITH_AS(x.index_select(1, ones({2})), Contains("index_select: the index must be a kInt64 tensor, got float32"), Error);
  CHECK_THROWS_WITH_AS(x.index_select(1, i.reshape({1, 2})), Contains("index_select: the index must be 0-D or 1-D"), Error);
  CHECK_THROWS_WITH_AS(x.index_select(2, i), Contains("index_select: dimension 2 is out of range"), Error);
  CHECK_THROWS_WITH_AS(scalar_tensor(1).index_select(0, i), Contains("index_select: cannot index a 0-dim tensor"), Error);
  CHECK_THROWS_WITH_AS(x.gather(1, i), Contains("gather: the index (shape [2]) must have as many dims as the input (shape [2, 3])"),
                       Error);
  CHECK_THROWS_WITH_AS(x.gather(1, testing::int64_values({0, 0, 0, 0, 0, 0}).reshape({3, 2})),
                       Contains("gather: index of shape [3, 2] is larger than the input of shape [2, 3] in dimension 0"), Error);
  CHECK_THROWS_WITH_AS(x.gather(0, testing::int64_values({2}).reshape({1, 1})),
                       Contains("gather: index 2 is out of range for dimension 0 of size 2"), Error);
  CHECK_THROWS_WITH_AS(x.gather(0, Tensor()), Contains("gather: the index is an undefined tensor"), Error);
}

TEST_CASE("Tensor::index: integers, slices, None, Ellipsis, masks and int64 tensors as PyTorch") {
  Tensor x = iota({2, 3, 4});
  CHECK(x.index({0}).shape() == Shape{3, 4});
  CHECK(values(x.index({1, 2, 3})) == std::vector<double>{23});
  CHECK(values(x.index({-1, -1, -1})) == std::vector<double>{23});
  CHECK(x.index({Slice(), 1}).shape() == Shape{2, 4});
  CHECK(values(x.index({0, 0, Slice(1, None, 2)})) == std::vector<double>{1, 3});
  CHECK(values(x.index({0, 0, Slice(None, -2)})) == std::vector<double>{0, 1});
  CHECK(x.index({Ellipsis, 0}).shape() == Shape{2, 3});                            // x[..., 0]
  CHECK(x.index({"...", 0}).shape() == Shape{2, 3});
  CHECK(x.index({None, Slice(1, None), Ellipsis, None}).shape() == Shape{1, 1, 3, 4, 1});  // x[None, 1:, ..., None]
  CHECK(x.index({}).shape() == Shape{2, 3, 4});
  // PyTorch applies integers first: x[0, :, idx] has shape (3, 2), not NumPy's (2, 3).
  CHECK(x.index({0, Slice(), testing::int64_values({1, 2})}).shape() == Shape{3, 2});
  CHECK(x.index({testing::int64_values({0, 1, 1, 0}).reshape({2, 2})}).shape() == Shape{2, 2, 3, 4});
  CHECK(x.index({Slice(), testing::int64_values({-1})}).shape() == Shape{2, 1, 4});
  // Masks: x[x > 10] has 13 elements; x[:, m] with m over dim 1 keeps the others.
  Tensor big = x.index({x > 10});
  CHECK(big.shape() == Shape{13});
  CHECK(values(big).front() == 11);
  Tensor none = x.index({Slice(), testing::bool_values({false, false, false})});
  CHECK(none.shape() == Shape{2, 0, 4});
  CHECK(x.index({0, x.index({0}) > 5}).shape() == Shape{6});
  // Differentiable: the gradient lands on the selected elements.
  Tensor y = iota({2, 3}).requires_grad_();
  y.index({Slice(), testing::bool_values({true, false, true})}).sum().backward();
  CHECK(values(y.grad()) == std::vector<double>{1, 0, 1, 1, 0, 1});
  // Misuse.
  CHECK_THROWS_WITH_AS(x.index({2}), Contains("index: index 2 is out of range for dimension 0 of size 2"), Error);
  CHECK_THROWS_WITH_AS(x.index({0, 0, 0, 0}), Contains("index: too many indices for a tensor of shape [2, 3, 4]"), Error);
  CHECK_THROWS_WITH_AS(x.index({Ellipsis, 0, Ellipsis}), Contains("index: an index can only have a single ellipsis"), Error);
  CHECK_THROWS_WITH_AS(x.index({Slice(0, 2, -1)}), Contains("index: slice step must be positive, got -1"), Error);
  CHECK_THROWS_WITH_AS(x.index({Slice(0, 2, 0)}), Contains("slice step must be positive, got 0"), Error);
  CHECK_THROWS_WITH_AS(x.index({ones({2})}), Contains("index: a tensor index must be a kBool mask or kInt64 indices, got float32"),
                       Error);
  CHECK_THROWS_WITH_AS(x.index({testing::bool_values({true, false, true})}),
                       Contains("index: the mask of shape [3] does not match the indexed dims [2] of the tensor's shape"), Error);
  CHECK_THROWS_WITH_AS(x.index({testing::int64_values({0}), testing::int64_values({0})}),
                       Contains("index: at most one tensor index is supported, got 2"), Error);
  CHECK_THROWS_WITH_AS(x.index({Slice(), testing::int64_values({3})}),
                       Contains("index: index 3 is out of range for dimension 1 of size 3"), Error);
  CHECK_THROWS_WITH_AS(x.index({"..x"}), Contains("the only string index is \"...\""), Error);
  CHECK_THROWS_WITH_AS(x.index({Tensor()}), Contains("index: a tensor index is undefined"), Error);
  CHECK_THROWS_WITH_AS(Tensor().index({0}), Contains("index: called on an undefined tensor"), Error);
}

TEST_CASE("flip and roll: values as PyTorch, gradients flipped and rolled back") {
  Tensor x = iota({2, 3});
  CHECK(values(x.flip({0, 1})) == std::vector<double>{5, 4, 3, 2, 1, 0});
  CHECK(values(x.flip({-1})) == std::vector<double>{2, 1, 0, 5, 4, 3});
  CHECK(values(x.flip({})) == values(x));
  // torch.arange(6).reshape(2, 3).roll(1) and .roll((1, 1), (0, 1))
  CHECK(values(x.roll({1})) == std::vector<double>{5, 0, 1, 2, 3, 4});
  CHECK(values(x.roll({1, 1}, {0, 1})) == std::vector<double>{5, 3, 4, 2, 0, 1});
  CHECK(values(arange(5).roll({2})) == std::vector<double>{3, 4, 0, 1, 2});
  CHECK(values(arange(5).roll({-7}, {0})) == std::vector<double>{2, 3, 4, 0, 1});
  CHECK(values(arange(5).roll({std::numeric_limits<std::int64_t>::min()}, {0})) == values(arange(5).roll({-3}, {0})));
  CHECK(zeros({0, 3}).roll({2}, {0}).shape() == Shape{0, 3});
  Tensor y = iota({4}).requires_grad_();
  y.roll({1}).backward(testing::from_values({1, 2, 3, 4}, false));
  CHECK(values(y.grad()) == std::vector<double>{2, 3, 4, 1});
  Tensor z = iota({3}).requires_grad_();
  z.flip({0}).backward(testing::from_values({1, 2, 3}, false));
  CHECK(values(z.grad()) == std::vector<double>{3, 2, 1});
  CHECK_THROWS_WITH_AS(x.flip({0, 0}), Contains("flip: dim 0 appears more than once"), Error);
  CHECK_THROWS_WITH_AS(x.flip({2}), Contains("flip: dimension 2 is out of range"), Error);
  CHECK_THROWS_WITH_AS(x.roll({1, 1}), Contains("roll: without dims, expected one shift, got [1, 1]"), Error);
  CHECK_THROWS_WITH_AS(x.roll({1}, {0, 1}), Contains("roll: shifts [1] and dims [0, 1] must have the same length"), Error);
}
