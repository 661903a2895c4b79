// Internal: the loops that elementwise ops run over raw pointers, with NumPy
// broadcasting. Not part of the public API.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/parallel.hpp"
#include "core/tensor.hpp"

namespace xgrad::detail {

// Strides (in elements) for reading `shape` broadcast to `out_shape`: 0 where
// the input is broadcast along a dimension.
inline Shape broadcast_strides(const Shape& shape, const Shape& out_shape) {
  Shape strides(out_shape.size(), 0);
  const Shape own = contiguous_strides(shape);
  const std::size_t lead = out_shape.size() - shape.size();
  for (std::size_t i = 0; i < shape.size(); ++i) {
    strides[lead + i] = shape[i] == 1 ? 0 : own[i];
  }
  return strides;
}

// Sum of n contiguous values in double, over 8 independent lanes: a single running total is a
// serial chain of dependent adds (4 cycles each; 8M floats took 12 ms, now the memory's 2-3 ms).
// The order is fixed, so the result is too.
template <class T>
double sum_in_double(const T* row, std::int64_t n) {
  double lanes[8] = {};
  std::int64_t l = 0;
  for (; l + 8 <= n; l += 8)
    for (int j = 0; j < 8; ++j) lanes[j] += static_cast<double>(row[l + j]);
  double sum = ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5])) + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]));
  for (; l < n; ++l) sum += static_cast<double>(row[l]);
  return sum;
}

// Elementwise loops are memory-bound: below this many elements one thread is
// faster than waking the pool.
inline constexpr std::int64_t kElementwiseGrain = 1 << 15;

// out[i] = f(a[i]) over a contiguous buffer, split across the thread pool.
template <class T, class F>
void unary_loop(const T* a, T* out, std::int64_t n, F f) {
  parallel_for(n, kElementwiseGrain, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) {
      out[i] = f(a[i]);
    }
  });
}

// out = f(a, b) with broadcasting; out has shape out_shape. Fast paths for equal
// shapes and scalars; otherwise an odometer over all but the last dimension.
template <class T, class F>
void binary_loop(const T* a, const Shape& a_shape, const T* b, const Shape& b_shape, T* out, const Shape& out_shape,
                 F f) {
  std::int64_t n = 1;
  for (std::int64_t extent : out_shape) {
    n *= extent;
  }
  if (n == 0) {
    return;
  }
  std::int64_t a_numel = 1, b_numel = 1;
  for (std::int64_t extent : a_shape) a_numel *= extent;
  for (std::int64_t extent : b_shape) b_numel *= extent;
  if (a_numel == 1 && b_numel == 1) {  // a fill: broadcast_to of one value, sum's gradient
    const T value = f(a[0], b[0]);
    parallel_for(n, kElementwiseGrain, [&](std::int64_t begin, std::int64_t end) {
      std::fill(out + begin, out + end, value);
    });
    return;
  }
  if (a_numel == n && b_numel == n) {
    parallel_for(n, kElementwiseGrain, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t i = begin; i < end; ++i) out[i] = f(a[i], b[i]);
    });
    return;
  }
  if (b_numel == 1 && a_numel == n) {
    const T bv = b[0];
    parallel_for(n, kElementwiseGrain, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t i = begin; i < end; ++i) out[i] = f(a[i], bv);
    });
    return;
  }
  if (a_numel == 1 && b_numel == n) {
    const T av = a[0];
    parallel_for(n, kElementwiseGrain, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t i = begin; i < end; ++i) out[i] = f(av, b[i]);
    });
    return;
  }
  const Shape sa = broadcast_strides(a_shape, out_shape);
  const Shape sb = broadcast_strides(b_shape, out_shape);
  const auto rank = static_cast<std::int64_t>(out_shape.size());
  const std::int64_t inner = out_shape[rank - 1];
  const std::int64_t ia = sa[rank - 1], ib = sb[rank - 1];
  std::vector<std::int64_t> index(rank, 0);
  std::int64_t offset_a = 0, offset_b = 0;
  for (std::int64_t done = 0; done < n; done += inner) {
    T* o = out + done;
    for (std::int64_t j = 0; j < inner; ++j) {
      o[j] = f(a[offset_a + j * ia], b[offset_b + j * ib]);
    }
    // Advance the odometer over dimensions rank-2 .. 0.
    for (std::int64_t d = rank - 2; d >= 0; --d) {
      ++index[d];
      offset_a += sa[d];
      offset_b += sb[d];
      if (index[d] < out_shape[d]) {
        break;
      }
      offset_a -= sa[d] * out_shape[d];
      offset_b -= sb[d] * out_shape[d];
      index[d] = 0;
    }
  }
}

}  // namespace xgrad::detail
