// Reductions: sum, mean and max over all elements or chosen dims.
#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <optional>
#include <type_traits>

#include "autograd/node.hpp"
#include "core/creation.hpp"
#include "ops/ops.hpp"
#include "core/loops.hpp"

namespace xgrad {

using autograd::NeedsGrad;
using autograd::record;

namespace {

// Sorted, unique, non-negative dims; an empty list means every dim (as PyTorch's dim=[]).
std::vector<std::int64_t> reduced_dims(const Tensor& a, const std::vector<std::int64_t>& dims, const char* op) {
  const std::int64_t rank = a.dim();
  std::vector<bool> chosen(std::max<std::int64_t>(rank, 1), false);
  std::vector<std::int64_t> out;
  if (dims.empty()) {
    for (std::int64_t d = 0; d < rank; ++d) out.push_back(d);
    return out;
  }
  for (std::int64_t dim : dims) {
    const std::int64_t d = normalize_dim(dim, rank, op);
    XGRAD_CHECK(!chosen[d], "{}: dim {} appears more than once in dims {}", op, d, dims);
    chosen[d] = true;
    if (rank > 0) out.push_back(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

Shape keepdim_shape(const Shape& shape, const std::vector<std::int64_t>& dims) {
  Shape out = shape;
  for (std::int64_t d : dims) out[d] = 1;
  return out;
}

Shape dropped_shape(const Shape& shape, const std::vector<std::int64_t>& dims) {
  Shape out;
  for (std::int64_t d = 0; d < static_cast<std::int64_t>(shape.size()); ++d) {
    if (std::find(dims.begin(), dims.end(), d) == dims.end()) out.push_back(shape[d]);
  }
  return out;
}

// Sum of all n values: fixed blocks summed on the thread pool, then the block sums in order, so
// the result does not depend on the thread count.
template <class T>
double sum_all(const T* in, std::int64_t n) {
  constexpr std::int64_t block = 1 << 13;
  const std::int64_t blocks = (n + block - 1) / block;
  std::vector<double> block_sums(static_cast<std::size_t>(blocks));
  parallel_for(blocks, detail::kElementwiseGrain / block, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t b = begin; b < end; ++b) block_sums[b] = detail::sum_in_double(in + b * block, std::min(block, n - b * block));
  });
  double total = 0;
  for (double s : block_sums) total += s;
  return total;
}

// Sums `a` over `dims` into a tensor of keepdim shape. float32 accumulates in
// double, so long sums stay accurate.
Tensor sum_keepdim(const Tensor& a, const std::vector<std::int64_t>& dims) {
  const Shape out_shape = keepdim_shape(a.shape(), dims);
  Tensor out = zeros(out_shape, {.dtype = a.dtype()});
  const std::int64_t n = a.numel();
  if (n == 0) return out;
  dispatch(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* in = a.data_ptr<T>();
    const auto rank = static_cast<std::int64_t>(out_shape.size());
    if (out.numel() == 1) {  // every element into one (a loss): in blocks, on the thread pool
      out.data_ptr<T>()[0] = static_cast<T>(sum_all(in, n));
      return;
    }
    const Shape& shape = a.shape();
    Shape out_strides = contiguous_strides(out_shape);
    for (std::int64_t d : dims) out_strides[d] = 0;
    std::vector<double> acc(static_cast<std::size_t>(out.numel()), 0.0);
    const std::int64_t inner = shape[rank - 1];
    const std::int64_t inner_stride = out_strides[rank - 1];
    std::vector<std::int64_t> index(rank, 0);
    std::int64_t offset = 0;
    for (std::int64_t done = 0; done < n; done += inner) {
      const T* row = in + done;
      if (inner_stride == 0) {
        acc[offset] += detail::sum_in_double(row, inner);
      } else {
        for (std::int64_t j = 0; j < inner; ++j) acc[offset + j] += row[j];
      }
      for (std::int64_t d = rank - 2; d >= 0; --d) {
        ++index[d];
        offset += out_strides[d];
        if (index[d] < shape[d]) break;
        offset -= out_strides[d] * shape[d];
        index[d] = 0;
      }
    }
    T* o = out.data_ptr<T>();
    for (std::size_t i = 0; i < acc.size(); ++i) o[i] = static_cast<T>(acc[i]);
  });
  return out;
}

// Integer sums (int64 and bool inputs, as int64): exact, wrapping on overflow as PyTorch's.
Tensor sum_keepdim_integer(const Tensor& input, const std::vector<std::int64_t>& dims) {
  const Tensor a = input.to(kInt64);
  const Shape out_shape = keepdim_shape(a.shape(), dims);
  Tensor out = zeros(out_shape, {.dtype = kInt64});
  const std::int64_t n = a.numel();
  if (n == 0) return out;
  Shape out_strides = contiguous_strides(out_shape);
  for (std::int64_t d : dims) out_strides[d] = 0;
  const Shape& shape = a.shape();
  const auto rank = static_cast<std::int64_t>(shape.size());
  std::vector<std::uint64_t> acc(static_cast<std::size_t>(out.numel()), 0);
  const std::int64_t* in = a.data_ptr<std::int64_t>();
  std::vector<std::int64_t> index(static_cast<std::size_t>(rank), 0);
  std::int64_t offset = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    acc[offset] += static_cast<std::uint64_t>(in[i]);
    for (std::int64_t d = rank - 1; d >= 0; --d) {
      offset += out_strides[d];
      if (++index[d] < shape[d]) break;
      offset -= out_strides[d] * shape[d];
      index[d] = 0;
    }
  }
  std::int64_t* o = out.data_ptr<std::int64_t>();
  for (std::size_t i = 0; i < acc.size(); ++i) o[i] = static_cast<std::int64_t>(acc[i]);
  return out;
}

}  // namespace

