// The fast Conv1d kernels: pack, split the work over threads, and run register tiles.
//
// Forward, per (batch item, group) and block of output columns: the input is packed into
// zero-padded "phase rows": phase r of channel c holds x[c, j*stride + r - pad_left] for the
// block's j (packing a block at a time keeps a tile's rows a block apart, not a whole input
// length, which L1 and its TLB prefer), so output position l reads tap k at phase (k*dilation) % stride, offset l + (k*dilation) / stride: every
// tap of every stride is a contiguous, bounds-free vector load. Weights are packed per block of
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
// Backward weight has two forms, picked by shape. Dot products along the output length, between
// output-gradient rows and the same packed input phase rows as forward (reduce tiles do rows x taps
// of them at once): best for depthwise and for outputs of 512 positions or more. Or, when many taps
// share each of few output positions or the kernel is long, matrix products run by the forward's
// direct tile (see backward_weight_by_products and conv1d_backward_weight's choice). Batch items
// are split over threads, each with its own partial sum.
//
// Work is split over (batch item, group[, channel chunk]) with parallel_for; packing buffers are
// thread-local and reused across calls, so steady-state calls allocate nothing. Outputs too big for
// any cache that one-row tiles write (depthwise) bypass the caches (see streaming_output_bytes).
#include "nn/kernels/conv1d_kernels.hpp"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/parallel.hpp"
#include "nn/kernels/conv1d_dispatch.hpp"
#include "nn/kernels/conv1d_tiles.hpp"

