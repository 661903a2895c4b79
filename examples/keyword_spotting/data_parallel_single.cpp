// kws::DataParallel where xgrad::distributed is not built: always one process.
#include "keyword_spotting/data_parallel.hpp"

#include <algorithm>
#include <cstdlib>

namespace kws {

DataParallel::DataParallel(int&, char**&) {
  if (const char* threads = std::getenv("XGRAD_NUM_THREADS")) xgrad::set_num_threads(std::atoi(threads));
}

std::shared_ptr<xgrad::nn::Module> DataParallel::wrap(std::shared_ptr<xgrad::nn::Module> model) { return model; }

void DataParallel::shuffle(std::vector<int64_t>& order, int64_t, int, std::mt19937_64& rng) {
  std::shuffle(order.begin(), order.end(), rng);
}

int64_t DataParallel::shard_size(int64_t dataset_size) const { return dataset_size; }
int64_t DataParallel::local_batch(int64_t global_batch) const { return global_batch; }
void DataParallel::sum(double&, int64_t&, int64_t&) {}
void DataParallel::barrier() {}

}  // namespace kws
