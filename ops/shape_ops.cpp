// Shape ops: reshape, transpose/permute, (un)squeeze, slicing, cat, pad and
// broadcast_to. All outputs are contiguous; reshape shares the input's storage.
#include <algorithm>
#include <cstring>
#include <limits>
#include <numeric>

#include "autograd/engine.hpp"
#include "autograd/node.hpp"
#include "core/creation.hpp"
#include "ops/ops.hpp"
#include "core/loops.hpp"
#include "core/permute.hpp"

namespace xgrad {

using autograd::NeedsGrad;
using autograd::record;

namespace {

void check_defined(const Tensor& a, const char* op) { XGRAD_CHECK(a.defined(), "{}: called on an undefined tensor", op); }

// Sizes of the dims before `dim`, at `dim`, and after it: a tensor seen as (outer, extent, inner).
struct Split {
  std::int64_t outer = 1, extent = 1, inner = 1;
};
Split split_at(const Shape& shape, std::int64_t dim) {
  Split s;
  for (std::int64_t i = 0; i < dim; ++i) s.outer *= shape[i];
  s.extent = shape.empty() ? 1 : shape[dim];
  for (std::int64_t i = dim + 1; i < static_cast<std::int64_t>(shape.size()); ++i) s.inner *= shape[i];
  return s;
}

// Copies, for every outer index, `count` inner blocks: block k of the source
// (at src_start + k*src_step along the dim) to block (dst_start + k) of the destination.
void copy_blocks(const Tensor& src, const Split& s, std::int64_t src_start, std::int64_t src_step, Tensor& dst,
                 const Split& d, std::int64_t dst_start, std::int64_t count) {
  const std::size_t bytes = static_cast<std::size_t>(s.inner) * element_size(src.dtype());
  const auto* from = static_cast<const char*>(src.impl()->storage->data());
  auto* to = static_cast<char*>(dst.impl()->storage->data());
  for (std::int64_t o = 0; o < s.outer; ++o) {
    for (std::int64_t k = 0; k < count; ++k) {
      const std::int64_t src_block = o * s.extent + src_start + k * src_step;
      const std::int64_t dst_block = o * d.extent + dst_start + k;
      if (bytes > 0) std::memcpy(to + dst_block * bytes, from + src_block * bytes, bytes);
    }
  }
}

}  // namespace

Tensor reshape(const Tensor& a, const Shape& requested) {
  check_defined(a, "reshape");
  Shape shape = requested;
  std::int64_t known = 1, infer = -1;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      XGRAD_CHECK(infer < 0, "reshape: only one dimension can be -1, got shape {}", requested);
      infer = static_cast<std::int64_t>(i);
    } else {
      XGRAD_CHECK(shape[i] >= 0, "reshape: invalid shape {} (negative dimension)", requested);
      XGRAD_CHECK(shape[i] == 0 || known <= std::numeric_limits<std::int64_t>::max() / shape[i],
                  "reshape: shape {} has more elements than a 64-bit count can hold", requested);
      known = known * shape[i];
    }
  }
  if (infer >= 0) {
    XGRAD_CHECK(known != 0 && a.numel() % known == 0, "reshape: shape {} is invalid for input of size {} (shape {})",
                requested, a.numel(), a.shape());
    shape[infer] = a.numel() / known;
  }
  XGRAD_CHECK(checked_numel(shape, "reshape") == a.numel(), "reshape: shape {} is invalid for input of size {} (shape {})",
              requested, a.numel(), a.shape());
  Tensor out = make_tensor(a.impl()->storage, shape);
  return record("ReshapeBackward", out, {a}, [input_shape = a.shape()](const Tensor& g, const NeedsGrad&) {
    // reshape moves no values: the gradient is reshaped back
    return std::vector<Tensor>{g.reshape(input_shape)};
  });
}

Tensor flatten(const Tensor& a, std::int64_t start_dim, std::int64_t end_dim) {
  check_defined(a, "flatten");
  if (a.dim() == 0) {
    // A 0-dim tensor flattens to one element; its dims are still checked (-1 or 0, as PyTorch).
    normalize_dim(start_dim, 0, "flatten");
    normalize_dim(end_dim, 0, "flatten");
    return a.reshape({1});
  }
  const std::int64_t start = normalize_dim(start_dim, a.dim(), "flatten");
  const std::int64_t end = normalize_dim(end_dim, a.dim(), "flatten");
  XGRAD_CHECK(start <= end, "flatten: start_dim {} comes after end_dim {}", start_dim, end_dim);
  Shape shape(a.shape().begin(), a.shape().begin() + start);
  std::int64_t merged = 1;
  for (std::int64_t i = start; i <= end; ++i) merged *= a.shape()[i];
  shape.push_back(merged);
  shape.insert(shape.end(), a.shape().begin() + end + 1, a.shape().end());
  return a.reshape(shape);
}

