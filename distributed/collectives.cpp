#include "distributed/collectives.hpp"

#include <array>
#include <climits>
#include <exception>
#include <vector>

#include "core/creation.hpp"
#include "distributed/mpi_runtime.hpp"
#include "distributed/runtime.hpp"

namespace xgrad::distributed {

namespace {

enum class Kind : std::int64_t { AllReduce = 1, Broadcast, AllGather, Barrier, AllReduceAsync };

const char* kind_name(std::int64_t kind) {
  switch (static_cast<Kind>(kind)) {
    case Kind::AllReduce: return "all_reduce";
    case Kind::Broadcast: return "broadcast";
    case Kind::AllGather: return "all_gather";
    case Kind::Barrier: return "barrier";
    case Kind::AllReduceAsync: return "all_reduce_async";
  }
  return "an unknown operation";
}

const char* reduce_op_name(std::int64_t op) {
  static constexpr const char* names[] = {"ReduceOp::Sum", "ReduceOp::Min", "ReduceOp::Max", "ReduceOp::Avg"};
  return op >= 0 && op < 4 ? names[op] : "an unknown ReduceOp";
}

// What one rank passes to a collective, in a fixed-size record every rank
// all-gathers before moving data (one small message; it also catches ranks that
// call different collectives, since every collective starts with it).
constexpr std::size_t kMaxDims = 8;
struct Descriptor {
  std::int64_t kind = 0;
  std::int64_t dtype = -1;     // -1: no tensor (barrier)
  std::int64_t argument = -1;  // the ReduceOp, or the broadcast root
  std::int64_t dims = 0;
  std::array<std::int64_t, kMaxDims> extents{};
  std::int64_t extra_extents_hash = 0;  // extents past kMaxDims (FNV-1a)

  bool operator==(const Descriptor&) const = default;
};
static_assert(sizeof(Descriptor) == 13 * sizeof(std::int64_t));

Descriptor describe(Kind kind, const Tensor* tensor, std::int64_t argument) {
  Descriptor d;
  d.kind = static_cast<std::int64_t>(kind);
  d.argument = argument;
  if (tensor == nullptr) return d;
  d.dtype = static_cast<std::int64_t>(tensor->dtype());
  const Shape& shape = tensor->shape();
  d.dims = static_cast<std::int64_t>(shape.size());
  std::uint64_t hash = 1469598103934665603ull;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i < kMaxDims) {
      d.extents[i] = shape[i];
    } else {
      hash = (hash ^ static_cast<std::uint64_t>(shape[i])) * 1099511628211ull;
      d.extra_extents_hash = static_cast<std::int64_t>(hash);
    }
  }
  return d;
}

std::string describe_tensor(const Descriptor& d) {
  std::vector<std::int64_t> shown(d.extents.begin(), d.extents.begin() + std::min<std::int64_t>(d.dims, kMaxDims));
  return fmt::format("a {} tensor of shape [{}{}]", dtype_name(static_cast<Dtype>(d.dtype)), fmt::join(shown, ", "),
                     d.dims > static_cast<std::int64_t>(kMaxDims) ? ", ..." : "");
}

// All-gathers every rank's descriptor; throws on every rank if any differ.
void check_same_call(const char* op, const Descriptor& mine, MPI_Comm comm) {
  const int world = world_size(), me = rank();
  std::vector<Descriptor> all(static_cast<std::size_t>(world));
  detail::check(MPI_Allgather(&mine, sizeof(Descriptor) / sizeof(std::int64_t), MPI_INT64_T, all.data(),
                              sizeof(Descriptor) / sizeof(std::int64_t), MPI_INT64_T, comm),
                op);
  for (int other = 0; other < world; ++other) {
    const Descriptor& theirs = all[static_cast<std::size_t>(other)];
    if (theirs == mine) continue;
    if (theirs.kind != mine.kind) {
      fail("{}: rank {} called {}, but rank {} called {}; every rank must make the same collective calls in the same "
           "order",
           op, me, kind_name(mine.kind), other, kind_name(theirs.kind));
    }
    if (theirs.dtype != mine.dtype || theirs.dims != mine.dims || theirs.extents != mine.extents ||
        theirs.extra_extents_hash != mine.extra_extents_hash) {
      fail("{}: rank {} passed {}, but rank {} passed {}; every rank must pass the same shape and dtype", op, me,
           describe_tensor(mine), other, describe_tensor(theirs));
    }
    if (mine.kind == static_cast<std::int64_t>(Kind::Broadcast)) {
      fail("{}: rank {} passed root {}, but rank {} passed root {}; every rank must pass the same root", op, me,
           mine.argument, other, theirs.argument);
    }
    fail("{}: rank {} passed {}, but rank {} passed {}; every rank must pass the same reduction", op, me,
         reduce_op_name(mine.argument), other, reduce_op_name(theirs.argument));
  }
}

