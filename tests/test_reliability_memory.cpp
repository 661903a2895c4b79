// Long training runs keep their memory flat: every step's graph, saved tensors
// and temporaries are freed, and nothing accumulates in global state (optimizer
// state, BatchNorm running statistics, the kernels' thread pool and scratch).
#include <doctest/doctest.h>

#include <chrono>
#include <memory>

#include "autograd/node.hpp"
#include "core/creation.hpp"
#include "core/random.hpp"
#include "nn/activation.hpp"
#include "nn/batchnorm.hpp"
#include "nn/container.hpp"
#include "nn/conv1d.hpp"
#include "nn/functional.hpp"
#include "nn/linear.hpp"
#include "nn/pooling.hpp"
#include "optim/sgd.hpp"
#include "test_reliability.hpp"

using namespace xgrad;

TEST_CASE("reliability: 10,000 training steps of a Conv1d model keep the resident memory flat") {
  // Release: 10,000 steps, RSS growth after warm-up must stay under 2 MiB.
  // Sanitizer builds run 1,000 steps and skip the RSS bound (their allocators
  // keep freed memory in quarantine); LeakSanitizer checks leaks at exit there.
  const int steps = testing::kSanitized ? 1'000 : 10'000;
  const int warm_up = steps / 10;
  manual_seed(3);
  nn::Sequential model({std::make_shared<nn::Conv1d>(4, 16, 5, nn::Conv1dOptions{.padding = 2}),
                        std::make_shared<nn::BatchNorm1d>(16), std::make_shared<nn::ReLU>(),
                        std::make_shared<nn::MaxPool1d>(2), std::make_shared<nn::Conv1d>(16, 8, 3),
                        std::make_shared<nn::AdaptiveAvgPool1d>(1), std::make_shared<nn::Flatten>(),
                        std::make_shared<nn::Linear>(8, 3)});
  optim::SGD optimizer(model.parameters(), {.lr = 0.05, .momentum = 0.9});
  const Tensor input = randn({8, 4, 32});
  Tensor target = empty({8}, {.dtype = kInt64});
  for (int i = 0; i < 8; ++i) target.data_ptr<std::int64_t>()[i] = i % 3;

  std::int64_t after_warm_up = 0;
  double first_loss = 0, last_loss = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int step = 0; step < steps; ++step) {
    std::weak_ptr<autograd::Node> graph;
    {
      Tensor loss = nn::functional::cross_entropy(model(input), target);
      graph = loss.grad_fn();
      optimizer.zero_grad();
      loss.backward();
      optimizer.step();
      if (step == 0) first_loss = loss.item<double>();
      last_loss = loss.item<double>();
    }
    REQUIRE_MESSAGE(graph.expired(), "step ", step, ": the graph outlived its loss");
    if (step == warm_up) after_warm_up = testing::resident_bytes();
  }
  const std::int64_t at_end = testing::resident_bytes();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double growth_mib = static_cast<double>(at_end - after_warm_up) / (1 << 20);
  MESSAGE(steps, " steps in ", seconds, " s; resident memory after warm-up ", after_warm_up / 1024, " KiB, at the end ",
          at_end / 1024, " KiB (growth ", growth_mib, " MiB); loss ", first_loss, " -> ", last_loss);
  CHECK(last_loss < first_loss);  // it trained
  REQUIRE(after_warm_up > 0);
  if (!testing::kSanitized) CHECK(growth_mib < 2.0);
}
