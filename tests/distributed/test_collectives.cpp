// Collectives on tensors: values on every rank, and mismatched calls turned into
// errors on every rank (never a hang: CTest's timeout fails a hang).
#include <doctest/doctest.h>

#include <xgrad.hpp>
#include <xgrad_distributed.hpp>

#include "support/testing.hpp"

using namespace xgrad;
namespace dist = xgrad::distributed;
using testing::contains;
using testing::error_of;
using testing::values;

namespace {

// Rank r's tensor: {r + 1, -(r + 1), r * 10 + i ...} in `dtype`.
Tensor rank_values(Dtype dtype, std::int64_t n = 4) {
  const double r = dist::rank();
  std::vector<double> data;
  for (std::int64_t i = 0; i < n; ++i) data.push_back(i == 0 ? r + 1 : i == 1 ? -(r + 1) : r * 10 + i);
  return testing::from_values(data, false, dtype);
}

}  // namespace

TEST_SUITE("collectives") {

TEST_CASE("init is idempotent and rank/world_size describe the job") {
  dist::init();
  dist::init();
  CHECK(dist::is_initialized());
  CHECK(dist::world_size() >= 1);
  CHECK(dist::rank() >= 0);
  CHECK(dist::rank() < dist::world_size());
  Tensor ranks = dist::all_gather(testing::from_values({static_cast<double>(dist::rank())}, false));
  for (int r = 0; r < dist::world_size(); ++r) CHECK(ranks.data_ptr<double>()[r] == r);
}

TEST_CASE("all_reduce sums, takes min and max, and averages, in place, float32 and float64") {
  dist::init();
  const int world = dist::world_size();
  for (Dtype dtype : {kFloat32, kFloat64}) {
    CAPTURE(dtype);
    std::vector<double> sum(4, 0.0), min(4, 1e300), max(4, -1e300);
    for (int r = 0; r < world; ++r) {
      const double v[4] = {r + 1.0, -(r + 1.0), r * 10 + 2.0, r * 10 + 3.0};
      for (int i = 0; i < 4; ++i) {
        sum[i] += v[i];
        min[i] = std::min(min[i], v[i]);
        max[i] = std::max(max[i], v[i]);
      }
    }
    Tensor t = rank_values(dtype);
    const auto version = t.impl()->storage->version();
    dist::all_reduce(t);
    CHECK(values(t) == sum);
    CHECK(t.impl()->storage->version() > version);
    t = rank_values(dtype);
    dist::all_reduce(t, dist::ReduceOp::Min);
    CHECK(values(t) == min);
    t = rank_values(dtype);
    dist::all_reduce(t, dist::ReduceOp::Max);
    CHECK(values(t) == max);
    t = rank_values(dtype);
    dist::all_reduce(t, dist::ReduceOp::Avg);
    std::vector<double> average;
    for (double s : sum) average.push_back(dtype == kFloat32 ? static_cast<double>(static_cast<float>(s) / world) : s / world);
    CHECK(values(t) == average);
  }
}

TEST_CASE("int64 tensors reduce exactly, bool tensors by Max (any) and Min (all), and Avg or Sum where meaningless is refused") {
  dist::init();
  const int world = dist::world_size(), rank = dist::rank();
  // Beyond 2^53, where a double (the old wire type) would round: the sum must be exact.
  const std::int64_t big = (std::int64_t{1} << 60) + 1;
  Tensor t = empty({3}, {.dtype = kInt64});
  t.data_ptr<std::int64_t>()[0] = big;
  t.data_ptr<std::int64_t>()[1] = -rank;
  t.data_ptr<std::int64_t>()[2] = rank * 7;
  dist::all_reduce(t);
  CHECK(t.data_ptr<std::int64_t>()[0] == big * world);
  CHECK(t.data_ptr<std::int64_t>()[1] == -(world * (world - 1)) / 2);
  CHECK(t.data_ptr<std::int64_t>()[2] == 7 * (world * (world - 1)) / 2);
  Tensor m = full({2}, static_cast<double>(rank), {.dtype = kInt64});
  dist::all_reduce_async(m, dist::ReduceOp::Max).wait();
  CHECK(m.data_ptr<std::int64_t>()[0] == world - 1);
  Tensor g = dist::all_gather(full({1}, static_cast<double>(rank), {.dtype = kInt64}));
  CHECK(g.dtype() == kInt64);
  for (int r = 0; r < world; ++r) CHECK(g.data_ptr<std::int64_t>()[r] == r);

  Tensor flags = empty({2}, {.dtype = kBool});
  flags.data_ptr<bool>()[0] = rank == 0;  // true on one rank only
  flags.data_ptr<bool>()[1] = true;       // true everywhere
  Tensor any = flags.clone(), all = flags.clone();
  dist::all_reduce(any, dist::ReduceOp::Max);
  dist::all_reduce(all, dist::ReduceOp::Min);
  CHECK(any.data_ptr<bool>()[0]);
  CHECK(any.data_ptr<bool>()[1]);
  CHECK(all.data_ptr<bool>()[0] == (world == 1));
  CHECK(all.data_ptr<bool>()[1]);
  Tensor b = flags.clone();
  dist::broadcast(b, world - 1);
  CHECK(b.data_ptr<bool>()[0] == (world == 1));

  CHECK_THROWS_WITH_AS(dist::all_reduce(t, dist::ReduceOp::Avg),
                       doctest::Contains("all_reduce: ReduceOp::Avg of an int64 tensor would truncate"), xgrad::Error);
  CHECK_THROWS_WITH_AS(dist::all_reduce_async(flags, dist::ReduceOp::Sum),
                       doctest::Contains("all_reduce_async: ReduceOp::Sum of a bool tensor is not a bool"), xgrad::Error);
  dist::barrier();
}

TEST_CASE("broadcast copies the root's tensor to every rank, all_gather stacks along a new dim 0") {
  dist::init();
  const int world = dist::world_size(), root = world - 1;
  Tensor t = rank_values(kFloat32, 5).reshape({5, 1});
  dist::broadcast(t, root);
  CHECK(t.shape() == Shape{5, 1});
  CHECK(values(t) == std::vector<double>{root + 1.0, -(root + 1.0), root * 10 + 2.0, root * 10 + 3.0, root * 10 + 4.0});

  Tensor gathered = dist::all_gather(rank_values(kFloat64, 3).reshape({1, 3}));
  CHECK(gathered.shape() == Shape{world, 1, 3});
  CHECK(gathered.dtype() == kFloat64);
  for (int r = 0; r < world; ++r) {
    CHECK(values(gathered.narrow(0, r, 1)) == std::vector<double>{r + 1.0, -(r + 1.0), r * 10 + 2.0});
  }
  dist::barrier();
}

TEST_CASE("all_reduce_async overlaps local work and holds the result after wait()") {
  dist::init();
  const int world = dist::world_size();
  Tensor big = full({1 << 16}, dist::rank() + 1.0, {.dtype = kFloat64});
  Tensor small = rank_values(kFloat32);
  dist::Work first = dist::all_reduce_async(big, dist::ReduceOp::Avg);
  dist::Work second = dist::all_reduce_async(small, dist::ReduceOp::Max);
  Tensor local = randn({64, 64}).matmul(randn({64, 64}));  // work meanwhile
  second.wait();
  first.wait();
  first.wait();  // idempotent
  CHECK(first.is_completed());
  const double mean = (world + 1) / 2.0;
  CHECK(values(big.narrow(0, 0, 3)) == std::vector<double>{mean, mean, mean});
  CHECK(values(big.narrow(0, (1 << 16) - 1, 1)) == std::vector<double>{mean});
  CHECK(values(small) == std::vector<double>{static_cast<double>(world), -1.0, (world - 1) * 10 + 2.0,
                                             (world - 1) * 10 + 3.0});
  dist::Work empty_work;
  CHECK(contains(error_of([&] { empty_work.wait(); }), "Work::wait: this Work holds no operation"));
  CHECK(local.defined());
}

TEST_CASE("an empty tensor is a valid collective argument") {
  dist::init();
  Tensor empty_tensor = zeros({0, 3});
  dist::all_reduce(empty_tensor);
  dist::broadcast(empty_tensor, 0);
  CHECK(dist::all_gather(empty_tensor).shape() == Shape{dist::world_size(), 0, 3});
}

}  // TEST_SUITE("collectives")

