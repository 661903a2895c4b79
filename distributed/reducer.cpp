#include "distributed/reducer.hpp"

#include <algorithm>
#include <climits>
#include <map>

#include "autograd/engine.hpp"
#include "core/creation.hpp"
#include "distributed/runtime.hpp"

namespace xgrad::distributed::detail {

namespace {

constexpr const char* kOp = "DistributedDataParallel";

// PyTorch's compute_bucket_assignment_by_size: per dtype, fill buckets in
// registration order and close one once it holds at least its cap; then order
// buckets by their first parameter.
std::vector<std::vector<std::size_t>> assign_buckets(const std::vector<std::pair<std::string, Tensor>>& parameters,
                                                     std::int64_t cap_bytes, std::int64_t first_cap_bytes) {
  struct Open {
    std::vector<std::size_t> members;
    std::int64_t bytes = 0;
    bool first = true;
  };
  std::map<Dtype, Open> open;
  std::vector<std::vector<std::size_t>> closed;
  for (std::size_t i = 0; i < parameters.size(); ++i) {
    const Tensor& p = parameters[i].second;
    Open& bucket = open[p.dtype()];
    bucket.members.push_back(i);
    bucket.bytes += p.numel() * static_cast<std::int64_t>(element_size(p.dtype()));
    if (bucket.bytes >= (bucket.first ? first_cap_bytes : cap_bytes)) {
      closed.push_back(std::move(bucket.members));
      bucket.members.clear();
      bucket.bytes = 0;
      bucket.first = false;
    }
  }
  for (auto& [dtype, bucket] : open) {
    if (!bucket.members.empty()) closed.push_back(std::move(bucket.members));
  }
  std::sort(closed.begin(), closed.end(), [](const auto& a, const auto& b) { return a.front() < b.front(); });
  return closed;
}

}  // namespace

Reducer::Reducer(std::vector<std::pair<std::string, Tensor>> parameters, std::int64_t bucket_cap_bytes,
                 std::int64_t first_bucket_cap_bytes, bool find_unused_parameters)
    : parameters_(std::move(parameters)), find_unused_parameters_(find_unused_parameters) {
  std::vector<std::vector<std::size_t>> assignment = assign_buckets(parameters_, bucket_cap_bytes, first_bucket_cap_bytes);
  std::reverse(assignment.begin(), assignment.end());  // the last layers' gradients come first
  location_.resize(parameters_.size());
  for (auto& members : assignment) {
    Bucket bucket;
    bucket.dtype = parameters_[members.front()].second.dtype();
    std::int64_t size = 0;
    for (std::size_t slot = 0; slot < members.size(); ++slot) {
      location_[members[slot]] = {buckets_.size(), slot};
      bucket.offsets.push_back(size);
      size += parameters_[members[slot]].second.numel();
    }
    XGRAD_CHECK(size <= INT_MAX, "{}: a bucket of {} elements is too large for MPI; lower bucket_cap_mb", kOp, size);
    bucket.parameters = std::move(members);
    bucket.buffer = zeros({size}, {.dtype = bucket.dtype});
    bucket.taken.resize(bucket.parameters.size());
    buckets_.push_back(std::move(bucket));
  }
  ready_.assign(parameters_.size(), 0);
  used_.assign(parameters_.size(), 0);
  reset_iteration();
  for (std::size_t i = 0; i < parameters_.size(); ++i) {
    hooks_.push_back(parameters_[i].second.register_post_accumulate_grad_hook(
        [this, i](Tensor& leaf) { on_gradient_ready(i, leaf); }));
  }
}

Reducer::~Reducer() {
  for (RemovableHandle& hook : hooks_) hook.remove();
  // Requests still in flight (a pass that failed) keep running in MPI: leave
  // their buffers alive rather than let MPI write into freed memory.
  for (Bucket& bucket : buckets_) {
    if (bucket.launched && bucket.request != MPI_REQUEST_NULL) {
      static std::vector<Tensor>* abandoned = new std::vector<Tensor>();
      abandoned->push_back(bucket.buffer);
    }
  }
}

std::vector<std::vector<std::size_t>> Reducer::bucket_assignment() const {
  std::vector<std::vector<std::size_t>> out;
  for (const Bucket& bucket : buckets_) out.push_back(bucket.parameters);
  return out;
}

void Reducer::reset_iteration() {
  std::fill(ready_.begin(), ready_.end(), 0);
  for (Bucket& bucket : buckets_) {
    bucket.pending = bucket.parameters.size();
    bucket.launched = false;
    bucket.request = MPI_REQUEST_NULL;
  }
  next_bucket_ = 0;
}

void Reducer::prepare_for_forward(bool grad_enabled, bool sync) {
  XGRAD_CHECK(phase_ != Phase::Broken, "{}: {}", kOp, broken_reason_);
  if (phase_ == Phase::Reducing) {
    phase_ = Phase::Broken;
    broken_reason_ =
        "forward called while the previous backward pass's gradient reduction is unfinished (that backward "
        "threw before it ended); the replicas may differ now, so this DistributedDataParallel refuses to go on: "
        "restart from a checkpoint";
    fail("{}: {}", kOp, broken_reason_);
  }
  if (grad_enabled) phase_ = sync ? Phase::Armed : Phase::Local;
}

void Reducer::on_gradient_ready(std::size_t index, Tensor& leaf) {
  const std::string& name = parameters_[index].first;
  switch (phase_) {
    case Phase::Broken:
      fail("{}: {}", kOp, broken_reason_);
    case Phase::Idle:
      fail("{}: parameter '{}' got a gradient, but no forward of this DistributedDataParallel prepared this backward "
           "pass (run the forward through the DistributedDataParallel before every backward; a second backward "
           "through one graph is not supported)",
           kOp, name);
    case Phase::Local:  // no_sync(): gradients accumulate in .grad()
      used_[index] = 1;
      return;
    case Phase::Armed:
      phase_ = Phase::Reducing;
      autograd::queue_callback([this] { finish_iteration(); });
      break;
    case Phase::Reducing:
      break;
  }
  XGRAD_CHECK(!ready_[index], "{}: parameter '{}' got a gradient twice in one iteration", kOp, name);
  XGRAD_CHECK(!leaf.grad().requires_grad(),
              "{}: parameter '{}' got a gradient that requires grad (backward with create_graph); "
              "DistributedDataParallel averages plain gradients only",
              kOp, name);
  used_[index] = 1;
  mark_ready(index);
  std::lock_guard lock(mpi_mutex());
  MPI_Comm comm = communicator(kOp);
  launch_ready_buckets(comm);
  // Open MPI advances non-blocking collectives only inside MPI calls: test the
  // oldest one in flight so it moves on while backward goes on.
  for (std::size_t b = 0; b < next_bucket_; ++b) {
    Bucket& bucket = buckets_[b];
    if (bucket.request == MPI_REQUEST_NULL) continue;
    int done = 0;
    check(MPI_Test(&bucket.request, &done, MPI_STATUS_IGNORE), kOp);
    break;
  }
}

void Reducer::mark_ready(std::size_t index) {
  // Plain names, not a structured binding: clang 14 (the fuzz build) cannot capture one in a lambda.
  const std::size_t b = location_[index].first, slot = location_[index].second;
  Bucket& bucket = buckets_[b];
  Tensor& param = parameters_[index].second;
  Tensor& grad = param.mutable_grad();
  const double scale = 1.0 / world_size();
  dispatch(bucket.dtype, [&](auto tag) {
    using T = decltype(tag);
    T* out = bucket.buffer.data_ptr<T>() + bucket.offsets[slot];
    const std::int64_t n = param.numel();
    if (!grad.defined()) {
      std::fill(out, out + n, T(0));
      return;
    }
    // Scaled while copied (as PyTorch): the sum over ranks is then the average.
    const T factor = static_cast<T>(scale);
    const T* in = grad.data_ptr<T>();
    for (std::int64_t j = 0; j < n; ++j) out[j] = in[j] * factor;
  });
  bucket.taken[slot] = grad;
  grad = Tensor();
  ready_[index] = 1;
  --bucket.pending;
}

void Reducer::launch_ready_buckets(MPI_Comm comm) {
  while (next_bucket_ < buckets_.size() && buckets_[next_bucket_].pending == 0) {
    Bucket& bucket = buckets_[next_bucket_];
    check(MPI_Iallreduce(MPI_IN_PLACE, bucket.buffer.impl()->storage->data(), static_cast<int>(bucket.buffer.numel()),
                         mpi_type(bucket.dtype), MPI_SUM, comm, &bucket.request),
          kOp);
    bucket.launched = true;
    ++next_bucket_;
  }
}

void Reducer::finish_iteration() {
  std::vector<std::string> missing;
  for (std::size_t i = 0; i < parameters_.size(); ++i) {
    if (!ready_[i]) missing.push_back(parameters_[i].first);
  }
  if (!missing.empty() && !find_unused_parameters_) {
    phase_ = Phase::Broken;
    broken_reason_ = fmt::format(
        "parameters got no gradient in this backward pass: '{}'. Every parameter of the wrapped module must take "
        "part in the loss, or construct DistributedDataParallel with {{.find_unused_parameters = true}}",
        fmt::join(missing, "', '"));
    fail("{}: {}", kOp, broken_reason_);
  }
  // find_unused_parameters: what a rank's backward did not reach counts as its
  // current .grad() (zero when undefined); the sum then matches PyTorch's.
  for (std::size_t i = 0; i < parameters_.size(); ++i) {
    if (!ready_[i]) mark_ready(i);
  }
  std::vector<int> used_anywhere;
  {
    std::lock_guard lock(mpi_mutex());
    MPI_Comm comm = communicator(kOp);
    launch_ready_buckets(comm);
    if (find_unused_parameters_) {
      used_anywhere.resize(used_.size());
      check(MPI_Allreduce(used_.data(), used_anywhere.data(), static_cast<int>(used_.size()), MPI_INT, MPI_MAX, comm),
            kOp);
    }
    for (Bucket& bucket : buckets_) check(MPI_Wait(&bucket.request, MPI_STATUS_IGNORE), kOp);
  }
  for (Bucket& bucket : buckets_) {
    dispatch(bucket.dtype, [&](auto tag) {
      using T = decltype(tag);
      const T* sums = bucket.buffer.data_ptr<T>();
      for (std::size_t slot = 0; slot < bucket.parameters.size(); ++slot) {
        const std::size_t index = bucket.parameters[slot];
        Tensor& param = parameters_[index].second;
        Tensor taken = std::move(bucket.taken[slot]);
        bucket.taken[slot] = Tensor();
        if (!used_anywhere.empty() && used_anywhere[index] == 0) {
          param.mutable_grad() = taken;  // no rank's backward reached it: .grad() stays as it was (PyTorch)
          continue;
        }
        if (!taken.defined()) taken = empty(param.shape(), {.dtype = param.dtype()});
        std::copy(sums + bucket.offsets[slot], sums + bucket.offsets[slot] + param.numel(), taken.data_ptr<T>());
        taken.impl()->storage->bump_version(kOp);
        param.mutable_grad() = taken;
      }
    });
  }
  std::fill(used_.begin(), used_.end(), 0);
  reset_iteration();
  phase_ = Phase::Idle;
}

}  // namespace xgrad::distributed::detail
