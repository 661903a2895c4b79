#include "core/permute.hpp"

namespace xgrad::detail {

Tensor permute_values(const Tensor& a, const std::vector<std::int64_t>& order) {
  const auto rank = static_cast<std::int64_t>(order.size());
  Shape out_shape(rank);
  for (std::int64_t i = 0; i < rank; ++i) out_shape[i] = a.shape()[order[i]];
  Tensor out = make_uninitialized(out_shape, a.dtype(), "permute");
  const Shape in_strides = contiguous_strides(a.shape());
  dispatch_all(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* in = a.data_ptr<T>();
    T* o = out.data_ptr<T>();
    const std::int64_t n = out.numel();
    if (n == 0) return;
    if (rank == 0) {
      o[0] = in[0];
      return;
    }
    // Odometer over the output, tracking the matching input offset.
    Shape index(out_shape.size(), 0);
    std::int64_t offset = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      o[i] = in[offset];
      for (std::int64_t d = rank - 1; d >= 0; --d) {
        const std::int64_t stride = in_strides[order[d]];
        offset += stride;
        if (++index[d] < out_shape[d]) break;
        offset -= stride * out_shape[d];
        index[d] = 0;
      }
    }
  });
  return out;
}

}  // namespace xgrad::detail
