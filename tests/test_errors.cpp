// Misuse of the foundation: each throws xgrad::Error whose message names the op
// and the offending values.
#include <doctest/doctest.h>

#include "autograd/grad_mode.hpp"
#include "core/creation.hpp"
#include "ops/ops.hpp"

using namespace xgrad;
using doctest::Contains;

TEST_CASE("errors: xgrad::Error is a std::invalid_argument") {
  CHECK_THROWS_AS(ones({2}) + ones({3}), std::invalid_argument);
}

TEST_CASE("errors: broadcasting shape mismatch") {
  CHECK_THROWS_WITH_AS(ones({2, 3}) + ones({4}), Contains("add: shapes [2, 3] and [4] cannot be broadcast"), Error);
  CHECK_THROWS_WITH_AS(ones({2, 3}) * ones({3, 3}), Contains("mul: shapes [2, 3] and [3, 3]"), Error);
  CHECK_THROWS_WITH_AS(maximum(ones({2}), ones({5})), Contains("maximum: shapes [2] and [5]"), Error);
  CHECK_THROWS_WITH_AS(broadcast_to(ones({3}), {2, 4}), Contains("broadcast_to"), Error);
  CHECK_THROWS_WITH_AS(broadcast_to(ones({2, 3}), {3}), Contains("broadcast_to: cannot broadcast shape [2, 3] to shape [3]"),
                       Error);
}

TEST_CASE("errors: matmul mismatch") {
  CHECK_THROWS_WITH_AS(matmul(ones({2, 3}), ones({4, 5})), Contains("matmul: shapes [2, 3] and [4, 5] cannot be multiplied"),
                       Error);
  CHECK_THROWS_WITH_AS(matmul(ones({3}), ones({4})), Contains("matmul: shapes [3] and [4]"), Error);
  CHECK_THROWS_WITH_AS(matmul(ones({2, 2, 3}), ones({3, 3, 1})), Contains("matmul: shapes [2] and [3] cannot be broadcast"),
                       Error);
  CHECK_THROWS_WITH_AS(matmul(ones({}), ones({3})), Contains("matmul: both operands need at least one dimension"), Error);
}

TEST_CASE("errors: negative shape and element-count overflow") {
  CHECK_THROWS_WITH_AS(zeros({2, -1}), Contains("zeros: shape [2, -1] has a negative dimension"), Error);
  CHECK_THROWS_WITH_AS(ones({-3}), Contains("ones: shape [-3] has a negative dimension"), Error);
  CHECK_THROWS_WITH_AS(empty({-1}), Contains("empty: shape [-1]"), Error);
  CHECK_THROWS_WITH_AS(randn({4, -2}), Contains("randn: shape [4, -2]"), Error);
  const std::int64_t big = std::int64_t{1} << 40;
  CHECK_THROWS_WITH_AS(zeros({big, big}), Contains("zeros: shape [1099511627776, 1099511627776] has more elements than"),
                       Error);
  CHECK_THROWS_WITH_AS(rand({big, big, 0, -1}), Contains("negative dimension"), Error);
  // Fits in 64 bits but not in memory: refused before allocating.
  CHECK_THROWS_WITH_AS(empty({big, 1024}), Contains("empty: shape [1099511627776, 1024]"), Error);
  CHECK_THROWS_WITH_AS(ones({2}).reshape({big, big}), Contains("reshape"), Error);
  CHECK_THROWS_WITH_AS(ones({2}).reshape({big, big, -1}), Contains("reshape: shape [1099511627776, 1099511627776, -1] has more elements"),
                       Error);
}

TEST_CASE("errors: dtype mismatch between operands") {
  const Tensor f = ones({2}), d = ones({2}, {.dtype = kFloat64});
  CHECK_THROWS_WITH_AS(f + d, Contains("add: operands have different dtypes (float32 [2] and float64 [2])"), Error);
  CHECK_THROWS_WITH_AS(d / f, Contains("div: operands have different dtypes"), Error);
  CHECK_THROWS_WITH_AS(matmul(f, d), Contains("matmul: operands have different dtypes"), Error);
  CHECK_THROWS_WITH_AS(cat({f, d}), Contains("cat: tensor 1 has dtype float64, expected float32"), Error);
}

