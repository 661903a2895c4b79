#pragma once
// Internal: the register-tile microkernels of the fast Conv1d kernels, as tables of function
// pointers, one table per instruction set. conv1d_tiles_impl.hpp defines the tiles once;
// conv1d_generic.cpp, conv1d_avx2.cpp and conv1d_avx512.cpp compile it with different vector widths
// and flags; conv1d_direct.cpp and conv1d_backward_weight.cpp pack the data, split the work and call
// the table the CPU supports (conv1d_isa.cpp).
#include <cstdint>

namespace xgrad::nn::kernels::detail {

// One rows x cols output tile of a direct convolution, held in registers for the whole reduction:
//   tile[m][j] = init[m] + sum_{t < taps} weights[t * rows + m] * source[offsets[t] + j]
// for m < rows, j < cols; then rows m < valid_rows, columns j < valid_cols are stored to
// out[m * out_row_stride + j * out_column_stride]. `init` has `rows` entries; when null the tile
// starts from the values already in `out` instead (to continue a reduction split into chunks). Reads source[offsets[t] + j]
// for every j < cols, so the caller pads the source. Forward: m = output channel, t = (input channel, tap).
// Backward input: m = input channel, t = (output channel, tap), source = the output gradient.
template <class T>
struct DirectTile {
  int rows, cols;
  void (*run)(const T* source, const int64_t* offsets, int64_t taps, const T* weights, const T* init, int valid_rows,
              int valid_cols, T* out, int64_t out_row_stride, int64_t out_column_stride);
  // The same, but whole tile rows that start on a vector boundary are stored past the caches
  // (non-temporal), for outputs far bigger than the caches and not read again soon. The caller
  // fences (sfence) before other threads read them. Null for the wide tile, whose rows are not
  // whole cache lines.
  decltype(run) run_streaming;
};

// One rows x taps block of dot products along the output length (the weight gradient):
//   out[a * out_row_stride + b] += sum_{j < length} left[a * left_row_stride + j] * right[right_offsets[b] + j]
// for a < valid_rows, b < valid_taps, over exactly `length` values (the tail past the last whole
// vector is summed one by one; nothing past `length` is read).
template <class T>
struct ReduceTile {
  int rows, taps;
  void (*run)(const T* left, int64_t left_row_stride, int valid_rows, const T* right, const int64_t* right_offsets,
              int valid_taps, int64_t length, T* out, int64_t out_row_stride);
};

template <class T>
struct TileKernels {
  int vector_width;                        // elements of T per SIMD register
  DirectTile<T> direct_wide, direct_thin;  // thin: one row, for depthwise-like shapes
  ReduceTile<T> reduce_wide;
  ReduceTile<T> reduce_thin[2];  // one row (depthwise) x 3 or x 4 taps: see thin_reduce_tile
  T (*sum)(const T* values, int64_t count);
  // Tiles of half-width vectors that the fast kernels use instead for work much narrower than these
  // tiles (see tiles() in conv1d_blocking.hpp), or null: AVX-512 -> AVX2 (every AVX-512 CPU has AVX2).
  const TileKernels* narrower;
};

struct IsaKernels {
  const char* name;
  TileKernels<float> f32;
  TileKernels<double> f64;
};

// Constant-initialized tables (no code runs before dispatch picks one the CPU supports).
extern const IsaKernels generic_kernels;
#if defined(__x86_64__)
extern const IsaKernels avx2_kernels;
extern const IsaKernels avx512_kernels;
extern const IsaKernels avx512_on_avx2_kernels;  // the AVX-512 tiles built for AVX2, for tests
// The AVX-512 tiles' shapes (32 zmm registers), shared by both builds so the tested one is the real one.
inline constexpr int avx512_direct_rows = 8, avx512_direct_vectors = 2, avx512_reduce_rows = 4, avx512_reduce_taps = 3;
#endif

}  // namespace xgrad::nn::kernels::detail