Tensor permute(const Tensor& a, const std::vector<std::int64_t>& dims) {
  check_defined(a, "permute");
  const std::int64_t rank = a.dim();
  XGRAD_CHECK(static_cast<std::int64_t>(dims.size()) == rank, "permute: expected {} dims for a tensor of shape {}, got {}",
              rank, a.shape(), dims);
  std::vector<std::int64_t> order(rank);
  std::vector<bool> seen(rank, false);
  for (std::int64_t i = 0; i < rank; ++i) {
    order[i] = normalize_dim(dims[i], rank, "permute");
    XGRAD_CHECK(!seen[order[i]], "permute: dim {} appears more than once in {}", order[i], dims);
    seen[order[i]] = true;
  }
  Tensor out = detail::permute_values(a, order);
  std::vector<std::int64_t> inverse(rank);
  for (std::int64_t i = 0; i < rank; ++i) inverse[order[i]] = i;
  return record("PermuteBackward", out, {a}, [inverse](const Tensor& g, const NeedsGrad&) {
    // a permutation is undone by its inverse
    return std::vector<Tensor>{permute(g, inverse)};
  });
}

Tensor transpose(const Tensor& a, std::int64_t dim0, std::int64_t dim1) {
  check_defined(a, "transpose");
  if (a.dim() == 0) {
    normalize_dim(dim0, 0, "transpose");
    normalize_dim(dim1, 0, "transpose");
    return permute(a, {});
  }
  std::vector<std::int64_t> order(a.dim());
  std::iota(order.begin(), order.end(), 0);
  std::swap(order[normalize_dim(dim0, a.dim(), "transpose")], order[normalize_dim(dim1, a.dim(), "transpose")]);
  return permute(a, order);
}

Tensor unsqueeze(const Tensor& a, std::int64_t dim) {
  check_defined(a, "unsqueeze");
  const std::int64_t d = normalize_dim(dim, a.dim() + 1, "unsqueeze");
  Shape shape = a.shape();
  shape.insert(shape.begin() + d, 1);
  return a.reshape(shape);
}

Tensor squeeze(const Tensor& a) {
  check_defined(a, "squeeze");
  Shape shape;
  for (std::int64_t extent : a.shape())
    if (extent != 1) shape.push_back(extent);
  return a.reshape(shape);
}

Tensor squeeze(const Tensor& a, std::int64_t dim) {
  check_defined(a, "squeeze");
  if (a.dim() == 0) {
    normalize_dim(dim, 0, "squeeze");
    return a.reshape({});
  }
  const std::int64_t d = normalize_dim(dim, a.dim(), "squeeze");
  Shape shape = a.shape();
  if (shape[d] == 1) shape.erase(shape.begin() + d);
  return a.reshape(shape);
}

namespace {
// The adjoint of slice: `g` placed at the sliced positions of a zero tensor of
// `shape`. Linear in g, so its own backward is the slice again (recorded only
// under create_graph, when g requires grad).
Tensor slice_backward(const Tensor& g, const Shape& shape, std::int64_t d, std::int64_t start, std::int64_t step,
                      std::int64_t count) {
  Tensor grad = zeros(shape, {.dtype = g.dtype()});
  const Split gs = split_at(g.shape(), d), full = split_at(shape, d);
  const std::size_t bytes = static_cast<std::size_t>(gs.inner) * element_size(g.dtype());
  const auto* from = static_cast<const char*>(g.impl()->storage->data());
  auto* to = static_cast<char*>(grad.impl()->storage->data());
  for (std::int64_t o = 0; o < gs.outer; ++o)
    for (std::int64_t k = 0; k < count; ++k)
      if (bytes > 0) std::memcpy(to + (o * full.extent + start + k * step) * bytes, from + (o * count + k) * bytes, bytes);
  return record("SliceBackwardBackward", grad, {g}, [d, start, step, count](const Tensor& gg, const NeedsGrad&) {
    // the adjoint of the scatter is the slice it undid
    return std::vector<Tensor>{slice(gg, d, start, start + count * step, step)};
  });
}
}  // namespace