Tensor sum(const Tensor& a, const std::vector<std::int64_t>& dims, bool keepdim) {
  XGRAD_CHECK(a.defined(), "sum: called on an undefined tensor");
  const std::vector<std::int64_t> reduce = reduced_dims(a, dims, "sum");
  Tensor summed = is_floating_point(a.dtype()) ? sum_keepdim(a, reduce) : sum_keepdim_integer(a, reduce);
  Tensor out = keepdim ? summed : make_tensor(summed.impl()->storage, dropped_shape(a.shape(), reduce));
  return record("SumBackward", out, {a}, [shape = a.shape(), reduce](const Tensor& g, const NeedsGrad&) {
    // d(sum a)/da_i = 1: the output gradient is repeated over the summed dims
    return std::vector<Tensor>{broadcast_to(g.reshape(keepdim_shape(shape, reduce)), shape)};
  });
}

Tensor sum(const Tensor& a) { return sum(a, {}, false); }

Tensor mean(const Tensor& a, const std::vector<std::int64_t>& dims, bool keepdim) {
  XGRAD_CHECK(a.defined(), "mean: called on an undefined tensor");
  XGRAD_CHECK(is_floating_point(a.dtype()),
              "mean: expected a floating-point tensor, got {} {} (as in PyTorch, the mean of integers has no "
              "dtype to infer); convert it with .to(kFloat32)",
              a.dtype(), a.shape());
  std::int64_t count = 1;
  const std::vector<std::int64_t> reduce = reduced_dims(a, dims, "mean");
  for (std::int64_t d : reduce) count *= a.shape()[d];
  // An average of nothing is 0/0: a NaN loss from an empty batch would poison a
  // training run silently, so it is an error (when there is any output to fill).
  XGRAD_CHECK(count > 0 || checked_numel(dropped_shape(a.shape(), reduce), "mean") == 0,
              "mean: cannot average over zero elements (input shape {}, reducing dims {}); is the batch empty?",
              a.shape(), reduce);
  // mean = sum / count (composite: its gradient comes from sum's and div's)
  return sum(a, dims, keepdim) / static_cast<double>(count);
}

Tensor mean(const Tensor& a) { return mean(a, {}, false); }

namespace {
// The adjoint of picking one element per slice: g scattered to the picked
// positions of a zero tensor. Linear in g: its own backward gathers them back
// (recorded only under create_graph, when g requires grad).
Tensor max_backward(const Tensor& g, const Shape& shape, const std::shared_ptr<std::vector<std::int64_t>>& positions,
                    std::int64_t outer, std::int64_t extent, std::int64_t inner) {
  Tensor grad = zeros(shape, {.dtype = g.dtype()});
  dispatch(g.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* gv = g.data_ptr<T>();
    T* out = grad.data_ptr<T>();
    for (std::int64_t o = 0; o < outer; ++o) {
      for (std::int64_t i = 0; i < inner; ++i) {
        out[(o * extent + (*positions)[o * inner + i]) * inner + i] += gv[o * inner + i];
      }
    }
  });
  return record("MaxBackwardBackward", grad, {g}, [g_shape = g.shape(), positions, outer, extent, inner](const Tensor& gg, const NeedsGrad&) {
    // the adjoint of the scatter gathers the picked positions
    Tensor picked = make_uninitialized(g_shape, gg.dtype(), "max_backward");
    dispatch(gg.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* from = gg.data_ptr<T>();
      T* to = picked.data_ptr<T>();
      for (std::int64_t o = 0; o < outer; ++o) {
        for (std::int64_t i = 0; i < inner; ++i) to[o * inner + i] = from[(o * extent + (*positions)[o * inner + i]) * inner + i];
      }
    });
    return std::vector<Tensor>{record("MaxBackward", picked, {gg}, [shape = gg.shape(), positions, outer, extent, inner](
                                                                         const Tensor& g3, const NeedsGrad&) {
      return std::vector<Tensor>{max_backward(g3, shape, positions, outer, extent, inner)};
    })};
  });
}
}  // namespace

