// Indexing: index_select, gather, flip, roll and Tensor::index. Each picks
// input elements by flat offset, out[j] = a[offsets[j]], so all share one
// differentiable primitive: its backward scatter-adds the gradient back to the
// offsets, and that scatter's own backward is the pick again (gradgradcheck).
#include <algorithm>
#include <cstring>
#include <memory>
#include <string>

#include "autograd/node.hpp"
#include "core/creation.hpp"
#include "ops/indexing.hpp"
#include "ops/ops.hpp"

namespace xgrad {

using autograd::NeedsGrad;
using autograd::record;

namespace {

using Offsets = std::shared_ptr<const std::vector<std::int64_t>>;

Tensor scatter_add_offsets(const Tensor& g, const Offsets& offsets, const Shape& shape, const std::string& name);

// out (shape out_shape) with out.flat[j] = a.flat[offsets[j]]; recorded as `name`.
Tensor take_offsets(const Tensor& a, const Offsets& offsets, const Shape& out_shape, const std::string& name) {
  Tensor out = make_uninitialized(out_shape, a.dtype(), name);
  const std::size_t size = element_size(a.dtype());
  const auto* from = static_cast<const char*>(a.impl()->storage->data());
  auto* to = static_cast<char*>(out.impl()->storage->data());
  for (std::size_t j = 0; j < offsets->size(); ++j) std::memcpy(to + j * size, from + (*offsets)[j] * size, size);
  return record(name, out, {a}, [offsets, shape = a.shape(), name](const Tensor& g, const NeedsGrad&) {
    // each picked element receives its output's gradient, summed over repeats
    return std::vector<Tensor>{scatter_add_offsets(g, offsets, shape, name)};
  });
}

// zeros(shape) with grad.flat[offsets[j]] += g.flat[j]: the adjoint of take_offsets.
Tensor scatter_add_offsets(const Tensor& g, const Offsets& offsets, const Shape& shape, const std::string& name) {
  Tensor grad = zeros(shape, {.dtype = g.dtype()});
  dispatch(g.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* from = g.data_ptr<T>();
    T* to = grad.data_ptr<T>();
    for (std::size_t j = 0; j < offsets->size(); ++j) to[(*offsets)[j]] += from[j];
  });
  return record(name + "Backward", grad, {g}, [offsets, g_shape = g.shape(), name](const Tensor& gg, const NeedsGrad&) {
    // the adjoint of a scatter-add picks the same offsets again
    return std::vector<Tensor>{take_offsets(gg, offsets, g_shape, name)};
  });
}

// Flat offsets into a tensor of `shape` for every element of the output, where
// along each dim d output position i reads input position sources[d][i].
Offsets offsets_from_sources(const Shape& shape, const std::vector<std::vector<std::int64_t>>& sources) {
  const Shape strides = contiguous_strides(shape);
  const auto rank = static_cast<std::int64_t>(shape.size());
  std::int64_t n = 1;
  for (const auto& s : sources) n *= static_cast<std::int64_t>(s.size());
  auto offsets = std::make_shared<std::vector<std::int64_t>>(static_cast<std::size_t>(n));
  if (n == 0) return offsets;
  std::vector<std::int64_t> index(static_cast<std::size_t>(rank), 0);
  for (std::int64_t j = 0; j < n; ++j) {
    std::int64_t offset = 0;
    for (std::int64_t d = 0; d < rank; ++d) offset += sources[d][index[d]] * strides[d];
    (*offsets)[j] = offset;
    for (std::int64_t d = rank - 1; d >= 0; --d) {
      if (++index[d] < static_cast<std::int64_t>(sources[d].size())) break;
      index[d] = 0;
    }
  }
  return offsets;
}

// Output position i reads input position i along every dim (the identity map).
std::vector<std::vector<std::int64_t>> identity_sources(const Shape& shape) {
  std::vector<std::vector<std::int64_t>> sources(shape.size());
  for (std::size_t d = 0; d < shape.size(); ++d) {
    sources[d].resize(static_cast<std::size_t>(shape[d]));
    for (std::int64_t i = 0; i < shape[d]; ++i) sources[d][i] = i;
  }
  return sources;
}

Tensor take_by_sources(const Tensor& a, const std::vector<std::vector<std::int64_t>>& sources, const std::string& name) {
  Shape out_shape;
  for (const auto& s : sources) out_shape.push_back(static_cast<std::int64_t>(s.size()));
  return take_offsets(a, offsets_from_sources(a.shape(), sources), out_shape, name);
}

void check_index_tensor(const Tensor& index, const char* op) {
  XGRAD_CHECK(index.defined(), "{}: the index is an undefined tensor", op);
  XGRAD_CHECK(index.dtype() == kInt64, "{}: the index must be a kInt64 tensor, got {} {} (convert with .to(kInt64))",
              op, index.dtype(), index.shape());
}

}  // namespace

