#include "core/creation.hpp"

#include <algorithm>
#include <cmath>

namespace xgrad {

namespace {
Tensor finish(Tensor tensor, const TensorOptions& options, std::string_view op) {
  XGRAD_CHECK(!options.requires_grad || is_floating_point(options.dtype),
              "{}: only floating-point tensors can require gradients, got requires_grad with dtype {}", op,
              options.dtype);
  tensor.impl()->requires_grad = options.requires_grad;
  return tensor;
}

void check_floating(const TensorOptions& options, std::string_view op) {
  XGRAD_CHECK(is_floating_point(options.dtype), "{}: random values need a floating-point dtype, got {}", op,
              options.dtype);
}

// `op` names the public function in error messages ("zeros: shape [2, -1] has a negative dimension").
Tensor filled(const Shape& shape, double value, const TensorOptions& options, std::string_view op) {
  Tensor tensor = make_uninitialized(shape, options.dtype, op);
  dispatch_all(options.dtype, [&](auto tag) {
    using T = decltype(tag);
    std::fill_n(tensor.data_ptr<T>(), tensor.numel(), convert<T>(value));
  });
  return finish(tensor, options, op);
}
}  // namespace

Tensor empty(const Shape& shape, TensorOptions options) {
  // Uninitialized bytes are not valid C++ bools (reading one is undefined behaviour): a bool tensor starts false.
  if (options.dtype == kBool) return filled(shape, 0.0, options, "empty");
  return finish(make_uninitialized(shape, options.dtype, "empty"), options, "empty");
}

Tensor zeros(const Shape& shape, TensorOptions options) { return filled(shape, 0.0, options, "zeros"); }

Tensor ones(const Shape& shape, TensorOptions options) { return filled(shape, 1.0, options, "ones"); }

Tensor full(const Shape& shape, double value, TensorOptions options) { return filled(shape, value, options, "full"); }

Tensor rand(const Shape& shape, TensorOptions options) {
  check_floating(options, "rand");
  Tensor tensor = make_uninitialized(shape, options.dtype, "rand");
  dispatch(options.dtype, [&](auto tag) {
    random::fill_uniform(tensor.data_ptr<decltype(tag)>(), tensor.numel(), 0.0, 1.0);
  });
  return finish(tensor, options, "rand");
}

Tensor randn(const Shape& shape, TensorOptions options) {
  check_floating(options, "randn");
  Tensor tensor = make_uninitialized(shape, options.dtype, "randn");
  dispatch(options.dtype, [&](auto tag) {
    random::fill_normal(tensor.data_ptr<decltype(tag)>(), tensor.numel(), 0.0, 1.0);
  });
  return finish(tensor, options, "randn");
}

Tensor arange(double end, TensorOptions options) { return arange(0.0, end, 1.0, options); }

Tensor arange(double start, double end, double step, TensorOptions options) {
  XGRAD_CHECK(step != 0.0 && std::isfinite(step), "arange: step must be finite and non-zero, got {}", step);
  XGRAD_CHECK(std::isfinite(start) && std::isfinite(end), "arange: start and end must be finite, got {} and {}",
              start, end);
  XGRAD_CHECK((end - start) / step < 9.0e18, "arange: range [{}, {}) with step {} has too many elements", start,
              end, step);
  const auto count = static_cast<std::int64_t>(std::max(0.0, std::ceil((end - start) / step)));
  Tensor tensor = make_uninitialized({count}, options.dtype, "arange");
  dispatch_all(options.dtype, [&](auto tag) {
    using T = decltype(tag);
    T* data = tensor.data_ptr<T>();
    for (std::int64_t i = 0; i < count; ++i) {
      data[i] = convert<T>(start + static_cast<double>(i) * step);
    }
  });
  return finish(tensor, options, "arange");
}

Tensor zeros_like(const Tensor& like) { return zeros(like.shape(), {.dtype = like.dtype()}); }
Tensor ones_like(const Tensor& like) { return ones(like.shape(), {.dtype = like.dtype()}); }

Tensor scalar_tensor(double value, TensorOptions options) { return full({}, value, options); }

}  // namespace xgrad
