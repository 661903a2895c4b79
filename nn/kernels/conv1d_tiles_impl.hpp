// Internal: the Conv1d register tiles, written once over GCC vector extensions. Included only by
// conv1d_generic.cpp, conv1d_avx2.cpp and conv1d_avx512.cpp, each defining XGRAD_TILE_NAMESPACE
// and XGRAD_VECTOR_BYTES and compiled with its own -m flags (see cmake/XgradKernels.cmake).
// Everything here lives in that per-ISA namespace and uses no standard library code, so no
// inline function compiled for AVX-512 can be merged by the linker into a caller on another CPU.
//
// Blocking (why these shapes): a direct tile keeps rows x (NR vectors) accumulators in registers
// across the whole reduction over (channel, tap); each reduction step loads NR input vectors and
// broadcasts `rows` weights, so it does rows*NR FMAs for rows + NR + 1 loads. AVX2 (16 ymm): 4 x 3
// = 12 accumulators; AVX-512 (32 zmm): 8 x 2 = 16; SSE: 4 x 2. The thin tile (1 x 8 vectors) serves
// depthwise convolutions, where a group has one output channel. A reduce tile accumulates
// rows x taps vector partial sums along the length and adds them up horizontally once at the end
// (4 x 3 on AVX2 and AVX-512); its one-row forms (1 x 3 taps, 3 vectors a step; 1 x 4, 2 vectors)
// keep 8-9 sums in flight.
// AVX-512 keeps 8 x 2 direct tiles (wider ones pad the flagship's short layers, 121 and 28
// positions, to 144 and 48) and 4 x 3 reduce tiles (more accumulators only add line-crossing tap
// loads); bench/README.md, "Tuning decisions", has the measurements.
#include <cstdint>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#ifndef XGRAD_TILE_NAMESPACE
#error "define XGRAD_TILE_NAMESPACE and XGRAD_VECTOR_BYTES before including conv1d_tiles_impl.hpp"
#endif

namespace xgrad::nn::kernels::detail::XGRAD_TILE_NAMESPACE {

template <class T>
struct Simd;
template <>
struct Simd<float> {
  typedef float Vec __attribute__((vector_size(XGRAD_VECTOR_BYTES)));
  typedef float Unaligned __attribute__((vector_size(XGRAD_VECTOR_BYTES), aligned(4), may_alias));
  static constexpr int width = XGRAD_VECTOR_BYTES / 4;
};
template <>
struct Simd<double> {
  typedef double Vec __attribute__((vector_size(XGRAD_VECTOR_BYTES)));
  typedef double Unaligned __attribute__((vector_size(XGRAD_VECTOR_BYTES), aligned(8), may_alias));
  static constexpr int width = XGRAD_VECTOR_BYTES / 8;
};

template <class T>
inline typename Simd<T>::Vec load(const T* p) {
  return *reinterpret_cast<const typename Simd<T>::Unaligned*>(p);
}
template <class T>
inline void store(T* p, typename Simd<T>::Vec v) {
  *reinterpret_cast<typename Simd<T>::Unaligned*>(p) = v;
}
// A store that bypasses the caches (p aligned to the vector), for outputs far bigger than the
// caches: a normal store first reads the line it writes (a third more traffic when streaming).
template <class T>
inline void stream(T* p, typename Simd<T>::Vec v) {
#if defined(__x86_64__)
  if constexpr (sizeof(T) == 4 && XGRAD_VECTOR_BYTES == 16) _mm_stream_ps(p, v);
  else if constexpr (sizeof(T) == 8 && XGRAD_VECTOR_BYTES == 16) _mm_stream_pd(p, v);
  else if constexpr (sizeof(T) == 4 && XGRAD_VECTOR_BYTES == 32) _mm256_stream_ps(p, v);
  else if constexpr (sizeof(T) == 8 && XGRAD_VECTOR_BYTES == 32) _mm256_stream_pd(p, v);
#if defined(__AVX512F__)
  else if constexpr (sizeof(T) == 4) _mm512_stream_ps(p, v);
  else _mm512_stream_pd(p, v);
#else  // 64-byte vectors on AVX2 (conv1d_avx512_on_avx2.cpp): two 32-byte halves
  else if constexpr (sizeof(T) == 4) {
    _mm256_stream_ps(p, __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7));
    _mm256_stream_ps(p + 8, __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15));
  } else {
    _mm256_stream_pd(p, __builtin_shufflevector(v, v, 0, 1, 2, 3));
    _mm256_stream_pd(p + 4, __builtin_shufflevector(v, v, 4, 5, 6, 7));
  }
#endif
#else
  store(p, v);
