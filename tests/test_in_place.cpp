// In-place arithmetic (add_ sub_ mul_ div_ clamp_ masked_fill_, += -= *= /=):
// values, version counters, the graph after a recorded in-place op (PyTorch's
// rebase_history), gradients computed by hand, and each documented refusal.
#include <doctest/doctest.h>

#include <xgrad.hpp>

#include "support/testing.hpp"

using namespace xgrad;
using doctest::Contains;
using testing::from_values;
using testing::values;

TEST_CASE("in place: values and version counters, outside the graph") {
  Tensor t = from_values({1, 2, 3}, false);
  const std::uint64_t v0 = t.impl()->storage->version();
  t.add_(from_values({1, 1, 1}, false));
  CHECK(values(t) == std::vector<double>{2, 3, 4});
  t.add_(from_values({1, 2, 3}, false), 2);  // alpha: t += 2 * other
  CHECK(values(t) == std::vector<double>{4, 7, 10});
  t.sub_(1);
  t.sub_(1, 2);
  CHECK(values(t) == std::vector<double>{1, 4, 7});
  t *= 2;
  t /= from_values({2, 4, 7}, false);
  CHECK(values(t) == std::vector<double>{1, 2, 2});
  t += 0.5;
  t -= from_values({0.5, 0.5, 0.5}, false);
  t *= from_values({3, 3, 3}, false);
  t.clamp_(3.5, 5);
  CHECK(values(t) == std::vector<double>{3.5, 5, 5});
  t.masked_fill_(testing::bool_values({false, true, false}), -1);
  CHECK(values(t) == std::vector<double>{3.5, -1, 5});
  t.mul_(-1.0).div_(0.5);
  CHECK(values(t) == std::vector<double>{-7, 2, -10});
  CHECK(t.impl()->storage->version() == v0 + 13);  // every write bumps the counter once
  CHECK(t.dtype() == kFloat64);
  // Broadcasting the operand to the tensor's shape.
  Tensor m = zeros({2, 3}, {.dtype = kFloat64});
  m += from_values({1, 2, 3}, false);
  CHECK(values(m) == std::vector<double>{1, 2, 3, 1, 2, 3});
  // Views and detached aliases see the write (they share the storage).
  Tensor alias = m.detach();
  Tensor view = m.reshape({6});
  m.mul_(10);
  CHECK(values(alias)[5] == 30);
  CHECK(values(view)[0] == 10);
  // An operand that is the tensor itself reads the old value.
  Tensor s = from_values({2, 3}, false);
  s.mul_(s);
  CHECK(values(s) == std::vector<double>{4, 9});
  s += s;
  CHECK(values(s) == std::vector<double>{8, 18});
}

TEST_CASE("in place: refused on leaves that require grad, allowed under NoGradGuard") {
  Tensor w = from_values({1, 2});
  CHECK_THROWS_WITH_AS(w.add_(1), Contains("add_: a leaf tensor that requires grad (shape [2]) is being modified in place"),
                       Error);
  CHECK_THROWS_WITH_AS(w *= 2, Contains("mul_: a leaf tensor that requires grad"), Error);
  CHECK_THROWS_WITH_AS(w.clamp_(0, 1), Contains("clamp_: a leaf tensor"), Error);
  CHECK(values(w) == std::vector<double>{1, 2});  // nothing was written
  {
    NoGradGuard no_grad;
    w.sub_(from_values({0.5, 0.5}, false), 2);  // an optimizer's step
  }
  CHECK(values(w) == std::vector<double>{0, 1});
  CHECK(w.is_leaf());
  CHECK(w.grad_fn() == nullptr);
}

