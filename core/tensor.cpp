#include "core/tensor.hpp"

#include <algorithm>
#include <atomic>
#include <new>

#include "autograd/engine.hpp"
#include "autograd/grad_mode.hpp"
#include "autograd/node.hpp"
#include "core/creation.hpp"
#include "core/ops.hpp"
#include "core/ops/loops.hpp"

namespace xgrad {

Tensor make_tensor(const Shape& shape, Dtype dtype, std::string_view op) {
  const std::int64_t numel = checked_numel(shape, op);
  XGRAD_CHECK(numel <= (std::int64_t{1} << 40), "{}: shape {} asks for {} elements, more than this build allows (2^40)",
              op, shape, numel);
  auto impl = std::make_shared<TensorImpl>();
  try {
    impl->storage = std::make_shared<Storage>(dtype, numel);
  } catch (const std::bad_alloc&) {
    fail("{}: out of memory allocating {} bytes for a {} tensor of shape {}", op,
         numel * static_cast<std::int64_t>(element_size(dtype)), dtype, shape);
  }
  impl->shape = shape;
  return Tensor(std::move(impl));
}

Tensor make_tensor(std::shared_ptr<Storage> storage, const Shape& shape) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::move(storage);
  impl->shape = shape;
  return Tensor(std::move(impl));
}

const TensorImpl& Tensor::checked_impl(const char* op) const {
  XGRAD_CHECK(impl_ != nullptr, "{}: called on an undefined tensor", op);
  return *impl_;
}

const Shape& Tensor::shape() const { return checked_impl("shape").shape; }

std::int64_t Tensor::size(std::int64_t dim) const {
  // A 0-dim tensor has no size to return for any dim (PyTorch raises too; normalize_dim would
  // accept -1 and 0 and return an index into the empty shape).
  XGRAD_CHECK(this->dim() > 0, "size: dimension specified as {} but tensor has no dimensions", dim);
  return shape()[normalize_dim(dim, this->dim(), "size")];
}

std::int64_t Tensor::numel() const {
  std::int64_t n = 1;
  for (std::int64_t extent : shape()) n *= extent;
  return n;
}

Dtype Tensor::dtype() const { return checked_impl("dtype").storage->dtype(); }

bool Tensor::requires_grad() const { return checked_impl("requires_grad").requires_grad; }

bool Tensor::is_leaf() const { return checked_impl("is_leaf").grad_fn == nullptr; }

const Tensor& Tensor::grad() const { return checked_impl("grad").grad; }

Tensor& Tensor::mutable_grad() {
  checked_impl("grad");
  return impl_->grad;
}

Tensor& Tensor::requires_grad_(bool requires_grad) {
  const TensorImpl& impl = checked_impl("requires_grad_");
  XGRAD_CHECK(impl.grad_fn == nullptr || requires_grad,
              "requires_grad_: you can only change requires_grad of leaf tensors; this one was made by {} "
              "(use detach() to get a leaf)",
              impl.grad_fn->name);
  XGRAD_CHECK(!requires_grad || is_floating_point(impl.storage->dtype()),
              "requires_grad_: only floating-point tensors can require gradients, this one is {} (shape {})",
              impl.storage->dtype(), impl.shape);
  impl_->requires_grad = requires_grad;
  return *this;
}

Tensor Tensor::detach() const {
  const TensorImpl& impl = checked_impl("detach");
  return make_tensor(impl.storage, impl.shape);
}

std::shared_ptr<autograd::Node> Tensor::grad_fn() const { return checked_impl("grad_fn").grad_fn; }

std::string Tensor::grad_fn_name() const {
  const TensorImpl& impl = checked_impl("grad_fn");
  return impl.grad_fn ? impl.grad_fn->name : "";
}

void Tensor::backward(const Tensor& grad, BackwardOptions options) const {
  checked_impl("backward");
  autograd::backward({*this}, {grad}, options);
}

namespace {
std::uint64_t next_hook_id() {
  static std::atomic<std::uint64_t> next{1};
  return next.fetch_add(1);
}

// Removes the entry with `id` from a hook list, under the owner's lock.
template <class Owner, class List>
std::function<void()> hook_remover(const std::shared_ptr<Owner>& owner, List Owner::*list, std::uint64_t id) {
  return [weak = std::weak_ptr<Owner>(owner), list, id] {
    if (auto alive = weak.lock()) {
      std::lock_guard lock(autograd::detail::graph_mutex(alive.get()));
      auto& hooks = (*alive).*list;
      hooks.erase(std::remove_if(hooks.begin(), hooks.end(), [id](const auto& entry) { return entry.first == id; }),
                  hooks.end());
    }
  };
}
}  // namespace