TEST_CASE("errors: item() on a non-scalar") {
  CHECK_THROWS_WITH_AS(ones({2, 3}).item<float>(), Contains("item: expected a tensor with one element, got shape [2, 3]"),
                       Error);
  CHECK_THROWS_WITH_AS(ones({0}).item<double>(), Contains("item"), Error);
  CHECK(ones({1, 1}).item<double>() == 1.0);
}

TEST_CASE("errors: backward misuse") {
  Tensor x = ones({2, 3}, {.requires_grad = true});
  Tensor y = x * 2.0;
  CHECK_THROWS_WITH_AS(y.backward(), Contains("backward: grad can be implicitly created only for one-element outputs; got shape [2, 3]"),
                       Error);
  CHECK_THROWS_WITH_AS(y.backward(ones({3, 2})), Contains("backward: gradient has shape [3, 2] but the tensor has shape [2, 3]"),
                       Error);
  CHECK_THROWS_WITH_AS(y.backward(ones({2, 3}, {.dtype = kFloat64})), Contains("gradient has dtype float64"), Error);
  CHECK_THROWS_WITH_AS(ones({}).backward(), Contains("backward: the tensor does not require grad"), Error);
  {
    NoGradGuard no_grad;
    Tensor z = (x * 2.0).sum();
    CHECK_THROWS_WITH_AS(z.backward(), Contains("does not require grad"), Error);
  }
  CHECK_THROWS_WITH_AS(Tensor().backward(), Contains("backward: called on an undefined tensor"), Error);
  // Nothing above touched x.grad().
  CHECK_FALSE(x.grad().defined());
}

TEST_CASE("errors: second backward through a freed graph") {
  Tensor x = ones({3}, {.requires_grad = true});
  Tensor loss = (x * x).sum();
  loss.backward();
  CHECK_THROWS_WITH_AS(loss.backward(), Contains("backward: trying to backward through the graph a second time"), Error);
  CHECK_THROWS_WITH_AS(loss.backward(), Contains("SumBackward"), Error);
  // The first backward's result is intact.
  CHECK(x.grad().sum().item<double>() == 6.0);
}

TEST_CASE("errors: unknown and unavailable devices") {
  CHECK_THROWS_WITH_AS(Device("cuda"), Contains("Device: device 'cuda' is not available in this build"), Error);
  CHECK_THROWS_WITH_AS(Device("cuda:1"), Contains("'cuda:1' is not available"), Error);
  CHECK_THROWS_WITH_AS(Device("mps"), Contains("not available"), Error);
  CHECK_THROWS_WITH_AS(Device("foo"), Contains("Device: unknown device 'foo'"), Error);
  CHECK_THROWS_WITH_AS(zeros({2}, {.device = "cuda"}), Contains("not available in this build"), Error);
  CHECK(Device("cpu").str() == "cpu");
  CHECK(Device("cpu:0") == Device("cpu"));
}

TEST_CASE("errors: bad dims") {
  const Tensor t = ones({2, 3});
  CHECK_THROWS_WITH_AS(t.sum({2}), Contains("sum: dimension 2 is out of range for a tensor of rank 2 (expected -2 to 1)"),
                       Error);
  CHECK_THROWS_WITH_AS(t.sum({-3}), Contains("sum: dimension -3 is out of range"), Error);
  CHECK_THROWS_WITH_AS(t.sum({0, -2}), Contains("sum: dim 0 appears more than once in dims [0, -2]"), Error);
  CHECK_THROWS_WITH_AS(t.mean({1, 1}), Contains("mean: dim 1 appears more than once"), Error);
  CHECK_THROWS_WITH_AS(t.max(2), Contains("max: dimension 2 is out of range"), Error);
  CHECK_THROWS_WITH_AS(t.transpose(0, 2), Contains("transpose: dimension 2 is out of range"), Error);
  CHECK_THROWS_WITH_AS(permute(t, {0, 0}), Contains("permute: dim 0 appears more than once in [0, 0]"), Error);
  CHECK_THROWS_WITH_AS(permute(t, {0}), Contains("permute: expected 2 dims for a tensor of shape [2, 3], got [0]"), Error);
  CHECK_THROWS_WITH_AS(t.unsqueeze(4), Contains("unsqueeze: dimension 4 is out of range for a tensor of rank 3"), Error);
  CHECK_THROWS_WITH_AS(t.squeeze(-3), Contains("squeeze: dimension -3"), Error);
  CHECK_THROWS_WITH_AS(t.flatten(1, 0), Contains("flatten: start_dim 1 comes after end_dim 0"), Error);
  CHECK_THROWS_WITH_AS(t.size(5), Contains("size: dimension 5"), Error);
  CHECK_THROWS_WITH_AS(cat({t, t}, 2), Contains("cat: dimension 2 is out of range"), Error);
  CHECK_THROWS_WITH_AS(ones({2, 0}).max(1), Contains("max: cannot reduce over dimension 1 of size 0"), Error);
}

