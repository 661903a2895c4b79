// Collective operations on tensors, across every process of the job (PyTorch's
// torch.distributed.all_reduce, broadcast, all_gather, barrier). Every rank must
// make the same calls in the same order.
//
//   Tensor loss_sum = scalar_tensor(local_loss);
//   distributed::all_reduce(loss_sum, distributed::ReduceOp::Avg);  // in place, on every rank
//
// Tensors are float32 or float64. Before moving any data, every call checks that
// all ranks called the same operation with the same shape, dtype, reduction and
// root: a mismatch is an xgrad::Error on every rank that names the operation and
// the first rank that differs, instead of a hang or garbage. An MPI failure is an
// xgrad::Error too. Writes bump the tensor's version counter like any in-place op.
#pragma once

#include <memory>

#include "core/tensor.hpp"

namespace xgrad::distributed {

enum class ReduceOp { Sum, Min, Max, Avg };  // Avg: the sum divided by world_size()

// Every rank's `tensor` becomes the reduction of all ranks' tensors (in place).
void all_reduce(Tensor& tensor, ReduceOp op = ReduceOp::Sum);

// Every rank's `tensor` becomes a copy of rank `root`'s (in place).
void broadcast(Tensor& tensor, int root = 0);

// The tensors of all ranks stacked along a new dim 0: (world_size(), *tensor.shape()).
Tensor all_gather(const Tensor& tensor);

// Returns once every rank called barrier().
void barrier();

// A pending all_reduce_async. wait() blocks until the tensor holds the result
// (and throws what the operation failed with); it is idempotent. Destroying a
// Work that was not waited for waits for it, since MPI still writes the tensor.
class Work {
 public:
  Work();
  ~Work();
  Work(Work&&) noexcept;
  Work& operator=(Work&&) noexcept;
  Work(const Work&) = delete;
  Work& operator=(const Work&) = delete;

  void wait();
  bool is_completed();  // true once the result is in the tensor (tests without blocking)

  struct State;

 private:
  explicit Work(std::unique_ptr<State> state);
  friend Work all_reduce_async(Tensor& tensor, ReduceOp op);
  std::unique_ptr<State> state_;
};

// Starts all_reduce(tensor, op) without waiting for it (MPI_Iallreduce); the
// tensor must not be read or written until wait(). The checks above run first
// (and block until every rank arrived).
Work all_reduce_async(Tensor& tensor, ReduceOp op = ReduceOp::Sum);

}  // namespace xgrad::distributed