RemovableHandle Tensor::register_hook(GradHook hook) const {
  const TensorImpl& impl = checked_impl("register_hook");
  XGRAD_CHECK(impl.requires_grad,
              "register_hook: cannot register a hook on a tensor that does not require grad (shape {})", impl.shape);
  XGRAD_CHECK(static_cast<bool>(hook), "register_hook: the hook is empty");
  const std::uint64_t id = next_hook_id();
  if (impl.grad_fn) {
    // A non-leaf's gradient is what its grad_fn receives: the hook lives there.
    std::lock_guard lock(autograd::detail::graph_mutex(impl.grad_fn.get()));
    impl.grad_fn->output_hooks.emplace_back(id, std::move(hook));
    return RemovableHandle(hook_remover(impl.grad_fn, &autograd::Node::output_hooks, id));
  }
  std::lock_guard lock(autograd::detail::graph_mutex(impl_.get()));
  impl_->grad_hooks.emplace_back(id, std::move(hook));
  return RemovableHandle(hook_remover(impl_, &TensorImpl::grad_hooks, id));
}

void Tensor::retain_grad() const {
  const TensorImpl& impl = checked_impl("retain_grad");
  XGRAD_CHECK(impl.requires_grad, "retain_grad: cannot retain the gradient of a tensor that does not require grad (shape {})",
              impl.shape);
  if (!impl.grad_fn) return;  // leaves keep theirs
  std::lock_guard lock(autograd::detail::graph_mutex(impl.grad_fn.get()));
  if (impl.grad_fn->retained_output.lock() == impl_) return;
  impl.grad_fn->retained_output = impl_;
  // A hook in registration order (PyTorch 1.13's rule): it sees the gradient as
  // the hooks registered before it left it, in backward() and grad() alike.
  impl.grad_fn->output_hooks.emplace_back(next_hook_id(), [weak = std::weak_ptr<TensorImpl>(impl_)](const Tensor& g) {
    if (auto target = weak.lock()) {
      std::lock_guard grad_lock(autograd::detail::graph_mutex(target.get()));
      if (!target->grad.defined()) {
        target->grad = autograd::is_grad_enabled() ? g.clone() : g.detach().clone();
      } else {
        target->grad = target->grad + g;
      }
    }
    return Tensor();
  });
}

bool Tensor::retains_grad() const {
  const TensorImpl& impl = checked_impl("retains_grad");
  if (!impl.grad_fn) return false;
  std::lock_guard lock(autograd::detail::graph_mutex(impl.grad_fn.get()));
  return impl.grad_fn->retained_output.lock() == impl_;
}

RemovableHandle Tensor::register_post_accumulate_grad_hook(PostAccumulateGradHook hook) const {
  const TensorImpl& impl = checked_impl("register_post_accumulate_grad_hook");
  XGRAD_CHECK(impl.grad_fn == nullptr && impl.requires_grad,
              "register_post_accumulate_grad_hook: only leaf tensors that require grad accumulate a gradient; this "
              "one {}",
              impl.grad_fn ? fmt::format("was made by {}", impl.grad_fn->name) : std::string("does not require grad"));
  XGRAD_CHECK(static_cast<bool>(hook), "register_post_accumulate_grad_hook: the hook is empty");
  const std::uint64_t id = next_hook_id();
  std::lock_guard lock(autograd::detail::graph_mutex(impl_.get()));
  impl_->post_accumulate_grad_hooks.emplace_back(id, std::move(hook));
  return RemovableHandle(hook_remover(impl_, &TensorImpl::post_accumulate_grad_hooks, id));
}

namespace {
void check_in_place(const Tensor& t, const char* op) {
  XGRAD_CHECK(t.defined(), "{}: called on an undefined tensor", op);
  XGRAD_CHECK(!(t.requires_grad() && t.is_leaf() && autograd::is_grad_enabled()),
              "{}: a leaf tensor that requires grad (shape {}) is being modified in place; wrap the update in "
              "NoGradGuard (as optimizers and nn::init do)",
              op, t.shape());
}
}  // namespace

Tensor& Tensor::copy_(const Tensor& source) {
  check_in_place(*this, "copy_");
  XGRAD_CHECK(source.defined(), "copy_: the source is an undefined tensor");
  const Shape target = broadcast_shapes(source.shape(), shape(), "copy_");
  XGRAD_CHECK(target == shape(), "copy_: source of shape {} cannot be broadcast to shape {}", source.shape(), shape());
  Tensor converted = source.dtype() == dtype() ? source.detach() : [&] {
    NoGradGuard no_grad;
    return source.to(dtype());
  }();
  dispatch_all(dtype(), [&](auto zero) {
    using T = decltype(zero);
    // Read through a copy when source and destination share storage.
    Tensor from = converted.impl()->storage == impl_->storage ? converted.clone() : converted;
    detail::binary_loop(from.data_ptr<T>(), from.shape(), from.data_ptr<T>(), from.shape(), data_ptr<T>(), shape(),
                        [](T x, T) { return x; });
  });
  impl_->storage->bump_version("copy_");
  return *this;
}

namespace {
Tensor& fill_with(Tensor& t, double value, const char* op) {
  check_in_place(t, op);
  dispatch_all(t.dtype(), [&](auto zero) {
    using T = decltype(zero);
    std::fill_n(t.data_ptr<T>(), t.numel(), convert<T>(value));
  });
  t.impl()->storage->bump_version(op);
  return t;
}
}  // namespace

Tensor& Tensor::zero_() { return fill_with(*this, 0.0, "zero_"); }

