// Thread safety, as documented in README "Threads": grad mode (NoGradGuard) is
// per thread, and independent models may be built and trained in parallel
// threads with the same results as one after the other.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <functional>
#include <barrier>
#include <thread>
#include <vector>

#include "autograd/grad_mode.hpp"
#include "core/creation.hpp"
#include "ops/ops.hpp"
#include "core/parallel.hpp"
#include "core/random.hpp"
#include "nn/conv1d.hpp"
#include "nn/functional.hpp"
#include "optim/sgd.hpp"
#include "nn/module.hpp"
#include "support/testing.hpp"

using namespace xgrad;

namespace {

// (N, 6) -> (N, 3), with weights given (so building it draws no random numbers).
struct SmallModel : nn::Module {
  Tensor w1, b1, w2, b2;
  SmallModel(const Tensor& w1_init, const Tensor& w2_init) {
    w1 = register_parameter("w1", w1_init.clone().detach());
    b1 = register_parameter("b1", zeros({12}));
    w2 = register_parameter("w2", w2_init.clone().detach());
    b2 = register_parameter("b2", zeros({3}));
  }
  Tensor forward(const Tensor& x) override { return matmul(relu(matmul(x, w1) + b1), w2) + b2; }
  std::string type_name() const override { return "SmallModel"; }
};

struct Job {
  Tensor w1, w2, input, target;
};

Job make_job(std::uint64_t seed) {
  manual_seed(seed);
  return {randn({6, 12}) * 0.4, randn({12, 3}) * 0.4, randn({16, 6}), randn({16, 3})};
}

// Trains a fresh model on `job` and returns its parameters and the loss history.
std::vector<Tensor> train(const Job& job, int steps, std::vector<double>* losses = nullptr) {
  SmallModel model(job.w1, job.w2);
  for (int step = 0; step < steps; ++step) {
    Tensor loss = (model(job.input) - job.target).pow(2.0).mean();
    model.zero_grad();
    loss.backward();
    {
      NoGradGuard no_grad;
      for (Tensor& p : model.parameters()) p.copy_(p - p.grad() * 0.05);
    }
    if (losses) losses->push_back(loss.item<double>());
  }
  return model.parameters();
}

}  // namespace

TEST_CASE("threads: two models trained in two threads at once match sequential training") {
  const int steps = 300;
  const Job jobs[2] = {make_job(11), make_job(12)};
  std::vector<Tensor> sequential[2] = {train(jobs[0], steps), train(jobs[1], steps)};

  for (int round = 0; round < 3; ++round) {
    std::vector<Tensor> parallel[2];
    std::vector<double> losses[2];
    std::barrier start(2);
    auto worker = [&](int i) {
      start.arrive_and_wait();  // both threads train at the same time
      parallel[i] = train(jobs[i], steps, &losses[i]);
    };
    std::thread a(worker, 0), b(worker, 1);
    a.join();
    b.join();
    for (int i = 0; i < 2; ++i) {
      REQUIRE(parallel[i].size() == sequential[i].size());
      for (std::size_t p = 0; p < parallel[i].size(); ++p) {
        CHECK(testing::values(parallel[i][p]) == testing::values(sequential[i][p]));  // bitwise
      }
      CHECK(losses[i].back() < losses[i].front());
    }
  }
}

TEST_CASE("threads: grad mode is per thread even while both threads record") {
  std::atomic<int> recorded_under_no_grad{0}, missing_under_grad{0};
  std::barrier sync(2);
  auto worker = [&](bool no_grad) {
    Tensor x = ones({4}, {.requires_grad = true});
    sync.arrive_and_wait();
    for (int i = 0; i < 2000; ++i) {
      if (no_grad) {
        NoGradGuard guard;
        if ((x * 2.0).requires_grad()) ++recorded_under_no_grad;
      } else {
        if (!(x * 2.0).requires_grad()) ++missing_under_grad;
      }
    }
    CHECK(autograd::is_grad_enabled());  // every guard restored this thread's mode
  };
  std::thread a(worker, true), b(worker, false);
  a.join();
  b.join();
  CHECK(recorded_under_no_grad.load() == 0);
  CHECK(missing_under_grad.load() == 0);
}

