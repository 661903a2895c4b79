// Tensor: a cheap, shared handle to a contiguous, row-major block of float32,
// float64, int64 or bool values plus the autograd metadata (requires_grad, grad,
// grad_fn; only floating-point tensors require grad).
//
// Copying a Tensor copies the handle, not the data (like torch::Tensor). Every
// tensor is contiguous: ops that PyTorch implements as strided views (transpose,
// narrow) copy here, which keeps every kernel a plain loop over raw pointers.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <optional>
#include <iosfwd>
#include <memory>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include "core/device.hpp"
#include "core/dtype.hpp"
#include "core/error.hpp"
#include "core/hooks.hpp"
#include "core/scalar.hpp"
#include "core/shape.hpp"
#include "core/storage.hpp"

namespace xgrad {

namespace autograd {
struct Node;
}
namespace indexing {
class TensorIndex;
}

struct TensorImpl;
class Tensor;

// Options of the creation functions: zeros({2, 3}, {.dtype = kFloat64, .requires_grad = true}).
struct TensorOptions {
  Dtype dtype = kFloat32;
  bool requires_grad = false;  // floating-point dtypes only
  Device device = Device("cpu");
};

struct BackwardOptions {
  // Keep the graph (its saved tensors) for another backward. Unset: the value of
  // create_graph (PyTorch's default), since a recorded backward reuses the graph.
  std::optional<bool> retain_graph = std::nullopt;
  // Record the backward pass itself, so the gradients are differentiable
  // (higher-order gradients: gradient penalties, Hessian-vector products).
  bool create_graph = false;
};

// A tensor hook: sees the gradient flowing into a tensor; returns a replacement,
// or an undefined tensor to keep it (PyTorch's Tensor.register_hook).
using GradHook = std::function<Tensor(const Tensor& grad)>;
// Runs after a backward pass finished accumulating into a leaf's .grad(); gets the leaf.
using PostAccumulateGradHook = std::function<void(Tensor& leaf)>;

class Tensor {
 public:
  // An undefined tensor (!defined()): what grad() returns for a leaf that got no gradient.
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // --- queries ---
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  std::int64_t size(std::int64_t dim) const;  // negative dims count from the end
  std::int64_t dim() const { return static_cast<std::int64_t>(shape().size()); }
  std::int64_t numel() const;
  Dtype dtype() const;
  Device device() const { return Device("cpu"); }
  bool requires_grad() const;
  bool is_leaf() const;  // created by the user, not by an op that recorded a node
  // The value of a one-element tensor, converted to T (as Tensor::to converts:
  // item<bool>() is "nonzero"). Throws for any other numel.
  template <class T>
  T item() const;

  // Raw access to the contiguous data (T must match dtype()).
  template <class T>
  T* data_ptr();
  template <class T>
  const T* data_ptr() const;

  // --- autograd (defined in autograd/tensor_autograd.cpp) ---
  const Tensor& grad() const;               // undefined until a backward reaches this leaf
  Tensor& mutable_grad();                   // for optimizers and zero_grad
  Tensor& requires_grad_(bool requires_grad = true);  // floating-point leaves only
  Tensor detach() const;                    // same data, cut from the graph
  std::shared_ptr<autograd::Node> grad_fn() const;
  std::string grad_fn_name() const;         // "MulBackward", or "" for leaves
  // backward() on a one-element tensor; backward(grad) for any shape (grad shaped like *this).
  void backward(const Tensor& grad = Tensor(), BackwardOptions options = {}) const;
  // Calls `hook` with the gradient of this tensor in every backward pass that
  // reaches it, before it is accumulated (leaves) or passed on (non-leaves); a
  // defined return value replaces the gradient. Hooks run in registration order.
  RemovableHandle register_hook(GradHook hook) const;
  // Keeps the gradient of a non-leaf in .grad() (accumulating, like a leaf's);
  // a no-op on leaves, which always keep theirs.
  void retain_grad() const;
  bool retains_grad() const;
  // Leaves only: calls `hook(leaf)` after a backward pass has accumulated this
  // leaf's gradient (the point where a data-parallel all-reduce can start).
  RemovableHandle register_post_accumulate_grad_hook(PostAccumulateGradHook hook) const;

  // --- in place, outside the graph (not recorded; defined in ops/tensor_methods.cpp) ---
  // Each bumps the storage's version counter, so a backward that saved this
  // tensor (or a view or detached alias of it) before the write throws.
  Tensor& copy_(const Tensor& source);      // broadcasts source to this shape; converts dtype
  Tensor& zero_();
  Tensor& fill_(double value);
  Tensor& uniform_(double low, double high);  // draws from the global generator (manual_seed)
  Tensor& normal_(double mean = 0.0, double std = 1.0);

