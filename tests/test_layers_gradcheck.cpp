// Gradchecks and gradgradchecks (float64, central differences) of every training
// op's backward, from one table: a row per op configuration. Under create_graph
// the ops build their backward from recorded ops instead of their fused loops;
// both must give the same first derivatives.
#include <doctest/doctest.h>

#include <functional>
#include <string>
#include <vector>

#include "autograd/engine.hpp"
#include "autograd/gradcheck.hpp"
#include "core/creation.hpp"
#include "ops/ops.hpp"
#include "core/random.hpp"
#include "nn/functional/training_ops.hpp"
#include "support/testing.hpp"

using namespace xgrad;
namespace F = xgrad::nn::functional;

namespace {

Tensor input(const Shape& shape, bool requires_grad = true) {
  return randn(shape, {.dtype = kFloat64, .requires_grad = requires_grad});
}

// Class indices as float64 (no gradient).
Tensor classes(std::vector<double> values) {
  Tensor t = empty({static_cast<std::int64_t>(values.size())}, {.dtype = kFloat64});
  for (std::size_t i = 0; i < values.size(); ++i) t.data_ptr<double>()[i] = values[i];
  return t;
}

struct GradcheckCase {
  const char* name;
  autograd::GradcheckFn fn;
  std::vector<Tensor> inputs;
};

std::vector<GradcheckCase> training_op_cases() {
  manual_seed(11);
  using V = const std::vector<Tensor>&;
  const Tensor running_mean = randn({3}, {.dtype = kFloat64});
  const Tensor running_var = rand({3}, {.dtype = kFloat64}) + 0.5;
  return {
      {"linear", [](V in) { return F::linear(in[0], in[1], in[2]); }, {input({4, 5}), input({3, 5}), input({3})}},
      {"linear 3-D, no bias", [](V in) { return F::linear(in[0], in[1]); }, {input({2, 3, 5}), input({2, 5})}},
      {"linear 1-D input, weight only", [](V in) { return F::linear(in[0], in[1], in[2]); },
       {input({4}, false), input({3, 4}), input({3}, false)}},
      {"max_pool1d", [](V in) { return F::max_pool1d(in[0], 3); }, {input({2, 2, 10})}},
      {"max_pool1d stride padding dilation ceil",
       [](V in) { return F::max_pool1d(in[0], 3, {.stride = 2, .padding = 1, .dilation = 2, .ceil_mode = true}); },
       {input({2, 2, 11})}},
      {"max_pool1d (C, L), overlapping windows", [](V in) { return F::max_pool1d(in[0], 4, {.stride = 1}); },
       {input({2, 7})}},
      {"avg_pool1d padding ceil include pad",
       [](V in) { return F::avg_pool1d(in[0], 3, {.stride = 2, .padding = 1, .ceil_mode = true}); }, {input({2, 2, 10})}},
      {"avg_pool1d exclude pad",
       [](V in) { return F::avg_pool1d(in[0], 4, {.stride = 3, .padding = 2, .ceil_mode = true, .count_include_pad = false}); },
       {input({2, 2, 12})}},
      {"adaptive_avg_pool1d 3 of 7", [](V in) { return F::adaptive_avg_pool1d(in[0], 3); }, {input({2, 2, 7})}},
      {"adaptive_avg_pool1d 1 (global)", [](V in) { return F::adaptive_avg_pool1d(in[0], 1); }, {input({3, 9})}},
      {"adaptive_avg_pool1d 5 of 3 (overlapping)", [](V in) { return F::adaptive_avg_pool1d(in[0], 5); },
       {input({2, 3})}},
      {"batch_norm training (N, C, L)",
       [](V in) { return F::batch_norm(in[0], Tensor(), Tensor(), in[1], in[2], {.training = true}); },
       {input({3, 3, 4}), input({3}), input({3})}},
      {"batch_norm training (N, C), no affine",
       [](V in) { return F::batch_norm(in[0], Tensor(), Tensor(), Tensor(), Tensor(), {.training = true}); },
       {input({5, 3})}},
      {"batch_norm training (N, C, L), weight only, updating running stats",
       [running_mean, running_var](V in) {
         return F::batch_norm(in[0], running_mean.clone(), running_var.clone(), in[1], Tensor(), {.training = true});
       },
       {input({2, 3, 3}), input({3})}},
      {"batch_norm eval",
       [running_mean, running_var](V in) {
         return F::batch_norm(in[0], running_mean, running_var, in[1], in[2], {.training = false});
       },
       {input({2, 3, 4}), input({3}), input({3})}},
      {"batch_norm eval (N, C), no affine",
       [running_mean, running_var](V in) { return F::batch_norm(in[0], running_mean, running_var); }, {input({4, 3})}},
      {"batch_norm eval, bias only, input without grad",
       [running_mean, running_var](V in) {
         return F::batch_norm(in[0], running_mean, running_var, Tensor(), in[1], {.training = false});
       },
       {input({2, 3, 2}, false), input({3})}},
      {"dropout (fixed seed)",
       [](V in) {
         manual_seed(42);  // the same mask in every evaluation
         return F::dropout(in[0], 0.4, true);
       },
       {input({4, 5})}},
      {"log_softmax dim 1", [](V in) { return F::log_softmax(in[0], 1); }, {input({3, 4, 2})}},
      {"log_softmax dim -1", [](V in) { return F::log_softmax(in[0], -1); }, {input({2, 5})}},
      {"softmax dim -1", [](V in) { return F::softmax(in[0], -1); }, {input({3, 5})}},
      {"softmax dim 0", [](V in) { return F::softmax(in[0], 0); }, {input({4, 2, 2})}},
      {"cross_entropy mean", [](V in) { return F::cross_entropy(in[0], classes({0, 2, 1, 2})); }, {input({4, 3})}},
      {"cross_entropy sum, ignore_index",
       [](V in) { return F::cross_entropy(in[0], classes({1, -100, 0, 2}), {.reduction = "sum"}); }, {input({4, 3})}},
      {"cross_entropy none (N, C, d)",
       [](V in) {
         Tensor t = classes({0, 2, 1, 1, 0, 2}).reshape({2, 3});
         return F::cross_entropy(in[0], t, {.reduction = "none"});
       },
       {input({2, 3, 3})}},
      {"cross_entropy (C), 0-dim target",
       [](V in) { return F::cross_entropy(in[0], classes({3}).reshape({})); }, {input({5})}},
      {"nll_loss sum, ignore_index",
       [](V in) { return F::nll_loss(in[0], classes({1, -100, 0}), {.reduction = "sum"}); }, {input({3, 2})}},
      {"nll_loss mean", [](V in) { return F::nll_loss(in[0], classes({1, 3, 0})); }, {input({3, 4})}},
      {"nll_loss none (N, C, d), ignore_index",
       [](V in) {
         Tensor t = classes({1, -100, 0, 2}).reshape({2, 2});
         return F::nll_loss(in[0], t, {.reduction = "none"});
       },
       {input({2, 3, 2})}},
      {"mse_loss", [](V in) { return F::mse_loss(in[0], in[1]); }, {input({3, 4}), input({3, 4})}},
      {"mse_loss sum", [](V in) { return F::mse_loss(in[0], in[1], {.reduction = "sum"}); },
       {input({2, 3}), input({2, 3})}},
      {"mse_loss none, target without grad", [](V in) { return F::mse_loss(in[0], in[1], {.reduction = "none"}); },
       {input({2, 3}), input({2, 3}, false)}},
  };
}

// The inputs that require grad.
std::vector<Tensor> differentiable(const std::vector<Tensor>& inputs) {
  std::vector<Tensor> out;
  for (const Tensor& t : inputs)
    if (t.requires_grad()) out.push_back(t);
  return out;
}

}  // namespace

