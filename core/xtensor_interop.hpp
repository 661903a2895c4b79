// Interop with xtensor, both ways: from_xarray copies an xt::xarray into a new
// tensor; Tensor::to_xarray<T>() copies a tensor out, converted to T.
#pragma once

#include <type_traits>

#include <xtensor/xadapt.hpp>
#include <xtensor/xarray.hpp>

#include "core/tensor.hpp"

namespace xgrad {

Tensor from_xarray(const xt::xarray<float>& values, bool requires_grad = false);
Tensor from_xarray(const xt::xarray<double>& values, bool requires_grad = false);
Tensor from_xarray(const xt::xarray<std::int64_t>& values);  // int64 and bool never require grad
Tensor from_xarray(const xt::xarray<bool>& values);

template <class T>
auto Tensor::to_xarray() const {
  static_assert(std::is_arithmetic_v<T>, "to_xarray<T>: T must be an arithmetic type");
  const Shape& dims = shape();
  typename xt::xarray<T>::shape_type xshape(dims.begin(), dims.end());
  xt::xarray<T> out(xshape);
  dispatch_all(dtype(), [&](auto tag) {
    using Stored = decltype(tag);
    const Stored* data = data_ptr<Stored>();
    for (std::size_t i = 0; i < out.size(); ++i) {
      if constexpr (std::is_same_v<T, bool> || std::is_same_v<T, std::int64_t>) {
        out.data()[i] = convert<T>(data[i]);
      } else if constexpr (std::is_integral_v<T> && std::is_floating_point_v<Stored>) {
        out.data()[i] = static_cast<T>(convert<std::int64_t>(data[i]));
      } else {
        out.data()[i] = static_cast<T>(data[i]);
      }
    }
  });
  return out;
}

}  // namespace xgrad