Tensor slice(const Tensor& a, std::int64_t dim, std::int64_t start, std::int64_t end, std::int64_t step) {
  check_defined(a, "slice");
  XGRAD_CHECK(a.dim() > 0, "slice: cannot slice a 0-dim tensor");
  XGRAD_CHECK(step > 0, "slice: step must be positive, got {}", step);
  const std::int64_t d = normalize_dim(dim, a.dim(), "slice");
  const std::int64_t extent = a.shape()[d];
  // Python slice rules: negative counts from the end, then clamp into [0, extent].
  auto clamp_index = [extent](std::int64_t i) { return std::clamp(i < 0 ? i + extent : i, std::int64_t{0}, extent); };
  start = clamp_index(start);
  end = std::max(clamp_index(end), start);
  const std::int64_t count = end > start ? (end - start - 1) / step + 1 : 0;  // no overflow for huge steps
  Shape out_shape = a.shape();
  out_shape[d] = count;
  Tensor out = make_uninitialized(out_shape, a.dtype(), "slice");
  copy_blocks(a, split_at(a.shape(), d), start, step, out, split_at(out_shape, d), 0, count);
  return record("SliceBackward", out, {a}, [shape = a.shape(), d, start, step, count](const Tensor& g, const NeedsGrad&) {
    // each selected element receives its gradient; the others get zero
    return std::vector<Tensor>{slice_backward(g, shape, d, start, step, count)};
  });
}

Tensor narrow(const Tensor& a, std::int64_t dim, std::int64_t start, std::int64_t length) {
  check_defined(a, "narrow");
  XGRAD_CHECK(a.dim() > 0, "narrow: cannot narrow a 0-dim tensor");
  const std::int64_t d = normalize_dim(dim, a.dim(), "narrow");
  const std::int64_t extent = a.shape()[d];
  if (start < 0) start += extent;
  XGRAD_CHECK(start >= 0 && length >= 0 && start <= extent - length,
              "narrow: start {} and length {} are out of range for dimension {} of size {} (shape {})", start, length, d,
              extent, a.shape());
  return slice(a, d, start, start + length, 1);
}

Tensor cat(const std::vector<Tensor>& tensors, std::int64_t dim) {
  XGRAD_CHECK(!tensors.empty(), "cat: expected a non-empty list of tensors");
  for (const Tensor& t : tensors) check_defined(t, "cat");
  const Tensor& first = tensors.front();
  XGRAD_CHECK(first.dim() > 0, "cat: zero-dimensional tensors cannot be concatenated");
  const std::int64_t d = normalize_dim(dim, first.dim(), "cat");
  Shape out_shape = first.shape();
  out_shape[d] = 0;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    XGRAD_CHECK(t.dtype() == first.dtype(), "cat: tensor {} has dtype {}, expected {} like tensor 0", i, t.dtype(),
                first.dtype());
    XGRAD_CHECK(t.dim() == first.dim(), "cat: tensor {} has shape {}, expected rank {} like tensor 0 (shape {})", i,
                t.shape(), first.dim(), first.shape());
    for (std::int64_t k = 0; k < first.dim(); ++k) {
      XGRAD_CHECK(k == d || t.shape()[k] == first.shape()[k],
                  "cat: sizes must match except in dimension {}: tensor {} has shape {}, tensor 0 has shape {}", d, i,
                  t.shape(), first.shape());
    }
    out_shape[d] = checked_add(out_shape[d], t.shape()[d], "cat", "the concatenated size");
  }
  Tensor out = make_uninitialized(out_shape, first.dtype(), "cat");
  const Split os = split_at(out_shape, d);
  std::vector<std::int64_t> offsets;
  std::int64_t offset = 0;
  for (const Tensor& t : tensors) {
    offsets.push_back(offset);
    copy_blocks(t, split_at(t.shape(), d), 0, 1, out, os, offset, t.shape()[d]);
    offset += t.shape()[d];
  }
  std::vector<std::int64_t> lengths;
  for (const Tensor& t : tensors) lengths.push_back(t.shape()[d]);
  return record("CatBackward", out, tensors, [d, offsets, lengths](const Tensor& g, const NeedsGrad& needs) {
    // each input gets back its own slab of the gradient
    std::vector<Tensor> grads(offsets.size());
    for (std::size_t i = 0; i < offsets.size(); ++i)
      if (needs[i]) grads[i] = narrow(g, d, offsets[i], lengths[i]);
    return grads;
  });
}

Tensor stack(const std::vector<Tensor>& tensors, std::int64_t dim) {
  XGRAD_CHECK(!tensors.empty(), "stack: expected a non-empty list of tensors");
  for (const Tensor& t : tensors) check_defined(t, "stack");
  const Tensor& first = tensors.front();
  for (std::size_t i = 1; i < tensors.size(); ++i) {
    XGRAD_CHECK(tensors[i].shape() == first.shape(),
                "stack: expects tensors of one shape, got {} at entry 0 and {} at entry {}", first.shape(),
                tensors[i].shape(), i);
  }
  const std::int64_t d = normalize_dim(dim, first.dim() + 1, "stack");
  // stack = cat of the tensors each given a new dim of size 1 (both differentiable)
  std::vector<Tensor> expanded;
  expanded.reserve(tensors.size());
  for (const Tensor& t : tensors) expanded.push_back(t.unsqueeze(d));
  return cat(expanded, d);
}