TEST_SUITE("validation") {

TEST_CASE("a different shape on one rank is an error on every rank, naming both") {
  dist::init();
  const int me = dist::rank(), last = dist::world_size() - 1;
  Tensor t = zeros({2, me == last ? 4 : 3});
  const std::string message = error_of([&] { dist::all_reduce(t); });
  CAPTURE(message);
  if (dist::world_size() == 1) {
    CHECK(message == "<no error>");
    return;
  }
  const int other = me == last ? 0 : last;
  CHECK(contains(message, fmt::format("all_reduce: rank {} passed a float32 tensor of shape [2, {}], but rank {} passed "
                                      "a float32 tensor of shape [2, {}]",
                                      me, me == last ? 4 : 3, other, other == last ? 4 : 3)));
  // Nothing is left half-done: the next collective works.
  Tensor ok = ones({2});
  dist::all_reduce(ok);
  CHECK(values(ok) == std::vector<double>(2, dist::world_size()));
}

TEST_CASE("a different dtype, root, reduction or operation on one rank is an error on every rank") {
  dist::init();
  if (dist::world_size() == 1) return;
  const bool odd_one = dist::rank() == 1;
  Tensor t = zeros({3}, {.dtype = odd_one ? kFloat64 : kFloat32});
  CHECK(contains(error_of([&] { dist::broadcast(t, 0); }), "every rank must pass the same shape and dtype"));
  CHECK(contains(error_of([&] { dist::all_gather(t); }), "float64 tensor of shape [3]"));

  Tensor u = zeros({3});
  CHECK(contains(error_of([&] { dist::broadcast(u, odd_one ? 1 : 0); }), "every rank must pass the same root"));
  CHECK(contains(error_of([&] { dist::all_reduce(u, odd_one ? dist::ReduceOp::Max : dist::ReduceOp::Sum); }),
                 "ReduceOp::Max"));
  const std::string message = error_of([&] {
    if (odd_one) {
      dist::barrier();
    } else {
      dist::all_reduce(u);
    }
  });
  CHECK(contains(message, odd_one ? "rank 1 called barrier, but rank 0 called all_reduce"
                                  : fmt::format("rank {} called all_reduce, but rank 1 called barrier", dist::rank())));
  CHECK(contains(error_of([&] { dist::all_reduce_async(u).wait(); }), "<no error>"));
  CHECK(contains(error_of([&] { dist::broadcast(u, dist::world_size()); }),
                 fmt::format("broadcast: root {} is not a rank (the job has {} processes)", dist::world_size(),
                             dist::world_size())));
  Tensor undefined;
  CHECK(contains(error_of([&] { dist::all_reduce(undefined); }), "all_reduce: the tensor is undefined"));
}

}  // TEST_SUITE("validation")