#endif
}
// The first `count` (0 < count < width) values at p as a vector, zeros after them; reads nothing
// past p + count (masked loads on AVX-512 and AVX2, a copy elsewhere).
template <class T>
inline typename Simd<T>::Vec load_partial(const T* p, int count) {
#if defined(__AVX512F__) && XGRAD_VECTOR_BYTES == 64
  if constexpr (sizeof(T) == 4) return _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << count) - 1), p);
  else return _mm512_maskz_loadu_pd(static_cast<__mmask8>((1u << count) - 1), p);
#elif defined(__AVX2__) && XGRAD_VECTOR_BYTES == 32
  if constexpr (sizeof(T) == 4) {
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_maskload_ps(p, _mm256_cmpgt_epi32(_mm256_set1_epi32(count), lanes));
  } else {
    const __m256i lanes = _mm256_setr_epi64x(0, 1, 2, 3);
    return _mm256_maskload_pd(p, _mm256_cmpgt_epi64(_mm256_set1_epi64x(count), lanes));
  }
#else
  T values[Simd<T>::width] = {};
  for (int i = 0; i < count; ++i) values[i] = p[i];
  return load(values);
#endif
}
// An empty asm that claims to change v, so v must sit in a register. Without it GCC folds the load
// of a value that several FMAs use into each of them (a load per FMA): the 4 x 3 reduce tile did 15
// loads per 12 FMAs and ran at half speed (7.8 vs 13-14 cycles a step, loop alone, in L1).
template <class V>
inline void keep_in_register(V& v) {
#if defined(__x86_64__) && (XGRAD_VECTOR_BYTES < 64 || defined(__AVX512F__))  // (no one register on AVX2)
  __asm__("" : "+v"(v));
#else
  (void)v;
#endif
}
// A braced list of equal elements becomes one vbroadcastss/sd from memory. (`Vec{} + x` costs a
// real add, since 0 + x is not an identity for x = -0; a fill loop costs a broadcast plus an insert.)
template <class T>
inline typename Simd<T>::Vec broadcast(T x) {
  using Vec = typename Simd<T>::Vec;
  constexpr int width = Simd<T>::width;
  if constexpr (width == 2) return Vec{x, x};
  else if constexpr (width == 4) return Vec{x, x, x, x};
  else if constexpr (width == 8) return Vec{x, x, x, x, x, x, x, x};
  else return Vec{x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x};
}
template <class T>
inline T horizontal_sum(typename Simd<T>::Vec v) {
  T sum = 0;
  for (int i = 0; i < Simd<T>::width; ++i) sum += v[i];
  return sum;
}

// The horizontal sums of `width` vectors at once, as one vector: lane i = the sum of v[i]'s lanes.
// A tree of shuffles and adds: at level `s`, each vector holds partial sums of s source vectors
// (lane i: source i % s, partial i / s), and pairs of them fold into 2s sources with half the
// partials. width - 1 adds and 2 (width - 1) shuffles, against width (width - 1) scalar adds and
// as many lane extractions one at a time.
template <int... Lanes>
struct LaneList {};
template <int Width>
struct AllLanes;
template <>
struct AllLanes<2> { using type = LaneList<0, 1>; };
template <>
struct AllLanes<4> { using type = LaneList<0, 1, 2, 3>; };
template <>
struct AllLanes<8> { using type = LaneList<0, 1, 2, 3, 4, 5, 6, 7>; };
template <>
struct AllLanes<16> { using type = LaneList<0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15>; };
// Lane of (x, y) that output lane i adds first at level s; the second is s lanes on.
constexpr int fold_lane(int i, int s, int width) {
  const int source = i % (2 * s), partial = i / (2 * s);
  return (source < s ? 0 : width) + 2 * partial * s + source % s;
}
template <class Vec, int S, int Width, int... I>
inline Vec fold(Vec x, Vec y, LaneList<I...>) {
  return __builtin_shufflevector(x, y, fold_lane(I, S, Width)...) + __builtin_shufflevector(x, y, (fold_lane(I, S, Width) + S)...);
}
template <class T, int S = 1>
inline void fold_levels(typename Simd<T>::Vec* v, int count) {
  constexpr int width = Simd<T>::width;
  if constexpr (S < width) {
    for (int i = 0; i < count / 2; ++i)
      v[i] = fold<typename Simd<T>::Vec, S, width>(v[2 * i], v[2 * i + 1], typename AllLanes<width>::type{});
    fold_levels<T, 2 * S>(v, count / 2);
  }
}
template <class T>
inline typename Simd<T>::Vec horizontal_sums(typename Simd<T>::Vec* v) {
  fold_levels<T>(v, Simd<T>::width);
  return v[0];
}

