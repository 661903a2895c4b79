// DistributedDataParallel: data-parallel training of one model replica per rank
// (PyTorch's torch.nn.parallel.DistributedDataParallel).
//
//   auto model = std::make_shared<distributed::DistributedDataParallel>(make_model());
//   optim::SGD optimizer(model->parameters(), {.lr = 0.05, .momentum = 0.9});
//   for (...) {                                   // each rank: its own shard of the batch
//     optimizer.zero_grad();
//     nn::functional::cross_entropy((*model)(input), target).backward();  // gradients averaged over ranks
//     optimizer.step();                           // every replica takes the same step
//   }
//
// Construction checks that every rank holds the same parameter and buffer names,
// shapes and dtypes (an xgrad::Error naming the first difference otherwise) and
// copies rank 0's parameters and buffers to every rank. backward() returns with
// every parameter's .grad() averaged over the ranks (bucketed MPI_Iallreduce,
// started from the parameters' post-accumulate-grad hooks while backward goes
// on; see distributed/reducer.hpp). Until then the gradients are out of .grad(),
// so an optimizer cannot step on un-averaged ones.
//
// Like PyTorch's, the wrapper is a module whose only child is the wrapped one,
// named "module": parameters(), named_parameters() and state_dict() names carry
// the prefix "module." ("module.fc.weight"). Save `*model->module()` for a
// checkpoint that the unwrapped model loads, or the wrapper itself to resume
// the wrapper. BatchNorm layers keep per-rank batch statistics, as in PyTorch
// DDP; with broadcast_buffers, rank 0's running statistics are copied to every
// rank before each forward.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "nn/module.hpp"

namespace xgrad::distributed {

namespace detail {
class Reducer;
}

struct DistributedDataParallelOptions {
  double bucket_cap_mb = 25;            // bucket size (MiB) for the gradient all-reduce; the last-filled bucket holds at most 1 MiB
  bool broadcast_buffers = true;        // copy rank 0's buffers to every rank before each forward with gradients enabled
  bool find_unused_parameters = false;  // parameters a backward does not reach count as zero gradients (else an error naming them)
};

class DistributedDataParallel : public nn::Module {
 public:
  // Collective: every rank constructs its wrapper at the same point.
  explicit DistributedDataParallel(std::shared_ptr<nn::Module> module, DistributedDataParallelOptions options = {});
  ~DistributedDataParallel() override;

  // Forwards to the wrapped module. With gradients enabled it first broadcasts
  // the buffers (broadcast_buffers) and prepares the next backward; it throws
  // if the previous backward's reduction did not finish.
  Tensor forward(const Tensor& input) override;

  const std::shared_ptr<nn::Module>& module() const { return module_; }
  const DistributedDataParallelOptions& options() const { return options_; }

  // Gradient accumulation without communication: backward passes of forwards
  // run under the guard add into .grad() locally; the first forward-backward
  // after it averages the accumulated gradients (PyTorch's no_sync()).
  //   { auto guard = model->no_sync(); (*model)(a).sum().backward(); }
  //   (*model)(b).sum().backward();   // averages the gradients of a and b
  class NoSyncGuard {
   public:
    explicit NoSyncGuard(DistributedDataParallel& owner);
    ~NoSyncGuard();
    NoSyncGuard(const NoSyncGuard&) = delete;
    NoSyncGuard& operator=(const NoSyncGuard&) = delete;

   private:
    DistributedDataParallel& owner_;
    bool previous_;
  };
  [[nodiscard]] NoSyncGuard no_sync() { return NoSyncGuard(*this); }

  // Indices into module()->parameters() of each gradient bucket, in the order
  // their all-reduces start (the last parameters first).
  std::vector<std::vector<std::size_t>> bucket_assignment() const;

  std::string type_name() const override { return "DistributedDataParallel"; }

 private:
  std::shared_ptr<nn::Module> module_;
  DistributedDataParallelOptions options_;
  std::unique_ptr<detail::Reducer> reducer_;
  std::vector<Tensor> buffers_;
  std::vector<std::size_t> parameter_index_;  // reducer's parameter -> index in module()->parameters()
  bool sync_ = true;
};

}  // namespace xgrad::distributed
