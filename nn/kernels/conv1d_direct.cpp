// The fast Conv1d kernels' direct tiles: forward and backward input, packed and split over threads.
//
// Forward, per (batch item, group) and block of output columns: the input is packed into
// zero-padded "phase rows": phase r of channel c holds x[c, j*stride + r - pad_left] for the
// block's j (packing a block at a time keeps a tile's rows a block apart, not a whole input
// length, which L1 and its TLB prefer), so output position l reads tap k at phase
// (k*dilation) % stride, offset l + (k*dilation) / stride: every tap of every stride is a
// contiguous, bounds-free vector load. Weights are packed per block of
// output channels as [tap][row] so each reduction step broadcasts consecutive values. Tiles of
// (output channels x output positions) then sweep the output in column blocks whose packed input
// fits in L2, output-channel blocks innermost so each weight block stays in L1 across a column block.
//
// Backward input is the same tile run in the other direction (the output gradient packed per block
// of input positions, as forward packs its input): for each residue r of the padded
// input position modulo stride, input position j*stride + r - pad_left receives tap k from output
// position j + (r - k*dilation)/stride whenever that division is exact. So per residue it is a
// stride-1 correlation of the (zero-padded) output gradient with the taps k of that residue, over
// (output channel, tap); no zero insertion, no wasted products.
//
// Work is split over (batch item, group[, channel chunk]) with parallel_for; packing buffers are
// thread-local and reused across calls, so steady-state calls allocate nothing. Outputs too big for
// any cache that one-row tiles write (depthwise) bypass the caches (see streaming_output_bytes).
// Blocking rules and their reasons: conv1d_blocking.hpp; measurements: bench/README.md.
#include <algorithm>
#include <cstring>

#include "core/parallel.hpp"
#include "nn/kernels/conv1d_blocking.hpp"
#include "nn/kernels/conv1d_kernels.hpp"
#include "nn/kernels/conv1d_tiles.hpp"