int checked_count(const Tensor& tensor, const char* op) {
  XGRAD_CHECK(tensor.defined(), "{}: the tensor is undefined", op);
  XGRAD_CHECK(tensor.numel() <= INT_MAX, "{}: the tensor has {} elements; MPI counts are limited to {}", op,
              tensor.numel(), INT_MAX);
  return static_cast<int>(tensor.numel());
}

MPI_Op mpi_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::Min: return MPI_MIN;
    case ReduceOp::Max: return MPI_MAX;
    case ReduceOp::Sum:
    case ReduceOp::Avg: return MPI_SUM;
  }
  return MPI_SUM;
}

// Checks `op` and that it means something on `tensor`'s dtype: Avg needs a
// floating-point tensor (an integer mean would silently truncate), and a bool
// tensor reduces only by Max (any) or Min (all), since a sum of bools is no bool.
void check_reduce_op(const Tensor& tensor, ReduceOp op, const char* name) {
  const auto value = static_cast<int>(op);
  XGRAD_CHECK(value >= 0 && value <= 3, "{}: unknown ReduceOp {}", name, value);
  if (tensor.dtype() == kInt64) {
    XGRAD_CHECK(op != ReduceOp::Avg,
                "{}: ReduceOp::Avg of an int64 tensor would truncate; reduce with ReduceOp::Sum and divide, or "
                "convert to a floating-point dtype first",
                name);
  } else if (tensor.dtype() == kBool) {
    XGRAD_CHECK(op == ReduceOp::Max || op == ReduceOp::Min,
                "{}: {} of a bool tensor is not a bool; use ReduceOp::Max (any rank true) or ReduceOp::Min "
                "(every rank true)",
                name, reduce_op_name(value));
  }
}

// Avg: the sum over ranks divided by their number, computed alike on every rank.
void divide_by_world(Tensor& tensor) {
  const int world = world_size();
  dispatch(tensor.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* data = tensor.data_ptr<T>();
    for (std::int64_t i = 0; i < tensor.numel(); ++i) data[i] = data[i] / static_cast<T>(world);
  });
}

}  // namespace

void all_reduce(Tensor& tensor, ReduceOp op) {
  const int count = checked_count(tensor, "all_reduce");
  check_reduce_op(tensor, op, "all_reduce");
  {
    std::lock_guard lock(detail::mpi_mutex());
    MPI_Comm comm = detail::communicator("all_reduce");
    check_same_call("all_reduce", describe(Kind::AllReduce, &tensor, static_cast<std::int64_t>(op)), comm);
    if (count > 0) {
      detail::check(MPI_Allreduce(MPI_IN_PLACE, tensor.impl()->storage->data(), count, detail::mpi_type(tensor.dtype()),
                                  mpi_op(op), comm),
                    "all_reduce");
    }
  }
  if (op == ReduceOp::Avg) divide_by_world(tensor);
  tensor.impl()->storage->bump_version("all_reduce");
}

void broadcast(Tensor& tensor, int root) {
  const int count = checked_count(tensor, "broadcast");
  std::lock_guard lock(detail::mpi_mutex());
  MPI_Comm comm = detail::communicator("broadcast");
  check_same_call("broadcast", describe(Kind::Broadcast, &tensor, root), comm);
  // Every rank passed this root (checked above), so every rank throws alike.
  XGRAD_CHECK(root >= 0 && root < world_size(), "broadcast: root {} is not a rank (the job has {} processes)", root,
              world_size());
  if (count > 0) {
    detail::check(MPI_Bcast(tensor.impl()->storage->data(), count, detail::mpi_type(tensor.dtype()), root, comm),
                  "broadcast");
  }
  tensor.impl()->storage->bump_version("broadcast");
}