namespace {
// Values and int64 indices of the largest (largest = true) or smallest element
// along dim; the first one on ties, a NaN wins (propagates), as in PyTorch.
std::tuple<Tensor, Tensor> extreme(const Tensor& a, std::int64_t dim, bool keepdim, bool largest, const char* op) {
  XGRAD_CHECK(a.defined(), "{}: called on an undefined tensor", op);
  const std::int64_t d = normalize_dim(dim, a.dim(), op);
  const Shape& shape = a.shape();
  const std::int64_t extent = a.dim() == 0 ? 1 : shape[d];
  XGRAD_CHECK(extent > 0, "{}: cannot reduce over dimension {} of size 0 (input shape {})", op, d, shape);
  std::int64_t outer = 1, inner = 1;
  for (std::int64_t i = 0; i < d; ++i) outer *= shape[i];
  for (std::int64_t i = d + 1; i < a.dim(); ++i) inner *= shape[i];
  const Shape kept = a.dim() == 0 ? Shape{} : keepdim_shape(shape, {d});
  const Shape out_shape = (keepdim || a.dim() == 0) ? kept : dropped_shape(shape, {d});
  Tensor values = make_uninitialized(out_shape, a.dtype(), op);
  Tensor indices = make_uninitialized(out_shape, kInt64, op);
  auto positions = std::make_shared<std::vector<std::int64_t>>(static_cast<std::size_t>(outer * inner));
  dispatch_all(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    auto is_nan = [](T x) {
      if constexpr (std::is_floating_point_v<T>) return std::isnan(x);
      else return false;
    };
    const T* in = a.data_ptr<T>();
    T* v = values.data_ptr<T>();
    std::int64_t* ix = indices.data_ptr<std::int64_t>();
    for (std::int64_t o = 0; o < outer; ++o) {
      for (std::int64_t i = 0; i < inner; ++i) {
        const T* column = in + o * extent * inner + i;
        std::int64_t best = 0;
        for (std::int64_t k = 1; k < extent; ++k) {
          const T candidate = column[k * inner], current = column[best * inner];
          const bool better = largest ? candidate > current : candidate < current;
          if (!is_nan(current) && (better || is_nan(candidate))) best = k;
        }
        v[o * inner + i] = column[best * inner];
        ix[o * inner + i] = best;
        (*positions)[o * inner + i] = best;
      }
    }
  });
  values = record(largest ? "MaxBackward" : "MinBackward", values, {a},
                  [shape, positions, outer, extent, inner](const Tensor& g, const NeedsGrad&) {
                    // The gradient goes to the chosen element of each slice.
                    return std::vector<Tensor>{max_backward(g, shape, positions, outer, extent, inner)};
                  });
  return {values, indices};
}

// The flat index of the extreme element when no dim is given.
Tensor arg_extreme(const Tensor& a, std::optional<std::int64_t> dim, bool keepdim, bool largest, const char* op) {
  XGRAD_CHECK(a.defined(), "{}: called on an undefined tensor", op);
  if (dim) return std::get<1>(extreme(a, *dim, keepdim, largest, op));
  XGRAD_CHECK(a.numel() > 0, "{}: cannot take the {} of an empty tensor (shape {})", op, op, a.shape());
  Tensor flat = std::get<1>(extreme(a.reshape({-1}), 0, false, largest, op));
  return keepdim ? flat.reshape(Shape(a.shape().size(), 1)) : flat;
}
}  // namespace

std::tuple<Tensor, Tensor> max(const Tensor& a, std::int64_t dim, bool keepdim) {
  return extreme(a, dim, keepdim, true, "max");
}

std::tuple<Tensor, Tensor> min(const Tensor& a, std::int64_t dim, bool keepdim) {
  return extreme(a, dim, keepdim, false, "min");
}

Tensor argmax(const Tensor& a, std::optional<std::int64_t> dim, bool keepdim) {
  return arg_extreme(a, dim, keepdim, true, "argmax");
}

Tensor argmin(const Tensor& a, std::optional<std::int64_t> dim, bool keepdim) {
  return arg_extreme(a, dim, keepdim, false, "argmin");
}

std::tuple<Tensor, Tensor> Tensor::min(std::int64_t dim, bool keepdim) const { return xgrad::min(*this, dim, keepdim); }
Tensor Tensor::argmax(std::optional<std::int64_t> dim, bool keepdim) const { return xgrad::argmax(*this, dim, keepdim); }
Tensor Tensor::argmin(std::optional<std::int64_t> dim, bool keepdim) const { return xgrad::argmin(*this, dim, keepdim); }

}  // namespace xgrad