template <class T, int Rows, int Vectors, bool Streaming = false>
void direct_tile(const T* source, const int64_t* offsets, int64_t taps, const T* weights, const T* init, int valid_rows,
                 int valid_cols, T* out, int64_t out_row_stride, int64_t out_column_stride) {
  using Vec = typename Simd<T>::Vec;
  constexpr int width = Simd<T>::width;
  Vec acc[Rows][Vectors];
  // Every row is Vectors full vectors, contiguous in `out`: loaded and stored directly.
  const bool whole_rows = valid_cols == Vectors * width && out_column_stride == 1;
  if (init) {
#pragma GCC unroll 16
    for (int m = 0; m < Rows; ++m)
#pragma GCC unroll 16
      for (int v = 0; v < Vectors; ++v) acc[m][v] = broadcast(init[m]);
  } else {  // continue the sums already in `out` (a later chunk of the reduction)
#pragma GCC unroll 16
    for (int m = 0; m < Rows; ++m) {
      if (m < valid_rows && whole_rows) {
#pragma GCC unroll 16
        for (int v = 0; v < Vectors; ++v) acc[m][v] = load(out + m * out_row_stride + v * width);
      } else if (m < valid_rows) {  // a partial or strided row, through a zero-padded copy
        T row[Vectors * width] = {};
        for (int j = 0; j < valid_cols; ++j) row[j] = out[m * out_row_stride + j * out_column_stride];
#pragma GCC unroll 16
        for (int v = 0; v < Vectors; ++v) acc[m][v] = load(row + v * width);
      } else {  // a row past the valid ones: computed, never stored
#pragma GCC unroll 16
        for (int v = 0; v < Vectors; ++v) acc[m][v] = broadcast(T(0));
      }
    }
  }
  for (int64_t t = 0; t < taps; ++t) {
    const T* x = source + offsets[t];
    const T* w = weights + t * Rows;
    Vec xs[Vectors];
#pragma GCC unroll 16
    for (int v = 0; v < Vectors; ++v) xs[v] = load(x + v * width);
#pragma GCC unroll 16
    for (int m = 0; m < Rows; ++m) {
      const Vec wm = broadcast(w[m]);
#pragma GCC unroll 16
      for (int v = 0; v < Vectors; ++v) acc[m][v] += wm * xs[v];
    }
  }
  // Every loop over rows and vectors here and above is unrolled, so that acc is only ever indexed
  // by constants and stays in registers from its first value to its store (a loop to valid_rows
  // would keep it on the stack: a store and a load more per accumulator and call).
  if (whole_rows) {
#pragma GCC unroll 16
    for (int m = 0; m < Rows; ++m) {
      if (m >= valid_rows) break;
      T* row = out + m * out_row_stride;
      if (Streaming && reinterpret_cast<std::uintptr_t>(row) % XGRAD_VECTOR_BYTES == 0) {
#pragma GCC unroll 16
        for (int v = 0; v < Vectors; ++v) stream(row + v * width, acc[m][v]);
      } else {
#pragma GCC unroll 16
        for (int v = 0; v < Vectors; ++v) store(row + v * width, acc[m][v]);
      }
    }
    return;
  }
  // Partial or strided tile (the last columns, or backward input with stride > 1).
  T row[Vectors * width];
#pragma GCC unroll 16
  for (int m = 0; m < Rows; ++m) {
    if (m >= valid_rows) break;
#pragma GCC unroll 16
    for (int v = 0; v < Vectors; ++v) store(row + v * width, acc[m][v]);
    for (int j = 0; j < valid_cols; ++j) out[m * out_row_stride + j * out_column_stride] = row[j];
  }
}

