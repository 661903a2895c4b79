// DistributedDataParallel: K ranks with batch B reproduce one process with batch
// K * B, replicas stay bitwise equal, no_sync accumulates, unused parameters and
// unfinished reductions are handled or named, mismatched models are refused.
#include <doctest/doctest.h>

#include "support/testing.hpp"
#include "training.hpp"

using namespace xgrad;
using namespace xgrad::testing::distributed_training;
using testing::contains;
using testing::error_of;
using testing::values;

namespace {

// The largest |a - e| / max|e| over the two runs' parameters.
double relative_difference(const nn::Module& actual, const nn::Module& expected) {
  const std::vector<double> a = values(flat_parameters(actual)), e = values(flat_parameters(expected));
  double largest = 0, difference = 0;
  for (std::size_t i = 0; i < e.size(); ++i) {
    largest = std::max(largest, std::abs(e[i]));
    difference = std::max(difference, std::abs(a[i] - e[i]));
  }
  return difference / largest;
}

// 10 SGD steps data-parallel against the single-process reference.
void check_equivalence(dist::DistributedDataParallelOptions options) {
  dist::init();
  const int rank = dist::rank(), world = dist::world_size();
  // Each rank starts from its own initialization: DDP must replace it with rank 0's.
  auto model = std::make_shared<dist::DistributedDataParallel>(make_net(100 + rank), options);
  optim::SGD optimizer(model->parameters(), sgd_options());
  CHECK(replicas_identical(*model));
  for (int step = 0; step < 10; ++step) {
    optimizer.zero_grad();
    loss_of(*model, shard(global_batch(step), rank, world)).backward();
    optimizer.step();
    CHECK_MESSAGE(replicas_identical(*model), "step ", step);
  }
  auto reference = make_net(100);
  optim::SGD reference_optimizer(reference->parameters(), sgd_options());
  train_reference(*reference, reference_optimizer, 0, 10);
  const double difference = relative_difference(*model->module(), *reference);
  CAPTURE(difference);
  CHECK(difference <= 1e-12);
  CHECK(difference >= 0);
  // The run moved: a stale reference would not match by accident.
  CHECK(relative_difference(*make_net(100), *reference) > 1e-3);
}

}  // namespace