TEST_CASE("errors: bad reshape") {
  const Tensor t = ones({2, 3});
  CHECK_THROWS_WITH_AS(t.reshape({4, 2}), Contains("reshape: shape [4, 2] is invalid for input of size 6 (shape [2, 3])"),
                       Error);
  CHECK_THROWS_WITH_AS(t.reshape({-1, -1}), Contains("reshape: only one dimension can be -1, got shape [-1, -1]"), Error);
  CHECK_THROWS_WITH_AS(t.reshape({-1, 4}), Contains("reshape: shape [-1, 4] is invalid for input of size 6"), Error);
  CHECK_THROWS_WITH_AS(t.reshape({-2, -3}), Contains("reshape: invalid shape [-2, -3]"), Error);
  CHECK_THROWS_WITH_AS(t.reshape({0, -1}), Contains("reshape: shape [0, -1] is invalid"), Error);
}

TEST_CASE("errors: narrow and slice out of range") {
  const Tensor t = ones({2, 5});
  CHECK_THROWS_WITH_AS(t.narrow(1, 3, 3),
                       Contains("narrow: start 3 and length 3 are out of range for dimension 1 of size 5 (shape [2, 5])"),
                       Error);
  CHECK_THROWS_WITH_AS(t.narrow(1, 0, -1), Contains("narrow: start 0 and length -1"), Error);
  CHECK_THROWS_WITH_AS(t.narrow(0, -3, 1), Contains("narrow: start -1"), Error);
  CHECK_THROWS_WITH_AS(t.narrow(2, 0, 1), Contains("narrow: dimension 2 is out of range"), Error);
  CHECK_THROWS_WITH_AS(t.slice(1, 0, 5, 0), Contains("slice: step must be positive, got 0"), Error);
  CHECK_THROWS_WITH_AS(ones({}).slice(0, 0, 1), Contains("slice: cannot slice a 0-dim tensor"), Error);
}

TEST_CASE("errors: cat mismatch") {
  CHECK_THROWS_WITH_AS(cat({ones({2, 3}), ones({3, 3})}, 1),
                       Contains("cat: sizes must match except in dimension 1: tensor 1 has shape [3, 3], tensor 0 has shape [2, 3]"),
                       Error);
  CHECK_THROWS_WITH_AS(cat({ones({2, 3}), ones({3})}), Contains("cat: tensor 1 has shape [3], expected rank 2"), Error);
  CHECK_THROWS_WITH_AS(cat({}), Contains("cat: expected a non-empty list"), Error);
  CHECK_THROWS_WITH_AS(cat({ones({}), ones({})}), Contains("cat: zero-dimensional tensors cannot be concatenated"), Error);
  CHECK_THROWS_WITH_AS(cat({ones({2}), Tensor()}), Contains("cat: called on an undefined tensor"), Error);
}