namespace xgrad::nn::kernels {

using namespace blocking;  // NOLINT: the helpers these kernels are written in

int64_t set_conv1d_streaming_bytes(int64_t bytes) { return streaming_output_bytes.exchange(bytes); }

template <class T>
void conv1d_forward(const Conv1dGeometry& g, const T* input, const T* weight, const T* bias, T* output) {
  const Plan plan(g);
  const TileKernels<T>& kernels = tiles<T>(plan.out_length, plan.out_per_group);
  const detail::DirectTile<T>& tile =
      plan.out_per_group >= kernels.direct_wide.rows ? kernels.direct_wide : kernels.direct_thin;
  const int64_t column_tiles = ceil_div(plan.out_length, tile.cols);
  const int64_t work = g.batch * g.out_channels * plan.out_length * plan.taps;
  const int64_t chunks = channel_chunks(g.batch * g.groups, plan.out_per_group, tile.rows, work);
  const int64_t jobs = g.batch * g.groups * chunks;
  const int64_t job_rows = ceil_div(plan.out_per_group, chunks);
  const int64_t block_tiles = tiles_per_block((plan.in_per_group * g.stride + job_rows) * int64_t(sizeof(T)),
                                              job_rows * plan.taps * int64_t(sizeof(T)), tile.cols, column_tiles);
  const int64_t chunk_channels = channels_per_chunk(
      int64_t(sizeof(T)) * (g.kernel_size * tile.rows + g.stride * (tile.cols + plan.max_shift + 16)),
      plan.in_per_group);
  // The input is packed one column block at a time, so phase rows are short and a tile's rows
  // (one per channel and phase) lie close together rather than a whole input length apart.
  const int64_t pack_tiles = block_tiles;
  const int64_t row_length = padded_row_length<T>(pack_tiles * tile.cols + plan.max_shift);
  const bool streaming = streams(tile, g.batch * g.out_channels * plan.out_length);

  constexpr int64_t line = line_elements<T>;
  const uint64_t call = call_counter.fetch_add(1, std::memory_order_relaxed) + 1;
  parallel_for(jobs, work >= min_parallel_work ? 1 : jobs, [&](int64_t job_begin, int64_t job_end) {
    T* source = scratch<T>(Slot::source, plan.in_per_group * g.stride * row_length);
    int64_t* offsets = scratch<int64_t>(Slot::offsets, plan.taps);
    phase_offsets(g, plan.in_per_group, row_length, offsets);
    T* packed_weights = scratch<T>(Slot::weights, round_up(plan.out_per_group, tile.rows) * plan.taps);
    thread_local uint64_t packed_call = 0;
    thread_local int64_t packed_key = -1;
    for (int64_t job = job_begin; job < job_end; ++job) {
      const int64_t chunk = job % chunks, group = job / chunks % g.groups, n = job / chunks / g.groups;
      int64_t row_begin, row_end;
      row_chunk(plan.out_per_group, tile.rows, chunks, chunk, row_begin, row_end);
      if (row_begin >= row_end) continue;
      if (packed_call != call || packed_key != group * chunks + chunk) {  // weights as [row block][tap][row]
        packed_call = call;
        packed_key = group * chunks + chunk;
        for (int64_t o = row_begin; o < round_up(row_end, tile.rows); ++o)
          for (int64_t t = 0; t < plan.taps; ++t)
            packed_weights[((o / tile.rows) * plan.taps + t) * tile.rows + o % tile.rows] =
                o < row_end ? weight[(group * plan.out_per_group + o) * plan.taps + t] : T(0);
      }
      T* out = output + (n * g.out_channels + group * plan.out_per_group) * plan.out_length;
      T init[16] = {};
      const T* x = input + (n * g.in_channels + group * plan.in_per_group) * g.in_length;
      // One-channel groups (depthwise) stream from memory: a job is one short row, too short for the
      // hardware prefetcher to ramp up, so the next job's row is prefetched a tile's columns at a
      // time while this job's tiles run (backward input below does the same). Paced, not in one
      // burst at the start of the job, which was slower.
      const T* next_x = plan.in_per_group == 1 && chunks == 1 && job + 1 < job_end ? x + g.in_length : nullptr;
      for (int64_t pack_first = 0; pack_first < column_tiles; pack_first += pack_tiles) {
        const int64_t j0 = pack_first * tile.cols;
        pack_phase_rows(g, x, plan.in_per_group, j0, row_length, source);
        for (int64_t first_tile = pack_first; first_tile < std::min(column_tiles, pack_first + pack_tiles);
             first_tile += block_tiles)
          for (int64_t c = 0; c < plan.in_per_group; c += chunk_channels) {
            const int64_t chunk_taps = std::min(chunk_channels, plan.in_per_group - c) * g.kernel_size;
            const auto run =
                streaming && c + chunk_channels >= plan.in_per_group ? tile.run_streaming : tile.run;  // last chunk
            for (int64_t o = row_begin; o < row_end; o += tile.rows) {
              const int rows = static_cast<int>(std::min<int64_t>(tile.rows, row_end - o));
              for (int m = 0; m < tile.rows; ++m)
                init[m] = bias && m < rows ? bias[group * plan.out_per_group + o + m] : T(0);
              const T* block_weights = packed_weights + ((o / tile.rows) * plan.taps + c * g.kernel_size) * tile.rows;
              const int64_t last_tile = std::min({column_tiles, first_tile + block_tiles, pack_first + pack_tiles});
              for (int64_t column_tile = first_tile; column_tile < last_tile; ++column_tile) {
                const int64_t l = column_tile * tile.cols;
                if (next_x && c == 0 && o == row_begin)  // the next job's input, paced with this job's tiles
                  for (int64_t i = l * g.stride; i < std::min(g.in_length, (l + tile.cols) * g.stride); i += line)
                    __builtin_prefetch(next_x + i);
                run(source + (l - j0), offsets + c * g.kernel_size, chunk_taps, block_weights, c == 0 ? init : nullptr,
                    rows, static_cast<int>(std::min<int64_t>(tile.cols, plan.out_length - l)),
                    out + o * plan.out_length + l, plan.out_length, 1);
              }
            }
          }
      }
    }
    if (streaming) fence_streaming_stores();
  });
}

template <class T>
void conv1d_backward_input(const Conv1dGeometry& g, const T* grad_output, const T* weight, T* grad_input) {
  const Plan plan(g);
  // Per residue of the input position modulo stride, a tile sweeps in_length / stride positions.
  const TileKernels<T>& kernels = tiles<T>(ceil_div(g.in_length, g.stride), plan.in_per_group);
  const detail::DirectTile<T>& tile =
      plan.in_per_group >= kernels.direct_wide.rows ? kernels.direct_wide : kernels.direct_thin;
  // Output-gradient rows, zero-padded so that every tile reads in bounds: position j + shift of a
  // residue's tap (shift in [-(K-1)*dilation/stride, 0]) is at index j + shift + left_zeros.
  const int64_t left_zeros = ceil_div((g.kernel_size - 1) * g.dilation, g.stride);
  // Input positions j (per residue) are done in blocks of `block_length`; each block packs the
  // output-gradient positions it reads, [jb - left_zeros, jb + block_length + tile.cols + 2), into
  // short rows (zero outside the output), so a tile's rows lie a block apart, not a whole length.
  const int64_t block_tiles =
      tiles_per_block((plan.out_per_group + plan.in_per_group * g.stride) * int64_t(sizeof(T)),
                      plan.in_per_group * plan.out_per_group * g.kernel_size * int64_t(sizeof(T)), tile.cols,
                      ceil_div(ceil_div(g.in_length, g.stride), tile.cols));
  const int64_t block_length = block_tiles * tile.cols;
  const int64_t row_length = padded_row_length<T>(left_zeros + block_length + tile.cols + 2);
  const int64_t j_limit = floor_div(g.pad_left + g.in_length - 1, g.stride) + 1;  // past the last j of any residue
  const int64_t work = g.batch * g.out_channels * plan.out_length * plan.taps;
  const int64_t chunks = channel_chunks(g.batch * g.groups, plan.in_per_group, tile.rows, work);
  const int64_t jobs = g.batch * g.groups * chunks;
  const int64_t max_taps = plan.out_per_group * g.kernel_size;
  const int64_t padded_rows = round_up(plan.in_per_group, tile.rows);
  const int64_t chunk_channels = channels_per_chunk(
      int64_t(sizeof(T)) * (ceil_div(g.kernel_size, g.stride) * tile.rows + tile.cols + left_zeros + 16),
      plan.out_per_group);
  // (At stride > 1 a tile's columns are scattered stride apart: nothing to stream.)
  const bool streaming = g.stride == 1 && streams(tile, g.batch * g.in_channels * g.in_length);

  // Per residue r: the kernel taps reaching it, and the offset of each reduction index
  // t = (output channel o, residue tap i), o-major so that channel chunks are contiguous.
  int64_t* residue_taps = scratch<int64_t>(Slot::residue_taps, g.stride * (g.kernel_size + 1));
  int64_t* tap_counts = residue_taps + g.stride * g.kernel_size;
  int64_t* offsets = scratch<int64_t>(Slot::offsets, g.stride * max_taps);
  for (int64_t r = 0; r < g.stride; ++r) {
    int64_t count = 0;
    for (int64_t k = 0; k < g.kernel_size; ++k) {
      const int64_t distance = r - k * g.dilation;
      if (((distance % g.stride) + g.stride) % g.stride != 0) continue;
      residue_taps[r * g.kernel_size + count++] = k;
    }
    tap_counts[r] = count;
    for (int64_t o = 0; o < plan.out_per_group; ++o)
      for (int64_t i = 0; i < count; ++i)
        offsets[r * max_taps + o * count + i] =
            o * row_length + left_zeros + floor_div(r - residue_taps[r * g.kernel_size + i] * g.dilation, g.stride);
  }

  constexpr int64_t line = line_elements<T>;
  const uint64_t call = call_counter.fetch_add(1, std::memory_order_relaxed) + 1;
  parallel_for(jobs, work >= min_parallel_work ? 1 : jobs, [&](int64_t job_begin, int64_t job_end) {
    T* source = scratch<T>(Slot::source, plan.out_per_group * row_length);
    // Weights as [residue][row block][t][row], repacked only when the (group, chunk) changes.
    T* packed_weights = scratch<T>(Slot::weights, g.stride * padded_rows * max_taps);
    thread_local uint64_t packed_call = 0;
    thread_local int64_t packed_key = -1;
    const T init[16] = {};
    for (int64_t job = job_begin; job < job_end; ++job) {
      const int64_t chunk = job % chunks, group = job / chunks % g.groups, n = job / chunks / g.groups;
      int64_t row_begin, row_end;
      row_chunk(plan.in_per_group, tile.rows, chunks, chunk, row_begin, row_end);
      if (row_begin >= row_end) continue;
      if (packed_call != call || packed_key != group * chunks + chunk) {
        packed_call = call;
        packed_key = group * chunks + chunk;
        for (int64_t r = 0; r < g.stride; ++r)
          for (int64_t o = 0; o < plan.out_per_group; ++o)
            for (int64_t i = 0; i < tap_counts[r]; ++i) {
              const int64_t t = o * tap_counts[r] + i, k = residue_taps[r * g.kernel_size + i];
              const T* w = weight + (group * plan.out_per_group + o) * plan.taps + k;  // weight[o][c][k] at w + c*K
              for (int64_t c = row_begin; c < round_up(row_end, tile.rows); ++c)
                packed_weights[((r * padded_rows + c - c % tile.rows) * max_taps + t * tile.rows) + c % tile.rows] =
                    c < row_end ? w[c * g.kernel_size] : T(0);
            }
      }
      T* out = grad_input + (n * g.in_channels + group * plan.in_per_group) * g.in_length;
      const T* gradient = grad_output + (n * g.out_channels + group * plan.out_per_group) * plan.out_length;
      const T* next_gradient =
          plan.out_per_group == 1 && chunks == 1 && job + 1 < job_end ? gradient + plan.out_length : nullptr;
      for (int64_t jb = 0; jb < j_limit; jb += block_length) {
        // Row index i holds output-gradient position jb - left_zeros + i.
        const int64_t first = std::clamp<int64_t>(left_zeros - jb, 0, row_length);
        const int64_t last = std::clamp<int64_t>(plan.out_length - jb + left_zeros, first, row_length);
        for (int64_t o = 0; o < plan.out_per_group; ++o) {
          T* row = source + o * row_length;
          std::fill(row, row + first, T(0));
          if (last > first)
            std::memcpy(row + first, gradient + o * plan.out_length + jb - left_zeros + first,
                        static_cast<size_t>(last - first) * sizeof(T));
          std::fill(row + last, row + row_length, T(0));
        }
        for (int64_t r = 0; r < g.stride; ++r) {
          // Padded input positions j*stride + r that are real inputs: pad_left <= j*stride + r < pad_left + in_length.
          const int64_t j_begin = std::max(jb, ceil_div(std::max<int64_t>(g.pad_left - r, 0), g.stride));
          const int64_t j_end = std::min(jb + block_length, floor_div(g.pad_left + g.in_length - 1 - r, g.stride) + 1);
          if (j_begin >= j_end) continue;
          const int64_t tap_count = tap_counts[r];
          for (int64_t o = 0; o < plan.out_per_group; o += chunk_channels) {
            const int64_t first_tap = o * tap_count,
                          chunk_taps = std::min(chunk_channels, plan.out_per_group - o) * tap_count;
            const auto run =
                streaming && o + chunk_channels >= plan.out_per_group ? tile.run_streaming : tile.run;  // last chunk
            for (int64_t c = row_begin; c < row_end; c += tile.rows) {
              const int rows = static_cast<int>(std::min<int64_t>(tile.rows, row_end - c));
              const T* block_weights = packed_weights + ((r * padded_rows + c) * max_taps + first_tap * tile.rows);
              for (int64_t j = j_begin; j < j_end; j += tile.cols) {
                if (next_gradient && r == 0 && o == 0 && c == row_begin)  // the next job's, paced with these tiles
                  for (int64_t i = j; i < std::min(plan.out_length, j + tile.cols); i += line)
                    __builtin_prefetch(next_gradient + i);
                run(source + (j - jb), offsets + r * max_taps + first_tap, chunk_taps, block_weights,
                    o == 0 ? init : nullptr, rows, static_cast<int>(std::min<int64_t>(tile.cols, j_end - j)),
                    out + c * g.in_length + j * g.stride + r - g.pad_left, g.in_length, g.stride);
              }
            }
          }
        }
      }
    }
    if (streaming) fence_streaming_stores();
  });
}

#define XGRAD_INSTANTIATE_DIRECT(T)                                                         \
  template void conv1d_forward<T>(const Conv1dGeometry&, const T*, const T*, const T*, T*); \
  template void conv1d_backward_input<T>(const Conv1dGeometry&, const T*, const T*, T*);
XGRAD_INSTANTIATE_DIRECT(float)
XGRAD_INSTANTIATE_DIRECT(double)
#undef XGRAD_INSTANTIATE_DIRECT

}  // namespace xgrad::nn::kernels
