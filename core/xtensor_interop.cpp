#include "core/xtensor_interop.hpp"

#include <algorithm>

namespace xgrad {

namespace {
template <class T>
Tensor copy_in(const xt::xarray<T>& values, bool requires_grad) {
  const Shape shape(values.shape().begin(), values.shape().end());
  Tensor out = make_uninitialized(shape, dtype_of<T>(), "from_xarray");
  // Copy through a row-major iterator so any layout of `values` lands row-major.
  std::copy(values.template cbegin<xt::layout_type::row_major>(), values.template cend<xt::layout_type::row_major>(),
            out.data_ptr<T>());
  out.requires_grad_(requires_grad);
  return out;
}
}  // namespace

Tensor from_xarray(const xt::xarray<float>& values, bool requires_grad) { return copy_in(values, requires_grad); }
Tensor from_xarray(const xt::xarray<double>& values, bool requires_grad) { return copy_in(values, requires_grad); }
Tensor from_xarray(const xt::xarray<std::int64_t>& values) { return copy_in(values, false); }
Tensor from_xarray(const xt::xarray<bool>& values) { return copy_in(values, false); }

}  // namespace xgrad