Tensor all_gather(const Tensor& tensor) {
  const int count = checked_count(tensor, "all_gather");
  std::lock_guard lock(detail::mpi_mutex());
  MPI_Comm comm = detail::communicator("all_gather");
  check_same_call("all_gather", describe(Kind::AllGather, &tensor, -1), comm);
  Shape shape = tensor.shape();
  shape.insert(shape.begin(), world_size());
  Tensor out = empty(shape, {.dtype = tensor.dtype()});
  if (count > 0) {
    const MPI_Datatype type = detail::mpi_type(tensor.dtype());
    detail::check(MPI_Allgather(tensor.impl()->storage->data(), count, type, out.impl()->storage->data(), count, type,
                                comm),
                  "all_gather");
  }
  return out;
}

void barrier() {
  std::lock_guard lock(detail::mpi_mutex());
  // The descriptor exchange is itself a barrier: no rank's all-gather completes before every rank joined it.
  check_same_call("barrier", describe(Kind::Barrier, nullptr, -1), detail::communicator("barrier"));
}

struct Work::State {
  Tensor tensor;
  bool average = false;
  bool completed = false;
  MPI_Request request = MPI_REQUEST_NULL;

  // Called with the MPI lock held, once the request completed.
  void finish() {
    completed = true;
    if (average) divide_by_world(tensor);
    tensor.impl()->storage->bump_version("all_reduce_async");
  }
};

Work::Work() = default;
Work::Work(std::unique_ptr<State> state) : state_(std::move(state)) {}
Work::Work(Work&&) noexcept = default;
Work& Work::operator=(Work&& other) noexcept {
  if (this != &other) {
    Work discarded(std::move(*this));
    state_ = std::move(other.state_);
  }
  return *this;
}

Work::~Work() {
  if (!state_ || state_->completed) return;
  if (std::uncaught_exceptions() > 0) {
    // Unwinding from an error: the other ranks may never join, so waiting could
    // hang. Keep the buffer alive instead (MPI may still write into it).
    static std::vector<std::unique_ptr<State>>* abandoned = new std::vector<std::unique_ptr<State>>();
    std::lock_guard lock(detail::mpi_mutex());
    abandoned->push_back(std::move(state_));
    return;
  }
  try {
    wait();
  } catch (const Error& e) {
    fmt::print(stderr, "xgrad::distributed: a Work destroyed without wait() failed: {}\n", e.what());
  }
}

void Work::wait() {
  XGRAD_CHECK(state_ != nullptr, "Work::wait: this Work holds no operation (default-constructed or moved from)");
  if (state_->completed) return;
  std::lock_guard lock(detail::mpi_mutex());
  detail::check(MPI_Wait(&state_->request, MPI_STATUS_IGNORE), "all_reduce_async");
  state_->finish();
}

bool Work::is_completed() {
  XGRAD_CHECK(state_ != nullptr, "Work::is_completed: this Work holds no operation (default-constructed or moved from)");
  if (state_->completed) return true;
  std::lock_guard lock(detail::mpi_mutex());
  int done = 0;
  detail::check(MPI_Test(&state_->request, &done, MPI_STATUS_IGNORE), "all_reduce_async");
  if (done != 0) state_->finish();
  return state_->completed;
}

Work all_reduce_async(Tensor& tensor, ReduceOp op) {
  const int count = checked_count(tensor, "all_reduce_async");
  check_reduce_op(tensor, op, "all_reduce_async");
  auto state = std::make_unique<Work::State>();
  state->tensor = tensor;
  state->average = op == ReduceOp::Avg;
  std::lock_guard lock(detail::mpi_mutex());
  MPI_Comm comm = detail::communicator("all_reduce_async");
  check_same_call("all_reduce_async", describe(Kind::AllReduceAsync, &tensor, static_cast<std::int64_t>(op)), comm);
  if (count == 0) {
    state->finish();
  } else {
    detail::check(MPI_Iallreduce(MPI_IN_PLACE, tensor.impl()->storage->data(), count, detail::mpi_type(tensor.dtype()),
                                 mpi_op(op), comm, &state->request),
                  "all_reduce_async");
  }
  return Work(std::move(state));
}

}  // namespace xgrad::distributed