Tensor index_select(const Tensor& a, std::int64_t dim, const Tensor& index) {
  XGRAD_CHECK(a.defined(), "index_select: called on an undefined tensor");
  check_index_tensor(index, "index_select");
  XGRAD_CHECK(index.dim() <= 1, "index_select: the index must be 0-D or 1-D, got shape {}", index.shape());
  XGRAD_CHECK(a.dim() > 0, "index_select: cannot index a 0-dim tensor");
  const std::int64_t d = normalize_dim(dim, a.dim(), "index_select");
  const std::int64_t extent = a.shape()[d];
  std::vector<std::vector<std::int64_t>> sources = identity_sources(a.shape());
  const std::int64_t* idx = index.data_ptr<std::int64_t>();
  sources[d].assign(idx, idx + index.numel());
  for (std::int64_t i : sources[d]) {
    XGRAD_CHECK(i >= 0 && i < extent, "index_select: index {} is out of range for dimension {} of size {} (shape {})",
                i, d, extent, a.shape());
  }
  return take_by_sources(a, sources, "IndexSelectBackward");
}

Tensor gather(const Tensor& a, std::int64_t dim, const Tensor& index) {
  XGRAD_CHECK(a.defined(), "gather: called on an undefined tensor");
  check_index_tensor(index, "gather");
  XGRAD_CHECK(index.dim() == a.dim(), "gather: the index (shape {}) must have as many dims as the input (shape {})",
              index.shape(), a.shape());
  const std::int64_t rank = a.dim();
  const std::int64_t d = normalize_dim(dim, rank, "gather");
  for (std::int64_t k = 0; k < rank; ++k) {
    XGRAD_CHECK(k == d || index.shape()[k] <= a.shape()[k],
                "gather: index of shape {} is larger than the input of shape {} in dimension {}", index.shape(),
                a.shape(), k);
  }
  const Shape strides = contiguous_strides(a.shape());
  const std::int64_t extent = rank == 0 ? 1 : a.shape()[d];
  const std::int64_t n = index.numel();
  auto offsets = std::make_shared<std::vector<std::int64_t>>(static_cast<std::size_t>(n));
  const std::int64_t* idx = index.data_ptr<std::int64_t>();
  std::vector<std::int64_t> position(static_cast<std::size_t>(rank), 0);
  for (std::int64_t j = 0; j < n; ++j) {
    XGRAD_CHECK(idx[j] >= 0 && idx[j] < extent, "gather: index {} is out of range for dimension {} of size {} (shape {})",
                idx[j], d, extent, a.shape());
    std::int64_t offset = 0;
    for (std::int64_t k = 0; k < rank; ++k) offset += (k == d ? idx[j] : position[k]) * strides[k];
    (*offsets)[j] = offset;
    for (std::int64_t k = rank - 1; k >= 0; --k) {
      if (++position[k] < index.shape()[k]) break;
      position[k] = 0;
    }
  }
  return take_offsets(a, offsets, index.shape(), "GatherBackward");
}

