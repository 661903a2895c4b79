// Version counters: an in-place change to a tensor saved for backward is an
// error at backward naming the op, the tensor and both versions, never a silent
// wrong gradient; views and detached tensors share their base's counter; an
// unrelated in-place change does not trip it.
#include <doctest/doctest.h>

#include "autograd/grad_mode.hpp"
#include "optim/sgd.hpp"
#include "support/testing.hpp"

using namespace xgrad;
using testing::from_values;
using testing::values;

TEST_CASE("version counter: fill_ on a saved input is an error naming op, input and versions") {
  Tensor a = from_values({1.0, 1.0, 1.0});
  Tensor b = from_values({2.0, 2.0, 2.0}, /*requires_grad=*/false);
  Tensor y = (a * b).sum();
  b.fill_(100);
  CHECK_THROWS_WITH_AS(y.backward(),
                       "MulBackward: input 1 (float64 [3]), saved for backward at version 0, was modified in place "
                       "(now version 1) by fill_; clone it before changing it in place, or change it after backward",
                       Error);
  CHECK_FALSE(a.grad().defined());
}

TEST_CASE("version counter: a saved output changed through detach() is caught") {
  Tensor x = from_values({0.5, -0.3});
  Tensor t = x.tanh();
  t.detach().zero_();  // detach shares the storage, hence the counter
  CHECK_THROWS_WITH_AS(t.sum().backward(), doctest::Contains("TanhBackward: its output (float64 [2]), saved for "
                                                             "backward at version 0, was modified in place (now "
                                                             "version 1) by zero_"),
                       Error);
}

TEST_CASE("version counter: views share their base's counter") {
  Tensor x = from_values({1.0, 2.0, 3.0, 4.0});
  Tensor base = ones({4}, {.dtype = kFloat64});
  Tensor view = base.reshape({2, 2});
  Tensor y = (x * base).sum();
  view.copy_(full({2, 2}, 5.0, {.dtype = kFloat64}));
  CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("MulBackward: input 1 (float64 [4])"), Error);
  CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("by copy_"), Error);
}

TEST_CASE("version counter: unrelated in-place changes do not trip it") {
  Tensor a = from_values({1.0, 2.0});
  Tensor b = from_values({3.0, 4.0}, false);
  Tensor c = from_values({5.0, 6.0}, false);
  Tensor y = (a + b).sum() + (a * 2.0).sum();  // add and scalar mul save nothing they could lose
  b.fill_(0);
  Tensor unrelated = from_values({7.0}, false);
  unrelated.zero_();
  c.fill_(1);
  y.backward();
  CHECK(values(a.grad()) == std::vector<double>{3.0, 3.0});
  // The gradient itself may be changed in place between passes (optimizers do).
  Tensor z = (a * b).sum();
  a.mutable_grad().zero_();
  z.backward();
  CHECK(values(a.grad()) == std::vector<double>{0.0, 0.0});
}

TEST_CASE("version counter: a change made before the op saved the tensor is fine") {
  Tensor a = from_values({1.0, 2.0});
  Tensor b = from_values({3.0, 4.0}, false);
  b.fill_(2.0);
  Tensor y = (a * b).sum();
  y.backward();
  CHECK(values(a.grad()) == std::vector<double>{2.0, 2.0});
}

TEST_CASE("version counter: an optimizer step between forward and backward is caught") {
  Tensor w = from_values({1.0, 2.0});
  Tensor x = from_values({3.0, 4.0}, false);
  Tensor loss = (w * w * x).sum();
  loss.backward({}, {.retain_graph = true});
  optim::SGD sgd({w}, {.lr = 0.1});
  sgd.step();
  CHECK_THROWS_WITH_AS(loss.backward(), doctest::Contains("was modified in place (now version 1) by SGD::step"), Error);
}

TEST_CASE("version counter: uniform_ and normal_ bump it too") {
  Tensor a = from_values({1.0, 2.0});
  Tensor b = from_values({3.0, 4.0}, false);
  Tensor y = (a * b).sum();
  b.uniform_(0, 1);
  CHECK_THROWS_WITH_AS(y.backward({}, {.retain_graph = true}), doctest::Contains("by uniform_"), Error);
  b.normal_();
  CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("(now version 2) by normal_"), Error);
}