  // --- in place, recorded (ops/in_place.cpp) ---
  // self = self op other, written into this tensor's storage (views and detached
  // aliases see the new values) with the version counter bumped. The operand
  // broadcasts to this shape; the result dtype must be this dtype (an int64
  // tensor cannot take 1.5 or a division). Under grad mode each is recorded when
  // this tensor or the operand requires grad: this tensor then takes the new
  // grad_fn (PyTorch's rebase_history). Refused on a leaf that requires grad
  // while grad mode is on, and (when recording) on a tensor whose storage other
  // tensors share (a view or detach()), whose graphs could not follow the write.
  Tensor& add_(const Tensor& other, Scalar alpha = 1);  // self += alpha * other
  Tensor& add_(Scalar other, Scalar alpha = 1);
  Tensor& sub_(const Tensor& other, Scalar alpha = 1);  // self -= alpha * other
  Tensor& sub_(Scalar other, Scalar alpha = 1);
  Tensor& mul_(const Tensor& other);
  Tensor& mul_(Scalar other);
  Tensor& div_(const Tensor& other);                    // floating-point tensors only
  Tensor& div_(Scalar other);
  Tensor& clamp_(Scalar low, Scalar high);
  Tensor& masked_fill_(const Tensor& mask, Scalar value);
  Tensor& operator+=(const Tensor& other) { return add_(other); }
  Tensor& operator+=(Scalar other) { return add_(other); }
  Tensor& operator-=(const Tensor& other) { return sub_(other); }
  Tensor& operator-=(Scalar other) { return sub_(other); }
  Tensor& operator*=(const Tensor& other) { return mul_(other); }
  Tensor& operator*=(Scalar other) { return mul_(other); }
  Tensor& operator/=(const Tensor& other) { return div_(other); }
  Tensor& operator/=(Scalar other) { return div_(other); }

  // --- conversions ---
  // Any dtype to any dtype, as PyTorch converts (to bool: nonzero is true; to
  // int64: truncation toward zero). Differentiable between floating dtypes;
  // returns *this when already that dtype.
  Tensor to(Dtype dtype) const;
  Tensor clone() const;           // differentiable copy with its own storage
  // A copy as an xt::xarray<T>; defined in core/xtensor_interop.hpp (included by xgrad.hpp).
  template <class T>
  auto to_xarray() const;

  // --- ops (members forward to the free functions in ops/ops.hpp) ---
  // Declared here, defined on the ops floor (ops/tensor_methods.cpp), so lower floors
  // (the engine, gradcheck) can call them without including ops.
  Tensor add(const Tensor& other) const;
  Tensor operator-() const;
  Tensor pow(double exponent) const;
  Tensor exp() const;
  Tensor log() const;
  Tensor tanh() const;
  Tensor sigmoid() const;
  Tensor relu() const;
  Tensor sqrt() const;
  Tensor abs() const;
  Tensor matmul(const Tensor& other) const;
  Tensor sum() const;
  Tensor sum(const std::vector<std::int64_t>& dims, bool keepdim = false) const;
  Tensor mean() const;
  Tensor mean(const std::vector<std::int64_t>& dims, bool keepdim = false) const;
  std::tuple<Tensor, Tensor> max(std::int64_t dim, bool keepdim = false) const;  // values, indices
  Tensor reshape(const Shape& shape) const;
  Tensor view(const Shape& shape) const { return reshape(shape); }
  Tensor flatten(std::int64_t start_dim = 0, std::int64_t end_dim = -1) const;
  Tensor transpose(std::int64_t dim0, std::int64_t dim1) const;
  Tensor unsqueeze(std::int64_t dim) const;
  Tensor squeeze() const;
  Tensor squeeze(std::int64_t dim) const;
  Tensor narrow(std::int64_t dim, std::int64_t start, std::int64_t length) const;
  Tensor slice(std::int64_t dim, std::int64_t start, std::int64_t end, std::int64_t step = 1) const;
  Tensor clamp(Scalar low, Scalar high) const;
  std::tuple<Tensor, Tensor> min(std::int64_t dim, bool keepdim = false) const;   // values, indices
  Tensor argmax(std::optional<std::int64_t> dim = std::nullopt, bool keepdim = false) const;
  Tensor argmin(std::optional<std::int64_t> dim = std::nullopt, bool keepdim = false) const;
  Tensor eq(const Tensor& other) const;
  Tensor eq(Scalar other) const;
  Tensor ne(const Tensor& other) const;
  Tensor ne(Scalar other) const;
  Tensor lt(const Tensor& other) const;
  Tensor lt(Scalar other) const;
  Tensor le(const Tensor& other) const;
  Tensor le(Scalar other) const;
  Tensor gt(const Tensor& other) const;
  Tensor gt(Scalar other) const;
  Tensor ge(const Tensor& other) const;
  Tensor ge(Scalar other) const;
  Tensor logical_not() const;
  Tensor masked_fill(const Tensor& mask, Scalar value) const;
  Tensor index_select(std::int64_t dim, const Tensor& index) const;
  Tensor gather(std::int64_t dim, const Tensor& index) const;
  Tensor flip(const std::vector<std::int64_t>& dims) const;
  Tensor roll(const std::vector<std::int64_t>& shifts, const std::vector<std::int64_t>& dims = {}) const;
  // LibTorch's Tensor::index (Python's t[...]), ops/indexing.cpp:
  //   using namespace xgrad::indexing;
  //   t.index({0, Slice(1, None, 2), None, Ellipsis, mask})
  // Integers select (the dim goes away), Slice(start, stop, step) slices, None
  // inserts a dim of size 1, Ellipsis stands for the dims not named, and one
  // tensor index may appear: a kBool mask over the next mask.dim() dims (they
  // become one dim holding the selected elements) or a kInt64 tensor of indices
  // into the next dim (it becomes the index's shape). Differentiable in *this.
  // Returns a copy, like every op here: writing into it leaves *this unchanged.
  Tensor index(const std::vector<indexing::TensorIndex>& indices) const;

  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }

