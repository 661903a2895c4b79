// kws::DataParallel on xgrad::distributed: data-parallel when started by mpirun.
#include "keyword_spotting/data_parallel.hpp"

#include <xgrad_distributed.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace dist = xgrad::distributed;

namespace kws {

DataParallel::DataParallel(int& argc, char**& argv) {
  // Open MPI's mpirun sets OMPI_COMM_WORLD_SIZE; without it this is a plain one-process run.
  if (std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr) {
    dist::init(argc, argv);
    rank_ = dist::rank();
    world_size_ = dist::world_size();
  }
  const char* threads = std::getenv("XGRAD_NUM_THREADS");
  if (threads != nullptr) {
    xgrad::set_num_threads(std::atoi(threads));
  } else if (world_size_ > 1) {
    xgrad::set_num_threads(1);
  }
  // One progress bar and one report: rank 0's (errors still reach stderr from every rank).
  if (rank_ != 0 && std::freopen("/dev/null", "w", stdout) == nullptr) std::perror("keyword_spotting: stdout");
}

std::shared_ptr<xgrad::nn::Module> DataParallel::wrap(std::shared_ptr<xgrad::nn::Module> model) {
  if (world_size_ == 1) return model;
  return std::make_shared<dist::DistributedDataParallel>(std::move(model));
}

xgrad::data::Sampler& DataParallel::train_sampler(int64_t dataset_size) {
  if (!sampler_) {
    if (world_size_ == 1) {
      sampler_ = std::make_unique<xgrad::data::RandomSampler>(dataset_size, xgrad::data::RandomSamplerOptions{.seed = 0});
    } else {
      sampler_ = std::make_unique<dist::DistributedSampler>(dataset_size, dist::DistributedSamplerOptions{.shuffle = true, .seed = 0});
    }
  }
  return *sampler_;
}

void DataParallel::set_epoch(int epoch) {
  // One process: the RandomSampler draws a new permutation every epoch by itself.
  if (auto* sampler = dynamic_cast<dist::DistributedSampler*>(sampler_.get())) sampler->set_epoch(epoch);
}

int64_t DataParallel::local_batch(int64_t global_batch) const {
  return std::max<int64_t>(1, global_batch / world_size_);
}

void DataParallel::sum(double& loss_sum, int64_t& correct, int64_t& seen) {
  if (world_size_ == 1) return;
  xgrad::Tensor totals = xgrad::empty({3}, {.dtype = xgrad::kFloat64});
  double* t = totals.data_ptr<double>();
  t[0] = loss_sum;
  t[1] = double(correct);
  t[2] = double(seen);
  dist::all_reduce(totals);
  loss_sum = t[0];
  correct = int64_t(t[1]);
  seen = int64_t(t[2]);
}

void DataParallel::barrier() {
  if (world_size_ > 1) dist::barrier();
}

}  // namespace kws
