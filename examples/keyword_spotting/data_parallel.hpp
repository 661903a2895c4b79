// Data-parallel training for the flagship: under mpirun (and when xgrad was built with
// xgrad::distributed), every rank trains a replica on its shard of each epoch, gradients are
// averaged over ranks, and rank 0 alone prints and writes. Started without mpirun it is a job of
// one process and changes nothing: same shuffles, same results as before.
//
//   mpirun -np 2 build/release/examples/keyword_spotting/keyword_spotting
//
// --batch-size stays the global batch (each of K ranks takes batch_size / K clips a step), so a
// run on K processes takes the same number of steps as one process. Threads per process:
// $XGRAD_NUM_THREADS when set, else 1 under mpirun (the ranks share the cores), else all cores.
#pragma once

#include <xgrad.hpp>

#include <cstdint>
#include <memory>
#include <vector>

namespace kws {

class DataParallel {
 public:
  // Initializes MPI when launched by mpirun; ranks other than 0 print nothing to stdout.
  DataParallel(int& argc, char**& argv);

  int rank() const { return rank_; }
  int world_size() const { return world_size_; }
  bool is_main() const { return rank_ == 0; }

  // Runs `make` on rank 0 first, then on the other ranks (which then find rank 0's cache).
  template <class F>
  auto main_first(F&& make) {
    if (!is_main()) barrier();
    auto result = make();
    if (is_main()) barrier();
    return result;
  }

  // The module to train: `model` in a DistributedDataParallel on several ranks, else itself.
  std::shared_ptr<xgrad::nn::Module> wrap(std::shared_ptr<xgrad::nn::Module> model);

  // The order of the training clips for a DataLoader, made on the first call: a new random
  // permutation every epoch (one process), or this rank's DistributedSampler shard of a
  // permutation all ranks share (call set_epoch before each epoch).
  xgrad::data::Sampler& train_sampler(int64_t dataset_size);
  void set_epoch(int epoch);
  int64_t local_batch(int64_t global_batch) const;  // clips per rank and step

  // Replaces each value by its sum over the ranks.
  void sum(double& loss_sum, int64_t& correct, int64_t& seen);

 private:
  void barrier();

  int rank_ = 0;
  int world_size_ = 1;
  std::unique_ptr<xgrad::data::Sampler> sampler_;
};

}  // namespace kws