TEST_CASE("training ops pass gradcheck") {
  for (const GradcheckCase& c : training_op_cases()) {
    INFO(std::string(c.name));
    const autograd::GradcheckResult result = autograd::gradcheck(c.fn, c.inputs);
    INFO(result.message);
    CHECK(result.passed);
  }
}

TEST_CASE("training ops pass gradgradcheck") {
  for (const GradcheckCase& c : training_op_cases()) {
    INFO(std::string(c.name));
    try {
      const autograd::GradcheckResult result = autograd::gradgradcheck(c.fn, c.inputs);
      INFO(result.message);
      CHECK(result.passed);
    } catch (const std::exception& e) {
      FAIL_CHECK("threw: ", e.what());
    }
  }
}

// gradgradcheck differentiates the recorded backward but cannot tell whether its value is the
// gradient: compare it with the fused first-order backward.
TEST_CASE("training ops: the recorded backward (create_graph) gives the fused backward's gradients") {
  for (const GradcheckCase& c : training_op_cases()) {
    INFO(std::string(c.name));
    const Tensor out = c.fn(c.inputs);
    // v requires grad, so every recorded gradient depends on it and must come out recorded.
    const Tensor v = randn(out.shape(), {.dtype = kFloat64, .requires_grad = true});
    const std::vector<Tensor> wrt = differentiable(c.inputs);
    const std::vector<Tensor> fused = autograd::grad({out}, wrt, {v}, {.retain_graph = true});
    const std::vector<Tensor> recorded = autograd::grad({out}, wrt, {v}, {.retain_graph = true, .create_graph = true});
    REQUIRE(fused.size() == recorded.size());
    for (std::size_t i = 0; i < fused.size(); ++i) {
      INFO("gradient " << i);
      CHECK_FALSE(fused[i].requires_grad());
      CHECK(recorded[i].requires_grad());
      const testing::CloseResult close = testing::check_close(recorded[i].detach(), fused[i], 1e-10, 1e-12);
      INFO(close.message);
      CHECK(close.ok);
    }
  }
}