TEST_CASE("in place: recorded in the graph, the tensor takes the new grad_fn") {
  // a = x * 1; a *= b; (a.sum()).backward(): x.grad = b, b.grad = x (the old a).
  Tensor x = from_values({1, 2, 3});
  Tensor b = from_values({4, 5, 6});
  Tensor a = x * 1.0;
  a.mul_(b);
  CHECK(a.grad_fn_name() == "MulBackward");
  CHECK(values(a) == std::vector<double>{4, 10, 18});
  (a * a).sum().backward();  // d/dx (x b)^2 = 2 x b^2, d/db = 2 x^2 b
  CHECK(values(x.grad()) == std::vector<double>{32, 100, 216});
  CHECK(values(b.grad()) == std::vector<double>{8, 40, 108});

  // A tensor that did not require grad becomes a non-leaf once an operand that does is added in.
  Tensor total = zeros({3}, {.dtype = kFloat64});
  Tensor y = from_values({1, 2, 3});
  total += y;
  total += y * y;
  CHECK(total.requires_grad());
  CHECK_FALSE(total.is_leaf());
  total.sum().backward();
  CHECK(values(y.grad()) == std::vector<double>{3, 5, 7});  // 1 + 2y

  // clamp_ and masked_fill_ pass the gradient only where the value survived.
  Tensor z = from_values({-2, 0.5, 3});
  Tensor c = z * 2.0;
  c.clamp_(-1, 1);
  c.masked_fill_(testing::bool_values({false, false, true}), 0);
  c.sum().backward();
  CHECK(values(z.grad()) == std::vector<double>{0, 2, 0});

  // div_ by a tensor that requires grad: d(a/b)/db = -a/b^2.
  Tensor p = from_values({2, 3});
  Tensor q = from_values({4, 6});
  Tensor r = p * 1.0;
  r /= q;
  r.sum().backward();
  CHECK(values(p.grad()) == std::vector<double>{0.25, 1.0 / 6});
  CHECK(values(q.grad()) == std::vector<double>{-2.0 / 16, -3.0 / 36});
}

TEST_CASE("in place: a value saved for backward and changed afterwards is caught") {
  Tensor x = from_values({1, 2});
  Tensor w = from_values({3, 4}, false);
  Tensor z = (x * w).sum();  // MulBackward saved w
  w.add_(1);
  CHECK_THROWS_WITH_AS(z.backward(), Contains("MulBackward: input 1 (float64 [2]), saved for backward at version 0, was "
                                              "modified in place (now version 1) by add_"),
                       Error);
  Tensor h = x * 1.0;
  Tensor u = (h * h).sum();  // saved h
  Tensor g = h;              // the same tensor
  CHECK_NOTHROW(g.sub_(0));  // not a view: recorded, h takes the new grad_fn
  CHECK_THROWS_WITH_AS(u.backward(), Contains("was modified in place (now version 1) by sub_"), Error);
}

TEST_CASE("in place: refusals when recording on shared storage, dtype or shape changes") {
  Tensor x = from_values({1, 2, 3, 4});
  Tensor h = x * 1.0;
  Tensor view = h.reshape({2, 2});
  CHECK_THROWS_WITH_AS(view.add_(1), Contains("add_: this tensor (shape [2, 2]) shares its storage with another tensor"),
                       Error);
  Tensor e = x.exp();  // exp saves its output: an alias of e's storage
  CHECK_THROWS_WITH_AS(e.mul_(2), Contains("shares its storage"), Error);
  {
    NoGradGuard no_grad;
    CHECK_NOTHROW(view.add_(1));  // not recorded: allowed, as in PyTorch
  }
  CHECK(values(h) == std::vector<double>{2, 3, 4, 5});
  Tensor t = zeros({3}, {.dtype = kFloat64});
  CHECK_THROWS_WITH_AS(t.add_(zeros({2, 3}, {.dtype = kFloat64})),
                       Contains("add_: the result has shape [2, 3], but this tensor has shape [3]"), Error);
  CHECK_THROWS_WITH_AS(t.add_(zeros({3})), Contains("add: operands have different dtypes (float64 [3] and float32 [3])"),
                       Error);
  CHECK_THROWS_WITH_AS(t.add_(Tensor()), Contains("add_: the operand is an undefined tensor"), Error);
  CHECK_THROWS_WITH_AS(Tensor().mul_(2), Contains("mul_: called on an undefined tensor"), Error);
  Tensor labels = testing::int64_values({1, 2});
  CHECK_THROWS_WITH_AS(labels /= 2, Contains("div_: the result is float32, which cannot be written into this int64 tensor"),
                       Error);
  CHECK_THROWS_WITH_AS(labels.add_(x.detach().to(kInt64).narrow(0, 0, 2), 0.5), Contains("add: operands have different dtypes (int64"), Error);
  CHECK(values(labels) == std::vector<double>{1, 2});
  CHECK_THROWS_WITH_AS(t.masked_fill_(Tensor(), 1), Contains("masked_fill_: the mask is an undefined tensor"), Error);
}
