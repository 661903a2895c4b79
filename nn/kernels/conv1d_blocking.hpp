// The blocking helpers of the fast Conv1d kernels (conv1d_direct.cpp, conv1d_backward_weight.cpp):
// the instruction set's tiles, cache-sized blocks, packing of inputs into phase rows, thread-local
// scratch buffers and the split of work over threads. Internal to the kernels.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/parallel.hpp"
#include "nn/kernels/conv1d_dispatch.hpp"
#include "nn/kernels/conv1d_kernels.hpp"
#include "nn/kernels/conv1d_tiles.hpp"

namespace xgrad::nn::kernels::blocking {

using detail::IsaKernels;
using detail::TileKernels;

// The instruction set whose tiles the kernels run (conv1d_isa.cpp): the best the CPU supports, or
// the one chosen by XGRAD_CONV1D_ISA / set_conv1d_kernel_isa.
const IsaKernels& isa();

template <class T>
const TileKernels<T>& isa_tiles() {
  if constexpr (sizeof(T) == 4) return isa().f32;
  else return isa().f64;
}

inline int64_t round_up(int64_t value, int64_t multiple) { return (value + multiple - 1) / multiple * multiple; }
inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
// Floor division for a possibly negative numerator (b > 0).
inline int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// The tiles for work of `rows` x `columns` outputs (output or input channels of a group x
// positions): the selected instruction set's, or its narrower fallback's (AVX-512 -> AVX2) when
// the wide tiles would compute at least 1.25 times as many padded outputs. Why: a tile longer than
// the output wastes the rest of its row, but wide tiles may do twice the FLOPs per cycle, so they
// still win at a little padding (bench/README.md, "Tuning decisions").
template <class T>
inline const TileKernels<T>& tiles(int64_t columns, int64_t rows) {
  const TileKernels<T>& wide = isa_tiles<T>();
  if (!wide.narrower) return wide;
  auto padded = [&](const TileKernels<T>& kernels) {
    const detail::DirectTile<T>& tile = rows >= kernels.direct_wide.rows ? kernels.direct_wide : kernels.direct_thin;
    return round_up(std::max<int64_t>(columns, 1), tile.cols) * round_up(std::max<int64_t>(rows, 1), tile.rows);
  };
  return 4 * padded(wide) >= 5 * padded(*wide.narrower) ? *wide.narrower : wide;
}

// Elements of T per 64-byte cache line: the step of software prefetches.
template <class T>
constexpr int64_t line_elements = 64 / int64_t(sizeof(T));

// Outputs at least this big are written past the caches (DirectTile::run_streaming; see
// set_conv1d_streaming_bytes). Only one-row tiles stream: their rows are whole cache lines, while
// a wide tile's rows (24 floats on AVX2) would leave lines half written.
inline std::atomic<int64_t> streaming_output_bytes{int64_t(16) << 20};
template <class T>
inline bool streams(const detail::DirectTile<T>& tile, int64_t output_elements) {
  return tile.run_streaming && output_elements * int64_t(sizeof(T)) >= streaming_output_bytes.load();
}

// Makes this thread's non-temporal stores visible before the threads that read them go on.
inline void fence_streaming_stores() {
#if defined(__x86_64__)
  __builtin_ia32_sfence();
#endif
}

// Thread-local scratch buffers, grown on demand and never shrunk, starting on a cache line (so rows
// of whole lines give aligned vector loads). Slots keep separate uses apart.
enum class Slot { source, weights, offsets, partial, residue_taps, zeros, count };
template <class U>
inline U* scratch(Slot slot, int64_t count) {
  thread_local std::vector<U> buffers[static_cast<int>(Slot::count)];
  std::vector<U>& buffer = buffers[static_cast<int>(slot)];
  if (static_cast<int64_t>(buffer.size()) < count + line_elements<U>)
    buffer.resize(static_cast<size_t>(count + line_elements<U>));
  const auto address = reinterpret_cast<std::uintptr_t>(buffer.data());
  return buffer.data() + (64 - address % 64) % 64 / sizeof(U);
}

// A packed row of at least `length` values, rounded up to whole cache lines, so that every row
// starts on a line and a tap with no shift loads aligned vectors; and never a multiple of 4 KiB,
// where rows read together would share L1 sets.
template <class T>
inline int64_t padded_row_length(int64_t length) {
  const int64_t padded = round_up(length, line_elements<T>);
  return padded * int64_t(sizeof(T)) % 4096 == 0 ? padded + line_elements<T> : padded;
}

// Numbers kernel calls, so that weights a thread packed are reused across the jobs it runs within
// one call (jobs are claimed dynamically, several per thread) and never across calls.
inline std::atomic<uint64_t> call_counter{0};

// Work below this many multiply-adds is not worth waking the pool for.
inline constexpr int64_t min_parallel_work = 1 << 17;

// The shared shape arithmetic of one convolution.
struct Plan {
  int64_t in_per_group, out_per_group, out_length;
  int64_t taps;          // in_per_group * kernel_size: the length of a weight row
  int64_t max_shift;     // (kernel_size - 1) * dilation / stride: the furthest phase-row offset of a tap
  explicit Plan(const Conv1dGeometry& g)
      : in_per_group(g.in_channels / g.groups),
        out_per_group(g.out_channels / g.groups),
        out_length(g.out_length()),
        taps(in_per_group * g.kernel_size),
        max_shift((g.kernel_size - 1) * g.dilation / g.stride) {}
};

// Packs the channels of one (batch item, group) into phase rows of `row_length` (see the top),
// holding phase positions j0, j0 + 1, ...: source[(c * stride + r) * row_length + i] =
// x[c, (j0 + i)*stride + r - pad_left], zero outside the input. x: (channels, in_length).
template <class T>
inline void pack_phase_rows(const Conv1dGeometry& g, const T* x, int64_t channels, int64_t j0, int64_t row_length,
                            T* source) {
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t r = 0; r < g.stride; ++r) {
      T* row = source + (c * g.stride + r) * row_length;
      const T* in = x + c * g.in_length;
      // Valid j: 0 <= j*stride + r - pad_left < in_length, as indices i = j - j0 into the row.
      const int64_t first =
          std::clamp<int64_t>(ceil_div(std::max<int64_t>(g.pad_left - r, 0), g.stride) - j0, 0, row_length);
      const int64_t last =
          std::clamp<int64_t>(floor_div(g.in_length - 1 + g.pad_left - r, g.stride) + 1 - j0, first, row_length);
      std::fill(row, row + first, T(0));
      if (g.stride == 1) {
        std::memcpy(row + first, in + j0 + first - g.pad_left, static_cast<size_t>(last - first) * sizeof(T));
      } else {
        for (int64_t i = first; i < last; ++i) row[i] = in[(j0 + i) * g.stride + r - g.pad_left];
      }
      std::fill(row + last, row + row_length, T(0));
    }
}