Tensor flip(const Tensor& a, const std::vector<std::int64_t>& dims) {
  XGRAD_CHECK(a.defined(), "flip: called on an undefined tensor");
  std::vector<std::vector<std::int64_t>> sources = identity_sources(a.shape());
  std::vector<bool> seen(static_cast<std::size_t>(std::max<std::int64_t>(a.dim(), 1)), false);
  for (std::int64_t dim : dims) {
    const std::int64_t d = normalize_dim(dim, a.dim(), "flip");
    XGRAD_CHECK(!seen[d], "flip: dim {} appears more than once in dims {}", d, dims);
    seen[d] = true;
    if (a.dim() > 0) std::reverse(sources[d].begin(), sources[d].end());
  }
  return take_by_sources(a, sources, "FlipBackward");
}

Tensor roll(const Tensor& a, const std::vector<std::int64_t>& shifts, const std::vector<std::int64_t>& dims) {
  XGRAD_CHECK(a.defined(), "roll: called on an undefined tensor");
  if (dims.empty()) {
    // As PyTorch: rolled as if flattened, then given its shape back.
    XGRAD_CHECK(shifts.size() == 1, "roll: without dims, expected one shift, got {}", shifts);
    return roll(a.reshape({-1}), shifts, {0}).reshape(a.shape());
  }
  XGRAD_CHECK(shifts.size() == dims.size(), "roll: shifts {} and dims {} must have the same length", shifts, dims);
  std::vector<std::vector<std::int64_t>> sources = identity_sources(a.shape());
  for (std::size_t k = 0; k < dims.size(); ++k) {
    const std::int64_t d = normalize_dim(dims[k], a.dim(), "roll");
    const std::int64_t extent = a.dim() == 0 ? 1 : a.shape()[d];
    if (extent == 0 || a.dim() == 0) continue;
    // out[i] = in[(i - shift) mod extent]; the shift is reduced first, so no overflow.
    const std::int64_t shift = ((shifts[k] % extent) + extent) % extent;
    std::vector<std::int64_t>& s = sources[d];
    std::rotate(s.begin(), s.begin() + (extent - shift) % extent, s.end());
  }
  return take_by_sources(a, sources, "RollBackward");
}

Tensor Tensor::index_select(std::int64_t dim, const Tensor& index) const { return xgrad::index_select(*this, dim, index); }
Tensor Tensor::gather(std::int64_t dim, const Tensor& index) const { return xgrad::gather(*this, dim, index); }
Tensor Tensor::flip(const std::vector<std::int64_t>& dims) const { return xgrad::flip(*this, dims); }
Tensor Tensor::roll(const std::vector<std::int64_t>& shifts, const std::vector<std::int64_t>& dims) const {
  return xgrad::roll(*this, shifts, dims);
}