TEST_CASE("errors: pad and clamp arguments") {
  CHECK_THROWS_WITH_AS(pad(ones({2, 3}), {1}), Contains("pad: expected an even number of padding values, got [1]"), Error);
  CHECK_THROWS_WITH_AS(pad(ones({3}), {1, 1, 1, 1}), Contains("pad: 4 padding values pad 2 dims, but the input has shape [3]"),
                       Error);
  CHECK_THROWS_WITH_AS(pad(ones({3}), {-2, -2}), Contains("pad: padding [-2, -2] makes dimension 0 of input shape [3] negative (-1)"),
                       Error);
  CHECK_THROWS_WITH_AS(clamp(ones({3}), 1.0, -1.0), Contains("clamp: low (1) is greater than high (-1)"), Error);
}

TEST_CASE("errors: in-place on a leaf that requires grad, under grad mode") {
  Tensor w = ones({2, 3}, {.requires_grad = true});
  CHECK_THROWS_WITH_AS(w.copy_(zeros({2, 3})),
                       Contains("copy_: a leaf tensor that requires grad (shape [2, 3]) is being modified in place"), Error);
  CHECK_THROWS_WITH_AS(w.fill_(2.0), Contains("fill_: a leaf tensor that requires grad"), Error);
  CHECK_THROWS_WITH_AS(w.zero_(), Contains("a leaf tensor that requires grad"), Error);
  CHECK_THROWS_WITH_AS(w.uniform_(0, 1), Contains("uniform_: a leaf tensor"), Error);
  CHECK(w.sum().item<double>() == 6.0);  // untouched
  {
    NoGradGuard no_grad;  // as optimizers and nn::init do
    w.fill_(2.0);
  }
  CHECK(w.sum().item<double>() == 12.0);
  CHECK_THROWS_WITH_AS(w.detach().requires_grad_(true).zero_(), Contains("zero_"), Error);
}

TEST_CASE("errors: in-place arguments") {
  Tensor t = zeros({2, 3});
  CHECK_THROWS_WITH_AS(t.copy_(ones({3, 3})), Contains("copy_: shapes [3, 3] and [2, 3] cannot be broadcast"), Error);
  CHECK_THROWS_WITH_AS(t.copy_(ones({2, 1, 3})), Contains("copy_: source of shape [2, 1, 3] cannot be broadcast to shape [2, 3]"),
                       Error);
  CHECK_THROWS_WITH_AS(t.uniform_(1.0, 0.0), Contains("uniform_: expected low <= high, got low=1 high=0"), Error);
  CHECK_THROWS_WITH_AS(t.copy_(Tensor()), Contains("copy_: the source is an undefined tensor"), Error);
  CHECK(t.sum().item<double>() == 0.0);
}

TEST_CASE("errors: requires_grad_ on a non-leaf and undefined tensors") {
  Tensor x = ones({2}, {.requires_grad = true});
  Tensor y = x * 2.0;
  CHECK_THROWS_WITH_AS(y.requires_grad_(false), Contains("requires_grad_: you can only change requires_grad of leaf tensors"),
                       Error);
  CHECK_THROWS_WITH_AS(Tensor().shape(), Contains("shape: called on an undefined tensor"), Error);
  CHECK_THROWS_WITH_AS(Tensor() + ones({1}), Contains("add: an operand is an undefined tensor"), Error);
  CHECK_THROWS_WITH_AS(Tensor().exp(), Contains("exp: an operand is an undefined tensor"), Error);
  CHECK_THROWS_WITH_AS(ones({2}).data_ptr<double>(), Contains("data_ptr: tensor holds float32, not float64"), Error);
}

TEST_CASE("errors: arange arguments") {
  CHECK_THROWS_WITH_AS(arange(0, 10, 0), Contains("arange: step must be finite and non-zero, got 0"), Error);
  CHECK_THROWS_WITH_AS(arange(0, INFINITY), Contains("arange: start and end must be finite"), Error);
  CHECK_THROWS_WITH_AS(arange(0, 1e300, 1e-300), Contains("arange: range"), Error);
}

TEST_CASE("errors: an allocation the machine cannot hold is an xgrad::Error, not std::bad_alloc") {
  // 2^40 float32 elements: 4 TiB, past this machine's memory and overcommit.
  CHECK_THROWS_WITH_AS(xgrad::zeros({std::int64_t{1} << 20, std::int64_t{1} << 20}),
                       doctest::Contains("out of memory allocating 4398046511104 bytes"), xgrad::Error);
}