namespace xgrad::nn::kernels {
namespace {

using detail::IsaKernels;
using detail::TileKernels;

bool cpu_supports(const IsaKernels& kernels) {
#if defined(__x86_64__)
  if (&kernels == &detail::avx512_kernels) return __builtin_cpu_supports("avx512f");
  if (&kernels == &detail::avx2_kernels || &kernels == &detail::avx512_on_avx2_kernels)
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
  return &kernels == &detail::generic_kernels;
}

const IsaKernels* find_isa(const char* name) {
#if defined(__x86_64__)
  for (const IsaKernels* kernels :
       {&detail::avx512_kernels, &detail::avx2_kernels, &detail::avx512_on_avx2_kernels, &detail::generic_kernels})
#else
  for (const IsaKernels* kernels : {&detail::generic_kernels})
#endif
    if (std::strcmp(kernels->name, name) == 0) return kernels;
  return nullptr;
}

// The best instruction set the CPU supports, or the one named by XGRAD_CONV1D_ISA if supported.
const IsaKernels* best_isa() {
  if (const char* forced = std::getenv("XGRAD_CONV1D_ISA"))
    if (const IsaKernels* kernels = find_isa(forced); kernels && cpu_supports(*kernels)) return kernels;
  for (const char* name : {"avx512", "avx2"})
    if (const IsaKernels* kernels = find_isa(name); kernels && cpu_supports(*kernels)) return kernels;
  return &detail::generic_kernels;
}

std::atomic<const IsaKernels*> selected_isa{nullptr};

const IsaKernels& isa() {
  const IsaKernels* kernels = selected_isa.load(std::memory_order_acquire);
  if (!kernels) {
    kernels = best_isa();
    selected_isa.store(kernels, std::memory_order_release);
  }
  return *kernels;
}

template <class T>
const TileKernels<T>& isa_tiles() {
  if constexpr (sizeof(T) == 4) return isa().f32;
  else return isa().f64;
}

int64_t round_up(int64_t value, int64_t multiple) { return (value + multiple - 1) / multiple * multiple; }
int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
// Floor division for a possibly negative numerator (b > 0).
int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// The tiles for work of `rows` x `columns` outputs (output or input channels of a group x
// positions): the selected instruction set's, or its narrower fallback's (AVX-512 -> AVX2) when
// the wide tiles would compute at least 1.25 times as many padded outputs. A tile longer than the
// output wastes the rest of its row: the seed shape's 24 positions, on AVX-512's 32-column tile
// (xgrad_conv1d_bench, seed, 1 thread, Zen 4: forward 0.040 -> 0.029 ms, backward weight 0.069 ->
// 0.052). Not at any padding: on CPUs with two 512-bit FMA units (unlike Zen 4, which splits them)
// the wide tiles do twice the FLOPs per cycle, so they still win at a little more padding.
template <class T>
const TileKernels<T>& tiles(int64_t columns, int64_t rows) {
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
// the wide tile's rows of 24 floats (AVX2) leave lines half written (A/B, mid forward: 13% slower).
std::atomic<int64_t> streaming_output_bytes{int64_t(16) << 20};
template <class T>
bool streams(const detail::DirectTile<T>& tile, int64_t output_elements) {
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
U* scratch(Slot slot, int64_t count) {
  thread_local std::vector<U> buffers[static_cast<int>(Slot::count)];
  std::vector<U>& buffer = buffers[static_cast<int>(slot)];
  if (static_cast<int64_t>(buffer.size()) < count + line_elements<U>) buffer.resize(static_cast<size_t>(count + line_elements<U>));
  const auto address = reinterpret_cast<std::uintptr_t>(buffer.data());
  return buffer.data() + (64 - address % 64) % 64 / sizeof(U);
}

// A packed row of at least `length` values, rounded up to whole cache lines, so that every row
// starts on a line and a tap with no shift loads aligned vectors; and never a multiple of 4 KiB,
// where rows read together would share L1 sets.
template <class T>
int64_t padded_row_length(int64_t length) {
  const int64_t padded = round_up(length, line_elements<T>);
  return padded * int64_t(sizeof(T)) % 4096 == 0 ? padded + line_elements<T> : padded;
}

// Numbers kernel calls, so that weights a thread packed are reused across the jobs it runs within
// one call (jobs are claimed dynamically, several per thread) and never across calls.
std::atomic<uint64_t> call_counter{0};

// Work below this many multiply-adds is not worth waking the pool for.
constexpr int64_t min_parallel_work = 1 << 17;

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
void pack_phase_rows(const Conv1dGeometry& g, const T* x, int64_t channels, int64_t j0, int64_t row_length, T* source) {
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t r = 0; r < g.stride; ++r) {
      T* row = source + (c * g.stride + r) * row_length;
      const T* in = x + c * g.in_length;
      // Valid j: 0 <= j*stride + r - pad_left < in_length, as indices i = j - j0 into the row.
      const int64_t first = std::clamp<int64_t>(ceil_div(std::max<int64_t>(g.pad_left - r, 0), g.stride) - j0, 0, row_length);
      const int64_t last = std::clamp<int64_t>(floor_div(g.in_length - 1 + g.pad_left - r, g.stride) + 1 - j0, first, row_length);
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
void phase_offsets(const Conv1dGeometry& g, int64_t channels, int64_t row_length, int64_t* offsets) {
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t k = 0; k < g.kernel_size; ++k) {
      const int64_t shift = k * g.dilation;
      offsets[c * g.kernel_size + k] = (c * g.stride + shift % g.stride) * row_length + shift / g.stride;
    }
}

// Column tiles per block. A block's packed input and its output (`bytes_per_column` of both) stay
// in L2 (512 KiB) while every reduction chunk and row block sweeps them. When the job's weights
// are small enough to stay there too, input and output get about 192 KiB: on this shared host the
// smaller footprint holds up better in busy minutes (A/B against counting only the input, 1
// thread: `mid` forward medians 51-60 vs 64-69 ms, backward input 62-84 vs 91-98; dilated grouped
// forward 7-14% faster, its backward input within noise). Weights that do not fit (`wide`: 1.3 MiB)
// come from L3 once per block, and fewer, larger blocks of 384 KiB amortize that (`wide` at 192
// KiB: 1-2% slower).
int64_t tiles_per_block(int64_t bytes_per_column, int64_t weight_bytes, int64_t tile_columns, int64_t total_tiles) {
  const int64_t budget = weight_bytes <= 64 * 1024 ? 192 * 1024 : 384 * 1024;
  return std::clamp<int64_t>(budget / std::max<int64_t>(bytes_per_column * tile_columns, 1), 1, std::max<int64_t>(total_tiles, 1));
}

// Channels whose rows of `bytes_per_channel` fit together within L2 (about 192 KiB).
int64_t channels_in_l2(int64_t bytes_per_channel, int64_t channels) {
  return std::clamp<int64_t>(192 * 1024 / std::max<int64_t>(bytes_per_channel, 1), 1, channels);
}

// Channels per reduction chunk, so that one tile's weights and input rows stay in L1 (about 20 KiB)
// while it sweeps a column block; later chunks continue the sums in the output.
int64_t channels_per_chunk(int64_t bytes_per_channel, int64_t channels) {
  return std::clamp<int64_t>(20 * 1024 / std::max<int64_t>(bytes_per_channel, 1), 1, channels);
}

// out[l * rows + m] = row[m][l] for l < length: `rows` rows side by side. With the count known at
// compile time the compiler vectorizes it; at run time it was a compare and a scalar store per value
// (28% of the audio front-end's backward weight).
template <int Rows, class T>
void interleave_rows(const T* const* row, int64_t length, T* out) {
  for (int64_t l = 0; l < length; ++l)
#pragma GCC unroll 16
    for (int m = 0; m < Rows; ++m) out[l * Rows + m] = row[m][l];
}
template <class T>
void interleave_rows(const T* const* row, int rows, int64_t length, T* out) {
  for (int64_t l = 0; l < length; ++l)
    for (int m = 0; m < rows; ++m) out[l * rows + m] = row[m][l];
}

// The one-row reduce tile that loads the fewest vectors per output position over all `taps`: each
// call loads the row's vector and one per tap, and a last partial call still loads every tap. So 3
// taps a call for K = 1, 3, 5, 9, and 4 for K = 7 (A/B, depthwise backward weight in cache, x 3
// against x 4: K = 3 and 9 7-9% faster, K = 5 16% faster, K = 7 15% slower).
template <class T>
const detail::ReduceTile<T>& thin_reduce_tile(const TileKernels<T>& kernels, int64_t taps) {
  auto loads = [&](const detail::ReduceTile<T>& tile) { return ceil_div(taps, tile.taps) * (tile.rows + tile.taps); };
  return loads(kernels.reduce_thin[0]) <= loads(kernels.reduce_thin[1]) ? kernels.reduce_thin[0] : kernels.reduce_thin[1];
}

// Splits `rows` into `chunks` nearly equal ranges aligned to `block` rows; returns [begin, end) of `chunk`.
void row_chunk(int64_t rows, int64_t block, int64_t chunks, int64_t chunk, int64_t& begin, int64_t& end) {
  const int64_t blocks = ceil_div(rows, block);
  begin = std::min(rows, blocks * chunk / chunks * block);
  end = std::min(rows, blocks * (chunk + 1) / chunks * block);
}

// Extra splitting of each (batch item, group) job over channel chunks when there are fewer jobs
// than threads (e.g. batch 1).
int64_t channel_chunks(int64_t jobs, int64_t rows, int64_t block, int64_t work) {
  const int64_t threads = get_num_threads();
  if (jobs >= threads || work < min_parallel_work * threads) return 1;
  return std::min(ceil_div(threads, jobs), ceil_div(rows, block));
}

}  // namespace

const char* conv1d_kernel_isa() { return isa().name; }

bool conv1d_isa_supported(const char* name) {
  const IsaKernels* kernels = find_isa(name);
  return kernels && cpu_supports(*kernels);
}

bool set_conv1d_kernel_isa(const char* name) {
  if (!conv1d_isa_supported(name)) return false;
  selected_isa.store(find_isa(name), std::memory_order_release);
  return true;
}

template <class T>
void conv1d_forward(const Conv1dGeometry& g, const T* input, const T* weight, const T* bias, T* output) {
  const Plan plan(g);
  const TileKernels<T>& kernels = tiles<T>(plan.out_length, plan.out_per_group);
  const detail::DirectTile<T>& tile = plan.out_per_group >= kernels.direct_wide.rows ? kernels.direct_wide : kernels.direct_thin;
  const int64_t column_tiles = ceil_div(plan.out_length, tile.cols);
  const int64_t work = g.batch * g.out_channels * plan.out_length * plan.taps;
  const int64_t chunks = channel_chunks(g.batch * g.groups, plan.out_per_group, tile.rows, work);
  const int64_t jobs = g.batch * g.groups * chunks;
  const int64_t job_rows = ceil_div(plan.out_per_group, chunks);
  const int64_t block_tiles = tiles_per_block((plan.in_per_group * g.stride + job_rows) * int64_t(sizeof(T)),
                                              job_rows * plan.taps * int64_t(sizeof(T)), tile.cols, column_tiles);
  const int64_t chunk_channels = channels_per_chunk(
      int64_t(sizeof(T)) * (g.kernel_size * tile.rows + g.stride * (tile.cols + plan.max_shift + 16)), plan.in_per_group);
  // The input is packed one column block at a time, so phase rows are short and a tile's rows
  // (one per channel and phase) lie close together rather than a whole input length apart.
  // (Same-process A/B against packing whole rows, 1 thread: mid 44 vs 52 ms, wide 68 vs 77 ms.)
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
      // time while this job's tiles run (A/B, depthwise forward: 10.1-12.5 -> 8.6-10.5 ms at 1
      // thread, 6.5-7.4 -> 5.4-6.1 at 2; backward input below: 9.7-12.1 -> 7.9-10.2, 6.1 -> 5.2).
      // A burst of prefetches at the start of the job was slower.
      const T* next_x = plan.in_per_group == 1 && chunks == 1 && job + 1 < job_end ? x + g.in_length : nullptr;
      for (int64_t pack_first = 0; pack_first < column_tiles; pack_first += pack_tiles) {
        const int64_t j0 = pack_first * tile.cols;
        pack_phase_rows(g, x, plan.in_per_group, j0, row_length, source);
        for (int64_t first_tile = pack_first; first_tile < std::min(column_tiles, pack_first + pack_tiles); first_tile += block_tiles)
          for (int64_t c = 0; c < plan.in_per_group; c += chunk_channels) {
            const int64_t chunk_taps = std::min(chunk_channels, plan.in_per_group - c) * g.kernel_size;
            const auto run = streaming && c + chunk_channels >= plan.in_per_group ? tile.run_streaming : tile.run;  // last chunk
            for (int64_t o = row_begin; o < row_end; o += tile.rows) {
              const int rows = static_cast<int>(std::min<int64_t>(tile.rows, row_end - o));
              for (int m = 0; m < tile.rows; ++m) init[m] = bias && m < rows ? bias[group * plan.out_per_group + o + m] : T(0);
              const T* block_weights = packed_weights + ((o / tile.rows) * plan.taps + c * g.kernel_size) * tile.rows;
              const int64_t last_tile = std::min({column_tiles, first_tile + block_tiles, pack_first + pack_tiles});
              for (int64_t column_tile = first_tile; column_tile < last_tile; ++column_tile) {
                const int64_t l = column_tile * tile.cols;
                if (next_x && c == 0 && o == row_begin)  // the next job's input, paced with this job's tiles
                  for (int64_t i = l * g.stride; i < std::min(g.in_length, (l + tile.cols) * g.stride); i += line)
                    __builtin_prefetch(next_x + i);
                run(source + (l - j0), offsets + c * g.kernel_size, chunk_taps, block_weights, c == 0 ? init : nullptr, rows,
                    static_cast<int>(std::min<int64_t>(tile.cols, plan.out_length - l)), out + o * plan.out_length + l,
                    plan.out_length, 1);
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
  const detail::DirectTile<T>& tile = plan.in_per_group >= kernels.direct_wide.rows ? kernels.direct_wide : kernels.direct_thin;
  // Output-gradient rows, zero-padded so that every tile reads in bounds: position j + shift of a
  // residue's tap (shift in [-(K-1)*dilation/stride, 0]) is at index j + shift + left_zeros.
  const int64_t left_zeros = ceil_div((g.kernel_size - 1) * g.dilation, g.stride);
  // Input positions j (per residue) are done in blocks of `block_length`; each block packs the
  // output-gradient positions it reads, [jb - left_zeros, jb + block_length + tile.cols + 2), into
  // short rows (zero outside the output), so a tile's rows lie a block apart, not a whole length.
  const int64_t block_tiles = tiles_per_block((plan.out_per_group + plan.in_per_group * g.stride) * int64_t(sizeof(T)),
                                              plan.in_per_group * plan.out_per_group * g.kernel_size * int64_t(sizeof(T)),
                                              tile.cols, ceil_div(ceil_div(g.in_length, g.stride), tile.cols));
  const int64_t block_length = block_tiles * tile.cols;
  const int64_t row_length = padded_row_length<T>(left_zeros + block_length + tile.cols + 2);
  const int64_t j_limit = floor_div(g.pad_left + g.in_length - 1, g.stride) + 1;  // past the last j of any residue
  const int64_t work = g.batch * g.out_channels * plan.out_length * plan.taps;
  const int64_t chunks = channel_chunks(g.batch * g.groups, plan.in_per_group, tile.rows, work);
  const int64_t jobs = g.batch * g.groups * chunks;
  const int64_t max_taps = plan.out_per_group * g.kernel_size;
  const int64_t padded_rows = round_up(plan.in_per_group, tile.rows);
  const int64_t chunk_channels = channels_per_chunk(
      int64_t(sizeof(T)) * (ceil_div(g.kernel_size, g.stride) * tile.rows + tile.cols + left_zeros + 16), plan.out_per_group);
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
      const T* next_gradient = plan.out_per_group == 1 && chunks == 1 && job + 1 < job_end ? gradient + plan.out_length : nullptr;
      for (int64_t jb = 0; jb < j_limit; jb += block_length) {
        // Row index i holds output-gradient position jb - left_zeros + i.
        const int64_t first = std::clamp<int64_t>(left_zeros - jb, 0, row_length);
        const int64_t last = std::clamp<int64_t>(plan.out_length - jb + left_zeros, first, row_length);
        for (int64_t o = 0; o < plan.out_per_group; ++o) {
          T* row = source + o * row_length;
          std::fill(row, row + first, T(0));
          if (last > first)
            std::memcpy(row + first, gradient + o * plan.out_length + jb - left_zeros + first, static_cast<size_t>(last - first) * sizeof(T));
          std::fill(row + last, row + row_length, T(0));
        }
        for (int64_t r = 0; r < g.stride; ++r) {
          // Padded input positions j*stride + r that are real inputs: pad_left <= j*stride + r < pad_left + in_length.
          const int64_t j_begin = std::max(jb, ceil_div(std::max<int64_t>(g.pad_left - r, 0), g.stride));
          const int64_t j_end = std::min(jb + block_length, floor_div(g.pad_left + g.in_length - 1 - r, g.stride) + 1);
          if (j_begin >= j_end) continue;
          const int64_t tap_count = tap_counts[r];
          for (int64_t o = 0; o < plan.out_per_group; o += chunk_channels) {
            const int64_t first_tap = o * tap_count, chunk_taps = std::min(chunk_channels, plan.out_per_group - o) * tap_count;
            const auto run = streaming && o + chunk_channels >= plan.out_per_group ? tile.run_streaming : tile.run;  // last chunk
            for (int64_t c = row_begin; c < row_end; c += tile.rows) {
              const int rows = static_cast<int>(std::min<int64_t>(tile.rows, row_end - c));
              const T* block_weights = packed_weights + ((r * padded_rows + c) * max_taps + first_tap * tile.rows);
              for (int64_t j = j_begin; j < j_end; j += tile.cols) {
                if (next_gradient && r == 0 && o == 0 && c == row_begin)  // the next job's, paced with these tiles
                  for (int64_t i = j; i < std::min(plan.out_length, j + tile.cols); i += line) __builtin_prefetch(next_gradient + i);
                run(source + (j - jb), offsets + r * max_taps + first_tap, chunk_taps, block_weights, o == 0 ? init : nullptr, rows,
                    static_cast<int>(std::min<int64_t>(tile.cols, j_end - j)), out + c * g.in_length + j * g.stride + r - g.pad_left,
                    g.in_length, g.stride);
              }
            }
          }
        }
      }
    }
    if (streaming) fence_streaming_stores();
  });
}

namespace {

template <class T>
void backward_weight_by_dot_products(const TileKernels<T>& kernels, const Conv1dGeometry& g, const T* grad_output, const T* input,
                                     T* grad_weight) {
  const Plan plan(g);
  const detail::ReduceTile<T>& tile = plan.out_per_group >= kernels.reduce_wide.rows ? kernels.reduce_wide : thin_reduce_tile(kernels, plan.taps);
  const int64_t width = kernels.vector_width;
  const int64_t row_length = padded_row_length<T>(plan.out_length + plan.max_shift);
  const int64_t weight_size = g.out_channels * plan.taps;
  const int64_t work = g.batch * g.out_channels * plan.out_length * plan.taps;
  // Batch items are split over threads; chunk 0 sums into grad_weight, the others into partials.
  const int64_t chunks = work >= min_parallel_work ? std::min<int64_t>(get_num_threads(), g.batch) : 1;
  T* partials = chunks > 1 ? scratch<T>(Slot::partial, (chunks - 1) * weight_size) : nullptr;
  // Length blocks keep one block of output-gradient rows near (L2) while all taps stream past it;
  // long blocks amortize the horizontal sums at the end of each tile. Same-process A/B, 1 thread:
  // mid 512: 84-87 ms, 2048: 78-82, 4096: 73-76, 8192 and 16384: 74-76 (length 16000: flat from 4096).
  const int64_t length_block = std::max<int64_t>(width, 4096 / width * width);

  parallel_for(chunks, 1, [&](int64_t chunk_begin, int64_t chunk_end) {
    for (int64_t chunk = chunk_begin; chunk < chunk_end; ++chunk) {
      T* sums = chunk == 0 ? grad_weight : partials + (chunk - 1) * weight_size;
      std::fill(sums, sums + weight_size, T(0));
      T* source = scratch<T>(Slot::source, plan.in_per_group * g.stride * row_length);
      int64_t* offsets = scratch<int64_t>(Slot::offsets, plan.taps);
      phase_offsets(g, plan.in_per_group, row_length, offsets);
      for (int64_t n = g.batch * chunk / chunks; n < g.batch * (chunk + 1) / chunks; ++n)
        for (int64_t group = 0; group < g.groups; ++group) {
          pack_phase_rows(g, input + (n * g.in_channels + group * plan.in_per_group) * g.in_length, plan.in_per_group, 0, row_length, source);
          const T* gradient = grad_output + (n * g.out_channels + group * plan.out_per_group) * plan.out_length;
          T* out = sums + group * plan.out_per_group * plan.taps;
          for (int64_t l = 0; l < plan.out_length; l += length_block) {
            const int64_t block = std::min(length_block, plan.out_length - l);
            // Taps in chunks whose input rows fit in L2, so each output-gradient row block (in L1)
            // meets them there instead of streaming every channel's rows from L3 once per row block.
            const int64_t chunk_taps = round_up(
                channels_in_l2(g.stride * block * int64_t(sizeof(T)), plan.in_per_group) * g.kernel_size, tile.taps);
            for (int64_t first_tap = 0; first_tap < plan.taps; first_tap += chunk_taps)
              for (int64_t o = 0; o < plan.out_per_group; o += tile.rows)
                for (int64_t t = first_tap; t < std::min(plan.taps, first_tap + chunk_taps); t += tile.taps)
                  tile.run(gradient + o * plan.out_length + l, plan.out_length, static_cast<int>(std::min<int64_t>(tile.rows, plan.out_per_group - o)),
                           source + l, offsets + t, static_cast<int>(std::min<int64_t>(tile.taps, plan.taps - t)), block,
                           out + o * plan.taps + t, plan.taps);
          }
        }
    }
  });
  for (int64_t chunk = 1; chunk < chunks; ++chunk)
    for (int64_t i = 0; i < weight_size; ++i) grad_weight[i] += partials[(chunk - 1) * weight_size + i];
}

// Backward weight as matrix products on the forward's direct tile: m = output channel, the
// reduction over output positions l, and the tile's columns j either
//   - over input channels (many channels, short kernels, short outputs; tuned on wide with the
//     method forced, which now takes dot products): K products dW[:, :, k] = dY . X_k,
//     where row l of X_k is the input transposed (one length block at a time), at padded position
//     l*stride + k*dilation (row stride padded so rows a power of two apart do not share L1 sets);
//     sums accumulate as [k][o][c] (whole vectors along c) and are transposed at the end; or
//   - over kernel taps (long kernels, dilation 1: the audio front-end's K = 80): per input channel c,
//     dW[:, c, :] = dY . X_c with row l of X_c the zero-padded input row from l*stride on, so the
//     tile reads the input in place (no transposition) and sums land in [o][c][k] directly.
// The tile's "weights" are the output gradient packed as [row block][l][row], its offsets l*stride
// rows apart. Blocking: `length_block` output positions at a time; per column tile the source slice
// stays near (L1 over channels, L1/L2 over taps) while every output-channel block passes over it.
template <class T>
void backward_weight_by_products(const TileKernels<T>& kernels, const Conv1dGeometry& g, const T* grad_output, const T* input,
                                 T* grad_weight, bool over_taps) {
  const Plan plan(g);
  const detail::DirectTile<T>& tile = kernels.direct_wide;
  const int64_t channels = plan.in_per_group, padded_length = g.pad_left + g.in_length + g.pad_right;
  // Over channels: transposed rows (padded position, channel), row stride = whole vectors + one cache line.
  // Over taps: one zero-padded row per channel.
  const int64_t row_stride = over_taps ? padded_length + tile.cols : round_up(channels, kernels.vector_width) + 64 / int64_t(sizeof(T));
  const int64_t position_stride = over_taps ? 1 : row_stride;  // distance between padded positions in the source
  const int64_t weight_size = g.out_channels * plan.taps;
  const int64_t group_size = plan.out_per_group * plan.taps;
  const int64_t work = g.batch * g.out_channels * plan.out_length * plan.taps;
  const int64_t chunks = work >= min_parallel_work ? std::min<int64_t>(get_num_threads(), g.batch) : 1;
  // Over taps, chunk 0 sums straight into grad_weight (same layout); otherwise every chunk has its own.
  T* partials = scratch<T>(Slot::partial, (over_taps ? chunks - 1 : chunks) * weight_size);
  // Over channels each reduction step reads a tile's columns from a new transposed row (a cache line
  // or two), so the block's slice of the source fits L1 (about 20 KiB) while every output-channel
  // block passes over it (wide, A/B at 1 thread: 128 positions 84-93 ms, 512 positions 100-106 ms).
  // Over taps the slice is one short stretch of each input row, and longer blocks do as well or better.
  const int64_t slice_bytes_per_position = round_up(tile.cols * int64_t(sizeof(T)), 64) + 64;
  const int64_t length_block =
      std::min<int64_t>(plan.out_length, over_taps ? 512 : std::max<int64_t>(32, 20 * 1024 / slice_bytes_per_position));
  const int64_t row_blocks = ceil_div(plan.out_per_group, tile.rows);
  // Over channels the input is transposed one length block at a time (the padded positions that
  // block reads) into a buffer that stays in L2 while the block's tiles run, rather than a whole
  // (batch item, group) at once into a buffer in L3. A/B at 1 thread, wide: median 90-105 vs
  // 97-120 ms, best 79-80 vs 84-86; stride 2: 73 vs 84 ms median.
  const int64_t block_positions = (length_block - 1) * g.stride + (g.kernel_size - 1) * g.dilation + 1;
  const int64_t source_size = over_taps ? channels * row_stride : block_positions * row_stride + tile.cols;

  constexpr int64_t line = line_elements<T>;
  parallel_for(chunks, 1, [&](int64_t chunk_begin, int64_t chunk_end) {
    T* source = scratch<T>(Slot::source, source_size);
    T* packed = scratch<T>(Slot::weights, row_blocks * length_block * tile.rows);
    int64_t* offsets = scratch<int64_t>(Slot::offsets, length_block);
    for (int64_t l = 0; l < length_block; ++l) offsets[l] = l * g.stride * position_stride;
    T* zeros = scratch<T>(Slot::zeros, length_block);  // stands in for output-gradient rows past the last
    std::fill(zeros, zeros + length_block, T(0));
    for (int64_t chunk = chunk_begin; chunk < chunk_end; ++chunk) {
      T* sums = over_taps ? (chunk == 0 ? grad_weight : partials + (chunk - 1) * weight_size) : partials + chunk * weight_size;
      std::fill(sums, sums + weight_size, T(0));
      std::fill(source, source + source_size, T(0));  // padding positions and tail lanes stay zero
      for (int64_t n = g.batch * chunk / chunks; n < g.batch * (chunk + 1) / chunks; ++n)
        for (int64_t group = 0; group < g.groups; ++group) {
          const T* x = input + (n * g.in_channels + group * channels) * g.in_length;
          if (over_taps)
            for (int64_t c = 0; c < channels; ++c)
              std::memcpy(source + c * row_stride + g.pad_left, x + c * g.in_length, static_cast<size_t>(g.in_length) * sizeof(T));
          const T* gradient = grad_output + (n * g.out_channels + group * plan.out_per_group) * plan.out_length;
          T* out = sums + group * group_size;
          for (int64_t l0 = 0; l0 < plan.out_length; l0 += length_block) {
            const int64_t block = std::min(length_block, plan.out_length - l0);
            if (!over_taps) {  // source row r: padded position l0*stride + r, channels along the row
              const int64_t first_input = l0 * g.stride - g.pad_left;  // input position of row 0
              const int64_t rows = std::min(block_positions, padded_length - l0 * g.stride);
              const int64_t valid_begin = std::clamp<int64_t>(-first_input, 0, rows);
              const int64_t valid_end = std::clamp<int64_t>(g.in_length - first_input, valid_begin, rows);
              for (int64_t r = 0; r < rows; ++r)
                if (r < valid_begin || r >= valid_end) std::fill(source + r * row_stride, source + r * row_stride + channels, T(0));
              // Along each input row: one read stream (several rows at once, in_length apart, could
              // share one L1 set), writes to the block's lines, which stay in L1 across channels; the
              // row 8 channels on is prefetched, and the output-gradient rows two row blocks on below
              // (A/B at 1 thread: wide 74.7-75.3 vs 77.1-77.4 ms best; 32x128->64x500 13.2 vs 14.7).
              constexpr int64_t ahead = 8;
              for (int64_t c = 0; c < channels; ++c) {
                const T* in = x + c * g.in_length + first_input;
                if (c + ahead < channels)
                  for (int64_t r = valid_begin; r < valid_end; r += line) __builtin_prefetch(in + ahead * g.in_length + r);
                for (int64_t r = valid_begin; r < valid_end; ++r) source[r * row_stride + c] = in[r];
              }
            }
            for (int64_t o0 = 0; o0 < row_blocks * tile.rows; o0 += tile.rows) {  // [row block][l][row]
              // A row block's rows read side by side (several misses in flight), written in order.
              const T* rows[16];
              for (int m = 0; m < tile.rows; ++m)
                rows[m] = o0 + m < plan.out_per_group ? gradient + (o0 + m) * plan.out_length + l0 : zeros;
              for (int64_t m = o0 + 2 * tile.rows; m < std::min<int64_t>(o0 + 3 * tile.rows, plan.out_per_group); ++m)
                for (int64_t l = 0; l < block; l += line) __builtin_prefetch(gradient + m * plan.out_length + l0 + l);
              T* out_block = packed + (o0 / tile.rows) * length_block * tile.rows;
              if (tile.rows == 4) interleave_rows<4>(rows, block, out_block);
              else if (tile.rows == 8) interleave_rows<8>(rows, block, out_block);
              else interleave_rows(rows, tile.rows, block, out_block);
            }
            // One product per (k) over channel columns, or per (c) over tap columns.
            const int64_t products = over_taps ? channels : g.kernel_size, columns = over_taps ? g.kernel_size : channels;
            for (int64_t p = 0; p < products; ++p) {
              const T* first = over_taps ? source + p * row_stride + l0 * g.stride : source + p * g.dilation * row_stride;
              for (int64_t j = 0; j < columns; j += tile.cols)
                for (int64_t o = 0; o < plan.out_per_group; o += tile.rows) {
                  T* at = over_taps ? out + o * plan.taps + p * g.kernel_size + j : out + (p * plan.out_per_group + o) * channels + j;
                  tile.run(first + j, offsets, block, packed + (o / tile.rows) * length_block * tile.rows, nullptr,
                           static_cast<int>(std::min<int64_t>(tile.rows, plan.out_per_group - o)),
                           static_cast<int>(std::min<int64_t>(tile.cols, columns - j)), at, over_taps ? plan.taps : channels, 1);
                }
            }
          }
        }
    }
  });
  if (over_taps) {
    for (int64_t chunk = 1; chunk < chunks; ++chunk)
      for (int64_t i = 0; i < weight_size; ++i) grad_weight[i] += partials[(chunk - 1) * weight_size + i];
    return;
  }
  for (int64_t group = 0; group < g.groups; ++group)
    for (int64_t o = 0; o < plan.out_per_group; ++o)
      for (int64_t c = 0; c < channels; ++c)
        for (int64_t k = 0; k < g.kernel_size; ++k) {
          const int64_t at = group * group_size + (k * plan.out_per_group + o) * channels + c;
          T sum = partials[at];
          for (int64_t chunk = 1; chunk < chunks; ++chunk) sum += partials[chunk * weight_size + at];
          grad_weight[(group * plan.out_per_group + o) * plan.taps + c * g.kernel_size + k] = sum;
        }
}

std::atomic<BackwardWeightMethod> backward_weight_method{BackwardWeightMethod::automatic};

}  // namespace

void set_conv1d_backward_weight_method(BackwardWeightMethod method) { backward_weight_method.store(method); }

int64_t set_conv1d_streaming_bytes(int64_t bytes) { return streaming_output_bytes.exchange(bytes); }

template <class T>
void conv1d_backward_weight(const Conv1dGeometry& g, const T* grad_output, const T* input, T* grad_weight) {
  BackwardWeightMethod method = backward_weight_method.load();
  const Plan plan(g);
  const TileKernels<T>& kernels = tiles<T>(plan.out_length, plan.out_per_group);
  const auto& tile = kernels.direct_wide;
  if (method == BackwardWeightMethod::automatic) {
    // Matrix products need at least a tile of output channels, and columns to fill: long kernels
    // (over taps; audio front-end, K = 80), or many input channels when many taps share each of
    // few output positions (over channels; the flagship's 32 -> 64 and 64 -> 64 layers: 96 taps over
    // 121 positions, 192 over 28). Dot products win on depthwise convolutions and once the output
    // is long enough to amortize each tile's horizontal sums, however many the taps: same-process
    // A/B, 256 -> 256 channels, K = 5, batch 8: 256 positions, channel products 3% faster; 512, dot
    // products 8-14% faster; 1024 (wide), 10-20% (77 vs 86 ms at 1 thread, 54 vs 67 at 2; AVX2 on
    // Zen 3). On 64-byte vectors (AVX-512) every shifted tap's load straddles two cache lines, and
    // channel products win on longer outputs: `wide` 56 vs 67 ms at 1 thread, 31 vs 36 at 2 (Zen 4),
    // while `mid` (4096 positions, 64 channels) keeps dot products (39 vs 42 ms).
    const int64_t long_output = kernels.vector_width * int64_t(sizeof(T)) >= 64 ? 2048 : 512;
    if (plan.out_per_group >= tile.rows && g.dilation == 1 && g.kernel_size >= tile.cols)
      method = BackwardWeightMethod::tap_products;
    else if (plan.out_per_group >= tile.rows && plan.in_per_group >= tile.cols / 2 && 4 * plan.taps >= plan.out_length &&
             plan.out_length < long_output)
      method = BackwardWeightMethod::channel_products;
    else
      method = BackwardWeightMethod::dot_products;
  }
  if (method == BackwardWeightMethod::tap_products && g.dilation != 1) method = BackwardWeightMethod::channel_products;
  if (method == BackwardWeightMethod::dot_products)
    backward_weight_by_dot_products(kernels, g, grad_output, input, grad_weight);
  else
    backward_weight_by_products(kernels, g, grad_output, input, grad_weight, method == BackwardWeightMethod::tap_products);
}

template <class T>
void conv1d_backward_bias(const Conv1dGeometry& g, const T* grad_output, T* grad_bias) {
  const int64_t out_length = g.out_length();
  const auto& kernels = isa_tiles<T>();
  const int64_t work = g.batch * g.out_channels * out_length;
  parallel_for(g.out_channels, work >= 8 * min_parallel_work ? 1 : g.out_channels, [&](int64_t begin, int64_t end) {
    for (int64_t o = begin; o < end; ++o) {
      T sum = T(0);
      for (int64_t n = 0; n < g.batch; ++n) sum += kernels.sum(grad_output + (n * g.out_channels + o) * out_length, out_length);
      grad_bias[o] = sum;
    }
  });
}

#define XGRAD_INSTANTIATE_FAST(T)                                                               \
  template void conv1d_forward<T>(const Conv1dGeometry&, const T*, const T*, const T*, T*); \
  template void conv1d_backward_input<T>(const Conv1dGeometry&, const T*, const T*, T*);    \
  template void conv1d_backward_weight<T>(const Conv1dGeometry&, const T*, const T*, T*);   \
  template void conv1d_backward_bias<T>(const Conv1dGeometry&, const T*, T*);
XGRAD_INSTANTIATE_FAST(float)
XGRAD_INSTANTIATE_FAST(double)
#undef XGRAD_INSTANTIATE_FAST

}  // namespace xgrad::nn::kernels
