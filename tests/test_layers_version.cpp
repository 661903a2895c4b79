// Version counters through the training ops: every tensor a training op saves
// for backward (an input, or its own output) is checked, so an in-place change
// between forward and backward is an error naming the op and the tensor, with
// or without create_graph; what an op keeps of its own (argmax, masks, batch
// statistics) cannot be changed from outside and trips nothing; batch_norm's
// in-place update of the running statistics bumps their counters.
#include <doctest/doctest.h>

#include <functional>
#include <string>
#include <vector>

#include "autograd/engine.hpp"
#include "autograd/grad_mode.hpp"
#include "core/random.hpp"
#include "nn/functional.hpp"
#include "support/testing.hpp"

using namespace xgrad;
using testing::from_values;
using testing::values;
namespace F = xgrad::nn::functional;

namespace {

Tensor input(const Shape& shape, bool requires_grad = true) {
  return randn(shape, {.dtype = kFloat64, .requires_grad = requires_grad});
}

// A graph whose backward must fail (or, below, succeed) after an in-place change.
struct Changed {
  Tensor out;               // the op's result, changed-after
  std::vector<Tensor> wrt;  // what to differentiate it with respect to
};

struct SavedCase {
  const char* name;
  std::function<Changed()> run;  // forward, then the in-place change
  const char* expected;          // the start of the error message
};

Tensor class_targets() { return from_values({0, 2, 1}, false, kInt64); }

std::vector<SavedCase> saved_cases() {
  return {
      {"linear input (read for the weight's gradient)",
       [] {
         Tensor x = input({2, 3}, false), w = input({4, 3});
         Tensor y = F::linear(x, w);
         x.fill_(1.0);
         return Changed{y, {w}};
       },
       "LinearBackward: input 0 (float64 [2, 3]), saved for backward at version 0, was modified in place (now "
       "version 1) by fill_"},
      {"linear weight (read for the input's gradient)",
       [] {
         Tensor x = input({2, 3}), w = input({4, 3});
         Tensor y = F::linear(x, w, input({4}));
         {
           NoGradGuard no_grad;  // as an optimizer step
           w.fill_(0.5);
         }
         return Changed{y, {x}};
       },
       "LinearBackward: input 1 (float64 [4, 3])"},
      {"batch_norm input (training)",
       [] {
         Tensor x = input({4, 3});
         Tensor y = F::batch_norm(x, Tensor(), Tensor(), Tensor(), Tensor(), {.training = true});
         x.detach().zero_();
         return Changed{y, {x}};
       },
       "BatchNormBackward: input 0 (float64 [4, 3])"},
      {"batch_norm weight (training)",
       [] {
         Tensor x = input({4, 3, 2}), w = input({3});
         Tensor y = F::batch_norm(x, Tensor(), Tensor(), w, input({3}), {.training = true});
         w.detach().fill_(2.0);
         return Changed{y, {x}};
       },
       "BatchNormBackward: input 1 (float64 [3])"},
      {"batch_norm running_mean (eval)",
       [] {
         Tensor x = input({4, 3}), running_mean = zeros({3}, {.dtype = kFloat64});
         Tensor y = F::batch_norm(x, running_mean, ones({3}, {.dtype = kFloat64}));
         running_mean.fill_(1.0);
         return Changed{y, {x}};
       },
       "BatchNormBackward: input 3 (float64 [3])"},
      {"batch_norm running_var (eval)",
       [] {
         Tensor x = input({2, 3, 2}), running_var = ones({3}, {.dtype = kFloat64});
         Tensor y = F::batch_norm(x, zeros({3}, {.dtype = kFloat64}), running_var, input({3}), input({3}));
         running_var.fill_(2.0);
         return Changed{y, {x}};
       },
       "BatchNormBackward: input 4 (float64 [3])"},
      {"batch_norm running statistics (eval, then a training forward updates them)",
       [] {
         Tensor x = input({4, 3}), running_mean = zeros({3}, {.dtype = kFloat64});
         Tensor running_var = ones({3}, {.dtype = kFloat64});
         Tensor y = F::batch_norm(x, running_mean, running_var, input({3}), Tensor());
         F::batch_norm(input({4, 3}, false), running_mean, running_var, Tensor(), Tensor(), {.training = true});
         return Changed{y, {x}};
       },
       "BatchNormBackward: input 3 (float64 [3]), saved for backward at version 0, was modified in place (now "
       "version 1) by batch_norm"},
      {"softmax output",
       [] {
         Tensor x = input({2, 3});
         Tensor y = F::softmax(x, 1);
         y.detach().fill_(0.0);
         return Changed{y, {x}};
       },
       "SoftmaxBackward: its output (float64 [2, 3]), saved for backward at version 0, was modified in place (now "
       "version 1) by fill_"},
      {"log_softmax output",
       [] {
         Tensor x = input({2, 3});
         Tensor y = F::log_softmax(x, 0);
         y.detach().zero_();
         return Changed{y, {x}};
       },
       "LogSoftmaxBackward: its output (float64 [2, 3])"},
      {"mse_loss input",
       [] {
         Tensor x = input({2, 3});
         Tensor y = F::mse_loss(x, input({2, 3}, false));
         x.detach().fill_(3.0);
         return Changed{y, {x}};
       },
       "MseLossBackward: input 0 (float64 [2, 3])"},
      {"mse_loss target",
       [] {
         Tensor x = input({2, 3}), target = input({2, 3}, false);
         Tensor y = F::mse_loss(x, target, {.reduction = "none"});
         target.fill_(3.0);
         return Changed{y, {x}};
       },
       "MseLossBackward: input 1 (float64 [2, 3])"},
      {"cross_entropy input",
       [] {
         Tensor x = input({3, 4});
         Tensor y = F::cross_entropy(x, class_targets());
         x.detach().fill_(0.0);
         return Changed{y, {x}};
       },
       "CrossEntropyLossBackward: input 0 (float64 [3, 4])"},
  };
}

}  // namespace