// Unroll: vectors along the length per step, each with its own accumulators, so that at least 8
// independent sums hide the FMA latency (a 1 x 4 tile alone waits on it: 4 sums, 4 cycles apart).
template <class T, int Rows, int Taps, int Unroll>
void reduce_tile(const T* left, int64_t left_row_stride, int valid_rows, const T* right, const int64_t* right_offsets,
                 int valid_taps, int64_t length, T* out, int64_t out_row_stride) {
  using Vec = typename Simd<T>::Vec;
  constexpr int width = Simd<T>::width;
  // Rows and taps past the valid ones repeat the last valid one: harmless work, never stored.
  const T* a[Rows];
  const T* b[Taps];
  for (int m = 0; m < Rows; ++m) a[m] = left + (m < valid_rows ? m : valid_rows - 1) * left_row_stride;
  for (int t = 0; t < Taps; ++t) b[t] = right + right_offsets[t < valid_taps ? t : valid_taps - 1];
  Vec acc[Unroll][Rows][Taps];
#pragma GCC unroll 16
  for (int u = 0; u < Unroll; ++u)
#pragma GCC unroll 16
    for (int m = 0; m < Rows; ++m)
#pragma GCC unroll 16
      for (int t = 0; t < Taps; ++t) acc[u][m][t] = Vec{};
  const int64_t unrolled_length = length / (Unroll * width) * (Unroll * width);
  const int64_t vector_length = length / width * width;
  for (int64_t j = 0; j < unrolled_length; j += Unroll * width)
#pragma GCC unroll 16
    for (int u = 0; u < Unroll; ++u) {
      Vec bs[Taps];
#pragma GCC unroll 16
      for (int t = 0; t < Taps; ++t) bs[t] = load(b[t] + j + u * width);
#pragma GCC unroll 16
      for (int m = 0; m < Rows; ++m) {
        Vec am = load(a[m] + j + u * width);
        keep_in_register(am);
#pragma GCC unroll 16
        for (int t = 0; t < Taps; ++t) acc[u][m][t] += am * bs[t];
      }
    }
  for (int64_t j = unrolled_length; j < vector_length; j += width)
#pragma GCC unroll 16
    for (int m = 0; m < Rows; ++m) {
      const Vec am = load(a[m] + j);
#pragma GCC unroll 16
      for (int t = 0; t < Taps; ++t) acc[0][m][t] += am * load(b[t] + j);
    }
  // The last length % width products as one more vector step, zeros past `length`: reading whole
  // vectors there would multiply values outside the reduction (0 * Inf = NaN would leak into the
  // sum); one at a time, they would be 8 of every 24 products on 24-long outputs.
  if (const int tail = static_cast<int>(length - vector_length); tail > 0) {
    Vec bs[Taps];
#pragma GCC unroll 16
    for (int t = 0; t < Taps; ++t) bs[t] = load_partial(b[t] + vector_length, tail);
#pragma GCC unroll 16
    for (int m = 0; m < Rows; ++m) {
      const Vec am = load_partial(a[m] + vector_length, tail);
#pragma GCC unroll 16
      for (int t = 0; t < Taps; ++t) acc[0][m][t] += am * bs[t];
    }
  }
  // Each (row, tap)'s vector sum, then all of them summed across lanes a width at a time.
  constexpr int sums_count = (Rows * Taps + width - 1) / width * width;
  Vec partial[sums_count];
  T totals[sums_count];
#pragma GCC unroll 16
  for (int i = 0; i < sums_count; ++i) {
    partial[i] = Vec{};
    if (i < Rows * Taps)
#pragma GCC unroll 16
      for (int u = 0; u < Unroll; ++u) partial[i] += acc[u][i / Taps][i % Taps];
  }
#pragma GCC unroll 16
  for (int i = 0; i < sums_count; i += width) store(totals + i, horizontal_sums<T>(partial + i));
  for (int m = 0; m < valid_rows; ++m)
    for (int t = 0; t < valid_taps; ++t) out[m * out_row_stride + t] += totals[m * Taps + t];
}

template <class T>
T sum(const T* values, int64_t count) {
  using Vec = typename Simd<T>::Vec;
  constexpr int width = Simd<T>::width;
  Vec acc[4] = {};
  int64_t i = 0;
  for (; i + 4 * width <= count; i += 4 * width)
#pragma GCC unroll 4
    for (int v = 0; v < 4; ++v) acc[v] += load(values + i + v * width);
  T total = horizontal_sum<T>((acc[0] + acc[1]) + (acc[2] + acc[3]));
  for (; i < count; ++i) total += values[i];
  return total;
}

template <class T, int WideRows, int WideVectors, int ReduceRows, int ReduceTaps>
constexpr TileKernels<T> make_tile_kernels(const TileKernels<T>* narrower = nullptr) {
  constexpr int width = Simd<T>::width;
  return {width,
          {WideRows, WideVectors * width, &direct_tile<T, WideRows, WideVectors>, nullptr},
          {1, 8 * width, &direct_tile<T, 1, 8>, &direct_tile<T, 1, 8, true>},
          {ReduceRows, ReduceTaps, &reduce_tile<T, ReduceRows, ReduceTaps, 1>},
          {{1, 3, &reduce_tile<T, 1, 3, 3>}, {1, 4, &reduce_tile<T, 1, 4, 2>}},
          &sum<T>,
          narrower};
}

}  // namespace xgrad::nn::kernels::detail::XGRAD_TILE_NAMESPACE