TEST_CASE("threads: random draws from several threads are safe and all distinct streams are consumed") {
  // The global generator is locked: concurrent draws never race (TSan) and
  // together consume exactly as many numbers as sequential draws.
  manual_seed(5);
  std::vector<Tensor> drawn(4);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) threads.emplace_back([&, i] { drawn[i] = rand({1000}); });
  for (auto& t : threads) t.join();
  Tensor after_parallel = rand({1});
  manual_seed(5);
  for (int i = 0; i < 4; ++i) rand({1000});
  CHECK(testing::values(rand({1})) == testing::values(after_parallel));
}

TEST_CASE("threads: a graph built in one thread backwards in another") {
  Tensor x = full({3}, 2.0, {.requires_grad = true});
  Tensor y = (x * x).sum();
  std::thread worker([&] { y.backward(); });
  worker.join();
  CHECK(testing::values(x.grad()) == std::vector<double>{4.0, 4.0, 4.0});
}

namespace {

// A Conv1d model big enough that its kernels use parallel_for, built (and its
// data drawn) before any thread starts.
struct ConvJob {
  std::shared_ptr<nn::Conv1d> conv;
  Tensor input, target;
};

ConvJob make_conv_job(std::uint64_t seed) {
  manual_seed(seed);
  return {std::make_shared<nn::Conv1d>(8, 32, 5, nn::Conv1dOptions{.padding = 2}), randn({16, 8, 256}), randn({16, 32, 256})};
}

std::vector<double> train_conv(ConvJob job, int steps) {
  optim::SGD optimizer(job.conv->parameters(), {.lr = 0.01, .momentum = 0.9});
  for (int step = 0; step < steps; ++step) {
    Tensor loss = nn::functional::mse_loss((*job.conv)(job.input), job.target);
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
  }
  std::vector<double> out = testing::values(job.conv->weight);
  for (double b : testing::values(job.conv->bias)) out.push_back(b);
  return out;
}

}  // namespace

TEST_CASE("threads: two Conv1d models trained at once share the kernels' thread pool safely and match") {
  set_num_threads(2);
  const int steps = 20;
  const std::vector<double> sequential[2] = {train_conv(make_conv_job(21), steps), train_conv(make_conv_job(22), steps)};
  ConvJob jobs[2] = {make_conv_job(21), make_conv_job(22)};
  std::vector<double> parallel[2];
  std::barrier start(2);
  auto worker = [&](int i) {
    start.arrive_and_wait();
    parallel[i] = train_conv(jobs[i], steps);
  };
  std::thread a(worker, 0), b(worker, 1);
  a.join();
  b.join();
  CHECK(parallel[0] == sequential[0]);
  CHECK(parallel[1] == sequential[1]);
}

TEST_CASE("threads: parallel_for from several user threads covers every index exactly once") {
  set_num_threads(2);
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&] {
      for (int round = 0; round < 200; ++round) {
        std::vector<int> hits(1000, 0);
        parallel_for(1000, 10, [&](std::int64_t begin, std::int64_t end) {
          for (std::int64_t i = begin; i < end; ++i) ++hits[static_cast<std::size_t>(i)];
        });
        for (int h : hits) wrong += h != 1;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(wrong.load() == 0);
}

TEST_CASE("threads: two threads call two different modules with forward hooks at once") {
  // A module's hooks belong to it alone (no shared registry), so each thread sees
  // exactly its own module's hooks run, every call.
  constexpr int kCalls = 2000;
  struct Result {
    int hook_calls = 0;
    int wrong_outputs = 0;
  };
  auto run = [](Result& result, double offset) {
    SmallModel model(ones({6, 12}) * 0.1, ones({12, 3}) * 0.1);
    model.register_forward_pre_hook([offset](nn::Module&, const Tensor& x) { return x + offset; });
    model.register_forward_hook([&result](nn::Module&, const Tensor&, const Tensor&) { ++result.hook_calls; });
    const Tensor x = zeros({1, 6});
    // The pre-hook turns zeros into `offset` everywhere: each hidden unit is relu(6 * 0.1 * offset),
    // each output 12 * 0.1 times that.
    const double expected = 12 * 0.1 * std::max(0.0, 0.6 * offset);
    for (int i = 0; i < kCalls; ++i) {
      const Tensor y = model(x);
      for (double v : testing::values(y)) result.wrong_outputs += std::abs(v - expected) > 1e-5;
    }
  };
  Result first, second;
  std::thread a(run, std::ref(first), 1.0), b(run, std::ref(second), 2.0);
  a.join();
  b.join();
  CHECK(first.hook_calls == kCalls);
  CHECK(second.hook_calls == kCalls);
  CHECK(first.wrong_outputs == 0);
  CHECK(second.wrong_outputs == 0);
}