 private:
  const TensorImpl& checked_impl(const char* op) const;
  std::shared_ptr<TensorImpl> impl_;
};

// What a Tensor handle points to. Several handles (and detached views) may share
// one Storage; a TensorImpl owns its autograd metadata.
struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  bool requires_grad = false;
  Tensor grad;
  std::shared_ptr<autograd::Node> grad_fn;  // null for leaves
  // A leaf's hooks, by id (a non-leaf's live on its grad_fn, which sees its gradient).
  std::vector<std::pair<std::uint64_t, GradHook>> grad_hooks;
  std::vector<std::pair<std::uint64_t, PostAccumulateGradHook>> post_accumulate_grad_hooks;
};

// Makes a tensor with fresh, uninitialized storage.
Tensor make_uninitialized(const Shape& shape, Dtype dtype, std::string_view op = "empty");
// A tensor of the given shape over existing storage (no copy).
Tensor make_tensor(std::shared_ptr<Storage> storage, const Shape& shape);

// Printing, PyTorch-like: values (summarized past 1000 elements), then dtype when
// not float32, requires_grad or grad_fn.
std::ostream& operator<<(std::ostream& out, const Tensor& tensor);
std::string to_string(const Tensor& tensor);

// --- template definitions ---

template <class T>
T* Tensor::data_ptr() {
  const TensorImpl& impl = checked_impl("data_ptr");
  XGRAD_CHECK(impl.storage->dtype() == dtype_of<T>(), "data_ptr: tensor holds {}, not {}",
              impl.storage->dtype(), dtype_of<T>());
  return static_cast<T*>(impl.storage->data());
}

template <class T>
const T* Tensor::data_ptr() const {
  return const_cast<Tensor*>(this)->data_ptr<T>();
}

template <class T>
T Tensor::item() const {
  static_assert(std::is_arithmetic_v<T>, "item<T>: T must be an arithmetic type");
  const TensorImpl& impl = checked_impl("item");
  XGRAD_CHECK(numel() == 1, "item: expected a tensor with one element, got shape {} ({} elements)",
              impl.shape, numel());
  return dispatch_all(dtype(), [&](auto tag) {
    using Stored = decltype(tag);
    const Stored value = *static_cast<const Stored*>(impl.storage->data());
    if constexpr (std::is_same_v<T, bool> || std::is_same_v<T, std::int64_t>) {
      return convert<T>(value);
    } else if constexpr (std::is_integral_v<T> && std::is_floating_point_v<Stored>) {
      return static_cast<T>(convert<std::int64_t>(value));
    } else {
      return static_cast<T>(value);
    }
  });
}

}  // namespace xgrad

template <>
struct fmt::formatter<xgrad::Tensor> : fmt::formatter<std::string_view> {
  auto format(const xgrad::Tensor& tensor, fmt::format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(xgrad::to_string(tensor), ctx);
  }
};
