// A data-parallel training run whose last rank fails at step 3 in the way the
// first argument says; the other ranks go on and wait for it in the gradient
// all-reduce. expect_job_fails.sh checks that mpirun then ends the whole job,
// with a non-zero status, within a bound.
//   failing_rank throw|abort|exit|kill
#include <csignal>
#include <cstdlib>
#include <string>

#include "training.hpp"

using namespace xgrad;
using namespace xgrad::testing::distributed_training;

int main(int argc, char** argv) {
  dist::init(argc, argv);
  const std::string mode = argc > 1 ? argv[1] : "";
  const int rank = dist::rank(), world = dist::world_size();
  auto model = std::make_shared<dist::DistributedDataParallel>(make_net(1));
  optim::SGD optimizer(model->parameters(), sgd_options());
  for (int step = 0; step < 1000000; ++step) {
    if (step == 3 && rank == world - 1) {
      fmt::print(stderr, "failing_rank: rank {} fails at step {} ({})\n", rank, step, mode);
      if (mode == "throw") throw Error("failing_rank: an uncaught error on purpose");
      if (mode == "abort") std::abort();
      if (mode == "exit") return 3;
      if (mode == "kill") std::raise(SIGKILL);
      fmt::print(stderr, "failing_rank: unknown mode '{}'\n", mode);
      return 2;
    }
    optimizer.zero_grad();
    loss_of(*model, shard(global_batch(step % 8), rank, world)).backward();
    optimizer.step();
  }
  return 0;
}