Tensor pad(const Tensor& a, const std::vector<std::int64_t>& pads, double value) {
  check_defined(a, "pad");
  XGRAD_CHECK(pads.size() % 2 == 0, "pad: expected an even number of padding values, got {}", pads);
  XGRAD_CHECK(static_cast<std::int64_t>(pads.size() / 2) <= a.dim(),
              "pad: {} padding values pad {} dims, but the input has shape {}", pads.size(), pads.size() / 2, a.shape());
  Shape out_shape = a.shape();
  for (std::size_t i = 0; i < pads.size() / 2; ++i) {
    const std::int64_t d = a.dim() - 1 - static_cast<std::int64_t>(i);
    // Checked: absurd pads must be an error, not signed overflow.
    out_shape[d] = checked_add(checked_add(a.shape()[d], pads[2 * i], "pad", "size + left padding"), pads[2 * i + 1],
                               "pad", "size + left + right padding");
    XGRAD_CHECK(out_shape[d] >= 0, "pad: padding {} makes dimension {} of input shape {} negative ({})", pads, d,
                a.shape(), out_shape[d]);
  }
  Tensor out = make_uninitialized(out_shape, a.dtype(), "pad");  // bounded there, with an error naming pad
  dispatch_all(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    std::fill_n(out.data_ptr<T>(), out.numel(), static_cast<T>(value));
  });
  // Copy the overlap of input and output, one dim at a time from the innermost.
  const std::int64_t rank = a.dim();
  if (rank == 0) {
    out = a.clone().detach();
  } else if (out.numel() > 0 && a.numel() > 0) {
    std::vector<std::int64_t> src_lo(rank, 0), dst_lo(rank, 0), extent(rank);
    bool empty_box = false;
    for (std::int64_t d = 0; d < rank; ++d) {
      const std::int64_t i = rank - 1 - d;
      const std::int64_t left = i < static_cast<std::int64_t>(pads.size() / 2) ? pads[2 * i] : 0;
      src_lo[d] = std::max<std::int64_t>(0, -left);
      dst_lo[d] = std::max<std::int64_t>(0, left);
      extent[d] = std::min(a.shape()[d] - src_lo[d], out_shape[d] - dst_lo[d]);
      if (extent[d] <= 0) empty_box = true;
    }
    if (!empty_box) {
      const Shape src_strides = contiguous_strides(a.shape()), dst_strides = contiguous_strides(out_shape);
      dispatch_all(a.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T* in = a.data_ptr<T>();
        T* o = out.data_ptr<T>();
        std::int64_t rows = 1;
        for (std::int64_t d = 0; d + 1 < rank; ++d) rows *= extent[d];
        std::vector<std::int64_t> index(rank, 0);
        for (std::int64_t r = 0; r < rows; ++r) {
          std::int64_t src = 0, dst = 0;
          for (std::int64_t d = 0; d < rank; ++d) {
            src += (src_lo[d] + index[d]) * src_strides[d];
            dst += (dst_lo[d] + index[d]) * dst_strides[d];
          }
          std::copy_n(in + src, extent[rank - 1], o + dst);
          for (std::int64_t d = rank - 2; d >= 0; --d) {
            if (++index[d] < extent[d]) break;
            index[d] = 0;
          }
        }
      });
    }
  }
  std::vector<std::int64_t> crop(pads.size());
  for (std::size_t i = 0; i < pads.size(); ++i) crop[i] = -pads[i];
  return record("PadBackward", out, {a}, [crop](const Tensor& g, const NeedsGrad&) {
    // padding adds constants: the gradient is the output gradient cropped back
    return std::vector<Tensor>{pad(g, crop, 0.0)};
  });
}

Tensor broadcast_to(const Tensor& a, const Shape& shape) {
  check_defined(a, "broadcast_to");
  const Shape result = broadcast_shapes(a.shape(), shape, "broadcast_to");
  XGRAD_CHECK(result == shape, "broadcast_to: cannot broadcast shape {} to shape {}", a.shape(), shape);
  checked_numel(shape, "broadcast_to");
  Tensor out = make_uninitialized(shape, a.dtype(), "broadcast_to");
  dispatch_all(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    detail::binary_loop(a.data_ptr<T>(), a.shape(), a.data_ptr<T>(), a.shape(), out.data_ptr<T>(), shape,
                        [](T x, T) { return x; });
  });
  return record("ExpandBackward", out, {a}, [input_shape = a.shape()](const Tensor& g, const NeedsGrad&) {
    // each input element was repeated: its gradient is the sum of its copies
    return std::vector<Tensor>{autograd::sum_to_shape(g, input_shape)};
  });
}

}  // namespace xgrad
