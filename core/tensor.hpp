// Tensor: a cheap, shared handle to a contiguous, row-major block of float32 or
// float64 values plus the autograd metadata (requires_grad, grad, grad_fn).
//
// Copying a Tensor copies the handle, not the data (like torch::Tensor). Every
// tensor is contiguous: ops that PyTorch implements as strided views (transpose,
// narrow) copy here, which keeps every kernel a plain loop over raw pointers.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "core/device.hpp"
#include "core/dtype.hpp"
#include "core/error.hpp"
#include "core/shape.hpp"
#include "core/storage.hpp"

namespace xgrad {

namespace autograd {
struct Node;
}

struct TensorImpl;

// Options of the creation functions: zeros({2, 3}, {.dtype = kFloat64, .requires_grad = true}).
struct TensorOptions {
  Dtype dtype = kFloat32;
  bool requires_grad = false;
  Device device = Device("cpu");
};

struct BackwardOptions {
  bool retain_graph = false;  // keep the graph (its saved tensors) for another backward
};

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
  // The value of a one-element tensor, converted to T. Throws for any other numel.
  template <class T>
  T item() const;

  // Raw access to the contiguous data (T must match dtype()).
  template <class T>
  T* data_ptr();
  template <class T>
  const T* data_ptr() const;

  // --- autograd ---
  const Tensor& grad() const;               // undefined until a backward reaches this leaf
  Tensor& mutable_grad();                   // for optimizers and zero_grad
  Tensor& requires_grad_(bool requires_grad = true);  // leaves only
  Tensor detach() const;                    // same data, cut from the graph
  std::shared_ptr<autograd::Node> grad_fn() const;
  std::string grad_fn_name() const;         // "MulBackward", or "" for leaves
  // backward() on a one-element tensor; backward(grad) for any shape (grad shaped like *this).
  void backward(const Tensor& grad = Tensor(), BackwardOptions options = {}) const;

  // --- in place, outside the graph (not recorded) ---
  Tensor& copy_(const Tensor& source);      // broadcasts source to this shape; converts dtype
  Tensor& zero_();
  Tensor& fill_(double value);
  Tensor& uniform_(double low, double high);  // draws from the global generator (manual_seed)
  Tensor& normal_(double mean = 0.0, double std = 1.0);

  // --- conversions ---
  Tensor to(Dtype dtype) const;   // differentiable; returns *this when already that dtype
  Tensor clone() const;           // differentiable copy with its own storage
  // A copy as an xt::xarray<T>; defined in core/xtensor_interop.hpp (included by xgrad.hpp).
  template <class T>
  auto to_xarray() const;

  // --- ops (members forward to the free functions in core/ops.hpp) ---
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
};

// Makes a tensor with fresh, uninitialized storage.
Tensor make_tensor(const Shape& shape, Dtype dtype, std::string_view op = "empty");
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
  const TensorImpl& impl = checked_impl("item");
  XGRAD_CHECK(numel() == 1, "item: expected a tensor with one element, got shape {} ({} elements)",
              impl.shape, numel());
  return dispatch(dtype(), [&](auto zero) {
    using Stored = decltype(zero);
    return static_cast<T>(*static_cast<const Stored*>(impl.storage->data()));
  });
}

}  // namespace xgrad

template <>
struct fmt::formatter<xgrad::Tensor> : fmt::formatter<std::string_view> {
  auto format(const xgrad::Tensor& tensor, fmt::format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(xgrad::to_string(tensor), ctx);
  }
};
