// Checkpoints in data-parallel training: rank 0 writes (atomically, the existing
// format), every rank resumes, with the same or another number of processes,
// and reaches the parameters of an uninterrupted run.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>

#include "support/testing.hpp"
#include "training.hpp"

using namespace xgrad;
using namespace xgrad::testing::distributed_training;
using testing::values;

namespace {

struct Run {
  std::shared_ptr<dist::DistributedDataParallel> model;
  std::unique_ptr<optim::SGD> optimizer;
};

Run make_run(std::uint64_t seed) {
  Run run;
  run.model = std::make_shared<dist::DistributedDataParallel>(make_net(seed));
  run.optimizer = std::make_unique<optim::SGD>(run.model->parameters(), sgd_options());
  return run;
}

void train(Run& run, int first, int last) {
  for (int step = first; step < last; ++step) {
    run.optimizer->zero_grad();
    loss_of(*run.model, shard(global_batch(step), dist::rank(), dist::world_size())).backward();
    run.optimizer->step();
  }
}

// Rank 0 writes; the barrier makes the file complete for every rank's load.
void save(const Run& run, const std::string& path) {
  if (dist::rank() == 0) optim::save_checkpoint(path, *run.model->module(), *run.optimizer);
  dist::barrier();
}

// Every rank loads into a fresh model (its own init), then wraps it.
Run resume(const std::string& path) {
  auto net = make_net(200 + static_cast<std::uint64_t>(dist::rank()));
  optim::SGD loader(net->parameters(), sgd_options());
  optim::load_checkpoint(path, *net, loader);
  Run run;
  run.model = std::make_shared<dist::DistributedDataParallel>(net);
  run.optimizer = std::make_unique<optim::SGD>(run.model->parameters(), sgd_options());
  run.optimizer->load_state_dict(loader.state_dict());
  return run;
}

std::string checkpoint_path() {
  const char* path = std::getenv("XGRAD_DIST_CHECKPOINT");
  REQUIRE_MESSAGE(path != nullptr, "XGRAD_DIST_CHECKPOINT names the checkpoint shared by the write and resume tests");
  return path;
}

}  // namespace

TEST_SUITE("resume") {

TEST_CASE("resuming from rank 0's checkpoint gives the uninterrupted run's parameters, bitwise") {
  dist::init();
  const std::string path =
      (std::filesystem::temp_directory_path() / fmt::format("xgrad-dist-resume-{}.ckpt", dist::world_size())).string();
  Run uninterrupted = make_run(100);
  train(uninterrupted, 0, 10);

  Run first = make_run(100 + static_cast<std::uint64_t>(dist::rank()));
  train(first, 0, 5);
  save(first, path);
  Run second = resume(path);
  train(second, 5, 10);
  CHECK(values(flat_parameters(*second.model)) == values(flat_parameters(*uninterrupted.model)));
  CHECK(replicas_identical(*second.model));
  dist::barrier();
  if (dist::rank() == 0) std::filesystem::remove(path);
}

// The next two run as a pair from CTest, each under its own number of
// processes (the checkpoint is passed between them in XGRAD_DIST_CHECKPOINT).
TEST_CASE("write: 5 steps, then rank 0 saves" * doctest::skip()) {
  dist::init();
  Run run = make_run(100 + static_cast<std::uint64_t>(dist::rank()));
  train(run, 0, 5);
  save(run, checkpoint_path());
  CHECK(std::filesystem::exists(checkpoint_path()));
}

TEST_CASE("resume: 5 more steps on another number of processes match one process's 10" * doctest::skip()) {
  dist::init();
  Run run = resume(checkpoint_path());
  train(run, 5, 10);
  auto reference = make_net(100);
  optim::SGD reference_optimizer(reference->parameters(), sgd_options());
  train_reference(*reference, reference_optimizer, 0, 10);
  CHECK_CLOSE(flat_parameters(*run.model), flat_parameters(*reference), 1e-12, 1e-14);
  CHECK(replicas_identical(*run.model));
}

}  // TEST_SUITE("resume")