TEST_CASE("training ops: a saved tensor changed in place is an error naming the op and the tensor") {
  manual_seed(5);
  for (const SavedCase& c : saved_cases()) {
    for (const bool create_graph : {false, true}) {
      INFO(c.name << (create_graph ? ", create_graph" : ""));
      const Changed changed = c.run();
      CHECK_THROWS_WITH_AS(autograd::grad({changed.out.sum()}, changed.wrt, {}, {.retain_graph = false, .create_graph = create_graph}),
                           doctest::Contains(c.expected), Error);
    }
  }
}

TEST_CASE("training ops: what an op keeps of its own is not a saved tensor, so changing the input is fine") {
  manual_seed(6);
  using Op = std::function<Tensor(const Tensor&)>;
  const std::vector<std::pair<const char*, Op>> ops = {
      {"max_pool1d", [](const Tensor& x) { return F::max_pool1d(x, 2); }},
      {"avg_pool1d", [](const Tensor& x) { return F::avg_pool1d(x, 3, {.stride = 1, .padding = 1}); }},
      {"adaptive_avg_pool1d", [](const Tensor& x) { return F::adaptive_avg_pool1d(x, 3); }},
      {"dropout",
       [](const Tensor& x) {
         manual_seed(1);
         return F::dropout(x, 0.5);
       }},
      {"nll_loss", [](const Tensor& x) { return F::nll_loss(x.reshape({3, 4}), class_targets(), {.reduction = "none"}); }},
      // The input is read only for the weight's gradient (as PyTorch saves it).
      {"linear, weight without grad",
       [](const Tensor& x) { return F::linear(x, from_values({1, 2, 3, 4}, false).reshape({1, 4})); }},
  };
  for (const auto& [name, op] : ops) {
    INFO(name);
    Tensor x = input({3, 4});
    const Tensor expected = autograd::grad({(op(x) * op(x)).sum()}, {x})[0];
    Tensor y = op(x);
    const Tensor before = y.detach().clone();
    Tensor other = input({3, 4}, false);
    x.detach().copy_(other);  // the input changes; its gradient through y must not
    const Tensor got = autograd::grad({(y * before).sum()}, {x})[0];
    const testing::CloseResult close = testing::check_close(got * 2.0, expected, 1e-12, 1e-12);
    INFO(close.message);
    CHECK(close.ok);
  }
}

TEST_CASE("batch_norm: updating the running statistics in training bumps their version counters") {
  manual_seed(7);
  Tensor running_mean = zeros({3}, {.dtype = kFloat64}), running_var = ones({3}, {.dtype = kFloat64});
  Tensor a = from_values({1.0, 2.0, 3.0});
  Tensor uses_mean = (a * running_mean).sum();
  Tensor uses_var = (a * running_var).sum();
  F::batch_norm(input({4, 3}, false), running_mean, running_var, Tensor(), Tensor(), {.training = true});
  CHECK_THROWS_WITH_AS(uses_mean.backward(),
                       "MulBackward: input 1 (float64 [3]), saved for backward at version 0, was modified in place "
                       "(now version 1) by batch_norm; clone it before changing it in place, or change it after "
                       "backward",
                       Error);
  CHECK_THROWS_WITH_AS(uses_var.backward(), doctest::Contains("(now version 1) by batch_norm"), Error);

  // Training does not save them (only its forward reads them): changing them is fine.
  Tensor x = input({4, 3});
  Tensor y = F::batch_norm(x, running_mean, running_var, Tensor(), Tensor(), {.training = true});
  running_mean.fill_(5.0);
  running_var.fill_(5.0);
  CHECK_NOTHROW(autograd::grad({(y * y).sum()}, {x}));

  // Evaluation reads them without changing them: no bump.
  Tensor again = (a * running_mean).sum();
  F::batch_norm(input({4, 3}, false), running_mean, running_var);
  again.backward();
  CHECK(values(a.grad()) == values(running_mean));
}
