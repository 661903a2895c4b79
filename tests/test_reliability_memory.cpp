// Long training runs keep their memory flat: every step's graph, saved tensors
// and temporaries are freed, and nothing accumulates in global state.
#include <doctest/doctest.h>

#include <memory>

#include "autograd/grad_mode.hpp"
#include "autograd/node.hpp"
#include "core/creation.hpp"
#include "core/ops.hpp"
#include "core/random.hpp"
#include "nn/module.hpp"
#include "test_reliability.hpp"

using namespace xgrad;

namespace {

// A tiny two-layer model: (N, 8) -> tanh(x W1 + b1) W2 + b2 -> (N, 4).
struct TinyModel : nn::Module {
  Tensor w1 = register_parameter("w1", randn({8, 16}) * 0.3);
  Tensor b1 = register_parameter("b1", zeros({16}));
  Tensor w2 = register_parameter("w2", randn({16, 4}) * 0.3);
  Tensor b2 = register_parameter("b2", zeros({4}));
  Tensor forward(const Tensor& x) override { return matmul(tanh(matmul(x, w1) + b1), w2) + b2; }
  std::string type_name() const override { return "TinyModel"; }
};

void sgd_step(nn::Module& model, double lr) {
  NoGradGuard no_grad;
  for (Tensor& p : model.parameters()) p.copy_(p - p.grad() * lr);
}

}  // namespace

TEST_CASE("reliability: 10,000 training steps keep the resident memory flat") {
  // Release: 10,000 steps. Sanitizer builds run fewer, and their allocators keep
  // freed memory in quarantine, so there only the graph-freeing checks apply
  // (LeakSanitizer checks the rest at exit).
  const int steps = testing::kSanitized ? 1'000 : 10'000;
  const int warm_up = steps / 10;
  manual_seed(3);
  TinyModel model;
  const Tensor input = randn({32, 8});
  const Tensor target = randn({32, 4});
  std::int64_t after_warm_up = 0;
  double first_loss = 0, last_loss = 0;
  for (int step = 0; step < steps; ++step) {
    std::weak_ptr<autograd::Node> graph;
    {
      Tensor loss = (model(input) - target).pow(2.0).mean();
      graph = loss.grad_fn();
      model.zero_grad();
      loss.backward();
      sgd_step(model, 0.05);
      if (step == 0) first_loss = loss.item<double>();
      last_loss = loss.item<double>();
    }
    REQUIRE_MESSAGE(graph.expired(), "step ", step, ": the graph outlived its loss");
    if (step == warm_up) after_warm_up = testing::resident_bytes();
  }
  const std::int64_t at_end = testing::resident_bytes();
  const double growth_mb = static_cast<double>(at_end - after_warm_up) / (1 << 20);
  MESSAGE("resident memory after warm-up: ", after_warm_up / 1024, " KiB, after ", steps,
          " steps: ", at_end / 1024, " KiB (growth ", growth_mb, " MiB); loss ", first_loss, " -> ", last_loss);
  CHECK(last_loss < first_loss);  // it trained
  REQUIRE(after_warm_up > 0);
  if (!testing::kSanitized) CHECK(growth_mb < 2.0);
}