Tensor Tensor::index(const std::vector<indexing::TensorIndex>& indices) const {
  using Kind = indexing::TensorIndex::Kind;
  XGRAD_CHECK(defined(), "index: called on an undefined tensor");
  // Dims the indices name (a mask names as many as it has), to size the Ellipsis.
  std::int64_t named = 0, ellipses = 0, tensors = 0;
  for (const indexing::TensorIndex& index : indices) {
    switch (index.kind()) {
      case Kind::Integer:
      case Kind::Slice: ++named; break;
      case Kind::EllipsisIndex: ++ellipses; break;
      case Kind::NoneIndex: break;
      case Kind::Tensor: {
        const Tensor& t = index.tensor();
        XGRAD_CHECK(t.defined(), "index: a tensor index is undefined");
        XGRAD_CHECK(t.dtype() == kBool || t.dtype() == kInt64,
                    "index: a tensor index must be a kBool mask or kInt64 indices, got {} {}", t.dtype(), t.shape());
        XGRAD_CHECK(t.dtype() != kBool || t.dim() > 0, "index: a 0-dim mask is not supported");
        named += t.dtype() == kBool ? t.dim() : 1;
        ++tensors;
        break;
      }
    }
  }
  XGRAD_CHECK(ellipses <= 1, "index: an index can only have a single ellipsis, got {}", ellipses);
  XGRAD_CHECK(tensors <= 1, "index: at most one tensor index is supported, got {}", tensors);
  XGRAD_CHECK(named <= dim(), "index: too many indices for a tensor of shape {} ({} dims indexed)", shape(), named);
  Tensor result = *this;
  std::int64_t d = 0;  // the dim of `result` the next index applies to
  for (const indexing::TensorIndex& index : indices) {
    switch (index.kind()) {
      case Kind::NoneIndex:
        result = result.unsqueeze(d);
        ++d;
        break;
      case Kind::EllipsisIndex:
        d += dim() - named;
        break;
      case Kind::Integer: {
        const std::int64_t extent = result.shape()[d];
        const std::int64_t i = index.integer();
        XGRAD_CHECK(i >= -extent && i < extent, "index: index {} is out of range for dimension {} of size {} (shape {})",
                    i, d, extent, result.shape());
        const std::int64_t at = i < 0 ? i + extent : i;
        result = result.slice(d, at, at + 1).squeeze(d);
        break;
      }
      case Kind::Slice: {
        const indexing::Slice& s = index.slice();
        XGRAD_CHECK(s.step() > 0, "index: slice step must be positive, got {}", s.step());
        result = result.slice(d, s.start(), s.stop(), s.step());
        ++d;
        break;
      }
      case Kind::Tensor: {
        const Tensor& t = index.tensor();
        const Shape& shape = result.shape();
        if (t.dtype() == kBool) {
          // A mask over dims d .. d+k: those dims become one, holding the selected elements in row-major order.
          const auto k = t.dim();
          const Shape covered(shape.begin() + d, shape.begin() + d + k);
          XGRAD_CHECK(covered == t.shape(),
                      "index: the mask of shape {} does not match the indexed dims {} of the tensor's shape {}",
                      t.shape(), covered, shape);
          Shape merged(shape.begin(), shape.begin() + d);
          merged.push_back(t.numel());
          merged.insert(merged.end(), shape.begin() + d + k, shape.end());
          std::vector<std::int64_t> positions;
          const bool* m = t.data_ptr<bool>();
          for (std::int64_t i = 0; i < t.numel(); ++i)
            if (m[i]) positions.push_back(i);
          Tensor chosen = empty({static_cast<std::int64_t>(positions.size())}, {.dtype = kInt64});
          std::copy(positions.begin(), positions.end(), chosen.data_ptr<std::int64_t>());
          result = xgrad::index_select(result.reshape(merged), d, chosen);
          ++d;
        } else {
          // Indices into dim d (negative from the end): dim d becomes the index's shape.
          const std::int64_t extent = shape[d];
          Tensor flat = empty({t.numel()}, {.dtype = kInt64});
          const std::int64_t* from = t.data_ptr<std::int64_t>();
          std::int64_t* to = flat.data_ptr<std::int64_t>();
          for (std::int64_t i = 0; i < t.numel(); ++i) {
            XGRAD_CHECK(from[i] >= -extent && from[i] < extent,
                        "index: index {} is out of range for dimension {} of size {} (shape {})", from[i], d, extent,
                        shape);
            to[i] = from[i] < 0 ? from[i] + extent : from[i];
          }
          Shape out_shape(shape.begin(), shape.begin() + d);
          out_shape.insert(out_shape.end(), t.shape().begin(), t.shape().end());
          out_shape.insert(out_shape.end(), shape.begin() + d + 1, shape.end());
          result = xgrad::index_select(result, d, flat).reshape(out_shape);
          d += t.dim();
        }
        break;
      }
    }
  }
  return result;
}

}  // namespace xgrad
