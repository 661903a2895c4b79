// Internal to DistributedDataParallel: averages parameter gradients across
// ranks in buckets, overlapping backward (PyTorch's c10d Reducer, simplified).
//
// Buckets: parameters are packed, per dtype and in registration order, into
// buckets of at most `first_bucket_cap_bytes` (the first) and `bucket_cap_bytes`
// (the rest; a bucket closes once it reaches its cap), and the bucket list is
// reversed: backward produces the last layers' gradients first, so bucket 0
// fills first. Buckets are not rebuilt from the observed order (PyTorch does).
//
// One iteration: a forward with gradients enabled arms the reducer. Each
// parameter's post-accumulate-grad hook copies its gradient, times
// 1 / world_size, into its bucket's flat buffer and takes it out of .grad()
// (so no optimizer can step on it before it is averaged). A full bucket starts
// its MPI_Iallreduce (sum), strictly in bucket order, which is the same on
// every rank as MPI requires. The first hook of the pass queues the end of the
// pass (autograd::queue_callback), which handles parameters that got no
// gradient, starts what is left, waits for everything and writes the averaged
// gradients back into .grad().
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.hpp"
#include "distributed/mpi_runtime.hpp"

namespace xgrad::distributed::detail {

class Reducer {
 public:
  Reducer(std::vector<std::pair<std::string, Tensor>> parameters, std::int64_t bucket_cap_bytes,
          std::int64_t first_bucket_cap_bytes, bool find_unused_parameters);
  ~Reducer();
  Reducer(const Reducer&) = delete;
  Reducer& operator=(const Reducer&) = delete;

  // Called by every forward: throws if the previous pass left a reduction
  // unfinished; with gradients enabled, arms the next backward (sync) or lets
  // it accumulate locally (!sync, no_sync()).
  void prepare_for_forward(bool grad_enabled, bool sync);

  // Parameter indices (registration order) of each bucket, in launch order.
  std::vector<std::vector<std::size_t>> bucket_assignment() const;

 private:
  struct Bucket {
    Dtype dtype = kFloat32;
    std::vector<std::size_t> parameters;  // indices into parameters_, registration order
    std::vector<std::int64_t> offsets;    // each one's first element in buffer
    Tensor buffer;                        // flat, holds the scaled local gradients, then their sum
    std::vector<Tensor> taken;            // each one's gradient tensor while it is out of .grad()
    std::size_t pending = 0;              // parameters not ready yet this iteration
    MPI_Request request = MPI_REQUEST_NULL;
    bool launched = false;
  };
  enum class Phase { Idle, Local, Armed, Reducing, Broken };

  void on_gradient_ready(std::size_t index, Tensor& leaf);
  // Moves `index`'s gradient (zeros when undefined) into its bucket.
  void mark_ready(std::size_t index);
  void launch_ready_buckets(MPI_Comm comm);
  void finish_iteration();
  void reset_iteration();

  std::vector<std::pair<std::string, Tensor>> parameters_;
  std::vector<std::pair<std::size_t, std::size_t>> location_;  // parameter -> (bucket, slot)
  std::vector<Bucket> buckets_;
  std::vector<RemovableHandle> hooks_;
  bool find_unused_parameters_;
  Phase phase_ = Phase::Idle;
  std::string broken_reason_;
  std::vector<char> ready_;  // this iteration
  std::vector<int> used_;    // got a gradient from backward since the last reduction
  std::size_t next_bucket_ = 0;
};

}  // namespace xgrad::distributed::detail
