#include "distributed/data_parallel.hpp"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>

#include "autograd/grad_mode.hpp"
#include "core/creation.hpp"
#include "distributed/mpi_runtime.hpp"
#include "distributed/reducer.hpp"
#include "distributed/runtime.hpp"

namespace xgrad::distributed {

namespace {

constexpr const char* kOp = "DistributedDataParallel";

// One line per parameter and buffer: what must be the same on every rank.
std::vector<std::string> model_signature(const nn::Module& module) {
  std::vector<std::string> lines;
  for (const auto& [name, p] : module.named_parameters()) {
    lines.push_back(fmt::format("parameter '{}' {} {}{}", name, p.dtype(), p.shape(),
                                p.requires_grad() ? "" : " (requires_grad=false)"));
  }
  for (const auto& [name, b] : module.named_buffers()) {
    lines.push_back(fmt::format("buffer '{}' {} {}", name, b.dtype(), b.shape()));
  }
  return lines;
}

std::uint64_t fnv1a(const std::string& text) {
  std::uint64_t hash = 1469598103934665603ull;
  for (unsigned char c : text) hash = (hash ^ c) * 1099511628211ull;
  return hash;
}

std::vector<std::string> split_lines(const char* data, std::size_t size) {
  std::vector<std::string> lines;
  std::string line;
  for (std::size_t i = 0; i < size; ++i) {
    if (data[i] == '\n') {
      lines.push_back(std::move(line));
      line.clear();
    } else {
      line.push_back(data[i]);
    }
  }
  return lines;
}

// Throws on every rank, naming the first difference, unless every rank's
// model has the same signature. Cheap when they agree: one all-gather of hashes.
void check_same_model(const nn::Module& module, MPI_Comm comm) {
  std::string text;
  for (const std::string& line : model_signature(module)) text += line + "\n";
  XGRAD_CHECK(text.size() <= INT_MAX, "{}: the model's description is too large", kOp);
  const std::int64_t mine[2] = {static_cast<std::int64_t>(fnv1a(text)), static_cast<std::int64_t>(text.size())};
  const int world = world_size(), me = rank();
  std::vector<std::int64_t> all(2 * static_cast<std::size_t>(world));
  detail::check(MPI_Allgather(mine, 2, MPI_INT64_T, all.data(), 2, MPI_INT64_T, comm), kOp);
  bool same = true;
  for (int r = 0; r < world; ++r) same = same && all[2 * r] == mine[0] && all[2 * r + 1] == mine[1];
  if (same) return;
  // Rare path: every rank gets every description and finds the first difference.
  std::vector<int> sizes(static_cast<std::size_t>(world)), displacements(static_cast<std::size_t>(world));
  std::int64_t total = 0;
  for (int r = 0; r < world; ++r) {
    sizes[r] = static_cast<int>(all[2 * r + 1]);
    displacements[r] = static_cast<int>(total);
    total += all[2 * r + 1];
  }
  XGRAD_CHECK(total <= INT_MAX, "{}: the models of the ranks differ (their descriptions are too large to compare)", kOp);
  std::vector<char> texts(static_cast<std::size_t>(std::max<std::int64_t>(total, 1)));
  detail::check(MPI_Allgatherv(text.data(), static_cast<int>(text.size()), MPI_CHAR, texts.data(), sizes.data(),
                               displacements.data(), MPI_CHAR, comm),
                kOp);
  const std::vector<std::string> own = split_lines(text.data(), text.size());
  for (int other = 0; other < world; ++other) {
    const std::vector<std::string> theirs = split_lines(texts.data() + displacements[other], sizes[other]);
    if (theirs == own) continue;
    std::size_t k = 0;
    while (k < own.size() && k < theirs.size() && own[k] == theirs[k]) ++k;
    fail("{}: every rank must wrap the same model, but entry {} differs: rank {} has {}, rank {} has {}", kOp, k, me,
         k < own.size() ? own[k] : "no more parameters or buffers", other,
         k < theirs.size() ? theirs[k] : "no more parameters or buffers");
  }
}

// Broadcasts rank 0's values of `tensors` into every rank's (one message per dtype).
void broadcast_coalesced(std::vector<Tensor>& tensors, const char* op) {
  for (Dtype dtype : {kFloat32, kFloat64}) {
    std::int64_t total = 0;
    for (const Tensor& t : tensors) total += t.dtype() == dtype ? t.numel() : 0;
    if (total == 0) continue;
    XGRAD_CHECK(total <= INT_MAX, "{}: {} {} values are too many for one broadcast", op, total, dtype);
    const std::size_t bytes = element_size(dtype);
    std::vector<char> flat(static_cast<std::size_t>(total) * bytes);
    std::size_t at = 0;
    for (const Tensor& t : tensors) {
      if (t.dtype() != dtype) continue;
      std::memcpy(flat.data() + at, t.impl()->storage->data(), static_cast<std::size_t>(t.numel()) * bytes);
      at += static_cast<std::size_t>(t.numel()) * bytes;
    }
    {
      std::lock_guard lock(detail::mpi_mutex());
      detail::check(MPI_Bcast(flat.data(), static_cast<int>(total), detail::mpi_type(dtype), 0, detail::communicator(op)),
                    op);
    }
    at = 0;
    for (Tensor& t : tensors) {
      if (t.dtype() != dtype) continue;
      std::memcpy(t.impl()->storage->data(), flat.data() + at, static_cast<std::size_t>(t.numel()) * bytes);
      at += static_cast<std::size_t>(t.numel()) * bytes;
      t.impl()->storage->bump_version(op);
    }
  }
}

}  // namespace

DistributedDataParallel::DistributedDataParallel(std::shared_ptr<nn::Module> module,
                                                 DistributedDataParallelOptions options)
    : options_(options) {
  XGRAD_CHECK(module != nullptr, "{}: the module is null", kOp);
  XGRAD_CHECK(std::isfinite(options.bucket_cap_mb) && options.bucket_cap_mb > 0,
              "{}: bucket_cap_mb must be positive, got {}", kOp, options.bucket_cap_mb);
  module_ = register_module("module", std::move(module));
  {
    std::lock_guard lock(detail::mpi_mutex());
    check_same_model(*this, detail::communicator(kOp));
  }
  std::vector<Tensor> state;
  for (auto& [name, p] : module_->named_parameters()) state.push_back(p);
  for (auto& [name, b] : module_->named_buffers()) {
    state.push_back(b);
    buffers_.push_back(b);
  }
  broadcast_coalesced(state, kOp);

  std::vector<std::pair<std::string, Tensor>> trained;
  const auto named = named_parameters();  // "module."-prefixed, as the user sees them
  for (std::size_t i = 0; i < named.size(); ++i) {
    if (!named[i].second.requires_grad()) continue;
    trained.push_back(named[i]);
    parameter_index_.push_back(i);
  }
  const auto cap = static_cast<std::int64_t>(options.bucket_cap_mb * 1024 * 1024);
  reducer_ = std::make_unique<detail::Reducer>(std::move(trained), std::max<std::int64_t>(cap, 1),
                                               std::min<std::int64_t>(std::max<std::int64_t>(cap, 1), 1024 * 1024),
                                               options.find_unused_parameters);
}

DistributedDataParallel::~DistributedDataParallel() = default;

Tensor DistributedDataParallel::forward(const Tensor& input) {
  const bool grad_enabled = autograd::is_grad_enabled();
  reducer_->prepare_for_forward(grad_enabled, sync_);
  if (grad_enabled && options_.broadcast_buffers && !buffers_.empty()) broadcast_coalesced(buffers_, kOp);
  return (*module_)(input);
}

std::vector<std::vector<std::size_t>> DistributedDataParallel::bucket_assignment() const {
  std::vector<std::vector<std::size_t>> buckets = reducer_->bucket_assignment();
  for (auto& bucket : buckets) {
    for (std::size_t& index : bucket) index = parameter_index_[index];
  }
  return buckets;
}

DistributedDataParallel::NoSyncGuard::NoSyncGuard(DistributedDataParallel& owner)
    : owner_(owner), previous_(owner.sync_) {
  owner_.sync_ = false;
}

DistributedDataParallel::NoSyncGuard::~NoSyncGuard() { owner_.sync_ = previous_; }

}  // namespace xgrad::distributed
