// Gradchecks (float64, central differences) of every training op's backward:
// one table row per op configuration.
#include <doctest/doctest.h>

#include <functional>
#include <string>
#include <vector>

#include "autograd/gradcheck.hpp"
#include "core/creation.hpp"
#include "core/ops.hpp"
#include "core/random.hpp"
#include "nn/functional/training_ops.hpp"

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

}  // namespace

TEST_CASE("training ops pass gradcheck") {
  manual_seed(11);
  using V = const std::vector<Tensor>&;
  const Tensor running_mean = randn({3}, {.dtype = kFloat64});
  const Tensor running_var = rand({3}, {.dtype = kFloat64}) + 0.5;
  std::vector<GradcheckCase> cases = {
      {"linear", [](V in) { return F::linear(in[0], in[1], in[2]); }, {input({4, 5}), input({3, 5}), input({3})}},
      {"linear 3-D, no bias", [](V in) { return F::linear(in[0], in[1]); }, {input({2, 3, 5}), input({2, 5})}},
      {"max_pool1d", [](V in) { return F::max_pool1d(in[0], 3); }, {input({2, 2, 10})}},
      {"max_pool1d stride padding dilation ceil",
       [](V in) { return F::max_pool1d(in[0], 3, {.stride = 2, .padding = 1, .dilation = 2, .ceil_mode = true}); },
       {input({2, 2, 11})}},
      {"avg_pool1d padding ceil include pad",
       [](V in) { return F::avg_pool1d(in[0], 3, {.stride = 2, .padding = 1, .ceil_mode = true}); }, {input({2, 2, 10})}},
      {"avg_pool1d exclude pad",
       [](V in) { return F::avg_pool1d(in[0], 4, {.stride = 3, .padding = 2, .ceil_mode = true, .count_include_pad = false}); },
       {input({2, 2, 12})}},
      {"adaptive_avg_pool1d 3 of 7", [](V in) { return F::adaptive_avg_pool1d(in[0], 3); }, {input({2, 2, 7})}},
      {"adaptive_avg_pool1d 1 (global)", [](V in) { return F::adaptive_avg_pool1d(in[0], 1); }, {input({3, 9})}},
      {"batch_norm training (N, C, L)",
       [](V in) { return F::batch_norm(in[0], Tensor(), Tensor(), in[1], in[2], {.training = true}); },
       {input({3, 3, 4}), input({3}), input({3})}},
      {"batch_norm training (N, C), no affine",
       [](V in) { return F::batch_norm(in[0], Tensor(), Tensor(), Tensor(), Tensor(), {.training = true}); },
       {input({5, 3})}},
      {"batch_norm eval",
       [running_mean, running_var](V in) {
         return F::batch_norm(in[0], running_mean, running_var, in[1], in[2], {.training = false});
       },
       {input({2, 3, 4}), input({3}), input({3})}},
      {"dropout (fixed seed)",
       [](V in) {
         manual_seed(42);  // the same mask in every evaluation
         return F::dropout(in[0], 0.4, true);
       },
       {input({4, 5})}},
      {"log_softmax dim 1", [](V in) { return F::log_softmax(in[0], 1); }, {input({3, 4, 2})}},
      {"softmax dim -1", [](V in) { return F::softmax(in[0], -1); }, {input({3, 5})}},
      {"cross_entropy mean", [](V in) { return F::cross_entropy(in[0], classes({0, 2, 1, 2})); }, {input({4, 3})}},
      {"cross_entropy none (N, C, d)",
       [](V in) {
         Tensor t = classes({0, 2, 1, 1, 0, 2}).reshape({2, 3});
         return F::cross_entropy(in[0], t, {.reduction = "none"});
       },
       {input({2, 3, 3})}},
      {"nll_loss sum, ignore_index",
       [](V in) { return F::nll_loss(in[0], classes({1, -100, 0}), {.reduction = "sum"}); }, {input({3, 2})}},
      {"mse_loss", [](V in) { return F::mse_loss(in[0], in[1]); }, {input({3, 4}), input({3, 4})}},
  };
  for (const GradcheckCase& c : cases) {
    INFO(std::string(c.name));
    const autograd::GradcheckResult result = autograd::gradcheck(c.fn, c.inputs);
    INFO(result.message);
    CHECK(result.passed);
  }
}
