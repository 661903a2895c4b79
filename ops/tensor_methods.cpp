// Tensor's members that compute (declared in core/tensor.hpp): defined on the ops floor
// because they record graph nodes or honour grad mode, both above core.
#include <algorithm>

#include "autograd/grad_mode.hpp"
#include "autograd/node.hpp"
#include "core/loops.hpp"
#include "core/random.hpp"
#include "core/tensor.hpp"
#include "ops/ops.hpp"

namespace xgrad {

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
  dispatch_all(dtype(), [&](auto tag) {
    using T = decltype(tag);
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
  dispatch_all(t.dtype(), [&](auto tag) {
    using T = decltype(tag);
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
  dispatch(dtype(), [&](auto tag) { random::fill_uniform(data_ptr<decltype(tag)>(), numel(), low, high); });
  impl_->storage->bump_version("uniform_");
  return *this;
}

Tensor& Tensor::normal_(double mean, double std) {
  check_in_place(*this, "normal_");
  XGRAD_CHECK(is_floating_point(dtype()), "normal_: random values need a floating-point tensor, this one is {}", dtype());
  XGRAD_CHECK(std >= 0, "normal_: expected std >= 0, got {}", std);
  dispatch(dtype(), [&](auto tag) { random::fill_normal(data_ptr<decltype(tag)>(), numel(), mean, std); });
  impl_->storage->bump_version("normal_");
  return *this;
}

Tensor Tensor::to(Dtype target) const {
  const TensorImpl& impl = checked_impl("to");
  if (impl.storage->dtype() == target) return *this;
  Tensor out = make_uninitialized(impl.shape, target, "to");
  dispatch_all(dtype(), [&](auto from_tag) {
    using From = decltype(from_tag);
    dispatch_all(target, [&](auto to_tag) {
      using To = decltype(to_tag);
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
  Tensor out = make_uninitialized(impl.shape, dtype(), "clone");
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

Tensor Tensor::add(const Tensor& other) const { return xgrad::add(*this, other); }

}  // namespace xgrad
