// kws::DataParallel where xgrad::distributed is not built: always one process.
#include "keyword_spotting/data_parallel.hpp"

#include <algorithm>
#include <cstdlib>

namespace kws {

DataParallel::DataParallel(int&, char**&) {
  if (const char* threads = std::getenv("XGRAD_NUM_THREADS")) xgrad::set_num_threads(std::atoi(threads));
}

std::shared_ptr<xgrad::nn::Module> DataParallel::wrap(std::shared_ptr<xgrad::nn::Module> model) { return model; }

xgrad::data::Sampler& DataParallel::train_sampler(int64_t dataset_size) {
  if (!sampler_) sampler_ = std::make_unique<xgrad::data::RandomSampler>(dataset_size, xgrad::data::RandomSamplerOptions{.seed = 0});
  return *sampler_;
}

void DataParallel::set_epoch(int) {}  // the RandomSampler draws a new permutation every epoch
int64_t DataParallel::local_batch(int64_t global_batch) const { return global_batch; }
void DataParallel::sum(double&, int64_t&, int64_t&) {}
void DataParallel::barrier() {}

}  // namespace kws
