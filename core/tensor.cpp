#include "core/tensor.hpp"

#include <new>

namespace xgrad {

Tensor make_uninitialized(const Shape& shape, Dtype dtype, std::string_view op) {
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

Tensor Tensor::detach() const {
  const TensorImpl& impl = checked_impl("detach");
  return make_tensor(impl.storage, impl.shape);
}

std::shared_ptr<autograd::Node> Tensor::grad_fn() const { return checked_impl("grad_fn").grad_fn; }

}  // namespace xgrad