// offsets[c * K + k]: where tap k of channel c starts in the phase rows.
inline void phase_offsets(const Conv1dGeometry& g, int64_t channels, int64_t row_length, int64_t* offsets) {
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t k = 0; k < g.kernel_size; ++k) {
      const int64_t shift = k * g.dilation;
      offsets[c * g.kernel_size + k] = (c * g.stride + shift % g.stride) * row_length + shift / g.stride;
    }
}

// Column tiles per block. A block's packed input and its output (`bytes_per_column` of both) stay
// in L2 (512 KiB) while every reduction chunk and row block sweeps them. Budget: about 192 KiB when
// the job's weights (<= 64 KiB) stay in L2 too, as a smaller footprint holds up better on a busy
// host; 384 KiB otherwise, as weights that do not fit come from L3 once per block and fewer, larger
// blocks amortize that.
inline int64_t tiles_per_block(int64_t bytes_per_column, int64_t weight_bytes, int64_t tile_columns,
                               int64_t total_tiles) {
  const int64_t budget = weight_bytes <= 64 * 1024 ? 192 * 1024 : 384 * 1024;
  return std::clamp<int64_t>(budget / std::max<int64_t>(bytes_per_column * tile_columns, 1), 1,
                             std::max<int64_t>(total_tiles, 1));
}

// Channels whose rows of `bytes_per_channel` fit together within L2 (about 192 KiB).
inline int64_t channels_in_l2(int64_t bytes_per_channel, int64_t channels) {
  return std::clamp<int64_t>(192 * 1024 / std::max<int64_t>(bytes_per_channel, 1), 1, channels);
}

// Channels per reduction chunk, so that one tile's weights and input rows stay in L1 (about 20 KiB)
// while it sweeps a column block; later chunks continue the sums in the output.
inline int64_t channels_per_chunk(int64_t bytes_per_channel, int64_t channels) {
  return std::clamp<int64_t>(20 * 1024 / std::max<int64_t>(bytes_per_channel, 1), 1, channels);
}

// out[l * rows + m] = row[m][l] for l < length: `rows` rows side by side. With the count known at
// compile time the compiler vectorizes it; with a run-time count it is a compare and a scalar store
// per value.
template <int Rows, class T>
inline void interleave_rows(const T* const* row, int64_t length, T* out) {
  for (int64_t l = 0; l < length; ++l)
#pragma GCC unroll 16
    for (int m = 0; m < Rows; ++m) out[l * Rows + m] = row[m][l];
}
template <class T>
inline void interleave_rows(const T* const* row, int rows, int64_t length, T* out) {
  for (int64_t l = 0; l < length; ++l)
    for (int m = 0; m < rows; ++m) out[l * rows + m] = row[m][l];
}

// The one-row reduce tile that loads the fewest vectors per output position over all `taps`: each
// call loads the row's vector and one per tap, and a last partial call still loads every tap. So 3
// taps a call for K = 1, 3, 5, 9, and 4 for K = 7.
template <class T>
inline const detail::ReduceTile<T>& thin_reduce_tile(const TileKernels<T>& kernels, int64_t taps) {
  auto loads = [&](const detail::ReduceTile<T>& tile) { return ceil_div(taps, tile.taps) * (tile.rows + tile.taps); };
  return loads(kernels.reduce_thin[0]) <= loads(kernels.reduce_thin[1]) ? kernels.reduce_thin[0]
                                                                        : kernels.reduce_thin[1];
}

// Splits `rows` into `chunks` nearly equal ranges aligned to `block` rows; returns [begin, end) of `chunk`.
inline void row_chunk(int64_t rows, int64_t block, int64_t chunks, int64_t chunk, int64_t& begin, int64_t& end) {
  const int64_t blocks = ceil_div(rows, block);
  begin = std::min(rows, blocks * chunk / chunks * block);
  end = std::min(rows, blocks * (chunk + 1) / chunks * block);
}

// Extra splitting of each (batch item, group) job over channel chunks when there are fewer jobs
// than threads (e.g. batch 1).
inline int64_t channel_chunks(int64_t jobs, int64_t rows, int64_t block, int64_t work) {
  const int64_t threads = get_num_threads();
  if (jobs >= threads || work < min_parallel_work * threads) return 1;
  return std::min(ceil_div(threads, jobs), ceil_div(rows, block));
}

}  // namespace xgrad::nn::kernels::blocking