Tensor& Tensor::fill_(double value) { return fill_with(*this, value, "fill_"); }

Tensor& Tensor::uniform_(double low, double high) {
  check_in_place(*this, "uniform_");
  XGRAD_CHECK(is_floating_point(dtype()), "uniform_: random values need a floating-point tensor, this one is {}", dtype());
  XGRAD_CHECK(low <= high, "uniform_: expected low <= high, got low={} high={}", low, high);
  dispatch(dtype(), [&](auto zero) { random::fill_uniform(data_ptr<decltype(zero)>(), numel(), low, high); });
  impl_->storage->bump_version("uniform_");
  return *this;
}

Tensor& Tensor::normal_(double mean, double std) {
  check_in_place(*this, "normal_");
  XGRAD_CHECK(is_floating_point(dtype()), "normal_: random values need a floating-point tensor, this one is {}", dtype());
  XGRAD_CHECK(std >= 0, "normal_: expected std >= 0, got {}", std);
  dispatch(dtype(), [&](auto zero) { random::fill_normal(data_ptr<decltype(zero)>(), numel(), mean, std); });
  impl_->storage->bump_version("normal_");
  return *this;
}

Tensor Tensor::to(Dtype target) const {
  const TensorImpl& impl = checked_impl("to");
  if (impl.storage->dtype() == target) return *this;
  Tensor out = make_tensor(impl.shape, target, "to");
  dispatch_all(dtype(), [&](auto from_zero) {
    using From = decltype(from_zero);
    dispatch_all(target, [&](auto to_zero) {
      using To = decltype(to_zero);
      const From* in = data_ptr<From>();
      To* o = out.data_ptr<To>();
      for (std::int64_t i = 0; i < numel(); ++i) o[i] = convert<To>(in[i]);
    });
  });
  return autograd::record("ToCopyBackward", out, {*this}, [source = dtype()](const Tensor& g, const autograd::NeedsGrad&) {
    // a conversion passes the gradient through, converted back
    return std::vector<Tensor>{g.to(source)};
  });
}

Tensor Tensor::clone() const {
  const TensorImpl& impl = checked_impl("clone");
  Tensor out = make_tensor(impl.shape, dtype(), "clone");
  const std::size_t bytes = static_cast<std::size_t>(numel()) * element_size(dtype());
  if (bytes > 0) std::copy_n(static_cast<const char*>(impl.storage->data()), bytes, static_cast<char*>(out.impl()->storage->data()));
  return autograd::record("CloneBackward", out, {*this}, [](const Tensor& g, const autograd::NeedsGrad&) {
    // d(copy)/da = 1
    return std::vector<Tensor>{g};
  });
}

Tensor Tensor::operator-() const { return neg(*this); }
Tensor Tensor::pow(double exponent) const { return xgrad::pow(*this, exponent); }
Tensor Tensor::exp() const { return xgrad::exp(*this); }
Tensor Tensor::log() const { return xgrad::log(*this); }
Tensor Tensor::tanh() const { return xgrad::tanh(*this); }
Tensor Tensor::sigmoid() const { return xgrad::sigmoid(*this); }
Tensor Tensor::relu() const { return xgrad::relu(*this); }
Tensor Tensor::sqrt() const { return xgrad::sqrt(*this); }
Tensor Tensor::abs() const { return xgrad::abs(*this); }
Tensor Tensor::matmul(const Tensor& other) const { return xgrad::matmul(*this, other); }
Tensor Tensor::sum() const { return xgrad::sum(*this); }
Tensor Tensor::sum(const std::vector<std::int64_t>& dims, bool keepdim) const { return xgrad::sum(*this, dims, keepdim); }
Tensor Tensor::mean() const { return xgrad::mean(*this); }
Tensor Tensor::mean(const std::vector<std::int64_t>& dims, bool keepdim) const { return xgrad::mean(*this, dims, keepdim); }
std::tuple<Tensor, Tensor> Tensor::max(std::int64_t dim, bool keepdim) const { return xgrad::max(*this, dim, keepdim); }
Tensor Tensor::reshape(const Shape& shape) const { return xgrad::reshape(*this, shape); }
Tensor Tensor::flatten(std::int64_t start_dim, std::int64_t end_dim) const { return xgrad::flatten(*this, start_dim, end_dim); }
Tensor Tensor::transpose(std::int64_t dim0, std::int64_t dim1) const { return xgrad::transpose(*this, dim0, dim1); }
Tensor Tensor::unsqueeze(std::int64_t dim) const { return xgrad::unsqueeze(*this, dim); }
Tensor Tensor::squeeze() const { return xgrad::squeeze(*this); }
Tensor Tensor::squeeze(std::int64_t dim) const { return xgrad::squeeze(*this, dim); }
Tensor Tensor::narrow(std::int64_t dim, std::int64_t start, std::int64_t length) const {
  return xgrad::narrow(*this, dim, start, length);
}
Tensor Tensor::slice(std::int64_t dim, std::int64_t start, std::int64_t end, std::int64_t step) const {
  return xgrad::slice(*this, dim, start, end, step);
}

}  // namespace xgrad
