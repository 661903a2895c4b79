// Matrix products with torch.matmul's rules.
#include <algorithm>

#include "autograd/grad_mode.hpp"
#include "autograd/node.hpp"
#include "core/creation.hpp"
#include "ops/ops.hpp"

namespace xgrad {

using autograd::NeedsGrad;
using autograd::record;

namespace {

// C (m x n) = A (m x k) @ B (k x n), all row-major contiguous. The i-p-j order
// streams rows of B and C, which the compiler vectorizes.
template <class T>
void gemm(const T* a, const T* b, T* c, std::int64_t m, std::int64_t k, std::int64_t n) {
  std::fill_n(c, m * n, T(0));
  for (std::int64_t i = 0; i < m; ++i) {
    T* c_row = c + i * n;
    for (std::int64_t p = 0; p < k; ++p) {
      const T a_ip = a[i * k + p];
      const T* b_row = b + p * n;
      for (std::int64_t j = 0; j < n; ++j) c_row[j] += a_ip * b_row[j];
    }
  }
}

// Batched product of operands of rank >= 2, broadcasting the batch dims.
Tensor batched_matmul(const Tensor& a, const Tensor& b) {
  const Shape& sa = a.shape();
  const Shape& sb = b.shape();
  const std::int64_t m = sa[sa.size() - 2], k = sa[sa.size() - 1];
  const std::int64_t kb = sb[sb.size() - 2], n = sb[sb.size() - 1];
  XGRAD_CHECK(k == kb, "matmul: shapes {} and {} cannot be multiplied ({}x{} and {}x{})", sa, sb, m, k, kb, n);
  const Shape batch_a(sa.begin(), sa.end() - 2), batch_b(sb.begin(), sb.end() - 2);
  const Shape batch = broadcast_shapes(batch_a, batch_b, "matmul");
  Shape full_a = batch, full_b = batch, out_shape = batch;
  full_a.insert(full_a.end(), {m, k});
  full_b.insert(full_b.end(), {k, n});
  out_shape.insert(out_shape.end(), {m, n});
  checked_numel(out_shape, "matmul");
  // Materialize broadcast batches (no-ops when the batch shapes already match).
  Tensor ea, eb;
  {
    NoGradGuard no_grad;
    ea = sa == full_a ? a : broadcast_to(a, full_a);
    eb = sb == full_b ? b : broadcast_to(b, full_b);
  }
  Tensor out = make_uninitialized(out_shape, a.dtype(), "matmul");
  std::int64_t batches = 1;
  for (std::int64_t extent : batch) batches *= extent;
  dispatch(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    for (std::int64_t i = 0; i < batches; ++i) {
      gemm(ea.data_ptr<T>() + i * m * k, eb.data_ptr<T>() + i * k * n, out.data_ptr<T>() + i * m * n, m, k, n);
    }
  });
  return record("MmBackward", out, {a, b}, [a = autograd::SavedTensor(a), b = autograd::SavedTensor(b)](const Tensor& g, const NeedsGrad& needs) {
    // C = A B:  dL/dA = dL/dC B^T,  dL/dB = A^T dL/dC  (batch dims summed by the engine)
    Tensor grad_a = needs[0] ? batched_matmul(g, b.get().transpose(-1, -2)) : Tensor();
    Tensor grad_b = needs[1] ? batched_matmul(a.get().transpose(-1, -2), g) : Tensor();
    return std::vector<Tensor>{grad_a, grad_b};
  });
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  XGRAD_CHECK(a.defined() && b.defined(), "matmul: an operand is an undefined tensor");
  XGRAD_CHECK(a.dim() >= 1 && b.dim() >= 1, "matmul: both operands need at least one dimension, got shapes {} and {}",
              a.shape(), b.shape());
  XGRAD_CHECK(a.dtype() == b.dtype(), "matmul: operands have different dtypes ({} {} and {} {})", a.dtype(), a.shape(),
              b.dtype(), b.shape());
  XGRAD_CHECK(is_floating_point(a.dtype()), "matmul: expected floating-point tensors (float32 or float64), got {} {} "
              "and {} {}; convert them with .to(kFloat32)", a.dtype(), a.shape(), b.dtype(), b.shape());
  // 1-D operands become a row (left) or a column (right), and that dim is removed after.
  const Tensor a2 = a.dim() == 1 ? a.unsqueeze(0) : a;
  const Tensor b2 = b.dim() == 1 ? b.unsqueeze(1) : b;
  XGRAD_CHECK(a2.shape().back() == b2.shape()[b2.dim() - 2],
              "matmul: shapes {} and {} cannot be multiplied (inner dimensions {} and {} differ)", a.shape(), b.shape(),
              a2.shape().back(), b2.shape()[b2.dim() - 2]);
  Tensor out = batched_matmul(a2, b2);
  if (b.dim() == 1) out = out.squeeze(-1);
  if (a.dim() == 1) out = out.squeeze(a.dim() == 1 && b.dim() == 1 ? -1 : -2);
  return out;
}

}  // namespace xgrad