TEST_SUITE("data_parallel") {

TEST_CASE("K ranks with batch B reproduce one process with batch K*B (one bucket)") {
  check_equivalence({});
}

TEST_CASE("K ranks with batch B reproduce one process with batch K*B (a bucket per parameter or two)") {
  dist::init();
  auto probe = std::make_shared<dist::DistributedDataParallel>(make_net(1), dist::DistributedDataParallelOptions{.bucket_cap_mb = 1e-4});
  // Buckets start with the last parameters (fc.bias, fc.weight, ...), each under its cap or holding one parameter.
  const auto buckets = probe->bucket_assignment();
  CHECK(buckets.size() >= 3);
  CHECK(buckets.front().back() == 3);  // fc.bias is registered last
  CHECK(buckets.back().front() == 0);  // conv.weight first
  check_equivalence({.bucket_cap_mb = 1e-4});
}

TEST_CASE("parameters and state_dict names carry PyTorch's 'module.' prefix, forward is the module's") {
  dist::init();
  auto net = make_net(7);
  auto model = std::make_shared<dist::DistributedDataParallel>(net);
  const auto named = model->named_parameters();
  REQUIRE(named.size() == 4);
  CHECK(named[0].first == "module.conv.weight");
  CHECK(named[3].first == "module.fc.bias");
  CHECK(named[0].second.impl() == net->conv->weight.impl());
  CHECK(model->state_dict().front().first == "module.conv.weight");
  Tensor x = randn({2, kChannels, kLength}, {.dtype = kFloat64});
  NoGradGuard no_grad;  // no backward follows: nothing is prepared
  CHECK(values((*model)(x)) == values((*net)(x)));
  CHECK(contains(model->repr(), "DistributedDataParallel(\n  (module): Net("));
}

TEST_CASE("backward returns averaged gradients, until then they are out of .grad()") {
  dist::init();
  const int rank = dist::rank(), world = dist::world_size();
  auto model = std::make_shared<dist::DistributedDataParallel>(make_net(3));
  Tensor weight = model->module()->parameters().front();
  bool seen_undefined = false;
  RemovableHandle probe = weight.register_post_accumulate_grad_hook([&](Tensor& leaf) {
    seen_undefined = !leaf.grad().defined();  // runs after DDP's hook took the gradient
  });
  const Batch batch = shard(global_batch(0), rank, world);
  loss_of(*model, batch).backward();
  CHECK(seen_undefined);
  REQUIRE(weight.grad().defined());
  // The average of every rank's local gradient.
  Tensor local_grads = [&] {
    auto copy = make_net(3);
    copy->load_state_dict(model->module()->state_dict());
    loss_of(*copy, batch).backward();
    return copy->parameters().front().grad();
  }();
  dist::all_reduce(local_grads, dist::ReduceOp::Avg);
  CHECK_CLOSE(weight.grad(), local_grads, 1e-13, 1e-15);
  probe.remove();
  // A second backward without a forward is refused (it would average twice).
  Tensor loss = loss_of(*model, batch);
  loss.backward({}, {.retain_graph = true});
  CHECK(contains(error_of([&] { loss.backward(); }),
                 "got a gradient, but no forward of this DistributedDataParallel prepared this backward pass"));
}

TEST_CASE("no_sync accumulates locally, the next synchronized backward averages the sum") {
  dist::init();
  const int rank = dist::rank(), world = dist::world_size();
  auto model = std::make_shared<dist::DistributedDataParallel>(make_net(100 + rank));
  optim::SGD optimizer(model->parameters(), sgd_options());
  auto reference = make_net(100);
  optim::SGD reference_optimizer(reference->parameters(), sgd_options());
  for (int step = 0; step < 4; ++step) {
    optimizer.zero_grad();
    reference_optimizer.zero_grad();
    for (int micro = 0; micro < 3; ++micro) {
      const Batch batch = global_batch(step, micro);
      loss_of(*reference, batch).backward();
      if (micro < 2) {
        auto guard = model->no_sync();
        loss_of(*model, shard(batch, rank, world)).backward();
      } else {
        loss_of(*model, shard(batch, rank, world)).backward();
      }
      if (micro == 0 && world > 1) {
        // Local only: the ranks' accumulated gradients differ.
        Tensor grads = dist::all_gather(model->module()->parameters().back().grad());
        CHECK(values(grads.narrow(0, 0, 1)) != values(grads.narrow(0, 1, 1)));
      }
    }
    optimizer.step();
    reference_optimizer.step();
    CHECK(replicas_identical(*model));
  }
  CHECK(relative_difference(*model->module(), *reference) <= 1e-12);
}

TEST_CASE("a parameter without gradient is named, or counted as zero with find_unused_parameters") {
  dist::init();
  const int rank = dist::rank(), world = dist::world_size();
  // `extra` is used by rank 0 only; `unused` by no rank.
  struct Branchy : nn::Module {
    std::shared_ptr<nn::Linear> main = register_module("main", std::make_shared<nn::Linear>(3, 2));
    std::shared_ptr<nn::Linear> extra = register_module("extra", std::make_shared<nn::Linear>(3, 2));
    std::shared_ptr<nn::Linear> unused = register_module("unused", std::make_shared<nn::Linear>(3, 2));
    Tensor forward(const Tensor& x) override {
      return distributed::rank() == 0 ? main->forward(x) + extra->forward(x) : main->forward(x);
    }
    std::string type_name() const override { return "Branchy"; }
  };
  Tensor x = ones({4, 3});
  {
    auto model = std::make_shared<dist::DistributedDataParallel>(std::make_shared<Branchy>());
    const std::string message = error_of([&] { (*model)(x).sum().backward(); });
    CHECK(contains(message, "DistributedDataParallel: parameters got no gradient in this backward pass: "));
    CHECK(contains(message, "'module.unused.weight', 'module.unused.bias'"));
    CHECK(contains(message, "{.find_unused_parameters = true}"));
    CHECK(contains(error_of([&] { (*model)(x); }), "parameters got no gradient"));  // refused from then on
  }
  auto model = std::make_shared<dist::DistributedDataParallel>(std::make_shared<Branchy>(),
                                                                dist::DistributedDataParallelOptions{.find_unused_parameters = true});
  auto* branchy = static_cast<Branchy*>(model->module().get());
  for (int step = 0; step < 2; ++step) {
    model->zero_grad();
    (*model)(x).sum().backward();
    // d/d(bias) of sum over 4 rows = 4 on rank 0 only; averaged: 4 / world everywhere.
    REQUIRE(branchy->extra->bias.grad().defined());
    CHECK_CLOSE(branchy->extra->bias.grad(), full({2}, 4.0 / world), 1e-6, 0);
    CHECK_CLOSE(branchy->main->bias.grad(), full({2}, 4.0), 1e-6, 0);
    CHECK_FALSE(branchy->unused->bias.grad().defined());  // no rank used it: left as it was
  }
  CHECK(rank >= 0);
}

TEST_CASE("a backward that fails mid-way leaves the wrapper refusing to go on") {
  dist::init();
  const int rank = dist::rank(), world = dist::world_size();
  auto model = std::make_shared<dist::DistributedDataParallel>(make_net(5), dist::DistributedDataParallelOptions{.bucket_cap_mb = 1e-4});
  RemovableHandle thrower = model->module()->parameters().back().register_post_accumulate_grad_hook(
      [](Tensor&) { fail("test: a hook fails on purpose"); });
  const Batch batch = shard(global_batch(0), rank, world);
  CHECK(contains(error_of([&] { loss_of(*model, batch).backward(); }), "test: a hook fails on purpose"));
  thrower.remove();
  CHECK(contains(error_of([&] { loss_of(*model, batch); }),
                 "forward called while the previous backward pass's gradient reduction is unfinished"));
  CHECK(contains(error_of([&] { loss_of(*model, batch); }), "restart from a checkpoint"));
}

TEST_CASE("ranks wrapping different models get an error naming the first difference") {
  dist::init();
  if (dist::world_size() == 1) return;
  const bool odd_one = dist::rank() == 1;
  auto linear = std::make_shared<nn::Linear>(4, odd_one ? 3 : 2);
  const std::string message = error_of([&] { dist::DistributedDataParallel model(linear); });
  CAPTURE(message);
  CHECK(contains(message, "DistributedDataParallel: every rank must wrap the same model, but entry 0 differs: rank"));
  CHECK(contains(message, odd_one ? "rank 1 has parameter 'module.weight' float32 [3, 4], rank 0 has parameter "
                                    "'module.weight' float32 [2, 4]"
                                  : "has parameter 'module.weight' float32 [2, 4], rank 1 has parameter "
                                    "'module.weight' float32 [3, 4]"));
  // The options are checked too.
  CHECK(contains(error_of([&] { dist::DistributedDataParallel bad(linear, {.bucket_cap_mb = 0}); }),
                 "bucket_cap_mb must be positive, got 0"));
}

TEST_CASE("buffers: rank 0's are broadcast at construction and before each forward with gradients") {
  dist::init();
  const int rank = dist::rank(), world = dist::world_size();
  auto bn = std::make_shared<nn::BatchNorm1d>(2);
  if (rank > 0) bn->running_var.fill_(rank + 1.0);
  auto model = std::make_shared<dist::DistributedDataParallel>(bn);
  CHECK(values(bn->running_var) == std::vector<double>(2, 1.0));  // rank 0's, after construction
  manual_seed(50 + static_cast<std::uint64_t>(rank));
  Tensor x = randn({4, 2, 3});  // each rank's own data: its own batch statistics
  (*model)(x).sum().backward();
  Tensor gathered = dist::all_gather(bn->running_mean);
  if (world > 1) CHECK(values(gathered.narrow(0, 1, 1)) != values(gathered.narrow(0, 0, 1)));
  Tensor rank0_mean = bn->running_mean.clone();
  dist::broadcast(rank0_mean, 0);
  model->eval();  // eval: the forward uses the running statistics and keeps them
  (*model)(x);
  CHECK(values(bn->running_mean) == values(rank0_mean));
}

}  // TEST_SUITE("data_parallel")
